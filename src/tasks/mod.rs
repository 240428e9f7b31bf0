//! Tasks: each is a request, pure prompt building and parsing, and one `run` that calls the
//! backends. No file or network I/O here.

pub mod audit;
pub mod copies;
pub mod evidence;
pub mod facts;
pub mod map;
pub mod parts;
pub mod rewrite;
pub mod rubric;
pub mod star;
pub mod stories;
pub mod tone;

/// `work` applied to every item, up to `workers` at once on scoped threads, results in the
/// items' order. Tasks use it to keep a batching generator's sequences busy
/// (`Generator::parallel`); one worker runs everything on the caller's thread.
pub fn in_parallel<T: Sync, R: Send>(
    workers: usize,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    in_parallel_with_progress(workers, items, work, &mut |_| {})
}

/// `in_parallel`, calling `on_done(n)` on the caller's thread each time the `n`th item is done.
pub fn in_parallel_with_progress<T: Sync, R: Send>(
    workers: usize,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    on_done: &mut dyn FnMut(usize),
) -> Vec<R> {
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let result = work(item);
                on_done(index + 1);
                result
            })
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel::<()>();
        for _ in 0..workers {
            let done = done.clone();
            let (next, results, work) = (&next, &results, &work);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(index) else {
                    break;
                };
                let result = work(item);
                *results[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                let _ = done.send(());
            });
        }
        drop(done);
        // Ends early only when a worker panicked (the scope then re-raises its panic).
        for n in 1..=items.len() {
            if finished.recv().is_err() {
                break;
            }
            on_done(n);
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every item was worked on")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::in_parallel;

    #[test]
    fn in_parallel_keeps_the_order_and_runs_every_item_once() {
        let items: Vec<u32> = (0..37).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for workers in [1, 3, 8, 100] {
            calls.store(0, std::sync::atomic::Ordering::Relaxed);
            let out = in_parallel(workers, &items, |&x| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(u64::from(x % 3)));
                x * 2
            });
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
            assert_eq!(
                calls.load(std::sync::atomic::Ordering::Relaxed),
                items.len()
            );
        }
        assert!(in_parallel(4, &[] as &[u32], |&x| x).is_empty());
        let mut seen = Vec::new();
        super::in_parallel_with_progress(3, &items, |&x| x, &mut |n| seen.push(n));
        assert_eq!(seen, (1..=items.len()).collect::<Vec<_>>());
    }
}
