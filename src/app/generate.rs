//! One chat turn with the model, optionally constrained by a JSON Schema: `starling generate`,
//! `POST /v1/generate`.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::backends::{GenerateRequest, Generator, Sampling};
use crate::config::GeneratorSettings;
use crate::error::{Error, Result};
use crate::structured::{check_schema, generate_json};

/// The most tokens one answer may have.
pub const MAX_TOKENS: u32 = 8192;

/// A prompt and how to sample its answer; what is left out comes from the `generator` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    pub prompt: String,
    /// The system message.
    pub system: Option<String>,
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub max_tokens: Option<u32>,
    /// 0 = greedy and deterministic.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f32>,
    #[schema(minimum = 0, maximum = 1)]
    pub top_p: Option<f32>,
    #[schema(minimum = 0, maximum = 1)]
    pub min_p: Option<f32>,
    /// 1 = off.
    #[schema(minimum = 0.01)]
    pub repeat_penalty: Option<f32>,
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub seed: Option<u32>,
    /// Stop before any of these.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Answer with a JSON value valid against this schema (`json` in the answer).
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    /// Answer with server-sent events (`token`, then `done`); the HTTP API only.
    #[serde(default)]
    pub stream: bool,
}

/// The answer. The JSON field names are a contract (`/v1/generate`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TextAnswer {
    /// The value, valid against the request's schema (only when it gave one): any JSON
    /// value the schema allows, not only an object.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub json: Option<Value>,
    pub text: String,
    /// Why generation stopped: `EndOfGeneration`, `StopString`, `MaxTokens`, `ContextFull` or
    /// `Cancelled`.
    pub stop_reason: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens whose state was reused from an earlier call.
    pub cached_tokens: usize,
    pub seconds: f64,
}

impl TextRequest {
    /// The sampling settings: the request's, else `settings`' (max_tokens capped at 8,192).
    pub fn sampling(&self, settings: &GeneratorSettings) -> Result<Sampling> {
        let sampling = Sampling {
            temperature: self.temperature.unwrap_or(settings.temperature),
            top_p: self.top_p.unwrap_or(settings.top_p),
            min_p: self.min_p.unwrap_or(settings.min_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(settings.repeat_penalty),
            seed: self.seed.unwrap_or(settings.seed),
            max_tokens: self
                .max_tokens
                .unwrap_or(settings.max_tokens)
                .clamp(1, MAX_TOKENS),
            stop: self.stop.clone(),
        };
        if !(0.0..=2.0).contains(&sampling.temperature) {
            return Err(Error::invalid("temperature", "must be between 0 and 2"));
        }
        if !(0.0..=1.0).contains(&sampling.top_p) {
            return Err(Error::invalid("top_p", "must be between 0 and 1"));
        }
        if !(0.0..=1.0).contains(&sampling.min_p) {
            return Err(Error::invalid("min_p", "must be between 0 and 1"));
        }
        if sampling.repeat_penalty.is_nan() || sampling.repeat_penalty < 0.01 {
            return Err(Error::invalid(
                "repeat_penalty",
                "must be at least 0.01 (1 = off)",
            ));
        }
        Ok(sampling)
    }

    /// The schema, checked before anything is generated.
    pub fn schema(&self) -> Result<Option<&Value>> {
        if let Some(schema) = &self.json_schema {
            check_schema(schema).map_err(|err| Error::invalid("json_schema", err.to_string()))?;
        }
        Ok(self.json_schema.as_ref())
    }
}

/// Generates the answer, passing each piece of plain text to `on_token` as it comes (a
/// structured answer is passed whole by the caller, once validated).
pub fn run(
    generator: &dyn Generator,
    request: &TextRequest,
    settings: &GeneratorSettings,
    on_token: &mut dyn FnMut(&str),
) -> Result<(TextAnswer, crate::backends::Generation)> {
    let started = Instant::now();
    let generate = GenerateRequest {
        system: request.system.clone(),
        prompt: request.prompt.clone(),
        sampling: request.sampling(settings)?,
        json_schema: None,
        cancel: None,
    };
    let (json, generation) = match request.schema()? {
        Some(schema) => {
            let (value, generation) = generate_json(generator, &generate, schema)?;
            (Some(value), generation)
        }
        None => (None, generator.generate(&generate, on_token)?),
    };
    let answer = TextAnswer {
        json,
        text: generation.text.clone(),
        stop_reason: format!("{:?}", generation.stop_reason),
        prompt_tokens: generation.n_prompt_tokens,
        completion_tokens: generation.n_generated_tokens,
        cached_tokens: generation.n_cached_tokens,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((answer, generation))
}
