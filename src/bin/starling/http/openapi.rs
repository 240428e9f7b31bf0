//! `GET /openapi.json`: the API described as OpenAPI 3.1, written by hand next to the
//! handlers (the request fields are those of the handlers' `*Body` structs). The document is
//! what the server does: `scripts/fuzz-api.sh` sends schemathesis's valid and invalid requests
//! and checks every answer against it. Profiles and styles are the ones this server loaded.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// Statuses every endpoint behind the token can answer, whatever its body.
fn common_errors() -> Value {
    json!({
        "400": {"description": "malformed JSON, a body that is not an object, or a wrong field (named in the message)"},
        "401": {"description": "missing or wrong bearer token"},
        "403": {"description": "Host or Origin not allowed, or a path outside the note roots"},
        "413": {"description": "body over the size limit (serve --max-body)"},
        "503": {"description": "busy (model queue or work slots full) or shutting down; see Retry-After"},
        "504": {"description": "the request ran past serve --timeout and was cancelled"},
    })
}

fn post(summary: &str, body: Value, streams: bool) -> Value {
    let mut responses = common_errors();
    responses["200"] =
        json!({"description": "the CLI's --json answer", "content": {"application/json": {}}});
    if body["properties"].get("json_schema").is_some()
        || body["properties"].get("response_format").is_some()
    {
        responses["502"] =
            json!({"description": "the model's answer did not follow the requested JSON Schema"});
    }
    if streams {
        responses["200"]["content"]["text/event-stream"] = json!({});
        responses["200"]["description"] = json!(
            "the CLI's --json answer; with \"stream\": true, `token` events, then `done` (or `error`)"
        );
    }
    json!({"post": {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
        "responses": responses,
    }})
}

/// A body of exactly these fields.
fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

fn get(summary: &str, secured: bool) -> Value {
    let mut responses = if secured { common_errors() } else { json!({}) };
    responses["200"] = json!({"description": "ok", "content": {"application/json": {}}});
    let mut operation = json!({"summary": summary, "responses": responses});
    if secured {
        operation["security"] = json!([{"bearer": []}]);
    }
    json!({ "get": operation })
}

pub async fn document(State(state): State<AppState>) -> Json<Value> {
    let config = &state.engines.config;
    // Optional fields may also be null (the same as leaving them out).
    let opt = |t: &str| json!({"type": [t, "null"]});
    // Text the request is about: at least one character that is not white space.
    let text = json!({"type": "string", "pattern": "\\S"});
    let date = json!({"type": ["string", "null"], "format": "date"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let count = |max: u64| json!({"type": ["integer", "null"], "minimum": 0, "maximum": max});
    let usize_max = usize::MAX as u64;
    let flag = json!({"type": "boolean"});
    let u32_max = u64::from(u32::MAX);
    // "default" is always among them.
    let profiles = state.engines.rules.profile_names();
    let profile = json!({"enum": profiles.into_iter().map(Value::from).chain([Value::Null]).collect::<Vec<_>>()});
    let styles = starling::prompts::rewrite_style_names(config.styles_dir.as_deref());
    let mut star = post(
        "a cited STAR entry (as `starling star --format json`)",
        object(
            &["competency"],
            json!({
        "competency": text, "context": opt("string"), "since": date, "until": date,
        "path": opt("string"), "include": strings, "exclude": strings, "k": count(usize_max),
        "story": count(usize_max), "no_model": flag, "stream": flag}),
        ),
        true,
    );
    star["post"]["responses"]["404"] =
        json!({"description": "an `include` path names no file under the note roots"});
    let mut star_rubric = post(
        "one cited STAR entry per rubric section, then strengths and growth areas (as `starling star --rubric FILE --format json`, plus the document as `markdown` and `table`)",
        object(
            &["rubric"],
            json!({
        "rubric": text, "rubric_name": opt("string"), "per_item": flag,
        "context": opt("string"), "since": date, "until": date,
        "path": opt("string"), "include": strings, "exclude": strings, "k": count(usize_max),
        "no_model": flag, "stream": flag}),
        ),
        true,
    );
    star_rubric["post"]["responses"]["404"] = star["post"]["responses"]["404"].clone();
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "Starling local API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Loopback only by default. Every endpoint but /v1/health needs `Authorization: Bearer TOKEN` (`starling token`). Request bodies are JSON objects; the Content-Type header is not required."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/v1/health": get("liveness (no token needed)", false),
            "/v1/status": get("what the index holds (as `starling status --json`)", true),
            "/v1/index": post("bring the configured note roots up to date (as `starling index --json`); paths, when given, must lie under them",
                object(&[], json!({"paths": strings})), false),
            "/v1/search": post("hybrid search (as `starling search --json`)", object(&["query"], json!({
                "query": text, "k": {"type": "integer", "minimum": 1, "maximum": 200},
                "path": opt("string"), "tag": opt("string"), "since": date, "until": date,
                "mode": {"enum": ["hybrid", "dense", "lexical"]}})), false),
            "/v1/tone": post("tone check of a buffer (as `starling tone --format json`)", object(&["text"], json!({
                "text": {"type": "string"}, "profile": profile, "deep": flag})), false),
            "/v1/audit": post("the achievement claims of a draft checked against the notes: supported, contradicted or unsupported (as `starling audit - --format json`)",
                object(&["text"], json!({
                "text": {"type": "string"}, "path": opt("string"), "since": date, "until": date, "no_model": flag})), false),
            "/v1/star": star,
            "/v1/star/rubric": star_rubric,
            "/v1/map": post("evidence map of a rubric given as Markdown text (as `starling map --format json`; md and html come as {\"report\": TEXT})",
                object(&["rubric"], json!({
                "rubric": text, "no_model": flag, "k": count(usize_max), "since": date, "until": date,
                "format": {"enum": ["json", "md", "html", null]}})), false),
            "/v1/rewrite": post("rewrite a buffer in a style", object(&["text", "style"], json!({
                "text": {"type": "string"}, "style": {"enum": styles}, "instructions": opt("string"), "stream": flag})), true),
            "/v1/generate": post("generate text, optionally constrained by a JSON Schema", object(&["prompt"], json!({
                "prompt": {"type": "string"}, "system": opt("string"), "max_tokens": count(u32_max),
                "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
                "seed": count(u32_max), "json_schema": {"type": ["object", "null"]}, "stream": flag})), true),
            "/v1/chat/completions": post("OpenAI-compatible chat completion (plain or streamed); other OpenAI fields are accepted and ignored",
                json!({"type": "object", "required": ["messages"], "properties": {
                    "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role"], "properties": {
                        "role": {"enum": ["system", "developer", "user", "assistant"]},
                        "content": {"oneOf": [{"type": "string"}, {"type": "null"},
                            {"type": "array", "items": {"type": "object", "description": "a content part; its `text` is read when it is a string, other parts are left out"}}]}}}},
                    "model": opt("string"), "max_tokens": count(u32_max), "max_completion_tokens": count(u32_max),
                    "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
                    "top_p": opt("number"),
                    "seed": count(u32_max), "stream": flag,
                    "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                    "response_format": {"oneOf": [{"type": "null"},
                        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}}]},
                    "stream_options": {"description": "read only with stream: true ({\"include_usage\": true})"}}}), true),
            "/v1/embeddings": post("OpenAI-compatible embeddings (the MiniLM embedder)",
                json!({"type": "object", "required": ["input"], "properties": {
                    "input": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string"}}]},
                    "model": opt("string")}}), false),
            "/v1/models": get("OpenAI-compatible model list", true),
            "/openapi.json": get("this document", true),
        },
    }))
}
