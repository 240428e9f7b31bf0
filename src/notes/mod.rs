//! Notes: Markdown parsing and chunking (pure), mojibake repair (pure), and loading (the only
//! module that walks folders).

pub mod chunk;
pub mod glossary;
pub mod index;
pub mod loading;
pub mod lock;
pub mod markdown;
pub mod migrate;
pub mod mojibake;
pub mod retrieve;
pub mod synthetic;
