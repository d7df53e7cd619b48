//! The segment codec against a real Linux SYN, every error it can report,
//! and round-trip / robustness properties.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tcp_proto::wire::{
    SackBlock, SackBlocks, Timestamps, checksum, pseudo_header_sum, verify_checksum,
};
use tcp_proto::{ChecksumMode, Flags, IpPair, Options, Segment, SeqNum, WireError};

/// A Linux SYN, IPv4 packet: 192.0.2.1:52276 -> 192.0.2.2:80.
const GOLDEN_SYN: &str = "4500003c185e400040069e5ac0000201c0000202cc340050e285e96900000000a002faf066ba0000020405b40402080a0e33bba6000000000103030a";

const V4: IpPair = IpPair::V4 {
    src: [192, 0, 2, 1],
    dst: [192, 0, 2, 2],
};
const V6: IpPair = IpPair::V6 {
    src: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    dst: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
};

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The TCP part of the golden packet (the IPv4 header is 20 octets).
fn golden_tcp() -> Vec<u8> {
    unhex(GOLDEN_SYN)[20..].to_vec()
}

/// Writes a correct checksum into a raw segment.
fn fix_checksum(seg: &mut [u8], addrs: &IpPair) {
    seg[16] = 0;
    seg[17] = 0;
    let c = checksum(pseudo_header_sum(addrs, seg.len()), seg);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
}

/// A raw ACK segment with the given option octets (a multiple of 4) and
/// payload, correct checksum for `V4`.
fn raw(opts: &[u8], payload: &[u8]) -> Vec<u8> {
    assert!(opts.len().is_multiple_of(4) && opts.len() <= 40);
    let mut s = vec![0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2];
    s.push((((20 + opts.len()) / 4) as u8) << 4);
    s.extend_from_slice(&[0x10, 0xff, 0xff, 0, 0, 0, 0]);
    s.extend_from_slice(opts);
    s.extend_from_slice(payload);
    fix_checksum(&mut s, &V4);
    s
}

fn decode(bytes: &[u8]) -> Result<Segment, WireError> {
    Segment::decode(&Bytes::copy_from_slice(bytes), &V4, ChecksumMode::Verify)
}

fn options_of(opts: &[u8]) -> Result<Options, WireError> {
    decode(&raw(opts, &[])).map(|s| s.options)
}

// ---- golden vector ----------------------------------------------------------

#[test]
fn golden_linux_syn_decodes_to_its_fields() {
    let seg = decode(&golden_tcp()).expect("golden SYN decodes");
    assert_eq!(seg.src_port, 52276);
    assert_eq!(seg.dst_port, 80);
    assert_eq!(seg.seq, SeqNum(3_800_426_857));
    assert_eq!(seg.ack, SeqNum(0));
    assert_eq!(seg.flags, Flags::SYN);
    assert_eq!(seg.window, 64240);
    assert_eq!(seg.urgent, 0);
    assert_eq!(seg.options.mss, Some(1460));
    assert!(seg.options.sack_permitted);
    assert_eq!(
        seg.options.timestamps,
        Some(Timestamps {
            val: 238_271_398,
            ecr: 0
        })
    );
    assert_eq!(seg.options.window_scale, Some(10));
    assert!(seg.options.sack_blocks.is_empty());
    assert!(seg.payload.is_empty());
    assert_eq!(
        seg.display_with(&V4).to_string(),
        "IP 192.0.2.1.52276 > 192.0.2.2.80: Flags [S], seq 3800426857, win 64240, \
         options [mss 1460,sackOK,TS val 238271398 ecr 0,wscale 10], length 0"
    );
}

#[test]
fn golden_linux_syn_checksum_verifies() {
    assert!(verify_checksum(&golden_tcp(), &V4));
}

#[test]
fn golden_linux_syn_re_encodes_byte_identical() {
    let tcp = golden_tcp();
    let seg = decode(&tcp).expect("decodes");
    assert_eq!(seg.header_len(), Ok(40));
    assert_eq!(seg.encoded_len(), Ok(40));
    let mut out = [0u8; 64];
    let n = seg
        .encode(&mut out, &V4, ChecksumMode::Verify)
        .expect("encodes");
    assert_eq!(&out[..n], &tcp[..]);
    let mut buf = BytesMut::from(&b"prefix"[..]);
    assert_eq!(seg.encode_into(&mut buf, &V4, ChecksumMode::Verify), Ok(40));
    assert_eq!(&buf[6..], &tcp[..]);
}

#[test]
fn golden_syn_with_a_flipped_bit_fails_the_checksum() {
    for bit in [0, 7, 8 * 14 + 3, 8 * 39 + 7] {
        let mut tcp = golden_tcp();
        tcp[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(decode(&tcp), Err(WireError::BadChecksum), "bit {bit}");
    }
}

#[test]
fn golden_syn_with_a_flipped_bit_decodes_when_checksum_is_skipped() {
    let mut tcp = golden_tcp();
    tcp[5] ^= 0x01; // seq
    let seg = Segment::decode(&Bytes::from(tcp), &V4, ChecksumMode::Skip).expect("decodes");
    assert_eq!(seg.seq, SeqNum(3_800_426_857 ^ (1 << 16)));
}

#[test]
fn wrong_addresses_fail_the_checksum() {
    assert_eq!(
        Segment::decode(
            &Bytes::from(golden_tcp()),
            &V4.reversed().reversed(),
            ChecksumMode::Verify
        )
        .map(|_| ()),
        Ok(())
    );
    let other = IpPair::V4 {
        src: [192, 0, 2, 1],
        dst: [192, 0, 2, 3],
    };
    assert_eq!(
        Segment::decode(&Bytes::from(golden_tcp()), &other, ChecksumMode::Verify),
        Err(WireError::BadChecksum)
    );
}

// ---- one test per error ------------------------------------------------------

#[test]
fn fewer_than_twenty_octets_is_truncated() {
    assert_eq!(
        decode(&golden_tcp()[..19]),
        Err(WireError::Truncated { len: 19 })
    );
    assert_eq!(decode(&[]), Err(WireError::Truncated { len: 0 }));
}

#[test]
fn data_offset_below_five_is_an_error() {
    let mut s = raw(&[], b"abcd");
    s[12] = 4 << 4;
    fix_checksum(&mut s, &V4);
    assert_eq!(decode(&s), Err(WireError::DataOffsetTooSmall { offset: 4 }));
}

#[test]
fn data_offset_past_end_is_an_error() {
    let mut s = raw(&[], &[]);
    s[12] = 6 << 4;
    fix_checksum(&mut s, &V4);
    assert_eq!(
        decode(&s),
        Err(WireError::DataOffsetPastEnd { offset: 6, len: 20 })
    );
}

#[test]
fn option_length_below_two_is_an_error() {
    assert_eq!(
        options_of(&[2, 1, 0, 0]),
        Err(WireError::OptionLengthTooSmall { kind: 2, len: 1 })
    );
    assert_eq!(
        options_of(&[0x99, 0, 0, 0]),
        Err(WireError::OptionLengthTooSmall { kind: 0x99, len: 0 })
    );
}

#[test]
fn option_without_room_for_its_length_octet_overruns() {
    assert_eq!(
        options_of(&[1, 1, 1, 8]),
        Err(WireError::OptionOverrun { kind: 8 })
    );
}

#[test]
fn option_length_past_the_header_end_overruns() {
    assert_eq!(
        options_of(&[1, 1, 2, 4]),
        Err(WireError::OptionOverrun { kind: 2 })
    );
    assert_eq!(
        options_of(&[0x99, 40, 0, 0]),
        Err(WireError::OptionOverrun { kind: 0x99 })
    );
}

#[test]
fn known_option_with_the_wrong_size_is_an_error() {
    let bad = |kind, len| Err(WireError::BadOptionSize { kind, len });
    assert_eq!(options_of(&[2, 3, 5, 1]), bad(2, 3));
    assert_eq!(options_of(&[3, 4, 7, 0]), bad(3, 4));
    assert_eq!(options_of(&[3, 2, 1, 1]), bad(3, 2));
    assert_eq!(options_of(&[4, 3, 0, 1]), bad(4, 3));
    assert_eq!(options_of(&[8, 8, 0, 0, 0, 0, 0, 0]), bad(8, 8));
    assert_eq!(
        options_of(&[8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        bad(8, 11)
    );
    // SACK: 2 + 8n with 1 <= n <= 4.
    assert_eq!(options_of(&[5, 2, 1, 1]), bad(5, 2));
    assert_eq!(
        options_of(&[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        bad(5, 11)
    );
    let mut five = vec![5, 2 + 8 * 5];
    five.extend_from_slice(&[0; 40]);
    five.truncate(40);
    assert_eq!(options_of(&five), Err(WireError::OptionOverrun { kind: 5 }));
}

#[test]
fn bad_checksum_is_an_error() {
    let mut s = raw(&[], b"hello");
    s[20] ^= 0x20;
    assert_eq!(decode(&s), Err(WireError::BadChecksum));
}

#[test]
fn options_longer_than_forty_octets_fail_to_encode() {
    let mut sack_blocks = SackBlocks::new();
    for i in 0..4 {
        sack_blocks.push(SackBlock {
            left: SeqNum(i),
            right: SeqNum(i + 1),
        });
    }
    let seg = Segment {
        options: Options {
            timestamps: Some(Timestamps { val: 1, ecr: 2 }),
            sack_blocks,
            ..Options::default()
        },
        ..Segment::default()
    };
    // 12 (TS) + 4 + 32 (4 blocks) = 48.
    assert_eq!(seg.options.encoded_len(), 48);
    let err = Err(WireError::OptionsTooLong { needed: 48 });
    assert_eq!(seg.header_len(), err);
    assert_eq!(seg.encoded_len(), err);
    assert_eq!(seg.encode(&mut [0u8; 100], &V4, ChecksumMode::Verify), err);
    let mut buf = BytesMut::new();
    assert_eq!(seg.encode_into(&mut buf, &V4, ChecksumMode::Verify), err);
    assert!(buf.is_empty());
}

#[test]
fn buffer_too_small_is_an_error() {
    let seg = Segment {
        payload: Bytes::from_static(b"data"),
        ..Segment::default()
    };
    let mut out = [0u8; 23];
    assert_eq!(
        seg.encode(&mut out, &V4, ChecksumMode::Verify),
        Err(WireError::BufferTooSmall { need: 24, have: 23 })
    );
    assert_eq!(
        seg.encode(&mut [0u8; 24], &V4, ChecksumMode::Verify),
        Ok(24)
    );
}

// ---- option parsing ----------------------------------------------------------

#[test]
fn options_parse_at_odd_alignment() {
    // MUST-64: NOP, MSS at offset 1, NOP, timestamps at offset 6, ...
    let opts = options_of(&[
        1, 2, 4, 5, 0xb4, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 3, 3, 7, 0,
    ])
    .expect("parses");
    assert_eq!(opts.mss, Some(1460));
    assert_eq!(opts.timestamps, Some(Timestamps { val: 7, ecr: 9 }));
    assert_eq!(opts.window_scale, Some(7));
}

#[test]
fn unknown_option_with_a_valid_length_is_skipped() {
    // MUST-6: kind 0xfe (experimental), length 6.
    let opts = options_of(&[0xfe, 6, 0xaa, 0xbb, 0xcc, 0xdd, 2, 4, 1, 0, 1, 1]).expect("parses");
    assert_eq!(
        opts,
        Options {
            mss: Some(256),
            ..Options::default()
        }
    );
}

#[test]
fn eol_ends_the_list_and_the_zeros_after_it_are_ignored() {
    let opts = options_of(&[2, 4, 5, 0xb4, 0, 0, 0, 0]).expect("parses");
    assert_eq!(
        opts,
        Options {
            mss: Some(1460),
            ..Options::default()
        }
    );
    // Whatever follows EOL is not parsed, even if it would be an error.
    let opts = options_of(&[3, 3, 2, 0, 2, 1, 0xff, 0xff]).expect("parses");
    assert_eq!(opts.window_scale, Some(2));
    assert_eq!(opts.mss, None);
}

#[test]
fn option_seen_twice_keeps_the_last_value() {
    let opts = options_of(&[2, 4, 0, 1, 2, 4, 0, 2]).expect("parses");
    assert_eq!(opts.mss, Some(2));
}

#[test]
fn sack_blocks_decode_in_order() {
    let opts =
        options_of(&[1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]).expect("parses");
    let blocks = opts.sack_blocks.as_slice();
    assert_eq!(
        blocks,
        &[
            SackBlock {
                left: SeqNum(1),
                right: SeqNum(2)
            },
            SackBlock {
                left: SeqNum(3),
                right: SeqNum(4)
            }
        ]
    );
}

#[test]
fn sack_permitted_without_timestamps_uses_linux_layout() {
    let seg = Segment {
        options: Options {
            mss: Some(536),
            sack_permitted: true,
            window_scale: Some(7),
            ..Options::default()
        },
        ..Segment::default()
    };
    let mut out = [0u8; 60];
    let n = seg
        .encode(&mut out, &V4, ChecksumMode::Skip)
        .expect("encodes");
    // Linux's SYN-ACK in packetdrill's close-remote-fin-then-close.pkt:
    // <mss 1460,nop,nop,sackOK,nop,wscale 8>.
    assert_eq!(&out[20..n], &[2, 4, 2, 24, 1, 1, 4, 2, 1, 3, 3, 7]);
    assert_eq!(out[12], (32 / 4) << 4);
}

// ---- header fields ----------------------------------------------------------

#[test]
fn reserved_bits_are_ignored_on_decode_and_written_as_zero() {
    let mut s = raw(&[], &[]);
    s[12] |= 0x0f;
    fix_checksum(&mut s, &V4);
    let seg = decode(&s).expect("decodes");
    let mut out = [0u8; 20];
    seg.encode(&mut out, &V4, ChecksumMode::Verify)
        .expect("encodes");
    assert_eq!(out[12], 5 << 4);
}

#[test]
fn all_eight_flag_bits_round_trip() {
    let mut s = raw(&[], &[]);
    s[13] = 0xff;
    fix_checksum(&mut s, &V4);
    let seg = decode(&s).expect("decodes");
    assert!(seg.flags.contains(Flags::ECE) && seg.flags.contains(Flags::CWR) && seg.flags.fin());
    let mut out = [0u8; 20];
    seg.encode(&mut out, &V4, ChecksumMode::Verify)
        .expect("encodes");
    assert_eq!(out.as_slice(), s.as_slice());
}

#[test]
fn skip_mode_writes_a_zero_checksum() {
    let seg = decode(&raw(&[], b"xyz")).expect("decodes");
    let mut out = [0xaau8; 23];
    seg.encode(&mut out, &V4, ChecksumMode::Skip)
        .expect("encodes");
    assert_eq!(&out[16..18], &[0, 0]);
}

#[test]
fn payload_is_not_copied_when_decoding_from_bytes() {
    let packet = Bytes::from(raw(&[1, 1, 1, 1], &[7u8; 100]));
    let seg = Segment::decode(&packet, &V4, ChecksumMode::Verify).expect("decodes");
    assert_eq!(seg.payload.len(), 100);
    let range = packet.as_ptr_range();
    let p = seg.payload.as_ptr();
    assert!(range.contains(&p), "payload points outside the packet");
    assert_eq!(p, packet[24..].as_ptr());
}

#[test]
fn decode_slice_copies_the_same_segment() {
    let s = raw(&[2, 4, 5, 0xb4], b"payload!");
    let a = Segment::decode_slice(&s, &V4, ChecksumMode::Verify).expect("decodes");
    assert_eq!(Ok(a), decode(&s));
}

// ---- properties ----------------------------------------------------------------

fn arb_options() -> impl Strategy<Value = Options> {
    (
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<bool>(),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
        any::<Option<(u32, u32)>>(),
    )
        .prop_map(|(mss, window_scale, sack_permitted, blocks, ts)| {
            let mut o = Options {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks: SackBlocks::new(),
                timestamps: ts.map(|(val, ecr)| Timestamps { val, ecr }),
            };
            for (l, r) in blocks {
                o.sack_blocks.push(SackBlock {
                    left: SeqNum(l),
                    right: SeqNum(r),
                });
                if o.encoded_len() > 40 {
                    // Keep only the blocks that fit: rebuild without the last.
                    let keep: Vec<SackBlock> = o
                        .sack_blocks
                        .as_slice()
                        .split_last()
                        .map(|(_, k)| k.to_vec())
                        .unwrap_or_default();
                    o.sack_blocks.clear();
                    for b in keep {
                        o.sack_blocks.push(b);
                    }
                    break;
                }
            }
            o
        })
}

fn arb_segment() -> impl Strategy<Value = Segment> {
    (
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        (any::<u8>(), any::<u16>(), any::<u16>()),
        arb_options(),
        proptest::collection::vec(any::<u8>(), 0..2000),
    )
        .prop_map(
            |((src_port, dst_port, seq, ack), (flags, window, urgent), options, payload)| Segment {
                src_port,
                dst_port,
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: Flags(flags),
                window,
                urgent,
                options,
                payload: Bytes::from(payload),
            },
        )
}

fn to_smoltcp(addrs: &IpPair) -> (smoltcp::wire::IpAddress, smoltcp::wire::IpAddress) {
    use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};
    match *addrs {
        IpPair::V4 { src, dst } => (
            IpAddress::Ipv4(Ipv4Address::from(src)),
            IpAddress::Ipv4(Ipv4Address::from(dst)),
        ),
        IpPair::V6 { src, dst } => (
            IpAddress::Ipv6(Ipv6Address::from(src)),
            IpAddress::Ipv6(Ipv6Address::from(dst)),
        ),
    }
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(seg in arb_segment(), v6 in any::<bool>()) {
        let addrs = if v6 { V6 } else { V4 };
        let len = seg.encoded_len().expect("options fit");
        let mut out = vec![0u8; len + 7];
        let n = seg.encode(&mut out, &addrs, ChecksumMode::Verify).expect("encodes");
        prop_assert_eq!(n, len);
        prop_assert!(verify_checksum(&out[..n], &addrs));
        // An independent implementation agrees with the checksum.
        let (src, dst) = to_smoltcp(&addrs);
        let pkt = smoltcp::wire::TcpPacket::new_checked(&out[..n]).expect("smoltcp parses");
        prop_assert!(pkt.verify_checksum(&src, &dst));
        let bytes = Bytes::copy_from_slice(&out[..n]);
        let back = Segment::decode(&bytes, &addrs, ChecksumMode::Verify).expect("decodes");
        prop_assert_eq!(&back, &seg);
        // From a borrowed slice (the payload made after the fields, not before).
        prop_assert_eq!(Segment::decode_slice(&out[..n], &addrs, ChecksumMode::Verify), Ok(seg.clone()));
        let mut buf = BytesMut::new();
        prop_assert_eq!(seg.encode_into(&mut buf, &addrs, ChecksumMode::Verify), Ok(n));
        prop_assert_eq!(&buf[..], &out[..n]);
    }

    #[test]
    fn encode_into_writes_the_common_header_lengths_as_encode_does(seg in arb_segment(), ts in any::<Option<(u32, u32)>>(), start in 0usize..3) {
        // No options (20 octets) or timestamps alone (32) take encode_into's
        // constant-size header copy; `start` octets already in the buffer.
        let mut seg = seg;
        seg.options = Options {
            timestamps: ts.map(|(val, ecr)| Timestamps { val, ecr }),
            ..Options::default()
        };
        let n = seg.encoded_len().expect("fits");
        prop_assert_eq!(n - seg.payload.len(), if ts.is_some() { 32 } else { 20 });
        let mut out = vec![0u8; n];
        seg.encode(&mut out, &V4, ChecksumMode::Verify).expect("encodes");
        let mut buf = BytesMut::from(&[9u8; 2][..start.min(2)]);
        prop_assert_eq!(seg.encode_into(&mut buf, &V4, ChecksumMode::Verify), Ok(n));
        prop_assert_eq!(&buf[start.min(2)..], &out[..]);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let b = Bytes::from(data);
        for mode in [ChecksumMode::Verify, ChecksumMode::Skip] {
            let _ = Segment::decode(&b, &V4, mode);
            let _ = Segment::decode_slice(&b, &V6, mode);
        }
    }

    #[test]
    fn decoding_mutated_segments_never_panics(
        seg in arb_segment(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut out = vec![0u8; seg.encoded_len().expect("fits")];
        seg.encode(&mut out, &V4, ChecksumMode::Verify).expect("encodes");
        // Mutations land in the header most of the time.
        for (i, v) in edits {
            let hdr = seg.header_len().expect("fits");
            let at = if v & 1 == 0 { i.index(hdr) } else { i.index(out.len()) };
            out[at] = v;
        }
        let full = Bytes::from(out);
        let cut = full.slice(..cut.index(full.len() + 1));
        for b in [&full, &cut] {
            for mode in [ChecksumMode::Verify, ChecksumMode::Skip] {
                // Slicing a `Bytes` and copying a slice decode alike.
                prop_assert_eq!(Segment::decode(b, &V4, mode), Segment::decode_slice(b, &V4, mode));
                if let Ok(s) = Segment::decode(b, &V4, mode) {
                    // Whatever decodes re-encodes, and decodes back to itself.
                    let mut again = vec![0u8; s.encoded_len().expect("what decodes fits")];
                    let n = s.encode(&mut again, &V4, ChecksumMode::Verify).expect("encodes");
                    prop_assert_eq!(n, again.len());
                    let back = Segment::decode(&Bytes::from(again), &V4, ChecksumMode::Verify)
                        .expect("re-encoded segment decodes");
                    prop_assert_eq!(back, s);
                }
            }
        }
    }
}

#[test]
fn window_scale_timestamps_and_three_sack_blocks_encode_packed() {
    // 3 (WS) + 10 (TS) + 26 (3 blocks) = 39 octets on the wire, as another
    // TCP may send them; Linux's padded layout would need 44.
    let mut opts = vec![3, 3, 7, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 26];
    for i in 0..6u32 {
        opts.extend_from_slice(&(1000 * i).to_be_bytes());
    }
    opts.push(0);
    assert_eq!(opts.len(), 40);
    let seg = decode(&raw(&opts, b"x")).expect("decodes");
    assert_eq!(seg.options.sack_blocks.len(), 3);
    assert_eq!(seg.encoded_len(), Ok(20 + 40 + 1));
    let mut out = vec![0u8; 61];
    assert_eq!(seg.encode(&mut out, &V4, ChecksumMode::Verify), Ok(61));
    assert_eq!(decode(&out), Ok(seg.clone()));
    let mut buf = BytesMut::new();
    assert_eq!(seg.encode_into(&mut buf, &V4, ChecksumMode::Verify), Ok(61));
    assert_eq!(&buf[..], &out[..]);
}

#[test]
fn sack_blocks_compare_by_the_blocks_held_only() {
    let mut a = SackBlocks::new();
    a.push(SackBlock {
        left: SeqNum(5),
        right: SeqNum(9),
    });
    a.clear();
    assert_eq!(a, SackBlocks::new());
}
