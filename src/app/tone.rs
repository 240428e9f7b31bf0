//! The tone check of one text, with the model's review (`deep`) and its fix loop (`fix`) when
//! asked: `starling tone`, `POST /v1/tone`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::backends::{Generator, Sampling};
use crate::error::{Error, Result};
use crate::prompts::Prompt;
use crate::tasks::tone as tone_task;
use crate::tone::tokens::Vocabulary;
use crate::tone::{self, classifier, counts, Category, CheckOptions, Finding, InputKind, RuleSet};

/// A text to check.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToneRequest {
    pub text: String,
    /// A profile of the loaded rule set (default: tone.profile).
    pub profile: Option<String>,
    /// Add the model's review of each passage.
    #[serde(default)]
    pub deep: bool,
    /// Let the model rewrite the sentences with findings (each rewrite checked again; the
    /// answer's `fix` holds the new text, the diff and every change, kept or not).
    #[serde(default)]
    pub fix: bool,
}

/// One finding, naming its file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileFinding {
    pub file: String,
    #[serde(flatten)]
    pub finding: Finding,
}

/// What the fix loop changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToneFix {
    pub file: String,
    /// A unified diff of the text before and after.
    pub diff: String,
    /// Every sentence the loop touched, accepted or kept as it was (with why).
    pub changes: Vec<tone_task::SentenceFix>,
    pub findings_before: usize,
    pub findings_after: usize,
    /// The text after the accepted changes.
    pub text: String,
    /// Where the original was saved when the command line wrote the file in place.
    #[schema(value_type = Option<String>)]
    pub backup: Option<std::path::PathBuf>,
}

/// The findings in one text. The JSON field names are a contract (`tone --format json`,
/// `/v1/tone`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToneReport {
    /// The path as given, or `-` for a text without one.
    pub file: String,
    pub findings: Vec<FileFinding>,
    /// Findings per category.
    pub counts: BTreeMap<Category, usize>,
    /// What the model's review could not do (a passage it answered out of form).
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<ToneFix>,
}

impl ToneReport {
    pub fn new(file: &str, findings: &[Finding]) -> Self {
        ToneReport {
            file: file.to_string(),
            findings: findings
                .iter()
                .map(|f| FileFinding {
                    file: file.to_string(),
                    finding: f.clone(),
                })
                .collect(),
            counts: counts(findings),
            warnings: Vec::new(),
            fix: None,
        }
    }
}

/// What a check runs with: the rules, the learned layer's tokenizer (none: the rules alone) and
/// the model (needed for `deep` and `fix`).
pub struct Checker<'a> {
    pub rules: &'a RuleSet,
    pub vocabulary: Option<&'a Vocabulary>,
    pub generator: Option<&'a dyn Generator>,
    pub prompts_dir: Option<&'a Path>,
    pub sampling: Sampling,
    /// tone.profile, for a request that names none.
    pub profile: String,
    /// tone.allow.
    pub allow: Vec<String>,
}

/// The findings in a text, the model's fix when asked.
pub struct Checked {
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
    pub fix: Option<ToneFix>,
}

impl Checker<'_> {
    /// The profile a request asks for, known to the rule set.
    pub fn profile(&self, request: &ToneRequest) -> Result<String> {
        let profile = request
            .profile
            .clone()
            .unwrap_or_else(|| self.profile.clone());
        if profile != "default" && !self.rules.profile_names().contains(&profile) {
            return Err(Error::invalid(
                "profile",
                format!(
                    "unknown profile `{profile}`; use one of {}",
                    self.rules.profile_names().join(", ")
                ),
            ));
        }
        Ok(profile)
    }

    /// Checks `request.text` (named `file`, read as `kind`).
    pub fn check(&self, request: &ToneRequest, file: &str, kind: InputKind) -> Result<Checked> {
        let options = CheckOptions {
            kind,
            profile: self.profile(request)?,
            allow: self.allow.clone(),
        };
        let text = &request.text;
        let mut findings = classifier::check_default(self.rules, self.vocabulary, text, &options)?;
        let mut warnings = Vec::new();
        let generator =
            match self.generator {
                Some(generator) => generator,
                None if request.deep || request.fix => return Err(Error::Generation(
                    "the tone review and fix need the model; load one or leave out deep and fix"
                        .into(),
                )),
                None => {
                    return Ok(Checked {
                        findings,
                        warnings,
                        fix: None,
                    })
                }
            };
        if request.deep {
            let prompt = Prompt::load("tone-review", self.prompts_dir)?;
            let review =
                tone_task::deep_review(generator, &prompt, text, kind, &findings, &self.sampling)?;
            warnings = review.warnings;
            findings = tone::merge(findings, review.findings);
        }
        let mut fix = None;
        if request.fix {
            let prompt = Prompt::load("tone-fix", self.prompts_dir)?;
            let (new_text, changes) =
                tone_task::fix(generator, &prompt, text, kind, &findings, &self.sampling)?;
            let after = self
                .rules
                .check(&new_text, &options)
                .map_err(|message| Error::invalid("text", message))?;
            let diff = similar::TextDiff::from_lines(text.as_str(), new_text.as_str())
                .unified_diff()
                .header(file, &format!("{file} (fixed)"))
                .to_string();
            fix = Some(ToneFix {
                file: file.to_string(),
                diff,
                changes,
                findings_before: findings.len(),
                findings_after: after.len(),
                text: new_text,
                backup: None,
            });
        }
        Ok(Checked {
            findings,
            warnings,
            fix,
        })
    }
}
