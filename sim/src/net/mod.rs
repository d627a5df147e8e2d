//! The network model: what happens to a message between a send and a delivery.
//!
//! Per recipient and per hop: a loss draw and a latency draw (plus a size/bandwidth delay
//! when configured); per recipient: a duplication draw, and when there is no duplicate the
//! draws its hop would have taken are skipped. All draws come from the network's own
//! ChaCha stream and the number of draws per message does not depend on partitions, so
//! switching a partition on does not reshuffle the rest of the run.
//!
//! A draw that cannot matter is not taken (issue 15, ninth pass): a network whose loss
//! probability is 0 everywhere (base and every degradation window) takes no loss draws,
//! and one whose duplication probability is 0 takes no duplication draws and skips no
//! duplicate hop. The choice depends on the configuration alone, fixed for the run, so it
//! is as deterministic as the draws; but a probability that is 0 and one that is merely
//! small (0.01) no longer share their later draws. Among networks that take the draws
//! (any positive probability), changing a probability still shifts nothing.
//!
//! Partitions cut links between groups of nodes for a window `[from, until)`. A message is
//! lost if it is in flight across a cut link at any moment of the window — sent during it,
//! or sent before and still travelling when it starts — so a partition stops all traffic
//! across it for exactly its window.
//!
//! Relay (`network.relay`, [`Relay`]): under `direct` a message goes point to point from
//! its sender to each recipient along the shortest route. Under `flood` the network is
//! Neo's P2P layer: a broadcast goes to the sender's neighbours in the topology, and every
//! honest node that accepts a consensus payload re-relays it to its own neighbours, each
//! hop with its own draws; every node keeps a hash cache and drops what it has seen
//! (docs/network.md). The engine runs the relay (engine/mod.rs `deliver`); the replica only
//! says whether a payload passes the transport's checks (`Replica::relays`).
//!
//! Deliberately left out: queueing and congestion (bandwidth adds a per-message
//! transmission delay, links do not contend), connection semantics (there is no TCP; a lost
//! message is gone), asymmetric partitions.

pub mod latency;
pub mod rules;
pub mod topology;

use crate::engine::rng::SimRng;
use crate::engine::time::{Micros, SimTime};
use crate::protocol::NodeId;
use latency::{Latency, Sampler};
use serde::Serialize;
use topology::{Topology, TopologySpec};

/// A cut between groups of nodes during `[from, until)`. Nodes not listed in any group
/// form one more group of their own ("the rest").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Partition {
    pub groups: Vec<Vec<NodeId>>,
    pub from: SimTime,
    pub until: SimTime,
}

impl Partition {
    fn group_of(&self, n: NodeId) -> usize {
        self.groups.iter().position(|g| g.contains(&n)).unwrap_or(usize::MAX)
    }

    /// True iff the link a—b crosses this cut.
    pub fn separates(&self, a: NodeId, b: NodeId) -> bool {
        self.group_of(a) != self.group_of(b)
    }

    /// True iff a message on the link a—b in flight during `[sent, arrives]` meets the cut.
    pub fn cuts(&self, a: NodeId, b: NodeId, sent: SimTime, arrives: SimTime) -> bool {
        sent < self.until && arrives >= self.from && self.separates(a, b)
    }
}

/// Link degradation during `[from, until)`: more loss and slower links for the listed nodes
/// (a link is degraded when either end is listed; an empty list degrades every link).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Degradation {
    pub nodes: Vec<NodeId>,
    pub from: SimTime,
    pub until: SimTime,
    /// Loss probability per hop during the window (replaces the base loss if higher).
    pub loss: f64,
    /// Multiplier on latency during the window.
    pub latency_factor: f64,
}

impl Degradation {
    fn applies(&self, a: NodeId, b: NodeId, t: SimTime) -> bool {
        t >= self.from
            && t < self.until
            && (self.nodes.is_empty() || self.nodes.contains(&a) || self.nodes.contains(&b))
    }
}

crate::names::named_enum! {
    /// The named network models a scenario can start from (`network.preset`).
    pub enum Preset {
        Ideal = "ideal",
        Lan = "lan",
        Wan = "wan",
        Lossy = "lossy",
        HeavyTail = "heavy-tail",
    }
}

crate::names::named_enum! {
    /// How a message travels (`network.relay`; docs/network.md).
    pub enum Relay {
        /// Point to point along the shortest route; intermediate nodes do not look at it and
        /// the recipient's replica sees every copy (the simulator's original model).
        Direct = "direct",
        /// Neo's gossip: broadcasts go to the topology neighbours, honest nodes re-relay
        /// accepted consensus payloads (and blocks once persisted), a per-node hash cache
        /// drops every copy after the first.
        Flood = "flood",
    }
}

impl Relay {
    pub fn is_flood(self) -> bool {
        self == Relay::Flood
    }
}

/// Options of the network model. One struct, every field with its unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkOptions {
    /// Per-hop latency distribution.
    pub latency: Latency,
    /// Probability per message per hop that it is lost.
    pub loss: f64,
    /// Probability per message per recipient that a second copy is delivered.
    pub duplicate: f64,
    /// Link bandwidth in bytes per second; adds size/bandwidth to every hop. None = infinite.
    pub bandwidth_bytes_per_s: Option<u64>,
    pub topology: TopologySpec,
    pub partitions: Vec<Partition>,
    pub degradations: Vec<Degradation>,
    /// How messages travel: point to point or flooded with de-duplication.
    pub relay: Relay,
    /// Whether a backup that lacks proposed transactions asks its peers for them (GetData).
    pub fetch_txs: bool,
    /// Flood only: neo-go's resendDispatcher. A node that has received no new consensus
    /// payload for this long re-sends every pooled payload of an unpersisted height to its
    /// peers, doubling the wait each time. None = off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resend_us: Option<Micros>,
}

impl NetworkOptions {
    /// Named presets. `lan`: ~1 ms links; `wan`: log-normal, mean 80 ms; `lossy`: wan with
    /// 10 % loss; `heavy-tail`: Pareto links with a 20 ms floor; `ideal`: constant 1 ms.
    /// The options of a named preset (`None` for an unknown name).
    pub fn preset(name: &str) -> Option<NetworkOptions> {
        Preset::parse(name).map(NetworkOptions::of)
    }

    pub fn of(preset: Preset) -> NetworkOptions {
        let base = |latency| NetworkOptions {
            latency,
            loss: 0.0,
            duplicate: 0.0,
            bandwidth_bytes_per_s: None,
            topology: TopologySpec::Mesh,
            partitions: Vec::new(),
            degradations: Vec::new(),
            relay: Relay::Direct,
            fetch_txs: false,
            resend_us: None,
        };
        match preset {
            Preset::Ideal => base(Latency::Constant { ms: 1.0 }),
            Preset::Lan => base(Latency::Normal { mean_ms: 1.0, stddev_ms: 0.3 }),
            Preset::Wan => base(Latency::LogNormal { mean_ms: 80.0, sigma: 0.4 }),
            Preset::Lossy => NetworkOptions { loss: 0.1, ..base(Latency::LogNormal { mean_ms: 80.0, sigma: 0.4 }) },
            Preset::HeavyTail => base(Latency::Pareto { scale_ms: 20.0, shape: 1.5, cap_ms: Some(10_000.0) }),
        }
    }
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// Random loss.
    Loss,
    /// It crossed an active partition.
    Partition,
    /// No route in the topology.
    Unreachable,
    /// The recipient was down when it arrived.
    RecipientDown,
    /// A scripted adversary rule dropped it.
    Rule,
    /// Flood relay: the recipient's hash cache already holds it (a copy it has seen).
    Duplicate,
}

impl DropReason {
    /// The name used in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partition => "partition",
            DropReason::Unreachable => "unreachable",
            DropReason::RecipientDown => "recipient-down",
            DropReason::Rule => "rule",
            DropReason::Duplicate => "duplicate",
        }
    }
}

/// The network's decision for one (message, recipient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Dropped(DropReason),
    /// Delivered at `at`; a duplicate, if any, at `dup`.
    Arrives {
        at: SimTime,
        dup: Option<SimTime>,
    },
}

/// The network model with its random stream.
pub struct Network {
    pub opts: NetworkOptions,
    pub topology: Topology,
    rng: SimRng,
    /// `opts.latency`, ready to draw from.
    sampler: Sampler,
    /// Whether any hop can be lost (base loss or a degradation's loss above 0): only then
    /// is a hop's loss draw taken.
    loss_draws: bool,
    /// Whether a copy can be duplicated: only then is the duplication draw taken (and a
    /// duplicate hop's draws skipped when there is none).
    dup_draws: bool,
}

impl Network {
    pub fn new(opts: NetworkOptions, n: usize, rng: SimRng, topo_rng: &mut SimRng) -> Network {
        let topology = Topology::build(&opts.topology, n, topo_rng);
        let loss_draws = opts.loss > 0.0 || opts.degradations.iter().any(|d| d.loss > 0.0);
        let dup_draws = opts.duplicate > 0.0;
        let sampler = Sampler::new(&opts.latency);
        Network { opts, topology, rng, sampler, loss_draws, dup_draws }
    }

    /// The words one hop takes from the stream: its loss draw (if any hop can be lost) and
    /// its latency draw.
    fn hop_draws(&self) -> u32 {
        self.loss_draws as u32 + self.opts.latency.draws()
    }

    fn hop(&mut self, a: NodeId, b: NodeId, sent: SimTime, size: u32) -> (bool, SimTime, bool) {
        let degr = self.opts.degradations.iter().find(|d| d.applies(a, b, sent));
        let loss_p = match degr {
            Some(d) => self.opts.loss.max(d.loss),
            None => self.opts.loss,
        };
        // No loss draw on a network that loses nothing (`loss_p` is then 0: never lost).
        let lost = self.loss_draws && self.rng.chance(loss_p);
        let mut lat: Micros = match degr {
            Some(d) => self.sampler.sample_scaled(d.latency_factor, &mut self.rng),
            None => self.sampler.sample(&mut self.rng),
        };
        if let Some(bw) = self.opts.bandwidth_bytes_per_s {
            lat = lat.saturating_add((size as u64).saturating_mul(1_000_000) / bw.max(1));
        }
        let arrives = sent.plus(lat);
        let cut = self.opts.partitions.iter().any(|p| p.cuts(a, b, sent, arrives));
        (lost, arrives, cut)
    }

    /// Decides the fate of a message of `size` bytes sent from `from` to `to` at `now`.
    pub fn route(&mut self, now: SimTime, from: NodeId, to: NodeId, size: u32) -> Fate {
        // Walked hop by hop from the next-hop table: no path is stored or built.
        if self.topology.next_hop(from, to).is_none() {
            return Fate::Dropped(DropReason::Unreachable);
        }
        let (mut lost, mut cut) = (false, false);
        let mut t = now;
        let mut prev = from;
        // The node the last hop leaves from (the duplicate's hop starts there).
        let mut last_from = from;
        while let Some(next) = self.topology.next_hop(prev, to) {
            let (l, arrives, c) = self.hop(prev, next, t, size);
            lost |= l;
            cut |= c;
            t = arrives;
            last_from = prev;
            prev = next;
            if next == to {
                break;
            }
        }
        // The duplicate is made on the last hop: it shares the path up to there. Its hop's
        // draws are taken whether or not the message is duplicated, so the probability does
        // not shift the draws that follow; without a duplicate they are skipped, not
        // computed (a hop's loss draw, then its latency's). A network that duplicates
        // nothing takes neither the duplication draw nor the hop's.
        let duplicated = self.dup_draws && self.rng.chance(self.opts.duplicate);
        let dup = if !self.dup_draws {
            None
        } else if duplicated {
            let (_, extra, dup_cut) = self.hop(last_from, to, t, size);
            (!dup_cut).then_some(extra)
        } else {
            self.rng.skip(self.hop_draws());
            None
        };
        if cut {
            Fate::Dropped(DropReason::Partition)
        } else if lost {
            Fate::Dropped(DropReason::Loss)
        } else {
            Fate::Arrives { at: t, dup }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;

    fn net(opts: NetworkOptions, n: usize) -> Network {
        let mut topo = SimRng::derive(11, Stream::Network);
        Network::new(opts, n, SimRng::derive(11, Stream::Network), &mut topo)
    }

    /// A duplicate repeats the last hop from the original's arrival (scenarios/README.md):
    /// it arrives after the original, by one more hop's latency.
    #[test]
    fn a_duplicate_arrives_after_its_original() {
        let opts = NetworkOptions {
            latency: Latency::Uniform { min_ms: 10.0, max_ms: 30.0 },
            duplicate: 1.0,
            ..NetworkOptions::preset("lan").unwrap()
        };
        let mut net = net(opts, 4);
        for i in 0..2_000u32 {
            let now = SimTime::from_ms(i as u64);
            let Fate::Arrives { at, dup: Some(d) } = net.route(now, NodeId(i % 4), NodeId((i + 1) % 4), 100) else {
                panic!("every copy is duplicated and none lost");
            };
            let extra = d.since(at);
            assert!((10_000..=30_000).contains(&extra), "duplicate {extra} µs after the original");
        }
    }

    #[test]
    fn observed_rates_match_configuration() {
        let opts = NetworkOptions {
            latency: Latency::Normal { mean_ms: 40.0, stddev_ms: 10.0 },
            loss: 0.1,
            duplicate: 0.05,
            ..NetworkOptions::preset("lan").unwrap()
        };
        let mut net = net(opts, 4);
        let trials = 100_000u32;
        let (mut lost, mut dups, mut delivered, mut lat_sum) = (0u32, 0u32, 0u32, 0f64);
        for i in 0..trials {
            let now = SimTime::from_ms(i as u64);
            match net.route(now, NodeId(i % 4), NodeId((i + 1) % 4), 100) {
                Fate::Dropped(DropReason::Loss) => lost += 1,
                Fate::Dropped(r) => panic!("unexpected {r:?}"),
                Fate::Arrives { at, dup } => {
                    delivered += 1;
                    lat_sum += at.since(now) as f64 / 1000.0;
                    dups += dup.is_some() as u32;
                }
            }
        }
        // Binomial standard deviations at n = 100k: loss sqrt(.1*.9/1e5) ≈ 0.00095, dup
        // (over ~90k delivered) ≈ 0.00073. Five sigma: ±0.005 and ±0.004. The latency mean
        // has standard error 10/sqrt(90k) ≈ 0.033 ms; ±0.2 ms is six sigma.
        let loss_rate = lost as f64 / trials as f64;
        let dup_rate = dups as f64 / delivered as f64;
        let mean = lat_sum / delivered as f64;
        assert!((loss_rate - 0.1).abs() < 0.005, "loss {loss_rate}");
        assert!((dup_rate - 0.05).abs() < 0.004, "dup {dup_rate}");
        assert!((mean - 40.0).abs() < 0.2, "latency mean {mean}");
    }

    #[test]
    fn partition_cuts_exactly_its_window() {
        let mut opts = NetworkOptions::preset("ideal").unwrap(); // constant 1 ms
        opts.partitions.push(Partition {
            groups: vec![vec![NodeId(0), NodeId(1)]],
            from: SimTime::from_ms(100),
            until: SimTime::from_ms(200),
        });
        let mut net = net(opts, 4);
        for ms in 0..300u64 {
            // Send every 0.5 ms to probe both edges of the window.
            for half in 0..2 {
                let now = SimTime(ms * 1000 + half * 500);
                let across = net.route(now, NodeId(0), NodeId(2), 10);
                let inside = net.route(now, NodeId(0), NodeId(1), 10);
                let rest = net.route(now, NodeId(2), NodeId(3), 10);
                assert!(matches!(inside, Fate::Arrives { .. }));
                assert!(matches!(rest, Fate::Arrives { .. }));
                // In flight during [now, now+1ms]; cut iff that meets [100ms, 200ms).
                let meets = now < SimTime::from_ms(200) && now.plus(1000) >= SimTime::from_ms(100);
                match across {
                    Fate::Dropped(DropReason::Partition) => assert!(meets, "cut at {now}"),
                    Fate::Arrives { at, .. } => {
                        assert!(!meets, "delivered across the cut at {now}");
                        assert!(at < SimTime::from_ms(100) || at >= SimTime::from_ms(200));
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn relay_overlay_adds_per_hop_latency_and_bandwidth() {
        let mut opts = NetworkOptions::preset("ideal").unwrap();
        opts.topology = TopologySpec::Ring;
        opts.bandwidth_bytes_per_s = Some(1_000_000); // 1000 bytes = 1 ms per hop
        let mut net = net(opts, 8);
        match net.route(SimTime::ZERO, NodeId(0), NodeId(4), 1000) {
            Fate::Arrives { at, .. } => assert_eq!(at, SimTime::from_ms(4 * 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn draws_do_not_depend_on_partitions_or_duplication() {
        // The same sends with and without a partition elsewhere give the same latencies for
        // the links the partition does not touch.
        let base = NetworkOptions { duplicate: 0.2, ..NetworkOptions::preset("wan").unwrap() };
        let mut cut = base.clone();
        cut.partitions.push(Partition { groups: vec![vec![NodeId(3)]], from: SimTime::ZERO, until: SimTime::MAX });
        let (mut a, mut b) = (net(base, 4), net(cut, 4));
        for i in 0..1000u64 {
            let to = NodeId((i % 3) as u32 + 1);
            let fa = a.route(SimTime(i), NodeId(0), to, 10);
            let fb = b.route(SimTime(i), NodeId(0), to, 10);
            if to == NodeId(3) {
                assert_eq!(fb, Fate::Dropped(DropReason::Partition));
            } else {
                assert_eq!(fa, fb);
            }
        }
    }
}

#[cfg(test)]
mod dup_tests {
    use super::*;
    use crate::engine::rng::Stream;

    #[test]
    fn the_duplication_probability_does_not_shift_later_draws() {
        let mk = |dup: f64| {
            let opts = NetworkOptions { duplicate: dup, ..NetworkOptions::preset("wan").unwrap() };
            let mut topo = SimRng::derive(3, Stream::Network);
            Network::new(opts, 4, SimRng::derive(3, Stream::Network), &mut topo)
        };
        // Any positive probability takes the same draws (0 takes none: see below).
        let (mut a, mut b) = (mk(0.001), mk(0.5));
        for i in 0..500u64 {
            let (fa, fb) =
                (a.route(SimTime(i), NodeId(0), NodeId(1), 10), b.route(SimTime(i), NodeId(0), NodeId(1), 10));
            match (fa, fb) {
                (Fate::Arrives { at: x, .. }, Fate::Arrives { at: y, .. }) => assert_eq!(x, y),
                (x, y) => assert_eq!(x, y),
            }
        }
    }

    /// A network that neither loses nor duplicates takes one word per hop, the latency
    /// draw: every arrival is exactly the send time plus a latency drawn from a copy of the
    /// stream. A leftover loss or duplication draw would shift every later latency.
    #[test]
    fn a_lossless_network_takes_only_latency_draws() {
        let opts = NetworkOptions::preset("wan").unwrap();
        assert_eq!((opts.loss, opts.duplicate), (0.0, 0.0));
        let latency = latency::Sampler::new(&opts.latency);
        let mut topo = SimRng::derive(5, Stream::Network);
        let mut net = Network::new(opts, 4, SimRng::derive(5, Stream::Network), &mut topo);
        let mut mirror = SimRng::derive(5, Stream::Network);
        for i in 0..500u64 {
            let now = SimTime(i * 1000);
            let want = now.plus(latency.sample(&mut mirror));
            assert_eq!(
                net.route(now, NodeId(0), NodeId(1 + (i % 3) as u32), 10),
                Fate::Arrives { at: want, dup: None }
            );
        }
    }

    /// Loss configured only in a degradation window still draws: inside the window every
    /// hop is lost (probability 1), outside none is, and the latency draws of the copies
    /// around the window stay in step with a network whose base loss is positive but tiny.
    #[test]
    fn a_degradation_with_loss_turns_loss_draws_on() {
        let window = |base: f64| {
            let mut opts = NetworkOptions { loss: base, ..NetworkOptions::preset("wan").unwrap() };
            opts.degradations.push(Degradation {
                nodes: Vec::new(),
                from: SimTime::from_ms(100),
                until: SimTime::from_ms(200),
                loss: 1.0,
                latency_factor: 1.0,
            });
            let mut topo = SimRng::derive(6, Stream::Network);
            Network::new(opts, 4, SimRng::derive(6, Stream::Network), &mut topo)
        };
        let (mut zero, mut tiny) = (window(0.0), window(1e-300));
        for ms in 0..300u64 {
            let now = SimTime::from_ms(ms);
            let (a, b) = (zero.route(now, NodeId(0), NodeId(1), 10), tiny.route(now, NodeId(0), NodeId(1), 10));
            assert_eq!(a, b, "at {now}");
            let inside = (100..200).contains(&ms);
            assert_eq!(a == Fate::Dropped(DropReason::Loss), inside, "at {now}: {a:?}");
        }
    }
}
