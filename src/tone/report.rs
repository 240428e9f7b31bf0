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

/// An object per file with `file` and `findings`.
pub fn render_json(reports: &[FileReport]) -> Value {
    Value::Array(
        reports
            .iter()
            .map(|r| {
                // Each finding names its file too, so findings can be merged across reports
                // (and "source" is never mistaken for a file name).
                let findings: Vec<Value> = r
                    .findings
                    .iter()
                    .map(|f| {
                        let mut v = json!({"file": r.file});
                        if let (Value::Object(map), Ok(Value::Object(fields))) =
                            (&mut v, serde_json::to_value(f))
                        {
                            map.extend(fields);
                        }
                        v
                    })
                    .collect();
                json!({
                    "file": r.file,
                    "findings": findings,
                    "counts": counts(&r.findings).into_iter().map(|(c, n)| (c.id().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect(),
    )
}

/// Like rustc: header, location, the source line with a caret underline, and the suggestion.
pub fn render_human(reports: &[FileReport], color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
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
            out.push_str(&format!("{:gutter$} {}\n", "", paint("1;34", "|")));
            out.push_str(&format!(
                "{} {} {}\n",
                paint("1;34", &f.line.to_string()),
                paint("1;34", "|"),
                line_text
            ));
            let underline_start = f.column - 1;
            let first_line_part = f.text.split('\n').next().unwrap_or("");
            let width = first_line_part.chars().count().max(1);
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
