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

/// Pending events, popped in (time, sequence) order.
///
/// A radix heap over the time: event times never go backwards (nothing is scheduled before
/// `now`), so each pending event sits in the bucket of the highest bit in which its time
/// differs from `last`, the smallest pending time seen by the last settle. Popping empties
/// the lowest non-empty bucket into lower ones — each event moves at most 64 times over
/// its life, and usually once or twice. With N = 100 the queue holds ~10⁴ deliveries, where
/// a binary heap spent a third of the run sifting.
///
/// Bucket 0 holds the events *at* time `last`, kept sorted by sequence number: that is the
/// only place the sequence decides anything, so it never takes part in the bucketing
/// (keying on (time, seq) made events at nearby times climb down through up to 64 extra
/// buckets). A bit mask of the non-empty buckets finds the lowest one in one instruction,
/// and the emptied bucket's storage is kept for the next settle, so a settled run does not
/// allocate. Events live in a slab; the buckets hold 24-byte entries.
pub struct EventQueue<E> {
    last: u64,
    /// Events at time `last`, in increasing sequence order.
    now: VecDeque<Entry>,
    /// `buckets[b - 1]` holds events whose time first differs from `last` in bit `b - 1`.
    buckets: Vec<Vec<Entry>>,
    /// Bit `b - 1` set iff `buckets[b - 1]` is non-empty.
    occupied: u64,
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
        if time.0 < self.last {
            // Only after a peek that looked past this time: re-base the buckets on the new,
            // smaller time (rare; the engine pops right after it peeks).
            self.rebase(time.0);
        }
        self.place(Entry { time: time.0, seq, slot });
        self.len += 1;
    }

    /// Files `e` (whose time is at least `last`) in its bucket.
    fn place(&mut self, e: Entry) {
        let x = e.time ^ self.last;
        if x == 0 {
            // Usually the newest sequence number, so it goes last; a deferred push with a
            // reserved (older) number is sorted in.
            if self.now.back().is_none_or(|b| b.seq < e.seq) {
                self.now.push_back(e);
            } else {
                let at = self.now.partition_point(|p| p.seq < e.seq);
                self.now.insert(at, e);
            }
        } else {
            let b = 63 - x.leading_zeros() as usize;
            self.buckets[b].push(e);
            self.occupied |= 1 << b;
        }
    }

    /// Re-buckets every pending event relative to `last`, which must not exceed any of
    /// their times.
    fn rebase(&mut self, last: u64) {
        self.last = last;
        let mut all: Vec<Entry> = self.now.drain(..).collect();
        for b in self.buckets.iter_mut() {
            all.append(b);
        }
        self.occupied = 0;
        // Sorted by sequence, events at the new `last` reach bucket 0 in order.
        all.sort_unstable_by_key(|e| e.seq);
        for e in all {
            self.place(e);
        }
    }

    /// Makes bucket 0 hold the events at the smallest pending time.
    fn settle(&mut self) -> bool {
        if !self.now.is_empty() {
            return true;
        }
        if self.occupied == 0 {
            return false;
        }
        let i = self.occupied.trailing_zeros() as usize;
        self.occupied &= !(1 << i);
        std::mem::swap(&mut self.scratch, &mut self.buckets[i]);
        let mut items = std::mem::take(&mut self.scratch);
        self.last = items.iter().map(|e| e.time).min().unwrap_or(self.last);
        for e in items.drain(..) {
            let x = e.time ^ self.last;
            if x == 0 {
                self.now.push_back(e);
            } else {
                let b = 63 - x.leading_zeros() as usize;
                self.buckets[b].push(e);
                self.occupied |= 1 << b;
            }
        }
        self.scratch = items;
        if self.now.len() > 1 {
            self.now.make_contiguous().sort_unstable_by_key(|e| e.seq);
        }
        true
    }

    /// Removes and returns the earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(SimTime, u64, E)> {
        if !self.settle() {
            return None;
        }
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
