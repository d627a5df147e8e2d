//! The search graph's edges, kept for the stuck-state analysis at the end of a search.
//!
//! Every state is expanded at most once, so the edges leaving a state arrive together:
//! they are stored grouped by their source (where the group starts, how long it is) and
//! the targets as one list of 4-byte state numbers — 4 bytes per edge and 8 per state,
//! where a list of (source, target) pairs took 8 per edge. A state has about ten
//! successors, so the edges were two thirds of the search's own memory. Repeated targets
//! of one state (two steps to the same successor) are kept once.

/// Edges grouped by source state.
#[derive(Debug, Default)]
pub struct Edges {
    /// Per state: where its targets start in `targets`, and how many there are.
    first: Vec<u32>,
    count: Vec<u32>,
    targets: Vec<u32>,
}

impl Edges {
    /// Makes room for states up to `n` (a state with no edges yet has none).
    pub fn grow_to(&mut self, n: usize) {
        self.first.resize(n, 0);
        self.count.resize(n, 0);
    }

    /// Records the edges from `from` to each of `to` (sorted and de-duplicated here; a
    /// loop back to `from` is left out). Called once per state. False if the list of
    /// targets would pass 2³² entries (the caller stops the search: state numbers and
    /// positions are 32-bit).
    pub fn set(&mut self, from: u32, to: &mut Vec<u32>) -> bool {
        to.sort_unstable();
        to.dedup();
        to.retain(|&j| j != from);
        let start = self.targets.len();
        if start + to.len() > u32::MAX as usize {
            return false;
        }
        self.targets.extend_from_slice(to);
        self.first[from as usize] = start as u32;
        self.count[from as usize] = to.len() as u32;
        true
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Bytes held (for the report's bytes per state).
    pub fn bytes(&self) -> usize {
        (self.first.capacity() + self.count.capacity() + self.targets.capacity()) * 4
    }

    /// The edges reversed, for walking backwards: for each state, the states with an
    /// edge to it. Consumes the forward lists (their memory is released as the reverse
    /// one is built, so the peak is one list of targets plus one of sources).
    pub fn reverse(self, n: usize) -> Reverse {
        let mut start = vec![0u32; n + 1];
        for &j in &self.targets {
            start[j as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut from = vec![0u32; self.targets.len()];
        for i in 0..self.first.len().min(n) {
            let (a, c) = (self.first[i] as usize, self.count[i] as usize);
            for &j in &self.targets[a..a + c] {
                from[fill[j as usize] as usize] = i as u32;
                fill[j as usize] += 1;
            }
        }
        Reverse { start, from }
    }
}

/// Edges by target: `from[start[j]..start[j + 1]]` are the states with an edge to j.
pub struct Reverse {
    start: Vec<u32>,
    from: Vec<u32>,
}

impl Reverse {
    /// Every state from which a root (`root[i]`) can be reached, roots included.
    pub fn reaching(&self, root: impl Fn(usize) -> bool) -> Vec<bool> {
        let n = self.start.len() - 1;
        let mut seen = vec![false; n];
        let mut work: Vec<u32> = Vec::new();
        for (i, s) in seen.iter_mut().enumerate() {
            if root(i) {
                *s = true;
                work.push(i as u32);
            }
        }
        while let Some(j) = work.pop() {
            let (a, z) = (self.start[j as usize] as usize, self.start[j as usize + 1] as usize);
            for &i in &self.from[a..z] {
                if !seen[i as usize] {
                    seen[i as usize] = true;
                    work.push(i);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backward reachability over the grouped edges agrees with a plain fixpoint over
    /// the same (source, target) pairs, on a pseudo-random graph with loops, repeats and
    /// states never expanded.
    #[test]
    fn reaching_agrees_with_a_fixpoint_over_the_pairs() {
        let n = 300usize;
        let mut x: u64 = 11;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as usize
        };
        let mut edges = Edges::default();
        edges.grow_to(n);
        let mut pairs = Vec::new();
        for i in 0..n {
            if next().is_multiple_of(5) {
                continue; // never expanded
            }
            let mut to: Vec<u32> = (0..next() % 4).map(|_| (next() % n) as u32).collect();
            to.extend(to.clone()); // repeats
            to.push(i as u32); // a loop
            pairs.extend(to.iter().filter(|&&j| j as usize != i).map(|&j| (i, j as usize)));
            assert!(edges.set(i as u32, &mut to));
        }
        let roots = |i: usize| i.is_multiple_of(37);
        // The tables may stop short of the last states (never expanded, nothing leaves
        // them): `reverse` sizes by the final count.
        assert_eq!(edges.first.len(), n);
        let mut short = Edges::default();
        short.grow_to(n - 40);
        for i in 0..n - 40 {
            let (a, c) = (edges.first[i] as usize, edges.count[i] as usize);
            let mut to = edges.targets[a..a + c].to_vec();
            assert!(short.set(i as u32, &mut to));
        }
        let pairs_short: Vec<(usize, usize)> = pairs.iter().copied().filter(|&(i, _)| i < n - 40).collect();
        let got_short = short.reverse(n).reaching(roots);
        let got = edges.reverse(n).reaching(roots);
        // The plain fixpoint over the (source, target) pairs.
        let fixpoint = |pairs: &[(usize, usize)]| {
            let mut want: Vec<bool> = (0..n).map(roots).collect();
            loop {
                let mut changed = false;
                for &(i, j) in pairs {
                    if want[j] && !want[i] {
                        want[i] = true;
                        changed = true;
                    }
                }
                if !changed {
                    return want;
                }
            }
        };
        let want = fixpoint(&pairs);
        assert_eq!(got, want);
        let want_short = fixpoint(&pairs_short);
        assert_eq!(got_short, want_short);
        assert!(want.iter().filter(|&&w| w).count() > n / 10, "the graph must connect enough to test something");
        assert!(want.iter().any(|&w| !w), "and leave some states unable to reach a root");
    }
}
