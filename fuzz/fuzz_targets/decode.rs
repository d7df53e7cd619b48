//! The segment decoder against an independent reference: a walk of the
//! options written from RFC 9293 §3.2 / RFC 7323 / RFC 2018, and the RFC
//! 1071 checksum over the pseudo-header; then the re-encode round trip.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tcp_proto::wire::{Options, SackBlock, SackBlocks, Timestamps};
use tcp_proto::{ChecksumMode, IpPair, Segment, SeqNum};

const V4: IpPair = IpPair::V4 {
    src: [192, 0, 2, 1],
    dst: [198, 51, 100, 2],
};
const V6: IpPair = IpPair::V6 {
    src: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    dst: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
};

/// RFC 1071: the one's complement sum of 16-bit words, folded.
fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut i = 0;
    while i + 1 < data.len() {
        acc += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
        i += 2;
    }
    if i < data.len() {
        acc += u32::from(data[i]) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// Whether the checksum over pseudo-header + segment verifies (sum = 0xFFFF).
fn checksum_ok(addrs: &IpPair, seg: &[u8]) -> bool {
    let len = seg.len() as u32;
    let mut acc = match addrs {
        IpPair::V4 { src, dst } => {
            let a = sum16(0, src);
            let a = sum16(a, dst);
            a + 6 + len
        }
        IpPair::V6 { src, dst } => {
            let a = sum16(0, src);
            let a = sum16(a, dst);
            a + (len >> 16) + (len & 0xffff) + 6
        }
    };
    acc = sum16(acc, seg);
    acc == 0xffff
}

/// The reference option walk: `None` when the options are malformed.
fn reference_options(mut b: &[u8]) -> Option<Options> {
    let mut o = Options::default();
    while let Some((&kind, rest)) = b.split_first() {
        if kind == 0 {
            break; // EOL: the rest is padding.
        }
        if kind == 1 {
            b = rest; // NOP
            continue;
        }
        let len = usize::from(*rest.first()?);
        if len < 2 || len > b.len() {
            return None;
        }
        let body = &b[2..len];
        match kind {
            2 => {
                if body.len() != 2 {
                    return None;
                }
                o.mss = Some(u16::from_be_bytes([body[0], body[1]]));
            }
            3 => {
                if body.len() != 1 {
                    return None;
                }
                o.window_scale = Some(body[0]);
            }
            4 => {
                if !body.is_empty() {
                    return None;
                }
                o.sack_permitted = true;
            }
            5 => {
                if body.is_empty() || body.len() % 8 != 0 || body.len() > 32 {
                    return None;
                }
                let mut s = SackBlocks::new();
                for c in body.chunks(8) {
                    s.push(SackBlock {
                        left: SeqNum(u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
                        right: SeqNum(u32::from_be_bytes([c[4], c[5], c[6], c[7]])),
                    });
                }
                o.sack_blocks = s;
            }
            8 => {
                if body.len() != 8 {
                    return None;
                }
                o.timestamps = Some(Timestamps {
                    val: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                    ecr: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                });
            }
            _ => {}
        }
        b = &b[len..];
    }
    Some(o)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, pkt)) = data.split_first() else {
        return;
    };
    let addrs = if sel & 1 == 0 { V4 } else { V6 };
    let mode = if sel & 2 == 0 {
        ChecksumMode::Verify
    } else {
        ChecksumMode::Skip
    };
    // Any packet: the ICMP parser finds an error about a TCP segment or
    // nothing, never panics, and what it finds quotes a TCP header it read.
    if let Some(m) = tcp_proto::ip::parse_icmp(pkt) {
        assert_eq!(m.src.is_ipv4(), m.dst.is_ipv4(), "one family");
    }
    let bytes = Bytes::copy_from_slice(pkt);
    let got = Segment::decode(&bytes, &addrs, mode);
    let sliced = Segment::decode_slice(pkt, &addrs, mode);
    assert_eq!(got, sliced, "decode and decode_slice agree");

    // The reference: header structure, options, checksum.
    let expect = (|| {
        if pkt.len() < 20 {
            return None;
        }
        let hl = usize::from(pkt[12] >> 4) * 4;
        if hl < 20 || hl > pkt.len() {
            return None;
        }
        let opts = reference_options(&pkt[20..hl])?;
        if mode == ChecksumMode::Verify && !checksum_ok(&addrs, pkt) {
            return None;
        }
        Some((hl, opts))
    })();
    match (&got, &expect) {
        (Ok(seg), Some((hl, opts))) => {
            assert_eq!(&seg.options, opts, "options differ from the reference walk");
            assert_eq!(seg.src_port, u16::from_be_bytes([pkt[0], pkt[1]]));
            assert_eq!(seg.dst_port, u16::from_be_bytes([pkt[2], pkt[3]]));
            assert_eq!(
                seg.seq.0,
                u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]])
            );
            assert_eq!(
                seg.ack.0,
                u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]])
            );
            assert_eq!(seg.flags.0, pkt[13]);
            assert_eq!(seg.window, u16::from_be_bytes([pkt[14], pkt[15]]));
            assert_eq!(seg.urgent, u16::from_be_bytes([pkt[18], pkt[19]]));
            assert_eq!(&seg.payload[..], &pkt[*hl..]);
        }
        (Err(_), None) => {}
        (g, e) => panic!("decoder {g:?} but reference {e:?}"),
    }

    // Whatever decodes encodes, within 60 octets of header, and decodes back.
    if let Ok(seg) = got {
        let len = seg.encoded_len().expect("what decodes encodes");
        assert!(len <= 60 + seg.payload.len());
        let mut out = vec![0u8; len];
        let n = seg
            .encode(&mut out, &addrs, ChecksumMode::Verify)
            .expect("encodes");
        assert_eq!(n, len);
        assert!(
            checksum_ok(&addrs, &out),
            "our checksum verifies (RFC 1071)"
        );
        let back = Segment::decode(&Bytes::from(out), &addrs, ChecksumMode::Verify)
            .expect("re-encoded segment decodes");
        assert_eq!(back, seg);
    }
});
