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
#[inline]
pub fn ms_to_micros(ms: f64) -> Micros {
    let x = ms * MICROS_PER_MS as f64;
    if x > 0.0 && x < 4_503_599_627_370_496.0 {
        // `round` (below) and the conversion in one: on (0, 2⁵²) the truncation is exact
        // and converts through i64 (one instruction; the u64 conversion of a float is a
        // branchy sequence on x86-64).
        let t = x as i64;
        return (t + (x - t as f64 >= 0.5) as i64) as u64;
    }
    if ms.is_nan() || ms <= 0.0 {
        return 0;
    }
    let us = round(x);
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

/// `x.round()` (to nearest, halves away from zero), bit for bit, without the library call
/// `f64::round` compiles to on x86-64 (a software routine of ≈ 25 instructions, run twice
/// per latency sample). For 0 < x < 2⁵², `x - trunc(x)` is exact (Sterbenz: trunc(x) ≤ x
/// < 2·trunc(x) once x ≥ 1, and trunc(x) = 0 below), so comparing it with ½ decides the
/// rounding exactly; anything else (zeros, negative, huge, NaN) goes to `f64::round`.
#[inline]
pub fn round(x: f64) -> f64 {
    if x > 0.0 && x < 4_503_599_627_370_496.0 {
        let t = x as i64 as f64;
        if x - t >= 0.5 { t + 1.0 } else { t }
    } else {
        x.round()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next state of a xorshift64 generator (test inputs only).
    fn xorshift(v: &mut u64) -> u64 {
        *v ^= *v << 13;
        *v ^= *v >> 7;
        *v ^= *v << 17;
        *v
    }

    /// The same bits as `f64::round` on the edges (just below and at halves, the end of the
    /// fast range, negatives, zeros, infinities, NaN) and on many values in between.
    #[test]
    fn round_is_f64_round() {
        let p52 = 4_503_599_627_370_496.0_f64;
        let mut xs = vec![
            0.0,
            -0.0,
            0.49999999999999994,
            0.5,
            0.5000000000000001,
            1.5,
            2.5,
            3.4999999999999996,
            p52 - 0.5,
            p52 - 1.0,
            p52,
            p52 + 1.0,
            1e300,
            -0.5,
            -2.5,
            -1e-300,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let mut v = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            let v = xorshift(&mut v);
            xs.push((v >> 11) as f64 / (1u64 << 53) as f64 * 4.0);
            xs.push(f64::from_bits(v >> 2));
        }
        for x in xs {
            assert_eq!(round(x).to_bits(), x.round().to_bits(), "{x:e}");
        }
    }

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

    /// The fused fast path gives what `f64::round` and a saturating conversion give, on
    /// halves, the edges of the fast range and many values in between.
    #[test]
    fn ms_to_micros_is_round_then_convert() {
        let reference = |ms: f64| -> u64 {
            let us = (ms * 1000.0).round();
            if ms.is_nan() || ms <= 0.0 {
                0
            } else if us >= u64::MAX as f64 {
                u64::MAX
            } else {
                us as u64
            }
        };
        let p52_ms = 4_503_599_627_370_496.0 / 1000.0;
        let mut ms =
            vec![0.0005, 0.0015, 0.0025, 0.00049999, 1.0005, 79.9995, p52_ms, p52_ms * 0.999_999, 5e-324, 1e19];
        let mut v = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..100_000 {
            let v = xorshift(&mut v);
            ms.push((v >> 11) as f64 / (1u64 << 53) as f64 * 500.0);
            ms.push((v >> 40) as f64 / 2000.0); // exact halves of a microsecond and between
        }
        for m in ms {
            assert_eq!(ms_to_micros(m), reference(m), "{m:e} ms");
        }
    }
}
