//! OpenAI-compatible endpoints, so editor tools that speak that API can point at Starling:
//! `POST /v1/chat/completions` (plain and `stream: true`), `POST /v1/embeddings`,
//! `GET /v1/models`. Unknown request fields are ignored, as OpenAI's own clients send many.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use starling::backends::tap::{Interruptible, Tap};
use starling::backends::{Embedder, GenerateRequest, Generator, Sampling, StopReason};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{blocking, ApiError, AppState, JsonBody};

#[derive(Debug, Deserialize)]
pub struct Message {
    role: String,
    /// Absent or null: no text (an assistant turn that only called tools, say).
    #[serde(default)]
    content: Value,
}

#[derive(Debug, Deserialize)]
pub struct ChatBody {
    messages: Vec<Message>,
    model: Option<String>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u32>,
    #[serde(default)]
    stream: bool,
    stop: Option<Value>,
    /// `{"type": "json_schema", "json_schema": {"schema": ...}}` or `{"type": "json_object"}`:
    /// the answer is constrained by the model's grammar.
    response_format: Option<Value>,
    /// `{"include_usage": true}`: a last chunk carries the token counts.
    stream_options: Option<Value>,
}

/// The JSON Schema a `response_format` asks for, if any.
fn schema_of(format: Option<&Value>) -> Result<Option<Value>, ApiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "object"}))),
        Some("json_schema") => match format.pointer("/json_schema/schema") {
            Some(schema) if schema.is_object() => {
                starling::structured::check_schema(schema)
                    .map_err(|err| ApiError::bad_request(format!("`response_format`: {err}")))?;
                Ok(Some(schema.clone()))
            }
            _ => Err(ApiError::bad_request(
                "`response_format.json_schema.schema` must be a JSON Schema object",
            )),
        },
        _ => Err(ApiError::bad_request(
            "`response_format.type` must be text, json_object or json_schema",
        )),
    }
}

/// A message's text: a string, or the text parts of a content array.
fn text_of(content: &Value) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) if !parts.iter().all(Value::is_object) => Err(ApiError::bad_request(
            "`messages[].content`: each part must be an object such as {\"type\": \"text\", \"text\": \"...\"}",
        )),
        Value::Array(parts) => Ok(parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")),
        Value::Null => Ok(String::new()),
        _ => Err(ApiError::bad_request(
            "`messages[].content` must be a string or an array of text parts",
        )),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// System messages become the system prompt; the rest of the conversation, in order, the
/// prompt (the last user message last).
fn conversation(messages: &[Message]) -> Result<(Option<String>, String), ApiError> {
    if messages.is_empty() {
        return Err(ApiError::bad_request("`messages` is empty"));
    }
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for message in messages {
        let text = text_of(&message.content)?;
        match message.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" => turns.push(("User", text)),
            "assistant" => turns.push(("Assistant", text)),
            other => {
                return Err(ApiError::bad_request(format!(
                    "`messages[].role`: unknown role `{other}`"
                )))
            }
        }
    }
    let prompt = if turns.len() == 1 {
        turns.remove(0).1
    } else {
        turns
            .iter()
            .map(|(who, text)| format!("{who}: {text}"))
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    Ok(((!system.is_empty()).then(|| system.join("\n\n")), prompt))
}

/// OpenAI-compatible chat completion (plain or streamed); other OpenAI fields are accepted and
/// ignored.
#[utoipa::path(post, path = "/v1/chat/completions", request_body = Object,
    responses((status = 200, description = "an OpenAI chat completion", body = Object)))]
pub async fn chat_completions(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ChatBody>,
) -> Result<Response, ApiError> {
    let (system, prompt) = conversation(&request.messages)?;
    let settings = &state.engines.config.generator;
    let stop = match &request.stop {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "`stop` must be a string or an array of strings",
            ))
        }
    };
    let temperature = request.temperature.unwrap_or(settings.temperature);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad_request(
            "`temperature` must be between 0 and 2",
        ));
    }
    let generate_request = GenerateRequest {
        system,
        prompt,
        sampling: Sampling {
            temperature,
            top_p: request.top_p.unwrap_or(settings.top_p),
            min_p: settings.min_p,
            repeat_penalty: settings.repeat_penalty,
            seed: request.seed.unwrap_or(settings.seed),
            max_tokens: request
                .max_completion_tokens
                .or(request.max_tokens)
                .unwrap_or(settings.max_tokens)
                .clamp(1, 8192),
            stop,
        },
        json_schema: schema_of(request.response_format.as_ref())?,
        cancel: None,
    };
    let include_usage = request
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = state.engines.generator.model_name().to_string();
    let _ = request.model;
    let id = format!("chatcmpl-{}-{}", std::process::id(), now());
    let permit = state.model_slot()?;
    let engines = state.engines.clone();
    let cancel = Arc::new(AtomicBool::new(false));
    let finish = |reason: &StopReason| match reason {
        StopReason::MaxTokens | StopReason::ContextFull => "length",
        _ => "stop",
    };
    if !request.stream {
        let flag = cancel.clone();
        let generation = blocking(&state, Some(cancel), move || {
            let _permit = permit;
            let tap = Tap::new(engines.generator.as_ref(), flag, |_, _| {});
            Ok(tap.generate(&generate_request, &mut |_| {})?)
        })
        .await?;
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": now(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": generation.text},
                "finish_reason": finish(&generation.stop_reason),
            }],
            "usage": {
                "prompt_tokens": generation.n_prompt_tokens,
                "completion_tokens": generation.n_generated_tokens,
                "total_tokens": generation.n_prompt_tokens + generation.n_generated_tokens,
            },
        }))
        .into_response());
    }
    let (sender, receiver) = mpsc::channel::<Result<Event, Infallible>>(256);
    let usage_chunk = {
        let (id, model) = (id.clone(), model.clone());
        move |prompt: usize, completion: usize| {
            Event::default().data(
                json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                       "choices": [],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}})
                .to_string(),
            )
        }
    };
    let chunk = {
        let (id, model) = (id.clone(), model.clone());
        move |delta: Value, reason: Value| {
            Event::default().data(
                json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]})
                .to_string(),
            )
        }
    };
    let timeout = state.timeout;
    let watchdog = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        watchdog.store(true, Ordering::Relaxed);
    });
    let shutting_down = state.shutting_down.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _ = sender.blocking_send(Ok(chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )));
        let tokens = sender.clone();
        let flag = cancel.clone();
        let piece = chunk.clone();
        let tap = Tap::new(
            engines.generator.as_ref(),
            cancel.clone(),
            move |_, token| {
                let event = piece(json!({ "content": token }), Value::Null);
                if tokens.blocking_send(Ok(event)).is_err() || shutting_down.load(Ordering::Relaxed)
                {
                    flag.store(true, Ordering::Relaxed);
                }
            },
        );
        match tap.generate(&generate_request, &mut |_| {}) {
            Ok(generation) => {
                let _ = sender
                    .blocking_send(Ok(chunk(json!({}), json!(finish(&generation.stop_reason)))));
                if include_usage {
                    let _ = sender.blocking_send(Ok(usage_chunk(
                        generation.n_prompt_tokens,
                        generation.n_generated_tokens,
                    )));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "streamed chat completion failed");
                let _ = sender.blocking_send(Ok(Event::default().data(
                    json!({"error": {"message": "generation failed; see the server's log"}})
                        .to_string(),
                )));
            }
        }
        let _ = sender.blocking_send(Ok(Event::default().data("[DONE]")));
    });
    Ok(Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct EmbeddingsBody {
    input: Value,
    model: Option<String>,
}

/// OpenAI-compatible embeddings (the MiniLM embedder).
#[utoipa::path(post, path = "/v1/embeddings", request_body = Object,
    responses((status = 200, description = "an OpenAI embedding list", body = Object)))]
pub async fn embeddings(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<EmbeddingsBody>,
) -> Result<Json<Value>, ApiError> {
    let _ = request.model;
    let inputs: Vec<String> = match &request.input {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) && !items.is_empty() => items
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => {
            return Err(ApiError::bad_request(
                "`input` must be a string or a non-empty array of strings",
            ))
        }
    };
    if inputs.len() > 2048 {
        return Err(ApiError::bad_request(
            "`input`: at most 2048 texts per request",
        ));
    }
    let engines = state.engines.clone();
    let work = state.work_slot()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    blocking(&state, Some(cancel), move || {
        let _work = work;
        let vectors = Interruptible::new(&engines.embedder, flag).embed(&inputs)?;
        let tokens: usize = inputs.iter().map(|t| engines.embedder.count_tokens(t)).sum();
        Ok(Json(json!({
            "object": "list",
            "data": vectors.iter().enumerate().map(|(index, v)| json!({"object": "embedding", "index": index, "embedding": v})).collect::<Vec<_>>(),
            "model": engines.embedder.model_name(),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })))
    })
    .await
}

/// OpenAI-compatible model list.
#[utoipa::path(get, path = "/v1/models", responses((status = 200, description = "an OpenAI model list", body = Object)))]
pub async fn models(State(state): State<AppState>) -> Json<Value> {
    let engines = &state.engines;
    Json(json!({
        "object": "list",
        "data": [
            {"id": engines.generator.model_name(), "object": "model", "created": 0, "owned_by": "local"},
            {"id": engines.embedder.model_name(), "object": "model", "created": 0, "owned_by": "local"},
        ],
    }))
}
