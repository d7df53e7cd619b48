//! Bulk transfer: 64 MiB one way over a perfect in-memory link, every
//! segment encoded with its checksum (IPv4 pseudo-header) and decoded with
//! the checksum verified, both sides driven in one loop, 1 MiB buffers each
//! way on both stacks.
//!
//! The link: zero propagation delay, no loss. One data segment at a time
//! goes from sender to receiver; the receiver's application reads at once
//! and whatever the receiver sends (ACKs, window updates) goes straight
//! back. When neither side has anything to send, the virtual clock jumps to
//! the earliest deadline (delayed ACK, RTO, ...), so a protocol stall costs
//! no CPU time but shows in *virtual* time. Virtual time is charged for the
//! data direction only, at 10 Gbit/s per octet of IP packet (20-octet IPv4
//! header + TCP header + payload).
//!
//! The measured unit is the transfer; building the connections and the
//! handshake are setup, not measured.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use smoltcp::socket::tcp;
use tcp_proto::{
    ChecksumMode, Config, CongestionAlgorithm, Connection, Instant, IpPair, Segment, SeqNum, State,
};

use crate::device::{Host, Pool};
use crate::{C2S, CLIENT_IP, Row, S2C, SERVER_IP, Workload};

/// Octets moved per transfer.
pub const TOTAL: usize = 64 << 20;
/// Virtual link rate for the data direction.
const LINK_BITS_PER_SEC: u64 = 10_000_000_000;
const PATTERN_LEN: usize = 1 << 16;
/// The MSS grid.
pub const MSS_GRID: [u16; 4] = [536, 1460, 9000, 65495];

/// The 64 KiB pattern the sender sends over and over.
pub fn pattern() -> Vec<u8> {
    (0..PATTERN_LEN as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// Virtual nanoseconds to serialize an IP packet carrying `tcp_len` octets of TCP.
fn wire_ns(tcp_len: usize) -> u64 {
    ((20 + tcp_len) as u64 * 8 * 1_000_000_000).div_ceil(LINK_BITS_PER_SEC)
}

/// What one transfer did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// Virtual time from the first data octet queued to the last one read.
    pub virtual_ns: u64,
    /// Times the loop had to jump the clock to a deadline mid-transfer.
    pub stalls: u64,
    /// Virtual time spent in those jumps.
    pub stalled_ns: u64,
    /// Data segments (sender to receiver).
    pub data_segments: u64,
    /// Segments the other way.
    pub acks: u64,
}

impl Outcome {
    /// Throughput in virtual time.
    pub fn virtual_gbps(&self) -> f64 {
        TOTAL as f64 * 8.0 / self.virtual_ns as f64
    }
}

/// Checks received data against the pattern (check mode only).
struct Checker {
    at: usize,
    pat: Vec<u8>,
}

impl Checker {
    fn check(checker: &mut Option<Checker>, got: &[u8]) {
        let Some(c) = checker else { return };
        for &b in got {
            assert_eq!(b, c.pat[c.at % PATTERN_LEN], "octet {} corrupted", c.at);
            c.at += 1;
        }
    }
}

/// Which stack and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// tcp-proto with `Config::linux()` (its default congestion control),
    /// `send(&[u8])` / `recv(&mut [u8])`.
    TcpProtoCopy,
    /// The same through `send_bytes(Bytes)` / `recv_bytes()`: no copies in
    /// or out of the connection.
    TcpProtoZeroCopy,
    /// smoltcp with one of its congestion controllers.
    Smoltcp(SmolCc),
}

/// smoltcp's congestion controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmolCc {
    /// CUBIC (`socket-tcp-cubic`).
    Cubic,
    /// Reno (`socket-tcp-reno`).
    Reno,
    /// None: the window is the peer's.
    None,
}

impl SmolCc {
    fn get(self) -> tcp::CongestionControl {
        match self {
            SmolCc::Cubic => tcp::CongestionControl::Cubic,
            SmolCc::Reno => tcp::CongestionControl::Reno,
            SmolCc::None => tcp::CongestionControl::None,
        }
    }
}

impl Subject {
    /// Row name part.
    pub fn name(self) -> String {
        match self {
            Subject::TcpProtoCopy => format!("tcp-proto {:?} copy", Config::linux().congestion),
            Subject::TcpProtoZeroCopy => {
                format!("tcp-proto {:?} zero-copy", Config::linux().congestion)
            }
            Subject::Smoltcp(SmolCc::Cubic) => "smoltcp CUBIC".into(),
            Subject::Smoltcp(SmolCc::Reno) => "smoltcp Reno".into(),
            Subject::Smoltcp(SmolCc::None) => "smoltcp no-cc".into(),
        }
    }
}

// ---- tcp-proto -----------------------------------------------------------

struct Wire {
    buf: BytesMut,
}

impl Wire {
    fn carry(&mut self, seg: &Segment, addrs: &IpPair) -> (Segment, usize) {
        // Reclaims the previous packet's storage once nothing refers to it.
        self.buf.reserve(seg.encoded_len().expect("fits"));
        let n = seg
            .encode_into(&mut self.buf, addrs, ChecksumMode::Verify)
            .expect("encodes");
        let packet = self.buf.split().freeze();
        let seg = Segment::decode(&packet, addrs, ChecksumMode::Verify).expect("checksum verifies");
        (seg, n)
    }
}

struct TcpProtoPair {
    a: Connection,
    b: Connection,
    wire: Wire,
    now_ns: u64,
}

fn at(ns: u64) -> Instant {
    Instant::from_micros(ns / 1000)
}

fn tcp_proto_config(
    mss: u16,
    delayed_ack: bool,
    timestamps: bool,
    cc: Option<CongestionAlgorithm>,
) -> Config {
    let mut c = Config::linux();
    c.mss = mss;
    c.timestamps = timestamps;
    if let Some(cc) = cc {
        c.congestion = cc;
    }
    if !delayed_ack {
        c.delayed_ack = None;
    }
    c
}

fn tcp_proto_setup(cfg: Config) -> TcpProtoPair {
    let mut wire = Wire {
        buf: BytesMut::with_capacity(65536 + 64),
    };
    let now_ns: u64 = 1_000_000_000;
    let mut a = Connection::connect(cfg, 40000, 80, SeqNum(0xfff0_0000), at(now_ns)).expect("cfg");
    let mut b = Connection::listen(cfg, 80, SeqNum(7)).expect("cfg");
    loop {
        let now = at(now_ns);
        let mut moved = false;
        while let Some(s) = a.poll_transmit(now) {
            b.handle_segment(now, wire.carry(&s, &C2S).0);
            moved = true;
        }
        while let Some(s) = b.poll_transmit(now) {
            a.handle_segment(now, wire.carry(&s, &S2C).0);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    TcpProtoPair { a, b, wire, now_ns }
}

fn tcp_proto_transfer(
    p: &mut TcpProtoPair,
    zero_copy: bool,
    pat: &[u8],
    pat_bytes: &Bytes,
    rbuf: &mut [u8],
    checker: &mut Option<Checker>,
) -> Outcome {
    let TcpProtoPair { a, b, wire, now_ns } = p;
    let start_ns = *now_ns;
    let mut out = Outcome::default();
    let (mut sent, mut received) = (0usize, 0usize);
    while received < TOTAL {
        while sent < TOTAL {
            let off = sent % PATTERN_LEN;
            let end = (PATTERN_LEN - off).min(TOTAL - sent) + off;
            let r = if zero_copy {
                a.send_bytes(pat_bytes.slice(off..end))
            } else {
                a.send(&pat[off..end])
            };
            match r {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        let now = at(*now_ns);
        let mut moved = false;
        if let Some(s) = a.poll_transmit(now) {
            moved = true;
            let (seg, n) = wire.carry(&s, &C2S);
            out.data_segments += 1;
            *now_ns += wire_ns(n);
            let now = at(*now_ns);
            b.handle_segment(now, seg);
            loop {
                if zero_copy {
                    match b.recv_bytes(usize::MAX) {
                        Ok(d) if !d.is_empty() => {
                            Checker::check(checker, &d);
                            received += d.len();
                        }
                        _ => break,
                    }
                } else {
                    match b.recv(rbuf) {
                        Ok(n) if n > 0 => {
                            Checker::check(checker, &rbuf[..n]);
                            received += n;
                        }
                        _ => break,
                    }
                }
            }
        }
        let now = at(*now_ns);
        while let Some(s) = b.poll_transmit(now) {
            moved = true;
            out.acks += 1;
            a.handle_segment(now, wire.carry(&s, &S2C).0);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if !moved && received < TOTAL {
            // Nothing to send on either side: jump to the next deadline.
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a stalled transfer must have a timer armed");
            let t = (next.total_micros() * 1000).max(*now_ns);
            out.stalls += 1;
            out.stalled_ns += t - *now_ns;
            *now_ns = t;
            a.handle_timeout(at(*now_ns));
            b.handle_timeout(at(*now_ns));
        }
    }
    assert_eq!(sent, TOTAL);
    out.virtual_ns = *now_ns - start_ns;
    out
}

// ---- smoltcp -------------------------------------------------------------

struct SmolPair {
    a: Host,
    b: Host,
    now_ns: u64,
}

fn smol_at(ns: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((ns / 1000) as i64)
}

/// smoltcp's TSval clock for the rows with timestamps: a counter (one
/// atomic add per segment), cheaper than any real clock. smoltcp takes RTT
/// samples from its own timer, not from TSecr.
fn smoltcp_tsval() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TICKS: AtomicU32 = AtomicU32::new(1);
    TICKS.fetch_add(1, Ordering::Relaxed)
}

fn smoltcp_setup(cc: SmolCc, mss: u16, delayed_ack: bool, timestamps: bool) -> SmolPair {
    let pool: Pool = Rc::new(RefCell::new(Vec::new()));
    // smoltcp derives its MSS from the device MTU: IPv4 and TCP headers, 40.
    let mtu = usize::from(mss) + 40;
    let mut a = Host::new(CLIENT_IP, &pool, 1, mtu, 1 << 20, cc.get());
    let mut b = Host::new(SERVER_IP, &pool, 2, mtu, 1 << 20, cc.get());
    if !delayed_ack {
        a.socket().set_ack_delay(None);
        b.socket().set_ack_delay(None);
    }
    if timestamps {
        a.socket().set_tsval_generator(Some(smoltcp_tsval));
        b.socket().set_tsval_generator(Some(smoltcp_tsval));
    }
    let now_ns: u64 = 1_000_000_000;
    b.socket().listen(80).expect("listen");
    a.connect(SERVER_IP, 80, 40000);
    for _ in 0..10 {
        let now = smol_at(now_ns);
        a.poll(now);
        b.dev.rx.append(&mut a.dev.tx);
        b.poll(now);
        a.dev.rx.append(&mut b.dev.tx);
    }
    assert_eq!(a.socket().state(), tcp::State::Established);
    assert_eq!(b.socket().state(), tcp::State::Established);
    assert_eq!(a.socket().timestamp_enabled(), timestamps);
    SmolPair { a, b, now_ns }
}

fn smoltcp_transfer(
    p: &mut SmolPair,
    pat: &[u8],
    rbuf: &mut [u8],
    checker: &mut Option<Checker>,
) -> Outcome {
    use smoltcp::iface::{PollIngressSingleResult, PollResult};
    let SmolPair { a, b, now_ns } = p;
    let start_ns = *now_ns;
    let mut out = Outcome::default();
    let (mut sent, mut received) = (0usize, 0usize);
    while received < TOTAL {
        while sent < TOTAL {
            let off = sent % PATTERN_LEN;
            let end = (PATTERN_LEN - off).min(TOTAL - sent) + off;
            match a.socket().send_slice(&pat[off..end]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        let now = smol_at(*now_ns);
        // Sender: take in every ACK, then emit at most one segment.
        a.iface.poll_maintenance(now);
        while a.iface.poll_ingress_single(now, &mut a.dev, &mut a.sockets)
            != PollIngressSingleResult::None
        {}
        a.iface.poll_egress(now, &mut a.dev, &mut a.sockets);
        let mut moved = false;
        if let Some(pkt) = a.dev.tx.pop_front() {
            moved = true;
            out.data_segments += 1;
            *now_ns += wire_ns(pkt.len() - 20);
            b.dev.rx.push_back(pkt);
            let now = smol_at(*now_ns);
            while b.iface.poll_ingress_single(now, &mut b.dev, &mut b.sockets)
                != PollIngressSingleResult::None
            {}
            loop {
                match b.socket().recv_slice(rbuf) {
                    Ok(n) if n > 0 => {
                        Checker::check(checker, &rbuf[..n]);
                        received += n;
                    }
                    _ => break,
                }
            }
        }
        // Receiver: everything it has to say goes straight back.
        let now = smol_at(*now_ns);
        while b.iface.poll_egress(now, &mut b.dev, &mut b.sockets) != PollResult::None {}
        if !b.dev.tx.is_empty() {
            moved = true;
            out.acks += b.dev.tx.len() as u64;
            a.dev.rx.append(&mut b.dev.tx);
        }
        if !moved && received < TOTAL {
            let next = [
                a.iface.poll_at(now, &a.sockets),
                b.iface.poll_at(now, &b.sockets),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a stalled transfer must have a timer armed");
            let t = (next.total_micros() as u64 * 1000).max(*now_ns + 1000);
            out.stalls += 1;
            out.stalled_ns += t - *now_ns;
            *now_ns = t;
        }
    }
    out.virtual_ns = *now_ns - start_ns;
    out
}

// ---- the workload ----------------------------------------------------------

enum Pair {
    None,
    TcpProto(Box<TcpProtoPair>),
    Smoltcp(Box<SmolPair>),
}

/// One cell of the grid: a subject at an MSS.
pub struct Bulk {
    subject: Subject,
    mss: u16,
    delayed_ack: bool,
    /// The timestamps option (RFC 7323) on both sides of the connection:
    /// tcp-proto's `Config::linux()` offers it, smoltcp's default does not.
    timestamps: bool,
    pat: Vec<u8>,
    pat_bytes: Bytes,
    rbuf: Vec<u8>,
    pair: Pair,
    checker: Option<Checker>,
    /// tcp-proto's congestion controller, if not `Config::linux()`'s.
    cc: Option<CongestionAlgorithm>,
    /// The last transfer's outcome.
    pub last: Outcome,
}

impl Bulk {
    /// A cell; `check` verifies every received octet (not for timing).
    pub fn new(subject: Subject, mss: u16, delayed_ack: bool, check: bool) -> Bulk {
        let pat = pattern();
        Bulk {
            subject,
            mss,
            delayed_ack,
            timestamps: !matches!(subject, Subject::Smoltcp(_)),
            pat_bytes: Bytes::copy_from_slice(&pat),
            checker: check.then(|| Checker {
                at: 0,
                pat: pat.clone(),
            }),
            pat,
            rbuf: vec![0; 1 << 18],
            pair: Pair::None,
            cc: None,
            last: Outcome::default(),
        }
    }

    /// The same cell with tcp-proto running `cc`.
    pub fn with_congestion(mut self, cc: CongestionAlgorithm) -> Bulk {
        self.cc = Some(cc);
        self
    }

    /// The same cell with the timestamps option on or off (the default: on
    /// for tcp-proto, off for smoltcp, as each stack comes).
    pub fn with_timestamps(mut self, on: bool) -> Bulk {
        self.timestamps = on;
        self
    }

    /// Octets the checker has verified.
    pub fn checked(&self) -> usize {
        self.checker.as_ref().map_or(0, |c| c.at)
    }
}

impl Workload for Bulk {
    fn has_setup(&self) -> bool {
        true
    }

    fn setup(&mut self) {
        // Drop the previous pair first: the memory is reused.
        self.pair = Pair::None;
        self.pair = match self.subject {
            Subject::TcpProtoCopy | Subject::TcpProtoZeroCopy => {
                Pair::TcpProto(Box::new(tcp_proto_setup(tcp_proto_config(
                    self.mss,
                    self.delayed_ack,
                    self.timestamps,
                    self.cc,
                ))))
            }
            Subject::Smoltcp(cc) => Pair::Smoltcp(Box::new(smoltcp_setup(
                cc,
                self.mss,
                self.delayed_ack,
                self.timestamps,
            ))),
        };
    }

    fn once(&mut self) -> u64 {
        let out = match &mut self.pair {
            Pair::TcpProto(p) => tcp_proto_transfer(
                p,
                self.subject == Subject::TcpProtoZeroCopy,
                &self.pat,
                &self.pat_bytes,
                &mut self.rbuf,
                &mut self.checker,
            ),
            Pair::Smoltcp(p) => smoltcp_transfer(p, &self.pat, &mut self.rbuf, &mut self.checker),
            Pair::None => panic!("setup first"),
        };
        self.last = out;
        out.data_segments
    }
}

/// The bulk rows at every MSS, delayed ACK on (both stacks' default)
/// unless said: tcp-proto as it comes (`Config::linux()`, the timestamps
/// option on) and without timestamps; smoltcp as it comes (no timestamps),
/// with timestamps, without delayed ACK, and with its other controllers.
///
/// Every row is compared with smoltcp CUBIC as it comes (its cheapest
/// configuration, so tcp-proto with timestamps is compared with a smoltcp
/// that sends 12 octets less per segment); tcp-proto with timestamps is
/// also compared with smoltcp CUBIC with timestamps (the same options on
/// the wire both sides, the same segment count).
pub fn rows() -> Vec<Row> {
    let mut v = Vec::new();
    for mss in MSS_GRID {
        let base = format!("bulk-64MiB/mss {mss} smoltcp CUBIC");
        let base_ts = format!("bulk-64MiB/mss {mss} smoltcp CUBIC ts");
        for (subject, delayed_ack, timestamps) in [
            (Subject::TcpProtoCopy, true, true),
            (Subject::TcpProtoZeroCopy, true, true),
            (Subject::TcpProtoCopy, true, false),
            (Subject::TcpProtoZeroCopy, true, false),
            (Subject::Smoltcp(SmolCc::Cubic), true, false),
            (Subject::Smoltcp(SmolCc::Cubic), true, true),
            (Subject::Smoltcp(SmolCc::Cubic), false, false),
            (Subject::Smoltcp(SmolCc::Reno), true, false),
            (Subject::Smoltcp(SmolCc::None), true, false),
        ] {
            let smoltcp = matches!(subject, Subject::Smoltcp(_));
            let ts = match (smoltcp, timestamps) {
                (false, false) => " no-ts",
                (true, true) => " ts",
                _ => "",
            };
            let name = format!(
                "mss {mss} {}{ts}{}",
                subject.name(),
                if delayed_ack { "" } else { " no-delack" }
            );
            let baselines = if smoltcp
                && delayed_ack
                && !timestamps
                && subject == Subject::Smoltcp(SmolCc::Cubic)
            {
                Vec::new()
            } else if !smoltcp && timestamps {
                vec![base.clone(), base_ts.clone()]
            } else {
                vec![base.clone()]
            };
            v.push(Row {
                group: "bulk-64MiB",
                name,
                baselines,
                callgrind_units: 1,
                make: Box::new(move || {
                    Box::new(
                        Bulk::new(subject, mss, delayed_ack, false).with_timestamps(timestamps),
                    )
                }),
            });
        }
    }
    v
}
