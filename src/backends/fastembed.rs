//! `FastEmbedder`: all-MiniLM-L6-v2 (or any BERT-style ONNX model with its tokenizer files)
//! through fastembed's user-defined model and a dynamically loaded ONNX Runtime. The session
//! sits behind a mutex (fastembed's `embed` takes `&mut self`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::Embedder;
use crate::error::{Error, Result};

/// Longest input in tokens; MiniLM was trained on 256.
pub const MAX_TOKENS: usize = 256;
const BATCH: usize = 32;

/// Where the embedder's files are.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Folder with model.onnx, tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json.
    pub dir: PathBuf,
    /// libonnxruntime.so
    pub onnxruntime: PathBuf,
    pub threads: usize,
}

pub struct FastEmbedder {
    model: Mutex<TextEmbedding>,
    dimension: usize,
    name: String,
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

/// Tells ort's load-dynamic where ONNX Runtime is (read once, when the first session is
/// created), unless `ORT_DYLIB_PATH` already says. Changing the environment races with any
/// thread reading it: call this before starting other threads (`services::open_embedder_beside`
/// does).
pub fn point_ort_at(library: &Path) {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        std::env::set_var("ORT_DYLIB_PATH", library);
    }
}

impl FastEmbedder {
    pub fn load(options: &EmbedderOptions) -> Result<Self> {
        let dir = &options.dir;
        if !options.onnxruntime.is_file() {
            return Err(Error::Embedder {
                path: options.onnxruntime.clone(),
                message: "ONNX Runtime library not found; run `scripts/setup.sh` or set embedder.onnxruntime".into(),
            });
        }
        point_ort_at(&options.onnxruntime);
        let model = UserDefinedEmbeddingModel::new(
            read(dir, "model.onnx")?,
            TokenizerFiles {
                tokenizer_file: read(dir, "tokenizer.json")?,
                config_file: read(dir, "config.json")?,
                special_tokens_map_file: read(dir, "special_tokens_map.json")?,
                tokenizer_config_file: read(dir, "tokenizer_config.json")?,
            },
        )
        .with_pooling(Pooling::Mean);
        // No constant folding: on the int8 model it turns every weight's DequantizeLinear into
        // a stored fp32 copy at session start. Without it (measured 2026-12-04, release, 2
        // cores) a process that loads the embedder starts in 0.31 s instead of 0.42 s with a
        // peak RSS of 192 MB instead of 290 MB, indexing runs at the same speed (300 notes:
        // 21.1 s against 21.0 s, median of three) and the vectors are the same to 5 decimals.
        let init = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(options.threads.max(1))
            .with_session_config(
                "optimization.disable_specified_optimizers",
                "ConstantFolding",
            );
        let mut embedding =
            TextEmbedding::try_new_from_user_defined(model, init).map_err(|err| {
                Error::Embedder {
                    path: dir.clone(),
                    message: format!("cannot start ONNX Runtime: {err}"),
                }
            })?;
        let probe = embedding
            .embed(["dimension probe"], None)
            .map_err(|err| Error::Embedder {
                path: dir.clone(),
                message: err.to_string(),
            })?;
        let dimension = probe.first().map_or(0, Vec::len);
        let name = dir
            .file_name()
            .map_or("embedder".into(), |n| n.to_string_lossy().into_owned());
        Ok(FastEmbedder {
            model: Mutex::new(embedding),
            dimension,
            name,
        })
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
        let vectors = self
            .model
            .lock()
            .map_err(|_| Error::Embedder {
                path: PathBuf::from(&self.name),
                message: "a previous embedding call panicked".into(),
            })?
            .embed(sorted, Some(BATCH))
            .map_err(|err| Error::Embedder {
                path: PathBuf::from(&self.name),
                message: err.to_string(),
            })?;
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
        match self.model.lock() {
            Ok(model) => model
                .tokenizer
                .encode(text, false)
                .map_or(text.split_whitespace().count(), |e| e.len()),
            Err(_) => text.split_whitespace().count(),
        }
    }
}
