//! One connection's whole life, client and server, from `connect` to both
//! sides CLOSED (TIME-WAIT expired): three-way handshake, four-way close,
//! TIME-WAIT expiry, seven segments. Every segment crosses a "wire": encoded
//! with its checksum over the IPv4 pseudo-header and decoded with the
//! checksum verified on the other side.
//!
//! tcp-proto builds two fresh `Connection`s per lifecycle (and drops them),
//! both sharing one configuration, validated once (`ValidConfig`: an
//! `Arc<Config>` checked when made, as an application or the `Endpoint`
//! with many connections holds it).
//! smoltcp: two `Interface`s (`Medium::Ip`, IPv4, checksums computed and
//! verified) over an in-memory pair of queues, one TCP socket each, built
//! once and reused (listen/connect again after CLOSED: its cheapest path);
//! TIME-WAIT (its fixed 10 s) is skipped by advancing its clock.
//!
//! No per-packet allocation in either harness: tcp-proto's wire is one
//! reused array, smoltcp's packets come from a pool.

use std::cell::RefCell;
use std::rc::Rc;

use smoltcp::socket::tcp;
use tcp_proto::{
    ChecksumMode, Config, Connection, Instant, IpPair, Segment, SeqNum, State, ValidConfig,
};

use crate::device::{Host, Pool};
use crate::{C2S, CLIENT_IP, Row, S2C, SERVER_IP, Workload};

/// tcp-proto's wire: encode (with checksum) into a reused buffer, decode
/// (verifying the checksum) from it. Lifecycle segments carry no payload,
/// so decoding from the slice copies nothing.
struct Wire {
    buf: [u8; 2048],
    segments: u64,
}

impl Wire {
    fn carry(&mut self, seg: &Segment, addrs: &IpPair) -> Segment {
        self.segments += 1;
        let n = seg
            .encode(&mut self.buf, addrs, ChecksumMode::Verify)
            .expect("encodes");
        Segment::decode_slice(&self.buf[..n], addrs, ChecksumMode::Verify)
            .expect("checksum verifies")
    }
}

/// Moves segments both ways until neither side has anything to send.
fn pump(wire: &mut Wire, c: &mut Connection, s: &mut Connection, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(seg) = c.poll_transmit(now) {
            let seg = wire.carry(&seg, &C2S);
            s.handle_segment(now, seg);
            moved = true;
        }
        while let Some(seg) = s.poll_transmit(now) {
            let seg = wire.carry(&seg, &S2C);
            c.handle_segment(now, seg);
            moved = true;
        }
        while c.poll_event().is_some() {}
        while s.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

/// tcp-proto: fresh connections each lifecycle, sharing one configuration
/// validated once (a `ValidConfig`, as an application or the `Endpoint`
/// with many connections holds it).
pub struct TcpProto {
    wire: Wire,
    iss: u32,
    cfg: ValidConfig,
}

impl TcpProto {
    /// A workload with an empty wire.
    pub fn new() -> TcpProto {
        TcpProto {
            wire: Wire {
                buf: [0; 2048],
                segments: 0,
            },
            iss: 1000,
            cfg: Config::linux().validated().expect("valid"),
        }
    }
}

impl Default for TcpProto {
    fn default() -> Self {
        Self::new()
    }
}

impl Workload for TcpProto {
    fn once(&mut self) -> u64 {
        self.iss = self.iss.wrapping_add(64_000);
        let wire = &mut self.wire;
        let before = wire.segments;
        let cfg = &self.cfg;
        let mut now = Instant::from_secs(1);
        let mut s = Connection::listen_valid(cfg.clone(), 80, SeqNum(self.iss.wrapping_mul(7)));
        let mut c = Connection::connect_valid(cfg.clone(), 40000, 80, SeqNum(self.iss), now);
        pump(wire, &mut c, &mut s, now);
        assert_eq!(
            (c.state(), s.state()),
            (State::Established, State::Established)
        );
        c.close(now).expect("client close");
        pump(wire, &mut c, &mut s, now);
        assert_eq!(s.state(), State::CloseWait);
        s.close(now).expect("server close");
        pump(wire, &mut c, &mut s, now);
        assert_eq!((c.state(), s.state()), (State::TimeWait, State::Closed));
        now = c.poll_timeout().expect("2MSL armed");
        c.handle_timeout(now);
        pump(wire, &mut c, &mut s, now);
        assert_eq!(c.state(), State::Closed);
        let n = wire.segments - before;
        assert_eq!(n, 7, "SYN, SYN-ACK, ACK, FIN, ACK, FIN, ACK");
        n
    }
}

/// smoltcp: two interfaces and sockets, reused.
pub struct Smoltcp {
    client: Host,
    server: Host,
    now: smoltcp::time::Instant,
    segments: u64,
}

impl Smoltcp {
    /// Two hosts on one in-memory link, 64 KiB socket buffers, MTU 1500.
    pub fn new() -> Smoltcp {
        let pool: Pool = Rc::new(RefCell::new(Vec::new()));
        let none = tcp::CongestionControl::None;
        Smoltcp {
            client: Host::new(CLIENT_IP, &pool, 1, 1500, 65536, none),
            server: Host::new(SERVER_IP, &pool, 2, 1500, 65536, none),
            now: smoltcp::time::Instant::from_secs(1),
            segments: 0,
        }
    }

    fn pump(&mut self) {
        loop {
            self.client.poll(self.now);
            let mut moved = !self.client.dev.tx.is_empty();
            self.segments += self.client.dev.tx.len() as u64;
            self.server.dev.rx.append(&mut self.client.dev.tx);
            self.server.poll(self.now);
            moved |= !self.server.dev.tx.is_empty();
            self.segments += self.server.dev.tx.len() as u64;
            self.client.dev.rx.append(&mut self.server.dev.tx);
            if !moved {
                return;
            }
        }
    }
}

impl Default for Smoltcp {
    fn default() -> Self {
        Self::new()
    }
}

impl Workload for Smoltcp {
    fn once(&mut self) -> u64 {
        use tcp::State as S;
        let before = self.segments;
        self.server.socket().listen(80).expect("listen");
        self.client.connect(SERVER_IP, 80, 40000);
        self.pump();
        assert_eq!(
            (self.client.socket().state(), self.server.socket().state()),
            (S::Established, S::Established)
        );
        self.client.socket().close();
        self.pump();
        assert_eq!(self.server.socket().state(), S::CloseWait);
        self.server.socket().close();
        self.pump();
        assert_eq!(
            (self.client.socket().state(), self.server.socket().state()),
            (S::TimeWait, S::Closed)
        );
        // TIME-WAIT: smoltcp's fixed 10 s; jump to the deadline it reports.
        let at = self
            .client
            .iface
            .poll_at(self.now, &self.client.sockets)
            .expect("time-wait deadline");
        self.now = at.max(self.now + smoltcp::time::Duration::from_secs(10));
        self.pump();
        assert_eq!(self.client.socket().state(), S::Closed);
        let n = self.segments - before;
        assert_eq!(n, 7, "SYN, SYN-ACK, ACK, FIN, ACK, FIN, ACK");
        n
    }
}

/// The lifecycle rows.
pub fn rows() -> Vec<Row> {
    vec![
        Row {
            group: "lifecycle",
            name: "tcp-proto".into(),
            baselines: vec!["lifecycle/smoltcp".into()],
            callgrind_units: 2000,
            make: Box::new(|| Box::new(TcpProto::new())),
        },
        Row {
            group: "lifecycle",
            name: "smoltcp".into(),
            baselines: Vec::new(),
            callgrind_units: 2000,
            make: Box::new(|| Box::new(Smoltcp::new())),
        },
    ]
}
