//! Starling: a local-first writing assistant for career documents. The library holds the
//! engines (behind traits), configuration and the tasks; it never imports clap or axum.

pub mod backends;
pub mod config;
pub mod error;
pub mod manifest;
pub mod structured;
pub mod tone;

pub use error::{Error, Result};
