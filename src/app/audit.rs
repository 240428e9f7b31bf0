//! The achievement claims of a draft checked against the notes: `starling audit`,
//! `POST /v1/audit`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_date, Context};
use crate::backends::SearchFilter;
use crate::error::Result;
use crate::tasks::audit::{self, Claim, Counts};
use crate::tone::InputKind;

/// A draft to audit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    pub text: String,
    /// Only notes under this folder or file (relative to the note root).
    pub path: Option<String>,
    #[schema(format = Date)]
    pub since: Option<String>,
    #[schema(format = Date)]
    pub until: Option<String>,
    /// Accepted as the command line's `--no-model` is: the audit never uses the model.
    #[serde(default)]
    pub no_model: bool,
    /// The draft's file, when it is one: a `.txt` name is read as plain text, and the absolute
    /// path of an indexed note keeps the draft from being its own evidence. Nothing is read
    /// from it.
    pub name: Option<String>,
}

/// The claims of one draft. The JSON field names are a contract (`audit --format json`,
/// `/v1/audit`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditReport {
    /// The path as given, or `-`.
    pub file: String,
    pub claims: Vec<Claim>,
    pub summary: Counts,
    /// Notes left out as evidence, and why: a note that holds this draft itself (the draft
    /// indexed under another path, or sent without its path) is never its own evidence.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl AuditRequest {
    pub fn check(&self) -> Result<()> {
        check_date("since", &self.since)?;
        check_date("until", &self.until)
    }

    pub fn filter(&self) -> SearchFilter {
        SearchFilter::notes(&self.path, &self.since, &self.until)
    }
}

/// Audits `request.text`.
pub fn run(ctx: &Context, request: &AuditRequest) -> Result<AuditReport> {
    request.check()?;
    let name = request.name.as_deref();
    let kind = name.map_or(InputKind::Markdown, |n| InputKind::for_path(Path::new(n)));
    let source = name
        .filter(|n| Path::new(n).is_absolute())
        .map(String::from);
    let read = crate::services::note_reader(ctx.config);
    let audited = audit::audit(
        ctx.embedder,
        ctx.store,
        &audit::Draft {
            source: &request.text,
            kind,
            file: source,
        },
        &request.filter(),
        &audit::Settings::default(),
        &read,
    )?;
    Ok(AuditReport {
        file: name.unwrap_or("-").to_string(),
        summary: audit::counts(&audited.claims),
        claims: audited.claims,
        warnings: audited.warnings,
    })
}
