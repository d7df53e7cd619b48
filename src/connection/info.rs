//! A `tcp_info`-like snapshot (Linux `getsockopt(TCP_INFO)`), with Linux's
//! field meanings for what this crate models.

use super::Connection;
use crate::state::State;
use crate::time::Instant;

/// A snapshot of one connection in the shape of Linux's `struct tcp_info`.
/// Fields keep Linux's names (without the `tcpi_` prefix), units and
/// meanings; fields Linux has and this crate does not model (pacing,
/// delivery rate, SACK scoreboard counts until SACK exists, ...) are absent
/// rather than zero, except `sacked` and `lost`, documented below.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpInfo {
    /// State in Linux's numbering: 1 ESTABLISHED, 2 SYN_SENT, 3 SYN_RECV,
    /// 4 FIN_WAIT1, 5 FIN_WAIT2, 6 TIME_WAIT, 7 CLOSE, 8 CLOSE_WAIT,
    /// 9 LAST_ACK, 10 LISTEN, 11 CLOSING.
    pub state: u8,
    /// Congestion-avoidance state: 0 Open, 1 Disorder (duplicate ACKs seen),
    /// 2 CWR (reducing after an ECN echo), 3 Recovery (fast recovery), 4 Loss
    /// (after an RTO, until the data outstanding at the RTO is acknowledged).
    pub ca_state: u8,
    /// Consecutive retransmission timeouts of the current segment (Linux
    /// `icsk_retransmits`); cleared when new data is acknowledged.
    pub retransmits: u8,
    /// Unanswered zero-window or keep-alive probes (Linux `icsk_probes_out`).
    pub probes: u8,
    /// RTO doublings in force (Linux `icsk_backoff`).
    pub backoff: u8,
    /// Negotiated options: 1 timestamps, 2 SACK, 4 window scaling, 8 ECN.
    pub options: u8,
    /// The peer's window-scale shift (what we apply to its windows).
    pub snd_wscale: u8,
    /// Our window-scale shift.
    pub rcv_wscale: u8,
    /// Retransmission timeout in force, µs (with backoff).
    pub rto: u32,
    /// Delayed-ACK timeout, µs (0 when ACKs are never delayed).
    pub ato: u32,
    /// Send MSS: payload octets per segment, option space deducted.
    pub snd_mss: u32,
    /// Estimate of the peer's MSS from the largest segment received.
    pub rcv_mss: u32,
    /// Segments in flight (Linux `packets_out`), counted in send-MSS units.
    pub unacked: u32,
    /// Segments the peer SACKed (in send-MSS units, a partial one counted whole).
    pub sacked: u32,
    /// Segments presumed lost: those outstanding at an RTO not yet resent;
    /// with SACK, the un-SACKed ones deemed lost (RFC 6675 IsLost, RACK),
    /// resent or not.
    pub lost: u32,
    /// Retransmitted segments still in flight (after an RTO or fast retransmit).
    pub retrans: u32,
    /// Milliseconds since data was last sent, new or retransmitted (Linux's
    /// `lsndtime`).
    pub last_data_sent: u32,
    /// Milliseconds since data was last received.
    pub last_data_recv: u32,
    /// Milliseconds since a segment was last received (Linux `last_ack_recv`
    /// is the last ACK; every synchronized segment carries one).
    pub last_ack_recv: u32,
    /// Path MTU assumed: send MSS plus 40 octets of IPv4 and TCP headers
    /// plus the options deducted from it.
    pub pmtu: u32,
    /// Receive window we may advertise (Linux `rcv_ssthresh`), octets.
    pub rcv_ssthresh: u32,
    /// Smoothed RTT, µs (0 before the first sample).
    pub rtt: u32,
    /// RTT variance, µs.
    pub rttvar: u32,
    /// Slow-start threshold in segments; Linux's 0x7fffffff while infinite.
    pub snd_ssthresh: u32,
    /// Congestion window in segments; during a SACK recovery, what is in
    /// flight (RFC 6675 pipe) plus what PRR lets go now, as Linux reports it.
    pub snd_cwnd: u32,
    /// MSS we advertise.
    pub advmss: u32,
    /// How far out of order the peer's ACKs have shown segments to arrive,
    /// in segments, at least the duplicate-ACK threshold 3 (Linux `reordering`).
    pub reordering: u32,
    /// Free receive buffer, octets (Linux `rcv_space` is an estimate of it).
    pub rcv_space: u32,
    /// Retransmitted segments over the connection's life.
    pub total_retrans: u32,
    /// Octets acknowledged by the peer (SYN and FIN not counted).
    pub bytes_acked: u64,
    /// Octets received in order.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u32,
    /// Segments received.
    pub segs_in: u32,
    /// Octets queued and never sent.
    pub notsent_bytes: u32,
    /// Retransmission-timer expiries over the connection's life (Linux 6.8
    /// `total_rto`).
    pub total_rto: u32,
}

impl TcpInfo {
    /// The fields as `(name, value)` pairs, names as in Linux without the
    /// `tcpi_` prefix (for scripts that read them by name).
    pub fn fields(&self) -> [(&'static str, i64); 38] {
        [
            ("state", self.state.into()),
            ("ca_state", self.ca_state.into()),
            ("retransmits", self.retransmits.into()),
            ("probes", self.probes.into()),
            ("backoff", self.backoff.into()),
            ("options", self.options.into()),
            ("snd_wscale", self.snd_wscale.into()),
            ("rcv_wscale", self.rcv_wscale.into()),
            ("rto", self.rto.into()),
            ("ato", self.ato.into()),
            ("snd_mss", self.snd_mss.into()),
            ("rcv_mss", self.rcv_mss.into()),
            ("unacked", self.unacked.into()),
            ("sacked", self.sacked.into()),
            ("lost", self.lost.into()),
            ("retrans", self.retrans.into()),
            ("fackets", 0),
            ("last_data_sent", self.last_data_sent.into()),
            ("last_ack_sent", 0),
            ("last_data_recv", self.last_data_recv.into()),
            ("last_ack_recv", self.last_ack_recv.into()),
            ("pmtu", self.pmtu.into()),
            ("rcv_ssthresh", self.rcv_ssthresh.into()),
            ("rtt", self.rtt.into()),
            ("rttvar", self.rttvar.into()),
            ("snd_ssthresh", self.snd_ssthresh.into()),
            ("snd_cwnd", self.snd_cwnd.into()),
            ("advmss", self.advmss.into()),
            ("reordering", self.reordering.into()),
            ("rcv_space", self.rcv_space.into()),
            ("total_retrans", self.total_retrans.into()),
            ("bytes_acked", self.bytes_acked as i64),
            ("bytes_received", self.bytes_received as i64),
            ("segs_out", self.segs_out.into()),
            ("segs_in", self.segs_in.into()),
            ("notsent_bytes", self.notsent_bytes.into()),
            ("total_rto", self.total_rto.into()),
            ("unacked_bytes", 0),
        ]
    }
}

/// Linux's state numbering (`include/net/tcp_states.h`).
fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

fn clamp32(x: impl Into<u64>) -> u32 {
    let x: u64 = x.into();
    x.min(u64::from(u32::MAX)) as u32
}

impl Connection {
    /// A `tcp_info`-like snapshot at `now` (see [`TcpInfo`] for what each
    /// field means and what is modeled).
    pub fn tcp_info(&self, now: Instant) -> TcpInfo {
        let cc = self.cc.get();
        let mss = self.snd_mss.max(1);
        let ms_since = |t: Instant| clamp32((now - t).as_millis() as u64);
        let in_flight = self.snd_nxt.dist(self.snd_una);
        let ca_state = if self.rtx_next().is_some() {
            4
        } else if self.flags.in_recovery() {
            3
        } else if self.ecn.in_cwr() {
            2
        } else if self.cold.dupacks > 0 {
            1
        } else {
            0
        };
        let mut options = 0;
        if self.flags.ts_enabled() {
            options |= 1;
        }
        if self.flags.sack_enabled() {
            options |= 2;
        }
        if self.snd_wscale > 0 || self.rcv_wscale > 0 {
            options |= 4;
        }
        let ssthresh = cc.ssthresh();
        let opt_len = if self.flags.ts_enabled() { 12 } else { 0 };
        let sb = &self.cold.scoreboard;
        let lost = match self.rtx_next() {
            Some(c) => self.snd_nxt.dist(c).div_ceil(mss),
            // SACK recovery: the un-SACKed octets deemed lost (RFC 6675
            // IsLost or RACK), resent or not, as Linux's `lost_out`.
            None if self.flags.sack_enabled() => sb
                .unsacked_between(self.snd_una, self.lost_end())
                .div_ceil(mss),
            None => 0,
        };
        // Linux sets cwnd to what is in flight plus what PRR lets go on
        // each ACK of a recovery (tcp_cwnd_reduction); the same here,
        // from RFC 6675's pipe and PRR's quota (RFC 9937).
        let cwnd = if self.flags.in_recovery() && self.flags.sack_enabled() {
            self.pipe().saturating_add(self.cold.prr.quota())
        } else {
            cc.cwnd()
        };
        TcpInfo {
            state: linux_state(self.state),
            ca_state,
            retransmits: self.cold.retries.min(255) as u8,
            probes: self
                .cold
                .persist_unanswered
                .max(self.keepalive_sent)
                .min(255) as u8,
            backoff: self.rtt.backoff(),
            options,
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            rto: clamp32(self.rtt.rto(&self.cfg).as_micros() as u64),
            ato: self
                .cfg
                .delayed_ack
                .map_or(0, |d| clamp32(d.as_micros() as u64)),
            snd_mss: self.snd_mss,
            rcv_mss: u32::from(self.rcv_mss),
            unacked: in_flight.div_ceil(mss),
            sacked: sb.sacked_bytes().div_ceil(mss),
            lost,
            retrans: u32::from(self.rtx_next().is_some() || self.flags.in_recovery())
                .min(in_flight.div_ceil(mss)),
            last_data_sent: ms_since(self.last_data_sent),
            last_data_recv: ms_since(self.last_data_recv),
            last_ack_recv: ms_since(self.last_rcv),
            pmtu: self.snd_mss + 40 + opt_len,
            rcv_ssthresh: self.rcv_wnd(),
            rtt: self.rtt.srtt().map_or(0, |d| clamp32(d.as_micros() as u64)),
            rttvar: clamp32(self.rtt.rttvar().as_micros() as u64),
            snd_ssthresh: if ssthresh >= u32::MAX / 2 {
                0x7fff_ffff
            } else {
                ssthresh / mss
            },
            snd_cwnd: cwnd / mss,
            advmss: u32::from(self.cfg.mss),
            reordering: self.cold.reordering.max(crate::recovery::DUP_THRESH),
            rcv_space: self.rcvbuf.window() as u32,
            total_retrans: clamp32(self.cold.rare.retransmits),
            bytes_acked: self
                .bytes_sent()
                .saturating_sub(self.sndbuf.sent_len() as u64),
            bytes_received: self.bytes_received(),
            segs_out: clamp32(self.segments_out()),
            segs_in: clamp32(self.segments_in()),
            notsent_bytes: self.sndbuf.unsent_len() as u32,
            total_rto: clamp32(self.cold.rare.rto_expirations),
        }
    }
}
