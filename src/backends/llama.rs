//! `LlamaGenerator`: GGUF models through llama.cpp (llama-cpp-2). One backend and one model
//! per process; a worker thread owns the only context and decodes up to `parallel` requests
//! in one batch per step (continuous batching, one sequence id each, in a unified KV cache).
//! Evaluated prompt prefixes are kept between calls and shared between sequences (the prefix
//! cache). Knows nothing of tasks.

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
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
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
    /// Sequences decoded together in one batch (concurrent requests); they share the
    /// context's `context_size` cells.
    pub parallel: usize,
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
            parallel: settings.parallel,
        }
    }
}

/// Re-encodes the GGUF at `source` as Q8_0 into `target` with llama.cpp's own quantizer
/// (`llama_model_quantize`, requantizing allowed: every weight of a 4-bit block is one of 16
/// values, which 8 bits per weight hold to within 1/254 of the block's range). Written to a
/// temporary file beside `target`, given the source's modification time, synced and renamed
/// into place, so no reader sees a partial model; a failure leaves `target` as it was.
pub fn requantize_q8_0(source: &Path, target: &Path) -> Result<()> {
    let text = |path: &Path| {
        path.to_str()
            .and_then(|text| std::ffi::CString::new(text).ok())
            .ok_or_else(|| Error::ModelLoad {
                path: path.to_path_buf(),
                message: "the path is not UTF-8 text without NUL bytes; move the model".into(),
            })
    };
    backend()?;
    remove_stale_partials(target);
    let source_time = std::fs::metadata(source).and_then(|meta| meta.modified());
    let temporary = target.with_extension(format!("gguf.partial-{}", std::process::id()));
    let (from, to) = (text(source)?, text(&temporary)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call; the parameters
    // are llama.cpp's defaults (no imatrix, overrides or pruned layers: null pointers it
    // checks) with the type and the requantize flag set; the backend is initialised above.
    #[allow(unsafe_code)]
    let status = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0;
        params.allow_requantize = true;
        llama_cpp_sys_2::llama_model_quantize(from.as_ptr(), to.as_ptr(), &params)
    };
    let renamed = if status == 0 {
        // The re-encoding carries its source's modification time as it was before it was read
        // (a source replaced meanwhile leaves a re-encoding that is stale at once), and is on
        // disk before its name says it is complete.
        let time_now = std::fs::metadata(source).and_then(|meta| meta.modified());
        match (source_time, time_now) {
            (Ok(before), Ok(now)) if before == now => std::fs::File::options()
                .write(true)
                .open(&temporary)
                .and_then(|file| {
                    file.set_modified(before)?;
                    file.sync_all()
                })
                .and_then(|()| std::fs::rename(&temporary, target))
                .and_then(|()| match target.parent() {
                    Some(folder) => std::fs::File::open(folder)?.sync_all(),
                    None => Ok(()),
                }),
            (Err(err), _) | (_, Err(err)) => Err(err),
            _ => Err(std::io::Error::other(
                "the source changed while it was read",
            )),
        }
        .map_err(|err| {
            Error::io(
                format!("cannot finish the re-encoded model `{}`", target.display()),
                err,
            )
        })
    } else {
        Err(Error::ModelLoad {
            path: source.to_path_buf(),
            message: format!("llama.cpp could not re-encode it as Q8_0 (status {status})"),
        })
    };
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

/// Removes what a process killed while writing `target` left beside it (`NAME.partial-PID`, older
/// than a minute: a re-encoding takes about a second).
fn remove_stale_partials(target: &Path) {
    let (Some(folder), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let prefix = format!("{}.partial-", name.to_string_lossy());
    let stale = |entry: &std::fs::DirEntry| {
        entry.file_name().to_string_lossy().starts_with(&prefix)
            && entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|time| time.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60))
    };
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        if stale(&entry) {
            let _ = std::fs::remove_file(entry.path());
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
    n_seq: usize,
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
        // Every running sequence puts at least one token in each step's batch.
        let n_seq = options
            .parallel
            .clamp(1, (options.batch_size as usize).clamp(1, 64));
        let context_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx as u32))
            .with_n_batch(options.batch_size)
            .with_n_ubatch(options.batch_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_n_seq_max(n_seq as u32)
            .with_kv_unified(true);

        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let worker_model = Arc::clone(&model);
        let worker_path = path.clone();
        let cache_budget = options.prompt_cache_bytes;
        let worker = std::thread::Builder::new()
            .name("starling-llama".into())
            .spawn(move || {
                let context = match worker_model.new_context(backend, context_params) {
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
                Engine::new(&worker_model, context, n_seq, cache_budget).serve(inbox);
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
            n_seq,
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

    fn parallel(&self) -> usize {
        self.n_seq
    }
}

/// Picks each next token: the sampling chain, and the grammar of a JSON Schema when there is
/// one. As llama.cpp's own common sampler does, the grammar checks only the token the chain
/// picks freely and masks the whole vocabulary only when it refuses that token: the same
/// choice under greedy decoding, without matching every token of the vocabulary against the
/// grammar at every step (most steps of a schema answer are the model's own first choice).
struct TokenSampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
    /// What a grammar that allows no token at all ends with.
    eos: LlamaToken,
}

impl TokenSampler {
    fn new(model: &LlamaModel, sampling: &Sampling, grammar: Option<&str>) -> Result<Self> {
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
        if sampling.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(40));
            chain.push(LlamaSampler::top_p(sampling.top_p, 1));
            chain.push(LlamaSampler::min_p(sampling.min_p, 1));
            chain.push(LlamaSampler::temp(sampling.temperature));
            chain.push(LlamaSampler::dist(sampling.seed));
        }
        let grammar =
            match grammar {
                Some(grammar) => Some(LlamaSampler::grammar(model, grammar, "root").map_err(
                    |err| Error::Schema(format!("llama.cpp rejected the grammar ({err})")),
                )?),
                None => None,
            };
        Ok(TokenSampler {
            chain: LlamaSampler::chain_simple(chain),
            grammar,
            eos: model.vocab().eos(),
        })
    }

    /// The next token from the logits at `index` of the last batch; every sampler accepts it.
    fn sample(&mut self, context: &LlamaContext<'_>, index: i32) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else {
            return self.chain.sample(context, index);
        };
        let mut free = context.token_data_array_ith(index);
        self.chain.apply(&mut free);
        let allowed = free.selected_token().filter(|&token| {
            let mut single =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
            grammar.apply(&mut single);
            single.data[0].logit().is_finite()
        });
        let token = match allowed {
            Some(token) => token,
            None => {
                let mut masked = context.token_data_array_ith(index);
                grammar.apply(&mut masked);
                self.chain.apply(&mut masked);
                masked.selected_token().unwrap_or(self.eos)
            }
        };
        grammar.accept(token);
        self.chain.accept(token);
        token
    }
}

/// What every running job is told when a step's decode fails.
fn decode_failure(err: impl std::fmt::Display) -> String {
    format!("llama.cpp decode failed: {err}")
}

/// Snapshots shorter than this are not worth the copy.
const MIN_SAVED_TOKENS: usize = 64;

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count()
}

/// The worker's side: one context whose unified KV cache holds up to `slots.len()`
/// sequences, decoded together one step at a time (continuous batching, as llama-server
/// does). Each step puts one token of every generating sequence and as many prompt tokens
/// of the admitted ones as the batch holds into a single `decode`.
struct Engine<'m> {
    model: &'m LlamaModel,
    context: LlamaContext<'m>,
    slots: Vec<Slot>,
    /// Sequences may share cells (`seq_cp`) only where the memory is a plain KV cache.
    can_share: bool,
    /// Prefix states kept in host memory for reuse after their sequence was reused.
    saved: Vec<SavedPrompt>,
    budget: usize,
    clock: u64,
    batch: LlamaBatch<'static>,
}

/// One sequence id of the context: what its cells hold, and the job it runs, if any.
struct Slot {
    seq: i32,
    /// The tokens sequence `seq` holds in the KV cache, positions 0.. in order.
    live: Vec<LlamaToken>,
    last_used: u64,
    run: Option<Running>,
}

struct Running {
    job: Job,
    /// Cells this job may come to hold: prompt plus `max_tokens`, at most the context.
    reservation: usize,
    started: Instant,
    n_cached: usize,
    prompt_ms: f64,
    sampler: TokenSampler,
    decoder: Utf8Decoder,
    scanner: StopScanner,
    n_generated: usize,
    first_token_ms: f64,
    generation_started: Instant,
    /// The sampled token the next step decodes; `None` while the prompt is evaluated.
    next: Option<LlamaToken>,
    /// Where this sequence's logits sit in the last decoded batch.
    logits: Option<i32>,
    /// The most sequences in one decoded batch with this one, itself included.
    peak_batch: usize,
}

struct SavedPrompt {
    tokens: Vec<LlamaToken>,
    state: SeqState,
    last_used: u64,
}

impl Job {
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

impl Running {
    fn cancelled(&self) -> bool {
        self.job.cancelled()
    }

    fn send(&self, text: String) -> bool {
        text.is_empty() || self.job.events.send(Event::Piece(text)).is_ok()
    }
}

impl<'m> Engine<'m> {
    fn new(model: &'m LlamaModel, context: LlamaContext<'m>, n_seq: usize, budget: usize) -> Self {
        let n_batch = context.n_batch() as usize;
        Engine {
            model,
            context,
            slots: (0..n_seq)
                .map(|seq| Slot {
                    seq: seq as i32,
                    live: Vec::new(),
                    last_used: 0,
                    run: None,
                })
                .collect(),
            can_share: !model.is_recurrent() && !model.is_hybrid(),
            saved: Vec::new(),
            budget,
            clock: 0,
            batch: LlamaBatch::new(n_batch, 1),
        }
    }

    fn busy(&self) -> bool {
        self.slots.iter().any(|slot| slot.run.is_some())
    }

    /// Serves jobs until the channel closes and the last running one is answered.
    fn serve(&mut self, inbox: mpsc::Receiver<Job>) {
        let mut waiting: std::collections::VecDeque<Job> = Default::default();
        let mut open = true;
        loop {
            if open && !self.busy() && waiting.is_empty() {
                match inbox.recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(_) => open = false,
                }
            }
            while open {
                match inbox.try_recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => open = false,
                }
            }
            // First come, first served: a job that does not fit yet waits for the ones ahead.
            while let Some(job) = waiting.pop_front() {
                if job.cancelled() {
                    let _ = job.events.send(Event::Done(Err(Error::Cancelled)));
                    continue;
                }
                match self.admit(job) {
                    Ok(()) => {}
                    Err(job) => {
                        waiting.push_front(job);
                        break;
                    }
                }
            }
            if !self.busy() {
                if !open && waiting.is_empty() {
                    return;
                }
                continue;
            }
            self.step();
        }
    }

    /// Starts `job` on a free sequence, reusing the longest cached prefix of its prompt from
    /// that sequence, another one (shared cells, no copy) or a saved state. Gives the job back
    /// when no sequence is free or the cache cannot hold it beside the running ones.
    fn admit(&mut self, job: Job) -> std::result::Result<(), Job> {
        let n_ctx = self.context.n_ctx() as usize;
        let tokens = &job.tokens;
        let reservation = (tokens.len() + job.sampling.max_tokens as usize).min(n_ctx);
        let reserved: usize = self
            .slots
            .iter()
            .filter_map(|slot| slot.run.as_ref().map(|run| run.reservation))
            .sum();
        if reserved > 0 && reserved + reservation > n_ctx {
            return Err(job);
        }
        // The free sequence with the longest common prefix; the least recently used on a tie.
        let Some(chosen) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.run.is_none())
            .max_by_key(|(_, slot)| {
                (
                    common_prefix(&slot.live, tokens),
                    std::cmp::Reverse(slot.last_used),
                )
            })
            .map(|(index, _)| index)
        else {
            return Err(job);
        };
        let sampler = match TokenSampler::new(self.model, &job.sampling, job.grammar.as_deref()) {
            Ok(sampler) => sampler,
            Err(err) => {
                let _ = job.events.send(Event::Done(Err(err)));
                return Ok(());
            }
        };
        self.clock += 1;
        let started = Instant::now();
        let common = self.reuse_prefix(chosen, tokens);
        // Other free sequences give up their cells while the running ones could need them.
        let mut held = reserved + reservation;
        let mut idle: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                i != chosen && self.slots[i].run.is_none() && !self.slots[i].live.is_empty()
            })
            .collect();
        held += idle
            .iter()
            .map(|&i| self.slots[i].live.len())
            .sum::<usize>();
        idle.sort_by_key(|&i| self.slots[i].last_used);
        for i in idle {
            if held <= n_ctx {
                break;
            }
            held -= self.slots[i].live.len();
            self.release(i);
        }
        let slot = &mut self.slots[chosen];
        slot.last_used = self.clock;
        slot.run = Some(Running {
            reservation,
            started,
            n_cached: common,
            prompt_ms: 0.0,
            sampler,
            decoder: Utf8Decoder::default(),
            scanner: StopScanner::new(&job.sampling.stop),
            n_generated: 0,
            first_token_ms: 0.0,
            generation_started: started,
            next: None,
            logits: None,
            peak_batch: 0,
            job,
        });
        Ok(())
    }

    /// Makes sequence `chosen` hold the longest available prefix of `tokens` (at most all but
    /// the last token, whose logits sampling needs) and returns its length.
    fn reuse_prefix(&mut self, chosen: usize, tokens: &[LlamaToken]) -> usize {
        let seq = self.slots[chosen].seq;
        let own = common_prefix(&self.slots[chosen].live, tokens);
        let other = if self.can_share {
            self.slots
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != chosen)
                .map(|(i, slot)| (i, common_prefix(&slot.live, tokens)))
                .max_by_key(|&(_, n)| n)
                .filter(|&(_, n)| n > own)
        } else {
            None
        };
        let best_live = other.map_or(own, |(_, n)| n);
        let saved = self
            .saved
            .iter()
            .enumerate()
            .map(|(index, saved)| (index, common_prefix(&saved.tokens, tokens)))
            .max_by_key(|&(_, n)| n)
            .filter(|&(_, n)| n >= best_live + MIN_SAVED_TOKENS);
        // Keep what this sequence holds before it is cut, if a later call may want it back.
        let live_len = self.slots[chosen].live.len();
        if own + MIN_SAVED_TOKENS <= live_len && self.budget > 0 {
            self.save(chosen);
        }
        let mut common = own;
        if let Some((index, n)) = saved {
            let restored = self.context.kv_cache_seq_rm(seq, None, None).is_ok()
                && self
                    .context
                    .state_seq_set(&self.saved[index].state, seq)
                    .is_ok();
            self.saved[index].last_used = self.clock;
            if restored {
                self.slots[chosen].live = self.saved[index].tokens.clone();
                tracing::debug!(tokens = n, "prompt cache: restored a saved prefix");
                common = n;
            } else {
                self.forget(chosen);
                common = 0;
            }
        } else if let Some((source, n)) = other {
            let source_seq = self.slots[source].seq;
            let copied = self.context.kv_cache_seq_rm(seq, None, None).is_ok()
                && self
                    .context
                    .kv_cache_seq_cp(source_seq, seq, Some(0), Some(n as u32))
                    .is_ok();
            if copied {
                self.slots[chosen].live = tokens[..n].to_vec();
                tracing::debug!(tokens = n, "prompt cache: shared another sequence's prefix");
                common = n;
            } else {
                self.forget(chosen);
                common = 0;
            }
        }
        let common = common.min(tokens.len() - 1);
        if common < self.slots[chosen].live.len() {
            if self
                .context
                .kv_cache_seq_rm(seq, Some(common as u32), None)
                .is_err()
            {
                // Some architectures (recurrent) cannot drop a tail: start over.
                self.forget(chosen);
                return 0;
            }
            self.slots[chosen].live.truncate(common);
        }
        common
    }

    /// Empties a sequence's cells (no snapshot).
    fn forget(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if self.context.kv_cache_seq_rm(slot.seq, None, None).is_err() {
            // Cannot fail for a whole sequence; if it ever does, nothing cached is trusted.
            self.context.clear_kv_cache();
            for slot in &mut self.slots {
                slot.live.clear();
            }
        }
        self.slots[index].live.clear();
    }

    /// Frees an idle sequence's cells, keeping a snapshot in host memory when the budget allows.
    fn release(&mut self, index: usize) {
        if self.slots[index].live.len() >= MIN_SAVED_TOKENS && self.budget > 0 {
            self.save(index);
        }
        self.forget(index);
    }

    fn save(&mut self, index: usize) {
        let live = &self.slots[index].live;
        // A saved prefix of what is live now is superseded by this longer snapshot.
        self.saved
            .retain(|s| common_prefix(&s.tokens, live) < s.tokens.len());
        let Ok(state) = self
            .context
            .state_seq_get(self.slots[index].seq, LlamaStateSeqFlags::empty())
        else {
            return;
        };
        if state.byte_len() > self.budget {
            return;
        }
        self.saved.push(SavedPrompt {
            tokens: live.clone(),
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

    /// One decode for every running sequence: the next token of each generating one, then
    /// prompt tokens of the others while the batch has room; then each samples.
    fn step(&mut self) {
        let n_batch = self.context.n_batch() as usize;
        self.batch.clear();
        let mut added = Vec::with_capacity(self.slots.len());
        let mut failed = None;
        // Generating sequences first: one token each, so none waits on a long prompt.
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(run) = slot.run.as_mut() else {
                continue;
            };
            run.logits = None;
            if let Some(token) = run.next {
                let position = slot.live.len() as i32;
                if let Err(err) = self.batch.add(token, position, &[slot.seq], true) {
                    failed = Some(decode_failure(err));
                    break;
                }
                run.logits = Some(self.batch.n_tokens() - 1);
                added.push((index, 1usize));
            }
        }
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if failed.is_some() {
                break;
            }
            let Some(run) = slot.run.as_mut() else {
                continue;
            };
            if run.next.is_some() {
                continue;
            }
            let tokens = &run.job.tokens;
            let from = slot.live.len();
            let room = n_batch.saturating_sub(self.batch.n_tokens() as usize);
            let n = room.min(tokens.len() - from);
            if n == 0 {
                continue;
            }
            for (offset, token) in tokens[from..from + n].iter().enumerate() {
                let position = from + offset;
                let last = position + 1 == tokens.len();
                if let Err(err) = self.batch.add(*token, position as i32, &[slot.seq], last) {
                    failed = Some(decode_failure(err));
                    break;
                }
            }
            if from + n == tokens.len() {
                run.logits = Some(self.batch.n_tokens() - 1);
            }
            added.push((index, n));
        }
        if failed.is_none() {
            if let Err(err) = self.context.decode(&mut self.batch) {
                failed = Some(decode_failure(err));
            }
        }
        if let Some(message) = failed {
            // What the cache holds is no longer known: every running job fails, nothing is reused.
            self.context.clear_kv_cache();
            for slot in &mut self.slots {
                slot.live.clear();
                if let Some(run) = slot.run.take() {
                    let _ = run
                        .job
                        .events
                        .send(Event::Done(Err(Error::Generation(message.clone()))));
                }
            }
            return;
        }
        let n_sequences = added.len();
        for (index, n) in added {
            let slot = &mut self.slots[index];
            let run = slot.run.as_mut().expect("added sequences run");
            run.peak_batch = run.peak_batch.max(n_sequences);
            match run.next.take() {
                Some(token) => slot.live.push(token),
                None => {
                    let from = slot.live.len();
                    slot.live.extend_from_slice(&run.job.tokens[from..from + n]);
                }
            }
        }
        let n_ctx = self.context.n_ctx() as usize;
        for index in 0..self.slots.len() {
            let Some(logits) = self.slots[index].run.as_ref().and_then(|run| run.logits) else {
                if self.slots[index]
                    .run
                    .as_ref()
                    .is_some_and(Running::cancelled)
                {
                    self.finish(index, StopReason::Cancelled);
                }
                continue;
            };
            if let Some(stop) = self.sample(index, logits, n_ctx) {
                self.finish(index, stop);
            }
        }
    }

    /// Samples the next token of sequence `index`; `Some` when its generation ends.
    fn sample(&mut self, index: usize, logits: i32, n_ctx: usize) -> Option<StopReason> {
        let slot = &mut self.slots[index];
        let position = slot.live.len();
        let run = slot.run.as_mut().expect("sampled sequences run");
        if run.n_generated == 0 && run.prompt_ms == 0.0 {
            run.prompt_ms = run.started.elapsed().as_secs_f64() * 1e3;
            run.generation_started = Instant::now();
        }
        if run.n_generated >= run.job.sampling.max_tokens as usize {
            return Some(StopReason::MaxTokens);
        }
        if position >= n_ctx {
            return Some(StopReason::ContextFull);
        }
        if run.cancelled() {
            return Some(StopReason::Cancelled);
        }
        let token = run.sampler.sample(&self.context, logits);
        if run.n_generated == 0 {
            run.first_token_ms = run.started.elapsed().as_secs_f64() * 1e3;
        }
        let vocab = self.model.vocab();
        if vocab.is_eog(token) {
            return Some(StopReason::EndOfGeneration);
        }
        run.n_generated += 1;
        let piece = run.decoder.push(&vocab.token_to_piece(token, false, None));
        let (shown, hit_stop) = run.scanner.push(&piece);
        if !run.send(shown) {
            return Some(StopReason::Cancelled);
        }
        if hit_stop {
            return Some(StopReason::StopString);
        }
        if run.n_generated >= run.job.sampling.max_tokens as usize {
            // The last token needs no decode: nothing will be sampled after it.
            return Some(StopReason::MaxTokens);
        }
        run.next = Some(token);
        None
    }

    /// Answers the job of sequence `index`; its cells stay for the next job's prefix.
    fn finish(&mut self, index: usize, stop_reason: StopReason) {
        let slot = &mut self.slots[index];
        let Some(mut run) = slot.run.take() else {
            return;
        };
        slot.last_used = self.clock;
        if stop_reason != StopReason::StopString {
            let (shown, _) = run.scanner.push(&run.decoder.finish());
            run.send(shown);
            let rest = run.scanner.finish();
            run.send(rest);
        }
        tracing::debug!(
            prompt = run.job.tokens.len(),
            cached = run.n_cached,
            generated = run.n_generated,
            prompt_ms = run.prompt_ms as u64,
            total_ms = run.started.elapsed().as_millis() as u64,
            peak_batch = run.peak_batch,
            ?stop_reason,
            "generation finished"
        );
        let result = if stop_reason == StopReason::Cancelled {
            Err(Error::Cancelled)
        } else {
            Ok(Generation {
                text: run.scanner.text().to_string(),
                stop_reason,
                n_prompt_tokens: run.job.tokens.len(),
                n_cached_tokens: run.n_cached,
                n_generated_tokens: run.n_generated,
                prompt_ms: run.prompt_ms,
                first_token_ms: run.first_token_ms,
                generation_ms: run.generation_started.elapsed().as_secs_f64() * 1e3,
                peak_batch: run.peak_batch,
            })
        };
        let _ = run.job.events.send(Event::Done(result));
    }
}
