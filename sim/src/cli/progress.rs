//! A progress bar over simulated time for long runs (hidden when stderr is not a terminal).

use crate::engine::time::SimTime;
use crate::engine::trace::{Halt, Observer, Rec};
use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    seen: u64,
}

impl Progress {
    /// A bar from 0 to `until` (simulated milliseconds).
    pub fn new(until: SimTime, label: &str) -> Progress {
        let bar = ProgressBar::new(until.0 / 1000);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} sim-ms ({elapsed})") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        Progress { bar, seen: 0 }
    }

    /// A bar that never draws.
    pub fn hidden() -> Progress {
        Progress { bar: ProgressBar::hidden(), seen: 0 }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        self.seen += 1;
        if self.seen.is_multiple_of(8192) {
            self.bar.set_position(rec.time.0 / 1000);
        }
        None
    }
}
