//! Receive buffer: in-order data waiting for the application, and
//! out-of-order segments waiting for the hole before them (SHLD-31).
//!
//! # Memory a peer cannot inflate
//!
//! Octets: everything held lies in `[RCV.NXT − readable, RCV.NXT −
//! readable + capacity + slack)`, where `slack` is one window-scale unit
//! less one (the advertised window is rounded up to the unit so that its
//! edge never moves left, SHLD-14); an insert is cut at that edge whatever
//! the peer sends (MUST-39), so octets held never exceed `capacity + slack`.
//!
//! Memory: a `Bytes` sliced from a packet pins the whole packet buffer, and
//! its size cannot be seen from the slice. The policy (Linux counts the same
//! thing as an skb's truesize and collapses small skbs):
//! - a piece shorter than [`COPY_BELOW`] is not kept as a slice: in-order
//!   ones are copied into a compact block (`tail`, coalescing small
//!   segments), out-of-order ones into an allocation of their own size.
//!   The exception: up to [`SMALL_SLICES`] small in-order slices are held as
//!   they are (a constant), so an application that keeps up pays no copy;
//! - a piece of `COPY_BELOW` octets or more is kept without copying; it
//!   pins its packet buffer, which is assumed to be at most about
//!   1.5·`COPY_BELOW` larger than the payload (an MTU-sized packet buffer).
//!   A caller that decodes from larger buffers (GRO, 64 KiB rings) should
//!   hand over payloads in buffers of their own;
//! - every piece is charged its length plus [`PIECE_OVERHEAD`] (queue slot,
//!   allocator header), the tail block its whole allocation; out-of-order
//!   pieces are bounded in number, and under pressure the highest ones are
//!   dropped first to make room for lower data (Linux `tcp_prune_ofo_queue`).
//!
//! Together: heap ≤ ~2 × `capacity` + a constant whatever the peer sends.

use crate::seq::SeqNum;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use bytes::{Buf, Bytes, BytesMut};
use core::mem::ManuallyDrop;

/// Pieces shorter than this are copied rather than kept as slices of the
/// packet that carried them.
pub(crate) const COPY_BELOW: usize = 1024;

/// What one stored piece costs beyond its octets: its queue slot, a shared
/// header, the allocator's rounding.
pub(crate) const PIECE_OVERHEAD: usize = 96;

/// Small in-order slices kept without copying at once (see `push_ready`).
const SMALL_SLICES: usize = 4;

/// Queues with at most this many slots are let go of when an idle
/// connection's storage is reclaimed (see `reclaim_if_drained`); larger ones
/// are kept for the flow that grew them.
pub(crate) const KEEP_QUEUE: usize = 4;

/// Size of the compact block small in-order segments are copied into.
const BLOCK: usize = 4096;

/// The largest receive buffer (`Config::validate` and `set_recv_buffer`
/// keep it there): lengths fit in `u32` with the window-scale slack.
const MAX_CAPACITY: usize = 1 << 30;

/// The out-of-order queue of a buffer that never held any.
static NO_OOO: VecDeque<(SeqNum, Bytes)> = VecDeque::new();

/// Received data. See the module documentation for the memory bounds.
///
/// Compact (56 octets): what a connection that reads as data arrives needs
/// is inline (the in-order queue and a few counters); the coalescing block
/// and the out-of-order queue live behind one pointer, allocated the first
/// time a small segment has to be copied or a segment arrives out of order.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// In-order data before the tail block.
    /// Each with whether it is a small slice kept as it is (see `small_slices`).
    /// Dropped by hand (see `Drop`), as is `spill`.
    ready: ManuallyDrop<VecDeque<(Bytes, bool)>>,
    /// The tail block and the out-of-order queue, once either was needed.
    spill: ManuallyDrop<Option<Box<Spill>>>,
    /// Octets readable: `ready` plus the tail block.
    ready_len: u32,
    /// At most 2^30 (`Config::validate`, `set_recv_buffer`).
    capacity: u32,
    /// Most out-of-order pieces held at once; bounds bookkeeping per octet
    /// for a peer that sends a window full of one-octet fragments.
    max_pieces: u32,
    /// Small slices of packets held in `ready` (at most [`SMALL_SLICES`]).
    small_slices: u8,
    /// The window-scale shift: octets beyond `capacity` the rounded-up
    /// window may offer are `2^shift - 1` (the slack).
    shift: u8,
}

/// The part of a [`RecvBuffer`] that a reader which keeps up with
/// full-sized in-order segments never touches.
#[derive(Debug, Default)]
struct Spill {
    /// In-order data after `ready`: small segments coalesced into one block.
    tail: BytesMut,
    /// Out-of-order segments: sorted, disjoint, all after RCV.NXT.
    ooo: VecDeque<(SeqNum, Bytes)>,
    ooo_len: u32,
}

/// The capacity and piece limit of a new [`RecvBuffer`] of a given size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvLimits {
    capacity: u32,
    max_pieces: u32,
}

impl RecvLimits {
    /// The limits of a buffer of `capacity` octets.
    pub(crate) fn of(capacity: usize) -> RecvLimits {
        let capacity = capacity.min(MAX_CAPACITY);
        RecvLimits {
            capacity: capacity as u32,
            max_pieces: (capacity / 512).max(32) as u32,
        }
    }
}

/// What an insertion did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Octets by which RCV.NXT advanced (now readable).
    pub advanced: u32,
    /// Whether the segment was out of order (stored, or dropped for lack of room).
    pub out_of_order: bool,
    /// Whether out-of-order data is still held after this insertion.
    pub holes_left: bool,
}

impl RecvBuffer {
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer::with_limits(RecvLimits::of(capacity))
    }

    /// [`new`](Self::new) with its limits computed beforehand (a
    /// `ValidConfig` holds them for its receive buffer size).
    #[inline(always)]
    pub(crate) fn with_limits(limits: RecvLimits) -> RecvBuffer {
        RecvBuffer {
            ready: ManuallyDrop::new(VecDeque::new()),
            spill: ManuallyDrop::new(None),
            ready_len: 0,
            capacity: limits.capacity,
            max_pieces: limits.max_pieces,
            small_slices: 0,
            shift: 0,
        }
    }

    /// Changes the capacity (a live SO_RCVBUF). The caller keeps it at
    /// least as large as what is held plus the window already advertised.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        let capacity = capacity.max(self.held()).min(MAX_CAPACITY);
        self.capacity = capacity as u32;
        self.max_pieces = (capacity / 256).max(64) as u32;
    }

    /// Octets the application can read.
    #[inline]
    pub(crate) fn readable(&self) -> usize {
        self.ready_len as usize
    }

    /// Octets held out of order.
    #[inline]
    pub(crate) fn ooo_len(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.ooo_len as usize)
    }

    /// The out-of-order queue (empty while nothing was ever held).
    #[inline]
    fn ooo(&self) -> &VecDeque<(SeqNum, Bytes)> {
        match &*self.spill {
            Some(s) => &s.ooo,
            None => &NO_OOO,
        }
    }

    /// Octets in the tail block.
    #[inline]
    fn tail_len(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.tail.len())
    }

    /// The spilled part, allocated now if it was not.
    #[inline]
    fn spill(&mut self) -> &mut Spill {
        self.spill.get_or_insert_with(Box::default)
    }

    /// Sets the rounding slack for a window-scale shift of `shift`.
    pub(crate) fn set_scale(&mut self, shift: u8) {
        self.shift = shift.min(14);
    }

    /// Octets beyond `capacity` the rounded-up window may offer (one
    /// window-scale unit less one).
    #[inline]
    fn slack(&self) -> usize {
        (1usize << self.shift) - 1
    }

    /// Octets held: readable plus out of order.
    pub(crate) fn held(&self) -> usize {
        self.readable() + self.ooo_len()
    }

    /// Octets that may still arrive past RCV.NXT: the buffer plus the
    /// window-scale rounding slack, less what is readable. Nothing past it
    /// is ever stored (MUST-39).
    #[inline]
    pub(crate) fn room(&self) -> usize {
        (self.capacity as usize + self.slack()).saturating_sub(self.readable())
    }

    /// Room for new data past RCV.NXT: the receive window before rounding.
    #[inline]
    pub(crate) fn window(&self) -> usize {
        (self.capacity as usize).saturating_sub(self.readable())
    }

    /// Whether out-of-order data is held.
    #[inline]
    pub(crate) fn has_holes(&self) -> bool {
        self.spill.as_ref().is_some_and(|s| !s.ooo.is_empty())
    }

    /// Memory charged for what is held: each piece its octets plus
    /// [`PIECE_OVERHEAD`], the tail block its whole allocation.
    pub(crate) fn charged(&self) -> usize {
        let (tail_alloc, ooo_pieces) = match &*self.spill {
            Some(s) if s.tail.capacity() > 0 || !s.tail.is_empty() => {
                (BLOCK.max(s.tail.len()), s.ooo.len())
            }
            Some(s) => (0, s.ooo.len()),
            None => (0, 0),
        };
        (self.readable() - self.tail_len())
            + self.ready.len() * PIECE_OVERHEAD
            + self.ooo_len()
            + ooo_pieces * PIECE_OVERHEAD
            + tail_alloc
    }

    /// The most memory [`charged`](Self::charged) may reach; out-of-order
    /// data is pruned to stay under it.
    pub(crate) fn mem_limit(&self) -> usize {
        2 * self.capacity as usize + BLOCK
    }

    /// Stores `data` that starts at `seq`, already trimmed to the advertised
    /// window (`rcv_nxt =< seq`). Whatever that window was, only what fits
    /// in `capacity` is kept. Returns how far RCV.NXT moves.
    #[inline]
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: Bytes) -> Inserted {
        // The common cases, inlined: an in-order piece that fits, nothing
        // out of order, no tail block in use, and the piece kept as it is
        // (what `push_ready` does with it then).
        let n = data.len();
        let plain = seq == rcv_nxt
            && n <= self.room()
            && self
                .spill
                .as_ref()
                .is_none_or(|s| s.ooo.is_empty() && s.tail.is_empty());
        if plain && n >= COPY_BELOW {
            self.ready_len += n as u32;
            self.ready.push_back((data, false));
            return Inserted {
                advanced: n as u32,
                out_of_order: false,
                holes_left: false,
            };
        }
        if plain && n > 0 && usize::from(self.small_slices) < SMALL_SLICES {
            self.small_slices += 1;
            self.ready_len += n as u32;
            self.ready.push_back((data, true));
            return Inserted {
                advanced: n as u32,
                out_of_order: false,
                holes_left: false,
            };
        }
        self.insert_general(rcv_nxt, seq, data)
    }

    /// [`insert`](Self::insert) for every other case.
    fn insert_general(&mut self, rcv_nxt: SeqNum, seq: SeqNum, mut data: Bytes) -> Inserted {
        // MUST-39: the right edge of what we hold is `capacity + slack`
        // past the first unread octet, whatever the peer sends.
        let edge = rcv_nxt.add(self.room() as u32);
        let room = if edge.gt(seq) {
            edge.dist(seq) as usize
        } else {
            0
        };
        data.truncate(room);
        if data.is_empty() {
            return Inserted {
                out_of_order: seq != rcv_nxt,
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
        if had_holes {
            // Pull every out-of-order piece that is now contiguous.
            while let Some((s, mut b)) = self.pop_contiguous(next) {
                let overlap = next.dist(s) as usize;
                if overlap < b.len() {
                    b.advance(overlap);
                    next = next.add(b.len() as u32);
                    self.push_ready(b);
                }
            }
            // In-order data has priority over what lies beyond a hole.
            while self.charged() > self.mem_limit() && self.prune_last() {}
        }
        Inserted {
            advanced: next.dist(rcv_nxt),
            out_of_order: had_holes,
            holes_left: self.has_holes(),
        }
    }

    /// The first out-of-order piece if it starts at or before `next`.
    fn pop_contiguous(&mut self, next: SeqNum) -> Option<(SeqNum, Bytes)> {
        let sp = self.spill.as_mut()?;
        if sp.ooo.front()?.0.gt(next) {
            return None;
        }
        let (s, b) = sp.ooo.pop_front()?;
        sp.ooo_len -= b.len() as u32;
        Some((s, b))
    }

    /// Appends in-order data: a large piece as it is, a small one copied
    /// into the tail block (coalescing small segments).
    fn push_ready(&mut self, b: Bytes) {
        let n = b.len();
        self.ready_len += n as u32;
        let tail_empty = self.tail_len() == 0;
        if n < COPY_BELOW && tail_empty && usize::from(self.small_slices) < SMALL_SLICES {
            // A few small slices are kept as they are, so that an
            // application that keeps up pays no copy for the odd short
            // segment; more than that are copied.
            self.small_slices += 1;
            self.ready.push_back((b, true));
            return;
        }
        if n >= COPY_BELOW && tail_empty {
            self.ready.push_back((b, false));
            return;
        }
        let sp = self.spill();
        let room = sp.tail.capacity() - sp.tail.len();
        if n < COPY_BELOW || (!sp.tail.is_empty() && n <= room) {
            if room < n {
                self.freeze_tail();
            }
            let sp = self.spill();
            if sp.tail.capacity() - sp.tail.len() < n {
                sp.tail.reserve(BLOCK.max(n));
            }
            sp.tail.extend_from_slice(&b);
        } else {
            self.freeze_tail();
            self.ready.push_back((b, false));
        }
    }

    /// Moves the tail's octets to the end of `ready`: a well-filled block
    /// as it is, a sparse one as a copy of its own size (the block stays for reuse).
    fn freeze_tail(&mut self) {
        let Some(sp) = self.spill.as_mut() else {
            return;
        };
        if sp.tail.is_empty() {
            return;
        }
        let piece = if sp.tail.len() >= BLOCK / 2 {
            let p = sp.tail.split().freeze();
            sp.tail = BytesMut::new();
            p
        } else {
            let p = Bytes::copy_from_slice(&sp.tail);
            sp.tail.clear();
            p
        };
        self.ready.push_back((piece, false));
    }

    /// A piece to keep out of order: small ones copied to their own size.
    fn compact(b: Bytes) -> Bytes {
        if b.len() < COPY_BELOW {
            Bytes::copy_from_slice(&b)
        } else {
            b
        }
    }

    /// Drops the highest out-of-order piece (Linux `tcp_prune_ofo_queue`).
    fn prune_last(&mut self) -> bool {
        let Some(sp) = self.spill.as_mut() else {
            return false;
        };
        match sp.ooo.pop_back() {
            Some((_, b)) => {
                sp.ooo_len -= b.len() as u32;
                true
            }
            None => false,
        }
    }

    /// Makes room for an `n`-octet piece at index `i` by dropping pieces
    /// above it; `false` when none can be made (the piece is dropped).
    fn make_room(&mut self, i: usize, n: usize) -> bool {
        loop {
            let pieces = self.ooo().len();
            if pieces < self.max_pieces as usize
                && self.charged() + n + PIECE_OVERHEAD <= self.mem_limit()
            {
                return true;
            }
            if pieces <= i || !self.prune_last() {
                return false;
            }
        }
    }

    fn insert_ooo(&mut self, mut s: SeqNum, mut data: Bytes) {
        // First piece that ends after `s` (pieces are sorted and disjoint, so ends are sorted too).
        let mut i = self
            .ooo()
            .partition_point(|(ps, pb)| ps.add(pb.len() as u32).le(s));
        while !data.is_empty() {
            let next = self.ooo().get(i).map(|(ps, pb)| (*ps, pb.len()));
            match next {
                Some((ps, plen)) if !s.lt(ps) => {
                    // `s` lies inside piece i: skip what it already holds.
                    let n = (ps.add(plen as u32).dist(s) as usize).min(data.len());
                    data.advance(n);
                    s = s.add(n as u32);
                    i += 1;
                }
                _ => {
                    // A gap before piece i (or after the last): fill it.
                    let n = match next {
                        Some((ps, _)) => (ps.dist(s) as usize).min(data.len()),
                        None => data.len(),
                    };
                    if !self.make_room(i, n) {
                        return;
                    }
                    let head = Self::compact(data.split_to(n));
                    let sp = self.spill();
                    sp.ooo_len += n as u32;
                    sp.ooo.insert(i, (s, head));
                    s = s.add(n as u32);
                    i += 1;
                }
            }
        }
    }

    /// Copies readable data into `buf`; returns the count.
    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        if self.ready_len == 0 {
            // A reader's last call after draining: nothing to set up.
            return 0;
        }
        // A reader that keeps up: one piece holds everything readable and
        // `buf` takes it whole (what `read_some` would do then, without it).
        if let Some((front, _)) = self.ready.front()
            && front.len() == self.ready_len as usize
            && let Some(dst) = buf.get_mut(..front.len())
        {
            dst.copy_from_slice(front);
            let n = front.len();
            drop(self.pop_ready());
            self.ready_len = 0;
            return n;
        }
        self.read_some(buf)
    }

    /// [`read`](Self::read) with something readable.
    fn read_some(&mut self, buf: &mut [u8]) -> usize {
        // `ready_len` counts `ready` and the tail block: once that much is
        // copied there is nothing left to look at.
        let want = buf.len().min(self.ready_len as usize);
        let mut n = 0;
        while n < want {
            if let Some((front, _)) = self.ready.front_mut() {
                let k = front.len().min(want - n);
                if k == front.len() {
                    // The whole piece: out of the queue, then copied.
                    let b = self.pop_ready();
                    buf[n..n + k].copy_from_slice(&b);
                } else {
                    buf[n..n + k].copy_from_slice(&front[..k]);
                    front.advance(k);
                }
                n += k;
                continue;
            }
            let Some(sp) = self.spill.as_mut() else {
                break;
            };
            let k = sp.tail.len().min(want - n);
            if k == 0 {
                break;
            }
            buf[n..n + k].copy_from_slice(&sp.tail[..k]);
            sp.tail.advance(k);
            n += k;
        }
        self.ready_len -= n as u32;
        n
    }

    /// Takes up to `max` readable octets without copying (one stored piece at most).
    #[inline]
    pub(crate) fn read_bytes(&mut self, max: usize) -> Bytes {
        if self.ready_len == 0 {
            return Bytes::new();
        }
        let out = if let Some((front, _)) = self.ready.front_mut() {
            if front.len() <= max {
                self.pop_ready()
            } else {
                front.split_to(max)
            }
        } else {
            match self.spill.as_mut() {
                Some(sp) => {
                    let k = sp.tail.len().min(max);
                    sp.tail.split_to(k).freeze()
                }
                None => Bytes::new(),
            }
        };
        self.ready_len -= out.len() as u32;
        out
    }

    #[inline]
    fn pop_ready(&mut self) -> Bytes {
        match self.ready.pop_front() {
            Some((b, small)) => {
                self.small_slices -= u8::from(small);
                b
            }
            None => Bytes::new(),
        }
    }

    /// Whether a drained buffer still holds storage that
    /// [`reclaim_if_drained`](Self::reclaim_if_drained) would free.
    pub(crate) fn holds_idle_storage(&self) -> bool {
        (1..=KEEP_QUEUE).contains(&self.ready.capacity())
            || self.spill.as_ref().is_some_and(|sp| {
                // A queue of at most KEEP_QUEUE slots (none: the box itself).
                sp.tail.capacity() > 0 || sp.ooo.capacity() <= KEEP_QUEUE
            })
    }

    /// An idle connection keeps no block, and no queue storage of a
    /// message exchange (a queue grown past [`KEEP_QUEUE`] entries serves a
    /// bulk flow, which would otherwise allocate it again on every drain).
    /// Called from the connection's reclaim timer, never on a read: a
    /// reader that drains after every segment would otherwise free and
    /// allocate once per segment.
    pub(crate) fn reclaim_if_drained(&mut self) {
        if self.ready_len != 0 {
            return;
        }
        if self.ready.is_empty() && (1..=KEEP_QUEUE).contains(&self.ready.capacity()) {
            *self.ready = VecDeque::new();
        }
        if let Some(sp) = self.spill.as_mut() {
            if sp.ooo.is_empty() && sp.ooo.capacity() <= KEEP_QUEUE {
                // Nothing out of order and no grown queue: the whole
                // spilled part goes (the tail block is drained).
                *self.spill = None;
            } else if sp.tail.capacity() > 0 {
                sp.tail = BytesMut::new();
            }
        }
    }

    /// The run of contiguous out-of-order data that holds `seq`, as
    /// `(left, right)`: what a SACK block reports (RFC 2018 §4).
    pub(crate) fn ooo_run(&self, seq: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let ooo = self.ooo();
        let end_of = |i: usize| ooo.get(i).map(|(s, b)| s.add(b.len() as u32));
        let i = ooo.partition_point(|(ps, pb)| ps.add(pb.len() as u32).le(seq));
        let &(start, _) = ooo.get(i)?;
        if seq.lt(start) {
            return None;
        }
        let (mut lo, mut hi) = (i, i);
        while lo > 0 && end_of(lo - 1) == Some(ooo[lo].0) {
            lo -= 1;
        }
        while hi + 1 < ooo.len() && end_of(hi) == Some(ooo[hi + 1].0) {
            hi += 1;
        }
        Some((ooo[lo].0, end_of(hi)?))
    }

    /// The first out-of-order data already held inside `[seq, end)`, as
    /// `(left, right)`: a duplicate that D-SACK reports (RFC 2883 §4).
    pub(crate) fn ooo_overlap(&self, seq: SeqNum, end: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let ooo = self.ooo();
        let i = ooo.partition_point(|(ps, pb)| ps.add(pb.len() as u32).le(seq));
        let (ps, pb) = ooo.get(i)?;
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
        self.small_slices = 0;
        if let Some(sp) = self.spill.as_mut() {
            sp.ooo.clear();
            sp.tail = BytesMut::new();
            sp.ooo_len = 0;
        }
        self.ready_len = 0;
    }
}

/// Dropped by hand so that a buffer that never held storage (most
/// connections end so) costs two inline tests, not the queue's and the
/// box's drop calls.
impl Drop for RecvBuffer {
    #[inline]
    fn drop(&mut self) {
        if self.ready.capacity() != 0 || self.spill.is_some() {
            self.free_storage();
        }
    }
}

impl RecvBuffer {
    /// [`Drop`] of a buffer that held storage: out of line, so that the
    /// drop of one that never did is the two tests, inlined into its owner's.
    #[cold]
    #[inline(never)]
    fn free_storage(&mut self) {
        if self.ready.capacity() != 0 {
            drop(core::mem::take(&mut *self.ready));
        }
        drop(self.spill.take());
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

    #[test]
    fn insert_keeps_only_what_fits_in_capacity_whatever_the_window() {
        let mut r = RecvBuffer::new(1000);
        let base = SeqNum(u32::MAX - 10);
        // A window rounded up past the buffer: the excess is not kept.
        let ins = r.insert(base, base, Bytes::from(alloc::vec![1u8; 1200]));
        assert_eq!(ins.advanced, 1000);
        assert_eq!(r.readable(), 1000);
        let ins = r.insert(base.add(1000), base.add(1000), Bytes::from_static(b"x"));
        assert_eq!(ins.advanced, 0);
        let mut out = [0u8; 10];
        assert_eq!(r.read(&mut out), 10);
        // Out of order too: nothing past the first unread octet + capacity.
        r.insert(
            base.add(1000),
            base.add(1005),
            Bytes::from(alloc::vec![2u8; 100]),
        );
        assert_eq!(r.ooo_len(), 5);
    }

    #[test]
    fn small_pieces_are_copied_and_coalesced_not_kept_as_packet_slices() {
        let mut r = RecvBuffer::new(1 << 16);
        let mut nxt = SeqNum(5);
        for _ in 0..3000 {
            let packet = Bytes::from(alloc::vec![9u8; 1500]);
            let ins = r.insert(nxt, nxt, packet.slice(..1));
            nxt = nxt.add(ins.advanced);
        }
        assert_eq!(r.readable(), 3000);
        assert!(
            r.ready.len() <= SMALL_SLICES + 1,
            "one block holds the rest"
        );
        assert!(
            r.charged() <= 3000 + BLOCK + 8 * PIECE_OVERHEAD,
            "{}",
            r.charged()
        );
        let mut out = alloc::vec![0u8; 4000];
        assert_eq!(r.read(&mut out), 3000);
        assert!(r.holds_idle_storage(), "a drained block stays for the flow");
        r.reclaim_if_drained();
        assert_eq!(r.charged(), 0, "a reclaimed buffer keeps no block");
        assert!(!r.holds_idle_storage());
    }

    #[test]
    fn the_buffer_is_compact_and_spills_only_when_needed() {
        assert!(
            core::mem::size_of::<RecvBuffer>() <= 64,
            "{}",
            core::mem::size_of::<RecvBuffer>()
        );
        let mut r = RecvBuffer::new(1 << 16);
        let mut nxt = SeqNum(u32::MAX - 2000);
        // Full-sized in-order pieces, read as they come: nothing spills.
        for _ in 0..10 {
            let ins = r.insert(nxt, nxt, Bytes::from(alloc::vec![1u8; 1460]));
            assert_eq!(ins.advanced, 1460);
            nxt = nxt.add(ins.advanced);
            assert_eq!(r.read_bytes(usize::MAX).len(), 1460);
            assert!(r.read_bytes(usize::MAX).is_empty());
        }
        assert!(r.spill.is_none());
        // Out of order: spills; filled in and drained, reclaim frees it all.
        let ins = r.insert(nxt, nxt.add(1460), Bytes::from(alloc::vec![2u8; 1460]));
        assert!(ins.out_of_order && ins.holes_left && r.spill.is_some());
        let ins = r.insert(nxt, nxt, Bytes::from(alloc::vec![3u8; 1460]));
        assert_eq!(
            (ins.advanced, ins.out_of_order, ins.holes_left),
            (2920, true, false)
        );
        let mut out = alloc::vec![0u8; 4000];
        assert_eq!(r.read(&mut out), 2920);
        assert!(out[..1460].iter().all(|&b| b == 3) && out[1460..2920].iter().all(|&b| b == 2));
        assert!(r.holds_idle_storage());
        r.reclaim_if_drained();
        assert!(r.spill.is_none() && !r.holds_idle_storage());
        assert_eq!(r.charged(), 0);
    }

    #[test]
    fn out_of_order_pressure_drops_the_highest_pieces_first() {
        let mut r = RecvBuffer::new(1 << 16);
        let base = SeqNum(0);
        let max = r.max_pieces as usize;
        for k in 0..max as u32 {
            r.insert(base, base.add(10 + 2 * (k + 100)), Bytes::from_static(b"a"));
        }
        assert_eq!(r.ooo().len(), max);
        // A lower piece gets in by pruning the highest; a higher one is dropped.
        r.insert(base, base.add(10), Bytes::from_static(b"b"));
        assert_eq!(r.ooo().front().map(|p| p.0), Some(base.add(10)));
        assert_eq!(r.ooo().len(), max);
        r.insert(base, base.add(60_000), Bytes::from_static(b"c"));
        assert!(r.ooo().back().is_some_and(|p| p.0.lt(base.add(60_000))));
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

        #[test]
        fn read_fast_path_matches_the_general_loop(
            ops in proptest::collection::vec((any::<bool>(), 1usize..3000), 1..80),
        ) {
            // `read` takes a lone piece whole without the loop of
            // `read_some`; both must leave the same bytes and state.
            let mut fast = RecvBuffer::new(1 << 16);
            let mut slow = RecvBuffer::new(1 << 16);
            let mut nxt = SeqNum(u32::MAX - 5000);
            let mut fill = 0u8;
            for (insert, len) in ops {
                if insert {
                    fill = fill.wrapping_add(1);
                    let data = Bytes::from(alloc::vec![fill; len]);
                    let a = fast.insert(nxt, nxt, data.clone());
                    let b = slow.insert(nxt, nxt, data);
                    prop_assert_eq!(&a, &b);
                    nxt = nxt.add(a.advanced);
                } else {
                    let (mut x, mut y) = (alloc::vec![0u8; len], alloc::vec![0u8; len]);
                    let n = fast.read(&mut x);
                    let m = if slow.readable() == 0 { 0 } else { slow.read_some(&mut y) };
                    prop_assert_eq!(n, m);
                    prop_assert_eq!(&x[..n], &y[..m]);
                }
                prop_assert_eq!(fast.readable(), slow.readable());
                prop_assert_eq!(fast.charged(), slow.charged());
                prop_assert_eq!(fast.ready.len(), slow.ready.len());
                prop_assert_eq!(fast.small_slices, slow.small_slices);
            }
        }
    }
}
