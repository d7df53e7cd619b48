//! ECN (RFC 3168) through the public API: the caller hands in the IP ECN
//! bits of each received segment and writes out the bits the connection
//! asks for. Negotiation both ways, the receiver's echo until CWR, the
//! sender's one reduction per window, ECT on new data only.

use std::time::Duration;
use tcp_proto::{
    Config, Connection, Ecn, EcnMode, Flags, Instant, Options, Segment, SeqNum, State,
};

const CLIENT_ISS: u32 = u32::MAX - 20_000;
const SERVER_ISS: u32 = 7_000;

/// Two connections wired by hand; every segment is kept with its codepoint.
struct Net {
    c: Connection,
    s: Connection,
    now: Instant,
}

type Wire = Vec<(Segment, Ecn)>;

fn out(conn: &mut Connection, now: Instant) -> Wire {
    std::iter::from_fn(|| conn.poll_transmit_ecn(now)).collect()
}

impl Net {
    fn new(client: Config, server: Config) -> Net {
        let now = Instant::from_secs(1);
        Net {
            c: Connection::connect(client, 40000, 80, SeqNum(CLIENT_ISS), now).unwrap(),
            s: Connection::listen(server, 80, SeqNum(SERVER_ISS)).unwrap(),
            now,
        }
    }

    /// What the client sends now, and what the server sends now.
    fn client_out(&mut self) -> Wire {
        out(&mut self.c, self.now)
    }
    fn server_out(&mut self) -> Wire {
        out(&mut self.s, self.now)
    }
    fn deliver_server(&mut self, w: &Wire) {
        for (seg, e) in w {
            self.s.handle_segment_ecn(self.now, seg.clone(), *e);
        }
    }
    fn deliver_client(&mut self, w: &Wire) {
        for (seg, e) in w {
            self.c.handle_segment_ecn(self.now, seg.clone(), *e);
        }
    }

    /// Handshake; returns (SYN, SYN-ACK).
    fn handshake(&mut self) -> ((Segment, Ecn), (Segment, Ecn)) {
        let syn = self.client_out();
        self.deliver_server(&syn);
        let synack = self.server_out();
        self.deliver_client(&synack);
        let ack = self.client_out();
        self.deliver_server(&ack);
        assert_eq!(self.c.state(), State::Established);
        assert_eq!(self.s.state(), State::Established);
        (syn[0].clone(), synack[0].clone())
    }

    /// Shuttles segments both ways (each through `mark`) until both are quiet.
    fn settle(
        &mut self,
        mut mark: impl FnMut(&Segment, Ecn) -> Ecn,
        log: &mut Vec<(bool, Segment, Ecn)>,
    ) {
        let mut buf = [0u8; 65536];
        for _ in 0..10_000 {
            let a = self.client_out();
            let b = self.server_out();
            if a.is_empty() && b.is_empty() {
                // Nothing moves: let the earliest timer (delayed ACK) fire.
                let next = [self.c.poll_timeout(), self.s.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= self.now + Duration::from_millis(100) => {
                        self.now = self.now.max(t);
                        self.c.handle_timeout(self.now);
                        self.s.handle_timeout(self.now);
                        continue;
                    }
                    _ => return,
                }
            }
            // The server answers each segment as it arrives.
            let mut b = b;
            for (seg, e) in a {
                let e2 = mark(&seg, e);
                log.push((true, seg.clone(), e));
                self.s.handle_segment_ecn(self.now, seg, e2);
                b.extend(self.server_out());
            }
            for (seg, e) in b {
                log.push((false, seg.clone(), e));
                self.c.handle_segment_ecn(self.now, seg, e);
            }
            while let Ok(n) = self.s.recv(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            self.now += Duration::from_micros(100);
        }
        panic!("did not settle");
    }
}

fn asking() -> Config {
    let mut c = Config::linux();
    c.ecn = EcnMode::On;
    c
}

const ECE: Flags = Flags::ECE;
const CWR: Flags = Flags::CWR;

#[test]
fn ecn_is_negotiated_when_we_ask_and_the_linux_preset_accepts() {
    let mut n = Net::new(asking(), Config::linux());
    let ((syn, syn_ecn), (synack, synack_ecn)) = n.handshake();
    assert!(
        syn.flags.contains(ECE) && syn.flags.contains(CWR),
        "{syn:?}"
    );
    assert!(
        synack.flags.contains(ECE) && !synack.flags.contains(CWR),
        "{synack:?}"
    );
    // RFC 3168 §6.1.1: SYN and SYN-ACK are not ECN-capable.
    assert_eq!((syn_ecn, synack_ecn), (Ecn::NotEct, Ecn::NotEct));
    assert!(n.c.ecn_enabled() && n.s.ecn_enabled());
}

#[test]
fn linux_preset_does_not_ask_and_the_rfc_preset_declines() {
    // Linux tcp_ecn=2: accept, never ask.
    let mut n = Net::new(Config::linux(), Config::linux());
    let ((syn, _), (synack, _)) = n.handshake();
    assert!(!syn.flags.contains(ECE) && !syn.flags.contains(CWR));
    assert!(!synack.flags.contains(ECE));
    assert!(!n.c.ecn_enabled() && !n.s.ecn_enabled());
    // We ask, the RFC preset (ECN off) declines: nothing is ECN-capable.
    let mut n = Net::new(asking(), Config::rfc9293());
    let (_, (synack, _)) = n.handshake();
    assert!(!synack.flags.contains(ECE));
    assert!(!n.c.ecn_enabled() && !n.s.ecn_enabled());
    n.c.send(&[1; 5000]).unwrap();
    let w = n.client_out();
    assert!(!w.is_empty());
    assert!(
        w.iter()
            .all(|(s, e)| *e == Ecn::NotEct && !s.flags.contains(CWR))
    );
}

#[test]
fn a_syn_ack_with_ece_and_cwr_is_a_reflection_not_agreement() {
    let now = Instant::from_secs(1);
    let mut c = Connection::connect(asking(), 40000, 80, SeqNum(CLIENT_ISS), now).unwrap();
    let syn = c.poll_transmit(now).unwrap();
    let options = Options {
        mss: Some(1460),
        ..Options::default()
    };
    let synack = Segment {
        src_port: 80,
        dst_port: 40000,
        seq: SeqNum(SERVER_ISS),
        ack: syn.seq.add(1),
        flags: Flags::SYN | Flags::ACK | ECE | CWR,
        window: 65535,
        options,
        ..Segment::default()
    };
    c.handle_segment(now, synack);
    assert_eq!(c.state(), State::Established);
    assert!(!c.ecn_enabled());
    // A retransmitted SYN no longer asks (RFC 3168 §6.1.1.1).
    let mut c = Connection::connect(asking(), 40000, 80, SeqNum(CLIENT_ISS), now).unwrap();
    let first = c.poll_transmit(now).unwrap();
    assert!(first.flags.contains(ECE));
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    let again = c.poll_transmit(t).unwrap();
    assert!(again.flags.syn() && !again.flags.contains(ECE) && !again.flags.contains(CWR));
}

#[test]
fn ce_is_echoed_until_cwr_and_the_sender_reduces_once_per_window() {
    let mut n = Net::new(asking(), Config::linux());
    n.handshake();
    let mut log = Vec::new();
    // Exactly one initial window of data.
    let cwnd0 = n.c.stats().cwnd;
    n.c.send(&vec![7u8; cwnd0 as usize]).unwrap();
    // The router marks the first data segment CE instead of dropping it.
    let mut marked = false;
    n.settle(
        |seg, e| {
            if !marked && !seg.payload.is_empty() {
                assert_eq!(e, Ecn::Ect0);
                marked = true;
                Ecn::Ce
            } else {
                e
            }
        },
        &mut log,
    );
    assert_eq!(n.s.stats().ecn_ce_received, 1);
    // Every ACK from the receiver after the mark carries ECE...
    let acks: Vec<&Segment> = log
        .iter()
        .filter(|(c, _, _)| !c)
        .map(|(_, s, _)| s)
        .collect();
    assert!(acks.len() >= 4, "several ACKs, each with ECE: {acks:?}");
    assert!(acks.iter().all(|s| s.flags.contains(ECE)), "{acks:?}");
    // ...and the sender reduced once for the whole window: β·cwnd (CUBIC).
    let st = n.c.stats();
    assert_eq!(st.ecn_reductions, 1, "{st:?}");
    assert_eq!(st.ssthresh, cwnd0 * 7 / 10);
    // The next new data carries CWR, once; the echo then stops.
    log.clear();
    n.c.send(&vec![8u8; 4 * 1448]).unwrap();
    n.settle(|_, e| e, &mut log);
    let data: Vec<&Segment> = log
        .iter()
        .filter(|(c, s, _)| *c && !s.payload.is_empty())
        .map(|(_, s, _)| s)
        .collect();
    assert!(data[0].flags.contains(CWR), "{:?}", data[0]);
    assert!(data[1..].iter().all(|s| !s.flags.contains(CWR)), "{data:?}");
    let last_ack = log.iter().rev().find(|(c, _, _)| !c).unwrap();
    assert!(!last_ack.1.flags.contains(ECE), "{:?}", last_ack.1);
    assert_eq!(n.c.stats().ecn_reductions, 1);
    // A mark in a later window is a new congestion event.
    log.clear();
    n.c.send(&vec![9u8; 4 * 1448]).unwrap();
    let mut marked = false;
    n.settle(
        |seg, e| {
            if !marked && !seg.payload.is_empty() {
                marked = true;
                Ecn::Ce
            } else {
                e
            }
        },
        &mut log,
    );
    assert_eq!(n.c.stats().ecn_reductions, 2);
}

#[test]
fn ect_goes_on_new_data_only_never_on_acks_syns_or_retransmissions() {
    let mut n = Net::new(asking(), Config::linux());
    n.handshake();
    n.c.send(&vec![1u8; 3000]).unwrap();
    n.s.send(&[2u8; 100]).unwrap();
    let first = n.client_out();
    assert_eq!(first.len(), 3);
    assert!(
        first
            .iter()
            .all(|(s, e)| !s.payload.is_empty() && *e == Ecn::Ect0)
    );
    // The server's data is ECT(0); its pure ACKs are not.
    let mut log = Vec::new();
    n.deliver_server(&first);
    n.settle(|_, e| e, &mut log);
    for (_, s, e) in &log {
        let want = if s.payload.is_empty() {
            Ecn::NotEct
        } else {
            Ecn::Ect0
        };
        assert_eq!(*e, want, "{s:?}");
    }
    assert!(
        log.iter().any(|(c, s, _)| *c && s.payload.is_empty()),
        "client ACKs seen"
    );
    // A lost segment is retransmitted by the timer without ECT (§6.1.5).
    n.c.send(&vec![3u8; 1000]).unwrap();
    let lost = n.client_out();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].1, Ecn::Ect0);
    // Deadlines that send nothing (a reclaim of idle receive storage) may
    // come first: run them until the retransmission.
    let mut rtx = Vec::new();
    for _ in 0..8 {
        let t = n.c.poll_timeout().unwrap();
        n.now = t;
        n.c.handle_timeout(t);
        rtx = n.client_out();
        if !rtx.is_empty() {
            break;
        }
    }
    assert_eq!(rtx[0].0.seq, lost[0].0.seq);
    assert_eq!(rtx[0].1, Ecn::NotEct, "retransmission is not ECN-capable");
    // A FIN alone carries no data: not ECT either.
    n.c.shutdown_write().unwrap();
    let fin = n.client_out();
    assert!(
        fin.iter()
            .filter(|(s, _)| s.flags.fin())
            .all(|(_, e)| *e == Ecn::NotEct)
    );
}

#[test]
fn without_ecn_a_ce_mark_changes_nothing() {
    let mut n = Net::new(Config::linux(), Config::linux());
    n.handshake();
    n.c.send(&vec![1u8; 14_600]).unwrap();
    let mut log = Vec::new();
    // A misbehaving router marks everything CE.
    n.settle(|_, _| Ecn::Ce, &mut log);
    assert!(
        log.iter()
            .all(|(_, s, e)| *e == Ecn::NotEct && !s.flags.contains(ECE) && !s.flags.contains(CWR))
    );
    assert_eq!(n.s.stats().ecn_ce_received, 0);
    assert_eq!(n.c.stats().ecn_reductions, 0);
    assert!(n.c.stats().cwnd > 14_600, "the window grew as usual");
}
