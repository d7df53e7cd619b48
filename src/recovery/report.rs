//! The SACK blocks a receiver reports (RFC 2018 §4, D-SACK RFC 2883 §4).
//!
//! The out-of-order store of the receive buffer is the truth; this keeps
//! only which runs of it were reported most recently, so that the first
//! block is the one holding the latest arrival and the others repeat the
//! most recent earlier reports. Everything is inline: no allocation.

use crate::seq::SeqNum;
use crate::wire::{SackBlock, SackBlocks};

/// Blocks remembered (the most an option carries).
const KEPT: usize = SackBlocks::MAX;

/// Recently reported runs, most recent first, and a pending D-SACK.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SackReport {
    recent: [SackBlock; KEPT],
    len: u8,
    /// A duplicate to report once, first, on the next ACK (RFC 2883 §4).
    dsack: Option<SackBlock>,
}

impl SackReport {
    /// Nothing to report (`Default::default()` as a constant).
    pub(crate) const EMPTY: SackReport = SackReport {
        recent: [SackBlock {
            left: SeqNum(0),
            right: SeqNum(0),
        }; KEPT],
        len: 0,
        dsack: None,
    };

    /// Whether the next ACK carries any block.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && self.dsack.is_none()
    }

    /// Forgets everything (the out-of-order store was emptied).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.dsack = None;
    }

    /// Out-of-order data arrived and now lies in the run `[left, right)`:
    /// that run goes first (RFC 2018 §4, first rule); earlier reports it
    /// swallowed are dropped, the rest move down.
    pub(crate) fn on_arrival(&mut self, run: SackBlock) {
        let mut out = [SackBlock::default(); KEPT];
        out[0] = run;
        let mut n = 1;
        for b in &self.recent[..usize::from(self.len)] {
            let inside = b.left.ge(run.left) && b.right.le(run.right);
            let overlaps = b.left.lt(run.right) && run.left.lt(b.right);
            if inside || overlaps || n == KEPT {
                continue;
            }
            out[n] = *b;
            n += 1;
        }
        self.recent = out;
        self.len = n as u8;
    }

    /// Records a duplicate `[left, right)` to report as a D-SACK block.
    pub(crate) fn set_dsack(&mut self, left: SeqNum, right: SeqNum) {
        if left.lt(right) {
            self.dsack = Some(SackBlock { left, right });
        }
    }

    /// Fills `out` with at most `max` blocks for the next ACK: the D-SACK
    /// block first (sent once), then the remembered runs, each refreshed
    /// through `run_at` (the current run at its left edge, or `None` when
    /// the data is no longer held: delivered or dropped).
    pub(crate) fn fill(
        &mut self,
        out: &mut SackBlocks,
        max: usize,
        rcv_nxt: SeqNum,
        run_at: impl Fn(SeqNum) -> Option<(SeqNum, SeqNum)>,
    ) {
        out.clear();
        if let Some(d) = self.dsack.take() {
            out.push(d);
        }
        let mut kept = 0;
        for i in 0..usize::from(self.len) {
            let b = self.recent[i];
            if b.right.le(rcv_nxt) {
                continue;
            }
            let Some((left, right)) = run_at(b.left) else {
                continue;
            };
            let fresh = SackBlock { left, right };
            if self.recent[..kept].contains(&fresh) {
                continue;
            }
            self.recent[kept] = fresh;
            kept += 1;
            if out.len() < max {
                out.push(fresh);
            }
        }
        self.len = kept as u8;
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
    fn latest_run_first_then_earlier_reports_merged_runs_collapse() {
        let mut r = SackReport::default();
        r.on_arrival(b(100, 200));
        r.on_arrival(b(300, 400));
        r.on_arrival(b(500, 600));
        // A segment filling 200..300 joins the first two runs.
        r.on_arrival(b(100, 400));
        let runs = [(100, 400), (500, 600)];
        let at = |s: SeqNum| {
            runs.iter()
                .find(|&&(l, h)| s.ge(SeqNum(l)) && s.lt(SeqNum(h)))
                .map(|&(l, h)| (SeqNum(l), SeqNum(h)))
        };
        let mut out = SackBlocks::new();
        r.fill(&mut out, 3, SeqNum(50), at);
        assert_eq!(out.as_slice(), &[b(100, 400), b(500, 600)]);
    }

    #[test]
    fn dsack_goes_first_once_and_limit_holds() {
        let mut r = SackReport::default();
        for i in 0..6u32 {
            r.on_arrival(b(1000 * i + 100, 1000 * i + 200));
        }
        r.set_dsack(SeqNum(10), SeqNum(20));
        let at = |s: SeqNum| Some((s, s.add(100)));
        let mut out = SackBlocks::new();
        r.fill(&mut out, 3, SeqNum(0), at);
        assert_eq!(out.as_slice(), &[b(10, 20), b(5100, 5200), b(4100, 4200)]);
        r.fill(&mut out, 3, SeqNum(0), at);
        assert_eq!(
            out.as_slice(),
            &[b(5100, 5200), b(4100, 4200), b(3100, 3200)]
        );
    }
}
