//! Starling: a local-first writing assistant for career documents. The library holds the
//! engines (behind traits), configuration and the tasks; it never imports clap or axum.

pub mod app;
pub mod backends;
pub mod config;
pub mod error;
pub mod files;
pub mod learn;
pub mod manifest;
pub mod notes;
pub mod prompts;
#[cfg(test)]
mod properties;
pub mod services;
pub mod structured;
pub mod tasks;
pub mod tone;

pub use error::{Error, Result};
