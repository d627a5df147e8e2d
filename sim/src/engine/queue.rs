//! The event queue: a min-heap ordered by (time, insertion sequence).
//!
//! The sequence number is what makes the order total and reproducible: two events at the
//! same virtual instant come out in the order they were scheduled, never in an order that
//! depends on heap internals, hashing or memory addresses. `std::collections::BinaryHeap`
//! is not stable on its own; the sequence tie-breaker makes it so.
//!
//! Deliberately left out: cancellation. Timers are cancelled lazily by the run loop (a fired
//! timer whose generation is stale is skipped), which keeps the queue a plain heap.

use super::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// Pending events, popped in (time, sequence) order.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(1024), next_seq: 0 }
    }

    /// Schedules `event` at `time`; returns its sequence number.
    pub fn push(&mut self, time: SimTime, event: E) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, event });
        seq
    }

    /// Removes and returns the earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(SimTime, u64, E)> {
        self.heap.pop().map(|e| (e.time, e.seq, e.event))
    }

    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
