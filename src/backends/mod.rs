//! Backend roles as traits, and their implementations named after the engine behind them.
//! Nothing here knows about tasks, the CLI or HTTP.

pub mod conformance;
pub mod discovery;
pub mod fake;
pub mod fastembed;
pub mod fusion;
pub mod gguf;
pub mod llama;
pub mod onnx_graph;
pub mod openai;
pub mod qdrant_edge;
pub mod qdrant_server;
pub mod stream;
pub mod tap;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::Result;

/// Sets the environment variable `name` for this process unless it is set already (the user's
/// value is kept). Changing the environment races with any thread reading it: callers run while
/// the process has one thread (see each caller).
pub(crate) fn set_env_unless_set(name: &str, value: impl AsRef<std::ffi::OsStr>) {
    if std::env::var_os(name).is_none() {
        std::env::set_var(name, value);
    }
}

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (deterministic whatever the seed).
    pub temperature: f32,
    pub top_p: f32,
    pub min_p: f32,
    /// 1.0 = off.
    pub repeat_penalty: f32,
    pub seed: u32,
    pub max_tokens: u32,
    /// Generation stops before the first occurrence of any of these.
    pub stop: Vec<String>,
}

impl Sampling {
    /// Greedy decoding (deterministic) with the configured seed: what the tasks use.
    pub fn greedy(seed: u32) -> Self {
        Sampling {
            temperature: 0.0,
            seed,
            ..Sampling::default()
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            seed: 42,
            max_tokens: 512,
            stop: Vec::new(),
        }
    }
}

/// One chat turn to complete: an optional system message and the user's message.
#[derive(Clone, Default)]
pub struct GenerateRequest {
    pub system: Option<String>,
    pub prompt: String,
    pub sampling: Sampling,
    /// Constrain the output to this JSON Schema (through the engine's grammar support).
    pub json_schema: Option<serde_json::Value>,
    /// Set to true from another thread to stop generation early.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for GenerateRequest {
    // Bodies are user text: show their size, never their content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateRequest")
            .field("system_bytes", &self.system.as_ref().map(String::len))
            .field("prompt_bytes", &self.prompt.len())
            .field("sampling", &self.sampling)
            .field("json_schema", &self.json_schema.is_some())
            .finish()
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndOfGeneration,
    StopString,
    MaxTokens,
    ContextFull,
    Cancelled,
}

/// The result of one generation, with the figures benchmarks and `-v` report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    pub text: String,
    pub stop_reason: StopReason,
    pub n_prompt_tokens: usize,
    /// Prompt tokens whose evaluated state was reused from an earlier call.
    pub n_cached_tokens: usize,
    pub n_generated_tokens: usize,
    pub prompt_ms: f64,
    pub first_token_ms: f64,
    pub generation_ms: f64,
    /// The most sequences decoded in one step together with this one, itself included
    /// (1: it ran alone; engines that do not batch in process report 1).
    pub peak_batch: usize,
}

/// Text generation. Implementations serialise their own access to the engine.
pub trait Generator: Send + Sync {
    /// Completes `request`, passing each piece of text to `on_token` as it is produced.
    fn generate(
        &self,
        request: &GenerateRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Generation>;

    /// A short name for the model (file stem), for caches and reports.
    fn model_name(&self) -> &str;

    /// Counts the tokens `text` takes in this model.
    fn count_tokens(&self, text: &str) -> Result<usize>;

    /// How many requests the engine decodes at once: callers with independent requests (the
    /// map's judgments, a batch rewrite's blocks) send up to this many from as many threads.
    fn parallel(&self) -> usize {
        1
    }
}

/// Dense text embeddings.
pub trait Embedder: Send + Sync {
    /// One vector per text, in order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
    fn dimension(&self) -> usize;
    fn model_name(&self) -> &str;
    /// Tokens `text` takes in the embedder's own tokenizer (capped at its maximum length).
    fn count_tokens(&self, text: &str) -> usize;
}

/// A chunk with its id and dense vector, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub id: u64,
    pub chunk: crate::notes::chunk::Chunk,
    pub dense: Vec<f32>,
}

/// Restricts a search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only chunks whose path starts with this folder or file (relative, `/`-separated).
    pub path_prefix: Option<String>,
    pub tag: Option<String>,
    /// Inclusive `YYYY-MM-DD` bounds on the note's date.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Never the chunks of this file (a chunk's `source`, its absolute path): a questions file
    /// or a draft that is itself indexed is not evidence for itself.
    pub not_source: Option<String>,
}

impl SearchFilter {
    /// The filter of a request's `path`, `since` and `until` (the CLI's `--path`, `--since`,
    /// `--until`; the API's fields of the same names). Dates are checked by the caller.
    pub fn notes(path: &Option<String>, since: &Option<String>, until: &Option<String>) -> Self {
        SearchFilter {
            path_prefix: path.clone(),
            tag: None,
            since: since.clone(),
            until: until.clone(),
            not_source: None,
        }
    }
}

/// Which rankings a search fuses.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Dense and BM25 fused by reciprocal rank (`fusion::fuse`).
    #[default]
    Hybrid,
    /// The embedding model's similarity only.
    Dense,
    /// BM25 only.
    Lexical,
}

/// One query: the dense vector and the text (for BM25) of the same question.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub dense: Vec<f32>,
    pub k: usize,
    pub filter: SearchFilter,
    pub mode: SearchMode,
}

/// A search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
    pub chunk: crate::notes::chunk::Chunk,
}

/// Where chunks and their vectors live.
pub trait VectorStore: Send + Sync {
    /// Inserts or replaces chunks by id.
    fn upsert(&self, items: &[StoredChunk]) -> Result<()>;
    /// Removes every chunk whose `source` (the note's absolute path) is `source`.
    fn delete_source(&self, source: &str) -> Result<()>;
    /// The stored chunks with these ids (missing ids are skipped), vectors included.
    fn get(&self, ids: &[u64]) -> Result<Vec<StoredChunk>>;
    /// One page of every stored chunk, vectors included, in id order: up to `limit` chunks
    /// from id `from` on (the start when `None`), and the id the next page starts from (`None`
    /// after the last page). `store migrate` reads a store this way.
    fn scroll(&self, from: Option<u64>, limit: usize) -> Result<(Vec<StoredChunk>, Option<u64>)>;
    /// The best `k` chunks for `query.mode` (hybrid: dense and BM25 fused by reciprocal rank).
    fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>>;
    fn count(&self) -> Result<usize>;
    /// Makes every change so far durable.
    fn flush(&self) -> Result<()>;
    /// Builds what makes search fast at the store's present size, after a batch of changes
    /// (the embedded store: its HNSW index, from `qdrant_edge::HNSW_FROM` chunks); true when
    /// it did any work. Every index pass that changed the store ends with it, so no user
    /// ever runs a separate step.
    fn settle(&self) -> Result<bool> {
        Ok(false)
    }
}

/// A boxed store is a store (`services::NoteStore` holds the configured one boxed).
impl<T: VectorStore + ?Sized> VectorStore for Box<T> {
    fn upsert(&self, items: &[StoredChunk]) -> Result<()> {
        (**self).upsert(items)
    }
    fn delete_source(&self, source: &str) -> Result<()> {
        (**self).delete_source(source)
    }
    fn get(&self, ids: &[u64]) -> Result<Vec<StoredChunk>> {
        (**self).get(ids)
    }
    fn scroll(&self, from: Option<u64>, limit: usize) -> Result<(Vec<StoredChunk>, Option<u64>)> {
        (**self).scroll(from, limit)
    }
    fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>> {
        (**self).search(query)
    }
    fn count(&self) -> Result<usize> {
        (**self).count()
    }
    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
    fn settle(&self) -> Result<bool> {
        (**self).settle()
    }
}
