//! The event queue: pending events ordered by (time, insertion sequence).
//!
//! The sequence number is what makes the order total and reproducible: two events at the
//! same virtual instant come out in the order they were scheduled, never in an order that
//! depends on queue internals, hashing or memory addresses. A caller that defers a push
//! (the engine's lazily re-queued timers) reserves the sequence number when the event is
//! scheduled and pushes with it later, so the deferral cannot change the order.
//!
//! Deliberately left out: cancellation. Timers are cancelled lazily by the run loop (a fired
//! timer whose generation is stale is skipped).

use super::time::SimTime;
use std::collections::VecDeque;

/// A pending event's place in the order; the event itself waits in the slab at `slot`.
#[derive(Clone, Copy)]
struct Entry {
    time: u64,
    seq: u64,
    slot: u32,
}

/// A settle sorts a bucket of at most this many events into the front instead of spreading
/// it over the buckets below.
const SORT_AT_MOST: usize = 32;

/// The most entries of room a settle keeps for the next one (96 KiB); larger storage is
/// freed when its bucket empties.
const SCRATCH_KEEP: usize = 4096;

/// Pending events, popped in (time, sequence) order.
///
/// A radix heap over the time: event times never go backwards (nothing is scheduled before
/// `now`), so each pending event after `last` (the latest time the front covers, set by
/// the last settle) sits in the bucket of the highest bit in which its time differs from
/// `last`. Popping from an empty front empties the lowest non-empty bucket into lower ones
/// — each event moves at most 64 times over its life. With N = 100 the queue holds ~10⁴
/// deliveries, where a binary heap spent a third of the run sifting.
///
/// The front, `now`, holds every pending event at or before `last`, sorted by (time,
/// sequence): that is the only place the sequence decides anything, so it never takes part
/// in the bucketing (keying on (time, seq) made events at nearby times climb down through
/// up to 64 extra buckets). A settle that finds the lowest bucket small
/// ([`SORT_AT_MOST`] events) sorts it into the front whole, with `last` its latest time,
/// instead of spreading it over the buckets below and again at each later settle: an
/// event then moves once, not once per level (a WAN delay of 80 ms is 17 levels of
/// microseconds). A push at or before `last` is sorted into the front; since buckets hold
/// only times after `last`, that keeps the order total. A bit mask of the non-empty
/// buckets finds the lowest one in one instruction, each bucket's smallest time is kept as
/// events are filed, and the emptied bucket's storage (up to [`SCRATCH_KEEP`] entries) is
/// kept for the next settle, so a settled run does not allocate. Events live in a slab; the buckets hold 24-byte entries.
pub struct EventQueue<E> {
    last: u64,
    /// Events at or before time `last`, in increasing (time, sequence) order.
    now: VecDeque<Entry>,
    /// `buckets[b - 1]` holds events after `last` whose time first differs from `last` in
    /// bit `b - 1`.
    buckets: Vec<Vec<Entry>>,
    /// Bit `b - 1` set iff `buckets[b - 1]` is non-empty.
    occupied: u64,
    /// The smallest time in each bucket (`u64::MAX` when empty), kept as events are filed,
    /// so a settle knows the new `last` without a pass over the bucket it empties.
    mins: [u64; 64],
    /// The storage of the last bucket emptied, reused by the next settle.
    scratch: Vec<Entry>,
    len: usize,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
    /// The (time, seq) of the last event popped: nothing may be pushed before it.
    popped: Option<(u64, u64)>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            last: 0,
            now: VecDeque::new(),
            buckets: (0..64).map(|_| Vec::new()).collect(),
            occupied: 0,
            mins: [u64::MAX; 64],
            scratch: Vec::new(),
            len: 0,
            slab: Vec::with_capacity(1024),
            free: Vec::new(),
            next_seq: 0,
            popped: None,
        }
    }

    /// Schedules `event` at `time` (at or after the last event popped); returns its
    /// sequence number.
    pub fn push(&mut self, time: SimTime, event: E) -> u64 {
        let seq = self.reserve_seq();
        self.push_with_seq(time, seq, event);
        seq
    }

    /// Takes the next sequence number without pushing anything: the event it is for is
    /// scheduled now and pushed later with [`push_with_seq`](Self::push_with_seq).
    pub fn reserve_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Pushes `event` with a sequence number from [`reserve_seq`](Self::reserve_seq). Each
    /// (time, seq) may be pending once, and must come after the last event popped.
    pub fn push_with_seq(&mut self, time: SimTime, seq: u64, event: E) {
        debug_assert!(seq < self.next_seq, "sequence number {seq} was never reserved");
        debug_assert!(
            self.popped.is_none_or(|p| (time.0, seq) > p),
            "event pushed into the past: {time} after a later pop"
        );
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(event);
                i
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.place(Entry { time: time.0, seq, slot });
        self.len += 1;
    }

    /// Files `e`: into the front if it is due at or before `last`, else in its bucket.
    fn place(&mut self, e: Entry) {
        if e.time <= self.last {
            // At `last` usually the newest sequence number, so it goes last; an earlier time
            // or a deferred push with a reserved (older) number is sorted in.
            let key = (e.time, e.seq);
            if self.now.back().is_none_or(|b| (b.time, b.seq) < key) {
                self.now.push_back(e);
            } else {
                let at = self.now.partition_point(|p| (p.time, p.seq) < key);
                self.now.insert(at, e);
            }
        } else {
            let x = e.time ^ self.last;
            let b = 63 - x.leading_zeros() as usize;
            self.buckets[b].push(e);
            self.mins[b] = self.mins[b].min(e.time);
            self.occupied |= 1 << b;
        }
    }

    /// Makes the front hold the events at the smallest pending time (and, when the bucket
    /// it empties is small, every event of that bucket).
    fn settle(&mut self) -> bool {
        if !self.now.is_empty() {
            return true;
        }
        if self.occupied == 0 {
            return false;
        }
        let i = self.occupied.trailing_zeros() as usize;
        self.occupied &= !(1 << i);
        let min = std::mem::replace(&mut self.mins[i], u64::MAX);
        std::mem::swap(&mut self.scratch, &mut self.buckets[i]);
        let mut items = std::mem::take(&mut self.scratch);
        if items.len() <= SORT_AT_MOST {
            // All of it to the front. Every other bucket's times differ from the old `last`
            // above bit i and this bucket's times agree with it there, so they all come
            // after the new `last` and stay in their buckets.
            items.sort_unstable_by_key(|e| (e.time, e.seq));
            self.last = items.last().map_or(self.last, |e| e.time);
            self.now.extend(items.drain(..));
        } else {
            self.last = min;
            for e in items.drain(..) {
                let x = e.time ^ self.last;
                if x == 0 {
                    self.now.push_back(e);
                } else {
                    let b = 63 - x.leading_zeros() as usize;
                    self.buckets[b].push(e);
                    self.mins[b] = self.mins[b].min(e.time);
                    self.occupied |= 1 << b;
                }
            }
            if self.now.len() > 1 {
                self.now.make_contiguous().sort_unstable_by_key(|e| e.seq);
            }
        }
        // Keep a small room for the next settle, not the largest bucket ever emptied: the
        // swap above hands this storage to another bucket, so without the cap every bucket
        // a run uses would keep the largest storage that ever passed through it (at N = 300
        // the buckets held ten times the room of the events waiting).
        items.shrink_to(SCRATCH_KEEP);
        self.scratch = items;
        true
    }

    /// Removes and returns the earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(SimTime, u64, E)> {
        if !self.settle() {
            return None;
        }
        self.take_front()
    }

    /// [`pop`](Self::pop) if the earliest event is due at or before `limit`; otherwise
    /// leaves it and says when it is due (`Err(None)`: nothing is pending). One settle for
    /// the run loop's peek and pop.
    pub fn pop_due(&mut self, limit: SimTime) -> Result<(SimTime, u64, E), Option<SimTime>> {
        if !self.settle() {
            return Err(None);
        }
        match self.now.front() {
            Some(e) if e.time > limit.0 => Err(Some(SimTime(e.time))),
            _ => self.take_front().ok_or(None),
        }
    }

    fn take_front(&mut self) -> Option<(SimTime, u64, E)> {
        let e = self.now.pop_front()?;
        self.len -= 1;
        self.popped = Some((e.time, e.seq));
        let event = self.slab[e.slot as usize].take()?;
        self.free.push(e.slot);
        Some((SimTime(e.time), e.seq, event))
    }

    pub fn peek_time(&mut self) -> Option<SimTime> {
        if !self.settle() {
            return None;
        }
        self.now.front().map(|e| SimTime(e.time))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a sorted-list model: any interleaving of pushes (never before the last
        /// pop) and pops yields exactly (time, seq) order.
        #[test]
        fn pops_in_time_then_sequence_order(
            ops in proptest::collection::vec((any::<bool>(), 0u64..50, 0u8..20), 1..400),
        ) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, u64)> = Vec::new();
            let mut now = 0u64;
            for (push, dt, jump) in ops {
                if push || model.is_empty() {
                    // Mostly small steps; sometimes a jump into the high bits of the time,
                    // up to the far end (a drifting clock may ask for SimTime::MAX).
                    let t = match jump {
                        0 => (u64::MAX - dt).max(now),
                        1 => now.saturating_add(1 << (32 + dt % 31)),
                        _ => now.saturating_add(dt),
                    };
                    let seq = q.reserve_seq();
                    q.push_with_seq(SimTime(t), seq, (t, seq));
                    model.push((t, seq));
                    model.sort();
                } else {
                    let want = model.remove(0);
                    let (t, seq, payload) = q.pop().unwrap();
                    prop_assert_eq!((t.0, seq), want);
                    // The event that comes out is the one pushed with that key (slab slots
                    // are reused).
                    prop_assert_eq!(payload, want);
                    now = t.0;
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.peek_time().map(|t| t.0), model.first().map(|m| m.0));
            }
        }
    }

    proptest! {
        /// Deferred pushes, as the engine's timers make them: a sequence number reserved
        /// earlier is pushed later, strictly after the current time, and must sort by it
        /// among the events already there.
        #[test]
        fn reserved_sequence_numbers_sort_where_they_were_reserved(
            ops in proptest::collection::vec((0u8..4, 0u64..20), 1..400),
        ) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, u64)> = Vec::new();
            let mut reserved: Vec<u64> = Vec::new();
            let mut now = 0u64;
            for (op, dt) in ops {
                match op {
                    0 => {
                        let t = now + dt;
                        let seq = q.push(SimTime(t), (t, 0));
                        model.push((t, seq));
                    }
                    1 if !model.is_empty() => {
                        model.sort();
                        let want = model.remove(0);
                        let (t, seq, _) = q.pop().unwrap();
                        prop_assert_eq!((t.0, seq), want);
                        now = t.0;
                    }
                    2 => reserved.push(q.reserve_seq()),
                    _ if !reserved.is_empty() => {
                        let seq = reserved.remove(0);
                        let t = now + 1 + dt;
                        q.push_with_seq(SimTime(t), seq, (t, seq));
                        model.push((t, seq));
                    }
                    _ => {}
                }
                prop_assert_eq!(q.len(), model.len());
            }
            model.sort();
            for want in model {
                let (t, seq, _) = q.pop().unwrap();
                prop_assert_eq!((t.0, seq), want);
            }
            prop_assert!(q.pop().is_none());
        }
    }

    #[test]
    fn pop_due_takes_only_what_is_due_by_the_limit() {
        let mut q = EventQueue::new();
        assert!(matches!(q.pop_due(SimTime(100)), Err(None)));
        q.push(SimTime(50), "b");
        q.push(SimTime(10), "a");
        q.push(SimTime(200), "c");
        assert_eq!(q.pop_due(SimTime(100)).ok().map(|x| (x.0, x.2)), Some((SimTime(10), "a")));
        assert_eq!(q.pop_due(SimTime(50)).ok().map(|x| (x.0, x.2)), Some((SimTime(50), "b")));
        assert!(matches!(q.pop_due(SimTime(100)), Err(Some(SimTime(200)))));
        // Left in place: still pending, and popped once the limit allows it.
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(SimTime::MAX).ok().map(|x| x.2), Some("c"));
        assert!(matches!(q.pop_due(SimTime::MAX), Err(None)));
    }

    #[test]
    fn an_emptied_bucket_gives_back_large_storage() {
        // Rounds of 50,000 events spread over 2²⁰ µs fill the upper buckets with tens of
        // thousands of entries each. Once every event is popped, no bucket may still hold
        // more room than a settle keeps: storage handed from bucket to bucket used to stay
        // at the largest size that ever passed through it (ten times the room of the
        // waiting events at N = 300).
        let mut q = EventQueue::new();
        let mut popped = 0;
        for round in 0..3u64 {
            let base = round << 24;
            for k in 0..50_000u64 {
                q.push(SimTime(base + 1 + (k * 7919) % (1 << 20)), k);
            }
            while q.pop().is_some() {
                popped += 1;
            }
        }
        assert_eq!(popped, 150_000);
        let largest = q.buckets.iter().chain([&q.scratch]).map(Vec::capacity).max().unwrap_or(0);
        assert!(largest <= SCRATCH_KEEP, "a drained queue still holds room for {largest} entries in one bucket");
    }

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = EventQueue::new();
        // Interleave pushes at two instants; within each instant the order must be the
        // insertion order regardless of how the heap rearranges itself.
        for i in 0..100u32 {
            let t = if i % 2 == 0 { 10 } else { 5 };
            q.push(SimTime(t), i);
        }
        let mut out = Vec::new();
        while let Some((t, _, e)) = q.pop() {
            out.push((t.0, e));
        }
        let odd: Vec<u32> = (0..100).filter(|i| i % 2 == 1).collect();
        let even: Vec<u32> = (0..100).filter(|i| i % 2 == 0).collect();
        let expect: Vec<(u64, u32)> = odd.iter().map(|&i| (5, i)).chain(even.iter().map(|&i| (10, i))).collect();
        assert_eq!(out, expect);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "pushed into the past")]
    fn a_push_into_the_past_is_caught() {
        let mut q = EventQueue::new();
        q.push(SimTime(10), ());
        q.pop();
        q.push(SimTime(9), ());
    }

    #[test]
    fn a_reserved_sequence_number_keeps_its_place_among_equal_times() {
        let mut q = EventQueue::new();
        let early = q.reserve_seq();
        q.push(SimTime(5), "pushed first, scheduled second");
        q.push_with_seq(SimTime(5), early, "pushed second, scheduled first");
        assert_eq!(q.pop().map(|x| x.2), Some("pushed second, scheduled first"));
        assert_eq!(q.pop().map(|x| x.2), Some("pushed first, scheduled second"));
    }

    #[test]
    fn earlier_time_wins_over_earlier_insertion() {
        let mut q = EventQueue::new();
        q.push(SimTime(7), "late");
        q.push(SimTime(3), "early");
        assert_eq!(q.peek_time(), Some(SimTime(3)));
        assert_eq!(q.pop().map(|x| x.2), Some("early"));
        assert_eq!(q.pop().map(|x| x.2), Some("late"));
        assert!(q.pop().is_none());
    }
}
