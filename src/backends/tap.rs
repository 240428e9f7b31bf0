//! `Tap`: a `Generator` around another that also hands every token to a second callback and
//! stops when a shared flag is set. The HTTP server wraps the engine in one per request, so
//! the tasks (STAR, rewrite) stream their tokens and stop when the client goes away, without
//! knowing about either. `Interruptible` does the same for an `Embedder`: work that embeds
//! (the tone classifier, search, the map) stops at its next batch once the flag is set.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{Embedder, GenerateRequest, Generation, Generator};
use crate::error::Result;

/// The second receiver of tokens: the number of the generation they belong to (0, 1, ... in
/// the order the calls started) and the token.
type TokenSink<'a> = Box<dyn FnMut(usize, &str) + Send + 'a>;

/// Forwards to `inner`, copying tokens to `tap` and setting `cancel` on every request.
pub struct Tap<'a> {
    inner: &'a dyn Generator,
    tap: Mutex<TokenSink<'a>>,
    cancel: Arc<AtomicBool>,
    /// Generations started so far: a task's calls run side by side (map judgments, rewrite
    /// blocks), so each token says which call it belongs to.
    calls: AtomicUsize,
}

impl<'a> Tap<'a> {
    pub fn new(
        inner: &'a dyn Generator,
        cancel: Arc<AtomicBool>,
        tap: impl FnMut(usize, &str) + Send + 'a,
    ) -> Self {
        Tap {
            inner,
            tap: Mutex::new(Box::new(tap)),
            cancel,
            calls: AtomicUsize::new(0),
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
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        // Locked per token, so a task's concurrent generations (map judgments, rewrite blocks)
        // run side by side and their pieces reach the sink whole.
        self.inner.generate(&request, &mut |token| {
            on_token(token);
            let mut tap = self
                .tap
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            tap(call, token);
        })
    }

    fn parallel(&self) -> usize {
        self.inner.parallel()
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.inner.count_tokens(text)
    }
}

/// Forwards to `inner` until `cancel` is set; then every call fails with `Error::Cancelled`, so a
/// request that timed out or whose client left stops embedding at its next batch.
pub struct Interruptible<'a> {
    inner: &'a dyn Embedder,
    cancel: Arc<AtomicBool>,
}

impl<'a> Interruptible<'a> {
    pub fn new(inner: &'a dyn Embedder, cancel: Arc<AtomicBool>) -> Self {
        Interruptible { inner, cancel }
    }
}

impl Embedder for Interruptible<'_> {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        // At most 32 texts between two looks at the flag.
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(32) {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(crate::error::Error::Cancelled);
            }
            out.extend(self.inner.embed(batch)?);
        }
        Ok(out)
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.inner.count_tokens(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::fake::FakeGenerator;
    use std::sync::atomic::Ordering;

    /// Counts the texts it embeds and sets the flag after the first batch, as a timeout would.
    struct Counting {
        seen: Mutex<usize>,
        flag: Arc<AtomicBool>,
    }

    impl Embedder for Counting {
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            *self.seen.lock().unwrap() += texts.len();
            self.flag.store(true, Ordering::Relaxed);
            Ok(texts.iter().map(|_| vec![1.0]).collect())
        }
        fn dimension(&self) -> usize {
            1
        }
        fn model_name(&self) -> &str {
            "counting"
        }
        fn count_tokens(&self, _: &str) -> usize {
            1
        }
    }

    #[test]
    fn embedding_stops_at_the_next_batch_once_cancelled() {
        let flag = Arc::new(AtomicBool::new(false));
        let inner = Counting {
            seen: Mutex::new(0),
            flag: flag.clone(),
        };
        let texts: Vec<String> = (0..100).map(|i| format!("text {i}")).collect();
        let result = Interruptible::new(&inner, flag.clone()).embed(&texts);
        assert!(matches!(result, Err(crate::error::Error::Cancelled)));
        assert_eq!(*inner.seen.lock().unwrap(), 32);
        // A flag nobody sets: every text comes back, in batches.
        let quiet = Arc::new(AtomicBool::new(false));
        let vectors = Interruptible::new(&inner, quiet)
            .embed(&texts[..40])
            .unwrap();
        assert_eq!(vectors.len(), 40);
        assert_eq!(*inner.seen.lock().unwrap(), 32 + 40);
    }

    #[test]
    fn tokens_are_copied_and_the_flag_rides_along() {
        let fake = FakeGenerator::new(["hello world"]);
        let seen = Arc::new(Mutex::new(String::new()));
        let flag = Arc::new(AtomicBool::new(false));
        let copy = seen.clone();
        let tap = Tap::new(&fake, flag.clone(), move |call, t| {
            assert_eq!(call, 0, "the first generation is call 0");
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

    #[test]
    fn each_generation_has_its_own_call_number() {
        let fake = FakeGenerator::new(["one", "two", "three"]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let copy = seen.clone();
        let tap = Tap::new(&fake, Arc::new(AtomicBool::new(false)), move |call, t| {
            copy.lock().unwrap().push((call, t.to_string()))
        });
        for _ in 0..3 {
            tap.generate(&GenerateRequest::default(), &mut |_| {})
                .unwrap();
        }
        let seen = seen.lock().unwrap();
        let calls: Vec<usize> = seen.iter().map(|(c, _)| *c).collect();
        let mut distinct = calls.clone();
        distinct.dedup();
        assert_eq!(distinct, vec![0, 1, 2], "{seen:?}");
        let text = |n: usize| -> String {
            seen.iter()
                .filter(|(c, _)| *c == n)
                .map(|(_, t)| t.as_str())
                .collect()
        };
        assert_eq!(
            (text(0), text(1), text(2)),
            ("one".into(), "two".into(), "three".into())
        );
    }
}
