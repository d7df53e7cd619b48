//! Send buffer: data queued by the application, then kept until acknowledged.

use crate::seq::SeqNum;
use alloc::collections::VecDeque;
use bytes::{Buf, Bytes, BytesMut};

/// Fresh staging space is reserved in blocks of this size, so copies from
/// `send(&[u8])` cost one allocation per block, not one per segment.
const STAGING_BLOCK: usize = 64 * 1024;

/// Queued and in-flight data. `sent` holds what has been transmitted and not
/// acknowledged, one entry per original segment (so a retransmission resends
/// the same octets); `unsent` and then `staging` hold what waits.
#[derive(Debug)]
pub(crate) struct SendBuffer {
    sent: VecDeque<(SeqNum, Bytes)>,
    sent_len: usize,
    unsent: VecDeque<Bytes>,
    staging: BytesMut,
    unsent_len: usize,
    capacity: usize,
}

impl SendBuffer {
    pub(crate) fn new(capacity: usize) -> SendBuffer {
        SendBuffer {
            sent: VecDeque::new(),
            sent_len: 0,
            unsent: VecDeque::new(),
            staging: BytesMut::new(),
            unsent_len: 0,
            capacity,
        }
    }

    /// Octets held: unacknowledged plus unsent.
    pub(crate) fn len(&self) -> usize {
        self.sent_len + self.unsent_len
    }

    /// Octets queued and never sent.
    pub(crate) fn unsent_len(&self) -> usize {
        self.unsent_len
    }

    /// Changes the capacity (a live SO_SNDBUF); data already queued stays.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Room left for the application.
    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// Copies as much of `data` as fits; returns the count.
    pub(crate) fn push_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        if self.staging.capacity() - self.staging.len() < n {
            self.staging
                .reserve(n.max(STAGING_BLOCK).min(self.capacity.max(n)));
        }
        self.staging.extend_from_slice(&data[..n]);
        self.unsent_len += n;
        n
    }

    /// Queues as much of `data` as fits without copying; returns the count.
    pub(crate) fn push_bytes(&mut self, mut data: Bytes) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        data.truncate(n);
        self.flush_staging();
        self.unsent.push_back(data);
        self.unsent_len += n;
        n
    }

    fn flush_staging(&mut self) {
        if !self.staging.is_empty() {
            self.unsent.push_back(self.staging.split().freeze());
        }
    }

    /// Moves up to `max` unsent octets (starting at sequence `seq`) into the
    /// in-flight queue and returns them. Stops at a boundary between two
    /// `Bytes` the application queued, so that nothing is copied.
    pub(crate) fn take_unsent(&mut self, seq: SeqNum, max: usize) -> Bytes {
        let data = if let Some(front) = self.unsent.front_mut() {
            if front.len() <= max {
                self.unsent.pop_front().unwrap_or_default()
            } else {
                front.split_to(max)
            }
        } else {
            let n = max.min(self.staging.len());
            self.staging.split_to(n).freeze()
        };
        if data.is_empty() {
            return data;
        }
        self.unsent_len -= data.len();
        self.sent_len += data.len();
        self.sent.push_back((seq, data.clone()));
        data
    }

    /// Up to `max` in-flight octets starting at `seq`, for a retransmission.
    /// Empty when `seq` is not inside the in-flight data.
    pub(crate) fn sent_slice(&self, seq: SeqNum, max: usize) -> Bytes {
        // Entries are contiguous and in order: find the last one starting at or before `seq`.
        let Some(&(first, _)) = self.sent.front() else {
            return Bytes::new();
        };
        let off = seq.dist(first) as usize;
        if off >= self.sent_len {
            return Bytes::new();
        }
        let i = self
            .sent
            .partition_point(|(s, _)| s.dist(first) as usize <= off)
            .saturating_sub(1);
        match self.sent.get(i) {
            Some((s, b)) => {
                let skip = seq.dist(*s) as usize;
                if skip >= b.len() {
                    return Bytes::new();
                }
                b.slice(skip..b.len().min(skip.saturating_add(max)))
            }
            None => Bytes::new(),
        }
    }

    /// Drops every in-flight octet before `una`. Returns the count dropped.
    pub(crate) fn ack(&mut self, una: SeqNum) -> usize {
        let mut dropped = 0;
        while let Some((s, b)) = self.sent.front_mut() {
            let end = s.add(b.len() as u32);
            if end.le(una) {
                dropped += b.len();
                self.sent.pop_front();
            } else {
                if s.lt(una) {
                    let n = una.dist(*s) as usize;
                    b.advance(n);
                    *s = una;
                    dropped += n;
                }
                break;
            }
        }
        self.sent_len -= dropped;
        dropped
    }

    /// Octets in flight (sent, unacknowledged).
    pub(crate) fn sent_len(&self) -> usize {
        self.sent_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_slice_retransmit_and_ack_across_the_wrap() {
        let mut b = SendBuffer::new(10_000);
        assert_eq!(b.push_slice(&[1u8; 3000]), 3000);
        assert_eq!(b.push_bytes(Bytes::from_static(&[2u8; 500])), 500);
        let s0 = SeqNum(u32::MAX - 1000);
        let p1 = b.take_unsent(s0, 1460);
        assert_eq!(p1.len(), 1460);
        let p2 = b.take_unsent(s0.add(1460), 1460);
        assert_eq!(p2.len(), 1460);
        let p3 = b.take_unsent(s0.add(2920), 1460);
        assert_eq!(p3.len(), 80, "stops at the boundary of the staged copy");
        let p4 = b.take_unsent(s0.add(3000), 1460);
        assert_eq!(&p4[..], &[2u8; 500][..]);
        assert_eq!(b.unsent_len(), 0);
        assert_eq!(b.sent_slice(s0.add(1000), 1460).len(), 460);
        assert_eq!(b.sent_slice(s0.add(3000), 10).len(), 10);
        assert!(b.sent_slice(s0.add(3500), 10).is_empty());
        assert_eq!(b.ack(s0.add(2000)), 2000);
        assert_eq!(b.sent_slice(s0.add(2000), 2000).len(), 920);
        assert_eq!(b.ack(s0.add(3500)), 1500);
        assert_eq!(b.len(), 0);
        assert_eq!(b.sent_len(), 0);
    }

    #[test]
    fn capacity_bounds_what_is_accepted() {
        let mut b = SendBuffer::new(100);
        assert_eq!(b.push_slice(&[0; 80]), 80);
        assert_eq!(b.push_bytes(Bytes::from_static(&[0; 80])), 20);
        assert_eq!(b.free(), 0);
        assert_eq!(b.push_slice(&[0; 1]), 0);
    }
}
