//! What this machine can do at all with 64 MiB: copy it (memcpy), checksum
//! it, and the least work a zero-copy transfer through a wire that encodes
//! and decodes must do: one copy of each segment into a packet buffer that
//! stays in cache, plus two checksum passes over it (sender computes,
//! receiver verifies), at MSS 1460.

use std::hint::black_box;
use tcp_proto::wire::checksum;

use crate::bulk::{TOTAL, pattern};
use crate::{Row, Workload};

/// Which limit.
#[derive(Clone, Copy)]
pub enum Limit {
    /// `copy_from_slice` of 64 MiB into another 64 MiB buffer (glibc memcpy).
    Memcpy,
    /// tcp-proto's Internet checksum over 64 MiB.
    Checksum,
    /// 64 MiB in 1460-octet segments: copy from the 64 KiB pattern into one
    /// in-cache packet buffer, checksum it twice.
    CopyTwoSums(usize),
}

/// A limit workload.
pub struct Limits {
    limit: Limit,
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Limits {
    /// The workload, buffers allocated and touched.
    pub fn new(limit: Limit) -> Limits {
        let pat = pattern();
        let (src, dst) = match limit {
            Limit::Memcpy | Limit::Checksum => {
                let src: Vec<u8> = pat.iter().copied().cycle().take(TOTAL).collect();
                (src, vec![1u8; TOTAL])
            }
            Limit::CopyTwoSums(_) => (pat, vec![1u8; 2048]),
        };
        Limits { limit, src, dst }
    }
}

impl Workload for Limits {
    fn once(&mut self) -> u64 {
        match self.limit {
            Limit::Memcpy => {
                self.dst.copy_from_slice(black_box(&self.src));
                u64::from(self.dst[TOTAL / 2])
            }
            Limit::Checksum => u64::from(checksum(0, black_box(&self.src))),
            Limit::CopyTwoSums(mss) => {
                let mut acc = 0u64;
                let mut done = 0;
                let mut off = 0;
                while done < TOTAL {
                    let n = mss.min(TOTAL - done).min(self.src.len() - off);
                    let pkt = &mut self.dst[..n];
                    pkt.copy_from_slice(black_box(&self.src[off..off + n]));
                    acc += u64::from(checksum(0, black_box(pkt)));
                    acc += u64::from(checksum(0, black_box(pkt)));
                    done += n;
                    off = (off + n) % self.src.len();
                }
                acc
            }
        }
    }
}

/// The limit rows.
pub fn rows() -> Vec<Row> {
    let row = |name: &str, limit: Limit| Row {
        group: "limits-64MiB",
        name: name.into(),
        baselines: Vec::new(),
        callgrind_units: 1,
        make: Box::new(move || Box::new(Limits::new(limit))),
    };
    vec![
        row("memcpy", Limit::Memcpy),
        row("checksum", Limit::Checksum),
        row("copy+2 checksums mss 1460", Limit::CopyTwoSums(1460)),
    ]
}
