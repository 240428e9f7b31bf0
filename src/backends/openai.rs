//! `OpenAiGenerator`: generation through a local OpenAI-compatible server (Ollama, LM Studio,
//! llama.cpp's `llama-server`, vLLM, GPT4All's server...). Chat completions, streamed as
//! server-sent events; stop strings are enforced here too, JSON Schemas go out as
//! `response_format` and fall back to an instruction where a server refuses them. Loopback
//! only unless the caller allows a remote host. Knows nothing of tasks.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::stream::StopScanner;
use super::{GenerateRequest, Generation, Generator, StopReason};
use crate::error::{Error, Result};

/// Where the server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// The server's base URL, with or without the `/v1` suffix.
    pub url: String,
    /// The model to ask for; `None`: the first one the server lists.
    pub model: Option<String>,
    /// Sent as a bearer token when set (read from an environment variable by the caller).
    pub api_key: Option<String>,
    /// A host other than loopback is accepted only when this is true.
    pub allow_remote: bool,
    /// The longest wait for the server to answer a request or send the next piece.
    pub timeout: Duration,
    /// Requests sent at once by callers that have several (the server queues what its own
    /// slots cannot take).
    pub parallel: usize,
}

/// The scheme, host and port of `url`, and the base with `/v1` (no trailing slash).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUrl {
    pub base: String,
    pub host: String,
    pub loopback: bool,
}

/// Parses and checks a server URL: `http://` or `https://`, a host, an optional port and path.
pub fn parse_url(url: &str) -> std::result::Result<ServerUrl, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| {
        format!("`{url}` is not a URL; use e.g. http://127.0.0.1:11434 (Ollama) or http://127.0.0.1:8080 (llama-server)")
    })?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "`{url}`: only http:// and https:// servers are supported"
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "`{url}`: expected a host such as 127.0.0.1:8080 (credentials in the URL are not accepted; use generator.api_key_env)"
        ));
    }
    let host = if let Some(inner) = authority.strip_prefix('[') {
        inner.split(']').next().unwrap_or_default().to_string()
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
            .to_string()
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let base = if trimmed.ends_with("/v1") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1")
    };
    Ok(ServerUrl {
        base,
        host,
        loopback,
    })
}

/// A model behind an OpenAI-compatible server.
pub struct OpenAiGenerator {
    agent: ureq::Agent,
    url: ServerUrl,
    model: String,
    api_key: Option<String>,
    /// Cleared when the server refuses `response_format` with a schema: later requests put
    /// the schema in the prompt instead.
    schema_supported: AtomicBool,
    /// Whether `/tokenize` (llama-server's) answers; otherwise tokens are estimated.
    tokenize: Mutex<Option<bool>>,
    parallel: usize,
}

impl std::fmt::Debug for OpenAiGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiGenerator")
            .field("url", &self.url.base)
            .field("model", &self.model)
            .finish()
    }
}

/// What the server answered when it was not a success: status and the message it gave.
fn server_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| body.chars().take(300).collect())
}

impl OpenAiGenerator {
    /// Checks the URL, reaches the server and settles the model (`/v1/models`).
    pub fn connect(options: &OpenAiOptions) -> Result<OpenAiGenerator> {
        let url = parse_url(&options.url).map_err(|message| Error::GeneratorServer {
            url: options.url.clone(),
            message,
        })?;
        if !url.loopback {
            if !options.allow_remote {
                return Err(Error::GeneratorServer {
                    url: options.url.clone(),
                    message: format!(
                        "`{}` is not a loopback address, and prompts hold your notes; pass \
                         --allow-remote-model only if you trust that machine",
                        url.host
                    ),
                });
            }
            tracing::warn!(
                host = %url.host,
                "prompts (with note text) go to the generator server on another machine"
            );
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Straight to the server: never through a proxy named in the environment (prompts
            // hold note text), and no redirects to another host.
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_recv_response(Some(options.timeout))
            .timeout_recv_body(Some(options.timeout))
            .build()
            .into();
        let mut generator = OpenAiGenerator {
            agent,
            url,
            model: options.model.clone().unwrap_or_default(),
            api_key: options.api_key.clone(),
            schema_supported: AtomicBool::new(true),
            tokenize: Mutex::new(None),
            parallel: options.parallel.max(1),
        };
        let models = generator.list_models()?;
        match &options.model {
            Some(wanted) if !models.is_empty() && !models.iter().any(|m| m == wanted) => {
                // Some servers (Ollama) load any model they hold on request; others serve
                // one. Go on, but say what the server listed.
                tracing::warn!(
                    model = %wanted,
                    listed = %models.join(", "),
                    "the generator server does not list this model"
                );
            }
            Some(_) => {}
            None => {
                generator.model =
                    models
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::GeneratorServer {
                            url: generator.url.base.clone(),
                            message: "the server lists no model; name one with generator.model \
                                  (e.g. --set generator.model=llama3.1:8b)"
                                .into(),
                        })?;
            }
        }
        Ok(generator)
    }

    pub fn url(&self) -> &str {
        &self.url.base
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::GeneratorServer {
            url: self.url.base.clone(),
            message: message.into(),
        }
    }

    /// An error for a request that did not reach the server, with the fix.
    fn unreachable(&self, err: ureq::Error) -> Error {
        let hint = match &err {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                "; is the server running? (Ollama: `ollama serve`; llama.cpp: `llama-server -m MODEL.gguf --port 8080`; LM Studio: start its local server)"
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "; is the server running? (Ollama: `ollama serve`; llama.cpp: `llama-server -m MODEL.gguf --port 8080`; LM Studio: start its local server)"
            }
            ureq::Error::Timeout(_) => "; the server did not answer in time (a model still loading? raise generator.timeout_s)",
            _ => "",
        };
        self.error(format!("{err}{hint}"))
    }

    /// A POST to `path` under the base URL, with the key when there is one.
    fn post(&self, path: &str, accept: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url.base))
            .header("Accept", accept);
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        request
    }

    /// The ids `/v1/models` lists.
    fn list_models(&self) -> Result<Vec<String>> {
        let mut request = self.agent.get(format!("{}/models", self.url.base));
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request.call().map_err(|err| self.unreachable(err))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|err| self.unreachable(err))?;
        match status {
            200 => {}
            401 | 403 => {
                return Err(self.error(format!(
                    "the server refused the request ({status}: {}); set the key's environment variable named by generator.api_key_env",
                    server_message(&body)
                )))
            }
            404 => {
                return Err(self.error(
                    "no OpenAI-compatible API here (/v1/models answered 404); check the URL and port",
                ))
            }
            _ => {
                return Err(self.error(format!(
                    "/v1/models answered {status}: {}",
                    server_message(&body)
                )))
            }
        }
        let value: Value = serde_json::from_str(&body).map_err(|_| {
            self.error("/v1/models did not answer JSON; is this an OpenAI-compatible server?")
        })?;
        Ok(value
            .get("data")
            .and_then(Value::as_array)
            .map(|models| {
                models
                    .iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn body(&self, request: &GenerateRequest, schema_in_format: bool) -> Value {
        let mut system = request.system.clone();
        if let (Some(schema), false) = (&request.json_schema, schema_in_format) {
            let rule = format!(
                "Reply with one JSON value and nothing else: no prose, no code fence. It must follow this JSON Schema:\n{schema}"
            );
            system = Some(match system {
                Some(text) => format!("{text}\n\n{rule}"),
                None => rule,
            });
        }
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": request.prompt}));
        let sampling = &request.sampling;
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
        });
        // OpenAI's own API takes at most four stop strings; the rest are enforced here.
        if !sampling.stop.is_empty() {
            body["stop"] = json!(sampling.stop.iter().take(4).collect::<Vec<_>>());
        }
        // Understood by llama-server, vLLM and LM Studio; ignored by the others.
        body["min_p"] = json!(sampling.min_p);
        body["repeat_penalty"] = json!(sampling.repeat_penalty);
        if let (Some(schema), true) = (&request.json_schema, schema_in_format) {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": true}
            });
        }
        body
    }

    /// Streams one completion; `Ok(None)` when the server refused `response_format`.
    fn stream(
        &self,
        request: &GenerateRequest,
        schema_in_format: bool,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Option<Generation>> {
        let started = Instant::now();
        let cancelled = || {
            request
                .cancel
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
        };
        let body = self.body(request, schema_in_format);
        let mut response = self
            .post("/chat/completions", "text/event-stream")
            .send_json(&body)
            .map_err(|err| self.unreachable(err))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let message = server_message(&text);
            if schema_in_format
                && (400..500).contains(&status)
                && status != 401
                && status != 403
                && status != 404
            {
                tracing::info!(status, %message, "the server refused response_format; the schema goes in the prompt");
                return Ok(None);
            }
            let hint = match status {
                401 | 403 => "; set the key's environment variable named by generator.api_key_env",
                404 => {
                    "; does the server hold this model? `starling doctor` shows which one is used"
                }
                _ => "",
            };
            return Err(self.error(format!(
                "model `{}`: the server answered {status}: {message}{hint}",
                self.model
            )));
        }
        let reader = BufReader::new(response.into_body().into_reader());
        let mut scanner = StopScanner::new(&request.sampling.stop);
        let mut first_token_ms = 0.0;
        let mut n_prompt = 0usize;
        let mut n_generated = 0usize;
        let mut n_pieces = 0usize;
        let mut finish: Option<String> = None;
        let mut hit_stop = false;
        let mut prompt_ms = 0.0;
        for line in reader.lines() {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let line = line.map_err(|err| self.error(format!("the stream broke off: {err}")))?;
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                return Err(self.error(format!(
                    "the stream held an event that is not JSON: {}",
                    data.chars().take(200).collect::<String>()
                )));
            };
            if let Some(error) = event.get("error") {
                return Err(self.error(format!(
                    "the server stopped with an error: {}",
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| error.to_string(), str::to_string)
                )));
            }
            if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
                let count =
                    |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0) as usize;
                n_prompt = count("prompt_tokens");
                n_generated = count("completion_tokens");
            }
            if let Some(ms) = event.pointer("/timings/prompt_ms").and_then(Value::as_f64) {
                prompt_ms = ms;
            }
            let Some(choice) = event.pointer("/choices/0") else {
                continue;
            };
            if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
                if !piece.is_empty() && !hit_stop {
                    if n_pieces == 0 {
                        first_token_ms = started.elapsed().as_secs_f64() * 1e3;
                    }
                    n_pieces += 1;
                    let (shown, stop) = scanner.push(piece);
                    if !shown.is_empty() {
                        on_token(&shown);
                    }
                    hit_stop = stop;
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                finish = Some(reason.to_string());
            }
            if hit_stop && finish.is_some() {
                break;
            }
        }
        if !hit_stop {
            let rest = scanner.finish();
            if !rest.is_empty() {
                on_token(&rest);
            }
        }
        let stop_reason = if hit_stop {
            StopReason::StopString
        } else {
            match finish.as_deref() {
                Some("length") => StopReason::MaxTokens,
                Some(_) => StopReason::EndOfGeneration,
                None if n_pieces == 0 => {
                    return Err(
                        self.error("the stream ended before any answer; see the server's log")
                    )
                }
                None => StopReason::EndOfGeneration,
            }
        };
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(Some(Generation {
            text: scanner.text().to_string(),
            stop_reason,
            n_prompt_tokens: n_prompt,
            n_cached_tokens: 0,
            n_generated_tokens: if n_generated > 0 {
                n_generated
            } else {
                n_pieces
            },
            prompt_ms: if prompt_ms > 0.0 {
                prompt_ms
            } else {
                first_token_ms
            },
            first_token_ms,
            generation_ms: total_ms - first_token_ms,
            peak_batch: 1,
        }))
    }
}

impl Generator for OpenAiGenerator {
    fn generate(
        &self,
        request: &GenerateRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let in_format =
            request.json_schema.is_some() && self.schema_supported.load(Ordering::Relaxed);
        if let Some(generation) = self.stream(request, in_format, on_token)? {
            return Ok(generation);
        }
        self.schema_supported.store(false, Ordering::Relaxed);
        self.stream(request, false, on_token)?
            .ok_or_else(|| self.error("the server refused the request"))
    }

    fn model_name(&self) -> &str {
        &self.model
    }

    /// llama-server's `/tokenize` where it answers; otherwise an estimate (a token is about
    /// four characters of English), which is what budgets need.
    fn parallel(&self) -> usize {
        self.parallel
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        let known = *self.tokenize.lock().unwrap_or_else(|e| e.into_inner());
        if known != Some(false) {
            let root = self.url.base.trim_end_matches("/v1");
            let mut request = self.agent.post(format!("{root}/tokenize"));
            if let Some(key) = &self.api_key {
                request = request.header("Authorization", format!("Bearer {key}"));
            }
            let answer = request
                .send_json(json!({"content": text}))
                .ok()
                .filter(|r| r.status().as_u16() == 200)
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .and_then(|v| v.get("tokens").and_then(Value::as_array).map(Vec::len));
            *self.tokenize.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer.is_some());
            if let Some(n) = answer {
                return Ok(n);
            }
        }
        Ok(text.chars().count().div_ceil(4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_loopback_is_recognised() {
        let local = parse_url("http://127.0.0.1:11434").unwrap();
        assert_eq!(local.base, "http://127.0.0.1:11434/v1");
        assert!(local.loopback);
        assert_eq!(
            parse_url("http://localhost:8080/v1/").unwrap().base,
            "http://localhost:8080/v1"
        );
        assert!(parse_url("http://[::1]:8080").unwrap().loopback);
        let remote = parse_url("https://gpu-box.lan:8000").unwrap();
        assert!(!remote.loopback);
        assert_eq!(remote.host, "gpu-box.lan");
        assert!(!parse_url("http://10.0.0.5").unwrap().loopback);
        // A loopback-looking name that is not loopback.
        assert!(
            !parse_url("http://127.0.0.1.evil.example:80")
                .unwrap()
                .loopback
        );
        assert!(parse_url("ftp://127.0.0.1").is_err());
        assert!(parse_url("127.0.0.1:8080").is_err());
        assert!(parse_url("http://user:pw@127.0.0.1:8080").is_err());
    }

    #[test]
    fn a_remote_server_is_refused_without_permission_before_any_connection() {
        let options = OpenAiOptions {
            url: "http://192.0.2.1:8080".into(),
            model: None,
            api_key: None,
            allow_remote: false,
            timeout: Duration::from_secs(1),
            parallel: 1,
        };
        let message = OpenAiGenerator::connect(&options).unwrap_err().to_string();
        assert!(message.contains("--allow-remote-model"), "{message}");
    }

    #[test]
    fn a_server_that_is_not_running_gets_the_fix() {
        // A port nothing listens on: bind one, learn its number, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = OpenAiOptions {
            url: format!("http://127.0.0.1:{port}"),
            model: Some("m".into()),
            api_key: None,
            allow_remote: false,
            timeout: Duration::from_secs(2),
            parallel: 1,
        };
        let message = OpenAiGenerator::connect(&options).unwrap_err().to_string();
        assert!(message.contains("is the server running"), "{message}");
        assert!(message.contains(&port.to_string()), "{message}");
    }

    #[test]
    fn server_messages_are_read_from_the_usual_shapes() {
        assert_eq!(server_message(r#"{"error":{"message":"bad"}}"#), "bad");
        assert_eq!(server_message(r#"{"error":"worse"}"#), "worse");
        assert_eq!(server_message("plain"), "plain");
    }
}
