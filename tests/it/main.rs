//! Starling's one integration-test binary (llama.cpp links once). Every test here runs the
//! real engines against the models fetched by `scripts/setup.sh`.

mod audit;
mod common;
mod config;
mod generate;
mod generator_server;
mod hardening;
mod hostile;
mod index;
mod lsp;
mod map;
mod offline;
mod qdrant;
mod rewrite;
mod serve;
mod star;
mod store;
mod tone;
