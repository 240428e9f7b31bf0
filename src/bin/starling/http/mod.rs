//! The local HTTP API: router, the guard every request passes (Host, Origin/CORS, bearer
//! token), JSON errors, and the shared engines. Handlers live in `handlers.rs` (Starling's own
//! endpoints) and `openai.rs` (the OpenAI-compatible ones); blocking engine work runs on
//! `spawn_blocking`, model work behind a bounded queue.

pub mod handlers;
pub mod listen;
pub mod openai;
pub mod openapi;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use starling::backends::fastembed::FastEmbedder;
use starling::backends::Generator;
use starling::config::Config;
use starling::services::NoteStore;
use starling::tasks::map::JudgmentCache;
use starling::tone::RuleSet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The engines one server owns.
pub struct Engines {
    pub config: Config,
    pub embedder: FastEmbedder,
    /// The embedder's tokenizer, for the tone classifier.
    pub vocabulary: starling::tone::tokens::Vocabulary,
    pub notes: NoteStore,
    pub generator: Box<dyn Generator>,
    pub rules: RuleSet,
    pub map_cache: Mutex<JudgmentCache>,
    /// Index runs one at a time.
    pub indexing: Mutex<()>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engines: Arc<Engines>,
    pub token: Arc<String>,
    pub allowed_origins: Arc<Vec<String>>,
    /// Host names besides the loopback ones (`serve --allow-remote`: its address, --allow-host).
    pub allowed_hosts: Arc<Vec<String>>,
    pub port: u16,
    /// Permits for model work: the generator's parallel sequences plus the queue; none left
    /// means 503.
    pub model_slots: Arc<Semaphore>,
    /// Permits for CPU-heavy work without the model (tone, embeddings): `serve --workers`;
    /// none left means 503, so concurrent large bodies cannot multiply memory and CPU.
    pub work_slots: Arc<Semaphore>,
    pub timeout: Duration,
    /// Set on SIGINT/SIGTERM: running generations stop at their next token.
    pub shutting_down: Arc<AtomicBool>,
}

/// An API error: status and a message that never quotes note text.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status.as_u16() {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            422 => "invalid_request_error",
            413 => "request_too_large",
            503 => "overloaded_error",
            504 => "timeout_error",
            _ => "server_error",
        };
        let mut response = (
            self.status,
            Json(json!({"error": {"message": self.message, "type": kind}})),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Library errors become API errors: input problems are the client's (400) and say what is
/// wrong; anything else is a 500 whose details stay in the server's log.
impl From<starling::error::Error> for ApiError {
    fn from(err: starling::error::Error) -> Self {
        use starling::error::Error as E;
        match &err {
            E::Request { kind, .. } => ApiError::new(
                match kind {
                    starling::error::RequestError::Invalid => StatusCode::BAD_REQUEST,
                    starling::error::RequestError::Unusable => StatusCode::UNPROCESSABLE_ENTITY,
                    starling::error::RequestError::NotFound => StatusCode::NOT_FOUND,
                    starling::error::RequestError::OutsideRoots => StatusCode::FORBIDDEN,
                },
                err.to_string(),
            ),
            E::Input { .. } | E::Schema { .. } | E::PromptTooLong { .. } | E::Rules { .. } => {
                ApiError::bad_request(err.to_string())
            }
            E::UnparseableOutput { reason, .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the model's answer did not follow the schema: {reason}"),
            ),
            _ => {
                tracing::error!(error = %err, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server's log",
                )
            }
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        match err.downcast::<starling::error::Error>() {
            Ok(err) => err.into(),
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server's log",
                )
            }
        }
    }
}

/// A JSON request body, whatever its `Content-Type` says: `curl -d` sends
/// `application/x-www-form-urlencoded`, and plain clients often send none. (The bearer token,
/// not the content type, is what keeps other sites out: a browser cannot add it without a
/// preflight, which `guard` answers only for allowed origins.) Errors are `body`'s.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, ApiError> {
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    rejection.status(),
                    format!("request body: {}", rejection.body_text()),
                )
            })?;
        // serde would read a JSON array as a struct's fields in order; the API takes objects.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "request body: send a JSON object, e.g. {\"text\": \"...\"}",
            ));
        }
        let mut value: Value = body(Json::<Value>::from_bytes(&bytes))?;
        integral_numbers_as_integers(&mut value);
        // The error names the field (`k: invalid type...`), as axum's own Json does.
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|err| ApiError::bad_request(format!("request body: {err}")))
    }
}

/// `200.0` is the integer 200 in JSON (and in JSON Schema); serde would refuse it where a
/// count is expected, so whole numbers written with a fraction become integers.
fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            if float.fract() == 0.0 && float >= 0.0 && float < u64::MAX as f64 {
                *value = Value::from(float as u64);
            } else if float.fract() == 0.0 && float < 0.0 && float >= i64::MIN as f64 {
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// Turns a JSON body rejection into a 400 naming the field (413 for a body over the limit).
pub fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match payload {
        Ok(Json(value)) => Ok(value),
        Err(JsonRejection::BytesRejection(rejection)) => Err(ApiError::new(
            rejection.status(),
            format!("request body: {}", rejection.body_text()),
        )),
        Err(rejection) => Err(ApiError::bad_request(format!(
            "request body: {}",
            rejection.body_text()
        ))),
    }
}

impl AppState {
    /// A permit for model work, or 503 with Retry-After when the queue is full.
    pub fn model_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            ));
        }
        self.model_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the model queue is full; retry later".into(),
                retry_after: Some(2),
            })
    }
}

impl AppState {
    /// A permit for CPU-heavy work without the model, or 503 with Retry-After when all are
    /// taken. Hold it inside the blocking work, so it is released when the work ends.
    pub fn work_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.work_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the server is busy with other requests (serve --workers); retry later"
                    .into(),
                retry_after: Some(2),
            })
    }
}

/// Sets a flag when dropped: a handler future dropped because its client went away cancels
/// the generation it started.
pub struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs blocking engine work off the async threads, within the request timeout.
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    cancel: Option<Arc<AtomicBool>>,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _guard = cancel.clone().map(CancelOnDrop);
    let task = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(state.timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => {
            tracing::error!(error = %join, "worker panicked");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server's log",
            ))
        }
        Err(_) => {
            if let Some(cancel) = cancel {
                cancel.store(true, Ordering::Relaxed);
            }
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the work did not finish within {} s (serve --timeout)",
                    state.timeout.as_secs()
                ),
            ))
        }
    }
}

/// The names the server may be reached by (DNS rebinding sends another name): the loopback
/// ones, and with `--allow-remote` its own address and the names given with `--allow-host`.
/// Host names are compared without regard to case, as DNS does.
fn host_allowed(host: &str, port: u16, extra: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .any(|name| host == name || host == format!("{name}:{port}"))
}

fn cors_headers(response: &mut Response, origin: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// Every request: Host must name this machine (403); an Origin must be allowed (403, and no
/// CORS headers); every route but /v1/health needs the bearer token (401).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers: &HeaderMap = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !host_allowed(host, state.port, &state.allowed_hosts) {
        let message = if state.allowed_hosts.is_empty() {
            "the Host header must be localhost, 127.0.0.1 or [::1] with this server's port"
                .to_string()
        } else {
            format!(
                "the Host header must be localhost, 127.0.0.1, [::1] or {} with this server's port (serve --allow-host adds names)",
                state.allowed_hosts.join(", ")
            )
        };
        return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(String::from);
    if let Some(origin) = &origin {
        if !state.allowed_origins.iter().any(|o| o == origin) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "this origin is not allowed; start the server with --allow-origin to allow it",
            )
            .into_response();
        }
        if request.method() == Method::OPTIONS {
            let mut response = StatusCode::NO_CONTENT.into_response();
            cors_headers(&mut response, origin);
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            return response;
        }
    }
    if request.uri().path() != "/v1/health" {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|a| a.to_str().ok())
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), state.token.as_bytes()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token; `starling token` prints it",
            )
            .into_response();
        }
    }
    let mut response = next.run(request).await;
    if let Some(origin) = &origin {
        cors_headers(&mut response, origin);
    }
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; GET /openapi.json lists them",
    )
}

/// The whole API: the routes `openapi::routes` documents, and the document.
pub fn router(state: AppState, max_body: usize) -> Router {
    let (routes, api) = openapi::routes();
    let profiles = state.engines.rules.profile_names();
    let styles = starling::prompts::rewrite_style_names(state.engines.config.styles_dir.as_deref());
    let document = Arc::new(openapi::finish(api, &profiles, &styles));
    routes
        .route(
            "/openapi.json",
            get(move || async move { Json(document.as_ref().clone()) }),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Where a running server can be found: written on start, removed on exit.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Discovery {
    pub address: SocketAddr,
    pub pid: u32,
    pub token_path: std::path::PathBuf,
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn hosts_are_loopback_names_or_the_ones_allowed() {
        let extra = [
            "notes.lan".to_string(),
            "192.168.1.20".to_string(),
            "[fd00::5]".to_string(),
        ];
        for (host, allowed) in [
            ("127.0.0.1:8765", true),
            ("localhost", true),
            ("LOCALHOST:8765", true),
            ("evil.example:8765", false),
            ("127.0.0.1:9999", false),
            ("notes.lan:8765", true),
            ("Notes.LAN", true),
            ("192.168.1.20:8765", true),
            ("[fd00::5]:8765", true),
            ("notes.lan.evil.example:8765", false),
        ] {
            assert_eq!(host_allowed(host, 8765, &extra), allowed, "{host}");
            if !["127.0.0.1:8765", "localhost", "LOCALHOST:8765"].contains(&host) {
                assert!(
                    !host_allowed(host, 8765, &[]),
                    "{host} without --allow-host"
                );
            }
        }
    }
}
