//! Tasks: each is a request, pure prompt building and parsing, and one `run` that calls the
//! backends. No file or network I/O here.

pub mod audit;
pub mod evidence;
pub mod facts;
pub mod map;
pub mod parts;
pub mod rewrite;
pub mod rubric;
pub mod star;
pub mod stories;
pub mod tone;
