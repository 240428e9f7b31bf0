//! A scripted `Generator` for unit tests of pure logic and failure injection. Public so
//! tests and demos can use it; never a substitute for the real engine in integration tests.

use std::sync::Mutex;

use super::{GenerateRequest, Generation, Generator, StopReason};
use crate::error::{Error, Result};

/// Replies with canned answers in order; errors once the script runs out.
#[derive(Debug, Default)]
pub struct FakeGenerator {
    replies: Mutex<std::collections::VecDeque<Result<String, String>>>,
    /// Every request it saw, for assertions (prompts only).
    pub seen: Mutex<Vec<String>>,
}

impl FakeGenerator {
    pub fn new(replies: impl IntoIterator<Item = &'static str>) -> Self {
        FakeGenerator {
            replies: Mutex::new(replies.into_iter().map(|r| Ok(r.to_string())).collect()),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Adds a reply that fails with `message`.
    pub fn push_failure(&self, message: &str) {
        self.replies
            .lock()
            .unwrap()
            .push_back(Err(message.to_string()));
    }
}

impl Generator for FakeGenerator {
    fn generate(
        &self,
        request: &GenerateRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        self.seen.lock().unwrap().push(request.prompt.clone());
        let reply = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err("fake generator has no reply left".into()))
            .map_err(Error::Generation)?;
        for piece in reply.split_inclusive(' ') {
            on_token(piece);
        }
        Ok(Generation {
            n_generated_tokens: reply.split_whitespace().count(),
            text: reply,
            stop_reason: StopReason::EndOfGeneration,
            n_prompt_tokens: request.prompt.split_whitespace().count(),
            n_cached_tokens: 0,
            prompt_ms: 0.0,
            first_token_ms: 0.0,
            generation_ms: 0.0,
            peak_batch: 1,
        })
    }

    fn model_name(&self) -> &str {
        "fake"
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
}
