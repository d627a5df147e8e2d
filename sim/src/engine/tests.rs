//! Engine tests with the toy protocol (the dBFT replica has its own).

use super::clock::Clock;
use super::rng::{SimRng, Stream};
use super::time::SimTime;
use super::trace::{Digest, Ev, Halt, Observer, Observers, Rec};
use super::*;
use crate::net::NetworkOptions;
use crate::protocol::toy::Toy;

fn engine(seed: u64, n: usize, net: &str, stop: StopCondition) -> Engine<Toy> {
    let opts = NetworkOptions::preset(net).unwrap();
    let mut topo = SimRng::derive(seed, Stream::Network);
    let network = Network::new(opts, n, SimRng::derive(seed, Stream::Network), &mut topo);
    let replicas =
        (0..n as u32).map(|i| (Toy::new(i, 10_000, 20), NodeSetup { honest: true, clock: Clock::default() })).collect();
    Engine::new(replicas, network, Rc::new(Keyring::generate(seed, n)), None, stop)
}

fn forever() -> StopCondition {
    StopCondition { until: SimTime::from_secs(10), heights: None }
}

fn digest_of(seed: u64, net: &str) -> (String, u64) {
    let mut e = engine(seed, 5, net, forever());
    let mut d = Digest::default();
    e.run(&mut d);
    (d.finish().to_hex(), d.events)
}

#[test]
fn same_seed_same_digest_different_seed_different_digest() {
    let a = digest_of(1, "wan");
    let b = digest_of(1, "wan");
    assert_eq!(a, b);
    assert!(a.1 > 100, "the run did something: {} events", a.1);
    let c = digest_of(2, "wan");
    assert_ne!(a.0, c.0, "random latencies must differ between seeds");
    // With a constant-latency network nothing is random: the seed cannot matter.
    assert_eq!(digest_of(1, "ideal").0, digest_of(2, "ideal").0);
}

/// Records (time, event kind) pairs.
#[derive(Default)]
struct Log(Vec<(SimTime, String)>);
impl Observer for Log {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        let s = match &rec.ev {
            Ev::Deliver { from, to, .. } => format!("deliver {from}->{to}"),
            Ev::Drop { from, to, reason, .. } => format!("drop {from}->{to} {reason:?}"),
            Ev::Timer { node, .. } => format!("timer {node}"),
            Ev::Crash { node } => format!("crash {node}"),
            Ev::Restart { node, .. } => format!("restart {node}"),
            Ev::Persist { node, block } => format!("persist {node} {}", block.height()),
            _ => return None,
        };
        self.0.push((rec.time, s));
        None
    }
}

#[test]
fn crashed_node_receives_nothing_and_restarts_fresh() {
    let mut e = engine(3, 3, "ideal", forever());
    e.schedule_crash(NodeId(2), SimTime::from_ms(25));
    e.schedule_restart(NodeId(2), SimTime::from_ms(55), false);
    let mut log = Log::default();
    e.run(&mut log);
    let down = SimTime::from_ms(25)..SimTime::from_ms(55);
    for (t, s) in &log.0 {
        if down.contains(t) && s.starts_with("deliver") {
            assert!(!s.ends_with("->n2"), "delivered to a crashed node at {t}: {s}");
        }
        if down.contains(t) && s.starts_with("timer n2") {
            panic!("timer fired on a crashed node at {t}");
        }
    }
    assert!(log.0.iter().any(|(_, s)| s == "drop n0->n2 RecipientDown"));
    // After the restart node 2 starts again (its own timer resumes) and receives again.
    let r = e.replica(NodeId(2));
    assert_eq!(r.starts, 2);
    assert!(r.received.iter().all(|&(_, _, t)| t >= SimTime::from_ms(55)));
    assert!(!r.received.is_empty());
}

#[test]
fn stops_when_every_honest_node_reaches_the_height() {
    // Node 0 persists a block every 5 pings (50 ms); the others never persist, so the
    // height condition can only be met by node 0 when it is the only counted node.
    let stop = StopCondition { until: SimTime::from_secs(10), heights: Some(2) };
    let opts = NetworkOptions::preset("ideal").unwrap();
    let mut topo = SimRng::derive(1, Stream::Network);
    let network = Network::new(opts, 2, SimRng::derive(1, Stream::Network), &mut topo);
    let replicas = vec![
        (Toy::new(0, 10_000, 100), NodeSetup { honest: true, clock: Clock::default() }),
        (Toy::new(1, 10_000, 100), NodeSetup { honest: false, clock: Clock::default() }),
    ];
    let mut e = Engine::new(replicas, network, Rc::new(Keyring::generate(1, 2)), None, stop);
    let mut log = Log::default();
    assert_eq!(e.run(&mut log), StopReason::Heights);
    assert_eq!(e.now(), SimTime::from_ms(100));
    assert_eq!(log.0.last().map(|x| x.1.as_str()), Some("persist n0 2"));
}

#[test]
fn duration_limit_and_quiescence() {
    let mut e = engine(1, 2, "ideal", StopCondition { until: SimTime::from_ms(35), heights: None });
    assert_eq!(e.run(&mut Digest::default()), StopReason::Duration);
    // The end is final: a second call changes nothing and records nothing.
    let mut again = Digest::default();
    assert_eq!(e.run(&mut again), StopReason::Duration);
    assert_eq!(again.events, 0);
    assert_eq!(e.now(), SimTime::from_ms(35));
    // 20 pings each, then nothing is left to do.
    let mut e = engine(1, 2, "ideal", forever());
    assert_eq!(e.run(&mut Digest::default()), StopReason::Quiescent);
    assert_eq!(e.replica(NodeId(0)).received.len(), 20);
}

#[test]
fn drifting_clock_fires_timers_early_in_virtual_time() {
    let opts = NetworkOptions::preset("ideal").unwrap();
    let mut topo = SimRng::derive(1, Stream::Network);
    let network = Network::new(opts, 2, SimRng::derive(1, Stream::Network), &mut topo);
    let fast = Clock { drift_ppm: 250_000 }; // 25 % fast: 10 ms local = 8 ms virtual
    let replicas = vec![
        (Toy::new(0, 10_000, 3), NodeSetup { honest: true, clock: fast }),
        (Toy::new(1, 10_000, 3), NodeSetup { honest: true, clock: Clock::default() }),
    ];
    let stop = StopCondition { until: SimTime::from_secs(1), heights: None };
    let mut e = Engine::new(replicas, network, Rc::new(Keyring::generate(1, 2)), None, stop);
    let mut log = Log::default();
    e.run(&mut log);
    let t0: Vec<u64> = log.0.iter().filter(|x| x.1 == "timer n0").map(|x| x.0.0).collect();
    let t1: Vec<u64> = log.0.iter().filter(|x| x.1 == "timer n1").map(|x| x.0.0).collect();
    assert_eq!(t0[..3], [8_000, 16_000, 24_000]);
    assert_eq!(t1[..3], [10_000, 20_000, 30_000]);
}

#[test]
fn observers_fan_out_and_first_halt_wins() {
    struct HaltAt(u64);
    impl Observer for HaltAt {
        fn observe(&mut self, rec: &Rec) -> Option<Halt> {
            (rec.step == self.0).then(|| Halt(format!("step {}", self.0)))
        }
    }
    let mut e = engine(1, 3, "ideal", forever());
    let (mut d, mut h1, mut h2) = (Digest::default(), HaltAt(40), HaltAt(50));
    let mut obs = Observers { list: vec![&mut d, &mut h1, &mut h2] };
    assert_eq!(e.run(&mut obs), StopReason::Halted("step 40".into()));
    assert_eq!(d.events, 41);
}

#[test]
fn a_fault_at_time_t_takes_effect_before_anything_else_at_t() {
    // A node crashed "at 0" never starts: the crash is queued before the start events.
    let mut e = engine(1, 3, "ideal", forever());
    e.schedule_crash(NodeId(1), SimTime::ZERO);
    let mut log = Log::default();
    e.run(&mut log);
    assert_eq!(e.replica(NodeId(1)).starts, 0);
    assert!(!log.0.iter().any(|(_, s)| s.starts_with("timer n1")));
    assert!(e.replica(NodeId(0)).received.iter().all(|&(from, _, _)| from != 1));
}

/// An engine with `replica` as its only node, on an ideal network, for one second.
fn alone<R: Replica>(replica: R) -> Engine<R> {
    let opts = NetworkOptions::preset("ideal").unwrap();
    let mut topo = SimRng::derive(1, Stream::Network);
    let network = Network::new(opts, 1, SimRng::derive(1, Stream::Network), &mut topo);
    let setup = NodeSetup { honest: true, clock: Clock::default() };
    let stop = StopCondition { until: SimTime::from_secs(1), heights: None };
    Engine::new(vec![(replica, setup)], network, Rc::new(Keyring::generate(1, 1)), None, stop)
}

/// A replica that re-arms its timer on a script and records when it fires.
#[derive(Clone, Hash)]
struct Rearm {
    fired: Vec<(SimTime, u64)>,
}

impl Replica for Rearm {
    type Msg = crate::protocol::toy::Ping;
    fn on_start(&mut self, cx: &mut Cx<Self::Msg>) {
        // Extended later (100 → 200), like an ExtendTimer: fires once, at 200.
        cx.set_timer(TimerKind::Other(1), SimTime(100));
        cx.set_timer(TimerKind::Other(2), SimTime(200));
    }
    fn on_message(&mut self, _: &mut Cx<Self::Msg>, _: NodeId, _: &Rc<Self::Msg>) {}
    fn on_timer(&mut self, cx: &mut Cx<Self::Msg>, tag: TimerKind) {
        self.fired.push((cx.now, tag.trace_tag()));
        match tag.trace_tag() {
            // Re-armed earlier (500 → 300): fires at 300 only.
            2 => {
                cx.set_timer(TimerKind::Other(3), SimTime(500));
                cx.set_timer(TimerKind::Other(4), SimTime(300));
            }
            // Armed then cancelled: never fires.
            4 => {
                cx.set_timer(TimerKind::Other(5), SimTime(400));
                cx.cancel_timer();
            }
            _ => {}
        }
    }
    fn after_crash(&self, _: bool) -> Self {
        self.clone()
    }
    fn ledger_height(&self) -> u32 {
        0
    }
    fn state_hash(&self) -> crate::protocol::crypto::Hash32 {
        crate::protocol::hash_state(self)
    }
}

#[test]
fn rearmed_timers_fire_once_at_their_latest_deadline() {
    let mut e = alone(Rearm { fired: vec![] });
    assert_eq!(e.run(&mut Digest::default()), StopReason::Quiescent);
    assert_eq!(e.replica(NodeId(0)).fired, vec![(SimTime(200), 2), (SimTime(300), 4)]);
}

/// Two timers expiring at the same instant, 200. With `rearm_last` false: the protocol
/// timer is armed for 100, extended to 200, then the adversary timer is armed — the
/// protocol timer was scheduled first. With `rearm_last` true: the protocol timer is armed
/// for 200, the adversary timer for 200, then the protocol timer is re-armed for 200 —
/// now the adversary timer was scheduled first.
#[derive(Clone, Hash)]
struct Tie {
    rearm_last: bool,
    fired: Vec<u64>,
}

impl Replica for Tie {
    type Msg = crate::protocol::toy::Ping;
    fn on_start(&mut self, cx: &mut Cx<Self::Msg>) {
        if self.rearm_last {
            cx.set_timer(TimerKind::Other(1), SimTime(200));
            cx.set_adversary_timer(TimerKind::Other(3), SimTime(200));
            cx.set_timer(TimerKind::Other(2), SimTime(200));
        } else {
            cx.set_timer(TimerKind::Other(1), SimTime(100));
            cx.set_timer(TimerKind::Other(2), SimTime(200));
            cx.set_adversary_timer(TimerKind::Other(3), SimTime(200));
        }
    }
    fn on_message(&mut self, _: &mut Cx<Self::Msg>, _: NodeId, _: &Rc<Self::Msg>) {}
    fn on_timer(&mut self, _: &mut Cx<Self::Msg>, tag: TimerKind) {
        self.fired.push(tag.trace_tag());
    }
    fn after_crash(&self, _: bool) -> Self {
        self.clone()
    }
    fn ledger_height(&self) -> u32 {
        0
    }
    fn state_hash(&self) -> crate::protocol::crypto::Hash32 {
        crate::protocol::hash_state(self)
    }
}

/// The lazy re-queue of an extended timer (its wake-up at 100 moves itself to 200) must not
/// move it behind events scheduled later for the same instant: order is (time, scheduling
/// order), as if every SetTimer had pushed its own event.
#[test]
fn an_extended_timer_keeps_its_scheduling_order_at_equal_times() {
    let mut e = alone(Tie { rearm_last: false, fired: vec![] });
    e.run(&mut Digest::default());
    assert_eq!(e.replica(NodeId(0)).fired, vec![2, 3]);
    let mut e = alone(Tie { rearm_last: true, fired: vec![] });
    e.run(&mut Digest::default());
    assert_eq!(e.replica(NodeId(0)).fired, vec![3, 2], "re-armed to the same instant after the other");
}

#[test]
fn suppressed_timer_expiries_are_postponed_to_the_window_end() {
    let mut e = engine(1, 2, "ideal", StopCondition { until: SimTime::from_ms(60), heights: None });
    e.suppress_timers(NodeId(0), SimTime::from_ms(5), SimTime::from_ms(35));
    let mut log = Log::default();
    e.run(&mut log);
    let t0: Vec<u64> = log.0.iter().filter(|x| x.1 == "timer n0").map(|x| x.0.0 / 1000).collect();
    // Due at 10 ms, postponed to 35 ms; then every 10 ms again.
    assert_eq!(t0, [35, 45, 55]);
    let t1: Vec<u64> = log.0.iter().filter(|x| x.1 == "timer n1").map(|x| x.0.0 / 1000).collect();
    assert_eq!(t1, [10, 20, 30, 40, 50, 60]);
}
