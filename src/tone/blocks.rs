//! Checking a document block by block (paragraphs, list items, fenced code, front matter:
//! whatever blank lines outside code and front matter separate), with the findings of every
//! block already seen kept by its text, so an editor that re-checks on each change only pays
//! for the blocks that changed. Sentences never cross a blank line, and rules and classifier
//! judge one sentence (and the next of its paragraph), so checking a block alone finds what
//! checking the whole text finds there; directives and accepted phrases, which reach across
//! blocks, are applied to the whole text afterwards. No I/O beyond the embedder.

use std::collections::HashMap;
use std::ops::Range;

use crate::backends::Embedder;
use crate::error::Result;

use super::{CheckOptions, Finding, LineIndex, RuleSet};

/// The blocks of `source`: byte ranges of runs of non-blank lines (without the last line's
/// newline). A fenced code block or a front-matter block is one block, blank lines and all.
pub fn blocks(source: &str) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut current: Option<Range<usize>> = None;
    // The fence that opened the code block we are in: its character and length.
    let mut fence: Option<(char, usize)> = None;
    let mut front_matter = false;
    let mut offset = 0;
    for (index, raw) in source.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let end = start + line.len();
        let trimmed = line.trim();
        if index == 0 && trimmed == "---" {
            front_matter = true;
        } else if front_matter {
            if trimmed == "---" || trimmed == "..." {
                front_matter = false;
            }
        } else if let Some(open) = fence_of(line) {
            match fence {
                None => fence = Some(open),
                Some((c, n))
                    if open.0 == c
                        && open.1 >= n
                        && line.trim_start()[open.1..].trim().is_empty() =>
                {
                    fence = None
                }
                Some(_) => {}
            }
        } else if fence.is_none() && trimmed.is_empty() {
            blocks.extend(current.take());
            continue;
        }
        match current.as_mut() {
            Some(block) => block.end = end,
            None => current = Some(start..end),
        }
    }
    blocks.extend(current);
    blocks
}

/// A code fence (three or more backticks or tildes, indented at most three spaces).
fn fence_of(line: &str) -> Option<(char, usize)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = rest.len() - rest.trim_start_matches(c).len();
    (n >= 3).then_some((c, n))
}

/// How many blocks a check looked at and how many it had to check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    pub blocks: usize,
    pub checked: usize,
}

/// The findings of the blocks seen so far, by block text, for one set of options (changing the
/// options forgets them). Bounded: past `MAX_BLOCKS` the least recently used half goes.
#[derive(Debug, Default)]
pub struct BlockChecker {
    /// Block text → (last check that used it, findings with offsets from the block's start).
    seen: HashMap<String, (u64, Vec<Finding>)>,
    options: Option<(super::InputKind, String, bool)>,
    tick: u64,
}

const MAX_BLOCKS: usize = 20_000;

impl BlockChecker {
    /// The findings of `source`, as `classifier::check_default` gives them for the whole text.
    pub fn check(
        &mut self,
        rules: &RuleSet,
        embedder: Option<&dyn Embedder>,
        source: &str,
        options: &CheckOptions,
    ) -> Result<(Vec<Finding>, Checked)> {
        let key = (options.kind, options.profile.clone(), embedder.is_some());
        if self.options.as_ref() != Some(&key) {
            self.seen.clear();
            self.options = Some(key);
        }
        self.tick += 1;
        let block_options = CheckOptions {
            allow: Vec::new(),
            ..options.clone()
        };
        let mut findings = Vec::new();
        let mut checked = Checked::default();
        for block in blocks(source) {
            checked.blocks += 1;
            let text = &source[block.clone()];
            let found = match self.seen.get_mut(text) {
                Some((used, found)) => {
                    *used = self.tick;
                    found.clone()
                }
                None => {
                    checked.checked += 1;
                    let found =
                        super::classifier::check_default(rules, embedder, text, &block_options)?;
                    self.seen
                        .insert(text.to_string(), (self.tick, found.clone()));
                    found
                }
            };
            findings.extend(found.into_iter().map(|mut f| {
                f.start += block.start;
                f.end += block.start;
                f
            }));
        }
        if self.seen.len() > MAX_BLOCKS {
            let mut ticks: Vec<u64> = self.seen.values().map(|(t, _)| *t).collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 2];
            self.seen.retain(|_, (t, _)| *t > cut || *t == self.tick);
        }
        let lines = LineIndex::new(source);
        for finding in &mut findings {
            (finding.line, finding.column) = lines.position(finding.start);
        }
        let findings = super::apply_allow(
            source,
            super::apply_directives(source, findings),
            &options.allow,
        );
        Ok((findings, checked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<&str> {
        blocks(source).into_iter().map(|r| &source[r]).collect()
    }

    #[test]
    fn blank_lines_outside_code_and_front_matter_separate_blocks() {
        assert_eq!(
            texts("---\ntitle: x\n\nmore: y\n---\nFirst line.\nSecond.\n\n\n- item\n\n```\ncode\n\nstill code\n```\nLast.\r\n"),
            vec![
                "---\ntitle: x\n\nmore: y\n---\nFirst line.\nSecond.",
                "- item",
                "```\ncode\n\nstill code\n```\nLast.",
            ]
        );
        assert_eq!(texts(""), Vec::<&str>::new());
        assert_eq!(texts("\n\n  \n"), Vec::<&str>::new());
        assert_eq!(
            texts("~~~~\n```\n\n~~~\n\nstill\n~~~~\n\nout"),
            vec!["~~~~\n```\n\n~~~\n\nstill\n~~~~", "out"]
        );
    }

    #[test]
    fn a_block_checker_finds_what_a_whole_check_finds_and_rechecks_only_changed_blocks() {
        let rules = RuleSet::load(&[]).unwrap();
        let options = CheckOptions::default();
        let source = "Maybe we ship on Friday.\n\nI'm so sorry for the delay.\n<!-- starling-disable-next-line hedging -->\nI guess it works.\n\nThe plan is fine.\n";
        let whole =
            super::super::classifier::check_default(&rules, None, source, &options).unwrap();
        let mut checker = BlockChecker::default();
        let (found, checked) = checker.check(&rules, None, source, &options).unwrap();
        assert_eq!(found, whole);
        assert_eq!(
            checked,
            Checked {
                blocks: 3,
                checked: 3
            }
        );
        let edited = source.replace("The plan is fine.", "It was kind of late.");
        let (found, checked) = checker.check(&rules, None, &edited, &options).unwrap();
        assert_eq!(
            checked,
            Checked {
                blocks: 3,
                checked: 1
            }
        );
        assert_eq!(
            found,
            super::super::classifier::check_default(&rules, None, &edited, &options).unwrap()
        );
        assert!(found.iter().any(|f| f.text == "kind of"));
        assert!(
            !found.iter().any(|f| f.text == "I guess"),
            "the directive still holds"
        );
    }
}
