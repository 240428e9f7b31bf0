//! Parses one Markdown note: YAML front matter (title, tags, dates, Dendron ids), the heading
//! tree, paragraphs, list and task items, table rows (with their headers) and wikilinks. Code
//! blocks are kept out of the text. Every block keeps its 1-based line range. Pure.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// What a block is, for chunking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    Heading(u8),
    Paragraph,
    ListItem,
    Task { done: bool },
    TableRow,
    Quote,
}

/// A run of text with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    /// Text for reading and embedding: markup removed, wikilinks shown by their alias or name.
    pub text: String,
    pub line_start: usize,
    pub line_end: usize,
    /// The headings above this block, outermost first.
    pub heading_path: Vec<String>,
    /// For a heading: the labels of in-note links that point at it (`| 1:1s | [[#1-1s]] |`),
    /// like a web page's anchor text. They are embedded with the section, not cited.
    pub aliases: Vec<String>,
}

/// A parsed note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub tags: Vec<String>,
    /// `YYYY-MM-DD` from `date`, else `updated`, else `created` (front matter), if any: an
    /// explicit date says what the note is about; `updated` only says when it was edited.
    pub date: Option<String>,
    pub id: Option<String>,
    pub blocks: Vec<Block>,
    /// Wikilink targets (`note` of `[[note#heading|alias]]`).
    pub links: Vec<String>,
}

/// A front matter value: text or a list of texts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    List(Vec<String>),
}

/// A flow scalar's text: quotes removed and, as YAML reads them, `''` in single quotes and
/// backslash escapes in double quotes (`\"`, `\n`, `\u00e9`, `\U0001F332`...) resolved. An
/// escape YAML does not know is kept as written.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    if raw.len() >= 2 {
        if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            return inner.replace("''", "'");
        }
        if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            return unescape_double_quoted(inner);
        }
    }
    raw.to_string()
}

fn unescape_double_quoted(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(code) = after.chars().next() else {
            out.push('\\');
            rest = after;
            break;
        };
        let simple = match code {
            '0' => Some('\0'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            't' | '\t' => Some('\t'),
            'n' => Some('\n'),
            'v' => Some('\u{b}'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            ' ' => Some(' '),
            '"' => Some('"'),
            '/' => Some('/'),
            '\\' => Some('\\'),
            'N' => Some('\u{85}'),
            '_' => Some('\u{a0}'),
            'L' => Some('\u{2028}'),
            'P' => Some('\u{2029}'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            rest = &after[code.len_utf8()..];
            continue;
        }
        let digits = match code {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        let hex = after.get(1..1 + digits).filter(|h| h.len() == digits);
        match hex
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) if digits > 0 => {
                out.push(c);
                rest = &after[1 + digits..];
            }
            _ => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One front matter field and the lines it spans (0-based, within the front matter).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    key: String,
    value: Value,
    lines: Range<usize>,
}

/// `|`, `>`, `|-`, `>+2`...: a YAML block scalar's header; `Some(true)` for literal (`|`).
fn block_scalar(raw: &str) -> Option<bool> {
    let header = raw.split(" #").next().unwrap_or(raw).trim();
    let literal = match header.chars().next()? {
        '|' => true,
        '>' => false,
        _ => return None,
    };
    header[1..]
        .chars()
        .all(|c| matches!(c, '-' | '+' | '1'..='9'))
        .then_some(literal)
}

/// The YAML subset notes use: `key: value`, `key: [a, b]`, `key:` followed by `- item` lines,
/// and block scalars (`title: |` or `desc: >-` followed by indented lines, as Dendron writes
/// long titles).
fn parse_front_matter(text: &str) -> Vec<Field> {
    let lines: Vec<&str> = text.lines().collect();
    let mut fields: Vec<Field> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        index += 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(item) = trimmed.strip_prefix("- ") {
            if let Some(field) = fields.last_mut() {
                match &mut field.value {
                    Value::List(items) => items.push(unquote(item)),
                    Value::Text(t) if t.is_empty() => {
                        field.value = Value::List(vec![unquote(item)])
                    }
                    Value::Text(_) => continue,
                }
                field.lines.end = index;
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // nested mappings are not used by Starling
        }
        let Some((key, raw)) = trimmed.split_once(':') else {
            continue;
        };
        let raw = raw.trim();
        let start = index - 1;
        let value = if let Some(literal) = block_scalar(raw) {
            // The indented lines that follow (blank lines among them belong to the text).
            let mut body: Vec<&str> = Vec::new();
            while index < lines.len()
                && (lines[index].trim().is_empty() || lines[index].starts_with([' ', '\t']))
            {
                body.push(lines[index].trim());
                index += 1;
            }
            while body.last().is_some_and(|l| l.is_empty()) {
                body.pop();
                index -= 1;
            }
            let text = if literal {
                body.join("\n")
            } else {
                // Folded: lines join with spaces; a blank line is a line break.
                body.split(|l| l.is_empty())
                    .map(|paragraph| paragraph.join(" "))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Value::Text(text)
        } else {
            match raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(inner) => Value::List(
                    inner
                        .split(',')
                        .map(unquote)
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                None => Value::Text(unquote(raw)),
            }
        };
        fields.push(Field {
            key: key.trim().to_lowercase(),
            value,
            lines: start..index,
        });
    }
    fields
}

/// The months, spelled out in lower case, January first.
pub const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The months' first three letters as a regex alternation (`jan|feb|...|dec`), lower case,
/// for patterns that read a month however it is spelled out (`(?:` this `)[a-z]*`): a literal,
/// so `concat!` can build a pattern with it; `MONTH_ALTERNATION` is the same for `format!`.
macro_rules! month_alternation {
    () => {
        "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
    };
}
pub(crate) use month_alternation;

/// `month_alternation!()` as a constant, for patterns built with `format!`.
pub const MONTH_ALTERNATION: &str = month_alternation!();

/// The days of the week, spelled out in lower case, Monday first.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `2024-12-15T22:35`, `2024-12-15`, or Dendron's epoch milliseconds, as `YYYY-MM-DD`.
pub fn normalise_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // `get` rather than slicing: the tenth byte may fall inside a character (`2024-05-0é`).
    if let Some(date) = raw.get(..10) {
        if date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        }) {
            return Some(date.to_string());
        }
    }
    let number: i64 = raw.parse().ok()?;
    let seconds = if number > 100_000_000_000 {
        number / 1000
    } else {
        number
    };
    Some(civil_date(seconds.div_euclid(86_400)))
}

/// Days since 1970-01-01 to `YYYY-MM-DD` (Howard Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A date written in a note's path: `2024-03-12-standup.md`, `2024_03_12`, Dendron's
/// `daily.journal.2024.03.12.md`, `20240312.md` or `journal/2024/03/12.md`, as `YYYY-MM-DD`.
/// The last date in the path wins (the file name is more specific than its folders).
pub fn date_from_path(path: &str) -> Option<String> {
    static DATE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:^|[^0-9])((?:19|20)[0-9]{2})[-_./]?(0[1-9]|1[0-2])[-_./]?(0[1-9]|[12][0-9]|3[01])(?:[^0-9]|$)")
            .expect("path date")
    });
    let path = path.strip_suffix(".md").unwrap_or(path);
    let mut found = None;
    let mut at = 0;
    while let Some(c) = DATE.captures_at(path, at) {
        found = Some(format!("{}-{}-{}", &c[1], &c[2], &c[3]));
        at = c.get(1).map_or(path.len(), |m| m.end());
    }
    found
}

/// Seconds since 1970 (a file's mtime) as `YYYY-MM-DD`.
pub fn date_from_seconds(seconds: u64) -> String {
    civil_date(seconds as i64 / 86_400)
}

/// `YYYY-MM-DD` to days since 1970-01-01, for range filters.
pub fn days_since_epoch(date: &str) -> Option<i64> {
    let mut parts = date.get(..10)?.split('-');
    let (y, m, d): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Whitespace (line breaks of a block scalar included) collapsed to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits off YAML front matter; returns (front matter text, body start byte).
fn split_front_matter(text: &str) -> (Option<&str>, usize) {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (None, 0);
    };
    let header = text.len() - rest.len();
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" || line.trim_end() == "..." {
            return (Some(&rest[..offset]), header + offset + line.len());
        }
        offset += line.len();
    }
    (None, 0) // unclosed: treat as body
}

/// How a note's links and template fields read.
#[derive(Debug, Clone, Copy)]
struct Inline<'a> {
    /// Dendron writes `[[label|note]]`; Obsidian and the rest `[[note|alias]]`.
    dendron: bool,
    /// Front matter text fields, for `{{fm.key}}`.
    fields: &'a [(String, String)],
}

impl Inline<'_> {
    /// Replaces `[[target#heading|alias]]` by `alias` (or `target`) and collects the targets;
    /// drops note references and embeds (`![[note#heading]]`: another note's text, shown
    /// there, not here); fills in `{{fm.title}}` and the other front matter fields.
    fn resolve(&self, text: &str, links: &mut Vec<String>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find("[[") {
            let Some(close) = rest[open + 2..].find("]]") else {
                break;
            };
            let embed = rest[..open].ends_with('!');
            out.push_str(&rest[..open - usize::from(embed)]);
            let inner = &rest[open + 2..open + 2 + close];
            let (mut target, label) = match inner.split_once('|') {
                Some((label, target)) if self.dendron => (target.trim(), Some(label)),
                Some((target, alias)) => (target.trim(), Some(alias)),
                None => (inner.trim(), None),
            };
            // Dendron's cross-vault form: `dendron://VAULT/note#heading`.
            if let Some(rest) = target.strip_prefix("dendron://") {
                target = rest.split_once('/').map_or(rest, |(_, note)| note);
            }
            let note = target.split('#').next().unwrap_or(target).trim();
            if !note.is_empty() {
                links.push(note.to_string());
            }
            if !embed {
                out.push_str(
                    label
                        .map(str::trim)
                        .unwrap_or_else(|| target.trim().trim_start_matches('#')),
                );
            }
            rest = &rest[open + 2 + close + 2..];
        }
        out.push_str(rest);
        self.fill_fields(out)
    }

    /// `{{fm.title}}` (spaces allowed inside the braces) becomes the front matter's title; an
    /// unknown field is left as written.
    fn fill_fields(&self, text: String) -> String {
        if !text.contains("{{") {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            let name = rest[open + 2..open + 2 + close].trim();
            let value = name.strip_prefix("fm.").and_then(|key| {
                self.fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key.trim()))
                    .map(|(_, v)| v.as_str())
            });
            out.push_str(&rest[..open]);
            match value {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[open..open + 2 + close + 2]),
            }
            rest = &rest[open + 2 + close + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// A block that is only a label and one link to a heading of the same note (an index table's
/// row, a table of contents item): `(label, heading)`. Such a block says nothing itself; its
/// label becomes an alias of the section it points at.
fn pointer(raw: &str) -> Option<(String, String)> {
    let open = raw.find("[[#")?;
    let close = open + raw[open..].find("]]")?;
    let rest = &raw[close + 2..];
    if raw[..open].contains("[[") || rest.contains("[[") {
        return None;
    }
    let inner = &raw[open + 3..close];
    let (heading, alias) = match inner.split_once('|') {
        Some((heading, alias)) => (heading.trim(), alias.trim()),
        None => (inner.trim(), ""),
    };
    let outside = format!("{} | {} | {}", &raw[..open], alias, rest);
    let label = outside
        .split('|')
        .map(|piece| {
            piece
                .trim()
                .trim_matches([':', '-', '–', '—', '*', '_'])
                .trim()
        })
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // A long "label" is content, not a pointer.
    let short = !label.is_empty() && label.split_whitespace().count() <= 12;
    (short && !heading.is_empty()).then(|| (label, heading.to_string()))
}

/// How Obsidian matches a heading link: case and punctuation do not matter.
fn heading_key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Moves each pointer block's label onto the heading it points at, and drops the block.
/// A pointer whose heading is not in the note stays as it is.
fn attach_pointers(blocks: &mut Vec<Block>, pointers: Vec<(usize, String, String)>) {
    let mut drop = vec![false; blocks.len()];
    for (index, label, target) in pointers {
        let key = heading_key(&target);
        let heading = blocks
            .iter()
            .position(|b| matches!(b.kind, BlockKind::Heading(_)) && heading_key(&b.text) == key);
        if let Some(heading) = heading {
            if !blocks[heading].aliases.contains(&label)
                && !label.eq_ignore_ascii_case(&blocks[heading].text)
            {
                blocks[heading].aliases.push(label);
            }
            drop[index] = true;
        }
    }
    let mut index = 0;
    blocks.retain(|_| {
        index += 1;
        !drop[index - 1]
    });
}

fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|&start| start <= offset)
}

/// How to read a note beyond plain Markdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The note lies in a Dendron vault (a `dendron.yml` at or above its note root):
    /// links are `[[label|note]]`. A note named like a Dendron hierarchy (`proj.q3.md`) with
    /// an `id:` in its front matter is read so too, without this.
    pub dendron: bool,
}

/// Parses `text` (already decoded and repaired). `fallback_title` is used when the note has
/// no title in its front matter and no level-1 heading (usually the file stem).
pub fn parse(text: &str, fallback_title: &str) -> Note {
    parse_with(text, fallback_title, ParseOptions::default())
}

/// `parse`, for a note of a known kind of vault.
pub fn parse_with(text: &str, fallback_title: &str, options: ParseOptions) -> Note {
    let mut note = Note::default();
    let (front, body_start) = split_front_matter(text);
    let mut date_candidates: Vec<(u8, String)> = Vec::new();
    // Text fields for `{{fm.key}}`, and the description with its lines.
    let mut text_fields: Vec<(String, String)> = Vec::new();
    let mut description: Option<(String, Range<usize>)> = None;
    let fields = front.map(parse_front_matter).unwrap_or_default();
    for field in fields {
        if let Value::Text(text) = &field.value {
            text_fields.push((field.key.clone(), one_line(text)));
        }
        match (field.key.as_str(), field.value) {
            ("title", Value::Text(title)) if !title.trim().is_empty() => {
                note.title = one_line(&title)
            }
            ("tags" | "tag" | "keywords", Value::List(tags)) => note.tags.extend(tags),
            ("tags" | "tag" | "keywords", Value::Text(tags)) => note.tags.extend(
                tags.split([',', ' '])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from),
            ),
            ("id", Value::Text(id)) => note.id = Some(id),
            ("desc" | "description", Value::Text(desc)) if !desc.trim().is_empty() => {
                description = Some((one_line(&desc), field.lines))
            }
            ("date", Value::Text(d)) => date_candidates.push((0, d)),
            ("updated", Value::Text(d)) => date_candidates.push((1, d)),
            ("created", Value::Text(d)) => date_candidates.push((2, d)),
            _ => {}
        }
    }
    date_candidates.sort();
    note.date = date_candidates.iter().find_map(|(_, d)| normalise_date(d));
    note.tags = note
        .tags
        .into_iter()
        .map(|t| t.trim_start_matches('#').to_string())
        .collect();
    let dendron = options.dendron || (note.id.is_some() && fallback_title.contains('.'));
    let inline = Inline {
        dendron,
        fields: &text_fields,
    };
    let resolve_wikilinks = |text: &str, links: &mut Vec<String>| inline.resolve(text, links);

    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let body = &text[body_start..];
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES;

    let mut headings: Vec<(u8, String)> = Vec::new();
    let mut current: Option<(BlockKind, String, Range<usize>)> = None;
    let mut in_code = 0usize;
    let mut table_headers: Vec<String> = Vec::new();
    let mut row_cells: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut in_cell = false;
    let mut raw_cells: Vec<String> = Vec::new();
    let mut list_depth = 0usize;
    let mut quote_depth = 0usize;
    // Headings inside a list item or quote are emphasis there, not sections.
    let mut nested_heading = false;
    let mut pointers: Vec<(usize, String, String)> = Vec::new();

    let heading_path =
        |headings: &[(u8, String)]| headings.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>();
    // A block's last line is the last line with text in its range (ranges include trailing blank lines).
    let last_line = |range: &Range<usize>| {
        let trimmed = body[range.clone()].trim_end().len();
        line_of(
            &line_starts,
            body_start + range.start + trimmed.saturating_sub(1),
        )
    };
    let finish = |current: &mut Option<(BlockKind, String, Range<usize>)>,
                  headings: &[(u8, String)],
                  blocks: &mut Vec<Block>,
                  links: &mut Vec<String>,
                  pointers: &mut Vec<(usize, String, String)>| {
        if let Some((kind, text, range)) = current.take() {
            if kind == BlockKind::ListItem {
                if let Some((label, target)) = pointer(&text) {
                    pointers.push((blocks.len(), label, target));
                }
            }
            // Wikilinks arrive split over several text events; resolve them on the whole block.
            let text = resolve_wikilinks(&text, links)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if !text.is_empty() {
                blocks.push(Block {
                    kind,
                    text,
                    line_start: line_of(&line_starts, body_start + range.start),
                    line_end: last_line(&range),
                    heading_path: heading_path(headings),
                    aliases: Vec::new(),
                });
            }
        }
    };

    // Ends the current block (the closure's arguments, once).
    macro_rules! finish {
        () => {
            finish(
                &mut current,
                &headings,
                &mut note.blocks,
                &mut note.links,
                &mut pointers,
            )
        };
    }
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code += 1,
            Event::End(TagEnd::CodeBlock) => in_code = in_code.saturating_sub(1),
            Event::Start(Tag::Heading { .. }) if list_depth > 0 || quote_depth > 0 => {
                nested_heading = true;
            }
            Event::End(TagEnd::Heading(_)) if nested_heading => nested_heading = false,
            Event::Start(Tag::Heading { level, .. }) => {
                finish!();
                current = Some((BlockKind::Heading(level as u8), String::new(), range));
            }
            Event::End(TagEnd::Heading(level)) => {
                if let Some((_, text, _)) = &mut current {
                    *text = resolve_wikilinks(text, &mut note.links);
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    let level = level as u8;
                    headings.retain(|(l, _)| *l < level);
                    if level == 1 && note.title.is_empty() {
                        note.title = text.clone();
                    }
                    headings.push((level, text));
                }
                // The heading block carries its own path (itself included).
                if let Some((kind, text, range)) = current.take() {
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        note.blocks.push(Block {
                            kind,
                            text,
                            line_start: line_of(&line_starts, body_start + range.start),
                            line_end: line_of(&line_starts, body_start + range.start),
                            heading_path: heading_path(&headings),
                            aliases: Vec::new(),
                        });
                    }
                }
            }
            Event::Start(Tag::Paragraph) if list_depth == 0 => {
                finish!();
                let kind = if quote_depth > 0 {
                    BlockKind::Quote
                } else {
                    BlockKind::Paragraph
                };
                current = Some((kind, String::new(), range));
            }
            Event::End(TagEnd::Paragraph) if list_depth == 0 => finish!(),
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) => {
                // Nested items are their own blocks; the parent keeps the text before them.
                finish!();
                current = Some((BlockKind::ListItem, String::new(), range));
            }
            Event::End(TagEnd::Item) => finish!(),
            Event::TaskListMarker(done) => {
                if let Some((kind, _, _)) = &mut current {
                    *kind = BlockKind::Task { done };
                }
            }
            Event::Start(Tag::Table(_)) => {
                finish!();
                table_headers.clear();
            }
            Event::Start(Tag::TableHead) => row_cells.clear(),
            Event::End(TagEnd::TableHead) => table_headers = std::mem::take(&mut row_cells),
            Event::Start(Tag::TableRow) => {
                row_cells.clear();
                raw_cells.clear();
                current = Some((BlockKind::TableRow, String::new(), range));
            }
            Event::End(TagEnd::TableRow) => {
                if let Some((_, text, _)) = &mut current {
                    // Each row carries its headers, so a chunk of one row still reads alone.
                    *text = row_cells
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| !c.trim().is_empty())
                        .map(|(i, c)| match table_headers.get(i) {
                            Some(h) if !h.trim().is_empty() => {
                                format!("{}: {}", h.trim(), c.trim())
                            }
                            _ => c.trim().to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(" | ");
                }
                let row_pointer = pointer(&raw_cells.join(" | "));
                let before = note.blocks.len();
                finish!();
                if let Some((label, target)) = row_pointer.filter(|_| note.blocks.len() > before) {
                    pointers.push((before, label, target));
                }
            }
            Event::Start(Tag::TableCell) => {
                cell.clear();
                in_cell = true;
            }
            Event::End(TagEnd::TableCell) => {
                in_cell = false;
                raw_cells.push(cell.clone());
                let text = resolve_wikilinks(&std::mem::take(&mut cell), &mut note.links);
                row_cells.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            Event::Text(text) if in_code == 0 => {
                let resolved = text.to_string();
                if in_cell {
                    cell.push_str(&resolved);
                } else if let Some((_, buffer, _)) = &mut current {
                    buffer.push_str(&resolved);
                } else {
                    current = Some((BlockKind::Paragraph, resolved, range));
                }
            }
            Event::Code(code) => {
                // Inline code is short and often meaningful (`p99`, a flag); keep it as text.
                if in_cell {
                    cell.push_str(&code);
                } else if let Some((_, buffer, _)) = &mut current {
                    buffer.push_str(&code);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, buffer, _)) = &mut current {
                    buffer.push(' ');
                }
            }
            _ => {}
        }
    }
    finish!();
    attach_pointers(&mut note.blocks, pointers);
    // The description is what the note is about in one line: searchable like its first
    // paragraph, cited at its front matter lines (which start on the file's line 2).
    if let Some((text, lines)) = description {
        note.blocks.insert(
            0,
            Block {
                kind: BlockKind::Paragraph,
                text,
                line_start: lines.start + 2,
                line_end: lines.end.max(lines.start + 1) + 1,
                heading_path: Vec::new(),
                aliases: Vec::new(),
            },
        );
    }
    if note.title.is_empty() {
        note.title = fallback_title.to_string();
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "---\nid: 3ff76rv5\ntitle: Q3 notes\ntags: [work, 'promo']\nupdated: 1734302100000\ncreated: 2024-11-14T12:16\n---\n# Q3\n\nShipped the [[billing-migration#Rollout|billing migration]] early.\n\n## Tasks\n- [x] write the RFC\n- [ ] present it\n  - nested detail\n\n```\nsecret code\n```\n\n| Dimension | Result |\n|---|---|\n| Docs | 3 RFCs merged |\n";

    #[test]
    fn front_matter_headings_links_tasks_tables() {
        let note = parse(NOTE, "fallback");
        assert_eq!(note.title, "Q3 notes");
        assert_eq!(note.tags, ["work", "promo"]);
        assert_eq!(note.id.as_deref(), Some("3ff76rv5"));
        assert_eq!(note.date.as_deref(), Some("2024-12-15"));
        assert_eq!(note.links, ["billing-migration"]);
        let texts: Vec<(&BlockKind, &str, usize)> = note
            .blocks
            .iter()
            .map(|b| (&b.kind, b.text.as_str(), b.line_start))
            .collect();
        assert_eq!(
            texts,
            [
                (&BlockKind::Heading(1), "Q3", 8),
                (
                    &BlockKind::Paragraph,
                    "Shipped the billing migration early.",
                    10
                ),
                (&BlockKind::Heading(2), "Tasks", 12),
                (&BlockKind::Task { done: true }, "write the RFC", 13),
                (&BlockKind::Task { done: false }, "present it", 14),
                (&BlockKind::ListItem, "nested detail", 15),
                (
                    &BlockKind::TableRow,
                    "Dimension: Docs | Result: 3 RFCs merged",
                    23
                ),
            ]
        );
        assert_eq!(note.blocks[3].heading_path, ["Q3", "Tasks"]);
        assert!(!note.blocks.iter().any(|b| b.text.contains("secret")));
    }

    #[test]
    fn text_after_a_table_is_kept() {
        let note = parse("| Q | A |\n|---|---|\n| Hiring | loop redesign |\n\n## Answers\n\n### 1-1s\n- **Execution** first\n", "n");
        let texts: Vec<&str> = note.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Q: Hiring | A: loop redesign",
                "Answers",
                "1-1s",
                "Execution first"
            ]
        );
        assert_eq!(note.blocks[3].heading_path, ["Answers", "1-1s"]);
    }

    fn check_aliases(text: &str, expected: &[(&str, &[&str])], kept: &[&str]) {
        let note = parse(text, "n");
        let aliases: Vec<(&str, Vec<&str>)> = note
            .blocks
            .iter()
            .filter(|b| matches!(b.kind, BlockKind::Heading(_)))
            .map(|b| {
                (
                    b.text.as_str(),
                    b.aliases.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let expected: Vec<(&str, Vec<&str>)> =
            expected.iter().map(|(h, a)| (*h, a.to_vec())).collect();
        assert_eq!(aliases, expected, "{text}");
        let others: Vec<&str> = note
            .blocks
            .iter()
            .filter(|b| !matches!(b.kind, BlockKind::Heading(_)))
            .map(|b| b.text.as_str())
            .collect();
        assert_eq!(others, kept, "{text}");
    }

    #[test]
    fn in_note_pointers_become_section_aliases() {
        // An index table's row that only names a section moves onto that section.
        check_aliases(
            "| Q | A |\n|---|---|\n| 1:1s | [[#1-1s]] |\n| Approach | co-owning the agenda |\n\n### 1-1s\n- agenda\n",
            &[("1-1s", &["1:1s"])],
            &["Q: Approach | A: co-owning the agenda", "agenda"],
        );
        // A list item with an alias, and one whose heading differs only in case.
        check_aliases(
            "- [[#Hiring loop|how we hire]]\n- Oncall: [[#ONCALL]]\n\n## Hiring loop\ntext\n## Oncall\nmore\n",
            &[("Hiring loop", &["how we hire"]), ("Oncall", &[])],
            &["text", "more"],
        );
        // Links to other notes, missing headings and long labels stay content.
        check_aliases(
            "- see [[other#Plan]]\n- [[#Nowhere]] label\n- one two three four five six seven eight nine ten eleven twelve thirteen [[#Plan]]\n## Plan\n",
            &[("Plan", &[])],
            &["see other#Plan", "Nowhere label", "one two three four five six seven eight nine ten eleven twelve thirteen Plan"],
        );
    }

    #[test]
    fn a_heading_inside_a_list_item_is_not_a_section() {
        // `- **Ideas**` followed by an indented `-` is a setext heading inside the item.
        let note = parse(
            "### 1-1s\n- **Ideas**\n    - \n- **How can I help?**\n\n### Next\n",
            "n",
        );
        let blocks: Vec<(&str, Vec<String>)> = note
            .blocks
            .iter()
            .map(|b| (b.text.as_str(), b.heading_path.clone()))
            .collect();
        assert_eq!(
            blocks,
            [
                ("1-1s", vec!["1-1s".to_string()]),
                ("Ideas", vec!["1-1s".to_string()]),
                ("How can I help?", vec!["1-1s".to_string()]),
                ("Next", vec!["Next".to_string()]),
            ]
        );
    }

    #[test]
    fn dates_in_paths() {
        let cases = [
            ("daily/2024-03-12-standup.md", Some("2024-03-12")),
            ("daily.journal.2024.03.12.md", Some("2024-03-12")),
            ("log/20240312.md", Some("2024-03-12")),
            ("journal/2024/03/12.md", Some("2024-03-12")),
            ("2023-01-01/notes-2024_02_29.md", Some("2024-02-29")),
            ("projects/rfc-2024-13-40.md", None),
            ("ids/1234567890.md", None),
            ("plain.md", None),
        ];
        for (path, want) in cases {
            assert_eq!(date_from_path(path).as_deref(), want, "{path}");
        }
        assert_eq!(date_from_seconds(1_710_201_600), "2024-03-12");
    }

    #[test]
    fn dates_normalise() {
        assert_eq!(
            normalise_date("2024-12-15T22:35").as_deref(),
            Some("2024-12-15")
        );
        assert_eq!(
            normalise_date("1734302100000").as_deref(),
            Some("2024-12-15")
        );
        assert_eq!(normalise_date("soon"), None);
        // Multibyte characters where the date's bytes are expected: no date, no panic.
        assert_eq!(normalise_date("2024-05-0é"), None);
        assert_eq!(normalise_date("2024-05-é1"), None);
        assert_eq!(normalise_date("２０２４-05-01"), None);
        assert_eq!(normalise_date("2024-05-01é").as_deref(), Some("2024-05-01"));
        let note = parse("---\ndate: 2024-05-0é\n---\n# T\n\nText.\n", "t");
        assert_eq!((note.title.as_str(), note.date), ("T", None));
        assert_eq!(days_since_epoch("1970-01-02"), Some(1));
        assert_eq!(
            civil_date(days_since_epoch("2024-02-29").unwrap()),
            "2024-02-29"
        );
    }

    #[test]
    fn dendron_notes_read_as_dendron_shows_them() {
        let text = "---\nid: 4u6pv56mnt25d8l2wzfygu7\ntitle: |\n  Why\n  hierarchies\ndesc: >-\n  How notes nest\n  by their names\nupdated: 1734302100000\ndate: 2021-03-04\n---\n\n# {{fm.title}}\n\n{{ fm.desc }}: see [[the FAQ|dendron.faq#why-hierarchies]] and [[dendron.topic]].\n\n![[dendron.faq#why-hierarchies,1:#*]]\n\n- ![[dendron.ref]] [[Schemas|dendron.schema]]\n";
        // Recognised by its hierarchical name and its `id`, without the vault flag.
        let note = parse(text, "dendron.concepts");
        assert_eq!(note.title, "Why hierarchies");
        assert_eq!(note.date.as_deref(), Some("2021-03-04"));
        let blocks: Vec<(&str, usize, usize)> = note
            .blocks
            .iter()
            .map(|b| (b.text.as_str(), b.line_start, b.line_end))
            .collect();
        assert_eq!(
            blocks,
            [
                ("How notes nest by their names", 6, 8),
                ("Why hierarchies", 13, 13),
                (
                    "How notes nest by their names: see the FAQ and dendron.topic.",
                    15,
                    15
                ),
                ("Schemas", 19, 19),
            ]
        );
        assert_eq!(
            note.links,
            [
                "dendron.faq",
                "dendron.topic",
                "dendron.faq",
                "dendron.ref",
                "dendron.schema"
            ]
        );
        // The same note in a folder of ordinary notes keeps Obsidian's order: target|alias.
        let obsidian = parse("See [[the FAQ|dendron.faq]].\n", "faq");
        assert_eq!(obsidian.blocks[0].text, "See dendron.faq.");
        let flagged = parse_with(
            "See [[the FAQ|dendron.faq]].\n",
            "faq",
            ParseOptions { dendron: true },
        );
        assert_eq!(flagged.blocks[0].text, "See the FAQ.");
        assert_eq!(flagged.links, ["dendron.faq"]);
        let cross_vault = parse_with(
            "[[Office Hours|dendron://dendron.dendron-site/community.events#when]]\n",
            "x",
            ParseOptions { dendron: true },
        );
        assert_eq!(cross_vault.blocks[0].text, "Office Hours");
        assert_eq!(cross_vault.links, ["community.events"]);
        let unlabelled = parse_with(
            "See [[dendron://dendron.dendron-site/community.events]].\n",
            "x",
            ParseOptions { dendron: true },
        );
        assert_eq!(unlabelled.blocks[0].text, "See community.events.");
    }

    #[test]
    fn quoted_scalars_are_read_as_yaml_reads_them() {
        assert_eq!(unquote(r#""Tree \U0001F332""#), "Tree \u{1F332}");
        assert_eq!(unquote("'Ada''s notes'"), "Ada's notes");
        assert_eq!(
            unquote(r#""say \"hi\" \u00e9\x41\\ end""#),
            "say \"hi\" \u{e9}A\\ end"
        );
        // Unknown or cut-short escapes stay as written; one quote is not a quoted scalar.
        assert_eq!(unquote(r#""a \q \u12 \""#), r"a \q \u12 \");
        assert_eq!(unquote(r#""\UFFFFFFFF""#), r"\UFFFFFFFF");
        assert_eq!(unquote("\""), "\"");
        let note = parse("---\ntitle: \"Caf\\u00e9 \\U0001F332\"\n---\nBody.\n", "x");
        assert_eq!(note.title, "Caf\u{e9} \u{1F332}");
    }

    #[test]
    fn block_scalars_and_date_precedence() {
        let check = |front: &str, title: &str, date: Option<&str>| {
            let note = parse(&format!("---\n{front}---\nBody.\n"), "fallback");
            assert_eq!(
                (note.title.as_str(), note.date.as_deref()),
                (title, date),
                "{front}"
            );
        };
        check("title: |\n  Line one\n", "Line one", None);
        check(
            "title: >-\n  Folded\n  title\n\ntags: [a]\n",
            "Folded title",
            None,
        );
        check("title: |2+ # comment\n    Kept\n", "Kept", None);
        check(
            "title: |\nupdated: 2024-01-02\n",
            "fallback",
            Some("2024-01-02"),
        );
        check(
            "created: 2020-01-01\nupdated: 2024-01-02\ndate: 2023-05-06\n",
            "fallback",
            Some("2023-05-06"),
        );
        check(
            "created: 2020-01-01\nupdated: 2024-01-02\n",
            "fallback",
            Some("2024-01-02"),
        );
    }

    #[test]
    fn malformed_front_matter_is_body_and_title_falls_back() {
        let note = parse("---\ntitle: never closed\nSome text.\n", "my-note");
        assert_eq!(note.title, "my-note");
        assert!(!note.blocks.is_empty());
    }
}
