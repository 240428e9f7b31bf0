//! Renders tone findings: human (rustc-style, with the source line and a caret underline),
//! JSON, one line per finding, and SARIF 2.1.0. Pure string building.

use serde_json::{json, Value};

use super::{counts, Finding, LineIndex, Severity};

/// One checked input and what was found in it.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given, or `-` for standard input.
    pub file: String,
    pub source: String,
    pub findings: Vec<Finding>,
}

/// `path:line:col: severity category: message`.
pub fn render_lines(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        for f in &report.findings {
            out.push_str(&format!(
                "{}:{}:{}: {} {}: {}\n",
                report.file, f.line, f.column, f.severity, f.category, f.message
            ));
        }
    }
    out
}

/// `text` in an ANSI style (`1;31`: bold red) when `color` is on.
pub fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Like rustc: header, location, the source line with a caret underline, and the suggestion.
pub fn render_human(reports: &[FileReport], color: bool) -> String {
    let paint = |code: &str, text: &str| paint(color, code, text);
    let mut out = String::new();
    for report in reports {
        let lines = LineIndex::new(&report.source);
        for f in &report.findings {
            let level = match f.severity {
                Severity::Error => paint("1;31", "error"),
                Severity::Warning => paint("1;33", "warning"),
                Severity::Info => paint("1;36", "info"),
            };
            out.push_str(&format!("{level}[{}]: {}\n", f.category, f.message));
            let gutter = f.line.to_string().len();
            out.push_str(&format!(
                "{:gutter$}{} {}:{}:{}\n",
                "",
                paint("1;34", "-->"),
                report.file,
                f.line,
                f.column
            ));
            let line_text = lines.line_text(f.line);
            let at = f.start.saturating_sub(lines.line_start(f.line));
            let shown = shown_line(line_text, at);
            out.push_str(&format!("{:gutter$} {}\n", "", paint("1;34", "|")));
            out.push_str(&format!(
                "{} {} {}\n",
                paint("1;34", &f.line.to_string()),
                paint("1;34", "|"),
                shown.text
            ));
            let underline_start = shown.before;
            let first_line_part = f.text.split('\n').next().unwrap_or("");
            let width = first_line_part.chars().take(shown.room).count().max(1);
            out.push_str(&format!(
                "{:gutter$} {} {:underline_start$}{}\n",
                "",
                paint("1;34", "|"),
                "",
                paint("1;33", &"^".repeat(width))
            ));
            out.push_str(&format!(
                "{:gutter$} {} suggestion: {}\n\n",
                "",
                paint("1;34", "="),
                f.suggestion
            ));
        }
    }
    out.push_str(&summary(reports));
    out
}

/// Lines longer than this (in bytes) are shown cut around the finding, as ripgrep cuts long
/// lines: a finding on a line of a megabyte prints that much once, not once per finding.
const SHOWN_LINE_BYTES: usize = 200;
/// How many characters before the finding a cut line keeps.
const SHOWN_BEFORE_CHARS: usize = 40;
/// How many characters a cut line shows in all.
const SHOWN_CHARS: usize = 160;

/// The part of a source line shown under a finding.
struct ShownLine<'a> {
    text: std::borrow::Cow<'a, str>,
    /// Characters before the finding's first character in `text`.
    before: usize,
    /// Characters of `text` from the finding's start to its end.
    room: usize,
}

/// `line` as shown for a finding that starts `at` bytes into it: whole when short, otherwise a
/// window around the finding with `…` where it was cut. Looks only at the window, never at the
/// whole line.
fn shown_line(line: &str, at: usize) -> ShownLine<'_> {
    let at = (0..=at.min(line.len()))
        .rev()
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(0);
    if line.len() <= SHOWN_LINE_BYTES {
        let before = line[..at].chars().count();
        let room = line.chars().count() - before;
        return ShownLine {
            text: line.into(),
            before,
            room,
        };
    }
    let start = line[..at]
        .char_indices()
        .rev()
        .nth(SHOWN_BEFORE_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let before_chars = line[start..at].chars().count();
    let end = line[start..]
        .char_indices()
        .nth(SHOWN_CHARS)
        .map_or(line.len(), |(i, _)| start + i);
    let mut text = String::new();
    let mut before = before_chars;
    if start > 0 {
        text.push('…');
        before += 1;
    }
    text.push_str(&line[start..end]);
    if end < line.len() {
        text.push('…');
    }
    ShownLine {
        text: text.into(),
        before,
        room: line[at..end].chars().count(),
    }
}

/// Counts per category and severity across all files.
pub fn summary(reports: &[FileReport]) -> String {
    let all: Vec<Finding> = reports
        .iter()
        .flat_map(|r| r.findings.iter().cloned())
        .collect();
    if all.is_empty() {
        return format!("no tone findings in {} file(s)\n", reports.len());
    }
    let per_category: Vec<String> = counts(&all)
        .into_iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let severity = |s: Severity| all.iter().filter(|f| f.severity == s).count();
    format!(
        "{} finding(s) in {} file(s): {} error, {} warning, {} info ({})\n",
        all.len(),
        reports.len(),
        severity(Severity::Error),
        severity(Severity::Warning),
        severity(Severity::Info),
        per_category.join(", ")
    )
}

/// SARIF 2.1.0, one run, the rules that fired listed in the driver.
pub fn render_sarif(
    reports: &[FileReport],
    rule_descriptions: &[(String, String, String)],
) -> Value {
    let mut fired: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.findings.iter().map(|f| f.rule.as_str()))
        .collect();
    fired.sort_unstable();
    fired.dedup();
    let rules: Vec<Value> = fired
        .iter()
        .map(|id| {
            let (category, message) = rule_descriptions
                .iter()
                .find(|(rule, _, _)| rule == id)
                .map(|(_, c, m)| (c.clone(), m.clone()))
                .unwrap_or_else(|| ("model".into(), "finding from the local model".into()));
            json!({"id": id, "name": category, "shortDescription": {"text": message}})
        })
        .collect();
    let results: Vec<Value> = reports
        .iter()
        .flat_map(|report| {
            let lines = LineIndex::new(&report.source);
            report.findings.iter().map(move |f| {
                let (end_line, end_column) = lines.position(f.end);
                json!({
                    "ruleId": f.rule,
                    "level": match f.severity { Severity::Error => "error", Severity::Warning => "warning", Severity::Info => "note" },
                    "message": {"text": format!("{} Suggestion: {}", f.message, f.suggestion)},
                    "properties": {"category": f.category, "source": f.source},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": report.file},
                            "region": {
                                "startLine": f.line, "startColumn": f.column,
                                "endLine": end_line, "endColumn": end_column,
                                "byteOffset": f.start, "byteLength": f.end - f.start,
                                "snippet": {"text": f.text}
                            }
                        }
                    }]
                })
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "starling", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{Category, FindingSource};

    #[test]
    fn a_finding_on_a_huge_line_shows_a_window_of_it() {
        let line = format!(
            "{}I guess we could{}",
            "word ".repeat(20_000),
            " more".repeat(20_000)
        );
        let start = line.find("I guess").unwrap();
        let source = format!("{line}\n");
        let finding = Finding {
            category: Category::Hedging,
            severity: Severity::Warning,
            start,
            end: start + "I guess".len(),
            line: 1,
            column: start + 1,
            text: "I guess".into(),
            message: "hedge".into(),
            suggestion: "say it".into(),
            replacement: None,
            rule: "hedge".into(),
            source: FindingSource::Rules,
        };
        let report = FileReport {
            file: "long.md".into(),
            source,
            findings: vec![finding],
        };
        let out = render_human(&[report], false);
        assert!(out.len() < 1_000, "{} bytes", out.len());
        assert!(out.contains(&format!("long.md:1:{}", start + 1)), "{out}");
        let shown = out.lines().find(|l| l.contains("I guess")).unwrap();
        let carets = out.lines().find(|l| l.contains('^')).unwrap();
        // The carets sit under the finding.
        let column = |s: &str, needle: &str| s[..s.find(needle).unwrap()].chars().count();
        assert_eq!(column(shown, "I guess"), column(carets, "^"));
        assert_eq!(carets.matches('^').count(), "I guess".len());
        assert!(
            shown.starts_with("1 | …") && shown.ends_with('…'),
            "{shown}"
        );
    }
}
