//! Decodes a real Linux SYN, prints it tcpdump-style, re-encodes it and
//! checks that the octets and the checksum survive the round trip.
use bytes::Bytes;
use std::process::ExitCode;
use tcp_proto::wire::verify_checksum;
use tcp_proto::{ChecksumMode, IpPair, Segment};

/// An IPv4 packet carrying a Linux SYN, 192.0.2.1:52276 -> 192.0.2.2:80.
const SYN: &str = "4500003c185e400040069e5ac0000201c0000202cc340050e285e96900000000a002faf066ba0000020405b40402080a0e33bba6000000000103030a";

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn main() -> ExitCode {
    let Some(ip) = unhex(SYN) else {
        eprintln!("bad hex");
        return ExitCode::FAILURE;
    };
    // The IPv4 header is 20 octets (IHL 5); the TCP segment follows.
    let tcp = Bytes::copy_from_slice(&ip[20..]);
    let addrs = IpPair::V4 {
        src: [192, 0, 2, 1],
        dst: [192, 0, 2, 2],
    };

    let seg = match Segment::decode(&tcp, &addrs, ChecksumMode::Verify) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("decode failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", seg.display_with(&addrs));

    let mut out = [0u8; 60];
    let identical = match seg.encode(&mut out, &addrs, ChecksumMode::Verify) {
        Ok(n) => out.get(..n) == Some(&tcp[..]),
        Err(e) => {
            eprintln!("encode failed: {e}");
            false
        }
    };
    let verifies = verify_checksum(&out[..tcp.len()], &addrs);
    println!("re-encoded identical: {identical}, checksum verifies: {verifies}");
    if identical && verifies {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
