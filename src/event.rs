//! What a connection tells its application, and the errors of its calls.

use crate::icmp::IcmpCause;
use crate::state::State;

/// Why a connection reached CLOSED.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CloseReason {
    /// Both sides closed with FINs (MUST-12: a graceful close).
    Normal,
    /// The peer reset the connection.
    Reset,
    /// The peer refused the connection (RST in answer to our SYN).
    Refused,
    /// Retransmissions, keep-alives or the user timeout gave up.
    TimedOut,
    /// The application aborted (or data arrived after it closed, which
    /// draws a RST).
    Aborted,
    /// An ICMP error other than Port or Protocol Unreachable (those are
    /// [`CloseReason::Refused`]) ended the handshake: the peer cannot be
    /// reached (RFC 5461; see [`Connection::handle_icmp`](crate::Connection::handle_icmp)).
    Unreachable,
}

/// Something the application should know. Pull them with
/// [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Event {
    /// A state transition, `from → to`.
    StateChanged {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
    },
    /// The handshake completed.
    Connected,
    /// Received data can be read. Edge-triggered: raised when data
    /// arrives and no `Readable` is outstanding since the application last
    /// read; data already held raises nothing more. An application that
    /// stops reading before `WouldBlock` (its own backlog is full, say)
    /// must come back to read by itself, or wait forever on a peer that
    /// waits on our window.
    Readable,
    /// Room has opened in the send buffer. Edge-triggered, and only after
    /// a write found no room (or less than it asked for).
    Writable,
    /// The peer sent FIN and every byte before it has arrived (EOF).
    PeerFinished,
    /// The connection reached CLOSED.
    Closed(CloseReason),
    /// Data (or our SYN) has now been retransmitted `Config::retries1`
    /// times without being acknowledged (R1, RFC 9293 §3.8.3: MUST-20's
    /// "negative advice" to IP, SHLD-9's report to the application). The
    /// connection keeps trying until R2; a driver may look for another
    /// route meanwhile. Once per episode: progress starts the count again.
    DeliveryProblem,
    /// An ICMP error about our segments arrived and the connection goes
    /// on (RFC 9293 §3.9.2.2 SHLD-25: soft errors are made visible; hard
    /// ones after the handshake too, RFC 5927 §5.2).
    Icmp(IcmpCause),
}

/// Errors of application calls. Peer input never produces one: bad
/// segments are counted drops.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum Error {
    /// Nothing to read yet, or no room to queue data now.
    #[error("operation would block")]
    WouldBlock,
    /// The call is not valid in this state (e.g. send after shutdown).
    #[error("{call} is not allowed in state {state}")]
    InvalidState {
        /// The call made.
        call: &'static str,
        /// The state it was made in.
        state: State,
    },
    /// The connection was closed (for the given reason).
    #[error("connection closed: {0:?}")]
    Closed(CloseReason),
}
