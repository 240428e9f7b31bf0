//! The application layer: one typed request and one typed response per use case, shared by the
//! front ends (the command line, the HTTP API, the language server). A front end maps its input
//! to a request, runs it on the engines it opened its own way (`Context`) and renders what comes
//! back; the product logic stays in the library. The requests are the HTTP API's bodies (their
//! JSON Schemas, derived here, make its OpenAPI document) and what the command line sends to a
//! running server.

pub mod audit;
pub mod generate;
pub mod index;
pub mod map;
pub mod rewrite;
pub mod search;
pub mod star;
pub mod status;
pub mod stories;
pub mod tone;

use crate::backends::{Embedder, VectorStore};
use crate::config::Config;
use crate::error::{Error, Result};

/// What a use case runs on. The command line opens the embedder and the store per run (or a
/// copy of a store another process holds); the server opens them once.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub embedder: &'a dyn Embedder,
    pub store: &'a dyn VectorStore,
}

/// A day as requests and flags write it: `YYYY-MM-DD`.
pub fn is_date(text: &str) -> bool {
    text.len() == 10 && crate::notes::markdown::days_since_epoch(text).is_some()
}

/// `YYYY-MM-DD` or nothing.
pub fn check_date(field: &'static str, value: &Option<String>) -> Result<()> {
    match value {
        Some(date) if !is_date(date) => {
            Err(Error::invalid(field, "use YYYY-MM-DD, e.g. 2025-01-31"))
        }
        _ => Ok(()),
    }
}

/// Text the request is about: at least one character that is not white space. White space is
/// Unicode's and JSON Schema's (ECMAScript `\s`) together, so the OpenAPI pattern
/// `[^\s\u0085]` and this check accept the same strings: U+0085 is white space to Unicode
/// only, U+FEFF to ECMAScript only.
pub fn check_text(field: &'static str, value: &str) -> Result<()> {
    if value.chars().all(|c| c.is_whitespace() || c == '\u{feff}') {
        return Err(Error::invalid(field, "empty; send some text"));
    }
    Ok(())
}

/// A request's rubric text, parsed: `name` (a file name) gives its format by extension and its
/// title when it has none. Malformed is a bad request; well-formed with no items, unusable.
pub fn parse_rubric(text: &str, name: Option<&str>) -> Result<crate::tasks::rubric::Rubric> {
    check_text("rubric", text)?;
    let name = name
        .and_then(|name| std::path::Path::new(name).file_name())
        .map_or_else(|| "rubric.md".into(), std::path::PathBuf::from);
    let rubric = crate::tasks::rubric::parse_well_formed(&name, text)
        .map_err(|err| Error::invalid("rubric", err.to_string()))?;
    crate::tasks::rubric::require_items(&name, rubric)
        .map_err(|err| Error::unusable("rubric", err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::check_text;

    #[test]
    fn text_is_blank_by_unicode_and_by_json_schema_alike() {
        for blank in ["", " \t\n", "\u{85}", "\u{feff}", "\u{a0}\u{3000}"] {
            assert!(check_text("competency", blank).is_err(), "{blank:?}");
        }
        for text in ["x", " Q3 ", "\u{1c}"] {
            assert!(check_text("competency", text).is_ok(), "{text:?}");
        }
    }
}
