//! Codec and checksum benchmarks, against smoltcp measured in the same run.
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

fn checksum(c: &mut Criterion) {
    let data: Vec<u8> = (0..1460u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("tcp-proto/1460", |b| {
        b.iter(|| tcp_proto::wire::checksum(0, black_box(&data)))
    });
    g.bench_function("smoltcp/1460", |b| {
        b.iter(|| smoltcp::wire::checksum::data(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, checksum);
criterion_main!(benches);
