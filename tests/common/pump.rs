//! Drives one tcp-proto `Connection` against Linux over the TUN of a
//! [`KernelNet`], in real time. The test reads the clock (a monotonic
//! `std::time::Instant` mapped onto `tcp_proto::Instant`); the library never does.
//!
//! Each iteration: fire due timers; write ready outbound packets to the TUN;
//! read the TUN for at most min(poll_timeout, 10 ms); pass inbound packets
//! of our 4-tuple through the impairment into `handle_segment`; let the
//! [`App`] act; drain `poll_transmit` into the outbound impairment; record
//! events. Everything on the wire goes into a pcap. Bounded by a deadline
//! and an iteration cap.

use std::time::Duration;

use tcp_proto::{Config, Connection, Ecn, Flags, Instant, IpPair, Segment, SeqNum, State, pcap};

use super::app::App;
use super::impair::{Impair, Profile};
use super::ip;
use super::netns::KernelNet;

/// A monotonic clock mapped onto `tcp_proto::Instant` (epoch: creation).
pub struct Clock(std::time::Instant);

impl Clock {
    /// Starts the clock.
    pub fn start() -> Clock {
        Clock(std::time::Instant::now())
    }
    /// Now, as the library's `Instant`.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// The pump: one connection, its app, both impairment stages, the trace.
pub struct Pump<'n> {
    /// The namespace + TUN.
    pub net: &'n KernelNet,
    /// The clock.
    pub clock: Clock,
    /// Our connection (`None` until a passive open has seen the SYN).
    pub conn: Option<Connection>,
    /// Our application.
    pub app: App,
    /// Addresses from us to the kernel.
    pub out_pair: IpPair,
    /// Our port.
    pub local_port: u16,
    /// Outbound impairment (us -> kernel).
    pub outbound: Impair<Vec<u8>>,
    /// Inbound impairment (kernel -> us), each segment with the ECN
    /// codepoint of its IP header.
    pub inbound: Impair<(Segment, Ecn)>,
    /// A congestion-marking router: every `n`th ECN-capable data packet
    /// each way (us -> kernel, kernel -> us) is marked CE (RFC 3168 §5).
    pub mark_ce_every: Option<(u64, u64)>,
    /// What each data or ECN-flagged packet carried: (from us, TCP flags,
    /// ECN codepoint as sent before marking, payload length).
    pub ecn_log: Vec<(bool, Flags, Ecn, usize)>,
    ect_seen: (u64, u64),
    /// pcap file contents.
    pub pcap: Vec<u8>,
    /// Packets for our address that matched no connection (answered with RST).
    pub unmatched: Vec<Segment>,
    /// Whether to answer unmatched SYNs with RST (a host with no listener).
    pub refuse_unmatched: bool,
    /// Passive open: the config and ISS to accept the first SYN with.
    pub accept_with: Option<(tcp_proto::Config, tcp_proto::SeqNum)>,
    buf: Vec<u8>,
}

impl<'n> Pump<'n> {
    /// A pump for `conn` (or, with `conn = None`, waiting to accept a SYN).
    pub fn new(
        net: &'n KernelNet,
        out_pair: IpPair,
        local_port: u16,
        conn: Option<Connection>,
        app: App,
        impair: (Profile, Profile),
        seed: u64,
    ) -> Pump<'n> {
        let mut pcap_file = Vec::new();
        pcap::global_header(&mut pcap_file);
        Pump {
            net,
            clock: Clock::start(),
            conn,
            app,
            out_pair,
            local_port,
            outbound: Impair::new(impair.0, seed),
            inbound: Impair::new(impair.1, seed ^ 0x5555_5555),
            pcap: pcap_file,
            unmatched: Vec::new(),
            refuse_unmatched: true,
            accept_with: None,
            mark_ce_every: None,
            ecn_log: Vec::new(),
            ect_seen: (0, 0),
            buf: vec![0u8; 65_536],
        }
    }

    /// Active open, now: the pump's connection becomes one from its local
    /// port to the kernel's `remote_port`, with `cfg` and `iss`.
    pub fn connect(&mut self, cfg: Config, remote_port: u16, iss: SeqNum) {
        let now = self.clock.now();
        self.conn = Some(
            Connection::connect(cfg, self.local_port, remote_port, iss, now).expect("connect"),
        );
    }

    fn drain(&mut self, now: Instant) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        for _ in 0..100_000 {
            let Some((seg, ecn)) = conn.poll_transmit_ecn(now) else {
                break;
            };
            let mut pkt = ip::encode(&self.out_pair, &seg);
            if ecn != Ecn::NotEct {
                ip::set_ecn(&mut pkt, ecn);
            }
            if let Some((n, _)) = self.mark_ce_every
                && ecn != Ecn::NotEct
                && !seg.payload.is_empty()
            {
                self.ect_seen.0 += 1;
                if self.ect_seen.0.is_multiple_of(n) {
                    ip::set_ecn(&mut pkt, Ecn::Ce);
                }
            }
            if self.mark_ce_every.is_some() {
                self.ecn_log.push((true, seg.flags, ecn, seg.payload.len()));
            }
            self.outbound.push(now, pkt);
        }
        self.app.take_events(now, conn);
    }

    fn write_out(&mut self, now: Instant) {
        while let Some(pkt) = self.outbound.pop_ready(now) {
            pcap::record(&mut self.pcap, now, &pkt);
            self.net.send(&pkt).expect("write to TUN");
        }
    }

    /// One iteration; `max_wait` bounds the TUN read.
    pub fn step(&mut self, max_wait: Duration) {
        let now = self.clock.now();
        if let Some(conn) = self.conn.as_mut()
            && conn.poll_timeout().is_some_and(|t| t <= now)
        {
            conn.handle_timeout(now);
        }
        if let Some(conn) = self.conn.as_mut() {
            self.app.drive(conn, now);
        }
        self.drain(now);
        self.write_out(now);

        // Wait for the kernel, at most until the next deadline, 10 ms, max_wait.
        let mut wait = max_wait.min(Duration::from_millis(10));
        for t in [
            self.conn.as_ref().and_then(|c| c.poll_timeout()),
            self.outbound.next_deadline(),
            self.inbound.next_deadline(),
        ]
        .into_iter()
        .flatten()
        {
            wait = wait.min(t.saturating_duration_since(now));
        }
        let mut got = self
            .net
            .recv_timeout(&mut self.buf, wait)
            .expect("read TUN");
        // Then take what is already queued, at most 256 packets: no packet
        // is read past the budget (it would be lost).
        let mut budget = 256u32;
        while let Some(n) = got {
            let now = self.clock.now();
            let pkt = self.buf[..n].to_vec();
            // Everything the kernel sends goes into the trace, whether we
            // can decode it or not.
            pcap::record(&mut self.pcap, now, &pkt);
            if let Some((pair, seg)) = ip::decode(&pkt)
                && pair == self.out_pair.reversed()
            {
                let ours = seg.dst_port == self.local_port
                    && self.conn.as_ref().is_none_or(|c| {
                        c.state() == State::Closed || c.remote_port() == seg.src_port
                    });
                if ours
                    && (self.conn.is_some()
                        || (self.accept_with.is_some() && seg.flags.syn() && !seg.flags.ack()))
                {
                    let mut ecn = ip::ecn_of(&pkt);
                    if self.mark_ce_every.is_some() {
                        self.ecn_log
                            .push((false, seg.flags, ecn, seg.payload.len()));
                    }
                    if let Some((_, n)) = self.mark_ce_every
                        && matches!(ecn, Ecn::Ect0 | Ecn::Ect1)
                        && !seg.payload.is_empty()
                    {
                        self.ect_seen.1 += 1;
                        if self.ect_seen.1.is_multiple_of(n) {
                            ecn = Ecn::Ce;
                        }
                    }
                    self.inbound.push(now, (seg, ecn));
                } else if self.refuse_unmatched
                    && let Some(rst) = tcp_proto::reset_reply(&seg)
                {
                    // RFC 9293 §3.10.7.1: a segment for a closed port draws a RST.
                    self.unmatched.push(seg);
                    self.outbound.push(now, ip::encode(&self.out_pair, &rst));
                }
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
            got = self
                .net
                .recv_timeout(&mut self.buf, Duration::ZERO)
                .expect("read TUN");
        }
        let now = self.clock.now();
        while let Some((seg, ecn)) = self.inbound.pop_ready(now) {
            match self.conn.as_mut() {
                Some(conn) => conn.handle_segment_ecn(now, seg, ecn),
                None => {
                    let (config, iss) = self.accept_with.expect("passive pump has accept config");
                    self.conn =
                        Some(Connection::accept(config, &seg, iss, now).expect("accept SYN"));
                }
            }
            self.drain(now);
        }
        if let Some(conn) = self.conn.as_mut() {
            self.app.drive(conn, now);
        }
        self.drain(now);
        self.write_out(now);
    }

    /// Steps until `done(self)` or `limit` passes (panics then, with the
    /// transitions so far). At most one million iterations.
    pub fn run_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&Pump<'_>) -> bool,
    ) {
        let start = self.clock.now();
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            if self.clock.now().saturating_duration_since(start) > limit {
                break;
            }
            self.step(Duration::from_millis(10));
        }
        panic!(
            "timed out after {limit:?} waiting for {what}: state {:?}, sent {}, received {}, transitions {:?}, impairment {:?}/{:?}",
            self.conn.as_ref().map(|c| c.state()),
            self.app.sent,
            self.app.received,
            self.app.transitions(),
            self.outbound.stats,
            self.inbound.stats
        );
    }

    /// The connection's state (`Listen`-like `Closed` before a passive open).
    pub fn state(&self) -> Option<State> {
        self.conn.as_ref().map(|c| c.state())
    }

    /// Writes the pcap to `path`.
    pub fn write_pcap(&self, path: &std::path::Path) {
        std::fs::write(path, &self.pcap).expect("write pcap");
    }
}
