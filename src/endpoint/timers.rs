//! One timer structure for the whole endpoint: a binary heap of
//! `(deadline, owner)` with lazy invalidation. Each owner (a connection, a
//! half-open entry, a TIME-WAIT entry) records the deadline it registered;
//! a heap entry whose deadline no longer matches its owner's record is
//! stale and skipped. Registering a later deadline while an earlier one is
//! registered pushes nothing: the earlier entry fires, finds nothing due,
//! and registers the true deadline (one spurious wake instead of a push per
//! segment). Stale entries are purged when they outnumber live ones, so the
//! heap stays within a constant factor of the number of owners.

use super::demux::Slot;
use crate::time::Instant;
use alloc::collections::BinaryHeap;
use core::cmp::Reverse;

/// A heap entry: deadline in microseconds and the packed owner.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Entry(u64, u8, u32);

fn tag(s: Slot) -> (u8, u32) {
    match s {
        Slot::Conn(i) => (0, i),
        Slot::HalfOpen(i) => (1, i),
        Slot::TimeWait(i) => (2, i),
    }
}

fn untag(t: u8, i: u32) -> Slot {
    match t {
        0 => Slot::Conn(i),
        1 => Slot::HalfOpen(i),
        _ => Slot::TimeWait(i),
    }
}

/// The heap.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl TimerHeap {
    /// Adds `(at, owner)`. The owner records `at` as its registered deadline.
    pub(crate) fn push(&mut self, at: Instant, owner: Slot) {
        let (t, i) = tag(owner);
        self.heap.push(Reverse(Entry(at.total_micros(), t, i)));
    }

    /// The earliest entry, live or stale.
    pub(crate) fn peek(&self) -> Option<(Instant, Slot)> {
        self.heap
            .peek()
            .map(|Reverse(Entry(at, t, i))| (Instant::from_micros(*at), untag(*t, *i)))
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<(Instant, Slot)> {
        self.heap
            .pop()
            .map(|Reverse(Entry(at, t, i))| (Instant::from_micros(at), untag(t, i)))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Heap octets held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.heap.capacity() * core::mem::size_of::<Reverse<Entry>>()
    }

    /// Drops every entry `live` rejects (O(n), amortized over the pushes
    /// that made them stale).
    pub(crate) fn purge(&mut self, mut live: impl FnMut(Instant, Slot) -> bool) {
        self.heap
            .retain(|Reverse(Entry(at, t, i))| live(Instant::from_micros(*at), untag(*t, *i)));
    }
}
