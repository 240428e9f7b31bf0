//! Hybrid ranking: the dense list and the BM25 lists of one query fused by reciprocal rank
//! (`weight / (RRF_K + position)` summed over the lists; qdrant's own fusion weighs every list
//! 1 with a constant of 60).
//!
//! Done here rather than inside the store so that the order is the same on every run: qdrant's
//! fusion sorts ties in no fixed order, and ties are common (a chunk first in one list and one
//! first in the other score alike), so three indexes of the same notes gave three different
//! top-5 lists. Ties now break by path, then line.
//!
//! A passage that holds the whole query verbatim (three words or more, case and spacing aside)
//! ranks before every passage that does not: someone who types a phrase they remember wants
//! the note that says it, not a passage that is close in meaning or in another language. The
//! rule looks at the BM25 body list's candidates: a passage holding the query verbatim holds its
//! words, which is what that list ranks by, so the other lists' candidates need not be read to
//! check it (100,000 synthetic chunks, four-word queries: each query read about 64 texts for the
//! rule, up to 96, now the body list's 32; README "Performance"). A query of stop words alone
//! ("to be or not to be") makes no BM25 list: then every candidate's text is checked, as before.
//!
//! Within one list, hits of equal score share the rank of the first of them: a store returns
//! tied hits in an order of its own (the embedded store and a Qdrant server order a heading
//! list's many equal BM25 scores differently), and the fused ranking must not depend on it.
//!
//! Tried and not adopted (measured 2026-12-03): fusing by score instead of rank (cosine and
//! BM25 each divided by its list's best, BM25 weighted 0.3) lifted search hit@1 on the
//! project's own five sets from 0.57 to 0.64 but lowered hit@3 (0.81 → 0.79), and on the
//! shared dev set lowered hit@3 (0.93 → 0.87) and STAR citation recall (0.42 → 0.35).
//!
//! The constants (2026-12-05, chosen among nine on the project's own five sets): rank constant
//! 10 instead of qdrant's 60, the heading list at half weight. Own sets' search hit@1 / hit@3 /
//! MRR@5 (mean of five) 0.57 / 0.81 / 0.69 → 0.63 / 0.84 / 0.72, stories hit@1 0.73 → 0.74, STAR
//! and map within one citation. The shared dev set: search 0.60 / 0.93 / 0.73 → 0.73 / 0.87 /
//! 0.81, stories 0.36 / 0.57 → 0.43 / 0.71, map unchanged, STAR citation recall 0.42 → 0.35.
//! The map's evidence judge keeps the weights fitted on the candidates of the old constants: a
//! refit on the new ones lowered our STAR recall (backend-ic 0.58 → 0.42).

use std::collections::{HashMap, HashSet};

use super::Hit;
use crate::notes::chunk::Chunk;

/// The rank constant of reciprocal-rank fusion. qdrant's `Fusion::Rrf` uses 60; a smaller
/// constant lets a chunk that one list ranks first count for more than one that every list
/// ranks fifth (see the module's note for the figures).
pub const RRF_K: f32 = 10.0;

/// Which list a ranking came from: the dense (MiniLM) list, BM25 over the chunk's text, or
/// BM25 over its note title and heading path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Dense,
    Body,
    Heading,
}

impl List {
    /// The weight of a rank in this list. The heading list scores every chunk under a matching
    /// heading alike, so it counts for half.
    fn weight(self) -> f32 {
        match self {
            List::Dense | List::Body => 1.0,
            List::Heading => 0.5,
        }
    }
}

/// Words a query needs before a verbatim occurrence of it outranks everything else.
const PHRASE_WORDS: usize = 3;

fn squashed(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Equal within float noise (the two stores compute the same BM25 and cosine scores in a
/// different order of operations).
fn same_score(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-6)
}

/// The best `k` chunks of `lists` (each best first, from the same filtered store), fused;
/// `query` is the text searched for. A hit's score becomes its fused score.
pub fn fuse(query: &str, lists: Vec<(List, Vec<Hit>)>, k: usize) -> Vec<Hit> {
    let mut chunks: HashMap<u64, Chunk> = HashMap::new();
    let lists = lists
        .into_iter()
        .map(|(kind, list)| {
            let ids = list
                .into_iter()
                .map(|hit| {
                    let (id, score) = (hit.id, hit.score);
                    chunks.entry(id).or_insert(hit.chunk);
                    (id, score)
                })
                .collect();
            (kind, ids)
        })
        .collect();
    let fused = Fused::new(query, lists);
    fused.rank(chunks, k)
}

/// One query's lists fused: what both `fuse` and `fuse_then_fetch` rank.
struct Fused {
    /// The query squashed, when it is long enough for the verbatim-phrase rule.
    phrase: Option<String>,
    /// The ids the rule checks (see `lexical_ids`).
    lexical: Option<HashSet<u64>>,
    /// Every id with its reciprocal-rank score, in the order first seen.
    scored: Vec<(u64, f32)>,
}

impl Fused {
    fn new(query: &str, lists: Vec<(List, Vec<(u64, f32)>)>) -> Fused {
        let phrase = phrase(query);
        let lexical = lexical_ids(
            phrase.is_some(),
            lists
                .iter()
                .map(|(kind, list)| (*kind, list.iter().map(|(id, _)| *id))),
        );
        Fused {
            phrase,
            lexical,
            scored: reciprocal_rank(lists),
        }
    }

    /// The best `k` of the ids that have a chunk in `chunks`.
    fn rank(self, chunks: HashMap<u64, Chunk>, k: usize) -> Vec<Hit> {
        rank(
            self.phrase.as_deref(),
            self.lexical.as_ref(),
            attach(self.scored, chunks),
            k,
        )
    }
}

/// The ids whose texts the verbatim-phrase rule checks: the body list's (none without a
/// phrase); `None`, every candidate, when a phrase query has no body list (stop words alone).
fn lexical_ids<I: Iterator<Item = u64>>(
    phrase: bool,
    lists: impl Iterator<Item = (List, I)>,
) -> Option<HashSet<u64>> {
    if !phrase {
        return Some(HashSet::new());
    }
    let mut body = None;
    for (kind, ids) in lists {
        if kind == List::Body {
            body.get_or_insert_with(HashSet::new).extend(ids);
        }
    }
    body
}

/// Whether the verbatim-phrase rule checks `id` (see `lexical_ids`).
fn checked(lexical: Option<&HashSet<u64>>, id: u64) -> bool {
    lexical.is_none_or(|ids| ids.contains(&id))
}

/// The same fusion over lists of ids and scores alone, reading (`fetch`) only the chunks the
/// ranking needs: the `k` best fused scores and any tied with the k-th (the ties break by path
/// and line), and with a query of three words or more the body list's candidates too (the
/// verbatim-phrase rule reads their texts; every candidate when a phrase query has no body
/// list), each once. A store's lists each ask for 4 × k candidates (at least 20), so a query
/// reads its k best and their ties, and the body list's 4 × k for a phrase, instead of every
/// list's candidates (100,000 synthetic chunks: README "Performance").
///
/// An id that `fetch` does not return (deleted since the lists were made, or a payload that
/// cannot be read) is left out, after it has taken its place in its lists' ranks (`fuse`, given
/// whole hits, never sees it); when one of the k best (or their ties) is missing, the remaining
/// candidates are read too, so the k best that can be read are still returned.
pub fn fuse_then_fetch(
    query: &str,
    lists: Vec<(List, Vec<(u64, f32)>)>,
    k: usize,
    mut fetch: impl FnMut(&[u64]) -> crate::error::Result<Vec<(u64, Chunk)>>,
) -> crate::error::Result<Vec<Hit>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let fused = Fused::new(query, lists);
    let scored = &fused.scored;
    let cut = if scored.len() <= k {
        f32::NEG_INFINITY
    } else {
        let mut scores: Vec<f32> = scored.iter().map(|(_, score)| *score).collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        scores[k - 1]
    };
    let needed: Vec<u64> = scored
        .iter()
        .filter(|(id, score)| score.total_cmp(&cut).is_ge() || checked(fused.lexical.as_ref(), *id))
        .map(|(id, _)| *id)
        .collect();
    let mut chunks: HashMap<u64, Chunk> = fetch(&needed)?.into_iter().collect();
    let best_missing = scored
        .iter()
        .any(|(id, score)| score.total_cmp(&cut).is_ge() && !chunks.contains_key(id));
    if best_missing && needed.len() < scored.len() {
        let asked: HashSet<u64> = needed.iter().copied().collect();
        let rest: Vec<u64> = scored
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !asked.contains(id))
            .collect();
        chunks.extend(fetch(&rest)?);
    }
    Ok(fused.rank(chunks, k))
}

/// The fused scores with their chunks, leaving out an id without one.
fn attach(scored: Vec<(u64, f32)>, mut chunks: HashMap<u64, Chunk>) -> Vec<Hit> {
    scored
        .into_iter()
        .filter_map(|(id, score)| {
            let chunk = chunks.remove(&id)?;
            Some(Hit { id, score, chunk })
        })
        .collect()
}

/// The query squashed, when it is long enough for the verbatim-phrase rule.
fn phrase(query: &str) -> Option<String> {
    let phrase = squashed(query);
    (phrase.split(' ').count() >= PHRASE_WORDS).then_some(phrase)
}

/// Every id of `lists` with its reciprocal-rank score summed over the lists, in the order the
/// ids were first seen.
fn reciprocal_rank(lists: Vec<(List, Vec<(u64, f32)>)>) -> Vec<(u64, f32)> {
    let mut fused: Vec<(u64, f32)> = Vec::new();
    let mut slot: HashMap<u64, usize> = HashMap::new();
    for (kind, list) in lists {
        let mut rank = 0usize;
        let mut previous: Option<f32> = None;
        for (position, (id, list_score)) in list.into_iter().enumerate() {
            if previous.is_none_or(|p| !same_score(p, list_score)) {
                rank = position;
            }
            previous = Some(list_score);
            let score = kind.weight() / (RRF_K + rank as f32);
            match slot.get(&id) {
                Some(&i) => fused[i].1 += score,
                None => {
                    slot.insert(id, fused.len());
                    fused.push((id, score));
                }
            }
        }
    }
    fused
}

/// The best `k` of `hits` (fused scores): a verbatim occurrence of `phrase` in a hit the rule
/// checks (`lexical`, see `lexical_ids`) first, then by score, ties by path and line.
fn rank(
    phrase: Option<&str>,
    lexical: Option<&HashSet<u64>>,
    hits: Vec<Hit>,
    k: usize,
) -> Vec<Hit> {
    let mut ranked: Vec<(bool, Hit)> = hits
        .into_iter()
        .map(|hit| {
            let verbatim = phrase
                .is_some_and(|p| checked(lexical, hit.id) && squashed(&hit.chunk.text).contains(p));
            (verbatim, hit)
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.score.total_cmp(&a.1.score))
            .then_with(|| a.1.chunk.path.cmp(&b.1.chunk.path))
            .then(a.1.chunk.line_start.cmp(&b.1.chunk.line_start))
    });
    ranked.into_iter().take(k).map(|(_, hit)| hit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::chunk::Chunk;

    fn hit(id: u64, path: &str, text: &str, score: f32) -> Hit {
        Hit {
            id,
            score,
            chunk: Chunk {
                path: path.into(),
                source: String::new(),
                line_start: 1,
                line_end: 1,
                heading: String::new(),
                title: String::new(),
                tags: Vec::new(),
                date: None,
                text: text.into(),
                hash: String::new(),
                aliases: Vec::new(),
                opens_section: false,
                steers_model: false,
            },
        }
    }

    #[test]
    fn ranks_are_summed_and_ties_break_by_path() {
        // a: first in the dense list; b: second in two lists; d: first in the body list, so a
        // tie with a broken by path; c: first in the heading list, which counts for half.
        let dense = vec![hit(1, "a.md", "alpha", 0.9), hit(2, "b.md", "beta", 0.8)];
        let lexical = vec![
            hit(4, "d.md", "delta", 9.0),
            hit(2, "b.md", "beta", 8.0),
            hit(5, "e.md", "eps", 7.0),
        ];
        let heading = vec![hit(3, "c.md", "gamma", 2.0)];
        let out = fuse(
            "beta",
            vec![
                (List::Dense, dense),
                (List::Body, lexical),
                (List::Heading, heading),
            ],
            10,
        );
        let paths: Vec<&str> = out.iter().map(|h| h.chunk.path.as_str()).collect();
        assert_eq!(paths, ["b.md", "a.md", "d.md", "e.md", "c.md"]);
        assert!((out[0].score - 2.0 / (RRF_K + 1.0)).abs() < 1e-6);
        assert!((out[3].score - 1.0 / (RRF_K + 2.0)).abs() < 1e-6);
        assert!((out[4].score - 0.5 / RRF_K).abs() < 1e-6);
        assert_eq!(fuse("beta", Vec::new(), 3), Vec::new());
    }

    #[test]
    fn hits_of_equal_score_in_a_list_share_a_rank_whatever_their_order() {
        let heading = |order: [u64; 3]| {
            order
                .iter()
                .map(|&id| {
                    hit(
                        id,
                        &format!("{id}.md"),
                        "x",
                        if id == 9 { 1.0 } else { 3.5 },
                    )
                })
                .collect::<Vec<_>>()
        };
        let dense = vec![hit(2, "2.md", "x", 0.9), hit(1, "1.md", "x", 0.8)];
        let one = fuse(
            "q",
            vec![
                (List::Dense, dense.clone()),
                (List::Body, heading([1, 2, 9])),
            ],
            3,
        );
        let other = fuse(
            "q",
            vec![(List::Dense, dense), (List::Body, heading([2, 1, 9]))],
            3,
        );
        assert_eq!(one, other);
        // 1 and 2 tie at the second list's first rank; 9 is third (competition ranking).
        assert!((one.iter().find(|h| h.id == 9).unwrap().score - 1.0 / (RRF_K + 2.0)).abs() < 1e-6);
    }

    #[test]
    fn a_verbatim_phrase_wins_and_ties_break_by_path() {
        let body = vec![
            hit(1, "z.md", "un texte en français", 0.9),
            hit(2, "y.md", "another text", 0.9),
            hit(3, "x.md", "Notes: the Quiet  Connection Drop was real", 0.3),
        ];
        let out = fuse("quiet connection drop", vec![(List::Body, body.clone())], 3);
        let paths: Vec<&str> = out.iter().map(|h| h.chunk.path.as_str()).collect();
        // x.md holds the phrase; then z.md and y.md, tied in the list, by path.
        assert_eq!(paths, ["x.md", "y.md", "z.md"]);
        // The rule reads the body list's texts only: the same hits in the dense list, beside a
        // body list that lacks x.md, rank by their scores.
        let other = vec![hit(4, "w.md", "quiet connection", 0.1)];
        let out = fuse(
            "quiet connection drop",
            vec![(List::Dense, body.clone()), (List::Body, other)],
            3,
        );
        let paths: Vec<&str> = out.iter().map(|h| h.chunk.path.as_str()).collect();
        assert_eq!(paths, ["w.md", "y.md", "z.md"]);
        // Without a body list (a query of stop words alone makes none) every candidate is
        // checked.
        let out = fuse("quiet connection drop", vec![(List::Dense, body)], 3);
        assert_eq!(out[0].chunk.path, "x.md");
        // Two words are not a phrase: the ranks decide.
        let body = vec![
            hit(1, "a.md", "x", 0.9),
            hit(2, "b.md", "quiet connection", 0.3),
        ];
        assert_eq!(
            fuse("quiet connection", vec![(List::Body, body)], 1)[0]
                .chunk
                .path,
            "a.md"
        );
    }

    /// Reading only the chunks the ranking needs gives the same ranking as reading them all:
    /// random lists with overlapping ids, tied list scores, tied fused scores, short queries and
    /// phrase queries whose text some candidates hold verbatim, lists without a body list. A
    /// query reads its k best and their ties, and a phrase query the body list's candidates too
    /// (every candidate without a body list), each once.
    #[test]
    fn fusing_ids_then_reading_chunks_ranks_as_fusing_whole_hits() {
        let mut rng = crate::notes::synthetic::SplitMix::new(11);
        let words = ["plan", "the", "billing", "migration", "review", "cache"];
        for round in 0..400 {
            let universe = 4 + rng.below(30);
            let chunk_of = |id: u64| {
                let text: Vec<&str> = (0..6)
                    .map(|i| words[(id as usize * 7 + i * (id as usize % 5 + 1)) % words.len()])
                    .collect();
                // Paths repeat so that ties reach the line number too.
                let mut h = hit(id, &format!("{}.md", id % 5), &text.join(" "), 0.0);
                h.chunk.line_start = id as usize;
                h
            };
            let mut lists = Vec::new();
            for kind in [List::Dense, List::Body, List::Heading] {
                let len = rng.below(universe.min(12) + 1);
                let mut ids: Vec<u64> = (0..universe as u64).collect();
                let mut list = Vec::new();
                let mut score = 10.0f32;
                for _ in 0..len {
                    let id = ids.swap_remove(rng.below(ids.len()));
                    if rng.below(3) > 0 {
                        score -= 0.5;
                    }
                    let mut h = chunk_of(id);
                    h.score = score;
                    list.push(h);
                }
                // Now and then no body list at all, as a query of stop words alone gives.
                if kind != List::Body || round % 5 != 4 {
                    lists.push((kind, list));
                }
            }
            let query = if round % 2 == 0 {
                "billing"
            } else {
                "the billing migration"
            };
            let k = 1 + rng.below(6);
            let whole = fuse(query, lists.clone(), k);
            let ids_only = lists
                .iter()
                .map(|(kind, list)| (*kind, list.iter().map(|h| (h.id, h.score)).collect()))
                .collect();
            if round % 7 == 3 {
                // The best candidate cannot be read: the rest still fill k.
                let Some(lost) = whole.first().map(|h| h.id) else {
                    continue;
                };
                let readable = |ids: &[u64]| {
                    Ok(ids
                        .iter()
                        .filter(|&&id| id != lost)
                        .map(|&id| (id, chunk_of(id).chunk))
                        .collect())
                };
                let out = fuse_then_fetch(query, ids_only, k, readable).unwrap();
                let candidates = lists
                    .iter()
                    .flat_map(|(_, list)| list.iter().map(|h| h.id))
                    .collect::<std::collections::HashSet<u64>>()
                    .len();
                assert_eq!(out.len(), k.min(candidates - 1), "round {round}");
                assert!(out.iter().all(|h| h.id != lost));
                continue;
            }
            let mut read: Vec<u64> = Vec::new();
            let lazy = fuse_then_fetch(query, ids_only, k, |ids| {
                read.extend_from_slice(ids);
                Ok(ids.iter().map(|&id| (id, chunk_of(id).chunk)).collect())
            })
            .unwrap();
            let order = |hits: &[Hit]| hits.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>();
            assert_eq!(
                order(&lazy),
                order(&whole),
                "round {round}, query {query:?}, k {k}"
            );
            let distinct: std::collections::HashSet<u64> = read.iter().copied().collect();
            assert_eq!(distinct.len(), read.len(), "a chunk read twice");
            let candidates: std::collections::HashSet<u64> = lists
                .iter()
                .flat_map(|(_, list)| list.iter().map(|h| h.id))
                .collect();
            if candidates.len() > k {
                // Exactly the ids whose fused score reaches the k-th best, and for a phrase
                // those of the body list.
                let mut all = fuse(query, lists.clone(), usize::MAX);
                all.sort_by(|a, b| b.score.total_cmp(&a.score));
                let cut = all[k - 1].score;
                let mut expected: std::collections::HashSet<u64> = all
                    .iter()
                    .filter(|h| h.score >= cut)
                    .map(|h| h.id)
                    .collect();
                if query != "billing" {
                    match lists.iter().find(|(kind, _)| *kind == List::Body) {
                        Some((_, body)) => expected.extend(body.iter().map(|h| h.id)),
                        None => expected.clone_from(&candidates),
                    }
                }
                assert_eq!(distinct, expected, "round {round}, k {k}");
            } else {
                assert_eq!(distinct, candidates, "round {round}, k {k}");
            }
        }
        assert!(fuse_then_fetch("q", Vec::new(), 0, |_| unreachable!())
            .unwrap()
            .is_empty());
    }
}
