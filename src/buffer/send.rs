//! Send buffer: data queued by the application, then kept until acknowledged.

use crate::seq::SeqNum;
use crate::time::Instant;
use alloc::collections::VecDeque;
use bytes::{Buf, Bytes, BytesMut};

/// Fresh staging space is reserved in blocks of this size, so copies from
/// `send(&[u8])` cost one allocation per block, not one per segment.
const STAGING_BLOCK: usize = 64 * 1024;

/// One segment in flight, as first sent.
#[derive(Debug)]
struct Sent {
    seq: SeqNum,
    data: Bytes,
    /// When it was last (re)transmitted.
    xmit: Instant,
    /// Whether it was ever retransmitted (Karn, RFC 6298 §3).
    rtx: bool,
}

/// What a cumulative ACK freed, for RTT sampling (RFC 6298 §3, RFC 8985 §6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Acked {
    /// Octets freed.
    pub octets: usize,
    /// Send time of the oldest newly acknowledged segment never retransmitted.
    pub first_xmit: Option<Instant>,
    /// Send time of the newest newly acknowledged segment never retransmitted.
    pub last_xmit: Option<Instant>,
    /// Whether any newly acknowledged segment had been retransmitted.
    pub rtx_acked: bool,
    /// Last transmission time of the highest newly acknowledged segment.
    pub head_xmit: Option<Instant>,
    /// The latest last-transmission time among the newly acknowledged
    /// segments, and whether that one had been retransmitted (RACK).
    pub max_xmit: Option<(Instant, bool)>,
}

/// Queued and in-flight data. `sent` holds what has been transmitted and not
/// acknowledged, one entry per original segment (so a retransmission resends
/// the same octets, and the queue is never split further); `unsent` and then
/// `staging` hold what waits.
#[derive(Debug)]
pub(crate) struct SendBuffer {
    sent: VecDeque<Sent>,
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
    pub(crate) fn take_unsent(&mut self, seq: SeqNum, max: usize, now: Instant) -> Bytes {
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
        self.sent.push_back(Sent {
            seq,
            data: data.clone(),
            xmit: now,
            rtx: false,
        });
        data
    }

    /// Index of the in-flight entry holding `seq`.
    fn entry_at(&self, seq: SeqNum) -> Option<usize> {
        let first = self.sent.front()?.seq;
        let off = seq.dist(first) as usize;
        if off >= self.sent_len {
            return None;
        }
        let i = self
            .sent
            .partition_point(|e| e.seq.dist(first) as usize <= off)
            .checked_sub(1)?;
        let e = self.sent.get(i)?;
        (seq.dist(e.seq) < e.data.len() as u32).then_some(i)
    }

    /// Records a retransmission of the entry holding `seq` at `now`.
    pub(crate) fn mark_retransmitted(&mut self, seq: SeqNum, now: Instant) {
        if let Some(i) = self.entry_at(seq)
            && let Some(e) = self.sent.get_mut(i)
        {
            e.rtx = true;
            e.xmit = now;
        }
    }

    /// When the entry holding `seq` was last sent, and whether it was ever
    /// retransmitted.
    #[cfg(test)]
    pub(crate) fn xmit_of(&self, seq: SeqNum) -> Option<(Instant, bool)> {
        self.entry_info(seq).map(|(t, r, _)| (t, r))
    }

    /// For the entry holding `seq`: when it was last sent, whether it was
    /// ever retransmitted, and where it ends.
    pub(crate) fn entry_info(&self, seq: SeqNum) -> Option<(Instant, bool, SeqNum)> {
        let e = self.sent.get(self.entry_at(seq)?)?;
        Some((e.xmit, e.rtx, e.seq.add(e.data.len() as u32)))
    }

    /// Where the last in-flight entry starts (a tail loss probe resends it).
    pub(crate) fn last_entry_start(&self) -> Option<SeqNum> {
        self.sent.back().map(|e| e.seq)
    }

    /// Up to `max` in-flight octets starting at `seq`, for a retransmission.
    /// Empty when `seq` is not inside the in-flight data.
    pub(crate) fn sent_slice(&self, seq: SeqNum, max: usize) -> Bytes {
        // Entries are contiguous and in order: find the last one starting at or before `seq`.
        match self.entry_at(seq).and_then(|i| self.sent.get(i)) {
            Some(e) => {
                let skip = seq.dist(e.seq) as usize;
                e.data
                    .slice(skip..e.data.len().min(skip.saturating_add(max)))
            }
            None => Bytes::new(),
        }
    }

    /// Drops every in-flight octet before `una`; says what was freed.
    pub(crate) fn ack(&mut self, una: SeqNum) -> Acked {
        let mut a = Acked::default();
        while let Some(e) = self.sent.front_mut() {
            if !e.seq.lt(una) {
                break;
            }
            let end = e.seq.add(e.data.len() as u32);
            if e.rtx {
                a.rtx_acked = true;
            } else {
                a.first_xmit = a.first_xmit.or(Some(e.xmit));
                a.last_xmit = Some(e.xmit);
            }
            a.head_xmit = Some(e.xmit);
            if a.max_xmit.is_none_or(|(t, _)| e.xmit >= t) {
                a.max_xmit = Some((e.xmit, e.rtx));
            }
            if end.le(una) {
                a.octets += e.data.len();
                self.sent.pop_front();
            } else {
                let n = una.dist(e.seq) as usize;
                e.data.advance(n);
                e.seq = una;
                a.octets += n;
                break;
            }
        }
        self.sent_len -= a.octets;
        a
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
        let t = |ms| Instant::from_millis(ms);
        let p1 = b.take_unsent(s0, 1460, t(1));
        assert_eq!(p1.len(), 1460);
        let p2 = b.take_unsent(s0.add(1460), 1460, t(2));
        assert_eq!(p2.len(), 1460);
        let p3 = b.take_unsent(s0.add(2920), 1460, t(3));
        assert_eq!(p3.len(), 80, "stops at the boundary of the staged copy");
        let p4 = b.take_unsent(s0.add(3000), 1460, t(4));
        assert_eq!(&p4[..], &[2u8; 500][..]);
        assert_eq!(b.unsent_len(), 0);
        assert_eq!(b.sent_slice(s0.add(1000), 1460).len(), 460);
        assert_eq!(b.sent_slice(s0.add(3000), 10).len(), 10);
        assert!(b.sent_slice(s0.add(3500), 10).is_empty());
        b.mark_retransmitted(s0.add(1500), t(9));
        assert_eq!(b.xmit_of(s0.add(2919)), Some((t(9), true)));
        assert_eq!(b.xmit_of(s0.add(2920)), Some((t(3), false)));
        let a = b.ack(s0.add(2000));
        assert_eq!(a.octets, 2000);
        assert_eq!((a.first_xmit, a.last_xmit), (Some(t(1)), Some(t(1))));
        assert!(a.rtx_acked, "the second segment was retransmitted");
        assert_eq!(a.head_xmit, Some(t(9)));
        assert_eq!(b.sent_slice(s0.add(2000), 2000).len(), 920);
        assert_eq!(b.ack(s0.add(3500)).octets, 1500);
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
