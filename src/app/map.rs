//! The evidence map of a career-ladder rubric: `starling map`, `POST /v1/map`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_date, parse_rubric, Context};
use crate::backends::{Generator, Sampling, SearchFilter};
use crate::error::Result;
use crate::prompts::Prompt;
use crate::tasks::map::{self, JudgmentCache, Map, MapOptions, MapReport};
use crate::tasks::rubric;

/// How the map is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MapFormat {
    /// The map as JSON.
    #[default]
    Json,
    /// `{"report": MARKDOWN}`.
    Md,
    /// `{"report": HTML}`: one self-contained page.
    Html,
}

/// The most candidates judged per item.
pub const MAX_K: usize = 20;

/// A rubric to map.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapRequest {
    /// The rubric: Markdown (sections and bullets, or a table), or TOML / YAML when
    /// `rubric_name` ends so.
    #[schema(pattern = r"[^\s\u0085]")]
    pub rubric: String,
    /// The rubric's file name: its format by extension, and its title when it has none.
    pub rubric_name: Option<String>,
    pub format: Option<MapFormat>,
    /// Judge by calibrated similarity instead of the model (deterministic).
    #[serde(default)]
    pub no_model: bool,
    /// Candidate passages judged per item (default 5, at most 20).
    #[schema(minimum = 0, maximum = 20)]
    pub k: Option<usize>,
    #[schema(format = Date)]
    pub since: Option<String>,
    #[schema(format = Date)]
    pub until: Option<String>,
}

impl MapRequest {
    /// The rubric, parsed (its name decides the format).
    pub fn rubric(&self) -> Result<rubric::Rubric> {
        parse_rubric(&self.rubric, self.rubric_name.as_deref())
    }

    pub fn options(&self) -> Result<MapOptions> {
        check_date("since", &self.since)?;
        check_date("until", &self.until)?;
        if self.k.is_some_and(|k| k > MAX_K) {
            return Err(crate::error::Error::invalid(
                "k",
                format!("at most {MAX_K}"),
            ));
        }
        Ok(MapOptions {
            k: self.k.unwrap_or(5).clamp(1, MAX_K),
            filter: SearchFilter::notes(&None, &self.since, &self.until),
        })
    }
}

/// Maps `rubric` (parsed from the request) with the model as judge when one is given;
/// judgments come from and go to `cache`.
pub fn run(
    ctx: &Context,
    generator: Option<&dyn Generator>,
    rubric: &rubric::Rubric,
    request: &MapRequest,
    cache: &mut JudgmentCache,
) -> Result<Map> {
    let prompt = Prompt::load("map-judge", ctx.config.prompts_dir.as_deref())?;
    let sampling = Sampling::greedy(ctx.config.generator.seed);
    map::run(
        ctx.embedder,
        ctx.store,
        generator.map(|g| (g, &prompt, &sampling)),
        rubric,
        &request.options()?,
        cache,
    )
}

/// The answer: the map, or (`md`, `html`) the report as text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MapAnswer {
    Map(MapReport),
    Rendered {
        /// The Markdown or HTML report.
        report: String,
    },
}

/// The answer in the request's format.
pub fn answer(map: &Map, format: MapFormat) -> MapAnswer {
    match format {
        MapFormat::Json => MapAnswer::Map(map.report()),
        MapFormat::Md => MapAnswer::Rendered {
            report: map.to_markdown(),
        },
        MapFormat::Html => MapAnswer::Rendered {
            report: map.to_html(),
        },
    }
}
