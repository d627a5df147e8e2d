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

/// `f` over `items` (pulled lazily, each with its position) with `jobs` workers; `emit`
/// gets every result in input order as soon as it and all before it are done — a reorder
/// buffer, so output is printed while a sweep runs and still does not depend on `jobs`.
/// `emit` returning false stops the sweep: no further item starts, and results after that
/// one are dropped (so what was emitted is the same whatever `jobs` is). Workers run at
/// most `chunk_size(jobs)` items ahead of the oldest unfinished one, so a slow item cannot
/// make the buffer grow without bound.
pub fn stream<T: Send, R: Send>(
    items: impl Iterator<Item = T> + Send,
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
    mut emit: impl FnMut(T, R) -> bool,
) {
    use std::collections::BTreeMap;
    use std::sync::Condvar;
    struct State<I> {
        items: I,
        /// Position of the next item to start.
        next: usize,
        /// Results emitted so far.
        emitted: usize,
        stop: bool,
    }
    let window = chunk_size(jobs);
    let state = Mutex::new(State { items, next: 0, emitted: 0, stop: false });
    let wake = Condvar::new();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, T, R)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (state, wake, f) = (&state, &wake, &f);
            scope.spawn(move || {
                loop {
                    let taken = {
                        let Ok(mut s) = state.lock() else { return };
                        while !s.stop && s.next >= s.emitted + window {
                            s = match wake.wait(s) {
                                Ok(s) => s,
                                Err(_) => return,
                            };
                        }
                        if s.stop {
                            return;
                        }
                        let k = s.next;
                        s.items.next().map(|item| {
                            s.next += 1;
                            (k, item)
                        })
                    };
                    let Some((k, item)) = taken else { return };
                    // A panicking run must not leave the others waiting for its result:
                    // stop everyone, then let the panic end the sweep as it would have.
                    let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&item))) {
                        Ok(r) => r,
                        Err(panic) => {
                            if let Ok(mut s) = state.lock() {
                                s.stop = true;
                            }
                            wake.notify_all();
                            std::panic::resume_unwind(panic);
                        }
                    };
                    if tx.send((k, item, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, (T, R)> = BTreeMap::new();
        let mut emitted = 0usize;
        let mut stopped = false;
        for (k, item, r) in rx {
            if stopped {
                continue;
            }
            pending.insert(k, (item, r));
            while let Some((item, r)) = pending.remove(&emitted) {
                emitted += 1;
                if !emit(item, r) {
                    stopped = true;
                    pending.clear();
                    break;
                }
            }
            if let Ok(mut s) = state.lock() {
                s.emitted = emitted;
                s.stop |= stopped;
            }
            wake.notify_all();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results come out in input order whatever the number of workers and however long
    /// each item takes; stopping after an item emits exactly the items up to it.
    #[test]
    fn stream_emits_in_order_and_stops_where_told() {
        for jobs in [1, 2, 5] {
            let mut out = vec![];
            let slow = |&x: &u64| {
                std::thread::sleep(std::time::Duration::from_micros((x * 7919) % 13 * 50));
                x * 2
            };
            stream(0..200u64, jobs, slow, |x, r| {
                out.push((x, r));
                true
            });
            assert_eq!(out, (0..200).map(|x| (x, x * 2)).collect::<Vec<_>>(), "jobs {jobs}");
            let mut upto = vec![];
            stream(0..200u64, jobs, slow, |x, _| {
                upto.push(x);
                x != 37
            });
            assert_eq!(upto, (0..=37).collect::<Vec<_>>(), "jobs {jobs}");
        }
    }

    /// A run that panics ends the sweep with that panic instead of leaving the other
    /// workers waiting for its result forever.
    #[test]
    fn a_panicking_item_ends_the_stream() {
        let r = std::panic::catch_unwind(|| {
            stream(0..10_000u64, 2, |&x| if x == 5 { panic!("item 5") } else { x }, |_, _| true);
        });
        assert!(r.is_err());
    }
}
