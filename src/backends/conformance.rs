//! The `VectorStore` conformance suite: the checks every implementation must pass, run by the
//! integration tests on the embedded store and on a Qdrant server, and usable by anyone who
//! writes another store. Test support: it panics at the first check that fails.

use super::{SearchFilter, SearchQuery, StoredChunk, VectorStore};
use crate::notes::chunk::Chunk;

/// The dimension of the suite's vectors.
pub const DIMENSION: usize = 8;

/// A unit vector near axis `seed % DIMENSION`.
pub fn vector(seed: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..DIMENSION)
        .map(|i| {
            if i == seed % DIMENSION {
                1.0
            } else {
                0.05 * ((i + seed) % 3) as f32
            }
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// A chunk of note `path` (source `/vault/PATH`) with vector `vector(id)`.
pub fn item(id: u64, path: &str, text: &str, tag: &str, date: &str) -> StoredChunk {
    StoredChunk {
        id,
        chunk: Chunk {
            path: path.into(),
            source: format!("/vault/{path}"),
            line_start: id as usize,
            line_end: id as usize + 2,
            heading: "Notes".into(),
            title: path.into(),
            tags: vec![tag.into()],
            date: Some(date.into()),
            text: text.into(),
            hash: format!("{id:016x}"),
            aliases: vec![format!("alias {id}")],
            opens_section: id.is_multiple_of(2),
            steers_model: false,
        },
        dense: vector(id as usize),
    }
}

fn query(store: &dyn VectorStore, text: &str, seed: usize, filter: SearchFilter) -> Vec<String> {
    store
        .search(&SearchQuery {
            text: text.into(),
            dense: vector(seed),
            k: 3,
            filter,
            mode: Default::default(),
        })
        .unwrap()
        .into_iter()
        .map(|hit| hit.chunk.path)
        .collect()
}

/// Every `VectorStore` must pass this, starting empty; it panics at the first check that fails.
pub fn conformance(store: &dyn VectorStore) {
    let items = vec![
        item(
            1,
            "work/billing.md",
            "shipped the billing migration two days early",
            "worklog",
            "2025-03-14",
        ),
        item(
            2,
            "work/outage.md",
            "led the certificate outage review and follow-ups",
            "incident",
            "2025-03-06",
        ),
        item(
            3,
            "1on1/priya.md",
            "priya asked me to present the migration at the review",
            "1on1",
            "2025-04-09",
        ),
        item(
            4,
            "design/rfc.md",
            "wrote the shared event schema rfc with four teams",
            "design",
            "2025-05-20",
        ),
    ];
    store.upsert(&items).unwrap();
    store.flush().unwrap();
    assert_eq!(store.count().unwrap(), 4);

    // Both signals find their document: BM25 by words, dense by vector.
    assert_eq!(
        query(store, "certificate outage", 99, SearchFilter::default())[0],
        "work/outage.md"
    );
    assert_eq!(
        query(store, "zzz", 4, SearchFilter::default())[0],
        "design/rfc.md"
    );

    // Filters.
    let only_work = SearchFilter {
        path_prefix: Some("work".into()),
        ..Default::default()
    };
    assert!(query(store, "migration review", 3, only_work)
        .iter()
        .all(|p| p.starts_with("work/")));
    let tagged = SearchFilter {
        tag: Some("1on1".into()),
        ..Default::default()
    };
    assert_eq!(query(store, "migration", 1, tagged), ["1on1/priya.md"]);
    let april_on = SearchFilter {
        since: Some("2025-04-01".into()),
        until: Some("2025-04-30".into()),
        ..Default::default()
    };
    assert_eq!(
        query(store, "migration", 1, april_on.clone()),
        ["1on1/priya.md"]
    );
    // A query of stopwords only has no lexical list; the filters still hold on the dense one
    // (seed 4 is nearest to design/rfc.md, which every filter below excludes).
    let stopwords = "what did I do";
    let only_1on1 = SearchFilter {
        path_prefix: Some("1on1".into()),
        ..Default::default()
    };
    assert_eq!(query(store, stopwords, 4, only_1on1), ["1on1/priya.md"]);
    let tagged = SearchFilter {
        tag: Some("incident".into()),
        ..Default::default()
    };
    assert_eq!(query(store, stopwords, 4, tagged), ["work/outage.md"]);
    assert_eq!(query(store, stopwords, 4, april_on), ["1on1/priya.md"]);
    // A file left out by its source: in every list, whatever else the filter says.
    let not_outage = SearchFilter {
        not_source: Some("/vault/work/outage.md".into()),
        ..Default::default()
    };
    let found = query(store, "certificate outage", 99, not_outage.clone());
    assert!(!found.is_empty() && !found.contains(&"work/outage.md".to_string()));
    assert!(!query(store, stopwords, 4, not_outage.clone()).contains(&"work/outage.md".to_string()));
    let work_not_outage = SearchFilter {
        path_prefix: Some("work".into()),
        ..not_outage
    };
    assert_eq!(
        query(store, "certificate outage", 4, work_not_outage),
        ["work/billing.md"]
    );

    // A passage holding the whole query verbatim comes first, however far its vector is
    // (seed 4 is nearest to design/rfc.md; "the migration at the review" is in priya.md only).
    assert_eq!(
        query(
            store,
            "The  migration at the REVIEW",
            4,
            SearchFilter::default()
        )[0],
        "1on1/priya.md"
    );
    // The same question gets the same answer every time: ties in the fused ranking break by
    // path (qdrant's own fusion left them in no fixed order).
    let first = query(store, "migration", 2, SearchFilter::default());
    for _ in 0..5 {
        assert_eq!(query(store, "migration", 2, SearchFilter::default()), first);
    }

    // Scroll reads every chunk with its vector, page by page, in id order.
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let (page, next) = store.scroll(from, 3).unwrap();
        assert!(page.len() <= 3);
        seen.extend(page);
        match next {
            Some(id) => from = Some(id),
            None => break,
        }
    }
    assert_eq!(seen.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(seen[3].chunk, items[3].chunk);
    // A store may keep vectors in half precision (the embedded store does): each component of a
    // unit vector back to within its rounding, under 1e-3.
    assert!(seen[3]
        .dense
        .iter()
        .zip(&items[3].dense)
        .all(|(a, b)| (a - b).abs() < 1e-3));

    // Get returns the chunk and its vector; upsert replaces by id; delete removes by source.
    let got = store.get(&[2, 77]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].chunk, items[1].chunk);
    assert!(got[0]
        .dense
        .iter()
        .zip(&items[1].dense)
        .all(|(a, b)| (a - b).abs() < 1e-3));
    store
        .upsert(&[item(
            2,
            "work/outage.md",
            "rewritten text about pagers",
            "incident",
            "2025-03-06",
        )])
        .unwrap();
    assert_eq!(store.count().unwrap(), 4);
    assert_eq!(
        store.get(&[2]).unwrap()[0].chunk.text,
        "rewritten text about pagers"
    );
    store.delete_source("/vault/work/billing.md").unwrap();
    store.flush().unwrap();
    assert_eq!(store.count().unwrap(), 3);
    assert!(
        !query(store, "billing migration", 1, SearchFilter::default())
            .contains(&"work/billing.md".to_string())
    );
}
