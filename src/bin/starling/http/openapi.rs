//! `GET /openapi.json`: the API described as OpenAPI 3.1, written by hand next to the
//! handlers (the request fields are those of the handlers' `*Body` structs).

use axum::Json;
use serde_json::{json, Value};

fn post(summary: &str, required: &[&str], properties: Value, streams: bool) -> Value {
    let mut responses = json!({
        "200": {"description": "the CLI's --json answer", "content": {"application/json": {}}},
        "400": {"description": "malformed JSON or a wrong field (named in the message)"},
        "401": {"description": "missing or wrong bearer token"},
        "403": {"description": "Host or Origin not allowed"},
        "413": {"description": "body over the size limit"},
    });
    if streams {
        responses["200"]["content"]["text/event-stream"] = json!({"description": "with \"stream\": true: `token` events, then `done` (or `error`)"});
        responses["503"] = json!({"description": "model queue full; see Retry-After"});
    }
    json!({"post": {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": required, "properties": properties, "additionalProperties": false}}}},
        "responses": responses,
    }})
}

pub async fn document() -> Json<Value> {
    let s = |t: &str| json!({"type": t});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "Starling local API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Loopback only by default. Every endpoint but /v1/health needs `Authorization: Bearer TOKEN` (`starling token`)."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/v1/health": {"get": {"summary": "liveness (no token needed)", "responses": {"200": {"description": "ok"}}}},
            "/v1/status": {"get": {"summary": "what the index holds (as `starling status --json`)", "security": [{"bearer": []}], "responses": {"200": {"description": "status"}}}},
            "/v1/index": post("index note roots (as `starling index --json`)", &[], json!({"paths": strings}), false),
            "/v1/search": post("hybrid search (as `starling search --json`)", &["query"], json!({
                "query": s("string"), "k": s("integer"), "path": s("string"), "tag": s("string"),
                "since": s("string"), "until": s("string"), "mode": {"enum": ["hybrid", "dense", "lexical"]}}), false),
            "/v1/tone": post("tone check of a buffer (as `starling tone --format json`)", &["text"], json!({
                "text": s("string"), "profile": s("string"), "deep": s("boolean")}), false),
            "/v1/star": post("a cited STAR entry (as `starling star --format json`)", &["competency"], json!({
                "competency": s("string"), "context": s("string"), "since": s("string"), "until": s("string"),
                "path": s("string"), "include": strings, "exclude": strings, "k": s("integer"),
                "no_model": s("boolean"), "stream": s("boolean")}), true),
            "/v1/map": post("evidence map of a rubric given as Markdown text (as `starling map --format json`)", &["rubric"], json!({
                "rubric": s("string"), "no_model": s("boolean"), "k": s("integer"), "since": s("string"), "until": s("string"),
                "format": {"enum": ["json", "md", "html"]}}), true),
            "/v1/rewrite": post("rewrite a buffer in a style", &["text", "style"], json!({
                "text": s("string"), "style": s("string"), "instructions": s("string"), "stream": s("boolean")}), true),
            "/v1/generate": post("generate text, optionally constrained by a JSON Schema", &["prompt"], json!({
                "prompt": s("string"), "system": s("string"), "max_tokens": s("integer"), "temperature": s("number"),
                "seed": s("integer"), "json_schema": s("object"), "stream": s("boolean")}), true),
            "/v1/chat/completions": {"post": {"summary": "OpenAI-compatible chat completion (plain or streamed)", "security": [{"bearer": []}],
                "responses": {"200": {"description": "chat.completion or chat.completion.chunk events"}}}},
            "/v1/embeddings": {"post": {"summary": "OpenAI-compatible embeddings (the MiniLM embedder)", "security": [{"bearer": []}],
                "responses": {"200": {"description": "list of embeddings"}}}},
            "/v1/models": {"get": {"summary": "OpenAI-compatible model list", "security": [{"bearer": []}],
                "responses": {"200": {"description": "models"}}}},
            "/openapi.json": {"get": {"summary": "this document", "security": [{"bearer": []}], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }))
}
