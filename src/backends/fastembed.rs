//! `FastEmbedder`: all-MiniLM-L6-v2 (or any BERT-style ONNX model with its tokenizer files)
//! through fastembed's user-defined model and a dynamically loaded ONNX Runtime. The session
//! sits behind a mutex (fastembed's `embed` takes `&mut self`). A deferred embedder
//! ([`FastEmbedder::deferred`]) starts it when the first texts come: an index run with nothing
//! to embed never starts ONNX Runtime.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::{onnx_graph, Embedder};
use crate::error::{Error, Result};
use crate::notes::retrieve::cosine;

/// Longest input in tokens; MiniLM was trained on 256.
pub const MAX_TOKENS: usize = 256;
/// Texts per ONNX Runtime call. Small batches of texts sorted by length waste no padding and keep
/// the activations in cache; measured on 1,000 synthetic notes (3,582 chunks, release, 2 cores,
/// 2026-12-05, streamlined model): 4 texts 75 chunks/s at a peak RSS of 301 MB, 8 texts 73 and
/// 323 MB, 32 texts 68 and 621 MB, 1 text 60 and 265 MB.
const BATCH: usize = 4;
/// Texts handed to fastembed at once: it keeps every batch's token states until the call ends,
/// so a long call would hold them all.
const CALL: usize = 64;

/// Where the embedder's files are.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Folder with model.onnx, tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json.
    pub dir: PathBuf,
    /// libonnxruntime.so
    pub onnxruntime: PathBuf,
    pub threads: usize,
    /// Whether to streamline the graph first ([`onnx_graph::streamline`]: the same vectors for
    /// less work); `false` hands ONNX Runtime the file as it is.
    pub streamline: bool,
    /// Whether to compute the weight products in 8-bit integers ([`onnx_graph::int8_products`]):
    /// about 1.35x the texts per second for vectors within 0.9995 mean cosine of the float ones.
    /// For indexing; the vectors the learned layers were fitted on come from the float products.
    pub int8: bool,
    pub workload: Workload,
}

/// How many texts the process will embed, which decides what ONNX Runtime does at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A query or a task's sentences: the int8 matrices become floats on each call, and the
    /// session starts sooner and smaller (a `search` call on 5,000 notes: 0.18 s and 216 MB,
    /// against 0.24 s and 298 MB when folded; measured 2026-12-05).
    Queries,
    /// Indexing, and the long-running server (which indexes too, and answers many queries):
    /// ONNX Runtime's constant folding turns them into floats once, at start (1,000 notes: 75
    /// chunks/s against 69). (Two one-thread sessions side by side instead of
    /// one two-thread session: 82 against 84 chunks/s and 368 against 231 MB, so not that.)
    Bulk,
    /// Fitting the learned layers (`starling train`): folded as in `Bulk`, but with the float
    /// products the shipped weights were fitted on, so that retraining reproduces them.
    Training,
}

pub struct FastEmbedder {
    session: Mutex<Session>,
    dimension: usize,
    name: String,
}

/// The ONNX Runtime session of an embedder.
enum Session {
    /// Not started (a deferred embedder before its first texts): what to start it with, and the
    /// tokenizer it will use, to count tokens meanwhile (dropped at the start: the session has
    /// its own, and both held at once were 12 MB of a one-note index's peak).
    Waiting {
        options: Box<EmbedderOptions>,
        counter: Box<tokenizers::Tokenizer>,
    },
    Ready(Box<TextEmbedding>),
    /// The start failed; each later call says why.
    Failed {
        path: PathBuf,
        message: String,
    },
}

impl std::fmt::Debug for FastEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastEmbedder")
            .field("name", &self.name)
            .field("dimension", &self.dimension)
            .finish()
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|err| Error::Embedder {
        path: dir.to_path_buf(),
        message: format!(
            "cannot read `{}` ({err}); run `scripts/setup.sh` or fix embedder.dir",
            path.display()
        ),
    })
}

/// Turns off ONNX Runtime's own telemetry. The ONNX Runtime that `scripts/setup.sh` installs
/// (the `onnxruntime` wheel, 1.31) reports to Microsoft's collector
/// (`mobile.events.data.microsoft.com`) from Linux too: at its first session it writes a device id
/// and an event store under `~/.cache/Microsoft/DeveloperTools/.onnxruntime` and a `.ses` file in
/// the temporary folder, for upload. `ORT_DISABLE_TELEMETRY=1`, which that library reads (a test
/// checks that nothing is written), stops all of it. Call it first in `main`, while the process
/// has one thread; a value the user has set is kept.
pub fn keep_onnx_runtime_offline() {
    super::set_env_unless_set("ORT_DISABLE_TELEMETRY", "1");
}

/// Tells ort's load-dynamic where ONNX Runtime is (read once, when the first session is
/// created), unless `ORT_DYLIB_PATH` already says. Changing the environment races with any
/// thread reading it: call this before starting other threads (`services::open_embedder_beside`
/// does).
pub fn point_ort_at(library: &Path) {
    // The binary has done this first in `main`; other users of the library get it here.
    keep_onnx_runtime_offline();
    super::set_env_unless_set("ORT_DYLIB_PATH", library);
}

fn check_onnx_runtime(options: &EmbedderOptions) -> Result<()> {
    if !options.onnxruntime.is_file() {
        return Err(Error::Embedder {
            path: options.onnxruntime.clone(),
            message:
                "ONNX Runtime library not found; run `scripts/setup.sh` or set embedder.onnxruntime"
                    .into(),
        });
    }
    point_ort_at(&options.onnxruntime);
    Ok(())
}

fn tokenizer_files(dir: &Path) -> Result<TokenizerFiles> {
    Ok(TokenizerFiles {
        tokenizer_file: read(dir, "tokenizer.json")?,
        config_file: read(dir, "config.json")?,
        special_tokens_map_file: read(dir, "special_tokens_map.json")?,
        tokenizer_config_file: read(dir, "tokenizer_config.json")?,
    })
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map_or("embedder".into(), |n| n.to_string_lossy().into_owned())
}

impl FastEmbedder {
    /// Starts the session now.
    pub fn load(options: &EmbedderOptions) -> Result<Self> {
        let (embedding, dimension) = start_session(options)?;
        Ok(FastEmbedder {
            session: Mutex::new(Session::Ready(Box::new(embedding))),
            dimension,
            name: name_of(&options.dir),
        })
    }

    /// Starts the session when the first texts come, for a run that may embed nothing (an index
    /// run over 19,000 unchanged notes: 0.78-0.94 s and 326 MB -> 0.42-0.49 s and 162 MB, as
    /// the int8 graph's start-up check goes too). `dimension` is what the model states (`services::stated_dimension`); a
    /// session that gives another size fails its first call, naming the model's config.json.
    /// The tokenizer files are read now and model.onnx is checked to exist, so a missing file
    /// is said at once; a model that cannot start fails the first call, naming its folder, and
    /// every call after it (the run ends; `starling index --watch` starts at once instead).
    pub fn deferred(options: &EmbedderOptions, dimension: usize) -> Result<Self> {
        check_onnx_runtime(options)?;
        let counter =
            counting_tokenizer(tokenizer_files(&options.dir)?).map_err(|message| {
                Error::Embedder {
                    path: options.dir.clone(),
                    message: format!("cannot read the tokenizer files ({message}); run `scripts/setup.sh` or fix embedder.dir"),
                }
            })?;
        let model = options.dir.join("model.onnx");
        if !model.is_file() {
            return Err(Error::Embedder {
                path: options.dir.clone(),
                message: format!(
                    "cannot read `{}` (not a file); run `scripts/setup.sh` or fix embedder.dir",
                    model.display()
                ),
            });
        }
        Ok(FastEmbedder {
            session: Mutex::new(Session::Waiting {
                options: Box::new(options.clone()),
                counter: Box::new(counter),
            }),
            dimension,
            name: name_of(&options.dir),
        })
    }

    /// The running session, started first if it waits.
    fn ready<'a>(&self, session: &'a mut Session) -> Result<&'a mut TextEmbedding> {
        if matches!(session, Session::Waiting { .. }) {
            // Stays "failed" if the start panics, so a later call does not start it again.
            let interrupted = Session::Failed {
                path: PathBuf::from(&self.name),
                message: "the embedder's start was interrupted".into(),
            };
            let Session::Waiting { options, counter } = std::mem::replace(session, interrupted)
            else {
                unreachable!("matched above")
            };
            drop(counter);
            *session = match start_session(&options) {
                Ok((_, dimension)) if dimension != self.dimension => Session::Failed {
                    path: options.dir.join("config.json"),
                    message: format!(
                        "the file says hidden_size {} but the model gives vectors of {dimension}; fix the file or embedder.dir",
                        self.dimension
                    ),
                },
                Ok((embedding, _)) => Session::Ready(Box::new(embedding)),
                Err(Error::Embedder { path, message }) => Session::Failed { path, message },
                Err(other) => Session::Failed {
                    path: options.dir.clone(),
                    message: other.to_string(),
                },
            };
        }
        match session {
            Session::Ready(embedding) => Ok(embedding),
            Session::Failed { path, message } => Err(Error::Embedder {
                path: path.clone(),
                message: message.clone(),
            }),
            Session::Waiting { .. } => unreachable!("a waiting session was just started"),
        }
    }

    /// Whether the ONNX Runtime session has started or tried to (false after a panic while
    /// starting, which leaves the lock poisoned).
    pub fn started(&self) -> bool {
        !matches!(
            self.session.lock().as_deref(),
            Ok(Session::Waiting { .. }) | Err(_)
        )
    }
}

/// Starts ONNX Runtime on the model in `options.dir` (streamlined, and with int8 products when
/// asked and they pass their check); the session and the size of its vectors.
fn start_session(options: &EmbedderOptions) -> Result<(TextEmbedding, usize)> {
    let dir = &options.dir;
    check_onnx_runtime(options)?;
    let shipped = read(dir, "model.onnx")?;
    let tokenizer = tokenizer_files(dir)?;
    // Constant folding turns the int8 matrices into float ones once, at session start,
    // instead of on every call (see `Workload`). On the model as shipped, it also made a
    // float copy of the whole word table (0.42 s and 290 MB against 0.31 s and 192 MB).
    let init = InitOptionsUserDefined::new()
        .with_max_length(MAX_TOKENS)
        .with_intra_threads(options.threads.max(1));
    let configured = |workload| {
        init.clone().with_session_config(
            "optimization.disable_specified_optimizers",
            disabled_optimizers(workload),
        )
    };
    // The int8 check's float reference embeds a few texts once: it starts as a one-shot
    // session does, without folding the weights (a one-note index peaked 240 -> 218 MB).
    let (init, reference_init) = (configured(options.workload), configured(Workload::Queries));
    // Starts a session on `onnx` and embeds a probe: a text, and an empty one padded beside
    // it (the case a dropped NaN guard would get wrong), each of which must come out finite.
    let start_with = |onnx: Vec<u8>,
                      init: &InitOptionsUserDefined|
     -> std::result::Result<(TextEmbedding, usize), String> {
        let model =
            UserDefinedEmbeddingModel::new(onnx, tokenizer.clone()).with_pooling(Pooling::Mean);
        let mut embedding = TextEmbedding::try_new_from_user_defined(model, init.clone())
            .map_err(|err| format!("cannot start ONNX Runtime: {err}"))?;
        let probe = embedding
            .embed(["dimension probe", ""], Some(2))
            .map_err(|err| err.to_string())?;
        let dimension = probe.first().map_or(0, Vec::len);
        if probe.iter().flatten().any(|x| !x.is_finite()) {
            return Err("the model gives non-finite vectors".into());
        }
        Ok((embedding, dimension))
    };
    let start = |onnx: Vec<u8>| start_with(onnx, &init);
    let reference = |onnx: Vec<u8>| start_with(onnx, &reference_init);
    let streamlined = options
        .streamline
        .then(|| onnx_graph::streamline(&shipped))
        .flatten();
    let (float, rewritten) = match streamlined {
        // Not kept for the rare fallback: a second copy of the weights while ONNX Runtime
        // starts was 23 MB of a search call's peak.
        Some(rewrite) => {
            tracing::info!(
                int8_lookups = rewrite.int8_lookups,
                nan_guards = rewrite.nan_guards,
                gelus = rewrite.gelus,
                "embedder graph streamlined"
            );
            drop(shipped);
            (rewrite.bytes, true)
        }
        None => (shipped, false),
    };
    let int8 = options
        .int8
        .then(|| onnx_graph::int8_products(&float))
        .flatten();
    let checked = int8.and_then(|int8| int8_checked(int8.bytes, &float, &start, &reference));
    let started = match checked {
        Some(quantized) => Ok(quantized),
        None if rewritten => start(float).or_else(|reason| {
            tracing::warn!(model = %dir.display(), %reason, "the streamlined graph failed; using the model as it is");
            start(read(dir, "model.onnx").map_err(|err| err.to_string())?)
        }),
        None => start(float),
    };
    started.map_err(|message| Error::Embedder {
        path: dir.clone(),
        message,
    })
}

/// The tokenizer fastembed builds for a user-defined model (`fastembed::common::load_tokenizer`,
/// not public): truncation at the shorter of [`MAX_TOKENS`] and the model's
/// `model_max_length`, and the special tokens of special_tokens_map.json, so that counts before
/// the session starts are the session's own (an integration test compares them). fastembed pads
/// a batch to its longest text, which leaves a single text as it is: no padding here (the
/// shipped tokenizer.json pads every text to 128, which would count an empty text as 128).
fn counting_tokenizer(files: TokenizerFiles) -> std::result::Result<tokenizers::Tokenizer, String> {
    let json = |bytes: &[u8], name: &str| {
        serde_json::from_slice::<serde_json::Value>(bytes).map_err(|err| format!("{name}: {err}"))
    };
    let special = json(&files.special_tokens_map_file, "special_tokens_map.json")?;
    let config = json(&files.tokenizer_config_file, "tokenizer_config.json")?;
    let model_max = config["model_max_length"]
        .as_f64()
        .ok_or("tokenizer_config.json has no numeric `model_max_length`")?;
    let mut tokenizer = tokenizers::Tokenizer::from_bytes(&files.tokenizer_file)
        .map_err(|err| format!("tokenizer.json: {err}"))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: MAX_TOKENS.min(model_max as usize),
            ..Default::default()
        }))
        .map_err(|err| format!("tokenizer.json: {err}"))?;
    let tokens = special
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, value)| {
            if let Some(content) = value.as_str() {
                return Some(tokenizers::AddedToken {
                    content: content.into(),
                    special: true,
                    ..Default::default()
                });
            }
            Some(tokenizers::AddedToken {
                content: value["content"].as_str()?.into(),
                special: true,
                single_word: value["single_word"].as_bool()?,
                lstrip: value["lstrip"].as_bool()?,
                rstrip: value["rstrip"].as_bool()?,
                normalized: value["normalized"].as_bool()?,
            })
        });
    tokenizer
        .add_special_tokens(tokens.collect::<Vec<_>>())
        .map_err(|err| format!("special_tokens_map.json: {err}"))?;
    Ok(tokenizer)
}

/// The ONNX Runtime optimizers a session for `workload` turns off. `SkipLayerNormFusion`
/// always: its fused `SkipLayerNormalization` kernel (each residual `Add` with the
/// `LayerNormalization` after it) was 11-20% of a call's time on two cores, and left as the two
/// ops the same model gave 1.15-1.2x the texts per second. `ConstantFolding` for one-shot
/// queries (see [`Workload`]). The list is separated by `;`: ONNX Runtime 1.31 took
/// "ConstantFolding,SkipLayerNormFusion" as one name it did not know and disabled nothing (a
/// search call then folded the weights, +80 MB).
fn disabled_optimizers(workload: Workload) -> &'static str {
    match workload {
        Workload::Bulk | Workload::Training => "SkipLayerNormFusion",
        Workload::Queries => "ConstantFolding;SkipLayerNormFusion",
    }
}

/// Texts the int8 graph's vectors are compared on before it is used: short and long, English
/// and not, a list and a table row, so that a graph the rewrite misreads shows.
const INT8_CHECK: &[&str] = &[
    "1:1 with Priya",
    "Led the migration of the billing service to the new queue; p99 latency fell from 900 ms to 240 ms after we batched the writes and moved the retries off the hot path.",
    "- Wrote the on-call runbook\n- Paired with two new engineers on their first incidents\n- Cut the alert noise by half",
    "| Date | Decision | Owner |\n| 2025-03-04 | Ship the versioned event field | Ines |",
    "Réunion d'équipe : nous avons décidé de reporter la mise en production d'une semaine.",
];

/// The lowest cosine between the int8 graph's vector and the float graph's for a check text that
/// lets the int8 graph be used. With AVX-512 VNNI (Xeon, EPYC) the project's own notes (2,021
/// passages) gave lowest 0.9992 and mean 0.9997, the check texts 0.9996; a misread graph gives
/// unrelated vectors, or fails. ONNX Runtime's AVX2 kernels (no VNNI) saturate 16-bit sums: the
/// check texts gave 0.9992 and longer passages as low as 0.9967 (mean 0.9992), enough to move
/// near-tied rankings, so the bar sits between the two and such CPUs keep float products.
const INT8_AGREEMENT: f32 = 0.9995;

/// Below [`INT8_AGREEMENT`] but at least this, the int8 graph is sound and the CPU's kernels
/// round more: float products, said at the info level (a warning on every run would help no one).
const INT8_ROUNDING: f32 = 0.99;

type Started = std::result::Result<(TextEmbedding, usize), String>;

/// The session on the `int8` graph when its vectors agree with those of the `float` graph on
/// [`INT8_CHECK`]; `None` (with a warning) when they do not or it fails to start. The float
/// session goes before the int8 one starts, so the two are never held at once.
fn int8_checked(
    int8: Vec<u8>,
    float: &[u8],
    start: &dyn Fn(Vec<u8>) -> Started,
    reference: &dyn Fn(Vec<u8>) -> Started,
) -> Option<(TextEmbedding, usize)> {
    let expected = {
        let (mut reference, _) = reference(float.to_vec()).ok()?;
        reference.embed(INT8_CHECK, Some(BATCH)).ok()?
    };
    let (mut quantized, dimension) = start(int8)
        .map_err(|reason| tracing::warn!(%reason, "the int8 graph failed; using float products"))
        .ok()?;
    let agreement = match quantized.embed(INT8_CHECK, Some(BATCH)) {
        Ok(vectors) if vectors.len() == expected.len() => vectors
            .iter()
            .zip(&expected)
            .map(|(a, b)| cosine(a, b))
            .fold(1.0f32, f32::min),
        _ => f32::NAN,
    };
    if agreement >= INT8_AGREEMENT {
        tracing::info!(
            agreement,
            "weight products in int8 (the lowest cosine to the float vectors on the check texts)"
        );
        Some((quantized, dimension))
    } else if agreement >= INT8_ROUNDING {
        tracing::info!(
            agreement,
            "float weight products: this CPU's int8 kernels agree too little with them"
        );
        None
    } else {
        tracing::warn!(
            agreement,
            "the int8 graph's vectors differ from the float ones; using float products"
        );
        None
    }
}

fn normalise(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

impl Embedder for FastEmbedder {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Similar lengths in a batch waste less padding: embed in length order, return in input order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let sorted: Vec<&str> = order.iter().map(|&i| texts[i].as_str()).collect();
        let mut session = self.session.lock().map_err(|_| Error::Embedder {
            path: PathBuf::from(&self.name),
            message: "a previous embedding call panicked".into(),
        })?;
        let model = self.ready(&mut session)?;
        let mut vectors = Vec::with_capacity(texts.len());
        for call in sorted.chunks(CALL) {
            vectors.extend(
                model
                    .embed(call, Some(BATCH))
                    .map_err(|err| Error::Embedder {
                        path: PathBuf::from(&self.name),
                        message: err.to_string(),
                    })?,
            );
        }
        let mut out = vec![Vec::new(); texts.len()];
        for (vector, &index) in vectors.into_iter().zip(order.iter()) {
            out[index] = normalise(vector);
        }
        Ok(out)
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn model_name(&self) -> &str {
        &self.name
    }

    fn count_tokens(&self, text: &str) -> usize {
        let count = |tokenizer: &tokenizers::Tokenizer| {
            tokenizer
                .encode(text, false)
                .map_or(text.split_whitespace().count(), |e| e.len())
        };
        match self.session.lock().as_deref() {
            Ok(Session::Ready(model)) => count(&model.tokenizer),
            Ok(Session::Waiting { counter, .. }) => count(counter),
            _ => text.split_whitespace().count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_optimizers_are_a_semicolon_list() {
        for workload in [Workload::Bulk, Workload::Training, Workload::Queries] {
            let list = disabled_optimizers(workload);
            assert!(!list.contains(',') && !list.contains(' '), "{list}");
            assert!(list.split(';').any(|name| name == "SkipLayerNormFusion"));
            let folds = !list.split(';').any(|name| name == "ConstantFolding");
            assert_eq!(folds, workload != Workload::Queries, "{workload:?}");
        }
    }
}
