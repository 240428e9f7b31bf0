//! `LlamaGenerator`: GGUF models through llama.cpp (llama-cpp-2). One backend and one model
//! per process; a worker thread owns the only context, so generation is serialised and the
//! evaluated prompt prefix is kept between calls (the prefix cache). Knows nothing of tasks.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{send_logs_to_tracing, LogOptions};

use super::stream::{StopScanner, Utf8Decoder};
use super::{GenerateRequest, Generation, Generator, Sampling, StopReason};
use crate::error::{Error, Result};

/// How to load the model and size its context.
#[derive(Debug, Clone)]
pub struct LlamaOptions {
    pub model: PathBuf,
    pub threads: usize,
    pub gpu_layers: u32,
    pub context_size: u32,
    pub batch_size: u32,
    /// Bytes of evaluated prompt state kept in memory for reuse (0 = only the live context).
    pub prompt_cache_bytes: usize,
}

impl LlamaOptions {
    pub fn from_settings(settings: &crate::config::GeneratorSettings) -> Self {
        LlamaOptions {
            model: settings.model.clone(),
            threads: settings.threads,
            gpu_layers: settings.gpu_layers,
            context_size: settings.context_size,
            batch_size: settings.batch_size,
            prompt_cache_bytes: settings.prompt_cache_mb as usize * 1024 * 1024,
        }
    }
}

/// llama.cpp's backend may be initialised once per process.
fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            send_logs_to_tracing(LogOptions::default());
            LlamaBackend::init().map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|message| Error::Generation(format!("cannot start llama.cpp: {message}")))
}

struct Job {
    tokens: Vec<LlamaToken>,
    sampling: Sampling,
    grammar: Option<String>,
    cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    events: mpsc::Sender<Event>,
}

enum Event {
    Piece(String),
    Done(Result<Generation>),
}

/// A GGUF model served by a worker thread that owns its context.
pub struct LlamaGenerator {
    name: String,
    path: PathBuf,
    model: Arc<LlamaModel>,
    template: LlamaChatTemplate,
    n_ctx: usize,
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LlamaGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaGenerator")
            .field("path", &self.path)
            .field("n_ctx", &self.n_ctx)
            .finish()
    }
}

impl LlamaGenerator {
    /// Loads the model (memory-mapped) and starts the worker with its context.
    pub fn load(options: &LlamaOptions) -> Result<Self> {
        let path = options.model.clone();
        super::gguf::check_magic(&path)?;
        let backend = backend()?;
        let params = LlamaModelParams::default()
            .with_n_gpu_layers(options.gpu_layers)
            .with_use_mmap(true);
        let model = LlamaModel::load_from_file(backend, &path, &params).map_err(|err| {
            Error::ModelLoad {
                path: path.clone(),
                message: format!("{err}; is it a complete GGUF file?"),
            }
        })?;
        let model = Arc::new(model);
        let template = match model.chat_template(None) {
            Ok(template) => template,
            Err(_) => {
                tracing::warn!(model = %path.display(), "model has no chat template; using chatml");
                LlamaChatTemplate::new("chatml").expect("static template name")
            }
        };
        let n_ctx = options.context_size.min(model.n_ctx_train().max(256)) as usize;
        let threads = i32::try_from(options.threads.max(1)).unwrap_or(1);
        let context_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx as u32))
            .with_n_batch(options.batch_size)
            .with_n_ubatch(options.batch_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);

        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let worker_model = Arc::clone(&model);
        let worker_path = path.clone();
        let cache_budget = options.prompt_cache_bytes;
        let worker = std::thread::Builder::new()
            .name("starling-llama".into())
            .spawn(move || {
                let mut context = match worker_model.new_context(backend, context_params) {
                    Ok(context) => context,
                    Err(err) => {
                        let _ = ready_tx.send(Err(Error::ModelLoad {
                            path: worker_path,
                            message: format!(
                                "cannot create a context: {err}; lower generator.context_size"
                            ),
                        }));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut cache = PromptCache {
                    live: Vec::new(),
                    saved: Vec::new(),
                    budget: cache_budget,
                    clock: 0,
                };
                for job in inbox {
                    let result = run_job(&worker_model, &mut context, &mut cache, &job);
                    let _ = job.events.send(Event::Done(result));
                }
            })
            .map_err(|err| Error::io("cannot start the generation thread", err))?;
        ready_rx.recv().map_err(|_| {
            Error::Generation("the generation thread stopped while starting".into())
        })??;

        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(LlamaGenerator {
            name,
            path,
            model,
            template,
            n_ctx,
            jobs: Some(jobs),
            worker: Some(worker),
        })
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The context window in tokens.
    pub fn context_size(&self) -> usize {
        self.n_ctx
    }

    /// Renders system + user turns with the model's own chat template, ready for the reply.
    pub fn render(&self, system: Option<&str>, prompt: &str) -> Result<String> {
        // A NUL byte means nothing in a prompt (and cannot cross into C): it is left out.
        let message = |role: &str, content: &str| {
            LlamaChatMessage::new(role.into(), content.replace('\0', "")).map_err(|_| {
                Error::Input {
                    path: "prompt".into(),
                    message: "cannot be passed to the model".into(),
                }
            })
        };
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system.filter(|s| !s.is_empty()) {
            messages.push(message("system", system)?);
        }
        messages.push(message("user", prompt)?);
        match self
            .model
            .apply_chat_template(&self.template, &messages, true)
        {
            Ok(text) => Ok(text),
            Err(err) => {
                // llama.cpp recognises templates by pattern; fall back to chatml for unknown ones.
                tracing::debug!("chat template not understood ({err}); using chatml");
                let chatml = LlamaChatTemplate::new("chatml").expect("static template name");
                self.model
                    .apply_chat_template(&chatml, &messages, true)
                    .map_err(|err| {
                        Error::Generation(format!("cannot apply a chat template: {err}"))
                    })
            }
        }
    }

    fn tokenize_prompt(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), true, true)
    }
}

impl Drop for LlamaGenerator {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop; wait so the context is freed first.
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Generator for LlamaGenerator {
    fn generate(
        &self,
        request: &GenerateRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let rendered = self.render(request.system.as_deref(), &request.prompt)?;
        let tokens = self.tokenize_prompt(&rendered);
        if tokens.is_empty() {
            return Err(Error::Generation("the prompt is empty".into()));
        }
        if tokens.len() >= self.n_ctx {
            return Err(Error::PromptTooLong {
                n_prompt: tokens.len(),
                n_ctx: self.n_ctx,
                n_ctx_train: self.model.n_ctx_train() as usize,
            });
        }
        let grammar = match &request.json_schema {
            Some(schema) => Some(
                llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|err| {
                    Error::Schema(format!("llama.cpp cannot turn it into a grammar ({err})"))
                })?,
            ),
            None => None,
        };
        let (events, inbox) = mpsc::channel();
        let job = Job {
            tokens,
            sampling: request.sampling.clone(),
            grammar,
            cancel: request.cancel.clone(),
            events,
        };
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| Error::Generation("the generation thread has stopped".into()))?;
        for event in inbox {
            match event {
                Event::Piece(text) => on_token(&text),
                Event::Done(result) => return result,
            }
        }
        Err(Error::Generation(
            "the generation thread stopped mid-answer".into(),
        ))
    }

    fn model_name(&self) -> &str {
        &self.name
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len())
    }
}

fn build_sampler(
    model: &LlamaModel,
    sampling: &Sampling,
    grammar: Option<&str>,
) -> Result<LlamaSampler> {
    let mut chain = Vec::new();
    if (sampling.repeat_penalty - 1.0).abs() > f32::EPSILON {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            64,
            sampling.repeat_penalty,
            0.0,
            0.0,
        ));
    }
    if let Some(grammar) = grammar {
        // In the chain (not applied after sampling) so every candidate is masked by the grammar.
        chain.push(
            LlamaSampler::grammar(model, grammar, "root")
                .map_err(|err| Error::Schema(format!("llama.cpp rejected the grammar ({err})")))?,
        );
    }
    if sampling.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.push(LlamaSampler::top_k(40));
        chain.push(LlamaSampler::top_p(sampling.top_p, 1));
        chain.push(LlamaSampler::min_p(sampling.min_p, 1));
        chain.push(LlamaSampler::temp(sampling.temperature));
        chain.push(LlamaSampler::dist(sampling.seed));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

fn decode_error(err: impl std::fmt::Display) -> Error {
    Error::Generation(format!("llama.cpp decode failed: {err}"))
}

/// Evaluates what is not cached of the prompt, then samples until a stop. Runs on the worker.
fn run_job(
    model: &LlamaModel,
    context: &mut LlamaContext<'_>,
    cache: &mut PromptCache,
    job: &Job,
) -> Result<Generation> {
    let started = Instant::now();
    let tokens = &job.tokens;
    let n_ctx = context.n_ctx() as usize;
    let cancelled = || {
        job.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    };

    // Reuse the longest common prefix with what the context holds (or with a saved state).
    // Keep at least one prompt token to evaluate, because sampling needs its logits.
    let mut common = cache.prepare(context, tokens).min(tokens.len() - 1);
    let cached = &mut cache.live;
    if common < cached.len() {
        if context
            .kv_cache_seq_rm(0, Some(common as u32), None)
            .is_err()
        {
            // Some architectures (recurrent) cannot drop a tail: start over.
            context.clear_kv_cache();
            common = 0;
        }
        cached.truncate(common);
    }

    let n_batch = context.n_batch() as usize;
    let mut batch = LlamaBatch::new(n_batch, 1);
    for (chunk_index, chunk) in tokens[common..].chunks(n_batch).enumerate() {
        if cancelled() {
            return Err(Error::Cancelled);
        }
        batch.clear();
        for (offset, token) in chunk.iter().enumerate() {
            let position = common + chunk_index * n_batch + offset;
            batch
                .add(*token, position as i32, &[0], position + 1 == tokens.len())
                .map_err(decode_error)?;
        }
        if let Err(err) = context.decode(&mut batch) {
            context.clear_kv_cache();
            cached.clear();
            return Err(decode_error(err));
        }
        cached.extend_from_slice(chunk);
    }
    let prompt_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut sampler = build_sampler(model, &job.sampling, job.grammar.as_deref())?;
    let vocab = model.vocab();
    let mut decoder = Utf8Decoder::default();
    let mut scanner = StopScanner::new(&job.sampling.stop);
    let mut logits_index = batch.n_tokens() - 1;
    let mut position = tokens.len();
    let mut n_generated = 0usize;
    let mut first_token_ms = 0.0;
    let generation_started = Instant::now();
    let send =
        |text: String| -> bool { text.is_empty() || job.events.send(Event::Piece(text)).is_ok() };

    let stop_reason = loop {
        if n_generated >= job.sampling.max_tokens as usize {
            break StopReason::MaxTokens;
        }
        if position >= n_ctx {
            break StopReason::ContextFull;
        }
        if cancelled() {
            break StopReason::Cancelled;
        }
        let token = sampler.sample(context, logits_index);
        if n_generated == 0 {
            first_token_ms = started.elapsed().as_secs_f64() * 1e3;
        }
        if vocab.is_eog(token) {
            break StopReason::EndOfGeneration;
        }
        n_generated += 1;
        let piece = decoder.push(&vocab.token_to_piece(token, false, None));
        let (shown, hit_stop) = scanner.push(&piece);
        if !send(shown) {
            break StopReason::Cancelled;
        }
        if hit_stop {
            break StopReason::StopString;
        }
        batch.clear();
        batch
            .add(token, position as i32, &[0], true)
            .map_err(decode_error)?;
        if let Err(err) = context.decode(&mut batch) {
            context.clear_kv_cache();
            cached.clear();
            return Err(decode_error(err));
        }
        cached.push(token);
        position += 1;
        logits_index = 0;
    };
    if stop_reason != StopReason::StopString {
        let (shown, _) = scanner.push(&decoder.finish());
        send(shown);
        send(scanner.finish());
    }
    if stop_reason == StopReason::Cancelled {
        return Err(Error::Cancelled);
    }
    Ok(Generation {
        text: scanner.text().to_string(),
        stop_reason,
        n_prompt_tokens: tokens.len(),
        n_cached_tokens: common,
        n_generated_tokens: n_generated,
        prompt_ms,
        first_token_ms,
        generation_ms: generation_started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Evaluated prompt state kept for reuse. `live` is what the context's sequence 0 holds;
/// `saved` are snapshots of earlier sequences (host memory), bounded by `budget` bytes and
/// evicted least-recently-used, so interleaved callers with different long system prompts
/// each keep their prefix.
struct PromptCache {
    live: Vec<LlamaToken>,
    saved: Vec<SavedPrompt>,
    budget: usize,
    clock: u64,
}

struct SavedPrompt {
    tokens: Vec<LlamaToken>,
    state: SeqState,
    last_used: u64,
}

/// Snapshots shorter than this are not worth the copy.
const MIN_SAVED_TOKENS: usize = 64;

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count()
}

impl PromptCache {
    /// Makes the context hold the best available prefix of `tokens`; returns its length.
    fn prepare(&mut self, context: &mut LlamaContext<'_>, tokens: &[LlamaToken]) -> usize {
        self.clock += 1;
        let live_common = common_prefix(&self.live, tokens);
        let best = self
            .saved
            .iter()
            .enumerate()
            .map(|(index, saved)| (index, common_prefix(&saved.tokens, tokens)))
            .max_by_key(|&(_, n)| n);
        // Keep what the live sequence holds before it is cut, if a later call may want it back.
        if live_common + MIN_SAVED_TOKENS <= self.live.len() && self.budget > 0 {
            self.save_live(context);
        }
        match best {
            Some((index, saved_common)) if saved_common >= live_common + MIN_SAVED_TOKENS => {
                let saved = &mut self.saved[index];
                saved.last_used = self.clock;
                let restored = context.kv_cache_seq_rm(0, None, None).is_ok()
                    && context.state_seq_set(&saved.state, 0).is_ok();
                if restored {
                    self.live = saved.tokens.clone();
                    tracing::debug!(
                        tokens = saved_common,
                        "prompt cache: restored a saved prefix"
                    );
                    saved_common
                } else {
                    context.clear_kv_cache();
                    self.live.clear();
                    0
                }
            }
            _ => live_common,
        }
    }

    fn save_live(&mut self, context: &LlamaContext<'_>) {
        // A saved prefix of what is live now is superseded by this longer snapshot.
        let live = &self.live;
        self.saved
            .retain(|s| common_prefix(&s.tokens, live) < s.tokens.len());
        let Ok(state) = context.state_seq_get(0, LlamaStateSeqFlags::empty()) else {
            return;
        };
        if state.byte_len() > self.budget {
            return;
        }
        self.saved.push(SavedPrompt {
            tokens: self.live.clone(),
            state,
            last_used: self.clock,
        });
        while self.saved.iter().map(|s| s.state.byte_len()).sum::<usize>() > self.budget {
            let oldest = self
                .saved
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i)
                .expect("non-empty");
            self.saved.remove(oldest);
        }
    }
}
