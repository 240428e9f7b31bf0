//! Markdown-aware sentence segmentation for the tone checker. Produces a "prose view" of the
//! input with the same byte offsets (markup, code, front matter, URLs and link targets blanked
//! to spaces) and the sentence spans inside it. Pure: no I/O.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The checkable text of a document, aligned byte-for-byte with the original.
#[derive(Debug, Clone)]
pub struct ProseView {
    /// Same length as the input; everything that is not prose is replaced by spaces
    /// (newlines are kept so line numbers stay true).
    pub text: String,
    /// Sentence spans, in order, never overlapping.
    pub sentences: Vec<Range<usize>>,
}

impl ProseView {
    /// Sentences grouped into paragraphs (a blank line between two sentences starts a new one),
    /// as byte ranges from the first sentence's start to the last one's end.
    pub fn paragraphs(&self) -> Vec<Range<usize>> {
        let mut paragraphs: Vec<Range<usize>> = Vec::new();
        for sentence in &self.sentences {
            match paragraphs.last_mut() {
                Some(last) if !has_blank_line(&self.text[last.end..sentence.start]) => {
                    last.end = sentence.end
                }
                _ => paragraphs.push(sentence.clone()),
            }
        }
        paragraphs
    }
}

/// True when `gap` (the text between two sentences) holds a blank line: a new paragraph.
pub(crate) fn has_blank_line(gap: &str) -> bool {
    let mut newlines = 0;
    for c in gap.chars() {
        match c {
            '\n' => {
                newlines += 1;
                if newlines >= 2 {
                    return true;
                }
            }
            c if c.is_whitespace() => {}
            _ => newlines = 0,
        }
    }
    false
}

/// How to read the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Markdown,
    PlainText,
}

impl InputKind {
    /// Plain text for `.txt` files, Markdown for everything else.
    pub fn for_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("txt") => InputKind::PlainText,
            _ => InputKind::Markdown,
        }
    }
}

fn blank(bytes: &mut [u8], range: Range<usize>) {
    for byte in &mut bytes[range] {
        if *byte != b'\n' {
            *byte = b' ';
        }
    }
}

/// Builds the prose view of `source`.
pub fn prose_view(source: &str, kind: InputKind) -> ProseView {
    let mut keep = vec![false; source.len()];
    let mut blocks: Vec<Range<usize>> = Vec::new();
    match kind {
        InputKind::PlainText => {
            keep.iter_mut().for_each(|k| *k = true);
            blocks.push(0..source.len());
        }
        InputKind::Markdown => {
            let options = Options::ENABLE_TABLES
                | Options::ENABLE_STRIKETHROUGH
                | Options::ENABLE_TASKLISTS
                | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
                | Options::ENABLE_FOOTNOTES;
            let mut code_depth = 0usize;
            let mut block_start: Option<usize> = None;
            for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
                match event {
                    Event::Start(Tag::CodeBlock(_) | Tag::MetadataBlock(_) | Tag::HtmlBlock) => {
                        code_depth += 1
                    }
                    Event::End(
                        TagEnd::CodeBlock | TagEnd::MetadataBlock(_) | TagEnd::HtmlBlock,
                    ) => code_depth = code_depth.saturating_sub(1),
                    Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::TableCell) => {
                        block_start = Some(range.start)
                    }
                    Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::TableCell) => {
                        if let Some(start) = block_start.take() {
                            blocks.push(start..range.end);
                        }
                    }
                    Event::Text(_) if code_depth == 0 => {
                        keep[range].iter_mut().for_each(|k| *k = true)
                    }
                    Event::SoftBreak | Event::HardBreak => {}
                    _ => {}
                }
            }
            // Tight list items hold text without a paragraph: treat each such line as a block.
            let mut covered = vec![false; source.len()];
            for block in &blocks {
                covered[block.clone()].iter_mut().for_each(|c| *c = true);
            }
            let mut loose = Vec::new();
            let mut index = 0;
            while index < source.len() {
                if keep[index] && !covered[index] {
                    // A line ends at \n, \r\n or a lone \r, as CommonMark reads it.
                    let line_start = source[..index].rfind(['\n', '\r']).map_or(0, |i| i + 1);
                    let line_end = source[index..]
                        .find(['\n', '\r'])
                        .map_or(source.len(), |i| index + i);
                    loose.push(line_start..line_end);
                    index = line_end;
                } else {
                    index += 1;
                }
            }
            blocks.extend(loose);
            blocks.sort_by_key(|b| b.start);
            // Blocks never overlap, so neither do their sentences.
            let mut end = 0;
            blocks.retain_mut(|block| {
                block.start = block.start.max(end);
                end = end.max(block.end);
                block.start < block.end
            });
        }
    }

    let mut bytes = source.as_bytes().to_vec();
    let mut start = 0;
    while start < keep.len() {
        if keep[start] {
            start += 1;
            continue;
        }
        let end = (start..keep.len()).find(|&i| keep[i]).unwrap_or(keep.len());
        blank(&mut bytes, start..end);
        start = end;
    }
    blank_urls(&mut bytes);
    // Only ASCII bytes were replaced (by ASCII spaces) and whole non-ASCII characters were
    // blanked byte by byte, so the result is valid UTF-8; fall back to lossy just in case.
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());

    let mut sentences = Vec::new();
    for block in blocks {
        split_sentences(&text, block, &mut sentences);
    }
    ProseView { text, sentences }
}

/// Bare URLs and e-mail addresses are not prose.
fn blank_urls(bytes: &mut [u8]) {
    static URL: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let url = URL.get_or_init(|| {
        regex::bytes::Regex::new(
            r"(?i)\b(?:https?://|www\.)[^\s<>()\[\]]+|\b[\w.+-]+@[\w-]+\.[\w.]+",
        )
        .expect("static regex")
    });
    let ranges: Vec<Range<usize>> = url.find_iter(bytes).map(|m| m.range()).collect();
    for range in ranges {
        blank(bytes, range);
    }
}

const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "approx", "cf", "no", "jan", "feb", "st",
];

fn is_bullet_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with(['•', '◦', '▪', '–', '—'])
        || trimmed.split_once(['.', ')']).is_some_and(|(n, rest)| {
            !n.is_empty()
                && n.len() <= 3
                && n.bytes().all(|b| b.is_ascii_digit())
                && rest.starts_with(' ')
        })
}

/// Splits one block into sentences: at . ! ? (with closing quotes) followed by space, at
/// blank lines, and at line breaks that end a sentence or start a bullet.
fn split_sentences(text: &str, block: Range<usize>, out: &mut Vec<Range<usize>>) {
    let slice = &text[block.clone()];
    let mut start = 0usize;
    let push = |from: usize, to: usize, out: &mut Vec<Range<usize>>| {
        let piece = &slice[from..to];
        let lead = piece.len() - piece.trim_start().len();
        let trail = piece.len() - piece.trim_end().len();
        if from + lead < to - trail {
            out.push(block.start + from + lead..block.start + to - trail);
        }
    };
    let chars: Vec<(usize, char)> = slice.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            '.' | '!' | '?' | '…' => {
                let mut j = i + 1;
                while j < chars.len()
                    && matches!(
                        chars[j].1,
                        '.' | '!' | '?' | '"' | '\'' | '”' | '’' | ')' | '…'
                    )
                {
                    j += 1;
                }
                let next_is_space = j >= chars.len() || chars[j].1.is_whitespace();
                // Only a stop before a space can end a sentence; looking back for the word
                // before every stop would rescan a long run without spaces ("a.b.c...") each
                // time.
                let word_before = if next_is_space {
                    slice[start..at]
                        .rsplit(|ch: char| ch.is_whitespace())
                        .next()
                        .unwrap_or("")
                } else {
                    ""
                };
                let is_abbreviation = c == '.'
                    && ABBREVIATIONS
                        .iter()
                        .any(|a| word_before.eq_ignore_ascii_case(a));
                let is_list_number = c == '.'
                    && !word_before.is_empty()
                    && word_before.bytes().all(|b| b.is_ascii_digit())
                    && slice[start..at].trim().len() == word_before.len();
                if next_is_space && !is_abbreviation && !is_list_number {
                    let end = if j < chars.len() {
                        chars[j].0
                    } else {
                        slice.len()
                    };
                    push(start, end, out);
                    start = end;
                }
                i = j;
            }
            '\n' => {
                let rest = &slice[at + 1..];
                let next_line = rest.split('\n').next().unwrap_or("");
                let this_line = slice[start..at].trim_end();
                let blank_next = next_line.trim().is_empty();
                let ends_clause = this_line.ends_with([':', ';']) || this_line.is_empty();
                if blank_next
                    || is_bullet_line(next_line)
                    || ends_clause
                    || looks_like_line_item(this_line)
                {
                    push(start, at, out);
                    start = at + 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    push(start, slice.len(), out);
}

/// A line that started as a bullet or a short title is its own sentence.
fn looks_like_line_item(line: &str) -> bool {
    let last = line.rsplit('\n').next().unwrap_or(line);
    is_bullet_line(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, kind: InputKind, expected: &[&str]) {
        let view = prose_view(source, kind);
        assert_eq!(view.text.len(), source.len());
        let got: Vec<&str> = view
            .sentences
            .iter()
            .map(|r| view.text[r.clone()].trim())
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn markdown_markup_code_and_front_matter_are_not_prose() {
        check(
            "---\ntitle: Sorry\n---\n# My review\n\nI shipped **two** fixes. See `sorry()` now!\n\n```\nsorry\n```\n",
            InputKind::Markdown,
            &["My review", "I shipped   two   fixes.", "See           now!"],
        );
    }

    #[test]
    fn bullets_quotes_and_numbered_items_split() {
        check(
            "• “Thank you for the opportunity.”\n\n• I’ll do my best\n1. Small experiments.\n2. Delivered 75% of supply\n",
            InputKind::Markdown,
            &["• “Thank you for the opportunity.”", "• I’ll do my best", "Small experiments.", "Delivered 75% of supply"],
        );
    }

    #[test]
    fn links_keep_their_text_and_lose_their_target() {
        let view = prose_view(
            "Read [the doc](https://x.example/sorry) or www.sorry.example today.",
            InputKind::Markdown,
        );
        assert!(!view.text.contains("sorry"));
        assert!(view.text.contains("the doc"));
    }

    #[test]
    fn abbreviations_and_decimals_do_not_split() {
        check(
            "We cut p99 to 4.1 ms, e.g. on the cache path. Done.",
            InputKind::PlainText,
            &["We cut p99 to 4.1 ms, e.g. on the cache path.", "Done."],
        );
    }

    #[test]
    fn table_cells_are_sentences() {
        check(
            "| A | B |\n|---|---|\n| I guess so | Fine |\n",
            InputKind::Markdown,
            &["A", "B", "I guess so", "Fine"],
        );
    }
}
