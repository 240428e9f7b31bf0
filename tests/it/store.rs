//! The `VectorStore` conformance suite (`starling::backends::conformance`) run on every
//! implementation: the embedded store here, a Qdrant server in `qdrant.rs`.

use starling::backends::conformance::{conformance, item, DIMENSION};
use starling::backends::qdrant_edge::EdgeStore;
use starling::backends::{SearchFilter, SearchQuery, StoredChunk, VectorStore};

#[test]
fn edge_store_conforms_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EdgeStore::open(&dir.path().join("qdrant"), DIMENSION).unwrap();
        conformance(&store);
    }
    let reopened = EdgeStore::open(&dir.path().join("qdrant"), DIMENSION).unwrap();
    assert_eq!(reopened.count().unwrap(), 3);
    drop(reopened);
    let message = EdgeStore::open(&dir.path().join("qdrant"), DIMENSION * 2)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(message.contains("dimension"), "{message}");
}

#[test]
fn a_large_store_builds_its_search_index_once_and_finds_the_same() {
    use starling::notes::synthetic::SplitMix;
    const DIM: usize = 384;
    let mut rng = SplitMix::new(7);
    let mut random_vector = || -> Vec<f32> {
        let v: Vec<f32> = (0..DIM).map(|_| rng.signed_unit()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(&dir.path().join("qdrant"), DIM).unwrap();
    assert!(
        store.index_sources().unwrap(),
        "a new store indexes its sources"
    );
    // Small: nothing to build.
    let mut first = item(0, "a.md", "walrus feeder", "t", "2024-01-01");
    first.dense = random_vector();
    store.upsert(&[first]).unwrap();
    assert!(!store.settle().unwrap());

    let chunks = starling::backends::qdrant_edge::HNSW_FROM as u64;
    let mut probe = Vec::new();
    for start in (1..chunks).step_by(1000) {
        let batch: Vec<StoredChunk> = (start..(start + 1000).min(chunks))
            .map(|id| {
                let mut chunk = item(id, &format!("n{id}.md"), "notes", "t", "2024-01-01");
                chunk.dense = random_vector();
                if id == 4321 {
                    probe = chunk.dense.clone();
                }
                chunk
            })
            .collect();
        store.upsert(&batch).unwrap();
    }
    store.flush().unwrap();
    let top = |store: &EdgeStore| {
        store
            .search(&SearchQuery {
                text: "zebra".into(),
                dense: probe.clone(),
                k: 3,
                filter: SearchFilter::default(),
                mode: starling::backends::SearchMode::Dense,
            })
            .unwrap()[0]
            .chunk
            .path
            .clone()
    };
    assert_eq!(top(&store), "n4321.md");
    // A new store keeps vectors in half precision (its rounding shows: over 1e-6 somewhere, where
    // single precision would give back the same bits), and similarities computed from a stored
    // vector move by less than 1e-3.
    let stored = store.get(&[4321]).unwrap().remove(0).dense;
    let rounding = stored
        .iter()
        .zip(&probe)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(rounding > 1e-6 && rounding < 1e-3, "{rounding}");
    let cosine: f32 = stored.iter().zip(&probe).map(|(a, b)| a * b).sum();
    assert!((cosine - 1.0).abs() < 1e-3, "{cosine}");
    assert!(store.settle().unwrap(), "the HNSW index is built");
    assert_eq!(top(&store), "n4321.md");
    // Built once: a later pass with nothing new does no work.
    assert!(!store.settle().unwrap());
    // The optimized segments kept the source index, and deleting by source still works.
    assert!(
        !store.index_sources().unwrap(),
        "the source index survives optimizing"
    );
    store.delete_source("/vault/n4321.md").unwrap();
    assert_ne!(top(&store), "n4321.md");
}

#[test]
fn a_store_made_before_half_precision_keeps_its_single_precision_vectors() {
    use qdrant_edge::{Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qdrant");
    std::fs::create_dir_all(&path).unwrap();
    // The config an older starling saved: single-precision dense vectors, both BM25 lists.
    let sparse = EdgeSparseVectorParams {
        modifier: Some(qdrant_edge::Modifier::Idf),
        ..Default::default()
    };
    let old = EdgeConfig {
        vectors: [(
            "dense".to_string(),
            EdgeVectorParams::builder(DIMENSION, Distance::Cosine).build(),
        )]
        .into(),
        sparse_vectors: [
            ("bm25".to_string(), sparse.clone()),
            ("bm25_heading".to_string(), sparse),
        ]
        .into(),
        ..Default::default()
    };
    drop(EdgeShard::new(&path, old).unwrap());

    let store = EdgeStore::open(&path, DIMENSION).unwrap();
    let one = item(1, "a.md", "walrus feeder", "t", "2024-01-01");
    store.upsert(std::slice::from_ref(&one)).unwrap();
    let back = store.get(&[1]).unwrap().remove(0).dense;
    let rounding = back
        .iter()
        .zip(&one.dense)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(rounding < 1e-6, "{rounding}");
}
