//! Runs independent simulations on worker threads and returns results in input order, so
//! output never depends on the number of workers. Each simulation is single-threaded and
//! owns all of its state; nothing is shared between runs.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` over `items` with `jobs` workers; a progress bar (hidden unless stderr is a
/// terminal) counts finished items.
pub fn map<T: Sync, R: Send>(label: &str, items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let bar = ProgressBar::new(items.len() as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!("{label} [{{bar:40}}] {{pos}}/{{len}} ({{elapsed}})")) {
        bar.set_style(style.progress_chars("=> "));
    }
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
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
    bar.finish_and_clear();
    slots.into_iter().filter_map(|m| m.into_inner().ok().flatten()).collect()
}
