//! `--shard i/n`: the i-th of n disjoint slices of a sweep, for running one sweep as n
//! independent jobs (a Slurm job array, a Kubernetes Indexed Job) and merging their records.
//!
//! Work item k of the unsharded run (its position in the run's fixed order: seeds as
//! written for `swarm`; path, then seed, for `check`) belongs to shard `k mod n`. Dealing
//! items out round-robin rather than in blocks keeps the shards' loads alike when the cost
//! of a run grows along the order (a range of seeds, a directory of long scenarios). The
//! slices are disjoint and their union is the unsharded run, whatever n is.

/// Shard `index` of `count` (0 ≤ index < count). `0/1` is the unsharded run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether work item `k` (its position in the unsharded run) is this shard's.
    pub fn owns(&self, k: u64) -> bool {
        k % self.count == self.index
    }

    /// How many of the `total` items of the unsharded run are this shard's.
    pub fn len_of(&self, total: u64) -> u64 {
        if total > self.index { (total - self.index).div_ceil(self.count) } else { 0 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The most shards a run may have: far more than a cluster runs tasks, and few enough
/// that `merge` can list every one it expects.
pub const MAX_SHARDS: u64 = 1_000_000;

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("bad shard \"{s}\" (expected I/N with 0 ≤ I < N, e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        if count > MAX_SHARDS {
            return Err(format!("bad shard \"{s}\": at most {MAX_SHARDS} shards"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_the_run() {
        for total in [0u64, 1, 7, 100] {
            for count in 1..6u64 {
                let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
                for k in 0..total {
                    assert_eq!(shards.iter().filter(|s| s.owns(k)).count(), 1, "item {k} of {total}, {count} shards");
                }
                for s in &shards {
                    assert_eq!(s.len_of(total), (0..total).filter(|&k| s.owns(k)).count() as u64);
                }
            }
        }
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?}");
        }
    }
}
