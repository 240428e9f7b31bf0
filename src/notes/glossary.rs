//! Workplace shorthand the small embedding model does not know (`1:1s`, `PIP`, `XFN`): each
//! one found in a passage or a query is followed by its spelled-out form, so "how I ran 1:1s"
//! meets "one-on-one meetings" in vector space. Applied to what is embedded, never to what is
//! shown or cited. Pure.

use std::sync::LazyLock;

use regex::Regex;

/// (pattern, spelled out). Patterns are case-sensitive where the shorthand is an acronym that
/// collides with a word (`IC`, `PIP`).
const TERMS: &[(&str, &str)] = &[
    (
        r"(?i)\b(?:1\s?[:\-]\s?1|1on1|one[\- ]on[\- ]one)(?:s|'s)?\b",
        "one-on-one meeting",
    ),
    (r"\bPIPs?\b", "performance improvement plan"),
    (r"\bOKRs?\b", "objectives and key results"),
    (r"\bKPIs?\b", "key performance indicators"),
    (r"(?i)\bXFN\b|\bXT\b", "cross-functional"),
    (r"\bICs?\b", "individual contributor"),
    (r"\bEMs?\b", "engineering manager"),
    (r"\bTLs?\b", "tech lead"),
    (r"\bPMs?\b", "product manager"),
    (r"\bSLOs?\b", "service level objective"),
    (r"(?i)\bpostmortems?\b|\bPIRs?\b", "incident review"),
    (r"(?i)\bperf review\b", "performance review"),
];

static COMPILED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    TERMS
        .iter()
        .map(|(pattern, spelled)| (Regex::new(pattern).expect("glossary pattern"), *spelled))
        .collect()
});

/// `text` with the spelled-out form of each shorthand it uses appended once, in order of
/// first use: `"ran 1:1s"` becomes `"ran 1:1s\n(one-on-one meeting)"`.
pub fn expand(text: &str) -> String {
    let mut found: Vec<(usize, &str)> = COMPILED
        .iter()
        .filter_map(|(pattern, spelled)| {
            let at = pattern.find(text)?.start();
            // Already spelled out nearby: nothing to add.
            (!text.to_lowercase().contains(spelled)).then_some((at, *spelled))
        })
        .collect();
    if found.is_empty() {
        return text.to_string();
    }
    found.sort();
    let spelled: Vec<&str> = found.into_iter().map(|(_, s)| s).collect();
    format!("{text}\n({})", spelled.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(expand(input), expected, "{input}");
    }

    #[test]
    fn shorthand_is_spelled_out_once() {
        check("how I ran 1:1s", "how I ran 1:1s\n(one-on-one meeting)");
        check(
            "### 1-1s and 1on1 notes",
            "### 1-1s and 1on1 notes\n(one-on-one meeting)",
        );
        check(
            "XFN work during the PIP",
            "XFN work during the PIP\n(cross-functional; performance improvement plan)",
        );
        // Words that merely look like acronyms, and text already spelled out, are left alone.
        check(
            "a pip of an apple; 1:10 ratio; 11s",
            "a pip of an apple; 1:10 ratio; 11s",
        );
        check(
            "our one-on-one meeting (1:1)",
            "our one-on-one meeting (1:1)",
        );
    }
}
