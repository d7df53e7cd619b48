//! Proportional Rate Reduction (RFC 6937): how much may be sent during
//! loss recovery, so that the window comes down to ssthresh smoothly
//! (no burst, no silence) and ends there.

/// PRR state of one recovery episode, in octets, and whether the
/// episode's one RFC 6675 rescue retransmission went out.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prr {
    /// RecoverFS: what was in flight when recovery started.
    recover_fs: u32,
    /// prr_delivered: octets the receiver got since recovery started.
    delivered: u32,
    /// prr_out: octets sent since recovery started.
    out: u32,
    /// sndcnt of the last ACK, less what was sent since.
    quota: u32,
    /// RFC 6675 §4 NextSeg (4): one rescue retransmission per entry into
    /// loss recovery (RescueRxt = RecoveryPoint, kept as "done").
    rescued: bool,
}

impl Prr {
    /// No recovery yet (`Default::default()` as a constant).
    pub(crate) const EMPTY: Prr = Prr {
        recover_fs: 0,
        delivered: 0,
        out: 0,
        quota: 0,
        rescued: false,
    };

    /// Recovery starts with `recover_fs` octets in flight (RFC 6937 §3, initialisation).
    pub(crate) fn start(&mut self, recover_fs: u32) {
        *self = Prr {
            recover_fs: recover_fs.max(1),
            ..Prr::default()
        };
    }

    /// One ACK in recovery: `delivered` octets newly acknowledged or SACKed,
    /// `pipe` after it (RFC 6675), the target `ssthresh`, and whether the
    /// ACK is a SafeACK (it advanced SND.UNA and showed no further loss)
    /// (RFC 9937 §4, which obsoletes RFC 6937).
    pub(crate) fn on_ack(
        &mut self,
        delivered: u32,
        pipe: u32,
        ssthresh: u32,
        mss: u32,
        safe: bool,
    ) {
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            // Proportional part: CEIL(prr_delivered · ssthresh / RecoverFS) − prr_out.
            let rfs = u64::from(self.recover_fs);
            let due = (u64::from(self.delivered) * u64::from(ssthresh)).div_ceil(rfs);
            (due.min(u64::from(u32::MAX)) as u32).saturating_sub(self.out)
        } else {
            // RFC 9937 §4: the conservative reduction bound (PRR-CRB, send
            // what was delivered) by default; the slow-start reduction bound
            // (PRR-SSRB, one SMSS more) only on a SafeACK, when recovery is
            // making progress. Linux's tcp_cwnd_reduction does the same.
            let limit = self.delivered.saturating_sub(self.out).max(delivered);
            let limit = if safe {
                limit.saturating_add(mss)
            } else {
                limit
            };
            (ssthresh - pipe).min(limit)
        };
        self.quota = sndcnt;
    }

    /// One ACK of an ECN reduction (Linux's CWR state, `tcp_cwnd_reduction`
    /// without a retransmission): `delivered` octets newly acknowledged,
    /// `pipe` after it, `out` octets sent since the reduction began. Returns
    /// sndcnt, what may be sent beyond the pipe: CEIL(prr_delivered ·
    /// ssthresh / prior_cwnd) − out above ssthresh (`start` took
    /// prior_cwnd), else min(ssthresh − pipe, delivered) (the conservative
    /// bound of the ACK alone); at least one segment while nothing was sent.
    pub(crate) fn reduction_step(
        &mut self,
        delivered: u32,
        pipe: u32,
        ssthresh: u32,
        mss: u32,
        out: u32,
    ) -> u32 {
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            let prior = u64::from(self.recover_fs);
            let due = (u64::from(self.delivered) * u64::from(ssthresh)).div_ceil(prior);
            (due.min(u64::from(u32::MAX)) as u32).saturating_sub(out)
        } else {
            (ssthresh - pipe).min(delivered)
        };
        if out == 0 { sndcnt.max(mss) } else { sndcnt }
    }

    /// Whether this episode may still send its rescue retransmission;
    /// marks it spent.
    pub(crate) fn take_rescue(&mut self) -> bool {
        !core::mem::replace(&mut self.rescued, true)
    }

    /// Whether a segment of `len` octets may go now. The first one of an
    /// episode always may (the fast retransmission, RFC 5681 §3.2 step 2).
    pub(crate) fn may_send(&self, len: u32) -> bool {
        self.out == 0 || self.quota >= len
    }

    /// Octets that may go now.
    pub(crate) fn room(&self, mss: u32) -> u32 {
        if self.out == 0 {
            self.quota.max(mss)
        } else {
            self.quota
        }
    }

    /// Octets the last ACK still lets go (sndcnt less what was sent since).
    pub(crate) fn quota(&self) -> u32 {
        self.quota
    }

    /// `len` octets were sent (new data or a retransmission).
    pub(crate) fn on_sent(&mut self, len: u32) {
        self.out = self.out.saturating_add(len);
        self.quota = self.quota.saturating_sub(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ecn_reduction_sends_in_proportion_then_what_each_ack_delivers() {
        let mss = 1000;
        let mut p = Prr::default();
        // cwnd 10 segments before the echo, ssthresh 7.
        p.start(10_000);
        // 9 in flight, above ssthresh: 7/10 of what was delivered, less
        // what was sent; the first ACK may always send one segment.
        assert_eq!(p.reduction_step(1000, 9000, 7000, mss, 0), 1000);
        assert_eq!(p.reduction_step(1000, 8000, 7000, mss, 1000), 400);
        assert_eq!(p.reduction_step(1000, 7500, 7000, mss, 1000), 1100);
        // At or below ssthresh: no more than the ACK delivered, and no more
        // than what brings the pipe to ssthresh.
        assert_eq!(p.reduction_step(1000, 3000, 7000, mss, 3000), 1000);
        assert_eq!(p.reduction_step(3000, 5000, 7000, mss, 4000), 2000);
        // The first ACK of a reduction with the pipe below ssthresh: one
        // segment (Linux's cwnd = 3 + 1 for 3 in flight, ssthresh 7).
        let mut q = Prr::default();
        q.start(10_000);
        assert_eq!(q.reduction_step(1000, 3000, 7000, mss, 0), 1000);
    }

    #[test]
    fn halves_the_rate_then_slow_starts_back_up_to_ssthresh() {
        let mss = 1000;
        let mut p = Prr::default();
        // 20 segments in flight, ssthresh 10: one segment sent per two delivered.
        p.start(20_000);
        let mut sent = 0;
        let mut pipe = 19_000; // one lost
        for _ in 0..10 {
            p.on_ack(mss, pipe, 10_000, mss, false);
            pipe -= mss;
            while p.may_send(mss) {
                p.on_sent(mss);
                sent += 1;
                pipe += mss;
            }
        }
        assert_eq!(sent, 5, "half of what was delivered");
        // Far below ssthresh (more losses): the conservative bound lets it
        // catch up by what PRR held back (11 delivered − 5 sent) ...
        let mut crb = p;
        crb.on_ack(mss, 2_000, 10_000, mss, false);
        assert_eq!(crb.room(mss), 6 * mss);
        // ... and on a SafeACK the slow-start bound by one MSS more.
        p.on_ack(mss, 2_000, 10_000, mss, true);
        assert_eq!(p.room(mss), 7 * mss);
        // Just below ssthresh: only the gap.
        p.on_ack(mss, 9_500, 10_000, mss, true);
        assert_eq!(p.room(mss), 500);
    }
}
