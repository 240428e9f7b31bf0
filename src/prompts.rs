//! Prompt templates: one Markdown file per task under `prompts/` (front matter, then
//! `# system` and `# user` sections with `{{name}}` placeholders), compiled in and
//! overridable by a file of the same name in the configured `prompts_dir`.

use std::path::Path;

use crate::error::{Error, Result};

const BUILTIN: &[(&str, &str)] = &[
    ("tone-review", include_str!("../prompts/tone-review.md")),
    ("tone-fix", include_str!("../prompts/tone-fix.md")),
    ("star", include_str!("../prompts/star.md")),
    ("map-judge", include_str!("../prompts/map-judge.md")),
];

/// Built-in rewrite styles: `prompts/rewrite/NAME.md`.
pub const BUILTIN_STYLES: &[(&str, &str)] = &[
    ("concise", include_str!("../prompts/rewrite/concise.md")),
    ("confident", include_str!("../prompts/rewrite/confident.md")),
    ("formal", include_str!("../prompts/rewrite/formal.md")),
    ("friendly", include_str!("../prompts/rewrite/friendly.md")),
    ("star", include_str!("../prompts/rewrite/star.md")),
];

/// Every rewrite style name: the built-ins and `NAME.md` files in `user_dir`, sorted.
pub fn rewrite_style_names(user_dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_STYLES.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(entries) = user_dir.and_then(|d| std::fs::read_dir(d).ok()) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                if let Some(stem) = path.file_stem() {
                    names.push(stem.to_string_lossy().into_owned());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The rewrite style `name`: `user_dir/NAME.md` first, then the built-in one.
pub fn rewrite_style(name: &str, user_dir: Option<&Path>) -> Result<Prompt> {
    if let Some(dir) = user_dir {
        if dir.join(format!("{name}.md")).is_file() {
            return Prompt::load(name, Some(dir));
        }
    }
    match BUILTIN_STYLES.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => {
            parse_prompt(name, text, Path::new(&format!("prompts/rewrite/{name}.md")))
        }
        None => Err(Error::Input {
            path: user_dir.map_or_else(|| "prompts/rewrite".into(), Path::to_path_buf),
            message: format!(
                "unknown style `{name}`; available: {}",
                rewrite_style_names(user_dir).join(", ")
            ),
        }),
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub name: String,
    pub system: String,
    pub user: String,
}

fn parse_prompt(name: &str, text: &str, origin: &Path) -> Result<Prompt> {
    let error = |message: &str| Error::Input {
        path: origin.to_path_buf(),
        message: format!("prompt `{name}`: {message}"),
    };
    let body = match text.strip_prefix("---\n") {
        Some(rest) => rest
            .split_once("\n---\n")
            .map(|(_, body)| body)
            .ok_or_else(|| error("front matter is not closed by `---`"))?,
        None => text,
    };
    let (_, after_system) = body
        .split_once("# system\n")
        .ok_or_else(|| error("missing `# system` section"))?;
    let (system, user) = after_system
        .split_once("# user\n")
        .ok_or_else(|| error("missing `# user` section"))?;
    Ok(Prompt {
        name: name.to_string(),
        system: system.trim().to_string(),
        user: user.trim().to_string(),
    })
}

impl Prompt {
    /// Parses a template's text; `origin` names it in errors.
    pub fn parse(name: &str, text: &str, origin: &Path) -> Result<Prompt> {
        parse_prompt(name, text, origin)
    }

    /// The template `name`, from `override_dir` when it has `NAME.md`, else the built-in one.
    pub fn load(name: &str, override_dir: Option<&Path>) -> Result<Prompt> {
        if let Some(dir) = override_dir {
            let path = dir.join(format!("{name}.md"));
            if path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|err| {
                    Error::io(format!("cannot read prompt `{}`", path.display()), err)
                })?;
                return parse_prompt(name, &text, &path);
            }
        }
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::Input {
                path: format!("prompts/{name}.md").into(),
                message: "no such built-in prompt".into(),
            })?;
        parse_prompt(name, text, Path::new(&format!("prompts/{name}.md")))
    }

    /// The user message with `{{key}}` replaced by each value (values are inserted once, so
    /// text inside them that looks like a placeholder is left alone).
    pub fn render_user(&self, values: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(
            self.user.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>(),
        );
        let mut rest = self.user.as_str();
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            match after.find("}}") {
                Some(close) => {
                    let key = after[..close].trim();
                    match values.iter().find(|(k, _)| *k == key) {
                        Some((_, value)) => out.push_str(value),
                        None => out.push_str(&rest[open..open + 2 + close + 2]),
                    }
                    rest = &after[close + 2..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_prompts_parse_and_render_once() {
        for (name, _) in BUILTIN {
            let prompt = Prompt::load(name, None).unwrap();
            assert!(
                !prompt.system.is_empty() && !prompt.user.is_empty(),
                "{name}"
            );
        }
        let prompt = Prompt::load("tone-fix", None).unwrap();
        let rendered = prompt.render_user(&[
            ("problems", "hedging"),
            ("sentence", "I'll try {{problems}}"),
        ]);
        assert!(
            rendered.contains("<sentence>I'll try {{problems}}</sentence>"),
            "{rendered}"
        );
    }

    #[test]
    fn override_dir_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tone-fix.md"),
            "# system\nS\n# user\nU {{sentence}}\n",
        )
        .unwrap();
        let prompt = Prompt::load("tone-fix", Some(dir.path())).unwrap();
        assert_eq!(prompt.render_user(&[("sentence", "x")]), "U x");
    }
}
