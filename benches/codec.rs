//! Codec and checksum benchmarks, against smoltcp 0.14 measured in the
//! same run: decode+verify and encode+checksum of a 1460-octet segment
//! with the timestamps option, and the bare Internet checksum.
use bytes::Bytes;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, Ipv4Address, TcpPacket, TcpRepr};
use tcp_proto::wire::{Timestamps, checksum};
use tcp_proto::{ChecksumMode, Flags, IpPair, Options, Segment, SeqNum};

const SRC: [u8; 4] = [192, 0, 2, 1];
const DST: [u8; 4] = [192, 0, 2, 2];
const ADDRS: IpPair = IpPair::V4 { src: SRC, dst: DST };

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

fn codec(c: &mut Criterion) {
    let seg = segment();
    let len = seg.encoded_len().expect("fits");
    let mut wire = vec![0u8; len];
    seg.encode(&mut wire, &ADDRS, ChecksumMode::Verify)
        .expect("encodes");
    let packet = Bytes::from(wire.clone());
    let (src, dst) = (
        IpAddress::Ipv4(Ipv4Address::from(SRC)),
        IpAddress::Ipv4(Ipv4Address::from(DST)),
    );
    let caps = ChecksumCapabilities::default();
    // Sanity: both crates accept the segment and agree on it.
    let theirs = TcpRepr::parse(
        &TcpPacket::new_checked(&wire[..]).expect("smoltcp"),
        &src,
        &dst,
        &caps,
    )
    .expect("smoltcp parses");
    assert_eq!(theirs.payload.len(), 1460);
    assert_eq!(theirs.buffer_len(), len);

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tcp-proto/decode+verify", |b| {
        b.iter(|| Segment::decode(black_box(&packet), &ADDRS, ChecksumMode::Verify).expect("ok"))
    });
    g.bench_function("smoltcp/decode+verify", |b| {
        b.iter(|| {
            let p = TcpPacket::new_checked(black_box(&wire[..])).expect("ok");
            TcpRepr::parse(&p, &src, &dst, &caps)
                .expect("ok")
                .seq_number
        })
    });
    let mut out = vec![0u8; 1600];
    g.bench_function("tcp-proto/encode+checksum", |b| {
        b.iter(|| {
            black_box(&seg)
                .encode(&mut out, &ADDRS, ChecksumMode::Verify)
                .expect("ok")
        })
    });
    g.bench_function("smoltcp/encode+checksum", |b| {
        b.iter(|| {
            let repr = black_box(&theirs);
            let mut p = TcpPacket::new_unchecked(&mut out[..len]);
            repr.emit(&mut p, &src, &dst, &caps);
            p.checksum()
        })
    });
    g.finish();
}

fn checksum_group(c: &mut Criterion) {
    let data = payload();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("tcp-proto/1460", |b| {
        b.iter(|| checksum(0, black_box(&data)))
    });
    g.bench_function("smoltcp/1460", |b| {
        b.iter(|| smoltcp::wire::checksum::data(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, codec, checksum_group);
criterion_main!(benches);
