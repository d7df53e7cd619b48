//! Send buffer: data queued by the application, then kept until acknowledged.
//!
//! The application queues octets two ways: `send(&[u8])` copies them into a
//! staging block, `send_bytes(Bytes)` queues the caller's buffer as it is.
//! Everything from SND.UNA on (in flight, then unsent) is one ordered list
//! of chunks; a cursor marks where the unsent octets start. The
//! retransmission queue is a list of small records, one per original
//! segment (where it starts, its length, when it went out, whether it was
//! retransmitted or pushed): it holds no data of its own, a retransmission
//! reads the same chunks again.
//!
//! A segment is a slice of the chunk under the cursor when that chunk holds
//! enough; when it is shorter than the segment and more is queued behind
//! it, the segment is gathered (copied) from several chunks, so that Nagle
//! (SHLD-7) and sender SWS avoidance (MUST-38) see full-sized segments
//! however the octets were queued. A `Bytes` taken only in part (the
//! buffer was full) stays whole in its chunk, the rest unqueued: when the
//! writer offers that rest again, the chunk grows over it rather than a
//! new chunk starting mid-segment. Staged copies become a chunk when a
//! segment first needs them, in whole segments where they allow it, so
//! that a copying sender's segments are slices too.
//!
//! Copies: `send` copies each octet once (a full staging block is frozen
//! and a new one started, never reallocated with its contents); a gathered
//! segment copies its octets once more. Blocks are allocated in sizes up to
//! [`STAGING_BLOCK`] and reused once what was cut from them is acknowledged,
//! so neither path allocates per segment. The lists and the staging block
//! live behind one pointer that exists only while something is queued or
//! in flight: an idle connection keeps none of it (queues grown by a bulk
//! flow, which drains now and then, stay: see `KEEP_QUEUE`).

use super::recv::KEEP_QUEUE;
use crate::seq::SeqNum;
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use bytes::{Buf, Bytes, BytesMut};

/// Largest staging block (never more than the send buffer).
const STAGING_BLOCK: usize = 256 * 1024;

/// Largest block reserved for gathering alone.
const GATHER_BLOCK: usize = 64 * 1024;

/// Smallest staging block (a short message on an idle connection).
const MIN_BLOCK: usize = 1024;

/// One segment in flight, as first sent (its octets stay in the chunks).
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: SeqNum,
    len: u32,
    /// When it was last (re)transmitted.
    xmit: Instant,
    /// Whether it was ever retransmitted (Karn, RFC 6298 §3).
    rtx: bool,
    /// Whether it went out with PSH (a retransmission of its end keeps it).
    psh: bool,
    /// Whether the FIN went out with it (else a FIN after it went alone).
    fin: bool,
}

impl Sent {
    fn end(&self) -> SeqNum {
        self.seq.add(self.len)
    }
}

/// What a cumulative ACK freed, for RTT sampling (RFC 6298 §3, RFC 8985 §6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Acked {
    /// Octets freed.
    pub octets: u32,
    /// Send time of the newest newly acknowledged segment never retransmitted.
    pub last_xmit: Option<Instant>,
    /// Whether any newly acknowledged segment had been retransmitted.
    pub rtx_acked: bool,
    /// The latest last-transmission time among the newly acknowledged
    /// segments, and whether that one had been retransmitted (RACK).
    pub max_xmit: Option<(Instant, bool)>,
}

/// The storage of a non-empty send buffer.
#[derive(Debug, Default)]
struct Store {
    /// Every octet from SND.UNA on, in order: in flight, then unsent (the
    /// staged copies follow the last chunk).
    chunks: VecDeque<Bytes>,
    /// One record per segment in flight, in order, contiguous from SND.UNA.
    sent: VecDeque<Sent>,
    /// Copies made by `send(&[u8])`, after every chunk.
    staging: BytesMut,
    /// Where segments spanning several chunks are copied together.
    gather: BytesMut,
    /// Octets at the end of the last chunk that are not queued: the rest
    /// of a `Bytes` that `push_bytes` took only in part. A writer offers
    /// that rest again once room opens; the chunk then grows over it
    /// instead of a new chunk starting mid-segment, so the segments there
    /// stay slices rather than copies. Zero while anything is staged.
    excess: usize,
}

/// Queued and in-flight data; see the module documentation.
#[derive(Debug)]
pub(crate) struct SendBuffer {
    /// `None` exactly while nothing is queued or in flight and no grown
    /// queue is worth keeping.
    store: Option<Box<Store>>,
    sent_len: u32,
    /// Unsent octets: from the cursor to the end of the chunks, then staged.
    unsent_len: u32,
    /// The chunk holding the first unsent octet (`chunks.len()` when every
    /// unsent octet is staged) and the offset of that octet in it.
    next_chunk: u32,
    next_off: u32,
}

impl SendBuffer {
    pub(crate) fn new() -> SendBuffer {
        SendBuffer {
            store: None,
            sent_len: 0,
            unsent_len: 0,
            next_chunk: 0,
            next_off: 0,
        }
    }

    /// Whether it holds storage (the connection's drop of a buffer that
    /// never did is this test alone).
    #[inline]
    pub(crate) fn holds_storage(&self) -> bool {
        self.store.is_some()
    }

    /// Octets held: unacknowledged plus unsent.
    pub(crate) fn len(&self) -> usize {
        (self.sent_len + self.unsent_len) as usize
    }

    /// Octets queued and never sent.
    #[inline]
    pub(crate) fn unsent_len(&self) -> usize {
        self.unsent_len as usize
    }

    /// Room left for the application in a buffer of `capacity` octets
    /// (`Config::send_buffer`: the connection's configuration holds the
    /// size, which SO_SNDBUF changes; data already queued stays).
    #[inline]
    pub(crate) fn free(&self, capacity: usize) -> usize {
        capacity.saturating_sub(self.len())
    }

    fn store(&mut self) -> &mut Store {
        self.store.get_or_insert_with(Box::default)
    }

    /// A block size for `want` more octets: small for a short message on an
    /// idle connection, up to [`STAGING_BLOCK`] for a bulk sender.
    fn block_size(unsent: u32, want: usize, capacity: usize) -> usize {
        (unsent as usize + want)
            .next_power_of_two()
            .clamp(MIN_BLOCK, STAGING_BLOCK)
            .min(capacity.max(want))
    }

    /// Copies as much of `data` as fits in `capacity`; returns the count.
    /// Each octet is copied once: a full block is frozen into the queue and
    /// a fresh one started, never grown by moving what it holds.
    /// The test for a full buffer is inlined into the caller: a writer
    /// that fills the buffer calls once more and is refused.
    #[inline]
    pub(crate) fn push_slice(&mut self, data: &[u8], capacity: usize) -> usize {
        let n = data.len().min(self.free(capacity));
        if n == 0 {
            return 0;
        }
        self.push_slice_n(&data[..n], capacity)
    }

    /// [`push_slice`](Self::push_slice) of all of `data` (it fits).
    fn push_slice_n(&mut self, data: &[u8], capacity: usize) -> usize {
        let n = data.len();
        // A bulk writer: the staging block has room for all of it (what
        // `push_staged` does then, without its loop).
        if let Some(st) = self.store.as_deref_mut()
            && st.excess == 0
            && st.staging.capacity() - st.staging.len() >= n
        {
            st.staging.extend_from_slice(&data[..n]);
            self.unsent_len += n as u32;
            return n;
        }
        self.push_staged(data, capacity)
    }

    /// [`push_slice_n`](Self::push_slice_n) in general: block by block.
    #[inline]
    fn push_staged(&mut self, data: &[u8], capacity: usize) -> usize {
        let n = data.len();
        let mut rest = data;
        while !rest.is_empty() {
            let unsent = self.unsent_len;
            let st = self.store.get_or_insert_with(Box::default);
            if st.excess > 0 {
                st.seal(&mut self.next_chunk, &mut self.next_off);
            }
            let mut spare = st.staging.capacity() - st.staging.len();
            if spare == 0 {
                // Freeze what is staged, then start a block: `reserve` on the
                // now empty buffer reuses its allocation when every segment
                // cut from it has been acknowledged, and copies nothing.
                st.flush(usize::MAX);
                st.staging
                    .reserve(Self::block_size(unsent, rest.len(), capacity));
                spare = st.staging.capacity() - st.staging.len();
            }
            let (now, later) = rest.split_at(spare.min(rest.len()));
            st.staging.extend_from_slice(now);
            self.unsent_len += now.len() as u32;
            rest = later;
        }
        n
    }

    /// Queues as much of `data` as fits in `capacity` without copying;
    /// returns the count. The test for a full buffer is inlined into the
    /// caller, as in [`push_slice`](Self::push_slice).
    #[inline]
    pub(crate) fn push_bytes(&mut self, data: Bytes, capacity: usize) -> usize {
        let n = data.len().min(self.free(capacity));
        if n == 0 {
            return 0;
        }
        if let Some(st) = self.store.as_deref_mut()
            && st.excess >= n
            && let Some(last) = st.chunks.back()
            && data.as_ptr() as usize == last.as_ptr() as usize + (last.len() - st.excess)
        {
            // The same octets the last chunk holds past what it queued
            // (the same addresses, held alive by that chunk: the same
            // memory): the chunk grows over them.
            st.excess -= n;
            self.unsent_len += n as u32;
            return n;
        }
        self.push_bytes_n(data, n)
    }

    /// [`push_bytes`](Self::push_bytes) of the first `n` octets of `data`
    /// (`0 < n <= data.len()`) when they do not extend the last chunk.
    fn push_bytes_n(&mut self, data: Bytes, n: usize) -> usize {
        let st = self.store.get_or_insert_with(Box::default);
        if st.excess > 0 {
            // Not the rest of the last chunk's `Bytes` (`push_bytes` grows
            // the chunk over that).
            st.seal(&mut self.next_chunk, &mut self.next_off);
        }
        st.flush(usize::MAX);
        // The rest stays in the chunk, unqueued (the queued part holds the
        // caller's buffer alive anyway, and both go when it is acknowledged).
        st.excess = data.len() - n;
        st.chunks.push_back(data);
        self.unsent_len += n as u32;
        n
    }

    /// Moves up to `max` unsent octets (starting at sequence `seq`) into
    /// flight and returns them: `min(max, unsent)` octets, sliced from one
    /// chunk when it holds them, copied together from several otherwise.
    ///
    /// The common case, inlined into the caller: the chunk under the cursor
    /// holds the whole segment (every segment of a zero-copy writer, and of
    /// a copying one once its staged octets are frozen in whole segments).
    /// Anything else (staged octets to freeze first, a segment to gather)
    /// is [`take_unsent_general`](Self::take_unsent_general), out of line;
    /// a proptest checks that both take and record alike.
    #[inline]
    pub(crate) fn take_unsent(&mut self, seq: SeqNum, max: usize, now: Instant) -> Bytes {
        let n = max.min(self.unsent_len as usize);
        let (chunk, off) = (self.next_chunk as usize, self.next_off as usize);
        if n > 0
            && let Some(st) = self.store.as_deref_mut()
            && let Some(c) = st.chunks.get(chunk)
            && c.len() - off >= n
        {
            let d = c.slice(off..off + n);
            let (chunk, off) = if off + n == c.len() {
                (chunk + 1, 0)
            } else {
                (chunk, off + n)
            };
            st.sent.push_back(Sent {
                seq,
                len: n as u32,
                xmit: now,
                rtx: false,
                psh: false,
                fin: false,
            });
            self.next_chunk = chunk as u32;
            self.next_off = off as u32;
            self.unsent_len -= n as u32;
            self.sent_len += n as u32;
            return d;
        }
        self.take_unsent_general(seq, max, now)
    }

    /// [`take_unsent`](Self::take_unsent) for any case.
    #[inline(never)]
    fn take_unsent_general(&mut self, seq: SeqNum, max: usize, now: Instant) -> Bytes {
        let n = max.min(self.unsent_len as usize);
        if n == 0 {
            return Bytes::new();
        }
        let (mut chunk, mut off) = (self.next_chunk as usize, self.next_off as usize);
        let st = self.store();
        if chunk == st.chunks.len() {
            // Every unsent octet is staged: freeze the segment and as many
            // whole segments after it as are staged, so that the next
            // segments lie in one chunk too.
            let staged = st.staging.len();
            st.flush(staged - (staged - n) % n);
        }
        let data = match st.chunks.get(chunk) {
            Some(c) if c.len() - off >= n => {
                let d = c.slice(off..off + n);
                off += n;
                if off == c.len() {
                    (chunk, off) = (chunk + 1, 0);
                }
                d
            }
            _ => {
                let d;
                (d, chunk, off) = st.take_gathered(chunk, off, n);
                d
            }
        };
        st.sent.push_back(Sent {
            seq,
            len: n as u32,
            xmit: now,
            rtx: false,
            psh: false,
            fin: false,
        });
        self.next_chunk = chunk as u32;
        self.next_off = off as u32;
        self.unsent_len -= n as u32;
        self.sent_len += n as u32;
        data
    }

    /// Where the in-flight octet `seq` lies, as a chunk and an offset in
    /// it: found from the front (SND.UNA) or back from the unsent cursor,
    /// whichever is nearer (new data and the oldest data cost a step or two).
    fn locate(&self, st: &Store, seq: SeqNum) -> Option<(usize, usize)> {
        let una = st.sent.front()?.seq;
        let d = seq.dist(una);
        if d >= self.sent_len {
            return None;
        }
        if d < self.sent_len / 2 {
            let (mut chunk, mut off) = (0, d as usize);
            while let Some(c) = st.chunks.get(chunk)
                && off >= c.len()
            {
                off -= c.len();
                chunk += 1;
            }
            Some((chunk, off))
        } else {
            let (mut chunk, mut off) = (self.next_chunk as usize, self.next_off as usize);
            let mut back = (self.sent_len - d) as usize;
            while back > off {
                back -= off;
                chunk = chunk.checked_sub(1)?;
                off = st.chunks.get(chunk)?.len();
            }
            Some((chunk, off - back))
        }
    }

    /// The `len` in-flight octets from `seq` on, as one `Bytes`: a slice
    /// of a chunk when one holds them all, else copied together into the
    /// gather block.
    fn payload(&mut self, seq: SeqNum, len: usize) -> Bytes {
        let Some(st) = self.store.as_deref() else {
            return Bytes::new();
        };
        let Some((chunk, off)) = self.locate(st, seq) else {
            return Bytes::new();
        };
        if let Some(c) = st.chunks.get(chunk)
            && c.len() - off >= len
        {
            return c.slice(off..off + len);
        }
        match self.store.as_deref_mut() {
            Some(st) => st.gather(chunk, off, len),
            None => Bytes::new(),
        }
    }

    fn sent(&self) -> Option<&VecDeque<Sent>> {
        self.store.as_deref().map(|s| &s.sent)
    }

    /// Records that the entry last taken by [`take_unsent`](Self::take_unsent)
    /// went out with PSH, and whether with the FIN too.
    pub(crate) fn mark_last_pushed(&mut self, fin: bool) {
        if let Some(e) = self.store.as_deref_mut().and_then(|s| s.sent.back_mut()) {
            e.psh = true;
            e.fin = fin;
        }
    }

    /// Whether in-flight data ending at `end` ends an entry sent with PSH.
    pub(crate) fn pushed_up_to(&self, end: SeqNum) -> bool {
        self.entry(end.sub(1))
            .is_some_and(|e| e.psh && e.end() == end)
    }

    /// Index of the in-flight entry holding `seq`.
    fn entry_at(&self, seq: SeqNum) -> Option<usize> {
        let sent = self.sent()?;
        let first = sent.front()?.seq;
        let off = seq.dist(first);
        if off >= self.sent_len {
            return None;
        }
        let i = sent
            .partition_point(|e| e.seq.dist(first) <= off)
            .checked_sub(1)?;
        let e = sent.get(i)?;
        (seq.dist(e.seq) < e.len).then_some(i)
    }

    fn entry(&self, seq: SeqNum) -> Option<&Sent> {
        let i = self.entry_at(seq)?;
        self.sent()?.get(i)
    }

    /// Records a retransmission of the entry holding `seq` at `now`.
    pub(crate) fn mark_retransmitted(&mut self, seq: SeqNum, now: Instant) {
        if let Some(i) = self.entry_at(seq)
            && let Some(e) = self.store.as_deref_mut().and_then(|s| s.sent.get_mut(i))
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
        let e = self.entry(seq)?;
        Some((e.xmit, e.rtx, e.end()))
    }

    /// Where the in-flight entry holding `seq` starts.
    pub(crate) fn entry_start(&self, seq: SeqNum) -> Option<SeqNum> {
        self.entry(seq).map(|e| e.seq)
    }

    /// Where the last in-flight entry starts (a tail loss probe resends
    /// it), and whether the FIN went out with it.
    pub(crate) fn last_entry(&self) -> Option<(SeqNum, bool)> {
        self.sent()?.back().map(|e| (e.seq, e.fin))
    }

    /// Up to `max` in-flight octets starting at `seq`, for a
    /// retransmission, never past the end of the entry holding `seq` (it
    /// resends the octets of one original segment). Empty when `seq` is
    /// not inside the in-flight data.
    pub(crate) fn sent_slice(&mut self, seq: SeqNum, max: usize) -> Bytes {
        let n = self
            .entry(seq)
            .map_or(0, |e| ((e.len - seq.dist(e.seq)) as usize).min(max));
        if n == 0 {
            return Bytes::new();
        }
        self.payload(seq, n)
    }

    /// Drops every in-flight octet before `una`; says what was freed.
    #[inline]
    pub(crate) fn ack(&mut self, una: SeqNum) -> Acked {
        let Some(st) = self.store.as_deref_mut() else {
            return Acked::default();
        };
        // The records this ACK covers, in order: in scalars, not in an
        // `Acked` (two `Option`s kept in registers cost a spill per record).
        // `any`: a record was covered; `last`/`non_rtx`: the send time of
        // the newest one never retransmitted; `max`/`max_rtx`: the latest
        // transmission, the first record's or a later one at least as late.
        let (mut any, mut rtx_acked, mut non_rtx) = (false, false, false);
        let (mut last, mut max, mut max_rtx) = (Instant::ZERO, Instant::ZERO, false);
        let mut octets = 0u32;
        let mut note = |e: &Sent| {
            rtx_acked |= e.rtx;
            if !e.rtx {
                (non_rtx, last) = (true, e.xmit);
            }
            if !any || e.xmit >= max {
                (max, max_rtx) = (e.xmit, e.rtx);
            }
            any = true;
        };
        while let Some(e) = st.sent.front()
            && e.end().le(una)
        {
            note(e);
            octets += e.len;
            st.sent.pop_front();
        }
        if let Some(e) = st.sent.front_mut()
            && e.seq.lt(una)
        {
            // Part of a record: what is left of it stays, as it was sent.
            note(e);
            let n = una.dist(e.seq);
            e.seq = una;
            e.len -= n;
            octets += n;
        }
        let a = Acked {
            octets,
            last_xmit: non_rtx.then_some(last),
            rtx_acked,
            max_xmit: any.then_some((max, max_rtx)),
        };
        // Release the acknowledged octets from the front of the chunks.
        let mut left = a.octets as usize;
        while left > 0
            && let Some(c) = st.chunks.front_mut()
        {
            if c.len() <= left {
                left -= c.len();
                st.chunks.pop_front();
                self.next_chunk -= 1;
            } else {
                c.advance(left);
                if self.next_chunk == 0 {
                    self.next_off -= left as u32;
                }
                left = 0;
            }
        }
        self.sent_len -= a.octets;
        if self.sent_len == 0 && self.unsent_len == 0 {
            // Everything sent is acknowledged and nothing waits: an idle
            // connection keeps no staging block, and no queue storage of a
            // message exchange (queues grown by a bulk flow, which drains
            // now and then, stay: see `KEEP_QUEUE`).
            if st.sent.capacity() <= KEEP_QUEUE && st.chunks.capacity() <= KEEP_QUEUE {
                self.store = None;
            } else {
                // Nothing is queued: a chunk left is excess alone.
                st.chunks.clear();
                st.excess = 0;
                st.staging = BytesMut::new();
                st.gather = BytesMut::new();
            }
            (self.next_chunk, self.next_off) = (0, 0);
        }
        a
    }

    /// Octets in flight (sent, unacknowledged).
    pub(crate) fn sent_len(&self) -> usize {
        self.sent_len as usize
    }
}

impl Store {
    /// Cuts the last chunk's excess off (something else follows it now),
    /// moving the cursor past the chunk when it stood at the cut.
    #[cold]
    fn seal(&mut self, next_chunk: &mut u32, next_off: &mut u32) {
        let last = self.chunks.len().saturating_sub(1);
        if let Some(c) = self.chunks.back_mut() {
            let len = c.len() - self.excess;
            if len == 0 {
                self.chunks.pop_back();
            } else {
                c.truncate(len);
                if *next_chunk as usize == last && *next_off as usize == len {
                    (*next_chunk, *next_off) = (last as u32 + 1, 0);
                }
            }
        }
        self.excess = 0;
    }

    /// Moves up to `max` staged copies into the chunk list. The block's
    /// spare capacity stays in `staging`.
    fn flush(&mut self, max: usize) {
        let n = self.staging.len().min(max);
        if n == 0 {
            return;
        }
        let chunk = self.staging.split_to(n).freeze();
        self.chunks.push_back(chunk);
    }

    /// A segment of `n` octets from (`chunk`, `off`) that the chunk there
    /// does not hold alone: whatever of it is still staged is frozen into a
    /// chunk, with as many whole segments after it as are staged (so that
    /// the next segments lie in one chunk again), and the pieces are copied
    /// together. Returns them and where the next segment starts.
    fn take_gathered(&mut self, chunk: usize, off: usize, n: usize) -> (Bytes, usize, usize) {
        // Copy what the chunks hold, freezing staged copies when they run out.
        if self.gather.capacity() - self.gather.len() < n {
            // Room for a few dozen segments: one allocation per block, not per segment.
            let size = n.saturating_mul(32).clamp(MIN_BLOCK, GATHER_BLOCK).max(n);
            self.gather.reserve(size);
        }
        let (mut chunk, mut off, mut left) = (chunk, off, n);
        while left > 0 {
            if chunk == self.chunks.len() {
                let more = self.staging.len() - left;
                self.flush(left + more - more % n);
            }
            let Some(c) = self.chunks.get(chunk) else {
                break;
            };
            let piece = (c.len() - off).min(left);
            self.gather.extend_from_slice(&c[off..off + piece]);
            left -= piece;
            off += piece;
            if off == c.len() {
                (chunk, off) = (chunk + 1, 0);
            }
        }
        (self.gather.split().freeze(), chunk, off)
    }

    /// Copies `n` octets on from (`chunk`, `off`), across chunks, into the
    /// gather block and returns them (as many as the chunks hold).
    fn gather(&mut self, mut chunk: usize, mut off: usize, n: usize) -> Bytes {
        if self.gather.capacity() - self.gather.len() < n {
            // Room for a few dozen segments: one allocation per block, not per segment.
            let size = n.saturating_mul(32).clamp(MIN_BLOCK, GATHER_BLOCK).max(n);
            self.gather.reserve(size);
        }
        let mut left = n;
        while left > 0
            && let Some(c) = self.chunks.get(chunk)
        {
            let piece = (c.len() - off).min(left);
            self.gather.extend_from_slice(&c[off..off + piece]);
            left -= piece;
            (chunk, off) = (chunk + 1, 0);
        }
        self.gather.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new segment's octets.
    fn take(b: &mut SendBuffer, seq: SeqNum, max: usize, now: Instant) -> Bytes {
        b.take_unsent(seq, max, now)
    }

    /// A retransmission's octets.
    fn resend(b: &mut SendBuffer, seq: SeqNum, max: usize) -> Bytes {
        b.sent_slice(seq, max)
    }

    #[test]
    fn segments_slice_retransmit_and_ack_across_the_wrap() {
        let (mut b, cap) = (SendBuffer::new(), 10_000);
        assert_eq!(b.push_slice(&[1u8; 3000], cap), 3000);
        assert_eq!(b.push_bytes(Bytes::from_static(&[2u8; 500]), cap), 500);
        let s0 = SeqNum(u32::MAX - 1000);
        let t = |ms| Instant::from_millis(ms);
        let p1 = take(&mut b, s0, 1460, t(1));
        assert_eq!(p1.len(), 1460);
        let p2 = take(&mut b, s0.add(1460), 1460, t(2));
        assert_eq!(p2.len(), 1460);
        let p3 = take(&mut b, s0.add(2920), 1460, t(3));
        assert_eq!(
            p3.len(),
            580,
            "gathered across the staged copy and the Bytes"
        );
        assert_eq!(&p3[..80], &[1u8; 80][..]);
        assert_eq!(&p3[80..], &[2u8; 500][..]);
        assert_eq!(b.unsent_len(), 0);
        assert_eq!(resend(&mut b, s0.add(1000), 1460).len(), 460);
        assert_eq!(resend(&mut b, s0.add(3000), 10).len(), 10);
        assert!(resend(&mut b, s0.add(3500), 10).is_empty());
        b.mark_retransmitted(s0.add(1500), t(9));
        assert_eq!(b.xmit_of(s0.add(2919)), Some((t(9), true)));
        assert_eq!(b.xmit_of(s0.add(2920)), Some((t(3), false)));
        let a = b.ack(s0.add(2000));
        assert_eq!(a.octets, 2000);
        assert_eq!(a.last_xmit, Some(t(1)), "the newest never retransmitted");
        assert!(a.rtx_acked, "the second segment was retransmitted");
        assert_eq!(a.max_xmit, Some((t(9), true)), "latest transmission");
        assert_eq!(resend(&mut b, s0.add(2000), 2000).len(), 920);
        assert_eq!(b.ack(s0.add(3500)).octets, 1500);
        assert_eq!(b.len(), 0);
        assert_eq!(b.sent_len(), 0);
    }

    #[test]
    fn small_chunks_are_gathered_into_full_segments() {
        let (mut b, cap) = (SendBuffer::new(), 100_000);
        for i in 0..1000u32 {
            assert_eq!(b.push_bytes(Bytes::from(alloc::vec![i as u8; 10]), cap), 10);
        }
        let s0 = SeqNum(u32::MAX - 5);
        let mut seq = s0;
        let mut segs = 0;
        while b.unsent_len() > 0 {
            let p = take(&mut b, seq, 1448, Instant::ZERO);
            assert!(p.len() == 1448 || b.unsent_len() == 0, "{}", p.len());
            for (k, o) in p.iter().enumerate() {
                let i = (seq.dist(s0) as usize + k) / 10;
                assert_eq!(*o, i as u8);
            }
            seq = seq.add(p.len() as u32);
            segs += 1;
        }
        assert_eq!(segs, 7);
        assert_eq!(resend(&mut b, s0.add(1448), 20).len(), 20);
    }

    #[test]
    fn staged_copies_are_never_moved_and_an_idle_buffer_keeps_no_block() {
        let (mut b, cap) = (SendBuffer::new(), 1 << 20);
        let data = alloc::vec![7u8; 200_000];
        assert_eq!(b.push_slice(&data, cap), 200_000);
        // Blocks of at most 64 KiB, each filled once, none reallocated.
        let st = b.store.as_deref().expect("data queued");
        assert!(st.chunks.iter().all(|c| c.len() <= STAGING_BLOCK));
        assert!(st.staging.capacity() <= STAGING_BLOCK);
        let mut seq = SeqNum(1);
        while b.unsent_len() > 0 {
            let p = take(&mut b, seq, 1448, Instant::ZERO);
            seq = seq.add(p.len() as u32);
        }
        assert_eq!(b.ack(seq).octets, 200_000);
        assert_eq!(b.len(), 0);
        // The queues grew past `KEEP_QUEUE` (a bulk flow): they stay, empty,
        // but the staging block goes.
        let st = b.store.as_deref().expect("grown queues are kept");
        assert!(st.chunks.is_empty() && st.sent.is_empty());
        assert_eq!(st.staging.capacity() + st.gather.capacity(), 0);
        // A message exchange leaves nothing at all.
        let (mut b, cap) = (SendBuffer::new(), 1 << 20);
        assert_eq!(b.push_slice(&[1u8; 300], cap), 300);
        let p = take(&mut b, seq, 1448, Instant::ZERO);
        assert_eq!(p.len(), 300);
        drop(p);
        assert_eq!(b.ack(seq.add(300)).octets, 300);
        assert!(b.store.is_none(), "an idle buffer keeps no storage");
    }

    #[test]
    fn capacity_bounds_what_is_accepted() {
        let (mut b, cap) = (SendBuffer::new(), 100);
        assert_eq!(b.push_slice(&[0; 80], cap), 80);
        assert_eq!(b.push_bytes(Bytes::from_static(&[0; 80]), cap), 20);
        assert_eq!(b.free(cap), 0);
        assert_eq!(b.push_slice(&[0; 1], cap), 0);
    }

    #[test]
    fn mixed_queueing_sending_resending_and_acks_keep_every_octet_in_place() {
        // A reference copy of the stream checks every segment and every
        // retransmission while copies, `Bytes`, segments and ACKs interleave
        // (deterministic pseudo-random sizes, sequence numbers across the wrap).
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % m as u64) as usize
        };
        let (mut b, cap) = (SendBuffer::new(), 20_000);
        let s0 = SeqNum(u32::MAX - 7_000);
        let (mut queued, mut nxt, mut una) = (0usize, 0usize, 0usize);
        let octet = |i: usize| (i.wrapping_mul(31) >> 3) as u8;
        for _ in 0..20_000 {
            match next(4) {
                0 => {
                    let len = 1 + next(3000);
                    let data: alloc::vec::Vec<u8> = (queued..queued + len).map(octet).collect();
                    let n = if next(2) == 0 {
                        b.push_slice(&data, cap)
                    } else {
                        b.push_bytes(Bytes::from(data), cap)
                    };
                    queued += n;
                }
                1 => {
                    let max = 1 + next(1500);
                    let p = take(&mut b, s0.add(nxt as u32), max, Instant::ZERO);
                    assert_eq!(p.len(), max.min(queued - nxt));
                    for (k, o) in p.iter().enumerate() {
                        assert_eq!(*o, octet(nxt + k), "new data at {}", nxt + k);
                    }
                    nxt += p.len();
                }
                2 if nxt > una => {
                    let at = una + next(nxt - una);
                    let p = resend(&mut b, s0.add(at as u32), 1 + next(1500));
                    assert!(!p.is_empty() && at + p.len() <= nxt);
                    for (k, o) in p.iter().enumerate() {
                        assert_eq!(*o, octet(at + k), "resent data at {}", at + k);
                    }
                }
                3 if nxt > una => {
                    let to = una + 1 + next(nxt - una);
                    assert_eq!(b.ack(s0.add(to as u32)).octets as usize, to - una);
                    una = to;
                }
                _ => {}
            }
            assert_eq!(b.len(), queued - una);
            assert_eq!(b.unsent_len(), queued - nxt);
            assert_eq!(b.sent_len(), nxt - una);
        }
    }

    #[test]
    fn the_rest_of_a_partly_taken_bytes_extends_its_chunk_and_keeps_every_octet_in_place() {
        // A writer that offers the rest of a `Bytes` the buffer took only
        // in part (as a bulk sender does when room opens): the last chunk
        // grows over it. Copies, other `Bytes`, segments, resends and ACKs
        // interleave; a reference copy of the stream checks every octet.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % m as u64) as usize
        };
        let (mut b, cap) = (SendBuffer::new(), 12_000);
        let s0 = SeqNum(u32::MAX - 3_000);
        let mut stream: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
        let (mut nxt, mut una) = (0usize, 0usize);
        let (mut parent, mut rest, mut more) = (Bytes::new(), Bytes::new(), 0);
        let mut fill = 0u8;
        let mut extended = 0;
        for _ in 0..30_000 {
            match next(7) {
                0 | 1 if !rest.is_empty() => {
                    // The rest again, a prefix of it, or the rest and
                    // more of the buffer it came from (past the chunk).
                    let r = match next(4) {
                        0 => rest.slice(..1 + next(rest.len())),
                        1 => {
                            let at = parent.len() - rest.len() - more;
                            parent.slice(at..)
                        }
                        _ => rest.clone(),
                    };
                    let before = b.store.as_deref().map_or(0, |st| st.chunks.len());
                    let n = b.push_bytes(r.clone(), cap);
                    if n > 0
                        && b.store
                            .as_deref()
                            .is_some_and(|st| st.chunks.len() == before)
                    {
                        extended += 1;
                    }
                    stream.extend_from_slice(&r[..n]);
                    rest.advance(n.min(rest.len()));
                }
                0 => {
                    let len = 101 + next(9_000);
                    fill = fill.wrapping_add(1);
                    let data: alloc::vec::Vec<u8> =
                        (0..len).map(|i| fill.wrapping_mul(7) ^ (i as u8)).collect();
                    // Sometimes a slice of a larger buffer.
                    more = next(2) * next(100);
                    parent = Bytes::from(data);
                    let data = parent.slice(..len - more);
                    let n = b.push_bytes(data.clone(), cap);
                    stream.extend_from_slice(&data[..n]);
                    rest = data.slice(n..);
                }
                1 => {
                    let len = 1 + next(2_000);
                    let data: alloc::vec::Vec<u8> = (0..len).map(|_| next(256) as u8).collect();
                    let n = b.push_slice(&data, cap);
                    stream.extend_from_slice(&data[..n]);
                }
                2 | 3 => {
                    let max = 1 + next(1500);
                    let p = b.take_unsent(s0.add(nxt as u32), max, Instant::ZERO);
                    assert_eq!(p.len(), max.min(stream.len() - nxt));
                    assert_eq!(&p[..], &stream[nxt..nxt + p.len()], "new data at {nxt}");
                    nxt += p.len();
                }
                4 if nxt > una => {
                    let at = una + next(nxt - una);
                    let p = b.sent_slice(s0.add(at as u32), 1 + next(1500));
                    assert!(!p.is_empty() && at + p.len() <= nxt);
                    assert_eq!(&p[..], &stream[at..at + p.len()], "resent data at {at}");
                }
                5 | 6 if nxt > una => {
                    let to = if next(3) == 0 {
                        nxt
                    } else {
                        una + 1 + next(nxt - una)
                    };
                    assert_eq!(b.ack(s0.add(to as u32)).octets as usize, to - una);
                    una = to;
                }
                _ => {}
            }
            assert_eq!(b.len(), stream.len() - una);
            assert_eq!(b.unsent_len(), stream.len() - nxt);
            assert_eq!(b.sent_len(), nxt - una);
        }
        assert!(extended > 1000, "chunks extended {extended} times");
    }

    proptest::proptest! {
        #[test]
        fn push_slice_fast_path_matches_the_general_loop(
            ops in proptest::collection::vec((0u8..4, 1usize..70_000), 1..60),
        ) {
            // `push_slice_n` copies into a staging block with room without
            // the loop of `push_staged`; both must queue and cut alike.
            let (mut fast, mut slow, cap) = (SendBuffer::new(), SendBuffer::new(), 300_000);
            let data: alloc::vec::Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
            let (una0, t) = (SeqNum(u32::MAX - 9000), Instant::from_millis(1));
            let (mut una, mut nxt) = (una0, una0);
            for (op, len) in ops {
                match op {
                    0 | 1 => {
                        let n = len.min(fast.free(cap));
                        if n > 0 {
                            proptest::prop_assert_eq!(fast.push_slice(&data[..len], cap), n);
                            proptest::prop_assert_eq!(slow.push_staged(&data[..n], cap), n);
                        }
                    }
                    2 => {
                        let a = take(&mut fast, nxt, len % 3000 + 1, t);
                        let b = take(&mut slow, nxt, len % 3000 + 1, t);
                        proptest::prop_assert_eq!(&a, &b);
                        nxt = nxt.add(a.len() as u32);
                    }
                    _ => {
                        una = una.add((len as u32).min(nxt.dist(una)));
                        proptest::prop_assert_eq!(fast.ack(una), slow.ack(una));
                    }
                }
                let (f, s) = (fast.store.as_deref(), slow.store.as_deref());
                proptest::prop_assert_eq!(
                    (fast.len(), fast.unsent_len, fast.next_chunk, fast.next_off),
                    (slow.len(), slow.unsent_len, slow.next_chunk, slow.next_off)
                );
                proptest::prop_assert_eq!(
                    f.map(|f| (f.chunks.len(), f.staging.len(), f.staging.capacity())),
                    s.map(|s| (s.chunks.len(), s.staging.len(), s.staging.capacity()))
                );
            }
        }

        #[test]
        fn take_unsent_fast_path_matches_the_general_path(
            ops in proptest::collection::vec((0u8..6, 1usize..70_000), 1..80),
        ) {
            // `take_unsent` slices a segment the chunk under the cursor holds
            // inline; `take_unsent_general` handles every case. Both must
            // return, record and move the cursor alike.
            let (mut fast, mut slow, cap) = (SendBuffer::new(), SendBuffer::new(), 300_000);
            let data: alloc::vec::Vec<u8> = (0..140_000u32).map(|i| (i % 251) as u8).collect();
            let parent = Bytes::from(data.clone());
            let (una0, mut ms) = (SeqNum(u32::MAX - 9000), 1u64);
            let (mut una, mut nxt, mut off) = (una0, una0, 0usize);
            for (op, len) in ops {
                ms += 1;
                let t = Instant::from_millis(ms);
                match op {
                    0 => {
                        let n = len.min(fast.free(cap));
                        proptest::prop_assert_eq!(fast.push_slice(&data[..len], cap), n);
                        proptest::prop_assert_eq!(slow.push_slice(&data[..len], cap), n);
                    }
                    1 => {
                        // The rest of one large buffer, offered again and again
                        // (a zero-copy writer): chunks grow over it.
                        let end = (off + len).min(parent.len());
                        let n = fast.push_bytes(parent.slice(off..end), cap);
                        proptest::prop_assert_eq!(slow.push_bytes(parent.slice(off..end), cap), n);
                        off = if end == parent.len() { 0 } else { off + n };
                    }
                    2 | 3 => {
                        let max = len % 3000 + 1;
                        let a = fast.take_unsent(nxt, max, t);
                        let b = slow.take_unsent_general(nxt, max, t);
                        proptest::prop_assert_eq!(&a, &b);
                        nxt = nxt.add(a.len() as u32);
                    }
                    4 => {
                        fast.mark_last_pushed(false);
                        slow.mark_last_pushed(false);
                    }
                    _ => {
                        una = una.add((len as u32).min(nxt.dist(una)));
                        proptest::prop_assert_eq!(fast.ack(una), slow.ack(una));
                    }
                }
                let (f, s) = (fast.store.as_deref(), slow.store.as_deref());
                proptest::prop_assert_eq!(
                    (fast.len(), fast.unsent_len, fast.sent_len, fast.next_chunk, fast.next_off),
                    (slow.len(), slow.unsent_len, slow.sent_len, slow.next_chunk, slow.next_off)
                );
                proptest::prop_assert_eq!(
                    f.map(|f| (alloc::format!("{:?}", f.sent), f.chunks.clone(), f.staging.len(), f.excess)),
                    s.map(|s| (alloc::format!("{:?}", s.sent), s.chunks.clone(), s.staging.len(), s.excess))
                );
            }
        }
    }
}
