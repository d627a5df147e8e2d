//! `--seeds` lists: `1,2,3`, `1..100` (inclusive) or a mix, kept as ranges so that a
//! million seeds cost a few bytes until they run, and capped in total so a typo cannot
//! start a sweep that never ends.

use std::ops::RangeInclusive;

/// The most seeds one `--seeds` argument may name (a night of swarm on a large machine).
pub const MAX_SEEDS: u64 = 100_000_000;

/// A parsed `--seeds` argument (rejected with a clear message, exit 2, by clap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedList {
    ranges: Vec<RangeInclusive<u64>>,
    len: u64,
}

impl SeedList {
    /// How many seeds (with repeats, if the user repeated one).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The seeds in the order written.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }

    /// All seeds in memory, for commands that need them together; refused beyond `limit`
    /// (the message names the command's own limit).
    pub fn to_vec(&self, limit: u64) -> Result<Vec<u64>, String> {
        if self.len > limit {
            return Err(format!("--seeds: {} seeds, at most {limit} for this command", self.len));
        }
        Ok(self.iter().collect())
    }
}

/// The list as it could be written back: `1..100,7`.
impl std::fmt::Display for SeedList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            if r.start() == r.end() {
                write!(f, "{sep}{}", r.start())?;
            } else {
                write!(f, "{sep}{}..{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for SeedList {
    type Err = String;
    fn from_str(s: &str) -> Result<SeedList, String> {
        let mut ranges = Vec::new();
        let mut len: u64 = 0;
        for part in s.split(',') {
            // `1,,2` or a trailing comma is a typo (a seed left out), not a shorter list.
            if part.trim().is_empty() {
                return Err(format!("empty seed in {s:?} (expected A, A..B, or a comma-separated list of them)"));
            }
            let range = match part.split_once("..") {
                Some((a, b)) => {
                    let bad = || format!("bad seed range {part} (expected A..B with A ≤ B)");
                    let a: u64 = a.trim().parse().map_err(|_| bad())?;
                    let b: u64 = b.trim().parse().map_err(|_| bad())?;
                    if b < a {
                        return Err(bad());
                    }
                    a..=b
                }
                None => {
                    let x: u64 = part.trim().parse().map_err(|_| format!("bad seed {part}"))?;
                    x..=x
                }
            };
            // b - a + 1 overflows only for 0..u64::MAX, which is far over the cap anyway.
            let n = (range.end() - range.start()).saturating_add(1);
            len = len.saturating_add(n);
            if len > MAX_SEEDS {
                return Err(format!("too many seeds: at most {MAX_SEEDS} in all"));
            }
            ranges.push(range);
        }
        if len == 0 {
            return Err("no seeds".into());
        }
        Ok(SeedList { ranges, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SeedList, String> {
        s.parse()
    }

    #[test]
    fn lists_and_ranges() {
        let l = parse("3,1..4,9").unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![3, 1, 2, 3, 4, 9]);
        assert_eq!(l.len(), 6);
        assert_eq!(l.to_string(), "3,1..4,9");
        assert_eq!(parse("7").unwrap().to_vec(10), Ok(vec![7]));
        assert!(parse("1..100").unwrap().to_vec(10).unwrap_err().contains("100 seeds, at most 10"));
        for bad in ["", ",", "x", "5..1", "1..x", "..", "-1", "1,,2", "1,2,", ",3"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The cap is on the total, not per range, and nothing is allocated per seed: 200
    /// ranges of a million each are refused at once, and the largest allowed list is a
    /// handful of ranges.
    #[test]
    fn the_total_is_capped_without_materialising_seeds() {
        let many: Vec<String> =
            (0..200u64).map(|i| format!("{}..{}", i * 1_000_000, i * 1_000_000 + 999_999)).collect();
        assert!(parse(&many.join(",")).unwrap_err().contains("too many seeds"));
        assert!(parse(&format!("0..{}", u64::MAX)).unwrap_err().contains("too many seeds"));
        let max = parse(&format!("1..{MAX_SEEDS}")).unwrap();
        assert_eq!((max.len(), max.ranges.len()), (MAX_SEEDS, 1));
        assert_eq!(max.iter().nth(41), Some(42));
    }
}
