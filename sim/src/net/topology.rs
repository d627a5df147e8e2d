//! Who is wired to whom.
//!
//! The default is a full mesh: every message crosses one link. A relay overlay (ring, star,
//! random regular graph, or an explicit edge list) makes a message cross several hops, each
//! with its own latency and loss draw — the way consensus messages travel through Neo's P2P
//! relay. Routes are shortest paths computed once with a breadth-first search over a
//! petgraph graph; ties go to the lowest node index, so routes never depend on hashing.

use crate::engine::rng::SimRng;
use crate::protocol::NodeId;
use petgraph::graph::{NodeIndex, UnGraph};
use serde::Serialize;
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

/// Each node's peers in index order; in a mesh, everyone else.
fn peers_of(g: &UnGraph<u32, ()>, mesh: bool) -> Vec<Rc<[NodeId]>> {
    let n = g.node_count();
    (0..n)
        .map(|a| {
            let mut v: Vec<u32> = if mesh {
                (0..n as u32).filter(|&b| b != a as u32).collect()
            } else {
                g.neighbors(NodeIndex::new(a)).map(|x| x.index() as u32).collect()
            };
            v.sort_unstable();
            v.dedup();
            v.into_iter().map(NodeId).collect()
        })
        .collect()
}

/// A built topology with precomputed routes.
#[derive(Clone, Debug)]
pub struct Topology {
    pub graph: UnGraph<u32, ()>,
    /// `routes[a][b]` = the nodes after `a` on the path to `b` (ends with `b`); empty when
    /// unreachable. `None` for a mesh, where every route is the direct link.
    routes: Option<Vec<Vec<Vec<u32>>>>,
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
                for a in 0..n as u32 {
                    for b in a + 1..n as u32 {
                        link(&mut g, a, b);
                    }
                }
                let peers = peers_of(&g, true);
                return Topology { graph: g, routes: None, peers };
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
        let routes = (0..n).map(|src| bfs_routes(&g, src)).collect();
        let peers = peers_of(&g, false);
        Topology { graph: g, routes: Some(routes), peers }
    }

    /// Hops from `a` to `b`: the nodes after `a`, ending with `b`. Empty if unreachable.
    pub fn route(&self, a: NodeId, b: NodeId) -> &[u32] {
        match &self.routes {
            None => std::slice::from_ref(&self.graph[NodeIndex::new(b.idx())]),
            Some(r) => &r[a.idx()][b.idx()],
        }
    }

    /// The nodes `a` is linked to, in index order (its peers under flood relay).
    pub fn neighbours(&self, a: NodeId) -> Rc<[NodeId]> {
        self.peers.get(a.idx()).cloned().unwrap_or_else(|| Rc::from(Vec::new()))
    }

    pub fn is_mesh(&self) -> bool {
        self.routes.is_none()
    }
}

fn bfs_routes(g: &UnGraph<u32, ()>, src: usize) -> Vec<Vec<u32>> {
    let n = g.node_count();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut seen = vec![false; n];
    seen[src] = true;
    let mut frontier = std::collections::VecDeque::from([src]);
    while let Some(u) = frontier.pop_front() {
        let mut nbrs: Vec<usize> = g.neighbors(NodeIndex::new(u)).map(|x| x.index()).collect();
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

    #[test]
    fn routes_are_the_shortest_paths_with_the_lowest_indices_first() {
        // Graphs with many ties: a 3×4 grid (numbered row by row), an even ring (two ways
        // round to the opposite node), two hubs joined by several equal paths, a
        // disconnected pair, and random-regular graphs of a few seeds.
        let mut grid = Vec::new();
        for r in 0..3u32 {
            for c in 0..4u32 {
                let i = r * 4 + c;
                if c < 3 {
                    grid.push((i, i + 1));
                }
                if r < 2 {
                    grid.push((i, i + 4));
                }
            }
        }
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
                t.graph
                    .edge_indices()
                    .filter_map(|e| t.graph.edge_endpoints(e))
                    .map(|(x, y)| (t.graph[x], t.graph[y]))
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
}
