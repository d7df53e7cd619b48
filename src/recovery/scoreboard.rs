//! The sender's SACK scoreboard (RFC 6675 §3, §4): which octets in
//! `[SND.UNA, SND.NXT)` the receiver holds, as a compact range set.
//!
//! Bounded against a hostile peer (the CVE-2019-11477/11478 class: tiny
//! MSS, many blocks): at most [`MAX_RANGES`] disjoint, non-adjacent ranges,
//! their storage reserved once, so an ACK costs at most four insertions of
//! O(`MAX_RANGES`) each and never allocates. Blocks outside
//! `[SND.UNA, SND.NXT]` are ignored; D-SACK blocks (RFC 2883 §4) are
//! recognised and reported, never recorded. The retransmission queue is
//! never touched: the scoreboard is sequence ranges only.

use crate::seq::SeqNum;
use crate::wire::SackBlock;
use alloc::collections::VecDeque;

/// Most disjoint SACKed ranges remembered. When a peer makes more, the one
/// farthest from SND.UNA is forgotten (that is only less information: its
/// octets may be resent, never dropped, since SND.UNA alone frees data).
pub(crate) const MAX_RANGES: usize = 256;

/// RFC 6675 §2: DupThresh.
pub(crate) const DUP_THRESH: u32 = 3;

/// What one ACK's SACK option told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SackUpdate {
    /// Octets newly marked SACKed.
    pub newly_sacked: u32,
    /// The D-SACK block, when the first block reported a duplicate (RFC 2883 §4).
    pub dsack: Option<SackBlock>,
    /// The ranges newly marked SACKed (the first [`NEW_RANGES`] of them,
    /// block by block): RACK (RFC 8985 §6.2 step 2) takes every segment
    /// they complete as delivered, retransmissions among them.
    pub new_ranges: NewRanges,
}

/// Most newly SACKed ranges one ACK reports ([`SackUpdate::new_ranges`]).
pub(crate) const NEW_RANGES: usize = 4;

/// Up to [`NEW_RANGES`] `[left, right)` ranges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NewRanges {
    len: u8,
    ranges: [(SeqNum, SeqNum); NEW_RANGES],
}

impl NewRanges {
    fn push(&mut self, left: SeqNum, right: SeqNum) {
        if let Some(slot) = self.ranges.get_mut(usize::from(self.len)) {
            *slot = (left, right);
            self.len += 1;
        }
    }

    /// The ranges, in the order they were found.
    pub(crate) fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges[..usize::from(self.len)]
    }
}

/// The D-SACK block of an ACK's blocks, if any: RFC 2883 §4, the first
/// block when it lies below the cumulative ACK `ack` or inside the second.
pub(crate) fn dsack_block(blocks: &[SackBlock], ack: SeqNum) -> Option<SackBlock> {
    let first = blocks.first()?;
    let below = first.right.le(ack);
    let inside = blocks
        .get(1)
        .is_some_and(|b| first.left.ge(b.left) && first.right.le(b.right));
    (first.left.lt(first.right) && (below || inside)).then_some(*first)
}

/// SACKed ranges: sorted, disjoint, never adjacent, inside `[SND.UNA, SND.NXT)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scoreboard {
    ranges: VecDeque<(SeqNum, SeqNum)>,
    /// Sum of the ranges' lengths.
    sacked: u32,
}

impl Scoreboard {
    /// Nothing SACKed, no storage (`Default::default()` as a constant).
    pub(crate) const EMPTY: Scoreboard = Scoreboard {
        ranges: VecDeque::new(),
        sacked: 0,
    };

    /// Heap octets of the range storage.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * core::mem::size_of::<(SeqNum, SeqNum)>()
    }

    /// Whether nothing is SACKed.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Octets SACKed above SND.UNA.
    pub(crate) fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    /// Number of disjoint ranges held.
    #[cfg(test)]
    pub(crate) fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// The end of the highest SACKed octet (RFC 6675's HighSACK + 1).
    pub(crate) fn high_sacked(&self) -> Option<SeqNum> {
        self.ranges.back().map(|r| r.1)
    }

    /// Forgets everything: after an RTO (RFC 6675 §5.1, RFC 2018 §8) or
    /// when the receiver reneged.
    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
        self.sacked = 0;
    }

    /// Takes the blocks of one ACK (`ack` is its SEG.ACK, already within
    /// `[SND.UNA, SND.NXT]`).
    pub(crate) fn on_blocks(
        &mut self,
        blocks: &[SackBlock],
        ack: SeqNum,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
    ) -> SackUpdate {
        let mut up = SackUpdate::default();
        let mut rest = blocks;
        if let Some(first) = dsack_block(blocks, ack) {
            up.dsack = Some(first);
            rest = &blocks[1..];
        }
        if self.ranges.capacity() == 0 && !rest.is_empty() {
            // The one allocation, at the first SACK.
            self.ranges.reserve_exact(MAX_RANGES);
        }
        let floor = ack.max(snd_una);
        for b in rest {
            // RFC 2018 §3 / RFC 6675 §5: only blocks inside [SND.UNA, SND.NXT].
            if !b.left.lt(b.right) || b.right.gt(snd_nxt) || !b.right.gt(floor) {
                continue;
            }
            if b.left.lt(snd_una.sub(0x4000_0000)) {
                continue; // Nonsense far below SND.UNA.
            }
            let left = b.left.max(floor);
            up.newly_sacked += self.insert(left, b.right, &mut up.new_ranges);
        }
        up
    }

    /// Marks `[left, right)` SACKed; returns the octets that were not yet,
    /// and adds the ranges they form to `new`.
    fn insert(&mut self, left: SeqNum, right: SeqNum, new: &mut NewRanges) -> u32 {
        // First range whose end reaches `left` (adjacent ranges merge).
        let i = self.ranges.partition_point(|r| r.1.lt(left));
        let mut lo = left;
        let mut hi = right;
        let mut j = i;
        let mut covered = 0u32;
        // The gaps of `[left, right)` between the ranges it meets are new.
        let mut cursor = left;
        while let Some(&(l, r)) = self.ranges.get(j) {
            if l.gt(right) {
                break;
            }
            if l.gt(cursor) {
                new.push(cursor, l);
            }
            cursor = cursor.max(r);
            lo = lo.min(l);
            hi = hi.max(r);
            covered += r.dist(l);
            j += 1;
        }
        if right.gt(cursor) {
            new.push(cursor, right);
        }
        let added = hi.dist(lo) - covered;
        if j > i {
            self.ranges[i] = (lo, hi);
            self.ranges.drain(i + 1..j);
        } else {
            if self.ranges.len() >= MAX_RANGES {
                if i == self.ranges.len() {
                    // Farther than everything held: forget it (RACK, which
                    // checks the scoreboard, finds its range not SACKed).
                    return 0;
                }
                if let Some((l, r)) = self.ranges.pop_back() {
                    self.sacked -= r.dist(l);
                }
            }
            self.ranges.insert(i, (lo, hi));
        }
        self.sacked += added;
        added
    }

    /// SND.UNA moved to `una`: forget what lies below it. Returns `true`
    /// when `una` stops exactly at the left edge of a SACKed range: the
    /// receiver dropped data it had SACKed (reneging; RFC 2018 §8).
    pub(crate) fn on_ack(&mut self, una: SeqNum) -> bool {
        while let Some(&(l, r)) = self.ranges.front() {
            if r.le(una) {
                self.sacked -= r.dist(l);
                self.ranges.pop_front();
            } else {
                if l.lt(una) {
                    self.sacked -= una.dist(l);
                    self.ranges[0].0 = una;
                    return false;
                }
                return l == una;
            }
        }
        false
    }

    /// Whether `seq` is SACKed.
    #[cfg(test)]
    pub(crate) fn is_sacked(&self, seq: SeqNum) -> bool {
        let i = self.ranges.partition_point(|r| r.1.le(seq));
        self.ranges.get(i).is_some_and(|r| r.0.le(seq))
    }

    /// The first un-SACKed octet at or after `seq`, and how many un-SACKed
    /// octets follow it before the next SACKed range (or `None`: to the top).
    pub(crate) fn next_hole(&self, seq: SeqNum) -> (SeqNum, Option<u32>) {
        let i = self.ranges.partition_point(|r| r.1.le(seq));
        match self.ranges.get(i) {
            Some(&(l, r)) if l.le(seq) => {
                let next = self.ranges.get(i + 1).map(|n| n.0.dist(r));
                (r, next)
            }
            Some(&(l, _)) => (seq, Some(l.dist(seq))),
            None => (seq, None),
        }
    }

    /// RFC 6675 §4 IsLost, as a boundary: every un-SACKed octet below the
    /// returned point has more than (DupThresh − 1)·SMSS octets, or
    /// DupThresh ranges, SACKed above it. `snd_una` when nothing is lost.
    pub(crate) fn lost_end(&self, snd_una: SeqNum, mss: u32) -> SeqNum {
        let bytes = (DUP_THRESH - 1).saturating_mul(mss);
        let mut above = 0u32;
        for (n, &(l, r)) in self.ranges.iter().rev().enumerate() {
            above += r.dist(l);
            if above > bytes || n as u32 + 1 >= DUP_THRESH {
                return l;
            }
        }
        snd_una
    }

    /// The end (exclusive) of the highest un-SACKed octet in
    /// `[snd_una, snd_nxt)`, or `None` when all of it is SACKed.
    pub(crate) fn highest_unsacked_end(&self, snd_una: SeqNum, snd_nxt: SeqNum) -> Option<SeqNum> {
        // Ranges never touch, so only the top one can hide SND.NXT's side.
        let end = match self.ranges.back() {
            Some(&(l, r)) if r == snd_nxt => l,
            _ => snd_nxt,
        };
        end.gt(snd_una).then_some(end)
    }

    /// Un-SACKed octets in `[from, to)`.
    pub(crate) fn unsacked_between(&self, from: SeqNum, to: SeqNum) -> u32 {
        if !from.lt(to) {
            return 0;
        }
        let mut n = to.dist(from);
        let i = self.ranges.partition_point(|r| r.1.le(from));
        for &(l, r) in self.ranges.range(i..) {
            if !l.lt(to) {
                break;
            }
            n -= r.min(to).dist(l.max(from));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(l: u32, r: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        }
    }

    #[test]
    fn an_update_reports_exactly_the_ranges_it_newly_sacked_across_the_wrap() {
        let una = SeqNum(u32::MAX - 1500);
        let nxt = una.add(20_000);
        let at = |o: u32| una.add(o).0;
        let r = |l: u32, h: u32| (una.add(l), una.add(h));
        let mut s = Scoreboard::default();
        s.on_blocks(
            &[b(at(3000), at(4000)), b(at(6000), at(7000))],
            una,
            una,
            nxt,
        );
        // One block over both ranges and beyond: the gaps below, between
        // and above them are new, and only they.
        let up = s.on_blocks(&[b(at(2000), at(9000))], una, una, nxt);
        assert_eq!(
            up.new_ranges.as_slice(),
            &[r(2000, 3000), r(4000, 6000), r(7000, 9000)]
        );
        assert_eq!(up.newly_sacked, 1000 + 2000 + 2000);
        // A block that grows downwards: only its new bottom.
        let up = s.on_blocks(&[b(at(1000), at(9000))], una, una, nxt);
        assert_eq!(up.new_ranges.as_slice(), &[r(1000, 2000)]);
        // Nothing new: nothing reported.
        let up = s.on_blocks(&[b(at(1500), at(8000))], una, una, nxt);
        assert_eq!((up.newly_sacked, up.new_ranges.as_slice()), (0, &[][..]));
        // Several blocks: their new parts, block by block.
        let up = s.on_blocks(
            &[b(at(12_000), at(13_000)), b(at(10_000), at(11_000))],
            una,
            una,
            nxt,
        );
        assert_eq!(
            up.new_ranges.as_slice(),
            &[r(12_000, 13_000), r(10_000, 11_000)]
        );
    }

    #[test]
    fn blocks_merge_and_outside_ones_are_ignored_across_the_wrap() {
        let una = SeqNum(u32::MAX - 1000);
        let nxt = una.add(10_000);
        let mut s = Scoreboard::default();
        let at = |o: u32| una.add(o).0;
        let up = s.on_blocks(&[b(at(2000), at(3000))], una, una, nxt);
        assert_eq!(up.newly_sacked, 1000);
        s.on_blocks(
            &[b(at(4000), at(5000)), b(at(3000), at(4000))],
            una,
            una,
            nxt,
        );
        assert_eq!((s.ranges(), s.sacked_bytes()), (1, 3000));
        // Past SND.NXT, empty, inverted: ignored.
        let up = s.on_blocks(
            &[
                b(at(9000), at(10_001)),
                b(at(6000), at(6000)),
                b(at(7000), at(6500)),
            ],
            una,
            una,
            nxt,
        );
        assert_eq!(up, SackUpdate::default());
        assert_eq!(s.unsacked_between(una, nxt), 7000);
        assert!(s.is_sacked(una.add(2500)) && !s.is_sacked(una.add(5000)));
        assert_eq!(s.next_hole(una.add(2000)), (una.add(5000), None));
        assert_eq!(s.next_hole(una), (una, Some(2000)));
        // A cumulative ACK into the range trims it.
        assert!(!s.on_ack(una.add(2500)));
        assert_eq!(s.sacked_bytes(), 2500);
    }

    #[test]
    fn dsack_below_ack_or_inside_second_block_is_recognised_not_recorded() {
        let una = SeqNum(1000);
        let nxt = una.add(10_000);
        let mut s = Scoreboard::default();
        let up = s.on_blocks(&[b(500, 900)], una, una, nxt);
        assert_eq!(up.dsack, Some(b(500, 900)));
        assert!(s.is_empty());
        let up = s.on_blocks(&[b(3000, 3500), b(2000, 4000)], una, una, nxt);
        assert_eq!(up.dsack, Some(b(3000, 3500)));
        assert_eq!(s.sacked_bytes(), 2000);
    }

    #[test]
    fn losses_are_the_holes_below_three_segments_sacked() {
        let una = SeqNum(0);
        let nxt = SeqNum(10_000);
        let mut s = Scoreboard::default();
        s.on_blocks(&[b(1000, 2000)], una, una, nxt);
        assert_eq!(
            s.lost_end(una, 1000),
            una,
            "one segment SACKed: nothing lost"
        );
        s.on_blocks(&[b(3000, 5000)], una, una, nxt);
        assert_eq!(
            s.lost_end(una, 1000),
            SeqNum(1000),
            "3 segments above the first hole"
        );
        s.on_blocks(&[b(6000, 9000)], una, una, nxt);
        assert_eq!(s.lost_end(una, 1000), SeqNum(6000));
    }

    #[test]
    fn reneging_is_seen_when_the_ack_stops_at_a_sacked_edge() {
        let mut s = Scoreboard::default();
        s.on_blocks(&[b(2000, 3000)], SeqNum(0), SeqNum(0), SeqNum(5000));
        assert!(s.on_ack(SeqNum(2000)));
    }

    #[test]
    fn a_hostile_flood_of_tiny_blocks_stays_within_the_cap() {
        let una = SeqNum(7);
        let nxt = una.add(1 << 24);
        let mut s = Scoreboard::default();
        let mut x: u32 = 12345;
        for _ in 0..100_000 {
            let mut blocks = [SackBlock::default(); 4];
            for bl in &mut blocks {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let off = (x >> 8) % (1 << 24);
                *bl = SackBlock {
                    left: una.add(off),
                    right: una.add(off + 1 + (x & 3)),
                };
            }
            s.on_blocks(&blocks, una, una, nxt);
            assert!(s.ranges() <= MAX_RANGES);
        }
        assert!(s.ranges.capacity() < 2 * MAX_RANGES);
        // The sum stays exact.
        let sum: u32 = s.ranges.iter().map(|r| r.1.dist(r.0)).sum();
        assert_eq!(sum, s.sacked_bytes());
        assert_eq!(s.unsacked_between(una, nxt), (1 << 24) - sum);
    }
}
