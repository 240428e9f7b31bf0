//! Tasks: each is a request, pure prompt building and parsing, and one `run` that calls the
//! backends. No file or network I/O here.

pub mod tone;
