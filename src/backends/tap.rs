//! `Tap`: a `Generator` around another that also hands every token to a second callback and
//! stops when a shared flag is set. The HTTP server wraps the engine in one per request, so
//! the tasks (STAR, rewrite) stream their tokens and stop when the client goes away, without
//! knowing about either.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::{GenerateRequest, Generation, Generator};
use crate::error::Result;

/// The second receiver of tokens.
type TokenSink<'a> = Box<dyn FnMut(&str) + Send + 'a>;

/// Forwards to `inner`, copying tokens to `tap` and setting `cancel` on every request.
pub struct Tap<'a> {
    inner: &'a dyn Generator,
    tap: Mutex<TokenSink<'a>>,
    cancel: Arc<AtomicBool>,
}

impl<'a> Tap<'a> {
    pub fn new(
        inner: &'a dyn Generator,
        cancel: Arc<AtomicBool>,
        tap: impl FnMut(&str) + Send + 'a,
    ) -> Self {
        Tap {
            inner,
            tap: Mutex::new(Box::new(tap)),
            cancel,
        }
    }
}

impl Generator for Tap<'_> {
    fn generate(
        &self,
        request: &GenerateRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let mut request = request.clone();
        request.cancel = Some(self.cancel.clone());
        let mut tap = self
            .tap
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.inner.generate(&request, &mut |token| {
            on_token(token);
            tap(token);
        })
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.inner.count_tokens(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::fake::FakeGenerator;
    use std::sync::atomic::Ordering;

    #[test]
    fn tokens_are_copied_and_the_flag_rides_along() {
        let fake = FakeGenerator::new(["hello world"]);
        let seen = Arc::new(Mutex::new(String::new()));
        let flag = Arc::new(AtomicBool::new(false));
        let copy = seen.clone();
        let tap = Tap::new(&fake, flag.clone(), move |t| {
            copy.lock().unwrap().push_str(t)
        });
        let mut direct = String::new();
        let out = tap
            .generate(&GenerateRequest::default(), &mut |t| direct.push_str(t))
            .unwrap();
        assert_eq!(out.text, "hello world");
        assert_eq!(*seen.lock().unwrap(), direct);
        assert!(!flag.load(Ordering::Relaxed));
    }
}
