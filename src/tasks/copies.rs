//! A document's own copy among the notes: a draft or a questions file that is itself indexed
//! (under another path, or sent without its path) holds its own sentences word for word and
//! would back every one of them. `audit` and `stories` leave such a note out.

use std::collections::HashMap;

use crate::backends::{Embedder, SearchFilter, SearchMode, VectorStore};
use crate::error::Result;
use crate::notes::chunk::Chunk;
use crate::notes::{glossary, retrieve};

/// A note that holds the draft being audited: `claims` of its `of` claims (those long enough to
/// tell) stand in it word for word.
#[derive(Debug, Clone)]
pub(crate) struct DraftCopy {
    pub(crate) source: String,
    pub(crate) path: String,
    pub(crate) claims: usize,
    pub(crate) of: usize,
}

/// A claim this short may stand word for word in a note by chance ("Shipped the export.").
const COPY_WORDS: usize = 6;

/// Text as lowercase words between single spaces, for finding one text inside another whatever
/// its Markdown, punctuation or line breaks.
fn word_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}

/// The notes read for a draft that hold the draft itself: at least three of its claims of
/// `COPY_WORDS` words or more, and at least 60% of them, word for word. Such a note (the draft
/// indexed under another path, or audited from standard input while its file is indexed)
/// would "support" every claim it holds; a note that only shares a sentence or two with the
/// draft (a line pasted from the work log) stays evidence.
pub(crate) fn copies_of(
    claims: &[String],
    files: &HashMap<String, Option<String>>,
    paths: &HashMap<String, String>,
) -> Vec<DraftCopy> {
    let keys: Vec<String> = claims
        .iter()
        .map(|c| word_key(c))
        .filter(|k| k.split(' ').count() >= COPY_WORDS)
        .collect();
    if keys.len() < 3 {
        return Vec::new();
    }
    let mut out: Vec<DraftCopy> = files
        .iter()
        .filter_map(|(source, text)| {
            let text = word_key(text.as_deref()?);
            let held = keys.iter().filter(|k| text.contains(k.as_str())).count();
            (held >= 3 && held * 10 >= keys.len() * 6).then(|| DraftCopy {
                source: source.clone(),
                path: paths.get(source).cloned().unwrap_or_else(|| source.clone()),
                claims: held,
                of: keys.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The indexed note that holds `texts` (a document's claims or questions) word for word, as
/// [`copies_of`] finds it among the notes a search for the longest of them returns: its source
/// (the file's absolute path) and its path. For a document given without its path (standard
/// input, an editor's buffer, the HTTP API), so that its own indexed copy is never its evidence.
pub fn indexed_copy(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    texts: &[String],
    read: &dyn Fn(&Chunk) -> Option<String>,
) -> Result<Option<(String, String)>> {
    let mut long: Vec<&String> = texts
        .iter()
        .filter(|t| word_key(t).split(' ').count() >= COPY_WORDS)
        .collect();
    if long.len() < 3 {
        return Ok(None);
    }
    long.sort_by_key(|t| std::cmp::Reverse(t.len()));
    long.truncate(5);
    let vectors = embedder.embed(&long.iter().map(|t| glossary::expand(t)).collect::<Vec<_>>())?;
    let (mut files, mut paths) = (HashMap::new(), HashMap::new());
    for (text, vector) in long.iter().zip(vectors) {
        let hits = retrieve::search_embedded(
            store,
            &retrieve::Request {
                text: text.to_string(),
                k: 3,
                filter: SearchFilter::default(),
                mode: SearchMode::Hybrid,
            },
            vector,
        )?;
        for hit in hits {
            files
                .entry(hit.chunk.source.clone())
                .or_insert_with(|| read(&hit.chunk));
            paths
                .entry(hit.chunk.source.clone())
                .or_insert_with(|| hit.chunk.path.clone());
        }
    }
    let mut copies = copies_of(texts, &files, &paths);
    copies.sort_by(|a, b| b.claims.cmp(&a.claims).then(a.path.cmp(&b.path)));
    Ok(copies.into_iter().next().map(|c| (c.source, c.path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_a_copy_of_the_draft_only_when_it_holds_most_of_its_claims() {
        let claims: Vec<String> = [
            "I cut the nightly build from 18 to 11 minutes by sharding the suite.",
            "I led the move of the billing service to Postgres 15 in March.",
            "I mentored three new engineers through their first on-call rotations.",
            "I wrote the runbook for carrier webhook failures that the team uses.",
            "Shipped the export.",
        ]
        .map(String::from)
        .to_vec();
        let file = |n: usize| {
            // Markdown, other line breaks and other punctuation do not hide a copy.
            let mut text = String::from("# Draft\n\n");
            for claim in &claims[..n] {
                text.push_str(&format!(
                    "- **{}**\n",
                    claim.replace(" in March", ",\nin March")
                ));
            }
            Some(text)
        };
        let files: HashMap<String, Option<String>> = [
            ("/v/copy.md".to_string(), file(4)),
            ("/v/three.md".to_string(), file(3)),
            ("/v/log.md".to_string(), file(2)),
            ("/v/unread.md".to_string(), None),
        ]
        .into_iter()
        .collect();
        let paths: HashMap<String, String> = files
            .keys()
            .map(|k| (k.clone(), k.trim_start_matches("/v/").to_string()))
            .collect();
        let copies = copies_of(&claims, &files, &paths);
        // The short claim cannot tell; of the four that can, a note holding two is evidence.
        let found: Vec<(&str, usize, usize)> = copies
            .iter()
            .map(|c| (c.path.as_str(), c.claims, c.of))
            .collect();
        assert_eq!(found, [("copy.md", 4, 4), ("three.md", 3, 4)]);
        // A draft with fewer than three claims that can tell is never found in the notes.
        assert!(copies_of(&claims[..2], &files, &paths).is_empty());
    }
}
