//! An open document as the language server holds it: its text, version and kind, and the
//! translation between byte offsets and LSP positions (UTF-8 or UTF-16 code units, whichever
//! the client and server agreed on). Pure: no I/O.

use std::ops::Range;

use lsp_types::{Position, TextDocumentContentChangeEvent};
use starling::tasks::audit::Claim;
use starling::tone::{Category, Finding, InputKind};

/// What a position's `character` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

#[derive(Debug)]
pub struct Document {
    pub text: String,
    pub version: i32,
    pub kind: InputKind,
    /// The findings of `checked` (the version they were found in), when it was checked.
    pub findings: Vec<Finding>,
    pub checked: Option<i32>,
    /// The claim audit of the last open or save, moved along with later edits.
    pub claims: Vec<Claim>,
    /// Audit at the next check (set on open and save: an audit searches the notes per claim,
    /// too slow for every keystroke).
    pub audit_due: bool,
    /// What the last audit warned of (a note holding this draft, left out as evidence): each is
    /// shown once, not at every save.
    pub audit_warnings: Vec<String>,
    line_starts: Vec<usize>,
}

impl Document {
    pub fn new(text: String, version: i32, kind: InputKind) -> Self {
        let mut document = Document {
            text,
            version,
            kind,
            findings: Vec::new(),
            checked: None,
            claims: Vec::new(),
            audit_due: true,
            audit_warnings: Vec::new(),
            line_starts: Vec::new(),
        };
        document.reindex();
        document
    }

    fn reindex(&mut self) {
        self.line_starts = std::iter::once(0)
            .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
    }

    /// The byte offset of a position. A line past the end is the end of the text; a character
    /// past its line's end is the line's end (as the protocol says); a position inside a
    /// character is that character's start.
    pub fn offset(&self, position: Position, encoding: Encoding) -> usize {
        let Some(&start) = self.line_starts.get(position.line as usize) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(position.line as usize + 1)
            .map_or(self.text.len(), |&next| next - 1);
        let line = &self.text[start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut units = 0usize;
        for (index, c) in line.char_indices() {
            let width = match encoding {
                Encoding::Utf8 => c.len_utf8(),
                Encoding::Utf16 => c.len_utf16(),
            };
            if units + width > position.character as usize {
                return start + index;
            }
            units += width;
        }
        start + line.len()
    }

    /// The position of a byte offset (an offset inside a character counts as its start).
    pub fn position(&self, offset: usize, encoding: Encoding) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let before = &self.text[self.line_starts[line]..offset];
        let character = match encoding {
            Encoding::Utf8 => before.len(),
            Encoding::Utf16 => before.encode_utf16().count(),
        };
        Position::new(line as u32, character as u32)
    }

    pub fn range(&self, range: Range<usize>, encoding: Encoding) -> lsp_types::Range {
        lsp_types::Range::new(
            self.position(range.start, encoding),
            self.position(range.end, encoding),
        )
    }

    pub fn byte_range(&self, range: lsp_types::Range, encoding: Encoding) -> Range<usize> {
        let start = self.offset(range.start, encoding);
        start..self.offset(range.end, encoding).max(start)
    }

    /// Applies one change of a `didChange` (a whole new text when it has no range).
    pub fn apply(&mut self, change: TextDocumentContentChangeEvent, encoding: Encoding) {
        match change.range {
            Some(range) => {
                let range = self.byte_range(range, encoding);
                self.text.replace_range(range, &change.text);
            }
            None => self.text = change.text,
        }
        self.reindex();
    }

    /// Moves each audited claim to where its text now stands (the occurrence nearest its old
    /// place); a claim whose text is gone is dropped until the next audit.
    pub fn keep_claims(&mut self) {
        let text = &self.text;
        self.claims.retain_mut(|claim| {
            let nearest = text
                .match_indices(claim.text.as_str())
                .map(|(at, _)| at)
                .min_by_key(|at| at.abs_diff(claim.start));
            match nearest {
                Some(at) => {
                    claim.end = at + claim.text.len();
                    claim.start = at;
                    true
                }
                None => false,
            }
        });
    }

    /// The text of a 0-based line, without its line end.
    fn line(&self, line: usize) -> &str {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// The edits that switch `category` off where `offset` lies, and whether they cover the
    /// whole paragraph. A finding on a paragraph's first line gets a `disable-next-line`
    /// directive above it (or joins the one already there); one further down gets the
    /// paragraph wrapped in `disable`/`enable`, because a comment line inside a paragraph,
    /// list or table would split it. The document's own line ends are used.
    pub fn ignore_edits(
        &self,
        offset: usize,
        category: Category,
    ) -> (Vec<(Range<usize>, String)>, bool) {
        let eol = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let id = category.id();
        let directive = |line: &str| line.trim().starts_with("<!--") && line.contains("starling-");
        let (target, _) = self.line_of(offset);
        // The paragraph: the run of non-blank lines around `target`, its directives left out.
        let mut first = target;
        while first > 0
            && !self.line(first - 1).trim().is_empty()
            && !directive(self.line(first - 1))
        {
            first -= 1;
        }
        let mut last = target;
        while last + 1 < self.line_starts.len() && !self.line(last + 1).trim().is_empty() {
            last += 1;
        }
        let indent: String = self
            .line(first)
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if first == target {
            if first > 0 {
                let above = self.line(first - 1);
                let trimmed = above.trim();
                if let Some(rest) = trimmed
                    .strip_prefix("<!--")
                    .map(str::trim_start)
                    .and_then(|r| r.strip_prefix("starling-disable-next-line"))
                {
                    let start = self.line_starts[first - 1];
                    let categories = rest.trim_end_matches("-->").trim();
                    if categories.is_empty() || categories.split([' ', ',']).any(|c| c == id) {
                        return (Vec::new(), false); // already off there
                    }
                    let line =
                        format!("{indent}<!-- starling-disable-next-line {categories} {id} -->");
                    return (vec![(start..start + above.len(), line)], false);
                }
            }
            let start = self.line_starts[first];
            return (
                vec![(
                    start..start,
                    format!("{indent}<!-- starling-disable-next-line {id} -->{eol}"),
                )],
                false,
            );
        }
        let start = self.line_starts[first];
        let end = self.line_starts[last] + self.line(last).len();
        (
            vec![
                (
                    start..start,
                    format!("{indent}<!-- starling-disable {id} -->{eol}"),
                ),
                (end..end, format!("{eol}{indent}<!-- starling-enable -->")),
            ],
            true,
        )
    }

    /// The 0-based line that holds a byte offset, and the byte where that line starts.
    pub fn line_of(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        (line, self.line_starts[line])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(text: &str) -> Document {
        Document::new(text.into(), 1, InputKind::Markdown)
    }

    #[test]
    fn positions_count_utf16_or_utf8_units_and_round_trip() {
        // "é" is 2 bytes and 1 UTF-16 unit; "😀" is 4 bytes and 2 units.
        let doc = document("aé😀b\r\nsecond\n");
        let b = "aé😀".len();
        assert_eq!(doc.position(b, Encoding::Utf16), Position::new(0, 4));
        assert_eq!(doc.position(b, Encoding::Utf8), Position::new(0, 7));
        for encoding in [Encoding::Utf8, Encoding::Utf16] {
            for (offset, _) in doc.text.char_indices() {
                if doc.text[offset..].starts_with('\n') {
                    continue; // the \r\n line end: both its bytes sit at the line's end
                }
                assert_eq!(doc.offset(doc.position(offset, encoding), encoding), offset);
            }
        }
        // Inside the surrogate pair: the character's start. Past the line's end: the line's
        // end (before \r\n). Past the last line: the end of the text.
        assert_eq!(doc.offset(Position::new(0, 3), Encoding::Utf16), "aé".len());
        assert_eq!(doc.offset(Position::new(0, 99), Encoding::Utf16), b + 1);
        assert_eq!(
            doc.offset(Position::new(9, 0), Encoding::Utf16),
            doc.text.len()
        );
        assert_eq!(
            doc.position(doc.text.len() + 5, Encoding::Utf16),
            Position::new(2, 0)
        );
        assert_eq!(
            doc.position(2, Encoding::Utf16),
            Position::new(0, 1),
            "inside é"
        );
    }

    #[test]
    fn incremental_changes_edit_the_text_at_the_right_place() {
        let mut doc = document("I’ll try.\nMaybe 😀 later.\n");
        let change = |line, start, end, text: &str| TextDocumentContentChangeEvent {
            range: Some(lsp_types::Range::new(
                Position::new(line, start),
                Position::new(line, end),
            )),
            range_length: None,
            text: text.into(),
        };
        // Replace "😀" (UTF-16 columns 6..8) with "soon".
        doc.apply(change(1, 6, 8, "soon"), Encoding::Utf16);
        assert_eq!(doc.text, "I’ll try.\nMaybe soon later.\n");
        doc.apply(change(0, 0, 0, "Ok. "), Encoding::Utf16);
        doc.apply(change(2, 0, 0, "new line"), Encoding::Utf16);
        assert_eq!(doc.text, "Ok. I’ll try.\nMaybe soon later.\nnew line");
        assert_eq!(
            doc.line_of(doc.text.len()),
            (2, doc.text.len() - "new line".len())
        );
        doc.apply(
            TextDocumentContentChangeEvent {
                range: None,
                range_length: None,
                text: "all new".into(),
            },
            Encoding::Utf16,
        );
        assert_eq!((doc.text.as_str(), doc.line_of(3)), ("all new", (0, 0)));
    }

    #[test]
    fn audited_claims_follow_their_text_through_edits_and_go_with_it() {
        let claim = |text: &str, start: usize| Claim {
            text: text.into(),
            line: 1,
            column: 1,
            start,
            end: start + text.len(),
            verdict: starling::tasks::audit::Verdict::Unsupported,
            score: 0.0,
            evidence: Vec::new(),
            differences: Vec::new(),
            missing_figures: Vec::new(),
            matched_figures: Vec::new(),
        };
        let mut doc = document("I cut p99 by 30%. I led the review. I cut p99 by 30%.");
        doc.claims = vec![
            claim("I led the review.", 18),
            claim("I cut p99 by 30%.", 36),
        ];
        doc.text = format!(
            "Intro. {}",
            doc.text.replace("I led the review.", "I ran it.")
        );
        doc.keep_claims();
        assert_eq!(doc.claims.len(), 1, "the edited claim is gone");
        assert_eq!(
            doc.claims[0].start,
            doc.text.rfind("I cut p99 by 30%.").unwrap(),
            "the occurrence nearest its old place, not the first"
        );
        assert_eq!(
            &doc.text[doc.claims[0].start..doc.claims[0].end],
            "I cut p99 by 30%."
        );
    }

    #[test]
    fn ignore_directives_go_where_they_keep_the_paragraph_whole() {
        let apply = |text: &str, needle: &str, category: Category| {
            let doc = document(text);
            let (edits, whole) = doc.ignore_edits(text.find(needle).unwrap(), category);
            let mut out = text.to_string();
            for (range, insert) in edits.into_iter().rev() {
                out.replace_range(range, &insert);
            }
            (out, whole)
        };
        assert_eq!(
            apply(
                "Intro.\n\nMaybe we ship.\nNext.\n",
                "Maybe",
                Category::Hedging
            ),
            (
                "Intro.\n\n<!-- starling-disable-next-line hedging -->\nMaybe we ship.\nNext.\n"
                    .into(),
                false
            )
        );
        assert_eq!(
            apply("- one\r\n  - maybe two\r\n\r\nEnd.", "maybe", Category::Hedging),
            ("<!-- starling-disable hedging -->\r\n- one\r\n  - maybe two\r\n<!-- starling-enable -->\r\n\r\nEnd.".into(), true)
        );
        assert_eq!(
            apply(
                "<!-- starling-disable-next-line hedging -->\nSorry, maybe.",
                "Sorry",
                Category::OverApologizing
            ),
            (
                "<!-- starling-disable-next-line hedging over_apologizing -->\nSorry, maybe."
                    .into(),
                false
            )
        );
        let (same, _) = apply(
            "<!-- starling-disable-next-line -->\nSorry.",
            "Sorry",
            Category::OverApologizing,
        );
        assert_eq!(
            same, "<!-- starling-disable-next-line -->\nSorry.",
            "already off for every category"
        );
    }
}
