//! `EdgeStore`: the embedded Qdrant (qdrant-edge 0.7) in the data dir. Each chunk is a point
//! with a dense vector and a BM25 sparse vector (qdrant's own BM25); a hybrid query runs each
//! list and fuses them by reciprocal rank (`backends::fusion`). qdrant-edge keeps a write-ahead log, so a killed process
//! leaves a store that loads and replays. One process per store directory (see `notes::lock`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::external::serde_json::{self as qjson, json};
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeOptimizersConfig, EdgeShard,
    EdgeSparseVectorParams, EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, Match,
    Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointInsertOperations,
    PointOperations, PointStruct, QueryEnum, QueryRequest, Range, ScoringQuery, UpdateOperation,
    ValueVariants, VectorInternal, VectorStorageDatatype, VectorStructInternal, Vectors,
    WalOptions, WithPayloadInterface, WithVector,
};

use super::fusion::List;
use super::{Hit, SearchMode, SearchQuery, StoredChunk, VectorStore};
use crate::error::{Error, Result};
use crate::notes::chunk::Chunk;
use crate::notes::markdown::days_since_epoch;

pub(crate) const DENSE: &str = "dense";
pub(crate) const SPARSE: &str = "bm25";
/// BM25 over the section's own heading and its aliases: a note's headings name what its
/// sections are about ("1-1s", "Hiring loop") better than any sentence under them.
pub(crate) const SPARSE_HEADING: &str = "bm25_heading";

pub struct EdgeStore {
    shard: EdgeShard,
    bm25: EdgeBm25,
    path: PathBuf,
    /// Declared after `shard`, so it drops after the shard has flushed and let go of its log.
    _prune: PruneOnDrop,
}

/// Cuts the store's write-ahead log once the shard is closed (`prune_write_ahead_log`), so a
/// first index does not leave its whole log on disk until the next open.
struct PruneOnDrop(PathBuf);

impl Drop for PruneOnDrop {
    fn drop(&mut self) {
        prune_write_ahead_log(&self.0);
    }
}

impl std::fmt::Debug for EdgeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Asks qdrant-edge to map each store file once. By default it maps a file of a growing
/// segment that it may read in order (the dense vectors, the payload) twice, once per access
/// pattern, and its optimizer reads the whole segment through the second map while it writes
/// the optimized copy beside it: each of those pages then counts twice in the process's
/// resident size. First index of 19,000 synthetic notes (68,857 chunks): peak RSS 645 → 489 MB;
/// peak PSS (a shared page counted once) 483 → 487 MB, i.e. the same pages, no longer counted
/// twice; search and optimize times unchanged (README "Where that memory went").
///
/// qdrant-edge reads `QDRANT_NO_MULTI_MMAP` once, when it opens its first file, so this must
/// run before any store is opened, while the process has one thread (the first line of
/// `main`). A value the user has set is kept.
pub fn map_store_files_once() {
    super::set_env_unless_set("QDRANT_NO_MULTI_MMAP", "1");
}

fn store_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// Every folder prefix of a relative path, so a prefix filter is an exact match.
fn prefixes(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for part in path.split('/') {
        if !current.is_empty() {
            current.push('/');
        }
        current.push_str(part);
        out.push(current.clone());
    }
    out
}

/// The section's own heading (not its parents: a note title that says "improvements" would lift
/// every section of the note) with its aliases, shorthand spelled out.
pub(crate) fn heading_text(chunk: &Chunk) -> String {
    let own = chunk.heading.rsplit(" > ").next().unwrap_or_default();
    let mut text = if own == chunk.title {
        String::new()
    } else {
        own.to_string()
    };
    for alias in &chunk.aliases {
        text.push('\n');
        text.push_str(alias);
    }
    crate::notes::glossary::expand(&text)
}

/// The BM25 term weights of both stores: qdrant's own tokenizer and stemmer for English; the
/// store applies the IDF (`Modifier::Idf`).
pub(crate) fn bm25() -> std::result::Result<EdgeBm25, String> {
    EdgeBm25::new(EdgeBm25Config {
        language: Some("english".into()),
        ..Default::default()
    })
    .map_err(|e| e.to_string())
}

fn key(name: &str) -> qdrant_edge::JsonPath {
    name.try_into().expect("static payload key")
}

fn match_text(field: &str, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(
        key(field),
        Match::new_value(ValueVariants::String(value.to_string())),
    ))
}

/// The write-ahead log's segment size (qdrant's default is 32 MiB). The log is cut to its
/// newest closed segment when the store opens and closes (`prune_write_ahead_log`), so two or
/// three segments stay on disk; an entry larger than a segment gets a segment of its own size.
pub const WAL_SEGMENT_BYTES: usize = 1 << 20;

fn wal_options() -> WalOptions {
    WalOptions {
        segment_capacity: WAL_SEGMENT_BYTES,
        ..WalOptions::default()
    }
}

/// qdrant-edge 0.7.0 writes every update to its write-ahead log and never reads the log back
/// (a shard loads from its flushed segments, with no replay) nor truncates it, so the log grew
/// with every index run: 52 MB of the 102 MB store after a first index of 5,000 notes, and more
/// with each re-index. Before the shard opens and after it closes, every closed log segment but
/// the newest is removed, oldest first, as the log's own `prefix_truncate` does once all is
/// acknowledged: the newest stays so that operation numbers go on counting up (a point keeps
/// the number of its last update and ignores an update numbered below it). Only while no
/// process holds the log (the lock the log itself takes on its folder); a crash midway leaves a
/// contiguous suffix, which the log opens as it is. A process that keeps the store open (`serve`,
/// `index --watch`) cuts its log only when it closes it.
///
/// A cut on close does not wait for the write gate: a snapshot copy (`services::open_snapshot`)
/// taken meanwhile may hold closed segments with a gap, which the log would refuse to open; the
/// copy is cut the same way when it opens, down to its newest closed segment, so it opens (its
/// numbers do not matter: a copy is only read).
fn prune_write_ahead_log(dir: &Path) {
    let wal = dir.join("wal");
    let Ok(folder) = std::fs::File::open(&wal) else {
        return;
    };
    if folder.try_lock().is_err() {
        return;
    }
    let mut closed: Vec<(u64, PathBuf)> = std::fs::read_dir(&wal)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let start = name.to_str()?.strip_prefix("closed-")?.parse().ok()?;
            Some((start, entry.path()))
        })
        .collect();
    closed.sort();
    closed.pop();
    for (_, path) in closed {
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), "cannot remove an old log segment: {err}");
            break;
        }
    }
}

impl EdgeStore {
    /// Opens the store in `dir`, creating it for vectors of `dimension` when it does not exist.
    pub fn open(dir: &Path, dimension: usize) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
        let config = EdgeConfig {
            vectors: HashMap::from([(
                DENSE.to_string(),
                EdgeVectorParams::builder(dimension, Distance::Cosine)
                    .datatype(VectorStorageDatatype::Float16)
                    .build(),
            )]),
            optimizers: EdgeOptimizersConfig {
                indexing_threshold: Some(INDEXING_THRESHOLD_KB),
                ..Default::default()
            },
            sparse_vectors: [SPARSE, SPARSE_HEADING]
                .into_iter()
                .map(|name| {
                    let params = EdgeSparseVectorParams {
                        modifier: Some(Modifier::Idf),
                        ..Default::default()
                    };
                    (name.to_string(), params)
                })
                .collect(),
            wal_options: Some(wal_options()),
            ..Default::default()
        };
        prune_write_ahead_log(dir);
        // A saved config is kept as it is, with this build's write-ahead log size (a store made
        // before it keeps its older, larger log files until they are cut).
        let saved = EdgeConfig::load(dir).transpose().map_err(|e| {
            store_error(
                dir,
                format!("its edge_config.json cannot be read ({e}); if it is damaged beyond repair, remove the folder and run `starling index` again"),
            )
        })?;
        let shard = match saved {
            Some(saved) => EdgeShard::load(
                dir,
                Some(EdgeConfig {
                    wal_options: Some(wal_options()),
                    ..saved
                }),
            ),
            None => EdgeShard::new(dir, config),
        }
        .map_err(|e| {
            store_error(dir, format!("{e}; if it is damaged beyond repair, remove the folder and run `starling index` again"))
        })?;
        if let Some(existing) = shard.config().vectors.get(DENSE) {
            if existing.size != dimension {
                return Err(store_error(
                    dir,
                    format!("holds {}-dimension vectors but the embedder makes {dimension}; remove it and re-index", existing.size),
                ));
            }
        }
        if !shard.config().sparse_vectors.contains_key(SPARSE_HEADING) {
            return Err(store_error(
                dir,
                "was built by an older starling without heading search; remove it and run `starling index` again",
            ));
        }
        let bm25 = bm25().map_err(|e| store_error(dir, e))?;
        Ok(EdgeStore {
            shard,
            bm25,
            path: dir.to_path_buf(),
            _prune: PruneOnDrop(dir.to_path_buf()),
        })
    }

    /// Indexes the `source` field, which every changed file's old chunks are deleted by: without
    /// the index each deletion reads every point's payload, so a first index of N files did
    /// O(N²) work (on 3,000 synthetic notes 9% of the run, growing with the vault). A segment
    /// that has the index keeps it through optimization; this indexes any that lacks it (a
    /// store made by an older starling, or a new segment), and costs nothing when none does.
    /// Only for a store this process may write (never a reader's snapshot). Returns whether
    /// there was indexing to do.
    pub fn index_sources(&self) -> Result<bool> {
        let info = self.shard.info();
        let indexed = info.payload_schema.get(&key("source")).map(|i| i.points);
        if indexed.is_some_and(|points| points >= info.points_count) {
            return Ok(false);
        }
        self.shard
            .update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: key("source"),
                    field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
                }),
            ))
            .map_err(|e| store_error(&self.path, e))?;
        Ok(true)
    }

    /// Builds the vector index (HNSW) over what is stored; worth it after large changes.
    pub fn optimize(&self) -> Result<bool> {
        self.shard
            .optimize()
            .map_err(|e| store_error(&self.path, e))
    }

    fn point(&self, item: &StoredChunk) -> PointStruct {
        let chunk = &item.chunk;
        let payload = chunk_payload(chunk);
        let sparse = self.bm25.embed_document(&chunk.embedding_text());
        let mut vectors: Vec<(&str, qdrant_edge::Vector)> =
            vec![(DENSE, item.dense.clone().into()), (SPARSE, sparse.into())];
        if chunk.opens_section {
            let heading = self.bm25.embed_document(&heading_text(chunk));
            if !heading.indices.is_empty() {
                vectors.push((SPARSE_HEADING, heading.into()));
            }
        }
        PointStruct::new(item.id, Vectors::new_named(vectors), payload)
    }

    /// The `limit` points nearest to `vector` in the named vector space, under the query's
    /// filter, best first; with their payloads when `payload`.
    fn ranked(
        &self,
        query: &SearchQuery,
        vector: VectorInternal,
        using: &str,
        limit: usize,
        payload: bool,
    ) -> Result<Vec<qdrant_edge::ScoredPoint>> {
        self.shard
            .query(QueryRequest {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                    query: vector,
                    using: Some(using.into()),
                }))),
                filter: self.filter(query),
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(payload),
            })
            .map_err(|e| store_error(&self.path, e))
    }

    /// The ids and scores of the `limit` chunks nearest to `vector`, without their payloads.
    fn nearest_ids(
        &self,
        query: &SearchQuery,
        vector: VectorInternal,
        using: &str,
        limit: usize,
    ) -> Result<Vec<(u64, f32)>> {
        Ok(self
            .ranked(query, vector, using, limit, false)?
            .into_iter()
            .filter_map(|p| Some((numeric_id(&p.id)?, p.score)))
            .collect())
    }

    /// The chunks (payloads only) of `ids` that are stored.
    fn chunks(&self, ids: &[u64]) -> Result<Vec<(u64, Chunk)>> {
        Ok(self
            .records(ids, false)?
            .into_iter()
            .filter_map(|record| {
                let chunk = payload_chunk(&record.payload.as_ref()?.0)?;
                Some((numeric_id(&record.id)?, chunk))
            })
            .collect())
    }

    /// The stored records of `ids` with their payloads, and their vectors when `vectors`.
    fn records(&self, ids: &[u64], vectors: bool) -> Result<Vec<qdrant_edge::Record>> {
        let ids: Vec<qdrant_edge::PointId> = ids
            .iter()
            .map(|&id| qdrant_edge::PointId::NumId(id))
            .collect();
        self.shard
            .retrieve(
                &ids,
                Some(WithPayloadInterface::Bool(true)),
                Some(WithVector::Bool(vectors)),
            )
            .map_err(|e| store_error(&self.path, e))
    }

    /// The `limit` chunks nearest to `vector` in the named vector space, under the query's filter.
    fn nearest(
        &self,
        query: &SearchQuery,
        vector: VectorInternal,
        using: &str,
        limit: usize,
    ) -> Result<Vec<Hit>> {
        Ok(self
            .ranked(query, vector, using, limit, true)?
            .into_iter()
            .filter_map(|p| {
                Some(Hit {
                    id: numeric_id(&p.id)?,
                    score: p.score,
                    chunk: payload_chunk(&p.payload.as_ref()?.0)?,
                })
            })
            .collect())
    }

    fn filter(&self, query: &SearchQuery) -> Option<Filter> {
        let mut must = Vec::new();
        if let Some(prefix) = &query.filter.path_prefix {
            must.push(match_text("path_prefixes", prefix.trim_end_matches('/')));
        }
        if let Some(tag) = &query.filter.tag {
            must.push(match_text("tags", tag.trim_start_matches('#')));
        }
        let since = query.filter.since.as_deref().and_then(days_since_epoch);
        let until = query.filter.until.as_deref().and_then(days_since_epoch);
        if since.is_some() || until.is_some() {
            let bound = |d: Option<i64>| d.map(|d| OrderedFloat(d as f64));
            must.push(Condition::Field(FieldCondition::new_range(
                key("date_days"),
                Range {
                    gte: bound(since),
                    lte: bound(until),
                    lt: None,
                    gt: None,
                },
            )));
        }
        let must_not: Vec<Condition> = query
            .filter
            .not_source
            .iter()
            .map(|source| match_text("source", source))
            .collect();
        (!must.is_empty() || !must_not.is_empty()).then(|| Filter {
            must: (!must.is_empty()).then_some(must),
            must_not: (!must_not.is_empty()).then_some(must_not),
            ..Filter::new()
        })
    }
}

/// A chunk as a point's payload (both stores): its fields, every folder prefix of its path (the
/// path filter is an exact match on one of them) and its date as days since 1970 (the date
/// filter is a range on it).
pub(crate) fn chunk_payload(chunk: &Chunk) -> qjson::Value {
    json!({
        "path": chunk.path,
        "source": chunk.source,
        "path_prefixes": prefixes(&chunk.path),
        "line_start": chunk.line_start,
        "line_end": chunk.line_end,
        "heading": chunk.heading,
        "title": chunk.title,
        "tags": chunk.tags,
        "date": chunk.date,
        "date_days": chunk.date.as_deref().and_then(days_since_epoch),
        "text": chunk.text,
        "hash": chunk.hash,
        "aliases": chunk.aliases,
        "opens_section": chunk.opens_section,
        "steers_model": chunk.steers_model,
    })
}

/// The chunk a payload made by `chunk_payload` holds.
pub(crate) fn payload_chunk(payload: &qjson::Map<String, qjson::Value>) -> Option<Chunk> {
    let text = |k: &str| {
        payload
            .get(k)
            .and_then(qjson::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let number = |k: &str| payload.get(k).and_then(qjson::Value::as_u64).unwrap_or(0) as usize;
    Some(Chunk {
        path: payload.get("path")?.as_str()?.to_string(),
        source: text("source"),
        line_start: number("line_start"),
        line_end: number("line_end"),
        heading: text("heading"),
        title: text("title"),
        tags: payload
            .get("tags")
            .and_then(qjson::Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        date: payload
            .get("date")
            .and_then(qjson::Value::as_str)
            .map(String::from),
        text: text("text"),
        hash: text("hash"),
        aliases: payload
            .get("aliases")
            .and_then(qjson::Value::as_array)
            .map(|aliases| {
                aliases
                    .iter()
                    .filter_map(|a| a.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        opens_section: payload
            .get("opens_section")
            .and_then(qjson::Value::as_bool)
            .unwrap_or(false),
        steers_model: payload
            .get("steers_model")
            .and_then(qjson::Value::as_bool)
            .unwrap_or(false),
    })
}

/// A stored record (payload and vectors retrieved) as a chunk with its dense vector.
fn stored_chunk(record: qdrant_edge::Record) -> Option<StoredChunk> {
    let chunk = payload_chunk(&record.payload.as_ref()?.0)?;
    let dense = match record.vector? {
        VectorStructInternal::Named(mut named) => match named.remove(DENSE)? {
            VectorInternal::Dense(dense) => dense,
            _ => return None,
        },
        _ => return None,
    };
    Some(StoredChunk {
        id: numeric_id(&record.id)?,
        chunk,
        dense,
    })
}

fn numeric_id(id: &qdrant_edge::PointId) -> Option<u64> {
    match id {
        qdrant_edge::PointId::NumId(n) => Some(*n),
        _ => None,
    }
}

/// From this many chunks an index pass that changed the store ends by optimizing it: the HNSW
/// index is built and the segment becomes immutable, so a process opening the store loads its
/// indexes instead of rebuilding the in-RAM BM25 lists (17,998 chunks: segment load 0.23 s →
/// 0.03 s, a whole `search` process 0.21-0.23 s → 0.18-0.19 s and 317-322 MB → 278 MB; 10,830
/// chunks: 284 MB → 261 MB; the build takes 0.9-1.5 s once). Search speed alone would not need
/// it below 20,000 (10,000 chunks: p50 0.6 ms exact, 0.7 ms with HNSW; at 100,000 exact takes
/// 8 ms, HNSW 2.5 ms: README, `bench search`). Below qdrant's indexing threshold (about 6,700
/// chunks or fewer, `INDEXING_THRESHOLD_KB`) the optimizer has nothing to do, hence 8,000.
pub const HNSW_FROM: usize = 8_000;

/// The dense vectors of a new store are kept in half precision: the store's largest part and
/// the optimizer's two copies of it at half the size (69,000 chunks: 106 MB of vectors → 53 MB
/// per copy; the peak of a first index is the optimizer's, README "Where that memory went"),
/// with cosine scores within 1e-3 of single precision. A store made before keeps its saved
/// single-precision config.
///
/// qdrant builds no HNSW index for a segment until its largest vector store (the dense
/// vectors, or a BM25 store on wordy chunks) reaches the indexing threshold, in bytes (default
/// 10,000 KB: 6,667 single-precision chunks of 384 dimensions); half precision halves the dense
/// bytes, so the threshold is halved to keep that number of chunks, below `HNSW_FROM`.
const INDEXING_THRESHOLD_KB: usize = 5_000;

impl VectorStore for EdgeStore {
    fn settle(&self) -> Result<bool> {
        if self.count()? < HNSW_FROM {
            return Ok(false);
        }
        self.optimize()
    }

    fn upsert(&self, items: &[StoredChunk]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let points = items.iter().map(|item| self.point(item).into()).collect();
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
            ))
            .map_err(|e| store_error(&self.path, e))
    }

    fn delete_source(&self, source: &str) -> Result<()> {
        let filter = Filter::new_must(match_text("source", source));
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(filter),
            ))
            .map_err(|e| store_error(&self.path, e))
    }

    fn get(&self, ids: &[u64]) -> Result<Vec<StoredChunk>> {
        Ok(self
            .records(ids, true)?
            .into_iter()
            .filter_map(stored_chunk)
            .collect())
    }

    fn scroll(&self, from: Option<u64>, limit: usize) -> Result<(Vec<StoredChunk>, Option<u64>)> {
        let (records, next) = self
            .shard
            .scroll(qdrant_edge::ScrollRequest {
                offset: from.map(qdrant_edge::PointId::NumId),
                limit: Some(limit.max(1)),
                filter: None,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: WithVector::Bool(true),
                order_by: None,
            })
            .map_err(|e| store_error(&self.path, e))?;
        Ok((
            records.into_iter().filter_map(stored_chunk).collect(),
            next.as_ref().and_then(numeric_id),
        ))
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>> {
        let sparse = self.bm25.embed_query(&query.text);
        let dense = || VectorInternal::from(query.dense.clone());
        let lexical = |using: &'static str| {
            (!sparse.indices.is_empty()).then(|| (VectorInternal::from(sparse.clone()), using))
        };
        match query.mode {
            SearchMode::Dense => self.nearest(query, dense(), DENSE, query.k),
            SearchMode::Lexical => match lexical(SPARSE) {
                Some((vector, using)) => self.nearest(query, vector, using, query.k),
                None => Ok(Vec::new()),
            },
            SearchMode::Hybrid => {
                // Each list on its own, ids and scores only, fused here so the order is
                // reproducible; then only the chunks the ranking needs are read
                // (`fusion::fuse_then_fetch`).
                let candidates = (query.k * 4).max(20);
                let mut lists = vec![(
                    List::Dense,
                    self.nearest_ids(query, dense(), DENSE, candidates)?,
                )];
                for (kind, (vector, using)) in [
                    (List::Body, lexical(SPARSE)),
                    (List::Heading, lexical(SPARSE_HEADING)),
                ]
                .into_iter()
                .filter_map(|(kind, list)| Some((kind, list?)))
                {
                    lists.push((kind, self.nearest_ids(query, vector, using, candidates)?));
                }
                super::fusion::fuse_then_fetch(&query.text, lists, query.k, |ids| self.chunks(ids))
            }
        }
    }

    fn count(&self) -> Result<usize> {
        self.shard
            .count(CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(|e| store_error(&self.path, e))
    }

    fn flush(&self) -> Result<()> {
        self.shard.flush();
        Ok(())
    }
}
