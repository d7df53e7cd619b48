//! What a host that owns many connections (the `Endpoint`) asks of one:
//! whether it has output or events, how much it buffers, and the SYN-ACK a
//! listener would send, built by the connection's own LISTEN code.

use super::Connection;
use crate::config::Config;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::wire::Segment;
use alloc::sync::Arc;

impl Connection {
    /// Something may be due from [`poll_transmit`](Self::poll_transmit).
    #[inline]
    pub(crate) fn may_transmit(&self) -> bool {
        if matches!(self.state, State::Closed | State::Listen) {
            // Only queued replies (a RST) leave a closed connection.
            return !self.no_replies();
        }
        !self.nothing_to_send()
    }

    /// The host sent this connection's SYN-ACK at `at` and never
    /// retransmitted it: the ACK completing the handshake times it (Karn,
    /// RFC 6298 §3).
    pub(crate) fn syn_ack_sent_at(&mut self, at: Instant) {
        if self.no_retries() && self.state == State::SynReceived {
            self.set_syn_rtt_probe(Some(at));
        }
    }

    /// Events wait in the queue.
    #[inline]
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Octets received and not yet read.
    #[inline]
    pub(crate) fn unread(&self) -> usize {
        self.rcvbuf.readable()
    }

    /// Our window-scale shift in force.
    #[inline]
    pub(crate) fn rcv_wscale_in_use(&self) -> u8 {
        self.rcv_wscale
    }

    /// Octets held in the send and receive buffers (for a memory budget).
    #[inline]
    pub(crate) fn buffered(&self) -> usize {
        self.sndbuf.len() + self.rcvbuf.held()
    }

    /// The SYN-ACK that a listener with `cfg` answers `syn` with, ISS `iss`:
    /// built by a transient connection through the LISTEN code, so the
    /// half-open entries of an `Endpoint` send exactly what a connection would.
    pub(crate) fn syn_ack_for(
        cfg: Arc<Config>,
        ts_offset: u32,
        syn: &Segment,
        iss: SeqNum,
        now: Instant,
    ) -> Option<Segment> {
        let mut c = Connection::accept(cfg, syn, iss, now).ok()?;
        c.ts_offset = ts_offset;
        c.poll_transmit(now)
    }

    /// Sets the offset added to the timestamp clock (an `Endpoint`'s per
    /// 4-tuple secret, RFC 7323 §7.1), before anything is sent.
    #[inline]
    pub(crate) fn set_ts_offset(&mut self, ts_offset: u32) {
        self.ts_offset = ts_offset;
    }
}
