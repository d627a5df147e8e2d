//! Runs independent simulations on worker threads and returns results in input order, so
//! output never depends on the number of workers. Each simulation is single-threaded and
//! owns all of its state; nothing is shared between runs.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many items a streaming sweep holds at once: enough to keep every worker busy,
/// few enough that a sweep of millions of seeds holds kilobytes, not gigabytes.
pub fn chunk_size(jobs: usize) -> usize {
    256 * jobs.max(1)
}

/// A progress bar (hidden unless stderr is a terminal) for `len` items.
pub fn bar(label: &str, len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!("{label} [{{bar:40}}] {{pos}}/{{len}} ({{elapsed}})")) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `f` over `items` with `jobs` workers, with a progress bar of its own.
pub fn map<T: Sync, R: Send>(label: &str, items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let bar = bar(label, items.len() as u64);
    let out = map_on(&bar, items, jobs, f);
    bar.finish_and_clear();
    out
}

/// `f` over `items` with `jobs` workers, counting on `bar` (shared by the chunks of a
/// streaming sweep).
pub fn map_on<T: Sync, R: Send>(bar: &ProgressBar, items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(k) else { break };
                    let r = f(item);
                    if let Ok(mut slot) = slots[k].lock() {
                        *slot = Some(r);
                    }
                    bar.inc(1);
                }
            });
        }
    });
    slots.into_iter().filter_map(|m| m.into_inner().ok().flatten()).collect()
}
