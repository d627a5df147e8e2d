//! Seeded randomness: one master seed, one independent ChaCha stream per subsystem.
//!
//! Each subsystem (network, adversary, workload, each node, the key generator) draws from
//! its own ChaCha8 stream whose key is `blake3(master seed, stream label)`. Turning on one
//! fault therefore never reshuffles the draws of another subsystem, and two runs with the
//! same seed draw the same numbers in the same order.
//!
//! The samplers below are written here rather than taken from `rand`'s distributions so
//! the numbers a seed produces cannot change under a dependency upgrade. Continuous draws
//! use `f64::ln`/`cos`/`powf` once per sample and are rounded to whole microseconds by the
//! caller, so last-ulp differences between math libraries almost never reach the
//! event order (this is the one place a float feeds behaviour).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Labels of the per-subsystem streams. Adding a stream never changes the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Every delivery decision: loss, latency, duplication.
    Network,
    /// Random topology generation (random-regular overlays).
    Topology,
    /// Reserved for randomised adversaries (today's behaviours are deterministic).
    Adversary,
    /// Transaction arrival and gossip delay.
    Workload,
    Keys,
    /// Reserved for per-node randomness outside the replica (replicas draw none).
    Node(u32),
    /// Swarm testing: the random configuration of one swarm run.
    Swarm,
    /// Gossip delays of validator-set change transactions.
    Changes,
    /// Swarm testing: the validator churn of one swarm run (apart from the rest of its
    /// configuration, so adding churn never changes what a seed drew before).
    SwarmChurn,
}

impl Stream {
    fn label(self) -> Vec<u8> {
        match self {
            Stream::Network => b"network".to_vec(),
            Stream::Topology => b"topology".to_vec(),
            Stream::Adversary => b"adversary".to_vec(),
            Stream::Workload => b"workload".to_vec(),
            Stream::Keys => b"keys".to_vec(),
            Stream::Swarm => b"swarm".to_vec(),
            Stream::Changes => b"changes".to_vec(),
            Stream::SwarmChurn => b"swarm-churn".to_vec(),
            Stream::Node(i) => {
                let mut v = b"node:".to_vec();
                v.extend_from_slice(&i.to_le_bytes());
                v
            }
        }
    }
}

/// A deterministic random stream with the samplers the simulator needs.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream `which` derived from `master_seed`.
    pub fn derive(master_seed: u64, which: Stream) -> SimRng {
        let mut h = blake3::Hasher::new();
        h.update(b"dbft-sim/rng/v1");
        h.update(&master_seed.to_le_bytes());
        h.update(&which.label());
        SimRng { inner: ChaCha8Rng::from_seed(*h.finalize().as_bytes()) }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform integer in `0..n` without modulo bias (rejection on the 128-bit product).
    /// `n == 0` returns 0 after one draw, so callers need no special case.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            self.next_u64();
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform integer in `lo..=hi` (`lo` if the range is empty).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            self.next_u64();
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// Uniform float in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`. Always consumes exactly one draw, even for p = 0 or 1, so
    /// changing a probability never shifts the draws that follow.
    pub fn chance(&mut self, p: f64) -> bool {
        let u = self.unit();
        u < p
    }

    /// Standard normal variate (Box–Muller, one of the pair; always two draws).
    pub fn std_normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1], so ln never sees 0.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential variate with the given mean (one draw).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Pareto (type I) variate with minimum `scale` and tail index `shape` (one draw).
    pub fn pareto(&mut self, scale: f64, shape: f64) -> f64 {
        scale / (1.0 - self.unit()).powf(1.0 / shape)
    }

    /// Picks `k` distinct indices out of `0..n` (partial Fisher–Yates), in draw order.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a1 = SimRng::derive(42, Stream::Network);
        let mut a2 = SimRng::derive(42, Stream::Network);
        let mut b = SimRng::derive(42, Stream::Workload);
        let mut c = SimRng::derive(43, Stream::Network);
        let xa1: Vec<u64> = (0..8).map(|_| a1.next_u64()).collect();
        let xa2: Vec<u64> = (0..8).map(|_| a2.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa1, xa2);
        assert_ne!(xa1, xb);
        assert_ne!(xa1, xc);
        assert_ne!(SimRng::derive(1, Stream::Node(0)).next_u64(), SimRng::derive(1, Stream::Node(1)).next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::derive(7, Stream::Adversary);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[r.below(7) as usize] += 1;
        }
        // Each bucket expects 1000; 5 standard deviations (sd ≈ 29) is a loose bound.
        assert!(seen.iter().all(|&c| (850..1150).contains(&c)), "{seen:?}");
        assert_eq!(r.range_inclusive(5, 5), 5);
        let x = r.range_inclusive(10, 12);
        assert!((10..=12).contains(&x));
    }

    #[test]
    fn samplers_have_the_right_means() {
        let mut r = SimRng::derive(9, Stream::Workload);
        let n = 200_000;
        let mean_norm: f64 = (0..n).map(|_| r.std_normal()).sum::<f64>() / n as f64;
        let mean_exp: f64 = (0..n).map(|_| r.exponential(3.0)).sum::<f64>() / n as f64;
        // Standard error of the mean: 1/sqrt(n) ≈ 0.0022 (normal), 3/sqrt(n) ≈ 0.0067 (exp).
        assert!(mean_norm.abs() < 0.012, "{mean_norm}");
        assert!((mean_exp - 3.0).abs() < 0.035, "{mean_exp}");
        let p: Vec<f64> = (0..1000).map(|_| r.pareto(2.0, 1.5)).collect();
        assert!(p.iter().all(|&x| x >= 2.0));
        let s = r.sample_indices(10, 4);
        let mut sorted = s.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
    }
}
