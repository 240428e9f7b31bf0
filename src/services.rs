//! Opening the engines and the note store from a `Config`, with errors that name the file and
//! the fix. The binary (and later the HTTP server) builds its services here.

use std::path::{Path, PathBuf};

use crate::backends::fastembed::{EmbedderOptions, FastEmbedder, Workload};
use crate::backends::llama::{LlamaGenerator, LlamaOptions};
use crate::backends::openai::{OpenAiGenerator, OpenAiOptions};
use crate::backends::qdrant_edge::EdgeStore;
use crate::backends::qdrant_server::{QdrantServerStore, ServerOptions};
use crate::backends::{Embedder, Generator, VectorStore};
use crate::config::{Backend, Config, StoreBackend};
use crate::error::{Error, Result};
use crate::notes::lock::StoreLock;

/// The note store: this process's own, under the lock that makes it the only writer, or a
/// private copy to read while another process holds it (`open_snapshot`), or a collection on a
/// Qdrant server (`store.backend = "qdrant"`).
pub struct NoteStore {
    // Dropped before `_hold`: the embedded store flushes into its folder on drop.
    pub store: Box<dyn VectorStore>,
    /// The index's record of the files it holds (`files.json`), one per store.
    pub state_path: PathBuf,
    _hold: Hold,
}

impl std::fmt::Debug for NoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteStore")
            .field("state_path", &self.state_path)
            .field("hold", &self._hold)
            .finish()
    }
}

/// What a `NoteStore` keeps until it is dropped (never read: held for its `Drop`).
#[derive(Debug)]
#[allow(dead_code)]
enum Hold {
    Lock(StoreLock),
    Copy(SnapshotDir),
    /// A server store shared with other readers: nothing to hold.
    Nothing,
}

impl NoteStore {
    /// Whether this is a copy of a store another process holds.
    pub fn is_copy(&self) -> bool {
        matches!(self._hold, Hold::Copy(_))
    }
}

/// `DATA_DIR/index`: the qdrant-edge shard, `files.json` and the lock.
pub fn index_dir(config: &Config) -> PathBuf {
    config.data_dir.join("index")
}

/// The Qdrant collection of this configuration: `store.collection`, or one per set of note
/// roots (`starling-` and 16 hex digits of their SHA-256), so two vaults never share one.
pub fn collection_name(config: &Config) -> String {
    if !config.store.collection.is_empty() {
        return config.store.collection.clone();
    }
    use sha2::{Digest, Sha256};
    let mut roots: Vec<String> = config
        .notes
        .paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    roots.sort();
    let digest = Sha256::digest(roots.join("\n").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("starling-{hex}")
}

/// `files.json`, the index's record of what the configured store holds: beside the embedded
/// store, or, for a server store, in a folder of its own per server and collection (switching
/// stores never makes the index believe the other one's notes are there).
pub fn state_path(config: &Config) -> PathBuf {
    match config.store.backend {
        StoreBackend::Edge => index_dir(config).join("files.json"),
        StoreBackend::Qdrant => {
            let server: String = config
                .store
                .url
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            index_dir(config)
                .join("servers")
                .join(server)
                .join(collection_name(config))
                .join("files.json")
        }
    }
}

/// How to reach the configured Qdrant server, the API key read from the environment variable
/// `store.api_key_env` names.
pub fn server_options(config: &Config, dimension: usize) -> Result<ServerOptions> {
    let settings = &config.store;
    let fail = |message: String| Error::StoreServer {
        url: settings.url.clone(),
        collection: collection_name(config),
        message,
    };
    if settings.url.is_empty() {
        return Err(fail(
            "store.backend is qdrant but store.url is empty; pass --store-url \
             http://HOST:6334 (the server's gRPC port) or set store.url"
                .into(),
        ));
    }
    let api_key = match &settings.api_key_env {
        Some(name) => Some(std::env::var(name).map_err(|_| {
            fail(format!(
                "store.api_key_env names `{name}`, which is not set; export it or unset \
                 store.api_key_env"
            ))
        })?),
        None => None,
    };
    Ok(ServerOptions {
        url: settings.url.clone(),
        collection: collection_name(config),
        api_key,
        dimension,
        shards: settings.shards,
        replication_factor: settings.replication_factor,
        timeout: std::time::Duration::from_secs(120),
    })
}

/// The configured server store, reached and its collection made ready before this returns.
fn open_server_store(config: &Config, dimension: usize) -> Result<NoteStore> {
    let state_path = state_path(config);
    if let Some(folder) = state_path.parent() {
        crate::files::create_private_dir(folder)?;
    }
    let store = QdrantServerStore::open(&server_options(config, dimension)?)?;
    Ok(NoteStore {
        store: Box::new(store),
        state_path,
        _hold: Hold::Nothing,
    })
}

/// The embedder's tokenizer alone, for the tone classifier (no ONNX Runtime session).
pub fn open_vocabulary(config: &Config) -> Result<crate::tone::tokens::Vocabulary> {
    crate::tone::tokens::Vocabulary::load(&config.embedder.dir)
}

fn embedder_options(config: &Config, workload: Workload) -> EmbedderOptions {
    EmbedderOptions {
        dir: config.embedder.dir.clone(),
        onnxruntime: config.embedder.onnxruntime.clone(),
        threads: config.generator.threads,
        streamline: true,
        int8: workload == Workload::Bulk && config.embedder.int8,
        workload,
    }
}

pub fn open_embedder(config: &Config, workload: Workload) -> Result<FastEmbedder> {
    FastEmbedder::load(&embedder_options(config, workload))
}

/// Whether the embedded store exists (its folder holds Qdrant Edge's config).
fn edge_store_exists(config: &Config) -> bool {
    config.store.backend == StoreBackend::Edge
        && index_dir(config)
            .join("qdrant")
            .join("edge_config.json")
            .is_file()
}

/// As [`open_embedder_beside`], for a run that may embed nothing (an index run): when the
/// embedded store exists and the model states its size, the embedder starts ONNX Runtime only
/// at its first texts ([`FastEmbedder::deferred`]): re-indexing 5,000 unchanged notes takes
/// 0.16-0.23 s and 122 MB instead of 0.64-0.85 s and 302 MB (a changed note: 0.05-0.1 s and
/// 8 MB more, as the store no longer opens while ONNX Runtime starts). A new store waits for the
/// model's own word on the size.
pub fn open_embedder_deferred<T, E: From<crate::error::Error>>(
    config: &Config,
    workload: Workload,
    open: impl FnOnce(usize) -> std::result::Result<T, E>,
) -> std::result::Result<(FastEmbedder, T), E> {
    match stated_dimension(config).filter(|_| edge_store_exists(config)) {
        Some(stated) => {
            let embedder = FastEmbedder::deferred(&embedder_options(config, workload), stated)?;
            Ok((embedder, open(stated)?))
        }
        None => open_embedder_beside(config, workload, open),
    }
}

/// The size of the embedder's vectors as its `config.json` states it (`hidden_size`, what mean
/// pooling gives), read without starting ONNX Runtime; `None` when the file does not say.
pub fn stated_dimension(config: &Config) -> Option<usize> {
    let text = std::fs::read_to_string(config.embedder.dir.join("config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("hidden_size")?.as_u64().map(|n| n as usize)
}

/// Hands the heap pages the allocator holds free back to the system: glibc keeps freed memory
/// mapped (and counted in the process's resident size) until it is trimmed. Called after a large
/// owner goes, such as the embedder's ONNX session at the end of a one-shot `starling index`.
/// Does nothing outside Linux with glibc.
#[allow(unsafe_code)]
pub fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers and only returns free pages to the system; glibc
    // locks each arena while it trims, so other threads may allocate meanwhile.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Opens the embedder and, meanwhile on this thread, what needs only the size of its vectors
/// (`open`: the note store). Starting ONNX Runtime and opening the store each take about a
/// tenth of a second, so a command that needs both starts sooner (a 1,000-note search: 0.33-0.38
/// s → 0.20-0.24 s). Without a stated size or an embedded store that exists, the two happen one
/// after the other; a stated size the model does not give is an error naming the file.
pub fn open_embedder_beside<T, E: From<crate::error::Error>>(
    config: &Config,
    workload: Workload,
    open: impl FnOnce(usize) -> std::result::Result<T, E>,
) -> std::result::Result<(FastEmbedder, T), E> {
    // Only an embedded store that exists is opened early: one opened new would be made for
    // the stated size before the model could say otherwise.
    let Some(stated) = stated_dimension(config).filter(|_| edge_store_exists(config)) else {
        let embedder = open_embedder(config, workload)?;
        let other = open(embedder.dimension())?;
        return Ok((embedder, other));
    };
    // Set while this is the only thread that may read the environment.
    crate::backends::fastembed::point_ort_at(&config.embedder.onnxruntime);
    let (embedder, other) = std::thread::scope(|scope| {
        let loading = scope.spawn(|| open_embedder(config, workload));
        let other = open(stated);
        let embedder = loading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (embedder, other)
    });
    let embedder = embedder?;
    if embedder.dimension() != stated {
        return Err(crate::error::Error::Embedder {
            path: config.embedder.dir.join("config.json"),
            message: format!(
                "the file says hidden_size {stated} but the model gives vectors of {}; fix the file or embedder.dir",
                embedder.dimension()
            ),
        }
        .into());
    }
    Ok((embedder, other?))
}

/// The server a generator of backend openai talks to, as configured: its options, with the
/// API key read from the environment variable `generator.api_key_env` names.
pub fn openai_options(config: &Config) -> Result<OpenAiOptions> {
    let settings = &config.generator;
    if settings.url.is_empty() {
        return Err(Error::GeneratorServer {
            url: String::new(),
            message: "generator.backend is openai but generator.url is empty; pass \
                      --generator-url http://127.0.0.1:PORT (Ollama: 11434, llama-server: 8080, \
                      LM Studio: 1234)"
                .into(),
        });
    }
    let api_key = match &settings.api_key_env {
        Some(name) => Some(std::env::var(name).map_err(|_| Error::GeneratorServer {
            url: settings.url.clone(),
            message: format!(
                "generator.api_key_env names `{name}`, which is not set; export it or unset \
                 generator.api_key_env"
            ),
        })?),
        None => None,
    };
    Ok(OpenAiOptions {
        url: settings.url.clone(),
        model: settings.model_name.clone(),
        api_key,
        allow_remote: settings.allow_remote,
        timeout: std::time::Duration::from_secs(settings.timeout_s),
        parallel: settings.parallel,
    })
}

/// The GGUF file the in-process generator loads for `generator.model`. The manifest's default
/// model is a Q4_1 file, a type for which llama.cpp's CPU code has no whole-matrix kernel (its
/// llamafile tinyBLAS covers Q8_0, Q4_0, Q5_0 and IQ4_NL), so prompts are read a weight row at
/// a time: the first load re-encodes the default once, beside it, as `DEFAULT_GENERATOR_Q8_0`
/// (0.3-0.5 s; 138 MiB against 94), and every load after that takes the Q8_0 file: the same
/// model to 0.006 nats of KL divergence per token, prompts read 2.2x as fast on a 2-vCPU
/// AVX-512 machine (README, "Performance"). A re-encoding that is not current
/// (`default_generator_q8_0_is_current`) is made again; any other model is loaded as it is; if
/// the re-encoding cannot be written (a read-only model cache), the Q4_1 file is loaded, with
/// a warning.
pub fn generator_model_file(config: &Config) -> PathBuf {
    let configured = &config.generator.model;
    let Some(target) = default_generator_q8_0(config) else {
        return configured.clone();
    };
    if default_generator_q8_0_is_current(configured, &target) {
        return target;
    }
    if !configured.is_file() {
        // The missing model is reported by the load, with the set-up command.
        return configured.clone();
    }
    match crate::backends::llama::requantize_q8_0(configured, &target) {
        Ok(()) => target,
        Err(err) => {
            tracing::warn!(
                model = %configured.display(),
                "the default model stays Q4_1 (slower prompts): {err}"
            );
            configured.clone()
        }
    }
}

/// Whether the re-encoding at `target` may be loaded for `source`: it carries the source's
/// modification time (a source fetched again has another) and its header says Q8_0.
pub fn default_generator_q8_0_is_current(source: &Path, target: &Path) -> bool {
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    let source_time = modified(source);
    source_time.is_some()
        && modified(target) == source_time
        && crate::backends::gguf::ModelInfo::read(target)
            .is_ok_and(|info| info.quantization == "Q8_0")
}

/// Where the default model's Q8_0 re-encoding lives when `generator.model` is the default
/// (`generator_model_file`); None for any other model.
pub fn default_generator_q8_0(config: &Config) -> Option<PathBuf> {
    (config.generator.model
        == config
            .models_dir
            .join(crate::config::DEFAULT_GENERATOR_FILE))
    .then(|| {
        config
            .models_dir
            .join(crate::config::DEFAULT_GENERATOR_Q8_0)
    })
}

/// The configured generator: the GGUF in process (backend llama) or a local OpenAI-compatible
/// server (backend openai), reached before this returns.
pub fn open_generator(config: &Config) -> Result<Box<dyn Generator>> {
    match config.generator.backend {
        Backend::Llama => {
            let options = LlamaOptions::from_settings(&config.generator);
            let model = generator_model_file(config);
            let loaded = LlamaGenerator::load(&LlamaOptions {
                model: model.clone(),
                ..options.clone()
            });
            match loaded {
                // A re-encoding that llama.cpp cannot load (its data lost after a crash, say)
                // is removed, and the model it was made from loads instead.
                Err(err) if model != options.model => {
                    tracing::warn!(
                        model = %model.display(),
                        "the re-encoded default model does not load; removed, loading `{}`: {err}",
                        options.model.display()
                    );
                    let _ = std::fs::remove_file(&model);
                    Ok(Box::new(LlamaGenerator::load(&options)?))
                }
                loaded => Ok(Box::new(loaded?)),
            }
        }
        Backend::OpenAi => Ok(Box::new(OpenAiGenerator::connect(&openai_options(
            config,
        )?)?)),
    }
}

/// Takes the store's lock for `holder` (e.g. "starling index"); first, so a busy store is
/// reported before any model loads.
pub fn lock_store(config: &Config, holder: &str) -> Result<StoreLock> {
    // The store holds note sentences (in its segments and write-ahead log): the data dir is
    // this user's only.
    crate::files::create_private_dir(&config.data_dir)?;
    StoreLock::acquire(&index_dir(config).join("store.lock"), holder)
}

/// Like `lock_store`, but waits while another process holds the lock (a command that reads
/// the store holds it for seconds); `waiting` is told who holds it before the wait.
pub fn lock_store_waiting(
    config: &Config,
    holder: &str,
    waiting: impl FnOnce(&str),
) -> Result<StoreLock> {
    crate::files::create_private_dir(&config.data_dir)?;
    StoreLock::acquire_waiting(&index_dir(config).join("store.lock"), holder, waiting)
}

/// Opens the store, for vectors of `dimension`, under a lock taken with `lock_store`.
pub fn open_store(config: &Config, lock: StoreLock, dimension: usize) -> Result<NoteStore> {
    open_configured(config, dimension, Hold::Lock(lock))
}

/// Opens the configured store while the caller holds the data dir's lock through another
/// `NoteStore` (`store migrate` copies between two stores under one lock).
pub fn open_store_under_held_lock(config: &Config, dimension: usize) -> Result<NoteStore> {
    open_configured(config, dimension, Hold::Nothing)
}

fn open_configured(config: &Config, dimension: usize, hold: Hold) -> Result<NoteStore> {
    if config.store.backend == StoreBackend::Qdrant {
        let mut notes = open_server_store(config, dimension)?;
        notes._hold = hold;
        return Ok(notes);
    }
    let dir = index_dir(config);
    let store = {
        // Opening may replay the store's log into its files: not while another process copies
        // them.
        let gate = crate::notes::lock::WriteGate::open(&dir)?;
        let _held = gate.write()?;
        let store = EdgeStore::open(&dir.join("qdrant"), dimension)?;
        store.index_sources()?;
        store
    };
    Ok(NoteStore {
        store: Box::new(store),
        state_path: dir.join("files.json"),
        _hold: hold,
    })
}

#[derive(Debug)]
struct SnapshotDir(PathBuf);

impl Drop for SnapshotDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the store's folder. Another process may still be closing its store (a command that
/// read it rewrites its segments' metadata on the way out, without the write gate): such
/// rewrites go through a temporary `.atomicwrite*` folder and a rename, so the temporary
/// folders are left out and an entry that vanishes between listing and copying is skipped;
/// every file the store needs is there, old or new, at every moment.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".atomicwrite")
        {
            continue;
        }
        let target = to.join(entry.file_name());
        let copied = match entry.file_type() {
            Ok(kind) if kind.is_dir() => copy_tree(&entry.path(), &target),
            Ok(_) => std::fs::copy(entry.path(), &target).map(|_| ()),
            Err(err) => Err(err),
        };
        match copied {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// A private copy of the note store, for reading while another process (a long `starling
/// index`, another command) holds it: taken under the write gate, so it holds everything stored
/// so far. The copy (inside the data dir, which is private) is removed when the `NoteStore` is
/// dropped. No store lock is taken.
///
/// A server store needs no copy: it is opened as it is, shared with the other processes.
pub fn open_snapshot(config: &Config, dimension: usize) -> Result<NoteStore> {
    if config.store.backend == StoreBackend::Qdrant {
        return open_server_store(config, dimension);
    }
    let dir = index_dir(config);
    let target = dir.join(format!("snapshot-{}", std::process::id()));
    let guard = SnapshotDir(target.clone());
    {
        let gate = crate::notes::lock::WriteGate::open(&dir)?;
        let _held = gate.read()?;
        // A process closing its store can race a copy in ways `copy_tree` does not foresee:
        // try again before giving up.
        let mut copied = Err(std::io::Error::other("not tried"));
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = std::fs::remove_dir_all(&target);
            copied = copy_tree(&dir.join("qdrant"), &target);
            if copied.is_ok() {
                break;
            }
        }
        copied.map_err(|e| {
            crate::error::Error::io(
                format!(
                    "cannot copy the note store into `{}` (is the disk full?)",
                    target.display()
                ),
                e,
            )
        })?;
    }
    let store = EdgeStore::open(&target, dimension)?;
    Ok(NoteStore {
        store: Box::new(store),
        state_path: dir.join("files.json"),
        _hold: Hold::Copy(guard),
    })
}

/// Note files larger than this are quoted from the index alone.
const MAX_NOTE_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a note file for quotes: only inside the note roots, and only files of a sane size
/// (otherwise the index's own text of the chunk is quoted).
pub fn note_reader(config: &Config) -> impl Fn(&crate::notes::chunk::Chunk) -> Option<String> {
    let roots = config.notes.paths.clone();
    move |chunk| {
        let path =
            crate::notes::loading::path_under_roots(std::path::Path::new(&chunk.source), &roots)?;
        crate::files::read_text(&path, MAX_NOTE_BYTES).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_leaves_out_the_temporary_files_of_a_store_being_closed() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let segment = store.join("segments/abc");
        std::fs::create_dir_all(segment.join(".atomicwriteXYZ")).unwrap();
        std::fs::write(segment.join("segment.json"), "{}").unwrap();
        std::fs::write(segment.join(".atomicwriteXYZ/tmpfile.tmp"), "{").unwrap();
        std::fs::write(store.join("edge_config.json"), "{}").unwrap();
        let copy = dir.path().join("copy");
        copy_tree(&store, &copy).unwrap();
        assert!(copy.join("segments/abc/segment.json").is_file());
        assert!(copy.join("edge_config.json").is_file());
        assert!(!copy.join("segments/abc/.atomicwriteXYZ").exists());
    }
}
