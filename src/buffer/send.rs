//! Send buffer: data queued by the application, then kept until acknowledged.
//!
//! The application queues octets two ways: `send(&[u8])` copies them into a
//! staging block, `send_bytes(Bytes)` queues the caller's buffer as it is.
//! A segment is cut from the front of the queue without copying when the
//! front chunk holds enough; when it is shorter than the segment and more
//! is queued behind it, the segment is gathered (copied) from several
//! chunks into a gather block, so that Nagle (SHLD-7) and sender SWS
//! avoidance (MUST-38) see full-sized segments however the octets were queued.
//!
//! Copies: `send` copies each octet once (a full staging block is frozen
//! and a new one started, never reallocated with its contents); a gathered
//! segment copies its octets once more. Blocks are allocated in sizes up to
//! [`STAGING_BLOCK`] and reused once what was cut from them is acknowledged,
//! so neither path allocates per segment; once everything is sent and
//! acknowledged, the buffer lets go of its blocks (an idle connection keeps none).

use super::recv::KEEP_QUEUE;
use crate::seq::SeqNum;
use crate::time::Instant;
use alloc::collections::VecDeque;
use bytes::{Buf, Bytes, BytesMut};

/// Largest staging block (never more than the send buffer).
const STAGING_BLOCK: usize = 256 * 1024;

/// Largest gather block.
const GATHER_BLOCK: usize = 64 * 1024;

/// Smallest staging block (a short message on an idle connection).
const MIN_BLOCK: usize = 1024;

/// One segment in flight, as first sent.
#[derive(Debug)]
struct Sent {
    seq: SeqNum,
    data: Bytes,
    /// When it was last (re)transmitted.
    xmit: Instant,
    /// Whether it was ever retransmitted (Karn, RFC 6298 §3).
    rtx: bool,
    /// Whether it went out with PSH (a retransmission of its end keeps it).
    psh: bool,
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
    /// Chunks queued and not sent, in order; `staging`'s octets follow them.
    unsent: VecDeque<Bytes>,
    /// Copies made by `send(&[u8])`, after every chunk in `unsent`.
    staging: BytesMut,
    /// Where segments spanning several chunks are gathered.
    gather: BytesMut,
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
            gather: BytesMut::new(),
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

    /// A block size for `want` more octets: small for a short message on an
    /// idle connection, up to [`STAGING_BLOCK`] for a bulk sender.
    fn block_size(&self, want: usize) -> usize {
        (self.unsent_len + want)
            .next_power_of_two()
            .clamp(MIN_BLOCK, STAGING_BLOCK)
            .min(self.capacity.max(want))
    }

    /// Copies as much of `data` as fits; returns the count. Each octet is
    /// copied once: a full block is frozen into the queue and a fresh one
    /// started, never grown by moving what it holds.
    pub(crate) fn push_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let mut rest = &data[..n];
        while !rest.is_empty() {
            let mut spare = self.staging.capacity() - self.staging.len();
            if spare == 0 {
                // Freeze what is staged, then start a block: `reserve` on the
                // now empty buffer reuses its allocation when every segment
                // cut from it has been acknowledged, and copies nothing.
                self.flush_staging();
                let size = self.block_size(rest.len());
                self.staging.reserve(size);
                spare = self.staging.capacity() - self.staging.len();
            }
            let (now, later) = rest.split_at(spare.min(rest.len()));
            self.staging.extend_from_slice(now);
            self.unsent_len += now.len();
            rest = later;
        }
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

    /// Moves the staged copies into the chunk queue (the block's spare
    /// capacity stays in `staging`).
    fn flush_staging(&mut self) {
        if !self.staging.is_empty() {
            self.unsent.push_back(self.staging.split().freeze());
        }
    }

    /// Length of the chunk at the front of the queue.
    fn front_len(&self) -> usize {
        self.unsent.front().map_or(self.staging.len(), Bytes::len)
    }

    /// Takes `n` octets (at most the front chunk) off the front, without copying.
    fn split_front(&mut self, n: usize) -> Bytes {
        match self.unsent.front_mut() {
            Some(front) if front.len() <= n => self.unsent.pop_front().unwrap_or_default(),
            Some(front) => front.split_to(n),
            None => self.staging.split_to(n.min(self.staging.len())).freeze(),
        }
    }

    /// Copies `n` octets off the front, across chunks, into the gather block.
    fn gather_front(&mut self, n: usize) -> Bytes {
        if self.gather.capacity() - self.gather.len() < n {
            // Room for a few dozen segments: one allocation per block, not per segment.
            let size = n.saturating_mul(32).clamp(MIN_BLOCK, GATHER_BLOCK).max(n);
            self.gather.reserve(size);
        }
        let mut left = n;
        while left > 0 {
            let piece = self.split_front(left);
            if piece.is_empty() {
                break;
            }
            left -= piece.len();
            self.gather.extend_from_slice(&piece);
        }
        self.gather.split().freeze()
    }

    /// Moves up to `max` unsent octets (starting at sequence `seq`) into the
    /// in-flight queue and returns them: `min(max, unsent)` octets, sliced
    /// from one chunk when it holds them, gathered from several otherwise.
    pub(crate) fn take_unsent(&mut self, seq: SeqNum, max: usize, now: Instant) -> Bytes {
        let n = max.min(self.unsent_len);
        if n == 0 {
            return Bytes::new();
        }
        let data = if self.front_len() >= n {
            self.split_front(n)
        } else {
            self.gather_front(n)
        };
        self.unsent_len -= data.len();
        self.sent_len += data.len();
        self.sent.push_back(Sent {
            seq,
            data: data.clone(),
            xmit: now,
            rtx: false,
            psh: false,
        });
        data
    }

    /// Records that the entry last taken by [`take_unsent`](Self::take_unsent)
    /// went out with PSH.
    pub(crate) fn mark_last_pushed(&mut self) {
        if let Some(e) = self.sent.back_mut() {
            e.psh = true;
        }
    }

    /// Whether in-flight data ending at `end` ends an entry sent with PSH.
    pub(crate) fn pushed_up_to(&self, end: SeqNum) -> bool {
        self.entry_at(end.sub(1))
            .and_then(|i| self.sent.get(i))
            .is_some_and(|e| e.psh && e.seq.add(e.data.len() as u32) == end)
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
        if self.sent_len == 0 && self.unsent_len == 0 {
            // Everything sent is acknowledged and nothing waits: an idle
            // connection keeps no staging or gather block, and no queue
            // storage of a message exchange (queues grown by a bulk flow,
            // which drains now and then, stay: see `KEEP_QUEUE`).
            self.staging = BytesMut::new();
            self.gather = BytesMut::new();
            if self.sent.capacity() <= KEEP_QUEUE {
                self.sent = VecDeque::new();
            }
            if self.unsent.capacity() <= KEEP_QUEUE {
                self.unsent = VecDeque::new();
            }
        }
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
        assert_eq!(
            p3.len(),
            580,
            "gathered across the staged copy and the Bytes"
        );
        assert_eq!(&p3[..80], &[1u8; 80][..]);
        assert_eq!(&p3[80..], &[2u8; 500][..]);
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
    fn small_chunks_are_gathered_into_full_segments() {
        let mut b = SendBuffer::new(100_000);
        for i in 0..1000u32 {
            assert_eq!(b.push_bytes(Bytes::from(alloc::vec![i as u8; 10])), 10);
        }
        let s0 = SeqNum(u32::MAX - 5);
        let mut seq = s0;
        let mut segs = 0;
        while b.unsent_len() > 0 {
            let p = b.take_unsent(seq, 1448, Instant::ZERO);
            assert!(p.len() == 1448 || b.unsent_len() == 0, "{}", p.len());
            for (k, o) in p.iter().enumerate() {
                let i = (seq.dist(s0) as usize + k) / 10;
                assert_eq!(*o, i as u8);
            }
            seq = seq.add(p.len() as u32);
            segs += 1;
        }
        assert_eq!(segs, 7);
        assert_eq!(b.sent_slice(s0.add(1448), 20).len(), 20);
    }

    #[test]
    fn staged_copies_are_never_moved_and_an_idle_buffer_keeps_no_block() {
        let mut b = SendBuffer::new(1 << 20);
        let data = alloc::vec![7u8; 200_000];
        assert_eq!(b.push_slice(&data), 200_000);
        // Blocks of at most 64 KiB, each filled once, none reallocated.
        assert!(b.unsent.iter().all(|c| c.len() <= STAGING_BLOCK));
        let mut seq = SeqNum(1);
        while b.unsent_len() > 0 {
            let p = b.take_unsent(seq, 1448, Instant::ZERO);
            seq = seq.add(p.len() as u32);
        }
        assert_eq!(b.ack(seq).octets, 200_000);
        assert_eq!(b.len(), 0);
        assert_eq!(b.staging.capacity(), 0);
        assert_eq!(b.gather.capacity(), 0);
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
