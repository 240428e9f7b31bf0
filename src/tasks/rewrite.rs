//! Rewriting a Markdown draft in a style, block by block: only prose (paragraphs and list
//! items' own text) goes to the model; front matter, headings, code, tables, quotes and HTML
//! come out byte for byte. Links, wikilinks, inline code and URLs are masked as `⟦n⟧` before
//! the model sees a block and restored after; a rewrite that loses a mask, changes a figure
//! or comments instead of rewriting is refused and the block kept. No I/O.

use std::ops::Range;
use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use regex::Regex;

use super::facts;
use crate::backends::{GenerateRequest, Generator, Sampling};
use crate::error::Result;
use crate::prompts::Prompt;

/// A span of the document that may be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProseBlock {
    pub range: Range<usize>,
    /// 1-based line of the block's start.
    pub line: usize,
}

/// Where the body starts: after YAML front matter, if any.
fn body_start(text: &str) -> usize {
    let Some(rest) = text.strip_prefix("---\n") else {
        return 0;
    };
    let mut offset = 4;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end() == "---" || line.trim_end() == "..." {
            return offset;
        }
    }
    0 // unclosed: not front matter
}

/// The prose blocks of `text`: top-level paragraphs and each list item's own text (without
/// its marker or nested items). Everything else is left out, and so left alone.
pub fn prose_blocks(text: &str) -> Vec<ProseBlock> {
    let start = body_start(text);
    let body = &text[start..];
    let mut blocks = Vec::new();
    // Containers that keep their content as is.
    let mut frozen = 0usize;
    let mut depth_list = 0usize;
    // (span start, span end) of the inline content of the current paragraph or item.
    let mut current: Option<Range<usize>> = None;
    let mut in_block = 0usize;
    let push = |blocks: &mut Vec<ProseBlock>, range: Option<Range<usize>>| {
        if let Some(range) = range {
            let trimmed = body[range.clone()].trim_end();
            if trimmed.chars().any(char::is_alphabetic) {
                let range = start + range.start..start + range.start + trimmed.len();
                let line = text[..range.start].matches('\n').count() + 1;
                blocks.push(ProseBlock { range, line });
            }
        }
    };
    for (event, range) in Parser::new_ext(
        body,
        Options::ENABLE_TABLES
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_FOOTNOTES,
    )
    .into_offset_iter()
    {
        match event {
            Event::Start(
                Tag::Table(_)
                | Tag::CodeBlock(_)
                | Tag::BlockQuote(_)
                | Tag::HtmlBlock
                | Tag::Heading { .. }
                | Tag::FootnoteDefinition(_)
                | Tag::MetadataBlock(_),
            ) => frozen += 1,
            Event::End(
                TagEnd::Table
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::HtmlBlock
                | TagEnd::Heading(_)
                | TagEnd::FootnoteDefinition
                | TagEnd::MetadataBlock(_),
            ) => frozen = frozen.saturating_sub(1),
            Event::Start(Tag::List(_)) => {
                // A nested list ends the parent item's own text.
                push(&mut blocks, current.take());
                depth_list += 1;
            }
            Event::End(TagEnd::List(_)) => depth_list = depth_list.saturating_sub(1),
            Event::Start(Tag::Item) => {
                push(&mut blocks, current.take());
                in_block += 1;
            }
            Event::End(TagEnd::Item) => {
                push(&mut blocks, current.take());
                in_block = in_block.saturating_sub(1);
            }
            Event::Start(Tag::Paragraph) => {
                if depth_list == 0 {
                    push(&mut blocks, current.take());
                }
                in_block += 1;
            }
            Event::End(TagEnd::Paragraph) => {
                if depth_list == 0 {
                    push(&mut blocks, current.take());
                }
                in_block = in_block.saturating_sub(1);
            }
            Event::TaskListMarker(_) => {
                // Keep `[ ]` out of the span: the rewrite starts after it.
                if let Some(current) = &mut current {
                    current.start = range.end;
                }
            }
            _ if frozen == 0 && in_block > 0 => {
                let inline = matches!(
                    event,
                    Event::Text(_)
                        | Event::Code(_)
                        | Event::Start(_)
                        | Event::End(_)
                        | Event::SoftBreak
                        | Event::HardBreak
                        | Event::InlineHtml(_)
                        | Event::FootnoteReference(_)
                );
                if inline {
                    current = Some(match current.take() {
                        Some(span) => span.start..range.end.max(span.end),
                        None => range.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    push(&mut blocks, current.take());
    blocks
}

static PROTECTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"!?\[\[[^\]]*\]\]|!?\[[^\]]*\]\([^)]*\)|`[^`]*`|https?://\S+|\[\^[^\]]+\]|<[^>\s]+>",
    )
    .expect("protected pattern")
});

/// A block with its links, code and URLs replaced by `⟦1⟧`, `⟦2⟧`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    pub tokens: Vec<String>,
}

pub fn mask(text: &str) -> Masked {
    let mut tokens = Vec::new();
    let masked = PROTECTED.replace_all(text, |caps: &regex::Captures| {
        tokens.push(caps[0].to_string());
        format!("⟦{}⟧", tokens.len())
    });
    Masked {
        text: masked.split_whitespace().collect::<Vec<_>>().join(" "),
        tokens,
    }
}

/// Puts the masked pieces back; `Err` when one is missing or repeated.
pub fn unmask(rewritten: &str, masked: &Masked) -> std::result::Result<String, String> {
    let mut out = rewritten.to_string();
    for (index, token) in masked.tokens.iter().enumerate() {
        let mark = format!("⟦{}⟧", index + 1);
        match out.matches(&mark).count() {
            1 => out = out.replace(&mark, token),
            0 => return Err(format!("it dropped `{token}`")),
            _ => return Err(format!("it repeated `{token}`")),
        }
    }
    if out.contains('⟦') {
        return Err("it invented a placeholder".into());
    }
    Ok(out)
}

/// Cleans the model's reply and checks it keeps to the block: no commentary, no figure added
/// or dropped, every masked piece back in place, one paragraph.
pub fn accept(before: &Masked, original: &str, raw: &str) -> std::result::Result<String, String> {
    // Small models go on after the rewrite ("Here's why..."): the first paragraph is the answer.
    let first = raw.trim().split("\n\n").next().unwrap_or_default();
    let mut text = first
        .trim()
        .trim_matches(['"', '“', '”'])
        .trim()
        .to_string();
    for prefix in [
        "Here is the rewritten text:",
        "Here's the rewritten text:",
        "Rewritten:",
        "Rewrite:",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest.trim().to_string();
        }
    }
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // A marker the model quoted ("⟦1⟧") is still the marker.
    for index in 1..=before.tokens.len() {
        let mark = format!("⟦{index}⟧");
        for quoted in [format!("\"{mark}\""), format!("“{mark}”")] {
            text = text.replace(&quoted, &mark);
        }
    }
    if text.is_empty() {
        return Err("the model returned nothing".into());
    }
    if text.len() > before.text.len() * 2 + 60 {
        return Err("the rewrite is far longer than the original".into());
    }
    // Small models wrap the rewrite in chatter of their own ("I'm so glad to hear..."): keep
    // only the sentences that stay with the block's words.
    let close: Vec<String> = super::star::split_sentences(&text)
        .into_iter()
        .filter(|sentence| facts::stays_close(sentence, &before.text))
        .collect();
    if close.is_empty() {
        return Err("the rewrite says things the original does not".into());
    }
    let text = close.join(" ");
    let lower = text.to_lowercase();
    let original_lower = original.to_lowercase();
    for meta in [
        "rewritten",
        "rewrite",
        "this text",
        "the original",
        "as an ai",
        "i cannot",
    ] {
        if lower.contains(meta) && !original_lower.contains(meta) {
            return Err(format!(
                "the model commented (\"{meta}\") instead of rewriting"
            ));
        }
    }
    if squash_punctuation(&text) == squash_punctuation(&before.text) {
        return Err("the model changed nothing but punctuation".into());
    }
    let quotes = |t: &str| t.matches(['“', '”', '"']).count();
    if quotes(&text) != quotes(&before.text) {
        return Err("the rewrite breaks the quotation marks".into());
    }
    // Meaning stays: the rewrite keeps at least half of the block's words.
    let kept = facts::content_words(&before.text);
    let after = facts::content_words(&text);
    if kept.iter().filter(|w| after.contains(w)).count() * 2 < kept.len() {
        return Err("the rewrite drops most of what the original says".into());
    }
    let restored = unmask(&text, before)?;
    let added = facts::unsupported(&restored, &[original]);
    if !added.is_empty() {
        return Err(format!("the rewrite adds {}", added.join(", ")));
    }
    let dropped = facts::unsupported(original, &[&restored]);
    if !dropped.is_empty() {
        return Err(format!("the rewrite drops {}", dropped.join(", ")));
    }
    Ok(restored)
}

/// The words of a block without leading bullets or opening quotes (`• “`) and without the
/// closing quotes after its last sentence mark.
pub fn core_range(block: &str) -> Range<usize> {
    let start = block
        .char_indices()
        .find(|(_, c)| c.is_alphanumeric() || matches!(c, '⟦' | '[' | '`' | '*' | '_' | '('))
        .map_or(0, |(i, _)| i);
    let end = block
        .trim_end_matches(['”', '"', '’', '\'', ' ', '»'])
        .len()
        .max(start);
    start..end
}

fn squash_punctuation(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What happened to one block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BlockOutcome {
    pub line: usize,
    pub rewritten: bool,
    /// Why the block was kept, when it was.
    pub note: Option<String>,
}

/// The rewritten document and what happened to each block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub text: String,
    pub blocks: Vec<BlockOutcome>,
    pub tokens_generated: usize,
}

/// Options for one document.
#[derive(Debug, Clone)]
pub struct RewriteOptions {
    pub instructions: Option<String>,
    pub sampling: Sampling,
    /// Blocks longer than this many bytes are kept as they are (a call must fit the context).
    pub max_block_bytes: usize,
}

/// Rewrites `text` block by block; `on_block(done, total)` reports progress.
pub fn rewrite(
    generator: &dyn Generator,
    style: &Prompt,
    text: &str,
    options: &RewriteOptions,
    on_block: &mut dyn FnMut(usize, usize),
) -> Result<Rewritten> {
    let blocks = prose_blocks(text);
    let instructions = options.instructions.as_deref().unwrap_or("none");
    // Each block's words and its call; the calls run side by side (`Generator::parallel`).
    let work: Vec<(std::ops::Range<usize>, Masked, Option<GenerateRequest>)> = blocks
        .iter()
        .map(|block| {
            // Bullets and quotation marks around the words stay as they are; the model sees the words.
            let core = core_range(&text[block.range.clone()]);
            let range = block.range.start + core.start..block.range.start + core.end;
            let masked = mask(&text[range.clone()]);
            let request = (range.len() <= options.max_block_bytes).then(|| GenerateRequest {
                system: Some(style.system.clone()),
                prompt: style
                    .render_user(&[("text", &masked.text), ("instructions", instructions)]),
                sampling: Sampling {
                    max_tokens: (masked.text.len() as u32 / 2).clamp(64, 768),
                    stop: vec!["\n\n".into()],
                    ..options.sampling.clone()
                },
                json_schema: None,
                cancel: None,
            });
            (range, masked, request)
        })
        .collect();
    on_block(0, blocks.len());
    let replies = super::in_parallel_with_progress(
        generator.parallel(),
        &work,
        |(_, _, request)| {
            request
                .as_ref()
                .map(|request| generator.generate(request, &mut |_| {}))
        },
        &mut |done| {
            if done < blocks.len() {
                on_block(done, blocks.len());
            }
        },
    );
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut outcomes = Vec::new();
    let mut tokens_generated = 0;
    for ((block, (range, masked, _)), reply) in blocks.iter().zip(&work).zip(replies) {
        let original = &text[range.clone()];
        out.push_str(&text[last..range.start]);
        last = range.end;
        let outcome = match reply {
            None => Err(format!("longer than {} bytes", options.max_block_bytes)),
            Some(generation) => {
                let generation = generation?;
                tokens_generated += generation.n_generated_tokens;
                tracing::debug!(line = block.line, reply = %generation.text, "rewrite reply");
                accept(masked, original, &generation.text)
            }
        };
        match outcome {
            Ok(rewritten) => {
                out.push_str(&rewritten);
                outcomes.push(BlockOutcome {
                    line: block.line,
                    rewritten: true,
                    note: None,
                });
            }
            Err(why) => {
                out.push_str(original);
                outcomes.push(BlockOutcome {
                    line: block.line,
                    rewritten: false,
                    note: Some(why),
                });
            }
        }
    }
    out.push_str(&text[last..]);
    on_block(blocks.len(), blocks.len());
    Ok(Rewritten {
        text: out,
        blocks: outcomes,
        tokens_generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prose(text: &str) -> Vec<&str> {
        prose_blocks(text)
            .iter()
            .map(|b| &text[b.range.clone()])
            .collect()
    }

    #[test]
    fn only_prose_is_offered_for_rewriting() {
        let text = "---\ntitle: Draft\n---\n# Heading stays\n\nI kind of led the [[billing]] work.\n\n- [x] Shipped it `fast`\n- Wrote docs\n  - nested detail\n\n| a | b |\n|---|---|\n| keep | me |\n\n```\ncode stays\n```\n\n> quoted stays\n";
        assert_eq!(
            prose(text),
            [
                "I kind of led the [[billing]] work.",
                "Shipped it `fast`",
                "Wrote docs",
                "nested detail"
            ]
        );
        assert_eq!(prose_blocks(text)[0].line, 6);
    }

    #[test]
    fn bullets_and_quotes_stay_outside_the_words() {
        let block = "• “I believe this is not accurate.”";
        assert_eq!(&block[core_range(block)], "I believe this is not accurate.");
        assert_eq!(&"plain"[core_range("plain")], "plain");
    }

    #[test]
    fn masks_survive_or_the_rewrite_is_refused() {
        let original = "I just led the [billing](https://x.y/b) move per [[rfc#Plan|the RFC]] with `cargo` in 3 weeks.";
        let masked = mask(original);
        assert_eq!(
            masked.text,
            "I just led the ⟦1⟧ move per ⟦2⟧ with ⟦3⟧ in 3 weeks."
        );
        assert_eq!(
            accept(&masked, original, "I led the ⟦1⟧ move per ⟦2⟧ with ⟦3⟧ in 3 weeks."),
            Ok("I led the [billing](https://x.y/b) move per [[rfc#Plan|the RFC]] with `cargo` in 3 weeks.".to_string())
        );
        assert!(accept(
            &masked,
            original,
            "I led the move per ⟦2⟧ with ⟦3⟧ in 3 weeks."
        )
        .unwrap_err()
        .contains("dropped"));
        assert!(accept(
            &masked,
            original,
            "I led the ⟦1⟧ move per ⟦2⟧ with ⟦3⟧ in 2 weeks."
        )
        .unwrap_err()
        .contains("2"));
        assert!(accept(
            &masked,
            original,
            "Here is a rewrite of the original: ⟦1⟧ ⟦2⟧ ⟦3⟧ 3"
        )
        .is_err());
    }
}
