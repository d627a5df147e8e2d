//! Link latency distributions.
//!
//! Every distribution is sampled from the network's own stream and rounded to whole
//! microseconds; reordering needs no separate knob, it falls out of random latency.
//!
//! Latency draws decide the event order, so the one transcendental function here (the
//! log-normal's `exp`) comes from the pure-Rust `libm` crate, not from `f64::exp`, which
//! calls the platform's math library: the same seed gives the same
//! microseconds, hence the same digest, on every machine (see `engine::rng`). The other
//! samplers are in `engine::rng`; [`Latency::mean_ms`] is arithmetic only.

use crate::engine::rng::{SimRng, normal_quantile};
use crate::engine::time::{Micros, ms_to_micros};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

/// A per-hop latency distribution. All parameters in milliseconds unless noted. Scenario
/// files use this very shape (`network.latency`); `scenario::resolve` checks the values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Constant { ms: f64 },
    /// Uniform in `[min_ms, max_ms]`.
    Uniform { min_ms: f64, max_ms: f64 },
    /// Normal with mean and standard deviation, truncated at 0 by resampling-free clamping.
    Normal { mean_ms: f64, stddev_ms: f64 },
    /// Log-normal with the given mean and log-space standard deviation `sigma`.
    LogNormal { mean_ms: f64, sigma: f64 },
    /// Pareto (heavy tail): minimum `scale_ms`, tail index `shape`, optional ceiling.
    Pareto { scale_ms: f64, shape: f64, cap_ms: Option<f64> },
}

impl Latency {
    /// One sample in microseconds. The number of draws is fixed per distribution.
    pub fn sample(&self, rng: &mut SimRng) -> Micros {
        let ms = match *self {
            Latency::Constant { ms } => {
                rng.next_u64();
                ms
            }
            Latency::Uniform { min_ms, max_ms } => min_ms + (max_ms - min_ms) * rng.unit(),
            Latency::Normal { mean_ms, stddev_ms } => (mean_ms + stddev_ms * rng.std_normal()).max(0.0),
            Latency::LogNormal { mean_ms, sigma } => {
                // exp(μ + σz) with μ = ln(mean) − σ²/2, written without a second `ln` per draw.
                mean_ms * libm::exp(sigma * rng.std_normal() - sigma * sigma / 2.0)
            }
            Latency::Pareto { scale_ms, shape, cap_ms } => {
                let x = rng.pareto(scale_ms, shape);
                match cap_ms {
                    Some(c) => x.min(c),
                    None => x,
                }
            }
        };
        ms_to_micros(ms)
    }

    /// How many 64-bit words of the stream one [`sample`](Self::sample) consumes (fixed per
    /// distribution): a caller that does not need a sample can skip exactly these, so the
    /// draws that follow are the same as if it had drawn it.
    pub fn draws(&self) -> u32 {
        match self {
            Latency::Constant { .. }
            | Latency::Uniform { .. }
            | Latency::Normal { .. }
            | Latency::LogNormal { .. }
            | Latency::Pareto { .. } => 1,
        }
    }

    /// The distribution's mean in milliseconds (uncapped; `None` when infinite).
    pub fn mean_ms(&self) -> Option<f64> {
        match *self {
            Latency::Constant { ms } => Some(ms),
            Latency::Uniform { min_ms, max_ms } => Some((min_ms + max_ms) / 2.0),
            Latency::Normal { mean_ms, .. } => Some(mean_ms),
            Latency::LogNormal { mean_ms, .. } => Some(mean_ms),
            Latency::Pareto { scale_ms, shape, cap_ms: None } => {
                (shape > 1.0).then(|| shape * scale_ms / (shape - 1.0))
            }
            Latency::Pareto { .. } => None,
        }
    }

    /// Multiplies every time parameter by `k` (link degradation windows).
    pub fn scaled(&self, k: f64) -> Latency {
        match *self {
            Latency::Constant { ms } => Latency::Constant { ms: ms * k },
            Latency::Uniform { min_ms, max_ms } => Latency::Uniform { min_ms: min_ms * k, max_ms: max_ms * k },
            Latency::Normal { mean_ms, stddev_ms } => {
                Latency::Normal { mean_ms: mean_ms * k, stddev_ms: stddev_ms * k }
            }
            Latency::LogNormal { mean_ms, sigma } => Latency::LogNormal { mean_ms: mean_ms * k, sigma },
            Latency::Pareto { scale_ms, shape, cap_ms } => {
                Latency::Pareto { scale_ms: scale_ms * k, shape, cap_ms: cap_ms.map(|c| c * k) }
            }
        }
    }
}

/// Cells of the tabulated quantile functions: the table holds the quantile at `i / CELLS`
/// for `i` in `EDGE..=CELLS - EDGE`, and a draw in between is interpolated linearly.
const CELLS: usize = 4096;
/// Draws with `u < EDGE / CELLS` or `u ≥ 1 − EDGE / CELLS` (1/64 in each tail, where the
/// quantile curves too fast for a cell's straight line) are computed exactly.
const EDGE: usize = 64;

/// A latency distribution ready to draw from (issue 15, ninth pass). The normal and
/// log-normal draws read their quantile function from a table instead of evaluating
/// Φ⁻¹ (AS 241) and, for the log-normal, `exp` per draw: the same one stream word per
/// draw, inverted through the same function, which between two grid points of spacing
/// 1/4096 is replaced by its chord. On the central 31/32 of the probability the chord is
/// within a relative 5·10⁻⁶ of the exact quantile for σ = 0.4 (the `wan` preset: 0.4 µs
/// of an 80 ms mean; the bound is h²/8 · |Q''/Q| at the last tabulated cell, tested
/// below against the exact function); the two tails are computed exactly as before. The
/// table is built once per thread and shape from the same `libm` functions, so the
/// draws are still the same on every platform. Other distributions draw as
/// [`Latency::sample`].
#[derive(Clone, Debug)]
pub struct Sampler {
    latency: Latency,
    /// The tabulated quantile: Φ⁻¹ for a normal, exp(σΦ⁻¹ − σ²/2) for a log-normal.
    table: Option<Rc<[f64]>>,
}

impl Sampler {
    pub fn new(latency: &Latency) -> Sampler {
        let table = match *latency {
            Latency::Normal { .. } => Some(quantile_table(None)),
            Latency::LogNormal { sigma, .. } => Some(quantile_table(Some(sigma))),
            _ => None,
        };
        Sampler { latency: latency.clone(), table }
    }

    pub fn latency(&self) -> &Latency {
        &self.latency
    }

    /// One sample in microseconds: [`Latency::sample`] with the tabulated quantile.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> Micros {
        self.sample_scaled(1.0, rng)
    }

    /// One sample of the distribution with every time parameter multiplied by `k`
    /// ([`Latency::scaled`]; a degraded link), in microseconds.
    pub fn sample_scaled(&self, k: f64, rng: &mut SimRng) -> Micros {
        let Some(table) = &self.table else {
            return if k == 1.0 { self.latency.sample(rng) } else { self.latency.scaled(k).sample(rng) };
        };
        let u = rng.normal_uniform();
        let ms = match self.latency {
            Latency::Normal { mean_ms, stddev_ms } => {
                let z = lookup(table, u).unwrap_or_else(|| normal_quantile(u));
                (mean_ms * k + stddev_ms * k * z).max(0.0)
            }
            Latency::LogNormal { mean_ms, sigma } => {
                let q = lookup(table, u).unwrap_or_else(|| libm::exp(sigma * normal_quantile(u) - sigma * sigma / 2.0));
                mean_ms * k * q
            }
            _ => unreachable!("only normal and log-normal samplers have a table"),
        };
        ms_to_micros(ms)
    }
}

/// The tabulated quantile at `u`, or None in the exact tails.
#[inline]
fn lookup(table: &[f64], u: f64) -> Option<f64> {
    // u · 4096 is exact (a power of two), so the cell and the fraction are too.
    let x = u * CELLS as f64;
    let i = x as usize;
    if !(EDGE..CELLS - EDGE).contains(&i) {
        return None;
    }
    let f = x - i as f64;
    let (a, b) = (table[i - EDGE], table[i - EDGE + 1]);
    Some(a + f * (b - a))
}

/// The quantile function at the grid points `EDGE / CELLS ..= 1 − EDGE / CELLS`: Φ⁻¹
/// (`sigma` None) or the unit-mean log-normal's exp(σΦ⁻¹ − σ²/2). Built once per thread
/// and shape (≈ 0.5 M instructions), then shared.
/// Tabulated quantile functions built on this thread, by the bits of σ (None: Φ⁻¹).
type Tables = RefCell<Vec<(Option<u64>, Rc<[f64]>)>>;

fn quantile_table(sigma: Option<f64>) -> Rc<[f64]> {
    thread_local! {
        static TABLES: Tables = const { RefCell::new(Vec::new()) };
    }
    let key = sigma.map(f64::to_bits);
    TABLES.with(|t| {
        if let Some((_, table)) = t.borrow().iter().find(|(k, _)| *k == key) {
            return table.clone();
        }
        let table: Rc<[f64]> = (EDGE..=CELLS - EDGE)
            .map(|i| {
                let z = normal_quantile(i as f64 / CELLS as f64);
                match sigma {
                    None => z,
                    Some(s) => libm::exp(s * z - s * s / 2.0),
                }
            })
            .collect();
        t.borrow_mut().push((key, table.clone()));
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;

    fn mean_of(l: &Latency, n: usize) -> f64 {
        let mut rng = SimRng::derive(5, Stream::Network);
        (0..n).map(|_| l.sample(&mut rng) as f64 / 1000.0).sum::<f64>() / n as f64
    }

    /// `draws` is what `sample` consumes: after skipping `draws` words a second stream is
    /// where the sampling one is.
    #[test]
    fn draws_is_what_a_sample_consumes() {
        let cases = [
            Latency::Constant { ms: 12.0 },
            Latency::Uniform { min_ms: 10.0, max_ms: 30.0 },
            Latency::Normal { mean_ms: 50.0, stddev_ms: 10.0 },
            Latency::LogNormal { mean_ms: 80.0, sigma: 0.5 },
            Latency::Pareto { scale_ms: 10.0, shape: 3.0, cap_ms: Some(40.0) },
        ];
        for l in &cases {
            let mut sampled = SimRng::derive(9, Stream::Network);
            let mut skipped = sampled.clone();
            l.sample(&mut sampled);
            skipped.skip(l.draws());
            assert_eq!(sampled.next_u64(), skipped.next_u64(), "{l:?}");
        }
    }

    #[test]
    fn sample_means_match_configured_means() {
        // 100k samples; the standard error of each mean is below 0.5% of the mean for these
        // parameters (sd/mean ≤ 0.6 → se ≤ 0.6/316 ≈ 0.2%), so 2% is a safe tolerance.
        let cases = [
            Latency::Constant { ms: 12.0 },
            Latency::Uniform { min_ms: 10.0, max_ms: 30.0 },
            Latency::Normal { mean_ms: 50.0, stddev_ms: 10.0 },
            Latency::LogNormal { mean_ms: 80.0, sigma: 0.5 },
        ];
        for l in &cases {
            let m = mean_of(l, 100_000);
            let want = l.mean_ms().unwrap();
            assert!((m - want).abs() / want < 0.02, "{l:?}: {m} vs {want}");
        }
        // Pareto with shape 3 has finite variance; mean = 3*10/2 = 15.
        let p = Latency::Pareto { scale_ms: 10.0, shape: 3.0, cap_ms: None };
        let m = mean_of(&p, 200_000);
        assert!((m - 15.0).abs() / 15.0 < 0.03, "{m}");
        let capped = Latency::Pareto { scale_ms: 10.0, shape: 0.5, cap_ms: Some(40.0) };
        let mut rng = SimRng::derive(1, Stream::Network);
        assert!((0..1000).all(|_| (10_000..=40_000).contains(&capped.sample(&mut rng))));
    }

    /// Latency draws decide the event order; with `libm` they are the same microseconds on
    /// every platform (module documentation), so they are pinned here exactly. All nine are
    /// derived independently by `scripts/latency-draws.py` (plain Python 3: its own BLAKE3
    /// and ChaCha8 give the stream's words, the first two being `engine::rng`'s pinned ones;
    /// `statistics.NormalDist` the quantile Φ⁻¹). With u = (2(w >> 12) + 1)/2⁵³ and
    /// v = (w >> 11)/2⁵³ of word w, in µs: log-normal round(80·exp(0.4·Φ⁻¹(u) − 0.08)·1000),
    /// normal round(max(0, 1 + 0.3·Φ⁻¹(u))·1000), Pareto round(min(10⁴, 20·(1 − v)^(−1/1.5))·1000).
    #[test]
    fn draws_are_the_same_on_every_platform() {
        let mut rng = SimRng::derive(1, Stream::Network);
        let dists = [
            Latency::LogNormal { mean_ms: 80.0, sigma: 0.4 },
            Latency::Normal { mean_ms: 1.0, stddev_ms: 0.3 },
            Latency::Pareto { scale_ms: 20.0, shape: 1.5, cap_ms: Some(10_000.0) },
        ];
        let got: Vec<Micros> =
            dists.iter().flat_map(|l| (0..3).map(|_| l.sample(&mut rng)).collect::<Vec<_>>()).collect();
        assert_eq!(got, [73_138, 39_047, 94_039, 757, 424, 958, 65_981, 28_577, 36_402]);
    }

    /// The table's chords stay within the bound the module claims: h²/8 · max |Q''| over a
    /// cell, with h = 1/4096 and Q'' from Φ⁻¹' = 1/φ(z), Φ⁻¹'' = z/φ(z)², largest at the
    /// outermost tabulated cell (|z| = 2.154). Checked at 200,003 points against the exact
    /// function; a wrong index, fraction or table entry is off by far more.
    #[test]
    fn tabulated_quantiles_are_within_the_chord_bound() {
        let h = 1.0 / CELLS as f64;
        let z = normal_quantile(EDGE as f64 / CELLS as f64).abs();
        let phi = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let (d1, d2) = (1.0 / phi, z / (phi * phi));
        let normal_bound = h * h / 8.0 * d2; // absolute, in z
        let sigma = 0.4;
        let lognormal_bound = h * h / 8.0 * (sigma * d2 + sigma * sigma * d1 * d1); // relative
        let (normal, lognormal) = (quantile_table(None), quantile_table(Some(sigma)));
        let (mut worst_n, mut worst_l, mut inside) = (0f64, 0f64, 0);
        for j in 1..200_004u64 {
            let u = j as f64 / 200_004.0;
            let exact = normal_quantile(u);
            match (lookup(&normal, u), lookup(&lognormal, u)) {
                (Some(zn), Some(q)) => {
                    inside += 1;
                    worst_n = worst_n.max((zn - exact).abs());
                    let want = libm::exp(sigma * exact - sigma * sigma / 2.0);
                    worst_l = worst_l.max((q - want).abs() / want);
                }
                (None, None) => assert!(!(1.0 / 64.0..1.0 - 1.0 / 64.0).contains(&u), "{u} computed exactly"),
                other => panic!("the tables disagree on where the tails start at {u}: {other:?}"),
            }
        }
        assert!(inside > 190_000, "{inside}");
        assert!(worst_n <= normal_bound, "normal: {worst_n} > {normal_bound}");
        assert!(worst_l <= lognormal_bound, "log-normal: {worst_l} > {lognormal_bound}");
        assert!(lognormal_bound < 5e-6, "{lognormal_bound}");
    }

    /// A sampler draws what [`Latency::sample`] draws from the same word, to within the
    /// chord bound (a relative 5·10⁻⁶ for σ = 0.4, the normal's 1.1·10⁻⁵ σ: under 1 µs
    /// at 80 ms, so one microsecond apart after rounding, a little more for the long draws
    /// of a degraded link), and takes the same one word per draw.
    #[test]
    fn a_sampler_draws_what_the_exact_sampler_draws() {
        for l in [
            Latency::LogNormal { mean_ms: 80.0, sigma: 0.4 },
            Latency::Normal { mean_ms: 40.0, stddev_ms: 10.0 },
            Latency::Pareto { scale_ms: 20.0, shape: 1.5, cap_ms: Some(10_000.0) },
        ] {
            let sampler = Sampler::new(&l);
            let (mut a, mut b) = (SimRng::derive(4, Stream::Network), SimRng::derive(4, Stream::Network));
            let (mut differ, mut degraded) = (0, 0);
            for i in 0..100_000 {
                let (x, y) = if i % 2 == 0 {
                    (sampler.sample(&mut a), l.sample(&mut b))
                } else {
                    degraded += 1;
                    (sampler.sample_scaled(3.0, &mut a), l.scaled(3.0).sample(&mut b))
                };
                assert!(x.abs_diff(y) as f64 <= 1.0 + 5e-6 * y as f64, "{l:?} draw {i}: {x} vs {y}");
                differ += (x != y) as u32;
            }
            assert_eq!(a.next_u64(), b.next_u64(), "{l:?}: one word per draw");
            assert!(degraded > 0);
            // Rounding to whole microseconds hides almost every difference.
            assert!(differ < 2_000, "{l:?}: {differ} of 100,000 draws differ by 1 µs");
        }
    }

    /// The tabulated log-normal has the log-normal's distribution: at 400,000 draws the
    /// fraction below each closed-form quantile exp(μ + σΦ⁻¹(p)) is within five binomial
    /// standard errors of p, the mean within five standard errors of 80 ms (sd =
    /// 80 · √(e^σ² − 1) ≈ 32.7 ms, se ≈ 0.052 ms), and the log-space variance within
    /// 0.004 of σ² = 0.16 (its standard error is σ²·√(2/n) ≈ 0.00036).
    #[test]
    fn the_tabulated_log_normal_has_the_log_normal_distribution() {
        let (mean, sigma) = (80.0, 0.4);
        let sampler = Sampler::new(&Latency::LogNormal { mean_ms: mean, sigma });
        let mut rng = SimRng::derive(12, Stream::Network);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| sampler.sample(&mut rng) as f64 / 1000.0).collect();
        let mu = f64::ln(mean) - sigma * sigma / 2.0;
        for (p, z) in [(0.01, -2.326348), (0.1, -1.281552), (0.5, 0.0), (0.9, 1.281552), (0.99, 2.326348)] {
            let q = (mu + sigma * z).exp();
            let frac = xs.iter().filter(|&&x| x < q).count() as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((frac - p).abs() < 5.0 * se, "P(X < {q}) = {frac}, want {p}");
        }
        let m = xs.iter().sum::<f64>() / n as f64;
        let sd = mean * ((sigma * sigma).exp() - 1.0).sqrt();
        assert!((m - mean).abs() < 5.0 * sd / (n as f64).sqrt(), "mean {m}");
        let logs: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
        let lm = logs.iter().sum::<f64>() / n as f64;
        let var = logs.iter().map(|l| (l - lm) * (l - lm)).sum::<f64>() / n as f64;
        assert!((var - sigma * sigma).abs() < 0.004, "log-space variance {var}");
    }
}
