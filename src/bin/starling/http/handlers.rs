//! Starling's own endpoints. Requests are named like the CLI's flags and answered with the
//! CLI's `--json` shapes; `"stream": true` answers generate, star and rewrite with server-sent
//! events (`token` events, then one `done` event holding the full answer).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use starling::backends::tap::{Interruptible, Tap};
use starling::backends::{GenerateRequest, Generator, Sampling, SearchFilter, SearchMode};
use starling::notes::index::{index as run_index, IndexOptions};
use starling::notes::loading::path_under_roots;
use starling::notes::retrieve;
use starling::prompts::Prompt;
use starling::structured::generate_json;
use starling::tasks::{audit, map, rewrite as rewrite_task, rubric, star, tone as tone_task};
use starling::tone::report::{render_json, FileReport};
use starling::tone::{self, CheckOptions, InputKind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{blocking, ApiError, AppState, JsonBody};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

pub async fn status(
    State(state): State<AppState>,
) -> Result<Json<starling::app::status::StatusReport>, ApiError> {
    let engines = state.engines.clone();
    blocking(&state, None, move || {
        Ok(Json(starling::app::status::status(&engines.config)?))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    #[serde(default)]
    paths: Vec<PathBuf>,
}

pub async fn index(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<IndexBody>,
) -> Result<Json<Value>, ApiError> {
    let engines = state.engines.clone();
    // A timeout or a client that leaves stops the embedding at its next batch; what was
    // committed before stays, so the next request goes on from there.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    blocking(&state, Some(cancel), move || {
        // The server indexes its configured roots, whole: a path sent here must lie under one
        // of them (after canonicalisation), and only says what to bring up to date; a run over
        // fewer roots would drop the others' notes from the index.
        let roots = engines.config.notes.paths.clone();
        if roots.is_empty() {
            return Err(ApiError::bad_request(
                "`paths`: the server has no note roots; stop it, run `starling index PATH` once, and start it again",
            ));
        }
        for path in &request.paths {
            if path_under_roots(path, &roots).is_none() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "`paths`: `{}` is not a file or folder under a note root of this server; send a path under {}, or stop the server and run `starling index PATH`",
                        path.display(),
                        roots
                            .iter()
                            .map(|r| format!("`{}`", r.display()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let _one_at_a_time = engines.indexing.lock().unwrap_or_else(|p| p.into_inner());
        let report = run_index(
            &roots,
            &engines.notes.state_path,
            &Interruptible::new(&engines.embedder, flag),
            &engines.notes.store,
            &IndexOptions {
                max_file_bytes: engines.config.notes.max_file_bytes,
            },
            &mut |_, _, _| {},
        )?;
        Ok(Json(
            serde_json::to_value(report).expect("report serialises"),
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    query: String,
    #[serde(default = "default_k")]
    k: usize,
    path: Option<String>,
    tag: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(default)]
    mode: SearchMode,
}

fn default_k() -> usize {
    8
}

fn check_date(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(date)
            if date.len() != 10 || starling::notes::markdown::days_since_epoch(date).is_none() =>
        {
            Err(ApiError::bad_request(format!(
                "`{field}`: use YYYY-MM-DD, e.g. 2025-01-31"
            )))
        }
        _ => Ok(()),
    }
}

pub async fn search(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SearchBody>,
) -> Result<Json<Value>, ApiError> {
    if request.query.trim().is_empty() {
        return Err(ApiError::bad_request("`query` is empty"));
    }
    if request.k == 0 || request.k > 200 {
        return Err(ApiError::bad_request("`k` must be between 1 and 200"));
    }
    check_date("since", &request.since)?;
    check_date("until", &request.until)?;
    let engines = state.engines.clone();
    blocking(&state, None, move || {
        let hits = retrieve::search(
            &engines.embedder,
            &engines.notes.store,
            &retrieve::Request {
                text: request.query,
                k: request.k,
                filter: SearchFilter {
                    path_prefix: request.path,
                    tag: request.tag,
                    since: request.since,
                    until: request.until,
                },
                mode: request.mode,
            },
        )?;
        Ok(Json(Value::Array(
            hits.iter()
                .map(starling::notes::retrieve::hit_json)
                .collect(),
        )))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditBody {
    text: String,
    path: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Accepted as the CLI's `--no-model` is: the audit never uses the model.
    #[serde(default)]
    #[allow(dead_code)]
    no_model: bool,
}

/// The claims of a draft checked against the notes (as `starling audit - --format json`).
pub async fn audit(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<AuditBody>,
) -> Result<Json<Value>, ApiError> {
    check_date("since", &request.since)?;
    check_date("until", &request.until)?;
    let engines = state.engines.clone();
    // Embedding every claim and its note lines is CPU for as long as it runs: a work slot, and
    // a timeout or a client that leaves stops it at the next batch.
    let work = state.work_slot()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    blocking(&state, Some(cancel), move || {
        let _permit = work;
        let embedder = Interruptible::new(&engines.embedder, flag);
        let read = starling::services::note_reader(&engines.config);
        let claims = audit::audit(
            &embedder,
            &engines.notes.store,
            &audit::Draft {
                source: &request.text,
                kind: InputKind::Markdown,
                file: None,
            },
            &starling::backends::SearchFilter::notes(&request.path, &request.since, &request.until),
            &audit::Settings::default(),
            &read,
        )?;
        Ok(Json(json!({
            "file": "-",
            "claims": claims,
            "summary": starling::tasks::audit::counts(&claims),
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToneBody {
    text: String,
    profile: Option<String>,
    #[serde(default)]
    deep: bool,
}

pub async fn tone(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ToneBody>,
) -> Result<Json<Value>, ApiError> {
    let engines = state.engines.clone();
    let profile = request
        .profile
        .clone()
        .unwrap_or_else(|| engines.config.tone.profile.clone());
    if profile != "default" && !engines.rules.profile_names().contains(&profile) {
        return Err(ApiError::bad_request(format!(
            "`profile`: unknown profile `{profile}`; use one of {}",
            engines.rules.profile_names().join(", ")
        )));
    }
    // Rules never wait for the model; --deep takes a model slot. Every check takes a work
    // slot: a large body is CPU and memory for as long as it runs.
    let work = state.work_slot()?;
    let permit = if request.deep {
        Some(state.model_slot()?)
    } else {
        None
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    blocking(&state, Some(cancel), move || {
        let _permits = (work, permit);
        let options = CheckOptions {
            kind: InputKind::Markdown,
            profile,
            allow: engines.config.tone.allow.clone(),
        };
        // A timeout or a client that leaves stops the embedding at its next batch.
        let embedder = Interruptible::new(&engines.embedder, flag.clone());
        let mut findings = tone::classifier::check_default(
            &engines.rules,
            Some(&embedder),
            &request.text,
            &options,
        )?;
        let mut warnings = Vec::new();
        if request.deep {
            let prompt = Prompt::load("tone-review", engines.config.prompts_dir.as_deref())?;
            let tap = Tap::new(engines.generator.as_ref(), flag, |_| {});
            let review = tone_task::deep_review(
                &tap,
                &prompt,
                &request.text,
                InputKind::Markdown,
                &findings,
                &Sampling::greedy(engines.config.generator.seed),
            )?;
            warnings = review.warnings;
            findings = tone::merge(findings, review.findings);
        }
        let report = FileReport {
            file: "-".into(),
            source: request.text,
            findings,
        };
        let mut value = render_json(&[report])[0].take();
        value["warnings"] = json!(warnings);
        Ok(Json(value))
    })
    .await
}

/// A task that uses the model unless `no_model`: without it, on the blocking pool (a timeout
/// or a client that leaves stops the embedding at its next batch); with it, through the model
/// queue (`model_call`).
async fn with_or_without_model(
    state: AppState,
    no_model: bool,
    stream: bool,
    run: impl FnOnce(Option<&dyn Generator>, Arc<AtomicBool>) -> Result<Value, ApiError>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    if no_model {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let value = blocking(&state, Some(cancel), move || run(None, flag)).await?;
        return Ok(Json(value).into_response());
    }
    model_call(state, stream, move |generator, cancel| {
        run(Some(generator), cancel)
    })
    .await
}

/// Runs `work` with a tapped generator; with `stream`, answers with SSE `token` events and a
/// final `done` (or `error`) event, else with the JSON `work` returns.
async fn model_call(
    state: AppState,
    stream: bool,
    // The closure gets the request's cancel flag too, for the work it does beside the model
    // (embedding): a timeout, a client that leaves or a shutdown stops both.
    work: impl FnOnce(&dyn Generator, Arc<AtomicBool>) -> Result<Value, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let permit = state.model_slot()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let engines = state.engines.clone();
    let shutting_down = state.shutting_down.clone();
    if !stream {
        let flag = cancel.clone();
        let value = blocking(&state, Some(cancel), move || {
            let _permit = permit;
            let for_work = flag.clone();
            let tap = Tap::new(engines.generator.as_ref(), flag.clone(), move |_| {
                if shutting_down.load(Ordering::Relaxed) {
                    flag.store(true, Ordering::Relaxed);
                }
            });
            work(&tap, for_work)
        })
        .await?;
        return Ok(Json(value).into_response());
    }
    let (sender, receiver) = mpsc::channel::<Result<Event, Infallible>>(256);
    let timeout = state.timeout;
    let watchdog = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        watchdog.store(true, Ordering::Relaxed);
    });
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let tokens = sender.clone();
        let flag = cancel.clone();
        let tap = Tap::new(engines.generator.as_ref(), cancel.clone(), move |token| {
            let event = Event::default()
                .event("token")
                .data(json!({ "text": token }).to_string());
            // The client went away (stream dropped): stop generating.
            if tokens.blocking_send(Ok(event)).is_err() || shutting_down.load(Ordering::Relaxed) {
                flag.store(true, Ordering::Relaxed);
            }
        });
        let last = match work(&tap, cancel.clone()) {
            Ok(value) => Event::default().event("done").data(value.to_string()),
            Err(err) => Event::default()
                .event("error")
                .data(json!({"error": {"message": err.message}}).to_string()),
        };
        let _ = sender.blocking_send(Ok(last));
    });
    Ok(Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    prompt: String,
    system: Option<String>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    seed: Option<u32>,
    json_schema: Option<Value>,
    #[serde(default)]
    stream: bool,
}

pub async fn generate(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<GenerateBody>,
) -> Result<Response, ApiError> {
    let settings = &state.engines.config.generator;
    let temperature = request.temperature.unwrap_or(settings.temperature);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad_request(
            "`temperature` must be between 0 and 2",
        ));
    }
    let sampling = Sampling {
        temperature,
        top_p: settings.top_p,
        min_p: settings.min_p,
        repeat_penalty: settings.repeat_penalty,
        seed: request.seed.unwrap_or(settings.seed),
        max_tokens: request
            .max_tokens
            .unwrap_or(settings.max_tokens)
            .clamp(1, 8192),
        stop: Vec::new(),
    };
    let generate_request = GenerateRequest {
        system: request.system.clone(),
        prompt: request.prompt.clone(),
        sampling,
        json_schema: None,
        cancel: None,
    };
    let schema = request.json_schema.clone();
    if let Some(schema) = &schema {
        starling::structured::check_schema(schema)
            .map_err(|err| ApiError::bad_request(format!("`json_schema`: {err}")))?;
    }
    model_call(state, request.stream, move |generator, _cancel| {
        let started = std::time::Instant::now();
        match schema {
            Some(schema) => {
                let (value, generation) = generate_json(generator, &generate_request, &schema)?;
                Ok(json!({"json": value, "text": generation.text, "prompt_tokens": generation.n_prompt_tokens,
                          "completion_tokens": generation.n_generated_tokens, "seconds": started.elapsed().as_secs_f64()}))
            }
            None => {
                let generation = generator.generate(&generate_request, &mut |_| {})?;
                Ok(json!({"text": generation.text, "stop_reason": format!("{:?}", generation.stop_reason),
                          "prompt_tokens": generation.n_prompt_tokens, "completion_tokens": generation.n_generated_tokens,
                          "cached_tokens": generation.n_cached_tokens, "seconds": started.elapsed().as_secs_f64()}))
            }
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarBody {
    competency: String,
    context: Option<String>,
    since: Option<String>,
    until: Option<String>,
    path: Option<String>,
    /// Pinned passages: `PATH` or `PATH:START-END`, under a note root.
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    k: Option<usize>,
    /// Which candidate story to draft (1 = the best).
    #[serde(default)]
    story: Option<usize>,
    #[serde(default)]
    no_model: bool,
    #[serde(default)]
    stream: bool,
}

/// The filters and pins a STAR request shares with the rubric-wide one; `competency` is the
/// caller's. A pinned path that names no file under the note roots is not found (404); a file
/// that is there but cannot be pinned as asked is a bad request.
#[allow(clippy::too_many_arguments)]
fn star_request(
    roots: &[PathBuf],
    competency: String,
    context: Option<String>,
    since: Option<String>,
    until: Option<String>,
    path: Option<String>,
    include: &[String],
    exclude: Vec<String>,
    k: Option<usize>,
    story: Option<usize>,
) -> Result<star::StarRequest, ApiError> {
    check_date("since", &since)?;
    check_date("until", &until)?;
    if let Some(spec) = include.iter().find(|spec| {
        let (path, _) = star::split_pinned_spec(spec);
        starling::notes::loading::file_under_roots(Path::new(path), roots).is_none()
    }) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("`include`: `{spec}`: no such file under the note roots; give a path relative to a note root that stays inside it"),
        ));
    }
    let include = include
        .iter()
        .map(|spec| starling::app::star::read_pinned_under(spec, roots))
        .collect::<starling::Result<Vec<_>>>()
        .map_err(|e| ApiError::bad_request(format!("`include`: {e:#}")))?;
    Ok(star::StarRequest {
        competency,
        context,
        filter: SearchFilter {
            path_prefix: path,
            tag: None,
            since,
            until,
        },
        include,
        exclude,
        k: k.unwrap_or(6).clamp(1, 50),
        story: story.unwrap_or(1).max(1) - 1,
    })
}

pub async fn star(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<StarBody>,
) -> Result<Response, ApiError> {
    if request.competency.trim().is_empty() {
        return Err(ApiError::bad_request("`competency` is empty"));
    }
    let engines = state.engines.clone();
    let star_request = star_request(
        &engines.config.notes.paths,
        request.competency.trim().to_string(),
        request.context,
        request.since,
        request.until,
        request.path,
        &request.include,
        request.exclude,
        request.k,
        request.story,
    )?;
    let run = move |generator: Option<&dyn Generator>,
                    cancel: Arc<AtomicBool>|
          -> Result<Value, ApiError> {
        let prompt = Prompt::load("star", engines.config.prompts_dir.as_deref())?;
        let sampling = Sampling::greedy(engines.config.generator.seed);
        let outcome = star::run(
            &Interruptible::new(&engines.embedder, cancel),
            &engines.notes.store,
            generator.map(|g| (g, &prompt, &sampling)),
            &star_request,
        )?;
        Ok(match outcome {
            star::Outcome::Draft(draft) => draft.to_json(),
            star::Outcome::NotEnoughEvidence { closest } => json!({
                "competency": star_request.competency,
                "error": "not enough evidence",
                "closest": closest,
            }),
        })
    };
    with_or_without_model(state, request.no_model, request.stream, run).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarRubricBody {
    /// The career-ladder rubric: Markdown, or TOML / YAML when `rubric_name` ends so.
    rubric: String,
    /// The rubric's file name: its format by extension, and its title when it has none.
    rubric_name: Option<String>,
    /// One entry per item instead of per section.
    #[serde(default)]
    per_item: bool,
    context: Option<String>,
    since: Option<String>,
    until: Option<String>,
    path: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    k: Option<usize>,
    #[serde(default)]
    no_model: bool,
    #[serde(default)]
    stream: bool,
}

/// One STAR entry per rubric section (as `starling star --rubric FILE --format json`), with
/// the whole document rendered as `markdown` and as `table`.
pub async fn star_rubric(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<StarRubricBody>,
) -> Result<Response, ApiError> {
    let name = request
        .rubric_name
        .as_deref()
        .and_then(|name| Path::new(name).file_name())
        .map_or_else(|| PathBuf::from("rubric.md"), PathBuf::from);
    let parsed = rubric::parse(&name, &request.rubric)
        .map_err(|e| ApiError::bad_request(format!("`rubric`: {e}")))?;
    let engines = state.engines.clone();
    let base = star_request(
        &engines.config.notes.paths,
        String::new(),
        request.context,
        request.since,
        request.until,
        request.path,
        &request.include,
        request.exclude,
        request.k,
        None,
    )?;
    let per_item = request.per_item;
    let run = move |generator: Option<&dyn Generator>,
                    cancel: Arc<AtomicBool>|
          -> Result<Value, ApiError> {
        let prompt = Prompt::load("star", engines.config.prompts_dir.as_deref())?;
        let sampling = Sampling::greedy(engines.config.generator.seed);
        let drafts = starling::app::star::draft_rubric(
            &Interruptible::new(&engines.embedder, cancel),
            &engines.notes.store,
            generator.map(|g| (g, &prompt, &sampling)),
            &parsed,
            &base,
            per_item,
        )?;
        let mut value = drafts.to_json();
        value["markdown"] = json!(drafts.to_text(false));
        value["table"] = json!(drafts.to_text(true));
        Ok(value)
    };
    with_or_without_model(state, request.no_model, request.stream, run).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapBody {
    rubric: String,
    /// `json` (default), or `md` / `html` for `{"report": TEXT}`.
    format: Option<String>,
    #[serde(default)]
    no_model: bool,
    k: Option<usize>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn map(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<MapBody>,
) -> Result<Response, ApiError> {
    check_date("since", &request.since)?;
    check_date("until", &request.until)?;
    let format = request.format.clone().unwrap_or_else(|| "json".into());
    if !["json", "md", "html"].contains(&format.as_str()) {
        return Err(ApiError::bad_request("`format`: use json, md or html"));
    }
    let parsed = rubric::parse(Path::new("rubric.md"), &request.rubric)
        .map_err(|e| ApiError::bad_request(format!("`rubric`: {e}")))?;
    let engines = state.engines.clone();
    let options = map::MapOptions {
        k: request.k.unwrap_or(5).clamp(1, 20),
        filter: SearchFilter {
            path_prefix: None,
            tag: None,
            since: request.since.clone(),
            until: request.until.clone(),
        },
    };
    let run = move |generator: Option<&dyn Generator>,
                    cancel: Arc<AtomicBool>|
          -> Result<Value, ApiError> {
        let prompt = Prompt::load("map-judge", engines.config.prompts_dir.as_deref())?;
        let sampling = Sampling::greedy(engines.config.generator.seed);
        let mut cache = engines.map_cache.lock().unwrap_or_else(|p| p.into_inner());
        let result = map::run(
            &Interruptible::new(&engines.embedder, cancel),
            &engines.notes.store,
            generator.map(|g| (g, &prompt, &sampling)),
            &parsed,
            &options,
            &mut cache,
        )?;
        Ok(match format.as_str() {
            "md" => json!({ "report": result.to_markdown() }),
            "html" => json!({ "report": result.to_html() }),
            _ => result.to_json(),
        })
    };
    with_or_without_model(state, request.no_model, false, run).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteBody {
    text: String,
    style: String,
    instructions: Option<String>,
    #[serde(default)]
    stream: bool,
}

pub async fn rewrite(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RewriteBody>,
) -> Result<Response, ApiError> {
    let engines = state.engines.clone();
    let style =
        starling::prompts::rewrite_style(&request.style, engines.config.styles_dir.as_deref())
            .map_err(|e| ApiError::bad_request(format!("`style`: {e}")))?;
    model_call(state, request.stream, move |generator, _cancel| {
        let options = rewrite_task::RewriteOptions {
            instructions: request.instructions.clone(),
            sampling: Sampling::greedy(engines.config.generator.seed),
            max_block_bytes: 6000,
        };
        let result = rewrite_task::rewrite(generator, &style, &request.text, &options, &mut |_, _| {})?;
        let check = |text: &str| {
            engines
                .rules
                .check(text, &CheckOptions { kind: InputKind::Markdown, profile: engines.config.tone.profile.clone(), allow: engines.config.tone.allow.clone() })
                .map(|f| f.len())
                .unwrap_or(0)
        };
        Ok(json!({
            "text": result.text,
            "blocks": result.blocks.iter().map(|b| json!({"line": b.line, "rewritten": b.rewritten, "note": b.note})).collect::<Vec<_>>(),
            "tone_findings_before": check(&request.text),
            "tone_findings_after": check(&result.text),
        }))
    })
    .await
}
