//! `QdrantServerStore`: the note store in a collection of a Qdrant server or cluster, reached
//! over gRPC with `qdrant-client` (`store.backend = "qdrant"`). It stores what `EdgeStore`
//! stores, the same way: one point per chunk with the chunk's id, the same payload
//! (`qdrant_edge::chunk_payload`), a dense vector and two BM25 sparse vectors made by the same
//! tokenizer, the server applying the IDF (`Modifier::Idf`); a hybrid query runs the three
//! lists in one batch call and fuses them here with `fusion::fuse`. So a search gives the same
//! citations whichever store holds the notes.
//!
//! Every write waits for the server's acknowledgement (`wait: true`), so a batch the indexer
//! counts as stored is stored; the index's state file is written only after that. The trait is
//! synchronous: the store owns a small tokio runtime and blocks on each call (from a thread of
//! its own when the caller is itself inside a runtime).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use qdrant_client::qdrant::{
    point_id::PointIdOptions, vector_output, vectors_config, Condition, CountPointsBuilder,
    CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance,
    FieldType, Filter, GetPointsBuilder, Modifier, NamedVectors, PointId, PointStruct, Query,
    QueryBatchPointsBuilder, QueryPoints, QueryPointsBuilder, Range, ScoredPoint,
    ScrollPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
    VectorsOutput,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use qdrant_edge::bm25_embed::EdgeBm25;

use super::fusion::List;
use super::qdrant_edge::{
    bm25, chunk_payload, heading_text, payload_chunk, DENSE, SPARSE, SPARSE_HEADING,
};
use super::{Hit, SearchMode, SearchQuery, StoredChunk, VectorStore};
use crate::error::{Error, Result};
use crate::notes::markdown::days_since_epoch;

/// How to reach the server and which collection to use.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The server's gRPC address, e.g. `http://127.0.0.1:6334` (`https://` for TLS).
    pub url: String,
    pub collection: String,
    pub api_key: Option<String>,
    /// The embedder's dimension: a new collection is made for it, an existing one must match.
    pub dimension: usize,
    /// For a collection this creates: shards and copies of each (a cluster spreads them over
    /// its nodes; a single server takes 1 and 1).
    pub shards: u32,
    pub replication_factor: u32,
    /// Longest wait for one request.
    pub timeout: Duration,
}

/// The longest an index run waits for the server's indexing to finish.
const SETTLE_AT_MOST: Duration = Duration::from_secs(30 * 60);

/// Points sent per upsert call (a request stays well under gRPC's message limits).
const UPSERT_BATCH: usize = 256;

pub struct QdrantServerStore {
    client: Qdrant,
    /// Always `Some` until drop, which shuts it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    collection: String,
    bm25: EdgeBm25,
}

impl std::fmt::Debug for QdrantServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantServerStore")
            .field("url", &self.url)
            .field("collection", &self.collection)
            .finish()
    }
}

impl Drop for QdrantServerStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which a runtime's own thread may not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a failed call tells the user, with the fix for the usual causes.
fn describe(err: &QdrantError) -> String {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if lower.contains("h2 protocol") || lower.contains("http2 error") {
        format!(
            "it answers, but not as Qdrant's gRPC API ({text}); check store.url: it is the gRPC \
             address (port 6334 by default), not the REST port (6333)"
        )
    } else if lower.contains("connect") || lower.contains("transport") || lower.contains("dns") {
        format!(
            "cannot reach it ({text}); start the server, or check store.url: it is Qdrant's gRPC \
             address (port 6334 by default; the REST port 6333 does not answer gRPC)"
        )
    } else if lower.contains("unauthenticated") || lower.contains("permission") {
        format!("the server refused the API key ({text}); set store.api_key_env to the variable that holds it")
    } else {
        text
    }
}

/// The chunk id of a point, when it is numeric (every point this store writes).
fn numeric_id(id: Option<&PointId>) -> Option<u64> {
    match id?.point_id_options.as_ref()? {
        PointIdOptions::Num(n) => Some(*n),
        PointIdOptions::Uuid(_) => None,
    }
}

fn json_payload(
    payload: HashMap<String, qdrant_client::qdrant::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    payload
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::from(value)))
        .collect()
}

/// A retrieved point (payload and vectors) as a chunk with its dense vector.
fn stored(
    id: Option<PointId>,
    payload: HashMap<String, qdrant_client::qdrant::Value>,
    vectors: Option<VectorsOutput>,
) -> Option<StoredChunk> {
    Some(StoredChunk {
        id: numeric_id(id.as_ref())?,
        chunk: payload_chunk(&json_payload(payload))?,
        dense: dense_of(vectors)?,
    })
}

fn dense_of(vectors: Option<VectorsOutput>) -> Option<Vec<f32>> {
    match vectors?.get_vector_by_name(DENSE)? {
        vector_output::Vector::Dense(dense) => Some(dense.data),
        _ => None,
    }
}

impl QdrantServerStore {
    /// Connects to the server and opens the collection, creating it (with its payload
    /// indexes) when it does not exist. Fails, naming the URL and the fix, when the server
    /// cannot be reached or the collection holds vectors of another size.
    pub fn open(options: &ServerOptions) -> Result<Self> {
        let store = Self::connect(options)?;
        store.prepare(options)?;
        Ok(store)
    }

    /// The server's version, asked over gRPC (`starling doctor`); nothing is created.
    pub fn server_version(options: &ServerOptions) -> Result<String> {
        let store = Self::connect(options)?;
        let client = &store.client;
        Ok(store.call(client.health_check())?.version)
    }

    fn connect(options: &ServerOptions) -> Result<Self> {
        let fail = |message: String| Error::StoreServer {
            url: options.url.clone(),
            collection: options.collection.clone(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("qdrant-client")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start its client runtime: {e}")))?;
        let client = {
            let _entered = runtime.enter();
            let mut builder = Qdrant::from_url(&options.url)
                .timeout(options.timeout)
                .connect_timeout(Duration::from_secs(5))
                .skip_compatibility_check();
            if let Some(key) = &options.api_key {
                builder = builder.api_key(key.clone());
            }
            builder.build().map_err(|e| fail(describe(&e)))?
        };
        Ok(QdrantServerStore {
            client,
            runtime: Some(runtime),
            url: options.url.clone(),
            collection: options.collection.clone(),
            bm25: bm25().map_err(fail)?,
        })
    }

    fn error(&self, err: QdrantError) -> Error {
        Error::StoreServer {
            url: self.url.clone(),
            collection: self.collection.clone(),
            message: describe(&err),
        }
    }

    /// Runs one client call to its end.
    fn block<F>(&self, call: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside another runtime (the HTTP server's blocking pool is fine, its workers
            // are not): block on a thread of our own.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| runtime.block_on(call))
                    .join()
                    .map_err(|_| Error::StoreServer {
                        url: self.url.clone(),
                        collection: self.collection.clone(),
                        message: "its client thread panicked".into(),
                    })
            })
        } else {
            Ok(runtime.block_on(call))
        }
    }

    fn call<T: Send>(
        &self,
        call: impl Future<Output = std::result::Result<T, QdrantError>> + Send,
    ) -> Result<T> {
        self.block(call)?.map_err(|e| self.error(e))
    }

    fn prepare(&self, options: &ServerOptions) -> Result<()> {
        let client = &self.client;
        let name = self.collection.as_str();
        self.call(client.health_check())?;
        if !self.call(client.collection_exists(name))? {
            let sparse = {
                let mut config = SparseVectorsConfigBuilder::default();
                for vector in [SPARSE, SPARSE_HEADING] {
                    config.add_named_vector_params(
                        vector,
                        SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
                    );
                }
                config
            };
            let mut dense = VectorsConfigBuilder::default();
            dense.add_named_vector_params(
                DENSE,
                VectorParamsBuilder::new(options.dimension as u64, Distance::Cosine),
            );
            let created = self.call(
                client.create_collection(
                    CreateCollectionBuilder::new(name)
                        .vectors_config(dense)
                        .sparse_vectors_config(sparse)
                        .shard_number(options.shards.max(1))
                        .replication_factor(options.replication_factor.max(1)),
                ),
            );
            // Another process may have created it meanwhile: then it exists now.
            if let Err(err) = created {
                if !self.call(client.collection_exists(name))? {
                    return Err(err);
                }
            }
            for (field, kind) in [
                ("source", FieldType::Keyword),
                ("path_prefixes", FieldType::Keyword),
                ("tags", FieldType::Keyword),
                ("date_days", FieldType::Integer),
            ] {
                self.call(client.create_field_index(
                    CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true),
                ))?;
            }
        }
        let info = self.call(client.collection_info(name))?;
        let params = info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.params);
        let size = params
            .as_ref()
            .and_then(|p| p.vectors_config.as_ref())
            .and_then(|v| v.config.as_ref())
            .and_then(|config| match config {
                vectors_config::Config::ParamsMap(map) => map.map.get(DENSE).map(|p| p.size),
                vectors_config::Config::Params(_) => None,
            });
        let has_heading = params
            .as_ref()
            .and_then(|p| p.sparse_vectors_config.as_ref())
            .is_some_and(|s| s.map.contains_key(SPARSE_HEADING));
        let fail = |message: String| Error::StoreServer {
            url: self.url.clone(),
            collection: self.collection.clone(),
            message,
        };
        match size {
            Some(size) if size as usize == options.dimension => {}
            Some(size) => {
                return Err(fail(format!(
                    "holds {size}-dimension vectors but the embedder makes {}; delete the \
                     collection or set store.collection to another name, and index again",
                    options.dimension
                )))
            }
            None => {
                return Err(fail(format!(
                    "is not a Starling collection (no `{DENSE}` vector); set store.collection to \
                     another name"
                )))
            }
        }
        if !has_heading {
            return Err(fail(format!(
                "is not a Starling collection (no `{SPARSE_HEADING}` sparse vector); set \
                 store.collection to another name"
            )));
        }
        Ok(())
    }

    fn point(&self, item: &StoredChunk) -> Result<PointStruct> {
        let chunk = &item.chunk;
        let payload = Payload::try_from(chunk_payload(chunk)).map_err(|e| self.error(e))?;
        let sparse = self.bm25.embed_document(&chunk.embedding_text());
        let mut vectors = NamedVectors::default()
            .add_vector(DENSE, Vector::new_dense(item.dense.clone()))
            .add_vector(SPARSE, Vector::new_sparse(sparse.indices, sparse.values));
        if chunk.opens_section {
            let heading = self.bm25.embed_document(&heading_text(chunk));
            if !heading.indices.is_empty() {
                vectors = vectors.add_vector(
                    SPARSE_HEADING,
                    Vector::new_sparse(heading.indices, heading.values),
                );
            }
        }
        Ok(PointStruct::new(item.id, vectors, payload))
    }

    fn filter(&self, query: &SearchQuery) -> Option<Filter> {
        let mut must = Vec::new();
        if let Some(prefix) = &query.filter.path_prefix {
            must.push(Condition::matches(
                "path_prefixes",
                prefix.trim_end_matches('/').to_string(),
            ));
        }
        if let Some(tag) = &query.filter.tag {
            must.push(Condition::matches(
                "tags",
                tag.trim_start_matches('#').to_string(),
            ));
        }
        let since = query.filter.since.as_deref().and_then(days_since_epoch);
        let until = query.filter.until.as_deref().and_then(days_since_epoch);
        if since.is_some() || until.is_some() {
            must.push(Condition::range(
                "date_days",
                Range {
                    gte: since.map(|d| d as f64),
                    lte: until.map(|d| d as f64),
                    ..Default::default()
                },
            ));
        }
        let must_not: Vec<Condition> = query
            .filter
            .not_source
            .iter()
            .map(|source| Condition::matches("source", source.clone()))
            .collect();
        (!must.is_empty() || !must_not.is_empty()).then(|| Filter {
            must,
            must_not,
            ..Default::default()
        })
    }

    /// The request for the `limit` chunks nearest to `vector` in the named vector space.
    fn nearest(
        &self,
        query: &SearchQuery,
        vector: VectorInput,
        using: &str,
        limit: usize,
    ) -> QueryPoints {
        let mut request = QueryPointsBuilder::new(self.collection.as_str())
            .query(Query::new_nearest(vector))
            .using(using)
            .limit(limit as u64)
            .with_payload(true);
        if let Some(filter) = self.filter(query) {
            request = request.filter(filter);
        }
        request.build()
    }

    /// Runs the requests in one call; one list of hits per request, in order.
    fn run(&self, requests: Vec<QueryPoints>) -> Result<Vec<Vec<Hit>>> {
        let client = &self.client;
        let answer = self.call(client.query_batch(QueryBatchPointsBuilder::new(
            self.collection.as_str(),
            requests,
        )))?;
        Ok(answer
            .result
            .into_iter()
            .map(|list| list.result.into_iter().filter_map(hit).collect())
            .collect())
    }
}

fn hit(point: ScoredPoint) -> Option<Hit> {
    Some(Hit {
        id: numeric_id(point.id.as_ref())?,
        score: point.score,
        chunk: payload_chunk(&json_payload(point.payload))?,
    })
}

impl VectorStore for QdrantServerStore {
    fn upsert(&self, items: &[StoredChunk]) -> Result<()> {
        for batch in items.chunks(UPSERT_BATCH) {
            let points = batch
                .iter()
                .map(|item| self.point(item))
                .collect::<Result<Vec<_>>>()?;
            let client = &self.client;
            self.call(client.upsert_points(
                UpsertPointsBuilder::new(self.collection.as_str(), points).wait(true),
            ))?;
        }
        Ok(())
    }

    fn delete_source(&self, source: &str) -> Result<()> {
        let client = &self.client;
        self.call(
            client.delete_points(
                DeletePointsBuilder::new(self.collection.as_str())
                    .points(Filter::must([Condition::matches(
                        "source",
                        source.to_string(),
                    )]))
                    .wait(true),
            ),
        )?;
        Ok(())
    }

    fn get(&self, ids: &[u64]) -> Result<Vec<StoredChunk>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = &self.client;
        let ids: Vec<PointId> = ids.iter().map(|&id| PointId::from(id)).collect();
        let answer = self.call(
            client.get_points(
                GetPointsBuilder::new(self.collection.as_str(), ids)
                    .with_payload(true)
                    .with_vectors(true),
            ),
        )?;
        Ok(answer
            .result
            .into_iter()
            .filter_map(|point| stored(point.id, point.payload, point.vectors))
            .collect())
    }

    fn scroll(&self, from: Option<u64>, limit: usize) -> Result<(Vec<StoredChunk>, Option<u64>)> {
        let client = &self.client;
        let mut request = ScrollPointsBuilder::new(self.collection.as_str())
            .limit(limit.max(1) as u32)
            .with_payload(true)
            .with_vectors(true);
        if let Some(from) = from {
            request = request.offset(PointId::from(from));
        }
        let answer = self.call(client.scroll(request))?;
        let next = numeric_id(answer.next_page_offset.as_ref());
        let chunks = answer
            .result
            .into_iter()
            .filter_map(|point| stored(point.id, point.payload, point.vectors))
            .collect();
        Ok((chunks, next))
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>> {
        let sparse = self.bm25.embed_query(&query.text);
        let dense = || VectorInput::new_dense(query.dense.clone());
        let lexical = || {
            (!sparse.indices.is_empty())
                .then(|| VectorInput::new_sparse(sparse.indices.clone(), sparse.values.clone()))
        };
        match query.mode {
            SearchMode::Dense => {
                let request = self.nearest(query, dense(), DENSE, query.k);
                Ok(self.run(vec![request])?.into_iter().flatten().collect())
            }
            SearchMode::Lexical => match lexical() {
                Some(vector) => {
                    let request = self.nearest(query, vector, SPARSE, query.k);
                    Ok(self.run(vec![request])?.into_iter().flatten().collect())
                }
                None => Ok(Vec::new()),
            },
            SearchMode::Hybrid => {
                // The same lists as the embedded store, fused the same way (`fusion::fuse`).
                let candidates = (query.k * 4).max(20);
                let mut requests = vec![self.nearest(query, dense(), DENSE, candidates)];
                if let Some(vector) = lexical() {
                    requests.push(self.nearest(query, vector.clone(), SPARSE, candidates));
                    requests.push(self.nearest(query, vector, SPARSE_HEADING, candidates));
                }
                let kinds = [List::Dense, List::Body, List::Heading];
                let lists = kinds.into_iter().zip(self.run(requests)?).collect();
                Ok(super::fusion::fuse(&query.text, lists, query.k))
            }
        }
    }

    fn count(&self) -> Result<usize> {
        let client = &self.client;
        let answer =
            self.call(client.count(CountPointsBuilder::new(self.collection.as_str()).exact(true)))?;
        Ok(answer.result.map_or(0, |r| r.count as usize))
    }

    fn flush(&self) -> Result<()> {
        // Every write waited for the server's acknowledgement.
        Ok(())
    }

    /// Waits until the server has indexed what it was sent (its optimizers build the HNSW
    /// index in the background; the collection is green when they are done), so an index run
    /// ends when search is fast, as with the embedded store.
    fn settle(&self) -> Result<bool> {
        use qdrant_client::qdrant::CollectionStatus;
        let deadline = std::time::Instant::now() + SETTLE_AT_MOST;
        let mut waited = false;
        loop {
            let client = &self.client;
            let info = self.call(client.collection_info(self.collection.as_str()))?;
            let status = info.result.map(|r| r.status);
            // Grey: optimizations possible but not started; they start with the next write.
            if status != Some(CollectionStatus::Yellow as i32)
                || std::time::Instant::now() > deadline
            {
                return Ok(waited);
            }
            waited = true;
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
