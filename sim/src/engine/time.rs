//! Virtual time.
//!
//! Time is an integer number of microseconds since the start of the run. No float ever
//! takes part in ordering events; floats appear only at the edges (scenario files speak
//! milliseconds, reports print milliseconds) and are converted here, once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};

/// A point in virtual time, in microseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SimTime(pub u64);

/// A span of virtual time, in microseconds.
pub type Micros = u64;

pub const MICROS_PER_MS: u64 = 1_000;
pub const MICROS_PER_SEC: u64 = 1_000_000;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// Converts milliseconds (possibly fractional, as written in scenario files) to virtual
    /// time, rounding to the nearest microsecond. Negative or non-finite input saturates to 0
    /// (scenario validation rejects such values before they get here).
    pub fn from_ms_f64(ms: f64) -> SimTime {
        SimTime(ms_to_micros(ms))
    }

    pub fn from_ms(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(MICROS_PER_MS))
    }

    pub fn from_secs(s: u64) -> SimTime {
        SimTime(s.saturating_mul(MICROS_PER_SEC))
    }

    pub fn as_micros(self) -> u64 {
        self.0
    }

    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_MS as f64
    }

    /// `self + d`, saturating at the end of time instead of wrapping: a timer set absurdly far
    /// in the future must never come back as an early one.
    pub fn plus(self, d: Micros) -> SimTime {
        SimTime(self.0.saturating_add(d))
    }

    /// `self - earlier`, or 0 when `earlier` is later.
    pub fn since(self, earlier: SimTime) -> Micros {
        self.0.saturating_sub(earlier.0)
    }
}

/// Milliseconds (possibly fractional) to whole microseconds, rounded to nearest; +∞ (an
/// overflowing heavy-tail sample) saturates to the end of time, NaN and ≤ 0 give 0.
pub fn ms_to_micros(ms: f64) -> Micros {
    if ms.is_nan() || ms <= 0.0 {
        return 0;
    }
    let us = (ms * MICROS_PER_MS as f64).round();
    if us >= u64::MAX as f64 { u64::MAX } else { us as u64 }
}

impl Add<Micros> for SimTime {
    type Output = SimTime;
    fn add(self, d: Micros) -> SimTime {
        self.plus(d)
    }
}

impl Sub<SimTime> for SimTime {
    type Output = Micros;
    fn sub(self, other: SimTime) -> Micros {
        self.since(other)
    }
}

impl fmt::Display for SimTime {
    /// `12.345678s`: seconds with microsecond precision, so trace lines sort as text too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / MICROS_PER_SEC, self.0 % MICROS_PER_SEC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_conversion_rounds_and_saturates() {
        assert_eq!(SimTime::from_ms_f64(1.5).0, 1_500);
        assert_eq!(SimTime::from_ms_f64(0.0004).0, 0);
        assert_eq!(SimTime::from_ms_f64(0.0006).0, 1);
        assert_eq!(SimTime::from_ms_f64(-3.0).0, 0);
        assert_eq!(SimTime::from_ms_f64(f64::NAN).0, 0);
        assert_eq!(SimTime::from_ms_f64(1e300).0, u64::MAX);
        assert_eq!(SimTime::from_ms_f64(f64::INFINITY).0, u64::MAX);
        assert_eq!(SimTime::MAX.plus(5), SimTime::MAX);
        assert_eq!(SimTime(3).since(SimTime(5)), 0);
        assert_eq!(SimTime(2_500_001).to_string(), "2.500001s");
    }
}
