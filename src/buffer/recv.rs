//! Receive buffer: in-order data waiting for the application, and
//! out-of-order segments waiting for the hole before them (SHLD-31).

use crate::seq::SeqNum;
use alloc::collections::VecDeque;
use bytes::{Buf, Bytes};

/// Received data. Everything held lies inside the window we advertised, so
/// the octets held never exceed `capacity`.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    ready: VecDeque<Bytes>,
    ready_len: usize,
    /// Out-of-order segments: sorted, disjoint, all after RCV.NXT.
    ooo: VecDeque<(SeqNum, Bytes)>,
    ooo_len: usize,
    capacity: usize,
    /// Most out-of-order pieces held at once; bounds bookkeeping per octet
    /// for a peer that sends a window full of one-octet fragments.
    max_pieces: usize,
}

/// What an insertion did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Octets by which RCV.NXT advanced (now readable).
    pub advanced: u32,
    /// Whether the segment was out of order (stored, or dropped for lack of pieces).
    pub out_of_order: bool,
    /// Whether out-of-order data is still held after this insertion.
    pub holes_left: bool,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            ready: VecDeque::new(),
            ready_len: 0,
            ooo: VecDeque::new(),
            ooo_len: 0,
            capacity,
            max_pieces: (capacity / 256).max(64),
        }
    }

    /// Changes the capacity (a live SO_RCVBUF). The caller keeps it at
    /// least as large as what is held plus the window already advertised.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(self.ready_len + self.ooo_len);
        self.max_pieces = (self.capacity / 256).max(64);
    }

    /// Octets the application can read.
    pub(crate) fn readable(&self) -> usize {
        self.ready_len
    }

    /// Octets held out of order.
    #[cfg(test)]
    pub(crate) fn ooo_len(&self) -> usize {
        self.ooo_len
    }

    /// Octets held: readable plus out of order.
    pub(crate) fn held(&self) -> usize {
        self.ready_len + self.ooo_len
    }

    /// Room for new data past RCV.NXT: the receive window before rounding.
    pub(crate) fn window(&self) -> usize {
        self.capacity.saturating_sub(self.ready_len)
    }

    /// Whether out-of-order data is held.
    pub(crate) fn has_holes(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Stores `data` that starts at `seq`, already trimmed to the window
    /// (`rcv_nxt =< seq`, end within the window). Returns how far RCV.NXT moves.
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: Bytes) -> Inserted {
        if data.is_empty() {
            return Inserted {
                holes_left: self.has_holes(),
                ..Inserted::default()
            };
        }
        if seq != rcv_nxt {
            self.insert_ooo(seq, data);
            return Inserted {
                advanced: 0,
                out_of_order: true,
                holes_left: self.has_holes(),
            };
        }
        let mut next = seq.add(data.len() as u32);
        self.push_ready(data);
        let had_holes = self.has_holes();
        // Pull every out-of-order piece that is now contiguous.
        while let Some((s, _)) = self.ooo.front() {
            if s.gt(next) {
                break;
            }
            let Some((s, mut b)) = self.ooo.pop_front() else {
                break;
            };
            self.ooo_len -= b.len();
            let overlap = next.dist(s) as usize;
            if overlap < b.len() {
                b.advance(overlap);
                next = next.add(b.len() as u32);
                self.push_ready(b);
            }
        }
        Inserted {
            advanced: next.dist(rcv_nxt),
            out_of_order: had_holes,
            holes_left: self.has_holes(),
        }
    }

    fn push_ready(&mut self, b: Bytes) {
        self.ready_len += b.len();
        self.ready.push_back(b);
    }

    fn insert_ooo(&mut self, mut s: SeqNum, mut data: Bytes) {
        // First piece that ends after `s` (pieces are sorted and disjoint, so ends are sorted too).
        let mut i = self
            .ooo
            .partition_point(|(ps, pb)| ps.add(pb.len() as u32).le(s));
        while !data.is_empty() {
            let Some(&(ps, ref pb)) = self.ooo.get(i) else {
                if self.ooo.len() < self.max_pieces {
                    self.ooo_len += data.len();
                    self.ooo.push_back((s, data));
                }
                return;
            };
            let pe = ps.add(pb.len() as u32);
            if s.lt(ps) {
                let n = (ps.dist(s) as usize).min(data.len());
                if self.ooo.len() >= self.max_pieces {
                    return;
                }
                let head = data.split_to(n);
                self.ooo_len += head.len();
                self.ooo.insert(i, (s, head));
                s = s.add(n as u32);
                i += 1;
            } else {
                let n = (pe.dist(s) as usize).min(data.len());
                data.advance(n);
                s = s.add(n as u32);
                i += 1;
            }
        }
    }

    /// Copies readable data into `buf`; returns the count.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = self.ready.front_mut() else {
                break;
            };
            let k = front.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&front[..k]);
            front.advance(k);
            n += k;
            if front.is_empty() {
                self.ready.pop_front();
            }
        }
        self.ready_len -= n;
        n
    }

    /// Takes up to `max` readable octets without copying (one stored piece at most).
    pub(crate) fn read_bytes(&mut self, max: usize) -> Bytes {
        let Some(front) = self.ready.front_mut() else {
            return Bytes::new();
        };
        let out = if front.len() <= max {
            self.ready.pop_front().unwrap_or_default()
        } else {
            front.split_to(max)
        };
        self.ready_len -= out.len();
        out
    }

    /// The run of contiguous out-of-order data that holds `seq`, as
    /// `(left, right)`: what a SACK block reports (RFC 2018 §4).
    pub(crate) fn ooo_run(&self, seq: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let end_of = |i: usize| self.ooo.get(i).map(|(s, b)| s.add(b.len() as u32));
        let i = self
            .ooo
            .partition_point(|(ps, pb)| ps.add(pb.len() as u32).le(seq));
        let &(start, _) = self.ooo.get(i)?;
        if seq.lt(start) {
            return None;
        }
        let (mut lo, mut hi) = (i, i);
        while lo > 0 && end_of(lo - 1) == Some(self.ooo[lo].0) {
            lo -= 1;
        }
        while hi + 1 < self.ooo.len() && end_of(hi) == Some(self.ooo[hi + 1].0) {
            hi += 1;
        }
        Some((self.ooo[lo].0, end_of(hi)?))
    }

    /// The first out-of-order data already held inside `[seq, end)`, as
    /// `(left, right)`: a duplicate that D-SACK reports (RFC 2883 §4).
    pub(crate) fn ooo_overlap(&self, seq: SeqNum, end: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let i = self
            .ooo
            .partition_point(|(ps, pb)| ps.add(pb.len() as u32).le(seq));
        let (ps, pb) = self.ooo.get(i)?;
        if !ps.lt(end) {
            return None;
        }
        let left = if ps.gt(seq) { *ps } else { seq };
        let pe = ps.add(pb.len() as u32);
        Some((left, if pe.lt(end) { pe } else { end }))
    }

    /// Discards everything (on abort or reset).
    pub(crate) fn clear(&mut self) {
        self.ready.clear();
        self.ooo.clear();
        self.ready_len = 0;
        self.ooo_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_pieces_fill_in_across_the_wrap() {
        let mut r = RecvBuffer::new(100_000);
        let base = SeqNum(u32::MAX - 3);
        let data: alloc::vec::Vec<u8> = (0..30u8).collect();
        let bytes = Bytes::from(data.clone());
        assert_eq!(
            r.insert(base, base.add(20), bytes.slice(20..30)).advanced,
            0
        );
        assert_eq!(r.insert(base, base.add(5), bytes.slice(5..12)).advanced, 0);
        assert_eq!(r.insert(base, base.add(8), bytes.slice(8..22)).advanced, 0);
        assert_eq!(r.ooo_len(), 25);
        let ins = r.insert(base, base, bytes.slice(0..6));
        assert_eq!(ins.advanced, 30);
        assert!(!ins.holes_left);
        let mut out = [0u8; 64];
        assert_eq!(r.read(&mut out), 30);
        assert_eq!(&out[..30], &data[..]);
    }

    proptest! {
        #[test]
        fn any_arrival_order_delivers_each_octet_once_in_order(
            cuts in proptest::collection::vec((0usize..400, 1usize..60), 1..60),
        ) {
            let data: alloc::vec::Vec<u8> = (0..400u32).map(|i| (i * 7 % 251) as u8).collect();
            let bytes = Bytes::from(data.clone());
            let mut r = RecvBuffer::new(1 << 16);
            let base = SeqNum(u32::MAX - 150);
            let mut nxt = base;
            let mut pieces: alloc::vec::Vec<(usize, usize)> = cuts.iter().map(|&(a, l)| (a, (a + l).min(400))).collect();
            pieces.push((0, 400)); // guarantees completion at the end
            for (a, b) in pieces {
                // Trim to RCV.NXT as the connection does before inserting.
                let start = a.max(nxt.dist(base) as usize);
                if start >= b { continue; }
                let ins = r.insert(nxt, base.add(start as u32), bytes.slice(start..b));
                nxt = nxt.add(ins.advanced);
            }
            prop_assert_eq!(nxt.dist(base), 400);
            let mut out = alloc::vec![0u8; 500];
            let n = r.read(&mut out);
            prop_assert_eq!(&out[..n], &data[..]);
            prop_assert_eq!(r.ooo_len(), 0);
        }
    }
}
