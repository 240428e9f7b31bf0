//! Career-ladder rubrics: Markdown (`##`/`###` sections with `-`, `*` or numbered items, nested
//! bullets belonging to their item; a section of prose is one item; tables: one item per row),
//! TOML (`[[section]] title = "..." items = [...]`) or YAML (`Section:` keys over `- item` lists). Every item gets a stable id, the slug of
//! its section and its text. Shared by STAR drafting (`star --rubric`) and the rubric map. Pure.

use std::collections::HashMap;
use std::path::Path;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One thing the ladder asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `section-slug/item-slug`, stable while the words stay the same.
    pub id: String,
    pub section: String,
    pub text: String,
    /// Nested bullets under the item (examples, clarifications).
    pub details: Vec<String>,
    /// 1-based line in the rubric file (0 for TOML items).
    pub line: usize,
}

/// A group of items under one heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub line: usize,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rubric {
    pub title: String,
    pub sections: Vec<Section>,
}

impl Rubric {
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }
}

/// Lowercase words joined by `-`, at most eight words (ids stay readable).
pub fn slug(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn error(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        message: if line > 0 {
            format!("line {line}: {}", message.into())
        } else {
            message.into()
        },
    }
}

/// Parses the rubric in `text`; `path` names it in errors and picks the form (`.toml` is TOML).
/// A rubric without any item is an error too (`require_items`).
pub fn parse(path: &Path, text: &str) -> Result<Rubric> {
    require_items(path, parse_well_formed(path, text)?)
}

/// `rubric` when it holds an item, else the error naming `path` and how to write one.
pub fn require_items(path: &Path, rubric: Rubric) -> Result<Rubric> {
    if rubric.items().next().is_none() {
        return Err(error(
            path,
            0,
            "no items found; write `## Section` headings with `- item` bullets under them (or `[[section]]` tables in TOML)",
        ));
    }
    Ok(rubric)
}

/// `parse` without its last check: a rubric that parses but holds no item comes back empty,
/// for callers that answer the two cases differently (the HTTP API: 400 against 422).
pub fn parse_well_formed(path: &Path, text: &str) -> Result<Rubric> {
    // Ladders pasted between tools often carry mojibake (`othersâ€™`).
    let (text, _) = crate::notes::mojibake::repair(text);
    let text = text.as_str();
    let fallback_title = path
        .file_stem()
        .map_or("rubric".to_string(), |s| s.to_string_lossy().into_owned());
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let rubric = if extension == "toml" {
        parse_toml(path, text, &fallback_title)?
    } else if extension == "yaml" || extension == "yml" {
        parse_yaml(path, text, &fallback_title)?
    } else {
        parse_markdown(text, &fallback_title)
    };
    validate(path, rubric)
}

#[derive(Deserialize)]
struct TomlRubric {
    title: Option<String>,
    #[serde(rename = "section", default)]
    sections: Vec<TomlSection>,
}

#[derive(Deserialize)]
struct TomlSection {
    title: String,
    #[serde(default)]
    items: Vec<String>,
}

fn parse_toml(path: &Path, text: &str, fallback_title: &str) -> Result<Rubric> {
    let parsed: TomlRubric = toml::from_str(text).map_err(|e| {
        error(
            path,
            0,
            format!("{e}; expected `[[section]]` tables with `title` and `items = [...]`"),
        )
    })?;
    Ok(Rubric {
        title: parsed.title.unwrap_or_else(|| fallback_title.to_string()),
        sections: parsed
            .sections
            .into_iter()
            .map(|s| Section {
                id: slug(&s.title),
                line: 0,
                items: s
                    .items
                    .into_iter()
                    .map(|text| Item {
                        id: String::new(),
                        section: s.title.clone(),
                        text,
                        details: Vec::new(),
                        line: 0,
                    })
                    .collect(),
                title: s.title,
            })
            .collect(),
    })
}

/// The YAML form's common subset: `title: ...`, then each section as a key with its items as
/// a `- item` list under it (deeper `- detail` lines belong to the item above).
fn parse_yaml(path: &Path, text: &str, fallback_title: &str) -> Result<Rubric> {
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    let mut rubric = Rubric {
        title: fallback_title.to_string(),
        sections: Vec::new(),
    };
    let mut item_indent = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split(" #").next().unwrap_or_default().trim_end();
        if content.trim().is_empty() || content.trim_start().starts_with('#') || content == "---" {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let body = content.trim_start();
        if let Some(entry) = body.strip_prefix("- ") {
            let Some(section) = rubric.sections.last_mut() else {
                return Err(error(
                    path,
                    line,
                    "a list item before any section key; write `Section:` above it",
                ));
            };
            match item_indent {
                Some(first) if indent > first => match section.items.last_mut() {
                    Some(item) => item.details.push(unquote(entry)),
                    None => return Err(error(path, line, "a nested item with no item above it")),
                },
                _ => {
                    item_indent = Some(indent);
                    section.items.push(Item {
                        id: String::new(),
                        section: section.title.clone(),
                        text: unquote(entry),
                        details: Vec::new(),
                        line,
                    });
                }
            }
        } else if let Some((key, value)) = body.split_once(':') {
            if indent == 0 && key.trim() == "title" && !value.trim().is_empty() {
                rubric.title = unquote(value);
            } else if value.trim().is_empty() {
                item_indent = None;
                rubric.sections.push(Section {
                    id: slug(key),
                    title: unquote(key),
                    line,
                    items: Vec::new(),
                });
            } else {
                return Err(error(
                    path,
                    line,
                    format!(
                        "`{}`: a section key takes a `- item` list below it",
                        key.trim()
                    ),
                ));
            }
        } else {
            return Err(error(path, line, "expected `Section:` or `- item`"));
        }
    }
    rubric.sections.retain(|s| !s.items.is_empty());
    Ok(rubric)
}

fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|&start| start <= offset)
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_markdown(text: &str, fallback_title: &str) -> Rubric {
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    // Front matter is skipped (its lines still count).
    let body_start = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.find("\n---\n").map(|end| 4 + end + 5))
        .unwrap_or(0);
    let body = &text[body_start..];
    let mut title = String::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut heading: Option<(u8, String, usize)> = None;
    let mut list_depth = 0usize;
    // The text being collected: (kind, text, line). Kinds: item, detail, paragraph, cell.
    let mut buffer: Option<(&str, String, usize)> = None;
    let mut row: Vec<String> = Vec::new();
    let mut header: Vec<String> = Vec::new();
    let mut row_line = 0;
    let options = Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;

    let current_section = |sections: &mut Vec<Section>, line: usize| -> usize {
        if sections.is_empty() {
            sections.push(Section {
                id: String::new(),
                title: String::new(),
                line,
                items: Vec::new(),
            });
        }
        sections.len() - 1
    };
    let push_item = |sections: &mut Vec<Section>, text: String, line: usize| {
        let index = current_section(sections, line);
        let section = &mut sections[index];
        section.items.push(Item {
            id: String::new(),
            section: section.title.clone(),
            text,
            details: Vec::new(),
            line,
        });
    };
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        let line = line_of(&line_starts, body_start + range.start);
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some((level as u8, String::new(), line))
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text, line)) = heading.take() {
                    let text = squash(&text);
                    if level == 1 && title.is_empty() {
                        title = text;
                    } else {
                        sections.push(Section {
                            id: slug(&text),
                            title: text,
                            line,
                            items: Vec::new(),
                        });
                    }
                }
            }
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) => {
                flush_buffer(&mut buffer, &mut sections, &push_item);
                let kind = if list_depth > 1 { "detail" } else { "item" };
                buffer = Some((kind, String::new(), line));
            }
            Event::End(TagEnd::Item) => flush_buffer(&mut buffer, &mut sections, &push_item),
            Event::Start(Tag::Paragraph) if list_depth == 0 => {
                buffer = Some(("paragraph", String::new(), line))
            }
            Event::End(TagEnd::Paragraph) if list_depth == 0 => {
                flush_buffer(&mut buffer, &mut sections, &push_item)
            }
            Event::Start(Tag::TableHead) => row.clear(),
            Event::End(TagEnd::TableHead) => header = std::mem::take(&mut row),
            Event::Start(Tag::TableRow) => {
                row.clear();
                row_line = line;
            }
            Event::End(TagEnd::TableRow) => {
                let cells: Vec<String> = std::mem::take(&mut row);
                table_row(&header, cells, row_line, &mut sections, &push_item);
            }
            Event::Start(Tag::TableCell) => buffer = Some(("cell", String::new(), line)),
            Event::End(TagEnd::TableCell) => {
                if let Some((_, text, _)) = buffer.take() {
                    row.push(squash(&text));
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text, _)) = &mut heading {
                    text.push_str(&t);
                } else if let Some((_, text, _)) = &mut buffer {
                    text.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, text, _)) = &mut buffer {
                    text.push(' ');
                }
            }
            _ => {}
        }
    }
    flush_buffer(&mut buffer, &mut sections, &push_item);
    // A table may name each row's section in a column of its own; leftover empty sections
    // (headings with nothing under them, e.g. a title repeated as `##`) are dropped.
    sections.retain(|s| !s.items.is_empty());
    Rubric {
        title: if title.is_empty() {
            fallback_title.to_string()
        } else {
            title
        },
        sections,
    }
}

fn flush_buffer(
    buffer: &mut Option<(&str, String, usize)>,
    sections: &mut Vec<Section>,
    push_item: &dyn Fn(&mut Vec<Section>, String, usize),
) {
    let Some((kind, text, line)) = buffer.take() else {
        return;
    };
    let text = squash(&text);
    if text.is_empty() {
        return;
    }
    match kind {
        "detail" => match sections.last_mut().and_then(|s| s.items.last_mut()) {
            Some(item) => item.details.push(text),
            None => push_item(sections, text, line),
        },
        // Prose under the title, before any section, is the ladder's preamble: context, kept
        // aside (`validate` drops it when the ladder has sections of its own).
        "paragraph"
            if sections.is_empty() || sections.last().is_some_and(|s| s.title == PREAMBLE) =>
        {
            if sections.is_empty() {
                sections.push(Section {
                    id: String::new(),
                    title: PREAMBLE.into(),
                    line,
                    items: Vec::new(),
                });
            }
            push_item(sections, text, line);
        }
        // A section of prose is one item (a ladder's "Scope" paragraph).
        "paragraph" if sections.last().is_some_and(|s| !s.items.is_empty()) => {
            if let Some(item) = sections.last_mut().and_then(|s| s.items.last_mut()) {
                item.details.push(text);
            }
        }
        _ => {
            // Items listed under the preamble, before any section, are items of their own.
            if sections.last().is_some_and(|s| s.title == PREAMBLE) {
                sections.push(Section {
                    id: String::new(),
                    title: String::new(),
                    line,
                    items: Vec::new(),
                });
            }
            push_item(sections, text, line)
        }
    }
}

/// Column names that hold a row's section, and its item text.
const SECTION_COLUMNS: &[&str] = &["section", "area", "competency", "dimension", "category"];
const ITEM_COLUMNS: &[&str] = &[
    "item",
    "expectation",
    "behaviour",
    "behavior",
    "criteria",
    "description",
];

fn table_row(
    header: &[String],
    cells: Vec<String>,
    line: usize,
    sections: &mut Vec<Section>,
    push_item: &dyn Fn(&mut Vec<Section>, String, usize),
) {
    let column = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&h.trim_matches('*').trim().to_lowercase().as_str()))
    };
    let section_column = column(SECTION_COLUMNS);
    let item_column = column(ITEM_COLUMNS).or(match section_column {
        Some(0) => Some(1),
        _ => Some(0),
    });
    let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).cloned().unwrap_or_default();
    let text = cell(item_column);
    if text.is_empty() {
        return;
    }
    if let Some(name) = section_column
        .map(|i| cell(Some(i)))
        .filter(|s| !s.is_empty())
    {
        if sections.last().is_none_or(|s| s.title != name) {
            sections.push(Section {
                id: slug(&name),
                title: name,
                line,
                items: Vec::new(),
            });
        }
    }
    push_item(sections, text, line);
}

/// The marker title of a ladder's preamble while parsing.
const PREAMBLE: &str = "\u{0}preamble";

fn validate(path: &Path, mut rubric: Rubric) -> Result<Rubric> {
    let has_sections = rubric
        .sections
        .iter()
        .any(|s| s.title != PREAMBLE && !s.items.is_empty());
    if has_sections {
        rubric.sections.retain(|s| s.title != PREAMBLE);
    }
    for section in &mut rubric.sections {
        if section.title == PREAMBLE {
            section.title.clear();
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for section in &mut rubric.sections {
        if section.id.is_empty() {
            section.id = "general".into();
        }
        for item in &mut section.items {
            item.section = section.title.clone();
            item.id = format!("{}/{}", section.id, slug(&item.text));
            if let Some(first) = seen.insert(item.id.clone(), item.line) {
                return Err(error(
                    path,
                    item.line,
                    format!(
                        "item id `{}` is already used by the item on line {first}; reword one of the two",
                        item.id
                    ),
                ));
            }
        }
    }
    Ok(rubric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, text: &str, expected: &[(&str, &[&str])]) {
        let rubric = parse(Path::new(name), text).unwrap();
        let got: Vec<(String, Vec<String>)> = rubric
            .sections
            .iter()
            .map(|s| {
                (
                    s.title.clone(),
                    s.items.iter().map(|i| i.text.clone()).collect(),
                )
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(s, items)| (s.to_string(), items.iter().map(|i| i.to_string()).collect()))
            .collect();
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn markdown_sections_items_details_and_prose() {
        let text = "---\nlevel: senior\n---\n# Senior engineer\n\n## Scope\nI drive cross-team work.\n\n## Delivery\n- Ships **reliably**\n  - on time\n  - with tests\n1. Estimates well\n* Reviews code\n";
        check(
            "ladder.md",
            text,
            &[
                ("Scope", &["I drive cross-team work."]),
                (
                    "Delivery",
                    &["Ships reliably", "Estimates well", "Reviews code"],
                ),
            ],
        );
        let rubric = parse(Path::new("ladder.md"), text).unwrap();
        assert_eq!(rubric.title, "Senior engineer");
        let ships = &rubric.sections[1].items[0];
        assert_eq!(ships.id, "delivery/ships-reliably");
        assert_eq!(ships.details, ["on time", "with tests"]);
        assert_eq!(ships.line, 10);
    }

    #[test]
    fn a_ladder_preamble_is_context_not_an_item() {
        check(
            "ladder.md",
            "# Senior engineer\n\nThis ladder describes what we expect at senior level.\nRead it with your manager.\n\n## Delivery\n- Ships reliably\n",
            &[("Delivery", &["Ships reliably"])],
        );
        // A rubric that is only prose keeps it as its one item.
        check(
            "ladder.md",
            "# Senior engineer\n\nDrives cross-team work.\n",
            &[("", &["Drives cross-team work."])],
        );
    }

    #[test]
    fn tables_and_toml() {
        check(
            "t.md",
            "| Competency | Expectation |\n|---|---|\n| Delivery | Ships reliably |\n| Delivery | Estimates well |\n| Mentoring | Grows others |\n",
            &[
                ("Delivery", &["Ships reliably", "Estimates well"]),
                ("Mentoring", &["Grows others"]),
            ],
        );
        check(
            "t.yaml",
            "title: L5\nImpact:\n  - Leads projects\n    - with examples\n  - \"Moves metrics\"\nCraft:\n  - Reviews code\n",
            &[("Impact", &["Leads projects", "Moves metrics"]), ("Craft", &["Reviews code"])],
        );
        let yaml = parse(
            Path::new("t.yaml"),
            "Impact:\n  - Leads projects\n    - with examples\n",
        )
        .unwrap();
        assert_eq!(yaml.sections[0].items[0].details, ["with examples"]);
        assert!(parse(Path::new("t.yml"), "- orphan\n")
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        check(
            "t.toml",
            "title = \"L5\"\n[[section]]\ntitle = \"Impact\"\nitems = [\"Leads projects\", \"Moves metrics\"]\n",
            &[("Impact", &["Leads projects", "Moves metrics"])],
        );
    }

    #[test]
    fn the_shared_career_ladder_has_seven_sections_and_27_items() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/examples/career-ladder-senior.md");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return; // ../shared is not on every machine
        };
        let rubric = parse(&path, &text).unwrap();
        let counts: Vec<(&str, usize)> = rubric
            .sections
            .iter()
            .map(|s| (s.title.as_str(), s.items.len()))
            .collect();
        // Counted by hand from the file.
        assert_eq!(
            counts,
            [
                ("Scope", 1),
                ("Collaboration and Communication", 4),
                ("Planning, Prioritization and Architecture", 6),
                ("Technical Contributions", 6),
                ("Debugging & Monitoring", 3),
                ("Example activity breakdown", 4),
                ("Experience", 3),
            ]
        );
        assert_eq!(rubric.items().count(), 27);
        assert_eq!(
            rubric.sections[0].items[0].id,
            "scope/i-increasingly-optimize-beyond-just-my-team-by"
        );
    }

    #[test]
    fn malformed_rubrics_name_the_line() {
        let err = parse(Path::new("r.md"), "# Only a title\n\n## Empty\n").unwrap_err();
        assert!(err.to_string().contains("no items"), "{err}");
        let err = parse(Path::new("r.md"), "## A\n- Same thing\n- Same thing\n").unwrap_err();
        assert!(
            err.to_string().contains("line 3") && err.to_string().contains("line 2"),
            "{err}"
        );
        let err = parse(Path::new("r.toml"), "[[section]]\nitems = 3\n").unwrap_err();
        assert!(err.to_string().contains("r.toml"), "{err}");
    }
}
