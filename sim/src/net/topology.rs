//! Who is wired to whom.
//!
//! The default is a full mesh: every message crosses one link. A relay overlay (ring, star,
//! random regular graph, or an explicit edge list) makes a message cross several hops, each
//! with its own latency and loss draw — the way consensus messages travel through Neo's P2P
//! relay. Routes are shortest paths; of several, the one whose hop sequence is smallest
//! (the lowest node index first at every step), so routes never depend on hashing.
//!
//! Routing is stored as a next-hop table (one `u32` per ordered pair), not as every path:
//! the paths of a ring of N nodes hold about N³/4 hops, gigabytes at a couple of thousand
//! nodes, while the table is N² words. Following the table hop by hop gives exactly the
//! rule's route, because the rule is greedy: the smallest first hop on a shortest path,
//! then, from there, the same rule again.

use crate::engine::rng::SimRng;
use crate::protocol::NodeId;
use petgraph::graph::{NodeIndex, UnGraph};
use serde::Serialize;
use std::collections::VecDeque;
use std::rc::Rc;

/// The shape of the network.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TopologySpec {
    /// Every pair directly connected (one hop).
    Mesh,
    /// Node i linked to i±1.
    Ring,
    /// Every node linked to `hub` only.
    Star { hub: u32 },
    /// Each node gets `degree` random links (drawn from the topology stream), plus a ring so
    /// the graph is always connected.
    RandomRegular { degree: u32 },
    /// Exactly these undirected links.
    Edges { edges: Vec<(u32, u32)> },
}

/// Marks "no next hop" (the pair is unreachable, or is the node itself) in the table.
const NO_HOP: u32 = u32::MAX;

/// A built topology with its routing table.
#[derive(Clone, Debug)]
pub struct Topology {
    n: usize,
    /// `next_hop[b * n + a]` = the node `a` hands a message for `b` to, or [`NO_HOP`];
    /// grouped by destination so a walk towards `b` reads one row. `None` for a mesh,
    /// where every route is the direct link (no table: N² words for nothing).
    next_hop: Option<Box<[u32]>>,
    /// `peers[a]`: the nodes `a` is linked to, in index order, built once (flood relay
    /// asks for them on every forward).
    peers: Vec<Rc<[NodeId]>>,
}

impl Topology {
    pub fn build(spec: &TopologySpec, n: usize, rng: &mut SimRng) -> Topology {
        let mut g = UnGraph::<u32, ()>::with_capacity(n, n);
        for i in 0..n as u32 {
            g.add_node(i);
        }
        let idx = |i: u32| NodeIndex::new(i as usize);
        let link = |g: &mut UnGraph<u32, ()>, a: u32, b: u32| {
            if a != b && (a as usize) < n && (b as usize) < n && g.find_edge(idx(a), idx(b)).is_none() {
                g.add_edge(idx(a), idx(b), ());
            }
        };
        match spec {
            TopologySpec::Mesh => {
                // Built directly: adding the N²/2 links to the graph, each after a
                // duplicate check that scans the node's links, cost N³ steps (38 s at
                // 2,052 nodes).
                let peers = (0..n as u32).map(|a| (0..n as u32).filter(|&b| b != a).map(NodeId).collect()).collect();
                return Topology { n, next_hop: None, peers };
            }
            TopologySpec::Ring => {
                for a in 0..n as u32 {
                    link(&mut g, a, (a + 1) % n as u32);
                }
            }
            TopologySpec::Star { hub } => {
                for a in 0..n as u32 {
                    link(&mut g, a, *hub);
                }
            }
            TopologySpec::RandomRegular { degree } => {
                for a in 0..n as u32 {
                    link(&mut g, a, (a + 1) % n as u32);
                }
                for a in 0..n as u32 {
                    for _ in 0..*degree {
                        let b = rng.below(n as u64) as u32;
                        link(&mut g, a, b);
                    }
                }
            }
            TopologySpec::Edges { edges } => {
                for &(a, b) in edges {
                    link(&mut g, a, b);
                }
            }
        }
        let adj: Vec<Vec<u32>> = (0..n)
            .map(|a| {
                let mut v: Vec<u32> = g.neighbors(NodeIndex::new(a)).map(|x| x.index() as u32).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let next_hop = next_hop_table(&adj);
        let peers = adj.into_iter().map(|v| v.into_iter().map(NodeId).collect()).collect();
        Topology { n, next_hop: Some(next_hop), peers }
    }

    /// The node `at` hands a message for `to` to: `to` itself in a mesh (even when
    /// `at == to`, the one-hop route a mesh has always given), otherwise the next node on
    /// the route; `None` when `to` cannot be reached from `at` (or is `at`, off a mesh).
    pub fn next_hop(&self, at: NodeId, to: NodeId) -> Option<NodeId> {
        match &self.next_hop {
            None => Some(to),
            Some(t) => {
                let (a, b) = (at.idx(), to.idx());
                if a >= self.n || b >= self.n {
                    return None;
                }
                let h = t[b * self.n + a];
                (h != NO_HOP).then_some(NodeId(h))
            }
        }
    }

    /// Hops from `a` to `b`: the nodes after `a`, ending with `b`. Empty if unreachable.
    /// Allocates; the network walks [`Topology::next_hop`] instead.
    pub fn route(&self, a: NodeId, b: NodeId) -> Vec<u32> {
        let mut path = Vec::new();
        let mut at = a;
        while let Some(next) = self.next_hop(at, b) {
            path.push(next.0);
            if next == b {
                break;
            }
            at = next;
        }
        path
    }

    /// The nodes `a` is linked to, in index order (its peers under flood relay).
    pub fn neighbours(&self, a: NodeId) -> Rc<[NodeId]> {
        self.peers.get(a.idx()).cloned().unwrap_or_else(|| Rc::from(Vec::new()))
    }

    pub fn is_mesh(&self) -> bool {
        self.next_hop.is_none()
    }
}

/// The next-hop table over sorted adjacency lists, one breadth-first search per
/// destination `b`: a node's next hop towards `b` is its lowest-numbered neighbour one
/// step closer to `b`. That is the rule's route: the shortest paths from `a` through a
/// neighbour `x` are `a` followed by the shortest paths from `x`, so the smallest hop
/// sequence starts at the smallest such `x` and continues as `x`'s own route.
/// N searches of N + E steps and N² words, against the N³ of storing every path.
fn next_hop_table(adj: &[Vec<u32>]) -> Box<[u32]> {
    let n = adj.len();
    let mut table = vec![NO_HOP; n * n].into_boxed_slice();
    let mut dist = vec![u32::MAX; n];
    let mut frontier = VecDeque::with_capacity(n);
    for b in 0..n {
        dist.fill(u32::MAX);
        dist[b] = 0;
        frontier.clear();
        frontier.push_back(b);
        while let Some(u) = frontier.pop_front() {
            for &v in &adj[u] {
                let v = v as usize;
                if dist[v] == u32::MAX {
                    dist[v] = dist[u] + 1;
                    frontier.push_back(v);
                }
            }
        }
        let row = &mut table[b * n..(b + 1) * n];
        for (a, slot) in row.iter_mut().enumerate() {
            if a == b || dist[a] == u32::MAX {
                continue;
            }
            // Reachable and not `b`: some neighbour is one step closer (dist[a] ≥ 1).
            if let Some(&x) = adj[a].iter().find(|&&x| dist[x as usize] == dist[a] - 1) {
                *slot = x;
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;

    #[test]
    fn routes_follow_shortest_paths() {
        let mut rng = SimRng::derive(1, Stream::Network);
        let ring = Topology::build(&TopologySpec::Ring, 6, &mut rng);
        assert_eq!(ring.route(NodeId(0), NodeId(1)), &[1]);
        assert_eq!(ring.route(NodeId(0), NodeId(3)).len(), 3);
        assert_eq!(ring.route(NodeId(0), NodeId(5)), &[5]);
        let star = Topology::build(&TopologySpec::Star { hub: 0 }, 5, &mut rng);
        assert_eq!(star.route(NodeId(2), NodeId(4)), &[0, 4]);
        let mesh = Topology::build(&TopologySpec::Mesh, 4, &mut rng);
        assert_eq!(mesh.route(NodeId(3), NodeId(1)), &[1]);
        let split = Topology::build(&TopologySpec::Edges { edges: vec![(0, 1)] }, 3, &mut rng);
        assert!(split.route(NodeId(0), NodeId(2)).is_empty());
        assert_eq!(*ring.neighbours(NodeId(0)), [NodeId(1), NodeId(5)]);
        assert_eq!(*star.neighbours(NodeId(2)), [NodeId(0)]);
        assert_eq!(*mesh.neighbours(NodeId(1)), [NodeId(0), NodeId(2), NodeId(3)]);
        assert!(split.neighbours(NodeId(2)).is_empty());
        let rr = Topology::build(&TopologySpec::RandomRegular { degree: 2 }, 10, &mut rng);
        for a in 0..10 {
            for b in 0..10 {
                if a != b {
                    assert_eq!(*rr.route(NodeId(a), NodeId(b)).last().unwrap(), b);
                }
            }
        }
    }

    /// The route the rule promises, found by brute force: every simple path from `a` to `b`
    /// over `adj`, the shortest, of those the lexicographically smallest hop sequence (the
    /// lowest index first at every step). Empty if `b` cannot be reached.
    fn brute_force_route(adj: &[Vec<bool>], a: usize, b: usize) -> Vec<u32> {
        fn walk(adj: &[Vec<bool>], at: usize, b: usize, path: &mut Vec<u32>, best: &mut Option<Vec<u32>>) {
            if best.as_ref().is_some_and(|p| path.len() > p.len()) {
                return;
            }
            if at == b {
                if best.as_ref().is_none_or(|p| (path.len(), &*path) < (p.len(), p)) {
                    *best = Some(path.clone());
                }
                return;
            }
            for next in 0..adj.len() {
                if adj[at][next] && !path.contains(&(next as u32)) {
                    path.push(next as u32);
                    walk(adj, next, b, path, best);
                    path.pop();
                }
            }
        }
        let mut best = None;
        // The source is not part of a route; keep it out of the path by hand.
        let mut adj_no_src = adj.to_vec();
        for row in adj_no_src.iter_mut() {
            row[a] = false;
        }
        walk(&adj_no_src, a, b, &mut Vec::new(), &mut best);
        best.unwrap_or_default()
    }

    fn adjacency(n: usize, edges: &[(u32, u32)]) -> Vec<Vec<bool>> {
        let mut adj = vec![vec![false; n]; n];
        for &(x, y) in edges {
            if x != y {
                adj[x as usize][y as usize] = true;
                adj[y as usize][x as usize] = true;
            }
        }
        adj
    }

    /// The links of a `rows` × `cols` grid, nodes numbered row by row.
    fn grid_links(rows: u32, cols: u32) -> Vec<(u32, u32)> {
        let mut links = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                if c + 1 < cols {
                    links.push((i, i + 1));
                }
                if r + 1 < rows {
                    links.push((i, i + cols));
                }
            }
        }
        links
    }

    #[test]
    fn routes_are_the_shortest_paths_with_the_lowest_indices_first() {
        // Graphs with many ties: a 3×4 grid (numbered row by row), an even ring (two ways
        // round to the opposite node), two hubs joined by several equal paths, a
        // disconnected pair, and random-regular graphs of a few seeds.
        let grid = grid_links(3, 4);
        let ring8: Vec<(u32, u32)> = (0..8).map(|i| (i, (i + 1) % 8)).collect();
        let diamonds = vec![(0, 5), (0, 3), (0, 4), (5, 1), (3, 1), (4, 1), (1, 2), (6, 7)];
        // (spec, nodes, its links where the spec itself lists them)
        type Case = (TopologySpec, usize, Option<Vec<(u32, u32)>>);
        let mut cases: Vec<Case> = vec![
            (TopologySpec::Edges { edges: grid.clone() }, 12, Some(grid)),
            (TopologySpec::Ring, 8, Some(ring8)),
            (TopologySpec::Edges { edges: diamonds.clone() }, 8, Some(diamonds)),
        ];
        for _ in 0..3 {
            cases.push((TopologySpec::RandomRegular { degree: 2 }, 11, None));
        }
        let mut rng = SimRng::derive(7, Stream::Topology);
        let mut ties = 0;
        for (spec, n, edges) in cases {
            let t = Topology::build(&spec, n, &mut rng);
            // Random graphs: the links are the draw, read back from the graph; the others
            // come from the spec, independently of the code under test.
            let edges = edges.unwrap_or_else(|| {
                (0..n as u32)
                    .flat_map(|a| t.neighbours(NodeId(a)).iter().map(move |b| (a, b.0)).collect::<Vec<_>>())
                    .collect()
            });
            let adj = adjacency(n, &edges);
            for a in 0..n {
                for b in 0..n {
                    if a == b {
                        continue;
                    }
                    let expected = brute_force_route(&adj, a, b);
                    assert_eq!(t.route(NodeId(a as u32), NodeId(b as u32)), expected, "{spec:?}: {a} -> {b}");
                    // Count the pairs where the tie-break decided (another shortest path exists).
                    let mut adj2 = adj.clone();
                    if let Some(&first) = expected.first()
                        && expected.len() > 1
                    {
                        adj2[a][first as usize] = false;
                        adj2[first as usize][a] = false;
                        ties += (brute_force_route(&adj2, a, b).len() == expected.len()) as u32;
                    }
                }
            }
        }
        assert!(ties > 20, "the graphs must exercise the tie-break: {ties} pairs");
    }

    /// The routes as they were computed before the next-hop table: one breadth-first
    /// search per source over neighbours in index order, every path stored, read back
    /// through the search tree's parents. Kept here as the reference the table must match.
    fn all_paths_reference(adj: &[Vec<u32>], src: usize) -> Vec<Vec<u32>> {
        let n = adj.len();
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut seen = vec![false; n];
        seen[src] = true;
        let mut frontier = VecDeque::from([src]);
        while let Some(u) = frontier.pop_front() {
            let mut nbrs: Vec<usize> = adj[u].iter().map(|&x| x as usize).collect();
            nbrs.sort_unstable();
            for v in nbrs {
                if !seen[v] {
                    seen[v] = true;
                    parent[v] = Some(u);
                    frontier.push_back(v);
                }
            }
        }
        (0..n)
            .map(|dst| {
                if dst == src || !seen[dst] {
                    return Vec::new();
                }
                let mut path = vec![dst as u32];
                let mut cur = dst;
                while let Some(p) = parent[cur] {
                    if p == src {
                        break;
                    }
                    path.push(p as u32);
                    cur = p;
                }
                path.reverse();
                path
            })
            .collect()
    }

    #[test]
    fn next_hop_walks_give_the_old_all_paths_routes() {
        // Links written out from each spec (independently of the code under test), except
        // the random graphs, whose links are the draw and are read back.
        let ring = |n: u32| -> Vec<(u32, u32)> { (0..n).map(|i| (i, (i + 1) % n)).collect() };
        let star = |n: u32, hub: u32| -> Vec<(u32, u32)> { (0..n).map(|i| (i, hub)).collect() };
        let grid = grid_links(4, 5);
        let split = vec![(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 6), (6, 3), (7, 7)];
        type Case = (TopologySpec, usize, Option<Vec<(u32, u32)>>);
        let mut cases: Vec<Case> = Vec::new();
        for n in [1u32, 2, 3, 7, 8, 13] {
            cases.push((TopologySpec::Ring, n as usize, Some(ring(n))));
        }
        for (n, hub) in [(6u32, 0u32), (7, 3), (4, 9)] {
            cases.push((TopologySpec::Star { hub }, n as usize, Some(star(n, hub))));
        }
        cases.push((TopologySpec::Edges { edges: grid.clone() }, 20, Some(grid)));
        cases.push((TopologySpec::Edges { edges: split.clone() }, 9, Some(split)));
        for degree in [1, 2, 3] {
            for _ in 0..3 {
                cases.push((TopologySpec::RandomRegular { degree }, 17, None));
            }
        }
        let mut checked = 0;
        for seed in [1, 2, 3] {
            let mut rng = SimRng::derive(seed, Stream::Topology);
            for (spec, n, edges) in &cases {
                let t = Topology::build(spec, *n, &mut rng);
                assert!(!t.is_mesh());
                let edges = edges.clone().unwrap_or_else(|| {
                    (0..*n as u32)
                        .flat_map(|a| t.neighbours(NodeId(a)).iter().map(move |b| (a, b.0)).collect::<Vec<_>>())
                        .collect()
                });
                let mut adj = vec![Vec::new(); *n];
                for &(x, y) in &edges {
                    let (xu, yu) = (x as usize, y as usize);
                    if x != y && xu < *n && yu < *n {
                        adj[xu].push(y);
                        adj[yu].push(x);
                    }
                }
                for a in 0..*n {
                    let want = all_paths_reference(&adj, a);
                    for (b, want) in want.iter().enumerate() {
                        let (na, nb) = (NodeId(a as u32), NodeId(b as u32));
                        assert_eq!(&t.route(na, nb), want, "{spec:?} n={n} seed {seed}: {a} -> {b}");
                        assert_eq!(t.next_hop(na, nb).map(|h| h.0), want.first().copied(), "{spec:?}: {a} -> {b}");
                        checked += 1;
                    }
                }
            }
        }
        // A mesh: one direct hop for every pair, the node itself included.
        let mut rng = SimRng::derive(1, Stream::Topology);
        let mesh = Topology::build(&TopologySpec::Mesh, 5, &mut rng);
        for a in 0..5 {
            for b in 0..5 {
                assert_eq!(mesh.route(NodeId(a), NodeId(b)), [b]);
            }
        }
        assert!(checked > 3_000, "{checked} pairs");
    }

    #[test]
    fn routing_two_thousand_nodes_on_a_ring_stores_n_squared_words() {
        // Every path of a 2,000-node ring is ~10⁹ hops stored (4 GB); the table holds one
        // word per ordered pair.
        let n = 2_000;
        let mut rng = SimRng::derive(1, Stream::Topology);
        let ring = Topology::build(&TopologySpec::Ring, n, &mut rng);
        let stored = ring.next_hop.as_ref().map_or(0, |t| t.len());
        assert!(stored <= n * n, "{stored} entries for {n} nodes");
        // The opposite node is 1,000 hops away either way round; the tie goes up (1 < 1999).
        let far = ring.route(NodeId(0), NodeId(1_000));
        assert_eq!((far.len(), far[0], far[999]), (1_000, 1, 1_000));
        let back = ring.route(NodeId(0), NodeId(1_001));
        assert_eq!((back.len(), back[0]), (999, 1_999));
        // A mesh keeps no table at all, and its peers are built without a per-link scan.
        let mesh = Topology::build(&TopologySpec::Mesh, n, &mut rng);
        assert!(mesh.next_hop.is_none());
        assert_eq!(mesh.neighbours(NodeId(7)).len(), n - 1);
    }

    /// A mesh links every pair once: the same peers as the same pairs listed as edges. It
    /// is built without looking each pair up (that made it N³: at N = 1024 four seconds
    /// of a release build), so the largest mesh builds at once.
    #[test]
    fn a_mesh_is_every_pair_once_and_builds_at_the_largest_size() {
        let mut rng = SimRng::derive(1, Stream::Network);
        let n = 7u32;
        let pairs: Vec<(u32, u32)> = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).collect();
        let mesh = Topology::build(&TopologySpec::Mesh, n as usize, &mut rng);
        let listed = Topology::build(&TopologySpec::Edges { edges: pairs }, n as usize, &mut rng);
        for a in 0..n {
            assert_eq!(mesh.neighbours(NodeId(a)), listed.neighbours(NodeId(a)));
        }
        let big = Topology::build(&TopologySpec::Mesh, 1024, &mut rng);
        assert!((0..1024).all(|a| big.neighbours(NodeId(a)).len() == 1023));
    }
}
