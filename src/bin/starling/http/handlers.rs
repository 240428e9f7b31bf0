//! Starling's own endpoints: each deserialises its `starling::app` request, runs it on the
//! server's engines and serialises the response (the CLI's `--json` shapes). `"stream": true`
//! answers generate, star and rewrite with server-sent events (`token` events, then one `done`
//! event holding the full answer). The `#[utoipa::path]` attributes make `/openapi.json`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use starling::app::{self, Context};
use starling::backends::tap::{Interruptible, Tap};
use starling::backends::{Embedder, Generator, Sampling};
use starling::notes::index::IndexReport;
use starling::tone::InputKind;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{blocking, ApiError, AppState, Engines, JsonBody};

/// The server's engines as an `app::Context`, embedding through `embedder` (interruptible).
fn context<'a>(engines: &'a Engines, embedder: &'a dyn Embedder) -> Context<'a> {
    Context {
        config: &engines.config,
        embedder,
        store: engines.notes.store.as_ref(),
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    version: &'static str,
}

/// Liveness (no token needed).
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)), security(()))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// What the index holds (as `starling status --json`).
#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = app::status::StatusReport)))]
pub async fn status(
    State(state): State<AppState>,
) -> Result<Json<app::status::StatusReport>, ApiError> {
    let engines = state.engines.clone();
    blocking(&state, None, move || {
        Ok(Json(app::status::status(&engines.config)?))
    })
    .await
}

/// Brings the configured note roots up to date (as `starling index --json`); paths, when
/// given, must lie under them.
#[utoipa::path(post, path = "/v1/index", request_body = app::index::IndexRequest,
    responses((status = 200, body = IndexReport)))]
pub async fn index(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::index::IndexRequest>,
) -> Result<Json<IndexReport>, ApiError> {
    let engines = state.engines.clone();
    // A timeout or a client that leaves stops the embedding at its next batch; what was
    // committed before stays, so the next request goes on from there.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    blocking(&state, Some(cancel), move || {
        let roots = engines.config.notes.paths.clone();
        request.check_under(&roots)?;
        let _one_at_a_time = engines.indexing.lock().unwrap_or_else(|p| p.into_inner());
        let embedder = Interruptible::new(&engines.embedder, flag);
        let report = app::index::run(
            &context(&engines, &embedder),
            &roots,
            &engines.notes.state_path,
            &mut |_, _, _| {},
        )?;
        Ok(Json(report))
    })
    .await
}

/// Hybrid search (as `starling search --json`).
#[utoipa::path(post, path = "/v1/search", request_body = app::search::SearchRequest,
    responses((status = 200, body = Vec<app::search::SearchHit>)))]
pub async fn search(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::search::SearchRequest>,
) -> Result<Json<Vec<app::search::SearchHit>>, ApiError> {
    request.check()?;
    let engines = state.engines.clone();
    blocking(&state, None, move || {
        Ok(Json(app::search::run(
            &context(&engines, &engines.embedder),
            &request,
        )?))
    })
    .await
}

/// The achievement claims of a draft checked against the notes: supported, contradicted or
/// unsupported (as `starling audit - --format json`).
#[utoipa::path(post, path = "/v1/audit", request_body = app::audit::AuditRequest,
    responses((status = 200, body = app::audit::AuditReport)))]
pub async fn audit(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::audit::AuditRequest>,
) -> Result<Json<app::audit::AuditReport>, ApiError> {
    request.check()?;
    let answer = embedding_work(&state, move |ctx| app::audit::run(ctx, &request));
    Ok(Json(answer.await?))
}

/// Embedding work without the model (an audit, a story bank), on the blocking pool: it holds
/// a work slot until it ends (CPU for as long as it runs), and a timeout or a client that
/// leaves stops it at its next batch.
async fn embedding_work<T: Send + 'static>(
    state: &AppState,
    run: impl FnOnce(&Context) -> starling::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let engines = state.engines.clone();
    let work = state.work_slot()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    blocking(state, Some(cancel), move || {
        let _permit = work;
        let embedder = Interruptible::new(&engines.embedder, flag);
        Ok(run(&context(&engines, &embedder))?)
    })
    .await
}

/// The interview story bank: for each question, the best stories in the notes (as `starling
/// stories FILE --format json`).
#[utoipa::path(post, path = "/v1/stories", request_body = app::stories::StoriesRequest,
    responses((status = 200, body = app::stories::StoriesReport)))]
pub async fn stories(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::stories::StoriesRequest>,
) -> Result<Json<app::stories::StoriesReport>, ApiError> {
    request.check()?;
    let answer = embedding_work(&state, move |ctx| {
        // The report names the questions file as `/v1/audit` names the draft.
        let file = request.name.clone().unwrap_or_else(|| "-".into());
        app::stories::run(ctx, &request, &file)
    });
    Ok(Json(answer.await?))
}

fn tone_checker<'a>(
    engines: &'a Engines,
    generator: Option<&'a dyn Generator>,
) -> app::tone::Checker<'a> {
    app::tone::Checker {
        rules: &engines.rules,
        vocabulary: Some(&engines.vocabulary),
        generator,
        prompts_dir: engines.config.prompts_dir.as_deref(),
        sampling: Sampling::greedy(engines.config.generator.seed),
        profile: engines.config.tone.profile.clone(),
        allow: engines.config.tone.allow.clone(),
    }
}

/// Tone check of a buffer (as `starling tone --format json`); `deep` and `fix` use the model.
#[utoipa::path(post, path = "/v1/tone", request_body = app::tone::ToneRequest,
    responses((status = 200, body = app::tone::ToneReport)))]
pub async fn tone(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::tone::ToneRequest>,
) -> Result<Json<app::tone::ToneReport>, ApiError> {
    tone_checker(&state.engines, None).profile(&request)?;
    let uses_model = request.deep || request.fix;
    // Rules never wait for the model; deep and fix take a model slot. Every check takes a
    // work slot: a large body is CPU and memory for as long as it runs.
    let work = state.work_slot()?;
    let permit = if uses_model {
        Some(state.model_slot()?)
    } else {
        None
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let engines = state.engines.clone();
    blocking(&state, Some(cancel), move || {
        let _permits = (work, permit);
        // A timeout or a client that leaves stops the model at its next token.
        let tap = Tap::new(engines.generator.as_ref(), flag, |_, _| {});
        let checker = tone_checker(&engines, uses_model.then_some(&tap as &dyn Generator));
        let checked = checker.check(&request, "-", InputKind::Markdown)?;
        let mut report = app::tone::ToneReport::new("-", &checked.findings);
        report.warnings = checked.warnings;
        report.fix = checked.fix;
        Ok(Json(report))
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
            let tap = Tap::new(engines.generator.as_ref(), flag.clone(), move |_, _| {
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
        let tap = Tap::new(
            engines.generator.as_ref(),
            cancel.clone(),
            move |call, token| {
                // A task's generations run side by side (map judgments, rewrite blocks): `call`
                // says which one a token belongs to, so a client can keep the pieces apart.
                let event = Event::default()
                    .event("token")
                    .data(json!({ "text": token, "call": call }).to_string());
                // The client went away (stream dropped): stop generating.
                if tokens.blocking_send(Ok(event)).is_err() || shutting_down.load(Ordering::Relaxed)
                {
                    flag.store(true, Ordering::Relaxed);
                }
            },
        );
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

fn to_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("answers serialise")
}

/// Generates text, optionally constrained by a JSON Schema (as `starling generate`).
#[utoipa::path(post, path = "/v1/generate", request_body = app::generate::TextRequest,
    responses((status = 200, body = app::generate::TextAnswer)))]
pub async fn generate(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::generate::TextRequest>,
) -> Result<Response, ApiError> {
    // Checked before the request queues for the model.
    request.sampling(&state.engines.config.generator)?;
    request.schema()?;
    let engines = state.engines.clone();
    model_call(state, request.stream, move |generator, _cancel| {
        let (answer, _) =
            app::generate::run(generator, &request, &engines.config.generator, &mut |_| {})?;
        Ok(to_value(answer))
    })
    .await
}

/// A cited STAR entry (as `starling star --format json`); with `stories`, the candidate
/// stories instead.
#[utoipa::path(post, path = "/v1/star", request_body = app::star::StarDraftRequest,
    responses((status = 200, body = app::star::StarAnswer)))]
pub async fn star(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::star::StarDraftRequest>,
) -> Result<Response, ApiError> {
    let engines = state.engines.clone();
    let roots = engines.config.notes.paths.clone();
    let task = request.task(&|spec| app::star::pin_under(spec, &roots))?;
    let stories = request.stories;
    let run = move |generator: Option<&dyn Generator>,
                    cancel: Arc<AtomicBool>|
          -> Result<Value, ApiError> {
        let embedder = Interruptible::new(&engines.embedder, cancel);
        let ctx = context(&engines, &embedder);
        if let Some(n) = stories {
            let stories = app::star::candidate_stories(&ctx, &task, n)?;
            return Ok(to_value(app::star::StarAnswer::Stories(
                app::star::CandidateStories { stories },
            )));
        }
        let outcome = app::star::run(&ctx, generator, &task)?;
        Ok(to_value(app::star::StarAnswer::new(
            &outcome,
            &task.competency,
        )))
    };
    let no_model = request.no_model || request.stories.is_some();
    with_or_without_model(state, no_model, request.stream, run).await
}

/// One cited STAR entry per rubric section, then strengths and growth areas (as `starling
/// star --rubric FILE --format json`, plus the document as `markdown` and `table`).
#[utoipa::path(post, path = "/v1/star/rubric", request_body = app::star::StarRubricRequest,
    responses((status = 200, body = app::star::RubricReport)))]
pub async fn star_rubric(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::star::StarRubricRequest>,
) -> Result<Response, ApiError> {
    let rubric = request.rubric()?;
    let engines = state.engines.clone();
    let roots = engines.config.notes.paths.clone();
    let base = request.task(&|spec| app::star::pin_under(spec, &roots))?;
    let per_item = request.per_item;
    let run = move |generator: Option<&dyn Generator>,
                    cancel: Arc<AtomicBool>|
          -> Result<Value, ApiError> {
        let embedder = Interruptible::new(&engines.embedder, cancel);
        let drafts = app::star::run_rubric(
            &context(&engines, &embedder),
            generator,
            &rubric,
            &base,
            per_item,
        )?;
        Ok(to_value(drafts.report(true)))
    };
    with_or_without_model(state, request.no_model, request.stream, run).await
}

/// Evidence map of a rubric (as `starling map --format json`; md and html come as
/// `{"report": TEXT}`).
#[utoipa::path(post, path = "/v1/map", request_body = app::map::MapRequest,
    responses((status = 200, body = app::map::MapAnswer)))]
pub async fn map(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::map::MapRequest>,
) -> Result<Response, ApiError> {
    let rubric = request.rubric()?;
    request.options()?;
    let engines = state.engines.clone();
    let no_model = request.no_model;
    let run = move |generator: Option<&dyn Generator>,
                    cancel: Arc<AtomicBool>|
          -> Result<Value, ApiError> {
        let embedder = Interruptible::new(&engines.embedder, cancel);
        let mut cache = engines.map_cache.lock().unwrap_or_else(|p| p.into_inner());
        let map = app::map::run(
            &context(&engines, &embedder),
            generator,
            &rubric,
            &request,
            &mut cache,
        )?;
        Ok(to_value(app::map::answer(
            &map,
            request.format.unwrap_or_default(),
        )))
    };
    with_or_without_model(state, no_model, false, run).await
}

/// Rewrites a buffer in a style.
#[utoipa::path(post, path = "/v1/rewrite", request_body = app::rewrite::RewriteRequest,
    responses((status = 200, body = app::rewrite::RewriteAnswer)))]
pub async fn rewrite(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::rewrite::RewriteRequest>,
) -> Result<Response, ApiError> {
    let engines = state.engines.clone();
    let style = app::rewrite::style(&request.style, engines.config.styles_dir.as_deref())?;
    model_call(state, request.stream, move |generator, _cancel| {
        let rewriter = app::rewrite::Rewriter::new(
            generator,
            &engines.rules,
            &engines.config,
            style,
            request.instructions.clone(),
        );
        let answer = rewriter.rewrite(&request.text, InputKind::Markdown, &mut |_, _| {})?;
        Ok(to_value(answer))
    })
    .await
}

/// Rewrites a batch of drafts in a style (as `starling rewrite PATH... --json`, with each
/// file's text in the answer: nothing is written on the server).
#[utoipa::path(post, path = "/v1/rewrite/batch", request_body = app::rewrite::RewriteBatchRequest,
    responses((status = 200, body = app::rewrite::BatchReport)))]
pub async fn rewrite_batch(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<app::rewrite::RewriteBatchRequest>,
) -> Result<Response, ApiError> {
    request.check()?;
    let engines = state.engines.clone();
    app::rewrite::style(&request.style, engines.config.styles_dir.as_deref())?;
    model_call(state, false, move |generator, _cancel| {
        let report = app::rewrite::run_batch(generator, &engines.rules, &engines.config, &request)?;
        Ok(to_value(report))
    })
    .await
}
