//! The application layer: one typed request or response per use case, shared by the front
//! ends (the command line, the HTTP API, the language server). A front end maps its input to
//! these types and renders what comes back; the product logic stays in the library.

pub mod star;
pub mod status;
