//! A tiny test-only protocol for exercising the engine without dBFT.
//!
//! Every node broadcasts a numbered ping every `period` and counts what it receives; node
//! 0 "finalises" a block every `pings_per_block` of its own pings so the height-based stop
//! condition can be tested. It has no safety or liveness properties of its own.

use super::block::Block;
use super::crypto::{Enc, Hash32};
use super::{Cx, MsgKind, MsgMeta, NodeId, Replica, WireMessage};
use crate::engine::time::SimTime;
use crate::validators::ValidatorSet;
use serde::Serialize;
use std::rc::Rc;

#[derive(Clone, Debug, Serialize)]
pub struct Ping {
    pub from: u32,
    pub seq: u32,
    /// Typed as a consensus payload, so flood relay gossips it ([`Toy::gossip`]).
    pub gossip: bool,
}

impl WireMessage for Ping {
    fn meta(&self) -> MsgMeta {
        let mut e = Enc::new();
        e.u32(self.from).u32(self.seq);
        MsgMeta {
            kind: if self.gossip { MsgKind::Commit } else { MsgKind::Other },
            height: self.seq,
            view: 0,
            validator: self.from as u16,
            hash: e.finish(),
            size: 8,
        }
    }
}

#[derive(Clone, Debug, Hash)]
pub struct Toy {
    pub me: u32,
    pub period_us: u64,
    pub pings_per_block: u32,
    pub max_pings: u32,
    pub sent: u32,
    pub received: Vec<(u32, u32, SimTime)>,
    pub height: u32,
    pub starts: u32,
    /// Pings travel as gossip under flood relay: typed as consensus payloads, and every
    /// node forwards them (`relays`), so they reach nodes through relays as well.
    pub gossip: bool,
}

impl Toy {
    pub fn new(me: u32, period_us: u64, max_pings: u32) -> Toy {
        Toy {
            me,
            period_us,
            pings_per_block: 5,
            max_pings,
            sent: 0,
            received: Vec::new(),
            height: 0,
            starts: 0,
            gossip: false,
        }
    }
}

impl Replica for Toy {
    type Msg = Ping;

    fn on_start(&mut self, cx: &mut Cx<Ping>) {
        self.starts += 1;
        cx.set_timer(crate::protocol::TimerKind::Other(0), cx.now.plus(self.period_us));
    }

    fn on_message(&mut self, cx: &mut Cx<Ping>, from: NodeId, msg: &Rc<Ping>) {
        if !self.gossip {
            assert_eq!(from.0, msg.from, "engine delivered a ping with the wrong sender");
        }
        self.received.push((msg.from, msg.seq, cx.now));
    }

    fn on_timer(&mut self, cx: &mut Cx<Ping>, _tag: crate::protocol::TimerKind) {
        if self.sent >= self.max_pings {
            return;
        }
        self.sent += 1;
        cx.broadcast(Rc::new(Ping { from: self.me, seq: self.sent, gossip: self.gossip }));
        if self.me == 0 && self.sent.is_multiple_of(self.pings_per_block) {
            self.height += 1;
            let mut b = Block::genesis(Rc::new(ValidatorSet::new(Vec::new())));
            b.header.height = self.height;
            b.header.prev_hash = Hash32::ZERO;
            b.hash = b.header.hash();
            cx.persist(Rc::new(b));
        }
        cx.set_timer(crate::protocol::TimerKind::Other(0), cx.now.plus(self.period_us));
    }

    fn relays(&self, _keys: &crate::protocol::crypto::Keyring, _msg: &Ping) -> bool {
        self.gossip
    }

    fn after_crash(&self, _amnesia: bool) -> Toy {
        Toy { received: Vec::new(), ..self.clone() }
    }

    fn ledger_height(&self) -> u32 {
        self.height
    }

    fn state_hash(&self) -> Hash32 {
        crate::protocol::hash_state(self)
    }
}
