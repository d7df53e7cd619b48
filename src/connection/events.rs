//! A bounded, inline queue of events: no allocation, and a peer cannot make
//! it grow (a listener bounced between LISTEN and SYN-RECEIVED for ever
//! still holds at most [`CAPACITY`] events).

use super::counters::Count;
use crate::event::Event;

/// Events held before the oldest are dropped (and counted).
pub(crate) const CAPACITY: usize = 32;
const _: () = assert!(CAPACITY < 128, "head + len must fit a u8");

#[derive(Clone, Debug)]
pub(crate) struct EventQueue {
    buf: [Event; CAPACITY],
    head: u8,
    len: u8,
    /// Events dropped because the application did not poll.
    pub(crate) dropped: Count,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            buf: [Event::Connected; CAPACITY],
            head: 0,
            len: 0,
            dropped: Count::default(),
        }
    }
}

impl EventQueue {
    /// Appends `e`; when full, the oldest event makes room.
    pub(crate) fn push_back(&mut self, e: Event) {
        if usize::from(self.len) == CAPACITY {
            self.head = (self.head + 1) % CAPACITY as u8;
            self.len -= 1;
            self.dropped += 1;
        }
        let i = usize::from(self.head + self.len) % CAPACITY;
        if let Some(slot) = self.buf.get_mut(i) {
            *slot = e;
            self.len += 1;
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.buf.get(usize::from(self.head)).copied();
        self.head = (self.head + 1) % CAPACITY as u8;
        self.len -= 1;
        e
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let mut q = EventQueue::default();
        for _ in 0..CAPACITY {
            q.push_back(Event::Readable);
        }
        q.push_back(Event::Writable);
        assert_eq!(q.dropped.get(), 1);
        let all: alloc::vec::Vec<_> = core::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all.last(), Some(&Event::Writable));
        assert_eq!(q.pop_front(), None);
    }
}
