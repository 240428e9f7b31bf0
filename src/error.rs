//! The library's one error type: variants callers can branch on, each naming the file,
//! model or key involved and ending with the fix. Never carries note text above a snippet.

use std::path::PathBuf;

/// Every failure the library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config file `{path}`: {message}")]
    Config { path: PathBuf, message: String },

    #[error("{source_name}: {message}")]
    ConfigValue {
        source_name: String,
        message: String,
    },

    #[error("model file `{path}` not found; run `scripts/setup.sh` or pass --model PATH")]
    ModelMissing { path: PathBuf },

    #[error("cannot load model `{path}`: {message}")]
    ModelLoad { path: PathBuf, message: String },

    #[error(
        "`{name}` is neither a model file nor a local model Starling knows (Ollama, Hugging Face \
         cache, LM Studio, GPT4All, models.folders){}; run `starling models` to see them, or pass \
         a GGUF file with --model PATH",
        closest_names(.closest)
    )]
    UnknownModel {
        name: String,
        /// The known names nearest to `name` (at most 5), best first.
        closest: Vec<String>,
    },

    #[error(
        "prompt is {n_prompt} tokens but the context holds {n_ctx}; shorten the input or raise \
         generator.context_size (the model was trained for {n_ctx_train})"
    )]
    PromptTooLong {
        n_prompt: usize,
        n_ctx: usize,
        n_ctx_train: usize,
    },

    #[error("generation failed: {0}")]
    Generation(String),

    #[error("generator server `{url}`: {message}")]
    GeneratorServer { url: String, message: String },

    #[error("invalid JSON Schema: {0}; check the schema file")]
    Schema(String),

    #[error(
        "the model's output is not valid JSON for the schema after {attempts} attempts: {reason}"
    )]
    UnparseableOutput {
        raw: String,
        reason: String,
        attempts: u32,
    },

    #[error("generation cancelled")]
    Cancelled,

    #[error("rule file `{path}`: {message}")]
    Rules { path: PathBuf, message: String },

    #[error("`{path}`: {message}")]
    Input { path: PathBuf, message: String },

    #[error("embedding model in `{path}`: {message}")]
    Embedder { path: PathBuf, message: String },

    #[error("note store `{path}`: {message}")]
    Store { path: PathBuf, message: String },

    #[error("store migration: {0}")]
    Migration(String),

    #[error("note store on the Qdrant server `{url}` (collection `{collection}`): {message}")]
    StoreServer {
        url: String,
        collection: String,
        message: String,
    },

    #[error(
        "the note store `{path}` is in use by {holder}; stop it, or let commands go through it"
    )]
    StoreLocked { path: PathBuf, holder: String },

    /// A request to `starling::app` that cannot run as asked: `field` is the request's field
    /// (the HTTP API's name; the command line says its flag before building the request).
    #[error("`{field}`: {message}")]
    Request {
        field: &'static str,
        message: String,
        kind: RequestError,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// Why a request was refused (the HTTP API's 400, 422, 404 and 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// A value out of range or of the wrong form.
    Invalid,
    /// Well-formed, but nothing to work on (a rubric without items, no questions).
    Unusable,
    NotFound,
    OutsideRoots,
}

impl Error {
    /// A request field with a value that cannot be used.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Request {
            field,
            message: message.into(),
            kind: RequestError::Invalid,
        }
    }

    /// A request field whose text holds nothing to work on.
    pub fn unusable(field: &'static str, message: impl Into<String>) -> Self {
        Error::Request {
            field,
            message: message.into(),
            kind: RequestError::Unusable,
        }
    }

    /// Wraps an I/O error with what was being done and to which file.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

fn closest_names(closest: &[String]) -> String {
    if closest.is_empty() {
        return "; none were found there".into();
    }
    let quoted: Vec<String> = closest.iter().map(|name| format!("`{name}`")).collect();
    format!("; closest: {}", quoted.join(", "))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
