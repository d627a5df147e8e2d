//! A human-readable narration of a run, one line per event, for reading an attack
//! scenario step by step (`dbft-sim run --narrate`). Transaction arrivals are left out,
//! and so are the deliveries the engine hands over without a record (a block reaching a
//! node that has persisted its height: docs/performance.md, ninth pass); a closing line
//! counts those ([`Narrator::unrecorded`]).
//!
//! ```text
//!    15.000000s R1 -> all  PrepareRequest h1 v0 #ab12cd34 (msg 41)
//!    15.100000s R2 <- R1   PrepareRequest (msg 41)
//!    15.200000s R2 signs Commit for 60e72b6b at h1 v0
//!    15.300000s R2 persists h1 60e72b6b (view 0, 3 signatures)
//!    20.000000s R3 timer fires (forced)
//!    20.000000s R3 asks to leave h1 v0 (Timeout)
//!    20.000000s R1 -x R3   Commit (msg 57): partition
//! ```

use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Halt, Observer, Rec};
use crate::protocol::{NodeId, Note};
use std::io::Write;

pub struct Narrator<W: Write> {
    out: W,
    names: Vec<String>,
    /// Per node, the hash of the next set its last persisted block named: a block naming
    /// another one is where the chain hands off, and its line says so.
    named: std::cell::RefCell<std::collections::BTreeMap<NodeId, crate::protocol::crypto::Hash32>>,
    /// The set named before the run ([`Narrator::starting_from`]).
    start: Option<crate::protocol::crypto::Hash32>,
    /// Per payload hash, the first send of it (message id, sender, height): a later send
    /// of the same payload by a node that holds none of the first sender's keys and has
    /// received it is a relay (flood gossip) or a replay, not its own message, and its line
    /// says whose it is.
    /// Entries two heights below the newest height sent are dropped as they age.
    first_sent: std::cell::RefCell<FirstSent>,
    /// Per node, the indices of the signing keys it holds (its own; a twin's or an
    /// attacker's copies): a twin sending its owner's payload sends its own message.
    keys: Vec<Vec<usize>>,
    /// The first write error; after it the narrator stops writing (a closed pipe, e.g.
    /// `| head`, ends the narration, not the run).
    failed: Option<std::io::Error>,
    /// A mark line not written yet and how many times in a row it was taken: the same
    /// mark at the same node and instant is one line with a count (a RecoveryMessage's
    /// payloads take one path each).
    pending_mark: Option<(String, u32)>,
}

impl<W: Write> Narrator<W> {
    pub fn new(out: W, names: Vec<String>) -> Self {
        Narrator {
            out,
            names,
            named: Default::default(),
            start: None,
            first_sent: Default::default(),
            keys: Vec::new(),
            failed: None,
            pending_mark: None,
        }
    }

    /// The set the chain names before the run's first block (the genesis set): a node's
    /// first persisted block is compared with it, so a hand-off there is narrated too.
    pub fn starting_from(mut self, set: crate::protocol::crypto::Hash32) -> Self {
        self.start = Some(set);
        self
    }

    /// The signing keys each node holds (by node index; see `keys` above).
    pub fn holding(mut self, keys: Vec<Vec<usize>>) -> Self {
        self.keys = keys;
        self
    }

    /// Whether `a` and `b` send as one identity: the same node, or nodes holding a common
    /// key. Without the key table, only the same node.
    fn same_signer(&self, a: NodeId, b: NodeId) -> bool {
        a == b
            || match (self.keys.get(a.idx()), self.keys.get(b.idx())) {
                (Some(x), Some(y)) => x.iter().any(|k| y.contains(k)),
                _ => false,
            }
    }

    /// Closes the narration with the number of copies that had no record (and so no
    /// line): blocks that reached nodes which had persisted their height, and flooded
    /// copies that reached nodes whose relay cache held them already. Nothing if none.
    pub fn unrecorded(&mut self, deliveries: u64, duplicate_drops: u64) {
        self.flush_mark();
        if self.failed.is_some() {
            return;
        }
        let mut line = |text: String| {
            if let Err(e) = writeln!(self.out, "{text}") {
                self.failed.get_or_insert(e);
            }
        };
        if deliveries > 0 {
            line(format!(
                "({deliveries} deliveries of a block to a node that had already persisted its height are not narrated: they change nothing, and count as delivered)"
            ));
        }
        if duplicate_drops > 0 {
            line(format!(
                "({duplicate_drops} relayed copies reaching a node that had already seen them are not narrated: its relay cache drops them, and they count as dropped duplicates)"
            ));
        }
    }

    /// Flushes what is buffered and hands back the first write error, if any.
    pub fn finish(mut self) -> Result<(), std::io::Error> {
        self.flush_mark();
        match self.failed.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }

    fn write(&mut self, line: &str) {
        if self.failed.is_none()
            && let Err(e) = writeln!(self.out, "{line}")
        {
            self.failed = Some(e);
        }
    }

    /// Writes the pending mark line, with its count if it repeated.
    fn flush_mark(&mut self) {
        if let Some((line, n)) = self.pending_mark.take() {
            let line = if n > 1 { format!("{line} (×{n})") } else { line };
            self.write(&line);
        }
    }

    fn name(&self, n: NodeId) -> &str {
        self.names.get(n.idx()).map_or("?", |s| s.as_str())
    }

    /// The narration of any event, those `line` leaves out (transactions) included.
    pub fn line_of_any(&self, rec: &Rec) -> String {
        match (&rec.ev, self.line(rec)) {
            (_, Some(line)) => line,
            (Ev::Tx { node, tx }, None) => {
                format!("{:>14} {} receives transaction {tx}", rec.time.to_string(), self.name(*node))
            }
            (_, None) => format!("{:>14} {}", rec.time.to_string(), serde_json::to_string(&rec.ev).unwrap_or_default()),
        }
    }

    /// The narration of one event, or None for events left out.
    pub fn line(&self, rec: &Rec) -> Option<String> {
        let t = rec.time;
        let text = match &rec.ev {
            Ev::Start { node } => format!("{} starts", self.name(*node)),
            Ev::Send { id, from, to, meta, .. } => {
                let to = to.map_or("all".to_string(), |n| self.name(n).to_string());
                let (first_id, first_from) = self.first_sent.borrow_mut().first(meta.hash, *id, *from, meta.height);
                let relays =
                    !self.same_signer(first_from, *from) && self.first_sent.borrow().has_received(&meta.hash, *from);
                let whose = if relays {
                    format!(", relaying msg {first_id} of {}", self.name(first_from))
                } else {
                    String::new()
                };
                format!(
                    "{} -> {to:<4} {:?} h{} v{} #{} (msg {id}{whose})",
                    self.name(*from),
                    meta.kind,
                    meta.height,
                    meta.view,
                    meta.hash.short()
                )
            }
            Ev::Deliver { id, from, to, kind, dup } => {
                self.first_sent.borrow_mut().delivered(*id, *to);
                let dup = if *dup { " duplicate" } else { "" };
                format!("{} <- {:<4} {kind:?} (msg {id}){dup}", self.name(*to), self.name(*from))
            }
            Ev::Drop { id, from, to, kind, reason } => {
                format!("{} -x {:<4} {kind:?} (msg {id}): {}", self.name(*from), self.name(*to), reason.name())
            }
            Ev::Timer { node, forced, .. } => {
                format!("{} timer fires{}", self.name(*node), if *forced { " (forced)" } else { "" })
            }
            Ev::Persist { node, block } => {
                let next = block.next_validators.hash();
                let before = self.named.borrow_mut().insert(*node, next).or(self.start);
                let handoff = match before {
                    Some(b) if b != next => {
                        let keys: Vec<&str> =
                            block.next_validators.keys.iter().map(|k| self.name(NodeId(k.0))).collect();
                        format!(" — it names a new set for h{}: {}", block.height() + 1, keys.join(" "))
                    }
                    _ => String::new(),
                };
                format!(
                    "{} persists h{} {} (view {}, {} signatures){handoff}",
                    self.name(*node),
                    block.height(),
                    block.hash.short(),
                    block.view,
                    block.certificate.len()
                )
            }
            Ev::Note { node, note } => {
                let who = self.name(*node);
                match note {
                    Note::ViewChanged { height, view } => format!("{who} enters h{height} v{view}"),
                    Note::CommitSigned { height, view, block, .. } => {
                        format!("{who} signs Commit for {} at h{height} v{view}", block.short())
                    }
                    Note::ChangeViewSent { height, view, reason } => {
                        format!("{who} asks to leave h{height} v{view} ({})", reason_name(*reason))
                    }
                    Note::Proposed { height, view, block } => {
                        format!("{who} proposes {} at h{height} v{view}", block.short())
                    }
                    Note::Rejected { kind, reason } => {
                        format!("{who} rejects a {kind:?}: {}{}", reason.name(), rejection_gloss(*kind, *reason))
                    }
                }
            }
            Ev::Crash { node } => format!("{} CRASHES", self.name(*node)),
            Ev::Restart { node, amnesia } => {
                format!("{} restarts{}", self.name(*node), if *amnesia { " with amnesia" } else { "" })
            }
            Ev::Tx { .. } => return None,
            Ev::Marker { text, .. } => format!("-- {text}"),
        };
        Some(format!("{:>14} {text}", t.to_string()))
    }
}

/// ChangeView reason codes (docs/dbft-2.0.md §1.2).
fn reason_name(code: u8) -> &'static str {
    match code {
        0x00 => "Timeout",
        0x01 => "ChangeAgreement",
        0x02 => "TxNotFound",
        0x03 => "TxRejectedByPolicy",
        0x04 => "TxInvalid",
        0x05 => "BlockRejectedByPolicy",
        _ => "unknown reason",
    }
}

/// What a rejection reason means where the name alone misleads a reader. A signature is
/// checked against the receiver's own copy of what was signed: a Commit against the block
/// it built from its proposal, a payload rebuilt from a RecoveryMessage's compact form
/// against what the receiver fills in. So "bad-signature" also covers an honest
/// signature over other content (another proposal's block), not only a forgery.
fn rejection_gloss(kind: crate::protocol::MsgKind, reason: crate::protocol::RejectReason) -> &'static str {
    use crate::protocol::{MsgKind, RejectReason};
    match (kind, reason) {
        (MsgKind::Commit, RejectReason::BadSignature) => {
            " (not a signature of the block this node built: signed for another proposal, or forged)"
        }
        (_, RejectReason::BadSignature) => {
            " (does not verify against this node's copy of the payload: signed for other content, or forged)"
        }
        _ => "",
    }
}

impl<W: Write> Observer for Narrator<W> {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        if self.failed.is_none()
            && let Some(line) = self.line(rec)
        {
            self.flush_mark();
            self.write(&line);
        }
        None
    }

    /// A coverage mark, on a line of its own where the path is taken: after the record
    /// of the event that took it, and before the records of what that path then does
    /// (a Byzantine node's mark precedes the message it forges):
    /// `   21.000000s R3 · byzantine: garbage commit`; the same mark again at once adds
    /// to its count instead of a line.
    fn mark(&mut self, time: SimTime, node: Option<NodeId>, name: &'static str) {
        if self.failed.is_some() {
            return;
        }
        let line = format!("{:>14} {} · {name}", time.to_string(), node.map_or("", |n| self.name(n)));
        match &mut self.pending_mark {
            Some((pending, n)) if *pending == line => *n += 1,
            _ => {
                self.flush_mark();
                self.pending_mark = Some((line, 1));
            }
        }
    }
}

/// The first send of each payload, for the heights still in play (see `first_sent`).
#[derive(Default)]
struct FirstSent {
    by_hash: std::collections::BTreeMap<crate::protocol::crypto::Hash32, (u64, NodeId, u32)>,
    /// Which payload each message id carries, for the payloads in `by_hash`.
    by_id: std::collections::BTreeMap<u64, crate::protocol::crypto::Hash32>,
    /// The (payload, node) pairs of deliveries: a node that sends a payload it received
    /// relays it; one that sends a payload it never received built the same content
    /// itself (its own copy of a block with the same certificate, the same GetBlocks).
    received: std::collections::BTreeSet<(crate::protocol::crypto::Hash32, NodeId)>,
    newest: u32,
    /// Inserts since the last pruning.
    fresh: usize,
}

impl FirstSent {
    /// The first send of `hash` (message id, sender), noting this one if it is the first.
    fn first(&mut self, hash: crate::protocol::crypto::Hash32, id: u64, from: NodeId, height: u32) -> (u64, NodeId) {
        self.newest = self.newest.max(height);
        let e = *self.by_hash.entry(hash).or_insert_with(|| {
            self.fresh += 1;
            (id, from, height)
        });
        self.by_id.insert(id, hash);
        // A long narrated run would otherwise keep every payload it ever saw: relays of
        // a payload come within a height or two of its first send.
        if self.fresh >= 4096 {
            let floor = self.newest.saturating_sub(2);
            self.by_hash.retain(|_, v| v.2 >= floor);
            let kept = &self.by_hash;
            self.by_id.retain(|_, h| kept.contains_key(h));
            self.received.retain(|(h, _)| kept.contains_key(h));
            self.fresh = 0;
        }
        (e.0, e.1)
    }

    /// Message `id` reached `node`.
    fn delivered(&mut self, id: u64, node: NodeId) {
        if let Some(&h) = self.by_id.get(&id) {
            self.received.insert((h, node));
        }
    }

    /// Whether `node` has received a message carrying `hash`.
    fn has_received(&self, hash: &crate::protocol::crypto::Hash32, node: NodeId) -> bool {
        self.received.contains(&(*hash, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::SimTime;
    use crate::net::DropReason;
    use crate::protocol::MsgKind;
    use std::rc::Rc;

    #[test]
    fn lines_read_as_intended() {
        let n = Narrator::new(Vec::new(), vec!["R0".into(), "R1".into()]);
        let rec = |ev| Rec { step: 0, time: SimTime(15_200_000), ev };
        let drop =
            Ev::Drop { id: 7, from: NodeId(1), to: NodeId(0), kind: MsgKind::Commit, reason: DropReason::Partition };
        assert_eq!(n.line(&rec(drop)).unwrap(), "    15.200000s R1 -x R0   Commit (msg 7): partition");
        let note = Ev::Note { node: NodeId(0), note: Note::ViewChanged { height: 3, view: 1 } };
        assert_eq!(n.line(&rec(note)).unwrap(), "    15.200000s R0 enters h3 v1");
        assert!(n.line(&rec(Ev::Tx { node: NodeId(0), tx: 1 })).is_none());
        assert_eq!(n.line_of_any(&rec(Ev::Tx { node: NodeId(1), tx: 9 })), "    15.200000s R1 receives transaction 9");
    }

    /// A payload sent again by another node that received it (flood gossip's relay, or a
    /// replay) reads as that node passing on the first sender's message, not as its own;
    /// the first sender sending it again, a node holding the same key (a twin, an attacker
    /// with a copy), or a node that built the same content without receiving it, reads as
    /// a send.
    #[test]
    fn a_relayed_payload_names_its_first_sender() {
        use crate::protocol::{MsgMeta, crypto::Hash32};
        let names = vec!["R0".into(), "R1".into(), "R2".into(), "R1.twin".into()];
        let n = Narrator::new(Vec::new(), names).holding(vec![vec![0], vec![1], vec![2], vec![1]]);
        let meta = MsgMeta { kind: MsgKind::Commit, height: 1, view: 0, validator: 1, hash: Hash32([7; 32]), size: 9 };
        let send = |id, from| Rec {
            step: 0,
            time: SimTime(0),
            ev: Ev::Send { id, from: NodeId(from), to: None, meta, content: None },
        };
        assert_eq!(n.line(&send(4, 1)).unwrap(), "     0.000000s R1 -> all  Commit h1 v0 #07070707 (msg 4)");
        // R0 sends the same payload without having received it: its own content.
        assert_eq!(n.line(&send(8, 0)).unwrap(), "     0.000000s R0 -> all  Commit h1 v0 #07070707 (msg 8)");
        let deliver = Rec {
            step: 0,
            time: SimTime(0),
            ev: Ev::Deliver { id: 4, from: NodeId(1), to: NodeId(2), kind: MsgKind::Commit, dup: false },
        };
        n.line(&deliver).unwrap();
        assert_eq!(
            n.line(&send(9, 2)).unwrap(),
            "     0.000000s R2 -> all  Commit h1 v0 #07070707 (msg 9, relaying msg 4 of R1)"
        );
        assert_eq!(n.line(&send(11, 1)).unwrap(), "     0.000000s R1 -> all  Commit h1 v0 #07070707 (msg 11)");
        // R1's twin signs with R1's key: the same payload is its own message.
        assert_eq!(n.line(&send(12, 3)).unwrap(), "     0.000000s R1.twin -> all  Commit h1 v0 #07070707 (msg 12)");
    }

    /// Marks read as lines of their own after the event that took the path; the same mark
    /// at the same node and instant again is counted on one line, and a record's line
    /// writes the pending mark first.
    #[test]
    fn marks_are_narrated_and_repeats_counted() {
        let mut n = Narrator::new(Vec::new(), vec!["R0".into(), "R1".into()]);
        let t = SimTime(23_200_000);
        n.mark(t, Some(NodeId(0)), "recovery answered by committed node");
        n.mark(t, Some(NodeId(1)), "csharp: recovered payload handled again from the relay result");
        n.mark(t, Some(NodeId(1)), "csharp: recovered payload handled again from the relay result");
        n.observe(&Rec { step: 0, time: t, ev: Ev::Crash { node: NodeId(0) } });
        n.mark(t, Some(NodeId(1)), "csharp: recovered payload handled again from the relay result");
        let out = String::from_utf8(n.out.clone()).unwrap();
        assert_eq!(
            out,
            "    23.200000s R0 · recovery answered by committed node\n    23.200000s R1 · csharp: recovered payload handled again from the relay result (×2)\n    23.200000s R0 CRASHES\n"
        );
        // The last one is written when the narration ends.
        let mut buf = Vec::new();
        let mut n = Narrator::new(&mut buf, vec!["R0".into()]);
        n.mark(t, Some(NodeId(0)), "GetBlocks sent");
        n.finish().unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), "    23.200000s R0 · GetBlocks sent\n");
    }

    /// The table of first sends forgets heights two below the newest: a long narrated run
    /// keeps a bounded table (it grew by about 1.5 KB per height).
    #[test]
    fn first_sends_of_old_heights_are_forgotten() {
        use crate::protocol::crypto::Hash32;
        let mut t = FirstSent::default();
        for i in 0..100_000u64 {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&i.to_le_bytes());
            t.first(Hash32(h), i, NodeId(0), (i / 100) as u32);
        }
        assert!(t.by_hash.len() <= 4096 + 300, "{} entries kept", t.by_hash.len());
        // A payload of a height still in play keeps its first send.
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&99_999u64.to_le_bytes());
        assert_eq!(t.first(Hash32(h), 1, NodeId(5), 999), (99_999, NodeId(0)));
    }

    /// A persisted block that names another next set than the node's previous block is
    /// a hand-off, and its line says which set takes over; blocks naming the same set
    /// read as before.
    #[test]
    fn a_block_naming_a_new_set_says_so() {
        use crate::protocol::crypto::KeyId;
        use crate::validators::ValidatorSet;
        let n = Narrator::new(Vec::new(), vec!["R0".into(), "R1".into(), "R2".into(), "C0".into()]);
        let set = |keys: &[u32]| Rc::new(ValidatorSet::new(keys.iter().map(|k| KeyId(*k)).collect()));
        let block = |height: u32, next: Rc<ValidatorSet>| {
            let mut b = crate::protocol::block::Block::genesis(next.clone());
            b.header.height = height;
            Rc::new(b)
        };
        let persist = |height, next| Rec {
            step: 0,
            time: SimTime(0),
            ev: Ev::Persist { node: NodeId(1), block: block(height, next) },
        };
        let old = set(&[0, 1, 2]);
        assert!(!n.line(&persist(1, old.clone())).unwrap().contains("new set"));
        assert!(!n.line(&persist(2, old)).unwrap().contains("new set"));
        let line = n.line(&persist(3, set(&[0, 1, 3]))).unwrap();
        assert!(line.ends_with("— it names a new set for h4: R0 R1 C0"), "{line}");
        assert!(!n.line(&persist(4, set(&[0, 1, 3]))).unwrap().contains("new set"));
        // A node's first block is compared with the set the chain started from: a change
        // in block 1 is a hand-off too (without the start it has nothing to compare with).
        let genesis = set(&[0, 1, 2]).hash();
        let n =
            Narrator::new(Vec::new(), vec!["R0".into(), "R1".into(), "R2".into(), "C0".into()]).starting_from(genesis);
        let line = n.line(&persist(1, set(&[0, 1, 3]))).unwrap();
        assert!(line.ends_with("— it names a new set for h2: R0 R1 C0"), "{line}");
        let n =
            Narrator::new(Vec::new(), vec!["R0".into(), "R1".into(), "R2".into(), "C0".into()]).starting_from(genesis);
        assert!(!n.line(&persist(1, set(&[0, 1, 2]))).unwrap().contains("new set"));
    }

    /// A writer that accepts `room` bytes, then fails like a closed pipe.
    struct ClosingPipe {
        room: usize,
        writes_after_close: usize,
    }
    impl Write for ClosingPipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                self.writes_after_close += 1;
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let k = buf.len().min(self.room);
            self.room -= k;
            Ok(k)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_the_narration_once() {
        let pipe = ClosingPipe { room: 10, writes_after_close: 0 };
        let mut n = Narrator::new(pipe, vec!["R0".into()]);
        for _ in 0..5 {
            n.observe(&Rec { step: 0, time: SimTime(0), ev: Ev::Start { node: NodeId(0) } });
        }
        assert_eq!(n.out.writes_after_close, 1, "one failed write, then silence");
        let e = n.finish().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    }
}
