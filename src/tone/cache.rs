//! Re-embedding a document after an edit without paying again for what did not change: the
//! language server's claim audit embeds each claim sentence, and `SentenceCache` keeps those
//! vectors by sentence text, so only the sentences an edit touched are embedded. (The tone
//! classifier needs no embedder since it reads distilled word scores, `tokens`.) No I/O beyond
//! the embedder.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::backends::Embedder;
use crate::error::Result;

/// An embedder that remembers the vectors of the texts it has embedded. Bounded: past
/// `MAX_TEXTS` the least recently used half is forgotten.
pub struct SentenceCache<E> {
    inner: E,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Text → (the call that last used it, its vector).
    vectors: HashMap<String, (u64, Vec<f32>)>,
    calls: u64,
    /// Texts embedded by `inner` so far (what a re-check cost).
    embedded: usize,
}

const MAX_TEXTS: usize = 50_000;

impl<E: Embedder> SentenceCache<E> {
    pub fn new(inner: E) -> Self {
        SentenceCache {
            inner,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// How many texts the wrapped embedder has been asked to embed.
    pub fn embedded(&self) -> usize {
        self.seen.lock().map_or(0, |seen| seen.embedded)
    }
}

impl<E: Embedder> std::fmt::Debug for SentenceCache<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceCache")
            .field("embedder", &self.inner.model_name())
            .finish_non_exhaustive()
    }
}

impl<E: Embedder> Embedder for SentenceCache<E> {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.calls += 1;
        let call = seen.calls;
        let mut missing: Vec<String> = texts
            .iter()
            .filter(|t| !seen.vectors.contains_key(t.as_str()))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let vectors = self.inner.embed(&missing)?;
            seen.embedded += missing.len();
            for (text, vector) in missing.into_iter().zip(vectors) {
                seen.vectors.insert(text, (call, vector));
            }
        }
        let out = texts
            .iter()
            .map(|t| {
                let entry = seen.vectors.get_mut(t.as_str()).expect("embedded above");
                entry.0 = call;
                entry.1.clone()
            })
            .collect();
        if seen.vectors.len() > MAX_TEXTS {
            let mut calls: Vec<u64> = seen.vectors.values().map(|(c, _)| *c).collect();
            calls.sort_unstable();
            let cut = calls[calls.len() / 2];
            seen.vectors.retain(|_, (c, _)| *c > cut || *c == call);
        }
        Ok(out)
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.inner.count_tokens(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what it embeds; a text's vector is its length and first byte.
    struct Counting(Mutex<Vec<String>>);

    impl Embedder for Counting {
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.0.lock().unwrap().extend(texts.iter().cloned());
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, t.bytes().next().unwrap_or(0) as f32])
                .collect())
        }
        fn dimension(&self) -> usize {
            2
        }
        fn model_name(&self) -> &str {
            "counting"
        }
        fn count_tokens(&self, text: &str) -> usize {
            text.len()
        }
    }

    #[test]
    fn only_texts_not_seen_before_are_embedded_and_answers_keep_their_order() {
        let cache = SentenceCache::new(Counting(Mutex::new(Vec::new())));
        let texts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let first = cache.embed(&texts(&["bb", "a", "bb"])).unwrap();
        assert_eq!(
            first,
            vec![vec![2.0, 98.0], vec![1.0, 97.0], vec![2.0, 98.0]]
        );
        let second = cache.embed(&texts(&["ccc", "a"])).unwrap();
        assert_eq!(second, vec![vec![3.0, 99.0], vec![1.0, 97.0]]);
        assert_eq!(*cache.inner.0.lock().unwrap(), texts(&["a", "bb", "ccc"]));
        assert_eq!(cache.embedded(), 3);
    }
}
