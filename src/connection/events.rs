//! A bounded, inline queue of events: no allocation, and a peer cannot make
//! it grow (a listener bounced between LISTEN and SYN-RECEIVED for ever
//! still holds at most [`CAPACITY`] events). Each event is stored as a
//! one-octet code (there are 130 distinct events), so the queue costs 32
//! octets of slots instead of the 64 that `[Event; 32]` takes.

use crate::event::{CloseReason, Event};
use crate::state::State;

/// Events held before the oldest are dropped (and counted).
pub(crate) const CAPACITY: usize = 32;
const _: () = assert!(CAPACITY < 128, "head + len must fit a u8");

/// Codes `0..121` are `StateChanged { from, to }` as `from * 11 + to`
/// (in [`State::ALL`] order); then the five plain events, then `Closed`
/// with its reason in [`REASONS`] order.
const STATES: u8 = State::ALL.len() as u8;
const CONNECTED: u8 = STATES * STATES;
const READABLE: u8 = CONNECTED + 1;
const WRITABLE: u8 = CONNECTED + 2;
const PEER_FINISHED: u8 = CONNECTED + 3;
const CLOSED: u8 = CONNECTED + 4;
/// Every close reason, in the order of their codes (also the flags word's).
pub(super) const REASONS: [CloseReason; 5] = [
    CloseReason::Normal,
    CloseReason::Reset,
    CloseReason::Refused,
    CloseReason::TimedOut,
    CloseReason::Aborted,
];
const _: () = assert!(CLOSED as usize + REASONS.len() <= 256, "codes fit a u8");

#[inline]
fn state_index(s: State) -> u8 {
    // `State` is a field-less enum declared in `State::ALL` order.
    s as u8
}

#[inline]
fn encode(e: Event) -> u8 {
    match e {
        Event::StateChanged { from, to } => state_index(from) * STATES + state_index(to),
        Event::Connected => CONNECTED,
        Event::Readable => READABLE,
        Event::Writable => WRITABLE,
        Event::PeerFinished => PEER_FINISHED,
        Event::Closed(r) => CLOSED + r as u8,
    }
}

/// Code → event, built at compile time: decoding is one load (the codes
/// no event has hold `None`).
static DECODE: [Option<Event>; 256] = decode_table();

const fn decode_table() -> [Option<Event>; 256] {
    let mut t = [None; 256];
    let n = State::ALL.len();
    let mut from = 0;
    while from < n {
        let mut to = 0;
        while to < n {
            t[from * n + to] = Some(Event::StateChanged {
                from: State::ALL[from],
                to: State::ALL[to],
            });
            to += 1;
        }
        from += 1;
    }
    t[CONNECTED as usize] = Some(Event::Connected);
    t[READABLE as usize] = Some(Event::Readable);
    t[WRITABLE as usize] = Some(Event::Writable);
    t[PEER_FINISHED as usize] = Some(Event::PeerFinished);
    let mut r = 0;
    while r < REASONS.len() {
        t[CLOSED as usize + r] = Some(Event::Closed(REASONS[r]));
        r += 1;
    }
    t
}

#[inline]
fn decode(c: u8) -> Option<Event> {
    DECODE[usize::from(c)]
}

#[derive(Clone, Debug)]
pub(crate) struct EventQueue {
    /// Event codes (see [`encode`]).
    buf: [u8; CAPACITY],
    head: u8,
    len: u8,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            buf: [0; CAPACITY],
            head: 0,
            len: 0,
        }
    }
}

impl EventQueue {
    /// Appends `e`; when full, the oldest event makes room. Says whether
    /// one was dropped (the connection counts them, in its cold state:
    /// a queue the application polls never drops one).
    #[must_use = "a dropped event is counted (`Connection::push_event`)"]
    pub(crate) fn push_back(&mut self, e: Event) -> bool {
        let full = usize::from(self.len) == CAPACITY;
        if full {
            self.head = (self.head + 1) % CAPACITY as u8;
            self.len -= 1;
        }
        let i = usize::from(self.head + self.len) % CAPACITY;
        self.buf[i] = encode(e);
        self.len += 1;
        full
    }

    pub(crate) fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        // `% CAPACITY` keeps the index in bounds without a check.
        let e = decode(self.buf[usize::from(self.head) % CAPACITY]);
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
    fn every_event_survives_its_one_octet_code() {
        let mut all = alloc::vec![
            Event::Connected,
            Event::Readable,
            Event::Writable,
            Event::PeerFinished,
        ];
        all.extend(REASONS.iter().map(|&r| Event::Closed(r)));
        for from in State::ALL {
            for to in State::ALL {
                all.push(Event::StateChanged { from, to });
            }
        }
        let mut codes = alloc::collections::BTreeSet::new();
        for e in all {
            let c = encode(e);
            assert!(codes.insert(c), "{e:?} shares code {c}");
            assert_eq!(decode(c), Some(e));
        }
        assert_eq!(codes.len(), 130);
        for (i, s) in State::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(state_index(s)), i);
        }
        for (i, r) in REASONS.into_iter().enumerate() {
            assert_eq!(r as usize, i);
        }
    }

    #[test]
    fn events_come_out_in_the_order_they_went_in() {
        let mut q = EventQueue::default();
        let seq = [
            Event::StateChanged {
                from: State::SynSent,
                to: State::Established,
            },
            Event::Connected,
            Event::Readable,
            Event::PeerFinished,
            Event::Closed(CloseReason::Reset),
        ];
        for round in 0..20 {
            for e in seq {
                assert!(!q.push_back(e));
            }
            for e in seq {
                assert_eq!(q.pop_front(), Some(e), "round {round}");
            }
            assert!(q.is_empty());
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_says_so() {
        let mut q = EventQueue::default();
        for _ in 0..CAPACITY {
            assert!(!q.push_back(Event::Readable));
        }
        assert!(q.push_back(Event::Writable), "the oldest is dropped");
        let all: alloc::vec::Vec<_> = core::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all.last(), Some(&Event::Writable));
        assert_eq!(q.pop_front(), None);
    }
}
