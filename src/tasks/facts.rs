//! The figures in a sentence (numbers, percentages, money, durations, dates, identifiers such
//! as `Q3`), normalised so "4.1 million" equals 4,100,000 and "30%" equals "30 percent", and
//! the check that a drafted sentence uses only figures its evidence holds; and the check that
//! a rephrased text keeps to the words of its source. Pure.

use std::sync::LazyLock;

use regex::Regex;

/// One figure as written and as a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub raw: String,
    pub value: f64,
    pub percent: bool,
    /// Digits glued to letters (`Q3`, `p99`): compared as written, not by value.
    pub identifier: bool,
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        (?P<currency>[$€£])?\s?
        (?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?
        (?:\s?(?P<unit>%|percent\b|per\ cent\b|pct\b|k\b|thousand\b|m\b|mn\b|million\b|bn\b|b\b|billion\b))?",
    )
    .expect("number pattern")
});

static WORD_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|hundred|thousand|dozen)\b")
        .expect("word number pattern")
});

fn word_value(word: &str) -> f64 {
    match word.to_lowercase().as_str() {
        "two" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "eleven" => 11.0,
        "twelve" | "dozen" => 12.0,
        "fifteen" => 15.0,
        "twenty" => 20.0,
        "thirty" => 30.0,
        "forty" => 40.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "hundred" => 100.0,
        _ => 1000.0,
    }
}

/// Every figure in `text`, in order. Digits glued to letters (`Q3`, `p99`, `v2`) are
/// identifiers: their value is kept, and they are compared as written (see `unsupported`).
pub fn figures(text: &str) -> Vec<Figure> {
    figures_at(text).into_iter().map(|(_, f)| f).collect()
}

/// `figures`, each with the byte range it was read from (digit figures first, then words).
pub fn figures_at(text: &str) -> Vec<(std::ops::Range<usize>, Figure)> {
    let mut out = Vec::new();
    for caps in NUMBER.captures_iter(text) {
        let whole = caps.get(0).expect("match");
        let int = caps.name("int").expect("int");
        let before = text[..int.start()].chars().next_back();
        let after = text[whole.end()..].chars().next();
        let glued = before.is_some_and(|c| c.is_alphabetic())
            || (caps.name("unit").is_none() && after.is_some_and(|c| c.is_alphabetic()));
        let mut value: f64 = format!(
            "{}.{}",
            int.as_str().replace(',', ""),
            caps.name("frac").map_or("0", |f| f.as_str())
        )
        .parse()
        .unwrap_or(0.0);
        let unit = caps.name("unit").map(|u| u.as_str().to_lowercase());
        let percent = matches!(unit.as_deref(), Some("%" | "percent" | "per cent" | "pct"));
        value *= match unit.as_deref() {
            Some("k" | "thousand") => 1e3,
            Some("m" | "mn" | "million") => 1e6,
            Some("bn" | "b" | "billion") => 1e9,
            _ => 1.0,
        };
        let span = if glued {
            // Char-safe: the character before the word may be several bytes (`“Q3`, `—v2`).
            let start = text[..int.start()]
                .char_indices()
                .rev()
                .find(|(_, c)| !c.is_alphanumeric())
                .map_or(0, |(i, c)| i + c.len_utf8());
            let end = text[int.end()..]
                .find(|c: char| !c.is_alphanumeric())
                .map_or(text.len(), |i| int.end() + i);
            start..end
        } else {
            let raw = whole.as_str();
            let lead = raw.len() - raw.trim_start().len();
            let trail = raw.len() - raw.trim_end().len();
            whole.start() + lead..whole.end() - trail
        };
        // The identifier as written (the word around the digits), or the figure trimmed.
        let raw = text[span.clone()].to_string();
        out.push((
            span,
            Figure {
                raw,
                value,
                percent,
                identifier: glued,
            },
        ));
    }
    for word in WORD_NUMBER.find_iter(text) {
        out.push((
            word.range(),
            Figure {
                raw: word.as_str().to_string(),
                value: word_value(word.as_str()),
                percent: false,
                identifier: false,
            },
        ));
    }
    out
}

/// Whether two figures are the same value (identifiers: the same text).
pub fn same(a: &Figure, b: &Figure) -> bool {
    if a.identifier {
        return a.raw.eq_ignore_ascii_case(&b.raw);
    }
    a.percent == b.percent && (a.value - b.value).abs() <= 1e-9 * a.value.abs().max(1.0)
}

/// The figures of `sentence` that appear in none of `evidence` (as written or as a value).
pub fn unsupported(sentence: &str, evidence: &[&str]) -> Vec<String> {
    let known: Vec<Figure> = evidence.iter().flat_map(|e| figures(e)).collect();
    let mut missing: Vec<String> = figures(sentence)
        .into_iter()
        .filter(|f| !known.iter().any(|k| same(f, k)))
        .map(|f| f.raw)
        .collect();
    missing.dedup();
    missing
}

pub fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3)
        .map(|w| w.to_lowercase().chars().take(5).collect())
        .collect()
}

/// Whether a rephrased text stays with the sentences it was given: in each of its sentences,
/// at least two thirds of the content words come from them (a model that wanders off is
/// inventing, often by appending a sentence of its own to a copied one).
pub fn stays_close(text: &str, source: &str) -> bool {
    let known = content_words(source);
    let sentences = super::star::split_sentences(text);
    !sentences.is_empty()
        && sentences.iter().all(|sentence| {
            let words = content_words(sentence);
            let shared = words.iter().filter(|w| known.contains(w)).count();
            !words.is_empty() && shared * 3 >= words.len() * 2
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sentence: &str, evidence: &str, expected: &[&str]) {
        assert_eq!(
            unsupported(sentence, &[evidence]),
            expected,
            "{sentence} | {evidence}"
        );
    }

    #[test]
    fn figures_match_across_spellings() {
        check(
            "revenue grew by 4.1 million",
            "revenue +4,100,000 this year",
            &[],
        );
        check("cut flakes by 30%", "flaky tests down 30 percent", &[]);
        check("saved $1.2M", "saving 1.2 million dollars", &[]);
        check("in two weeks", "took 2 weeks", &[]);
        check("shipped in Q3", "Q3 launch", &[]);
        check("on 14 March 2025", "2025-03-14: shipped on 14 March", &[]);
    }

    #[test]
    fn invented_figures_are_named() {
        check("cut latency by 45%", "latency fell 40%", &["45%"]);
        check("30 engineers", "30% of engineers", &["30"]);
        check("shipped in Q4", "Q3 launch", &["Q4"]);
        check("mentored five people", "mentored 3 people", &["five"]);
        check("p99 down to 120 ms", "p99 at 120ms", &[]);
    }

    #[test]
    fn identifiers_after_multibyte_characters() {
        // A curly quote, an em dash or a non-breaking space right before the identifier.
        check("Shipped “Q3 launch”", "“Q3 launch” shipped", &[]);
        check("Shipped “Q4 launch”", "“Q3 launch” shipped", &["Q4"]);
        check("API —v2 is out", "v2 of the API", &[]);
        check("grew\u{a0}10x in a year", "a 10x growth", &[]);
        check("«Q3» and ’v2’", "Q3 v2", &[]);
        let raws: Vec<String> = figures("é10x ü v2—Q3…p99")
            .into_iter()
            .map(|f| f.raw)
            .collect();
        assert_eq!(raws, ["é10x", "v2", "Q3", "p99"]);
    }
}
