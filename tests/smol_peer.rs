//! Plumbing check for the in-memory smoltcp peer: a hand-built SYN gets a
//! SYN-ACK from smoltcp, and a smoltcp client's SYN is a valid segment.

mod common;

use common::ip;
use common::netns::Family;
use common::smol::SmolPeer;
use smoltcp::socket::tcp::State as SmolState;
use tcp_proto::{Flags, Instant, Options, Segment, SeqNum};

#[test]
fn smoltcp_server_answers_a_syn() {
    for family in [Family::V4, Family::V6] {
        let t0 = Instant::from_secs(1);
        let mut smol = SmolPeer::server(family, 80, 64 * 1024, 7, t0);
        let out = ip::pair(family.peer_addr(), family.kernel_addr());
        let iss = SeqNum(u32::MAX);
        let syn = Segment {
            src_port: 40_000,
            dst_port: 80,
            seq: iss,
            flags: Flags::SYN,
            window: 65_535,
            options: Options {
                mss: Some(1460),
                ..Options::default()
            },
            ..Segment::default()
        };
        smol.deliver(ip::encode(&out, &syn));
        let sent = smol.step(t0);
        let (pair, synack) = sent
            .iter()
            .find_map(|p| ip::decode(p))
            .expect("smoltcp replies");
        assert_eq!(pair, out.reversed());
        assert_eq!(synack.flags, Flags::SYN | Flags::ACK, "{synack}");
        assert_eq!(synack.ack, iss.add(1));
        assert_eq!(smol.state(), SmolState::SynReceived);
    }
}

#[test]
fn smoltcp_client_sends_a_decodable_syn() {
    let t0 = Instant::ZERO;
    let mut smol = SmolPeer::client(Family::V4, 50_000, 80, 64 * 1024, 9, t0);
    let sent = smol.step(t0);
    let (pair, syn) = sent
        .iter()
        .find_map(|p| ip::decode(p))
        .expect("smoltcp sends a SYN");
    assert_eq!(
        pair,
        ip::pair(Family::V4.kernel_addr(), Family::V4.peer_addr())
    );
    assert_eq!(syn.flags, Flags::SYN);
    assert_eq!((syn.src_port, syn.dst_port), (50_000, 80));
    assert_eq!(smol.state(), SmolState::SynSent);
}
