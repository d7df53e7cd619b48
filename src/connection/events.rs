//! A bounded, inline queue of events: no allocation, and a peer cannot make
//! it grow (a listener bounced between LISTEN and SYN-RECEIVED for ever
//! still holds at most [`CAPACITY`] events). Each event is stored as a
//! one-octet code (there are 139 distinct events), so the queue costs 32
//! octets of slots instead of the 64 that `[Event; 32]` takes.

use crate::event::{CloseReason, Event};
use crate::icmp::IcmpCause;
use crate::state::State;

/// Events held before the oldest are dropped (and counted).
pub(crate) const CAPACITY: usize = 32;
const _: () = assert!(
    CAPACITY < 128 && 256 % CAPACITY == 0,
    "head + len wraps with the slots"
);

/// Codes `0..121` are `StateChanged { from, to }` as `from * 11 + to`
/// (in [`State::ALL`] order); then the four plain events, then `Closed`
/// with its reason in [`REASONS`] order, then `Icmp` in [`CAUSES`] order,
/// then `DeliveryProblem`.
const STATES: u8 = State::ALL.len() as u8;
const CONNECTED: u8 = STATES * STATES;
const READABLE: u8 = CONNECTED + 1;
const WRITABLE: u8 = CONNECTED + 2;
const PEER_FINISHED: u8 = CONNECTED + 3;
const CLOSED: u8 = CONNECTED + 4;
/// Every close reason, in the order of their codes (also the flags word's).
pub(super) const REASONS: [CloseReason; 6] = [
    CloseReason::Normal,
    CloseReason::Reset,
    CloseReason::Refused,
    CloseReason::TimedOut,
    CloseReason::Aborted,
    CloseReason::Unreachable,
];
/// `Icmp` with its cause in [`CAUSES`] order, after the `Closed` codes.
const ICMP: u8 = CLOSED + REASONS.len() as u8;
const CAUSES: [IcmpCause; 7] = [
    IcmpCause::NetUnreachable,
    IcmpCause::HostUnreachable,
    IcmpCause::Prohibited,
    IcmpCause::ProtocolUnreachable,
    IcmpCause::PortUnreachable,
    IcmpCause::TimeExceeded,
    IcmpCause::ParameterProblem,
];
/// `DeliveryProblem`, the last code.
const DELIVERY_PROBLEM: u8 = ICMP + CAUSES.len() as u8;
const _: () = assert!(DELIVERY_PROBLEM < 255, "codes fit a u8");

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
        Event::Icmp(c) => ICMP + c as u8,
        Event::DeliveryProblem => DELIVERY_PROBLEM,
    }
}

/// Code → the states of a `StateChanged`, built at compile time. An event
/// is rebuilt from its code rather than read whole from a table of events:
/// the states are loaded as states (whose range the compiler knows) and
/// every other event is a constant, so that `poll_event().is_some()` (an
/// application draining events it does not look at) reads nothing.
static FROM: [State; CONNECTED as usize] = state_table(true);
static TO: [State; CONNECTED as usize] = state_table(false);

const fn state_table(from: bool) -> [State; CONNECTED as usize] {
    let mut t = [State::Closed; CONNECTED as usize];
    let n = State::ALL.len();
    let mut i = 0;
    while i < n * n {
        t[i] = State::ALL[if from { i / n } else { i % n }];
        i += 1;
    }
    t
}

/// The event of `c`, a code [`encode`] made (the codes no event has are
/// never stored: only `encode` writes the queue).
#[inline(always)]
fn decode(c: u8) -> Event {
    let i = usize::from(c);
    if i < FROM.len() {
        return Event::StateChanged {
            from: FROM[i],
            to: TO[i],
        };
    }
    match c {
        CONNECTED => Event::Connected,
        READABLE => Event::Readable,
        WRITABLE => Event::Writable,
        PEER_FINISHED => Event::PeerFinished,
        DELIVERY_PROBLEM => Event::DeliveryProblem,
        _ if c >= ICMP => Event::Icmp(CAUSES[usize::from(c - ICMP) % CAUSES.len()]),
        _ => Event::Closed(REASONS[usize::from(c.wrapping_sub(CLOSED)) % REASONS.len()]),
    }
}

#[derive(Clone, Debug)]
pub(crate) struct EventQueue {
    /// Event codes (see [`encode`]).
    buf: [u8; CAPACITY],
    /// The oldest event's slot, counted without wrapping at the capacity
    /// (the slot is `head % CAPACITY`; 256 is a multiple of it): taking
    /// `n` events moves it by `n`, which a loop that drains the queue
    /// comes down to.
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
    #[inline]
    #[must_use = "a dropped event is counted (`Connection::push_event`)"]
    pub(crate) fn push_back(&mut self, e: Event) -> bool {
        let full = usize::from(self.len) == CAPACITY;
        if full {
            self.head = self.head.wrapping_add(1);
            self.len -= 1;
        }
        let i = usize::from(self.head.wrapping_add(self.len)) % CAPACITY;
        self.buf[i] = encode(e);
        self.len += 1;
        full
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        // `% CAPACITY` keeps the index in bounds without a check.
        let e = decode(self.buf[usize::from(self.head) % CAPACITY]);
        self.head = self.head.wrapping_add(1);
        self.len -= 1;
        Some(e)
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
        all.extend(CAUSES.iter().map(|&c| Event::Icmp(c)));
        all.push(Event::DeliveryProblem);
        for from in State::ALL {
            for to in State::ALL {
                all.push(Event::StateChanged { from, to });
            }
        }
        let mut codes = alloc::collections::BTreeSet::new();
        for e in all {
            let c = encode(e);
            assert!(codes.insert(c), "{e:?} shares code {c}");
            assert_eq!(decode(c), e);
        }
        assert_eq!(codes.len(), 139);
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
        // Past 256 events: the head counter wraps with the slots.
        for round in 0..120 {
            for e in seq {
                assert!(!q.push_back(e));
            }
            for e in seq {
                assert_eq!(q.pop_front(), Some(e), "round {round}");
            }
            assert!(q.is_empty());
        }
    }

    /// Against a plain bounded deque, over thousands of pushes and pops
    /// (the head counter wraps many times, full and part full).
    #[test]
    fn the_queue_is_a_bounded_deque() {
        let mut q = EventQueue::default();
        let mut model = alloc::collections::VecDeque::new();
        let n = State::ALL.len();
        let mut x: u32 = 12345;
        for i in 0..20_000usize {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            // Bursts of pushes, then of pops, of varying lengths.
            if (x >> 16) % 5 < 3 || (i / 97) % 3 == 0 {
                let e = Event::StateChanged {
                    from: State::ALL[i % n],
                    to: State::ALL[(i / n) % n],
                };
                let dropped = model.len() == CAPACITY;
                if dropped {
                    model.pop_front();
                }
                model.push_back(e);
                assert_eq!(q.push_back(e), dropped, "push {i}");
            } else {
                assert_eq!(q.pop_front(), model.pop_front(), "pop {i}");
            }
            assert_eq!(q.is_empty(), model.is_empty());
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
