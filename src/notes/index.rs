//! Indexing note roots into a `VectorStore`: unchanged files are skipped (size and mtime, then
//! content hash), changed files re-embedded, deleted files removed, renamed files moved without
//! re-embedding. Crash-safe ordering: a file's chunks are replaced in the store, the store is
//! flushed, and only then is the file recorded in `files.json` (written atomically); a file
//! not recorded is redone from scratch on the next run, so `kill -9` at any moment is safe.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chunk::{chunk_note, Chunk, TokenCounter};
use super::loading::{
    content_hash, is_dendron_vault, read_bounded, skip_reason, walk_notes, FoundFile,
};
use super::lock::WriteGate;
use super::markdown::{date_from_path, date_from_seconds, parse_with, ParseOptions};
use super::mojibake;
use crate::backends::{Embedder, StoredChunk, VectorStore};
use crate::error::{Error, Result};

/// Chunk bodies stay under this many embedder tokens (MiniLM reads 256; title and heading ride along).
pub const CHUNK_TOKENS: usize = 100;
/// Files are committed (store flushed, files.json written) after this many chunks.
const COMMIT_CHUNKS: usize = 512;

/// What the index knows about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub root: PathBuf,
    pub size: u64,
    pub mtime_ns: u128,
    pub hash: String,
    pub chunks: Vec<u64>,
    #[serde(default)]
    pub repaired: usize,
}

/// A file that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// `files.json`: the index's record of what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexState {
    pub version: u32,
    pub embedder: String,
    pub roots: Vec<PathBuf>,
    /// Keyed by the file's absolute path.
    pub files: BTreeMap<PathBuf, FileRecord>,
    pub skipped: Vec<Skipped>,
}

impl IndexState {
    pub fn load(path: &Path) -> Result<IndexState> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| Error::Store {
                path: path.to_path_buf(),
                message: format!(
                    "unreadable index record ({err}); remove it to re-index from scratch"
                ),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(IndexState {
                version: 1,
                ..Default::default()
            }),
            Err(err) => Err(Error::io(format!("cannot read `{}`", path.display()), err)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        // Paths that are not UTF-8 cannot be written as JSON; `index` never records one, and a
        // note root named so is reported here rather than panicking.
        let bytes = serde_json::to_vec(self).map_err(|err| Error::Store {
            path: path.to_path_buf(),
            message: format!(
                "cannot record the index ({err}); rename note roots whose names are not UTF-8"
            ),
        })?;
        crate::files::write_atomic(path, &bytes)
    }

    pub fn chunk_count(&self) -> usize {
        self.files.values().map(|f| f.chunks.len()).sum()
    }

    pub fn repaired_files(&self) -> usize {
        self.files.values().filter(|f| f.repaired > 0).count()
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IndexReport {
    pub files_seen: usize,
    pub files_unchanged: usize,
    pub files_indexed: usize,
    pub files_renamed: usize,
    pub files_deleted: usize,
    pub files_skipped: usize,
    /// Vectors computed (chunks whose text an earlier version or another chunk of the batch
    /// already had reuse that vector).
    pub chunks_embedded: usize,
    pub chunks_total: usize,
    pub seconds: f64,
    /// Seconds spent building the search index (`VectorStore::settle`) at the end of the
    /// pass; 0 when the store did not need it.
    #[serde(default)]
    pub search_index_s: f64,
}

/// Progress, for a bar: (files done, files total, current file).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// Index settings.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub max_file_bytes: u64,
}

/// A stable id for chunk `index` of the file at `absolute`.
pub fn chunk_id(absolute: &Path, index: usize) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(absolute.to_string_lossy().as_bytes());
    hasher.update([0]);
    hasher.update(index.to_le_bytes());
    let digest = hasher.finalize();
    // Qdrant ids are u64; keep them below 2^63 so every JSON reader takes them.
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) >> 1
}

struct Adapter<'a>(&'a dyn Embedder);

impl TokenCounter for Adapter<'_> {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

/// The store as the indexer writes it: every change passes the write gate, so a reader can
/// copy the store between two changes (`services::open_snapshot`) while a long run goes on.
struct Gated<'a> {
    store: &'a dyn VectorStore,
    gate: WriteGate,
}

impl VectorStore for Gated<'_> {
    fn upsert(&self, items: &[StoredChunk]) -> Result<()> {
        let _held = self.gate.write()?;
        self.store.upsert(items)
    }

    fn delete_source(&self, source: &str) -> Result<()> {
        let _held = self.gate.write()?;
        self.store.delete_source(source)
    }

    fn get(&self, ids: &[u64]) -> Result<Vec<StoredChunk>> {
        self.store.get(ids)
    }

    fn scroll(&self, from: Option<u64>, limit: usize) -> Result<(Vec<StoredChunk>, Option<u64>)> {
        self.store.scroll(from, limit)
    }

    fn search(&self, query: &crate::backends::SearchQuery) -> Result<Vec<crate::backends::Hit>> {
        self.store.search(query)
    }

    fn count(&self) -> Result<usize> {
        self.store.count()
    }

    fn flush(&self) -> Result<()> {
        let _held = self.gate.write()?;
        self.store.flush()
    }

    fn settle(&self) -> Result<bool> {
        let _held = self.gate.write()?;
        self.store.settle()
    }
}

/// Runs one indexing pass over `roots` and builds what search needs at the store's new size
/// (`build_search_index`). `state_path` is `files.json` beside the store.
pub fn index(
    roots: &[PathBuf],
    state_path: &Path,
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    options: &IndexOptions,
    progress: Progress<'_>,
) -> Result<IndexReport> {
    let mut report = index_files(roots, state_path, embedder, store, options, &mut *progress)?;
    build_search_index(state_path, store, &mut report, progress)?;
    Ok(report)
}

/// After a pass that changed the store (chunks stored anew, even with every vector reused,
/// removed or moved), builds its search index (`VectorStore::settle`), adding the time to the
/// report. Apart from the pass, so a one-shot `starling index` can let go of its embedder
/// first: on 10,830 chunks the ONNX session held about 140 MB of heap while the optimizer
/// mapped the store's old and new segments, which made the run's peak.
pub fn build_search_index(
    state_path: &Path,
    store: &dyn VectorStore,
    report: &mut IndexReport,
    progress: Progress<'_>,
) -> Result<()> {
    let total = report.files_seen;
    if report.files_indexed > 0 || report.files_deleted > 0 || report.files_renamed > 0 {
        let gate = WriteGate::open(state_path.parent().unwrap_or(Path::new(".")))?;
        // After the pass's last commit: a crash while it runs loses nothing.
        let settling = Instant::now();
        progress(total, total, "building the search index");
        let built = {
            let _held = gate.write()?;
            store.settle()?
        };
        let seconds = settling.elapsed().as_secs_f64();
        if built {
            report.search_index_s = seconds;
        }
        report.seconds += seconds;
    }
    progress(total, total, "");
    Ok(())
}

/// One indexing pass over `roots`, committed, without the search index
/// (`build_search_index` follows).
pub fn index_files(
    roots: &[PathBuf],
    state_path: &Path,
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    options: &IndexOptions,
    progress: Progress<'_>,
) -> Result<IndexReport> {
    let gated = Gated {
        store,
        gate: WriteGate::open(state_path.parent().unwrap_or(Path::new(".")))?,
    };
    let store: &dyn VectorStore = &gated;
    let started = Instant::now();
    let mut state = IndexState::load(state_path)?;
    if !state.embedder.is_empty() && state.embedder != embedder.model_name() {
        return Err(Error::Store {
            path: state_path.to_path_buf(),
            message: format!(
                "was built with the embedder `{}`, not `{}`; remove the data dir's index folder and re-index",
                state.embedder,
                embedder.model_name()
            ),
        });
    }
    state.embedder = embedder.model_name().to_string();
    state.version = 1;
    state.roots = roots.to_vec();
    let (found, problems) = walk_notes(roots)?;
    let mut report = IndexReport {
        files_seen: found.len(),
        files_skipped: problems.len(),
        ..Default::default()
    };
    let seen: std::collections::HashSet<&PathBuf> = found.iter().map(|f| &f.absolute).collect();

    // Files gone from disk: candidates for a rename (same content elsewhere), else deleted.
    let gone: Vec<PathBuf> = state
        .files
        .keys()
        .filter(|p| !seen.contains(p))
        .cloned()
        .collect();
    // Several gone files may share content (templates): each is a rename candidate, and each
    // left over at the end is deleted.
    let mut gone_by_hash: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for path in &gone {
        gone_by_hash
            .entry(state.files[path].hash.clone())
            .or_default()
            .push(path.clone());
    }

    state.skipped.clear();
    state.skipped.extend(problems.into_iter().map(|p| Skipped {
        path: p.path,
        reason: p.reason,
    }));
    let mut pending: Vec<(FoundFile, FileRecord, Vec<Chunk>)> = Vec::new();
    let mut pending_chunks = 0usize;
    // Whether each note root is a Dendron vault (its links read `[[label|note]]`).
    let mut dendron_roots: HashMap<PathBuf, bool> = HashMap::new();
    let total = found.len();
    for (done, file) in found.iter().enumerate() {
        progress(done, total, &file.relative);
        if file.absolute.to_str().is_none() {
            // files.json and the store key files by their path as text; a name that is not
            // UTF-8 has no exact text form, so the file is left out, and any chunks an earlier
            // version stored under its approximate name go (unless a real file has that name).
            skip(&mut state, &mut report, file, NOT_UTF8_NAME);
            let key = source_key(&file.absolute);
            if !found
                .iter()
                .any(|f| f.absolute.to_str() == Some(key.as_str()))
            {
                store.delete_source(&key)?;
            }
            continue;
        }
        if let Some(record) = state.files.get(&file.absolute) {
            if record.size == file.size && record.mtime_ns == file.mtime_ns {
                report.files_unchanged += 1;
                continue;
            }
        }
        // The size on disk is checked before a byte is read, and the read itself is bounded.
        let bytes = if file.size > options.max_file_bytes {
            Err(format!(
                "larger than {} bytes (notes.max_file_bytes)",
                options.max_file_bytes
            ))
        } else {
            read_bounded(&file.absolute, options.max_file_bytes).map_err(|err| {
                format!("cannot read it ({err}); check that it exists and is readable")
            })
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(reason) if file.size <= options.max_file_bytes => {
                // Unreadable now (permissions, vanished mid-run): the run goes on, and what the
                // index already holds for the file stays until it can be read again.
                skip(&mut state, &mut report, file, &reason);
                continue;
            }
            Err(reason) => {
                skip(&mut state, &mut report, file, &reason);
                if state.files.remove(&file.absolute).is_some() {
                    store.delete_source(&source_key(&file.absolute))?;
                }
                continue;
            }
        };
        if let Some(reason) = skip_reason(&bytes, options.max_file_bytes) {
            report.files_skipped += 1;
            state.skipped.push(Skipped {
                path: file.relative.clone(),
                reason,
            });
            if state.files.remove(&file.absolute).is_some() {
                store.delete_source(&source_key(&file.absolute))?;
            }
            continue;
        }
        let hash = content_hash(&bytes);
        if let Some(record) = state.files.get_mut(&file.absolute) {
            if record.hash == hash {
                // Touched, not changed.
                record.size = file.size;
                record.mtime_ns = file.mtime_ns;
                report.files_unchanged += 1;
                continue;
            }
        }
        let renamed_from = if state.files.contains_key(&file.absolute) {
            None
        } else {
            gone_by_hash.get_mut(&hash).and_then(Vec::pop)
        };
        if let Some(old_path) = renamed_from {
            let old = state
                .files
                .remove(&old_path)
                .expect("gone files are in the state");
            let moved = move_chunks(store, &old, file)?;
            store.delete_source(&source_key(&old_path))?;
            // When the store gives back fewer chunks than the record holds, the file is
            // embedded anew below rather than recorded short.
            if let Some(moved) = moved {
                state.files.insert(
                    file.absolute.clone(),
                    FileRecord {
                        root: file.root.clone(),
                        size: file.size,
                        mtime_ns: file.mtime_ns,
                        hash,
                        chunks: moved,
                        repaired: old.repaired,
                    },
                );
                report.files_renamed += 1;
                continue;
            }
            report.files_deleted += 1;
        }
        let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes))
            .into_owned();
        let (text, repaired) = mojibake::repair(&text);
        let stem = Path::new(&file.relative)
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned());
        let dendron = *dendron_roots
            .entry(file.root.clone())
            .or_insert_with(|| is_dendron_vault(&file.root));
        let mut note = parse_with(&text, &stem, ParseOptions { dendron });
        // A note's date: its front matter, else a date in its path, else its mtime.
        if note.date.is_none() {
            note.date = date_from_path(&file.relative).or_else(|| {
                let seconds = (file.mtime_ns / 1_000_000_000) as u64;
                (seconds > 0).then(|| date_from_seconds(seconds))
            });
        }
        let mut chunks = chunk_note(&file.relative, &note, &Adapter(embedder), CHUNK_TOKENS);
        for chunk in &mut chunks {
            chunk.source = source_key(&file.absolute);
        }
        let record = FileRecord {
            root: file.root.clone(),
            size: file.size,
            mtime_ns: file.mtime_ns,
            hash,
            chunks: (0..chunks.len())
                .map(|i| chunk_id(&file.absolute, i))
                .collect(),
            repaired,
        };
        pending_chunks += chunks.len();
        pending.push((file.clone(), record, chunks));
        if pending_chunks >= COMMIT_CHUNKS {
            commit(
                &mut pending,
                &mut state,
                state_path,
                embedder,
                store,
                &mut report,
            )?;
            pending_chunks = 0;
        }
    }
    commit(
        &mut pending,
        &mut state,
        state_path,
        embedder,
        store,
        &mut report,
    )?;

    for path in gone_by_hash.into_values().flatten() {
        if state.files.remove(&path).is_some() {
            store.delete_source(&source_key(&path))?;
            report.files_deleted += 1;
        }
    }
    store.flush()?;
    state.save(state_path)?;
    report.chunks_total = state.chunk_count();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The skip reason for a file whose name is not valid UTF-8.
pub const NOT_UTF8_NAME: &str = "its name is not valid UTF-8; rename it to index it";

/// Records `file` as skipped for `reason`.
fn skip(state: &mut IndexState, report: &mut IndexReport, file: &FoundFile, reason: &str) {
    report.files_skipped += 1;
    state.skipped.push(Skipped {
        path: file.relative.clone(),
        reason: reason.to_string(),
    });
}

/// The store's key for a file's chunks: its absolute path (two note roots may both hold a
/// `todo.md`; their relative paths collide, their absolute ones do not).
fn source_key(absolute: &Path) -> String {
    absolute.to_string_lossy().into_owned()
}

/// Re-stores a renamed file's chunks under its new path and ids, reusing their vectors; `None`
/// (and nothing stored) when the store no longer holds every one of them.
fn move_chunks(
    store: &dyn VectorStore,
    old: &FileRecord,
    file: &FoundFile,
) -> Result<Option<Vec<u64>>> {
    let mut stored = store.get(&old.chunks)?;
    if stored.len() != old.chunks.len() {
        return Ok(None);
    }
    stored.sort_by_key(|s| old.chunks.iter().position(|&id| id == s.id));
    let moved: Vec<StoredChunk> = stored
        .into_iter()
        .enumerate()
        .map(|(index, mut item)| {
            item.id = chunk_id(&file.absolute, index);
            item.chunk.path = file.relative.clone();
            item.chunk.source = source_key(&file.absolute);
            item
        })
        .collect();
    store.upsert(&moved)?;
    Ok(Some(moved.iter().map(|m| m.id).collect()))
}

/// Embeds and stores the pending files, flushes, then records them.
fn commit(
    pending: &mut Vec<(FoundFile, FileRecord, Vec<Chunk>)>,
    state: &mut IndexState,
    state_path: &Path,
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    report: &mut IndexReport,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    // Vectors this pass need not compute again: those of a changed file's previous chunks whose
    // embedded text is unchanged (an edit re-embeds only the chunks it touched), and one per
    // text repeated across the files of this commit (templates, boilerplate).
    let mut known: HashMap<String, Vec<f32>> = HashMap::new();
    for (file, _, _) in pending.iter() {
        if let Some(old) = state.files.get(&file.absolute) {
            for stored in store.get(&old.chunks)? {
                known.insert(stored.chunk.hash, stored.dense);
            }
        }
    }
    let mut fresh: HashMap<&str, usize> = HashMap::new();
    let mut texts: Vec<String> = Vec::new();
    for chunk in pending.iter().flat_map(|(_, _, chunks)| chunks) {
        if !known.contains_key(&chunk.hash) && !fresh.contains_key(chunk.hash.as_str()) {
            fresh.insert(&chunk.hash, texts.len());
            texts.push(chunk.embedding_text());
        }
    }
    let vectors = embedder.embed(&texts)?;
    report.chunks_embedded += texts.len();
    let vector = |chunk: &Chunk| match known.get(&chunk.hash) {
        Some(dense) => dense.clone(),
        None => vectors[fresh[chunk.hash.as_str()]].clone(),
    };
    for (file, record, chunks) in pending.iter() {
        store.delete_source(&source_key(&file.absolute))?;
        let items: Vec<StoredChunk> = chunks
            .iter()
            .zip(record.chunks.iter())
            .map(|(chunk, &id)| StoredChunk {
                id,
                chunk: chunk.clone(),
                dense: vector(chunk),
            })
            .collect();
        store.upsert(&items)?;
    }
    store.flush()?;
    for (file, record, _) in pending.drain(..) {
        state.files.insert(file.absolute, record);
        report.files_indexed += 1;
    }
    state.save(state_path)
}
