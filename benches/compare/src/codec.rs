//! The codec alone: decode+verify and encode+checksum of a 1460-octet
//! segment with the timestamps option, and the bare Internet checksum of
//! 1460 octets, tcp-proto against smoltcp 0.14.

use bytes::Bytes;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, Ipv4Address, TcpPacket, TcpRepr};
use std::hint::black_box;
use tcp_proto::wire::{Timestamps, checksum};
use tcp_proto::{ChecksumMode, Flags, IpPair, Options, Segment, SeqNum};

use crate::{CLIENT_IP, Row, SERVER_IP, Workload};

const ADDRS: IpPair = IpPair::V4 {
    src: CLIENT_IP,
    dst: SERVER_IP,
};

fn payload() -> Vec<u8> {
    (0..1460u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn segment() -> Segment {
    Segment {
        src_port: 52276,
        dst_port: 80,
        seq: SeqNum(3_800_426_858),
        ack: SeqNum(1_234_567),
        flags: Flags::ACK | Flags::PSH,
        window: 502,
        urgent: 0,
        options: Options {
            timestamps: Some(Timestamps {
                val: 238_271_400,
                ecr: 99,
            }),
            ..Options::default()
        },
        payload: Bytes::from(payload()),
    }
}

fn addrs() -> (IpAddress, IpAddress) {
    (
        IpAddress::Ipv4(Ipv4Address::from(CLIENT_IP)),
        IpAddress::Ipv4(Ipv4Address::from(SERVER_IP)),
    )
}

/// Which codec operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// tcp-proto `Segment::decode` (checksum verified) and drop.
    TcpProtoDecode,
    /// smoltcp `TcpPacket::new_checked` + `TcpRepr::parse` (checksum verified).
    SmolDecode,
    /// tcp-proto `Segment::encode` with checksum.
    TcpProtoEncode,
    /// smoltcp `TcpRepr::emit` with checksum.
    SmolEncode,
    /// tcp-proto `wire::checksum` of 1460 octets.
    TcpProtoChecksum,
    /// smoltcp `wire::checksum::data` of 1460 octets.
    SmolChecksum,
}

/// A codec workload: one operation per unit.
pub struct Codec {
    op: Op,
    seg: Segment,
    packet: Bytes,
    wire: Vec<u8>,
    out: Vec<u8>,
    data: Vec<u8>,
    theirs: TcpRepr<'static>,
}

impl Codec {
    /// The workload for `op`.
    pub fn new(op: Op) -> Codec {
        let seg = segment();
        let len = seg.encoded_len().expect("fits");
        let mut wire = vec![0u8; len];
        seg.encode(&mut wire, &ADDRS, ChecksumMode::Verify)
            .expect("encodes");
        // smoltcp's representation borrows its payload: leak one packet.
        let leaked: &'static [u8] = Vec::leak(wire.clone());
        let (src, dst) = addrs();
        let theirs = TcpRepr::parse(
            &TcpPacket::new_checked(leaked).expect("smoltcp"),
            &src,
            &dst,
            &ChecksumCapabilities::default(),
        )
        .expect("smoltcp parses");
        assert_eq!(theirs.payload.len(), 1460);
        assert_eq!(theirs.buffer_len(), len);
        Codec {
            op,
            seg,
            packet: Bytes::from(wire.clone()),
            wire,
            out: vec![0u8; 1600],
            data: payload(),
            theirs,
        }
    }
}

impl Workload for Codec {
    fn once(&mut self) -> u64 {
        let (src, dst) = addrs();
        match self.op {
            Op::TcpProtoDecode => {
                let s = Segment::decode(black_box(&self.packet), &ADDRS, ChecksumMode::Verify)
                    .expect("ok");
                u64::from(s.seq.0)
            }
            Op::SmolDecode => {
                let p = TcpPacket::new_checked(black_box(&self.wire[..])).expect("ok");
                let r =
                    TcpRepr::parse(&p, &src, &dst, &ChecksumCapabilities::default()).expect("ok");
                u64::from(r.seq_number.0 as u32)
            }
            Op::TcpProtoEncode => black_box(&self.seg)
                .encode(&mut self.out, &ADDRS, ChecksumMode::Verify)
                .expect("ok") as u64,
            Op::SmolEncode => {
                let repr = black_box(&self.theirs);
                let len = repr.buffer_len();
                let mut p = TcpPacket::new_unchecked(&mut self.out[..len]);
                repr.emit(&mut p, &src, &dst, &ChecksumCapabilities::default());
                u64::from(p.checksum())
            }
            Op::TcpProtoChecksum => u64::from(checksum(0, black_box(&self.data))),
            Op::SmolChecksum => u64::from(smoltcp::wire::checksum::data(black_box(&self.data))),
        }
    }
}

/// The codec rows.
pub fn rows() -> Vec<Row> {
    let row = |name: &str, base: Option<&str>, op: Op| Row {
        group: "codec",
        name: name.into(),
        baselines: base.map(|b| format!("codec/{b}")).into_iter().collect(),
        callgrind_units: 10_000,
        make: Box::new(move || Box::new(Codec::new(op))),
    };
    vec![
        row(
            "tcp-proto decode+verify 1460",
            Some("smoltcp decode+verify 1460"),
            Op::TcpProtoDecode,
        ),
        row("smoltcp decode+verify 1460", None, Op::SmolDecode),
        row(
            "tcp-proto encode+checksum 1460",
            Some("smoltcp encode+checksum 1460"),
            Op::TcpProtoEncode,
        ),
        row("smoltcp encode+checksum 1460", None, Op::SmolEncode),
        row(
            "tcp-proto checksum 1460",
            Some("smoltcp checksum 1460"),
            Op::TcpProtoChecksum,
        ),
        row("smoltcp checksum 1460", None, Op::SmolChecksum),
    ]
}
