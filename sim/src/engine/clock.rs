//! Per-node clocks: drift between a node's local time and virtual time.
//!
//! A replica sees its local clock (`Cx::now`) and arms timers in local time; the engine
//! converts both ways. A clock running 1 % fast (`+10_000` ppm) fires every timer 1 % early
//! in virtual time and stamps proposals 1 % ahead. Integer arithmetic only.

use super::time::SimTime;
use serde::Serialize;

/// Clock drift in parts per million (positive = fast).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Clock {
    pub drift_ppm: i64,
}

const PPM: i128 = 1_000_000;

impl Clock {
    /// Local reading at virtual time `t`.
    pub fn local(self, t: SimTime) -> SimTime {
        if self.drift_ppm == 0 {
            return t;
        }
        let v = t.0 as i128 * (PPM + self.drift_ppm as i128) / PPM;
        SimTime(v.clamp(0, u64::MAX as i128) as u64)
    }

    /// The earliest virtual time at which the local clock reads at least `local`.
    pub fn global(self, local: SimTime) -> SimTime {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = PPM + self.drift_ppm as i128;
        if rate <= 0 {
            return SimTime::MAX;
        }
        // ceil(local * PPM / rate)
        let v = (local.0 as i128 * PPM + rate - 1) / rate;
        SimTime(v.clamp(0, u64::MAX as i128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_round_trips() {
        for ppm in [-50_000i64, -1, 0, 1, 10_000, 300_000] {
            let c = Clock { drift_ppm: ppm };
            for t in [0u64, 1, 999, 15_000_000, 123_456_789] {
                let g = c.global(SimTime(t));
                assert!(c.local(g) >= SimTime(t), "ppm {ppm} t {t}");
                if g.0 > 0 {
                    assert!(c.local(SimTime(g.0 - 1)) < SimTime(t), "ppm {ppm} t {t}: not earliest");
                }
            }
        }
        let fast = Clock { drift_ppm: 10_000 };
        assert_eq!(fast.local(SimTime(1_000_000)), SimTime(1_010_000));
    }
}
