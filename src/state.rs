//! The eleven states of RFC 9293 §3.3.2 and the table of legal transitions.
//!
//! The table is data: the connection checks every transition against it
//! (debug assertion) and the property tests use the same table.

use core::fmt;

/// A TCP connection state (RFC 9293 §3.3.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum State {
    /// No connection (the fictional state: no TCB).
    Closed,
    /// Waiting for a SYN (passive open).
    Listen,
    /// SYN sent, waiting for a matching SYN (active open).
    SynSent,
    /// SYN received and SYN sent, waiting for the ACK of our SYN.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// We closed and our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; waiting for our application to close.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting 2·MSL so that old duplicates die out.
    TimeWait,
}

impl State {
    /// All eleven states.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ];

    /// The RFC's name for the state, e.g. `SYN-RECEIVED`.
    pub const fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// Whether the state is synchronized (RFC 9293 §3.5.2): ESTABLISHED and
    /// every state after it.
    pub const fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// The states this one may move to, itself excluded (tcp-checklist §2.4).
    pub const fn successors(self) -> &'static [State] {
        use State::*;
        match self {
            Closed => &[Listen, SynSent],
            Listen => &[SynReceived, SynSent, Closed],
            SynSent => &[SynReceived, Established, CloseWait, Closed],
            SynReceived => &[Established, CloseWait, FinWait1, Listen, Closed],
            Established => &[FinWait1, CloseWait, Closed],
            FinWait1 => &[FinWait2, Closing, TimeWait, Closed],
            FinWait2 => &[TimeWait, Closed],
            CloseWait => &[LastAck, Closed],
            Closing => &[TimeWait, Closed],
            LastAck => &[Closed],
            TimeWait => &[Closed, SynReceived],
        }
    }

    /// Whether `self → to` is an edge of the legal-transition table.
    pub fn can_move_to(self, to: State) -> bool {
        self.successors().contains(&to)
    }
}

/// Every legal edge `(from, to)` with `from != to`, as one flat table.
pub fn legal_edges() -> impl Iterator<Item = (State, State)> {
    State::ALL
        .into_iter()
        .flat_map(|from| from.successors().iter().map(move |&to| (from, to)))
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_checklist_edges_and_no_self_loops() {
        assert_eq!(legal_edges().count(), 30);
        assert!(legal_edges().all(|(a, b)| a != b));
        assert!(State::SynSent.can_move_to(State::SynReceived));
        assert!(!State::Established.can_move_to(State::TimeWait));
        assert!(!State::LastAck.can_move_to(State::TimeWait));
        assert!(State::TimeWait.can_move_to(State::Closed));
    }
}
