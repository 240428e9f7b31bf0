//! Opening the engines and the note store from a `Config`, with errors that name the file and
//! the fix. The binary (and later the HTTP server) builds its services here.

use std::path::PathBuf;

use crate::backends::fastembed::{EmbedderOptions, FastEmbedder};
use crate::backends::qdrant_edge::EdgeStore;
use crate::backends::Embedder;
use crate::config::Config;
use crate::error::Result;
use crate::notes::lock::StoreLock;

/// The note store and the lock that makes this process its only writer.
#[derive(Debug)]
pub struct NoteStore {
    pub store: EdgeStore,
    pub state_path: PathBuf,
    _lock: StoreLock,
}

/// `DATA_DIR/index`: the qdrant-edge shard, `files.json` and the lock.
pub fn index_dir(config: &Config) -> PathBuf {
    config.data_dir.join("index")
}

pub fn open_embedder(config: &Config) -> Result<FastEmbedder> {
    FastEmbedder::load(&EmbedderOptions {
        dir: config.embedder.dir.clone(),
        onnxruntime: config.embedder.onnxruntime.clone(),
        threads: config.generator.threads,
    })
}

/// Takes the store's lock for `holder` (e.g. "starling index"); first, so a busy store is
/// reported before any model loads.
pub fn lock_store(config: &Config, holder: &str) -> Result<StoreLock> {
    // The store holds note sentences (in its segments and write-ahead log): the data dir is
    // this user's only.
    crate::files::create_private_dir(&config.data_dir)?;
    StoreLock::acquire(&index_dir(config).join("store.lock"), holder)
}

/// Opens the store under a lock taken with `lock_store`.
pub fn open_store(config: &Config, lock: StoreLock, embedder: &dyn Embedder) -> Result<NoteStore> {
    let dir = index_dir(config);
    let store = EdgeStore::open(&dir.join("qdrant"), embedder.dimension())?;
    Ok(NoteStore {
        store,
        state_path: dir.join("files.json"),
        _lock: lock,
    })
}
