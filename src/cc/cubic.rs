//! CUBIC (RFC 9438) with HyStart++ (RFC 9406) for the initial slow start.
//!
//! Integer arithmetic only (no floating point, no `libm`): windows in
//! octets, times in microseconds, the cube and the cube root in `u128`.
//! With C = 0.4 segments/s³, the curve in octets is
//! `W(t) = W_max ± SMSS·|t − K|³ / 2.5·10¹⁸` for `t`, `K` in µs.

use super::hystart::{
    HyStart, HyStartMode, HyStartPhase, L_NON_PACED, LINUX_LOW_WINDOW, LinuxDelay, linux_delay_rise,
};
use super::{AckInfo, AckSample, CongestionControl, recovery};
use crate::time::Instant;

/// β_cubic = 0.7 (RFC 9438 §4.6), as a fraction.
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// Fast convergence factor (1 + β_cubic)/2 = 0.85 (RFC 9438 §4.7).
const FC_NUM: u64 = 17;
const FC_DEN: u64 = 20;
/// α_cubic = 3(1 − β)/(1 + β) = 0.9/1.7 = 9/17 (RFC 9438 §4.3).
const ALPHA_NUM: u64 = 9;
const ALPHA_DEN: u64 = 17;
/// 1/C in µs³ per segment: (10⁶)³ / 0.4.
const INV_C_US3: u128 = 2_500_000_000_000_000_000;
/// |t − K| is clamped here (10⁴ s) so that the cube stays well inside
/// `u128`; any window this far out is beyond `u32::MAX` octets anyway.
const MAX_DELTA_US: u64 = 10_000_000_000;

/// The epoch's age meaning "no congestion-avoidance epoch".
const NO_EPOCH: u32 = u32::MAX;

/// The epoch's age meaning "no epoch since a retransmission timeout":
/// until the next congestion-avoidance stage begins, W_max is unknown
/// (0), and that stage's curve has K = 0 and W_max = cwnd at its start
/// (RFC 9438 §4.8; Linux's `bictcp_reset` zeroes `last_max_cwnd`).
const NO_EPOCH_SINCE_RTO: u32 = u32::MAX - 1;

/// Ages are kept up to this many µs (71.6 minutes). Counting any larger t
/// as this one changes nothing the curve decides: with K ≤ 2.21·10⁹ µs
/// (see [`Cubic::start_epoch`]) and W_max − cwnd_epoch ≥ K³/(2.5·10¹⁸)
/// octets (from the definition of K, any SMSS ≥ 1), for every t ≥ T =
/// 2³² − 2 µs: W_cubic(t) ≥ (K³ + (T − K)³)/2.5·10¹⁸ ≥ T³/10¹⁹ ≈
/// 7.9·10⁹ octets, above 1.5·cwnd (≤ 6.5·10⁹) and above W_est (< 2³²).
/// So for t ≥ T the target is 1.5·cwnd and the Reno-friendly test fails,
/// exactly as at t = T (T = 2³² − 3 µs here: the same bound holds).
const MAX_AGE_US: u32 = NO_EPOCH_SINCE_RTO - 1;

/// In `Cubic::bits`: bits 32..37 of the W_est remainder.
const EST_REM_HI: u8 = 0x1f;
/// In `Cubic::bits`: W_max = ⌊0.85·cwnd_prior⌋ (fast convergence), not cwnd_prior.
const FAST_CONVERGED: u8 = 0x20;
/// In `Cubic::bits`: the curve starts at its plateau (K = 0).
const CONVEX: u8 = 0x40;
/// In `Cubic::bits`: fast recovery in progress (cwnd inflated).
const IN_RECOVERY: u8 = 0x80;

/// CUBIC congestion control (RFC 9438), with HyStart++ (RFC 9406) in the
/// initial slow start and the fast recovery of RFC 6582.
///
/// 64 octets, with the same arithmetic as a 64-bit-time, 128-bit-remainder
/// version.
// Windows in u32 octets, K in u32 µs (below 2.21·10⁹ µs, see
// `start_epoch`), the epoch as an age relative to the last activity
// (`MAX_AGE_US`), W_max as cwnd_prior and one bit, the curve's plateau
// and K in one word, and HyStart's state sharing its place with the undo
// state (HyStart++ ends at the first reduction, which is what arms an undo).
#[derive(Clone, Copy, Debug)]
pub struct Cubic {
    pub(super) cwnd: u32,
    ssthresh: u32,
    /// cwnd_prior: the window before the last reduction (RFC 9438 §4.6).
    /// W_max (§4.7) is this, or 0.85 times it after fast convergence
    /// ([`FAST_CONVERGED`]): the two are only ever set together.
    cwnd_prior: u32,
    /// The current curve: K in µs, its plateau being W_max; or with
    /// [`CONVEX`] the plateau itself (cwnd_epoch ≥ W_max), K being 0.
    curve: u32,
    /// W_est, the Reno-friendly estimate (RFC 9438 §4.3), octets.
    w_est: u32,
    /// The remainder of the division in W_est's update: below
    /// 17·cwnd < 2³⁷, kept as these low 32 bits and the 5 bits of
    /// [`EST_REM_HI`] in `bits`.
    est_rem_lo: u32,
    /// [`EST_REM_HI`], [`FAST_CONVERGED`], [`CONVEX`], [`IN_RECOVERY`].
    bits: u8,
    /// The remainder of the division in cwnd's growth: below cwnd, so u32.
    inc_rem: u32,
    /// Last time the window was allowed to move with time (ACK or send).
    last_active: Instant,
    /// How long before `last_active` the current congestion-avoidance
    /// epoch started (t = 0), µs, capped at [`MAX_AGE_US`]; [`NO_EPOCH`]
    /// or [`NO_EPOCH_SINCE_RTO`] when there is none. (`now` never goes backwards, so the epoch is
    /// never after `last_active`.)
    epoch_age: u32,
    /// How HyStart detects a rise (kept after HyStart++ ended: Linux's
    /// avoidance floor depends on it).
    mode: HyStartMode,
    /// Most SMSS one ACK adds in slow start (RFC 9406's L); 0: no limit.
    /// 16 bits (a larger limit counts as 65,535 segments per ACK): the
    /// octets saved make room for HyStart re-armed next to the undo state.
    ss_limit: u16,
    memory: Memory,
}

/// What the controller remembers besides its window: HyStart++ during the
/// initial slow start, then after a loss reduction the state from before
/// it, for an undo (RFC 9438 §4.9). The first reduction ends HyStart++;
/// with Linux's detection a timeout re-arms it next to the undo state
/// (`UndoRearmed`), as Linux's CUBIC does.
#[derive(Clone, Copy, Debug)]
enum Memory {
    /// The initial slow start, HyStart++ at work.
    HyStart(HyStart),
    /// ssthresh, cwnd_prior and W_max (as its fast-convergence bit) from
    /// before the last reduction; cwnd from before it is the current
    /// cwnd_prior (the reduction sets it so).
    Undo {
        ssthresh: u32,
        cwnd_prior: u32,
        fast_converged: bool,
    },
    /// `Undo` and, with [`HyStartMode::Linux`], the delay detection
    /// re-armed by a retransmission timeout for the slow start that
    /// follows it ([`LinuxDelay`], flattened: 20 octets with the tag,
    /// where a nested struct would take 24).
    ///
    /// Linux's CUBIC on entering TCP_CA_Loss (`cubictcp_state` →
    /// `bictcp_reset`, `bictcp_hystart_reset`) clears `found`, the base
    /// RTT `delay_min` and the round; `cubictcp_acked` then runs
    /// `hystart_update` in every slow start (`tcp_in_slow_start`) until
    /// it fires again. The undo state (Linux's `prior_cwnd` and
    /// `prior_ssthresh`, kept in `tcp_sock`) lives on beside it.
    UndoRearmed {
        ssthresh: u32,
        cwnd_prior: u32,
        fast_converged: bool,
        /// [`LinuxDelay::base`].
        base: u32,
        /// [`LinuxDelay::round_min`].
        round_min: u32,
        /// [`LinuxDelay::samples`].
        samples: u8,
    },
    /// Neither.
    Nothing,
}

impl Cubic {
    /// A controller with an initial window of `initial_window` segments of
    /// `mss` octets, HyStart++ on for the first slow start.
    pub fn new(initial_window: u32, mss: u32) -> Cubic {
        Cubic {
            cwnd: initial_window.saturating_mul(mss),
            ssthresh: u32::MAX,
            cwnd_prior: 0,
            curve: 0,
            w_est: 0,
            est_rem_lo: 0,
            bits: 0,
            inc_rem: 0,
            last_active: Instant::ZERO,
            epoch_age: NO_EPOCH,
            mode: HyStartMode::Rfc9406,
            ss_limit: L_NON_PACED as u16,
            memory: Memory::HyStart(HyStart::new()),
        }
    }

    /// Sets the slow-start growth limit per ACK in segments (RFC 9406's L,
    /// 8 without pacing); 0 lets an ACK add every segment it covers, as
    /// Linux's `tcp_slow_start`.
    /// Limits above 65,535 segments per ACK count as 65,535.
    pub fn with_slow_start_limit(mut self, segments: u32) -> Cubic {
        self.ss_limit_set(segments);
        self
    }

    pub(crate) fn ss_limit_set(&mut self, segments: u32) {
        self.ss_limit = u16::try_from(segments).unwrap_or(u16::MAX);
    }

    fn in_recovery(&self) -> bool {
        self.bits & IN_RECOVERY != 0
    }

    /// Chooses how HyStart decides the RTT rose (RFC 9406 by default,
    /// [`HyStartMode::Linux`] as `Config::linux()`); no effect once the
    /// initial slow start is over.
    pub fn with_hystart_mode(mut self, mode: HyStartMode) -> Cubic {
        self.hystart_mode_set(mode);
        self
    }

    pub(crate) fn hystart_mode_set(&mut self, mode: HyStartMode) {
        // Only in the initial slow start (no reduction yet, HyStart on):
        // a re-armed detection keeps the undo state beside it.
        if self.ssthresh == u32::MAX
            && matches!(self.memory, Memory::HyStart(h) if h.phase() != HyStartPhase::Done)
            && self.mode != mode
        {
            self.mode = mode;
            self.memory = Memory::HyStart(HyStart::with_mode(mode));
        }
    }

    /// The same without HyStart++: standard slow start to the first loss.
    pub fn without_hystart(initial_window: u32, mss: u32) -> Cubic {
        let mut c = Cubic::new(initial_window, mss);
        c.hystart_finish();
        c
    }

    /// Where HyStart++ is.
    fn hystart_phase(&self) -> HyStartPhase {
        match &self.memory {
            Memory::HyStart(h) => h.phase(),
            Memory::UndoRearmed { .. } => HyStartPhase::SlowStart,
            Memory::Undo { .. } | Memory::Nothing => HyStartPhase::Done,
        }
    }

    /// The undo state (ssthresh, cwnd_prior, fast convergence), in
    /// whichever memory holds it.
    fn undo_state(&self) -> Option<(u32, u32, bool)> {
        match self.memory {
            Memory::Undo {
                ssthresh,
                cwnd_prior,
                fast_converged,
            }
            | Memory::UndoRearmed {
                ssthresh,
                cwnd_prior,
                fast_converged,
                ..
            } => Some((ssthresh, cwnd_prior, fast_converged)),
            Memory::HyStart(_) | Memory::Nothing => None,
        }
    }

    /// HyStart++ is over (an undo state stays).
    fn hystart_finish(&mut self) {
        self.memory = match self.undo_state() {
            Some((ssthresh, cwnd_prior, fast_converged)) => Memory::Undo {
                ssthresh,
                cwnd_prior,
                fast_converged,
            },
            None => Memory::Nothing,
        };
    }

    /// A retransmission timeout re-arms Linux's delay detection with a
    /// fresh base and round ([`Memory::UndoRearmed`]); the undo state, if
    /// any, stays. RFC 9406's HyStart++ is for the initial slow start only
    /// (§4.3): a later slow start is a standard one there.
    fn hystart_rearm_after_rto(&mut self) {
        if self.mode != HyStartMode::Linux {
            self.hystart_finish();
            return;
        }
        let d = LinuxDelay::FRESH;
        self.memory = match self.undo_state() {
            Some((ssthresh, cwnd_prior, fast_converged)) => Memory::UndoRearmed {
                ssthresh,
                cwnd_prior,
                fast_converged,
                base: d.base,
                round_min: d.round_min,
                samples: d.samples,
            },
            None => Memory::HyStart(HyStart::linux_resumed(d)),
        };
    }

    fn est_rem(&self) -> u64 {
        u64::from(self.bits & EST_REM_HI) << 32 | u64::from(self.est_rem_lo)
    }

    fn set_est_rem(&mut self, r: u64) {
        // r < 17·(2³² − 1) < 2³⁷: nothing is lost.
        self.est_rem_lo = r as u32;
        self.bits = (self.bits & !EST_REM_HI) | (r >> 32) as u8;
    }

    fn set_bit(&mut self, bit: u8, on: bool) {
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    /// W_max: the window before the last reduction, lowered by fast
    /// convergence (RFC 9438 §4.7).
    fn w_max(&self) -> u32 {
        if self.bits & FAST_CONVERGED != 0 {
            (u64::from(self.cwnd_prior) * FC_NUM / FC_DEN) as u32
        } else {
            self.cwnd_prior
        }
    }

    /// W_max as the curve in force sees it: [`Cubic::w_max`], except
    /// after a retransmission timeout (RFC 9438 §4.8), where it is unknown
    /// (0) until congestion avoidance begins and then the window at that
    /// beginning (the convex curve's plateau; a plateau below
    /// [`Cubic::w_max`] is only ever set by the epoch after a timeout).
    /// Linux's `last_max_cwnd` the same way: 0 from the timeout's
    /// `bictcp_reset`, and with K = 0 the origin is cwnd at the start.
    fn w_max_now(&self) -> u32 {
        let w_max = self.w_max();
        if self.epoch_age == NO_EPOCH_SINCE_RTO {
            0
        } else if self.has_epoch() && self.bits & CONVEX != 0 && self.curve < w_max {
            self.curve
        } else {
            w_max
        }
    }

    /// Whether a congestion-avoidance epoch is running.
    fn has_epoch(&self) -> bool {
        self.epoch_age <= MAX_AGE_US
    }

    /// The plateau of the current curve, max(W_max, cwnd_epoch), and its K in µs.
    fn curve(&self) -> (u64, u64) {
        if self.bits & CONVEX != 0 {
            (u64::from(self.curve), 0)
        } else {
            (u64::from(self.w_max()), u64::from(self.curve))
        }
    }

    /// W_cubic(t) of the current curve (tests).
    #[cfg(test)]
    fn w_cubic(&self, t_us: u64, mss: u32) -> u64 {
        Self::w_cubic_on(self.curve(), t_us, mss)
    }

    /// W_cubic(t) of RFC 9438 §4.2 in octets, for `t_us` µs after the
    /// epoch, SMSS `mss`, on the curve `(origin, K)`.
    fn w_cubic_on((origin, k_us): (u64, u64), t_us: u64, mss: u32) -> u64 {
        let (d, below) = if t_us >= k_us {
            (t_us - k_us, false)
        } else {
            (k_us - t_us, true)
        };
        let d = u128::from(d.min(MAX_DELTA_US));
        let off = u128::from(mss) * d * d * d / INV_C_US3;
        let off = u64::try_from(off).unwrap_or(u64::MAX);
        if below {
            origin.saturating_sub(off)
        } else {
            origin.saturating_add(off)
        }
    }

    /// A new congestion-avoidance epoch starts at `now` (RFC 9438 §4.2:
    /// K = ∛((W_max − cwnd_epoch)/C); §4.3: W_est = cwnd_epoch). The
    /// first one after a timeout has K = 0 and W_max = cwnd_epoch (§4.8).
    ///
    /// K fits u32: (W_max − cwnd)/SMSS·(1/C) ≤ (2³² − 1)·2.5·10¹⁸ <
    /// 1.08·10²⁸ µs³, whose cube root is below 2.21·10⁹ < 2³² µs.
    fn start_epoch(&mut self, now: Instant, mss: u32) {
        let w_max = self.w_max_now();
        self.epoch_age = 0;
        self.last_active = now;
        if w_max > self.cwnd {
            // The plateau is W_max, which stays as it is for the epoch
            // (only a reduction or an undo changes it, and they end it).
            let segs_us3 = u128::from(w_max - self.cwnd) * INV_C_US3 / u128::from(mss);
            self.curve = icbrt(segs_us3) as u32;
            self.set_bit(CONVEX, false);
        } else {
            // Above the last maximum (or none yet, or none since a
            // timeout): the convex region from now.
            self.curve = self.cwnd;
            self.set_bit(CONVEX, true);
        }
        self.w_est = self.cwnd;
        self.set_est_rem(0);
        self.inc_rem = 0;
    }

    /// The window moves with time again at `now`: `last_active` becomes
    /// `now`, the epoch (if any) stays where it was, so its age grows by
    /// the time since `last_active` (capped). Returns the new age.
    fn touch(&mut self, now: Instant) -> u32 {
        if self.has_epoch() {
            let age = if now >= self.last_active {
                let since = now.total_micros() - self.last_active.total_micros();
                u64::from(self.epoch_age)
                    .saturating_add(since)
                    .min(u64::from(MAX_AGE_US)) as u32
            } else {
                // Only if `now` went backwards: the epoch moves no later than `now`.
                let back = self.last_active.total_micros() - now.total_micros();
                u64::from(self.epoch_age).saturating_sub(back) as u32
            };
            self.epoch_age = age;
        }
        self.last_active = now;
        self.epoch_age
    }

    /// Time that did not use the window does not count towards t
    /// (RFC 9438 §5.8): move the epoch forward by the pause. The epoch
    /// keeps its age relative to the last activity.
    fn pause_until(&mut self, now: Instant) {
        if now >= self.last_active {
            self.last_active = now;
        } else if self.has_epoch() {
            // `now` went backwards: the epoch moves back to `now` if it was later.
            let back = self.last_active.total_micros() - now.total_micros();
            self.epoch_age = u64::from(self.epoch_age)
                .max(back)
                .min(u64::from(MAX_AGE_US)) as u32;
        }
    }

    /// The multiplicative decrease of a congestion event (RFC 9438 §4.6,
    /// fast convergence §4.7). Leaves cwnd to the caller.
    fn reduce(&mut self, mss: u32) {
        // The undo state (HyStart++ ends here); cwnd before the reduction
        // is cwnd_prior after it. A zero window has nothing to restore.
        self.memory = if self.cwnd == 0 {
            Memory::Nothing
        } else {
            Memory::Undo {
                ssthresh: self.ssthresh,
                cwnd_prior: self.cwnd_prior,
                fast_converged: self.bits & FAST_CONVERGED != 0,
            }
        };
        let cwnd = u64::from(self.cwnd);
        // W_max = 0.85·cwnd if the window shrank since the last
        // reduction, else cwnd; cwnd_prior = cwnd. Since a timeout, W_max
        // is the window at the start of congestion avoidance, if any (§4.8).
        let shrank = self.cwnd < self.w_max_now();
        self.set_bit(FAST_CONVERGED, shrank);
        self.cwnd_prior = self.cwnd;
        // β·cwnd rather than β·FlightSize: growth is held while the window
        // is not used (`AckSample::app_limited`), as §4.6 requires then.
        self.ssthresh = ((cwnd * BETA_NUM / BETA_DEN) as u32).max(2 * mss);
        self.epoch_age = NO_EPOCH;
    }

    #[inline]
    fn slow_start(&mut self, ack: &AckInfo, mss: u32) {
        // cwnd / mss ≥ LINUX_LOW_WINDOW without a division: floor(c/m) ≥ n
        // exactly when c ≥ n·m (in 64 bits, where n·m cannot overflow).
        let low_window_reached =
            u64::from(self.cwnd) >= u64::from(LINUX_LOW_WINDOW) * u64::from(mss);
        let inc = match &mut self.memory {
            Memory::HyStart(h) if h.phase() != HyStartPhase::Done => {
                if h.on_ack_in_window(ack.new_round, ack.rtt, low_window_reached)
                    == HyStartPhase::Done
                {
                    // RFC 9406 §4.2: CSS_ROUNDS rounds of CSS done (or Linux's
                    // delay detection fired): ssthresh = cwnd.
                    self.ssthresh = self.cwnd;
                    return;
                }
                if ack.app_limited {
                    return;
                }
                h.increase_limited(ack.acked, ack.mss, u32::from(self.ss_limit))
            }
            Memory::UndoRearmed {
                base,
                round_min,
                samples,
                ..
            } => {
                // Re-armed by a timeout (`cubictcp_acked` → `hystart_update`
                // while `!found && tcp_in_slow_start`).
                let active = low_window_reached;
                if linux_delay_rise(base, round_min, samples, ack.new_round, ack.rtt, active) {
                    // Linux: found = 1, ssthresh = cwnd; the undo state stays.
                    self.hystart_finish();
                    self.ssthresh = self.cwnd;
                    return;
                }
                if ack.app_limited {
                    return;
                }
                self.standard_increase(ack)
            }
            _ => {
                if ack.app_limited {
                    return;
                }
                self.standard_increase(ack)
            }
        };
        // RFC 5681 §3.1: slow start ends at ssthresh.
        self.cwnd = self
            .cwnd
            .saturating_add(inc)
            .min(self.ssthresh.max(self.cwnd));
    }

    /// Standard slow start's increase: min(acked, L·SMSS), or all of
    /// `acked` without a limit.
    #[inline]
    fn standard_increase(&self, ack: &AckInfo) -> u32 {
        match u32::from(self.ss_limit) {
            0 => ack.acked,
            l => ack.acked.min(l.saturating_mul(ack.mss)),
        }
    }

    fn congestion_avoidance(&mut self, now: Instant, ack: &AckInfo, mss: u32) {
        if ack.app_limited {
            self.pause_until(now);
            return;
        }
        if !self.has_epoch() {
            self.start_epoch(now, mss);
        }
        // t, capped at MAX_AGE_US (which changes nothing, see there).
        let t_us = u64::from(self.touch(now));
        let rtt_us = ack.srtt.or(ack.rtt).unwrap_or(0);
        let cwnd = u64::from(self.cwnd.max(1));
        // No congestion event yet, so the path's capacity is unknown:
        // Linux's CUBIC grows at least 5 % per round trip then
        // (`bictcp_update`, cnt ≤ 20), so that a slow start ended by delay
        // detection below the capacity does not crawl along the flat
        // start of the convex curve (or at the Reno-friendly 1 SMSS per
        // round) for seconds.
        // After a timeout too, until the next reduction: `bictcp_reset`
        // zeroed `last_max_cwnd` (the epoch since the timeout is the one
        // convex curve below W_max, see `w_max_now`).
        let capacity_unknown = self.mode == HyStartMode::Linux
            && (self.w_max() == 0 || self.bits & CONVEX != 0 && self.curve < self.w_max());
        // §4.2: target = W_cubic(t + RTT), within [cwnd, 1.5·cwnd].
        let curve = self.curve();
        let mut target =
            Self::w_cubic_on(curve, t_us.saturating_add(rtt_us), mss).clamp(cwnd, cwnd + cwnd / 2);
        if capacity_unknown {
            target = target.max(cwnd + cwnd / 20);
        }
        // §4.3: W_est += α·segments_acked/cwnd (in octets), α = 1 once
        // W_est has reached cwnd_prior.
        let (an, ad) = if self.w_est >= self.cwnd_prior {
            (1, 1)
        } else {
            (ALPHA_NUM, ALPHA_DEN)
        };
        let num = an * u64::from(ack.mss) * u64::from(ack.acked) + self.est_rem();
        let den = ad * cwnd;
        self.w_est = sat_u32(u64::from(self.w_est) + num / den);
        self.set_est_rem(num % den);
        if Self::w_cubic_on(curve, t_us, mss) < u64::from(self.w_est) && !capacity_unknown {
            // Reno-friendly region.
            self.cwnd = self.cwnd.max(self.w_est);
        } else {
            // Concave or convex region: cwnd += (target − cwnd)/cwnd per
            // SMSS acked. In u64: target − cwnd ≤ cwnd/2 < 2³¹ and
            // acked < 2³², so num < 2⁶³ + 2³²; the remainder is below cwnd.
            let num = (target - cwnd) * u64::from(ack.acked) + u64::from(self.inc_rem);
            let inc = num / cwnd;
            self.inc_rem = (num % cwnd) as u32;
            self.cwnd = sat_u32(cwnd.saturating_add(inc));
            if capacity_unknown {
                self.cwnd = self.cwnd.max(self.w_est);
            }
        }
    }
}

impl Cubic {
    /// [`CongestionControl::on_ack`] with the times in µs (the
    /// connection's form; the trait method converts a public sample).
    #[inline]
    pub(crate) fn on_ack_info(&mut self, now: Instant, ack: &AckInfo) {
        self.on_ack_with(now, |_, _| *ack);
    }

    /// [`on_ack_info`](Self::on_ack_info) with the sample made by `ack`
    /// from cwnd and ssthresh, once per branch: slow start reads no
    /// smoothed or minimum RTT, so building those is left out there; and
    /// congestion avoidance gets the sample in memory of its own.
    #[inline(always)]
    pub(crate) fn on_ack_with(&mut self, now: Instant, ack: impl FnOnce(u32, u32) -> AckInfo) {
        let (cwnd, ssthresh) = (self.cwnd, self.ssthresh);
        if cwnd < ssthresh {
            let a = ack(cwnd, ssthresh);
            self.slow_start(&a, a.mss.max(1));
            self.touch(now);
        } else {
            let a = ack(cwnd, ssthresh);
            self.congestion_avoidance(now, &a, a.mss.max(1));
        }
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn reset(&mut self, initial_window: u32, mss: u32) {
        let hystart = self.hystart_phase() != HyStartPhase::Done;
        let mode = self.mode;
        let ss_limit = self.ss_limit;
        *self = Cubic::new(initial_window, mss)
            .with_hystart_mode(mode)
            .with_slow_start_limit(u32::from(ss_limit));
        if !hystart {
            self.hystart_finish();
        }
    }

    fn on_ack(&mut self, now: Instant, ack: &AckSample) {
        self.on_ack_info(now, &AckInfo::from(ack));
    }

    fn on_fast_retransmit(&mut self, _now: Instant, _flight: u32, mss: u32) {
        self.reduce(mss);
        self.cwnd = recovery::enter(self.ssthresh, mss);
        self.set_bit(IN_RECOVERY, true);
    }

    fn on_dup_ack_in_recovery(&mut self, mss: u32) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }

    fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        self.cwnd = recovery::partial_ack(self.cwnd, acked, mss);
    }

    fn on_recovery_end(&mut self, flight: u32, mss: u32) {
        self.cwnd = recovery::end(self.ssthresh, flight, mss);
        self.set_bit(IN_RECOVERY, false);
    }

    fn on_sack_recovery_end(&mut self, _flight: u32, _mss: u32) {
        // RFC 9438 §4.6 (the reduced window is ssthresh), RFC 5681 §3.2
        // step 6, as Linux (`tcp_end_cwnd_reduction`): cwnd = ssthresh.
        // PRR has brought the flight to about ssthresh; RFC 6582's
        // min(ssthresh, FlightSize + SMSS) would only round ssthresh down
        // to whole segments and start the next epoch (cwnd_epoch, W_est)
        // late. When the flight is well below ssthresh (the sender ran out
        // of data), Linux sends up to ssthresh at once and so does this:
        // the former `tcp_max_burst` moderation is gone from Linux
        // (packetdrill's prr-ss-30pkt-lost1_4 sends 7 segments at once).
        self.cwnd = self.ssthresh;
        self.set_bit(IN_RECOVERY, false);
    }

    fn on_rto(&mut self, _now: Instant, _flight: u32, mss: u32) {
        // RFC 9438 §4.8: ssthresh with β_cubic, cwnd = 1 SMSS. A timeout
        // during recovery, or a repeated one with no progress since, has
        // already had its reduction.
        if !self.in_recovery() && self.cwnd > mss {
            self.reduce(mss);
        }
        // Every timeout, a repeated one too (Linux calls `set_state`
        // (TCP_CA_Loss) at each `tcp_enter_loss`).
        self.hystart_rearm_after_rto();
        self.set_bit(IN_RECOVERY, false);
        // §4.8: the first congestion avoidance after it starts on a
        // curve of its own (K = 0, W_max = cwnd then); W_max stays
        // cwnd_prior's for fast convergence and for an undo.
        self.epoch_age = NO_EPOCH_SINCE_RTO;
        self.cwnd = mss;
    }

    fn on_ecn(&mut self, _now: Instant, _flight: u32, mss: u32) {
        // RFC 9438 §4.6: an ECN-Echo is a congestion event like a loss,
        // without recovery: cwnd = ssthresh at once (RFC 3168 §6.1.2).
        self.reduce(mss);
        self.cwnd = self.ssthresh;
        // A congestion mark is never spurious: nothing to undo.
        self.memory = Memory::Nothing;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        let (ssthresh, cwnd_prior, fast_converged, after) = match self.memory {
            Memory::Undo {
                ssthresh,
                cwnd_prior,
                fast_converged,
            } => (ssthresh, cwnd_prior, fast_converged, Memory::Nothing),
            // Linux's undo leaves CUBIC's `found` as the timeout left it:
            // the re-armed detection goes on in the slow start (if any)
            // the restored window and threshold give.
            Memory::UndoRearmed {
                ssthresh,
                cwnd_prior,
                fast_converged,
                base,
                round_min,
                samples,
            } => {
                let d = LinuxDelay {
                    base,
                    round_min,
                    samples,
                };
                let h = HyStart::linux_resumed(d);
                (ssthresh, cwnd_prior, fast_converged, Memory::HyStart(h))
            }
            Memory::HyStart(_) | Memory::Nothing => return,
        };
        let cwnd = self.cwnd_prior;
        self.memory = after;
        // RFC 9438 §4.9: back to the window, threshold and curve from
        // before the reduction; the epoch restarts from the restored cwnd.
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = self.ssthresh.max(ssthresh);
        self.cwnd_prior = cwnd_prior;
        self.set_bit(FAST_CONVERGED, fast_converged);
        self.epoch_age = NO_EPOCH;
        self.set_bit(IN_RECOVERY, false);
    }

    fn on_restart_after_idle(&mut self, now: Instant) {
        self.pause_until(now);
    }

    fn set_window(&mut self, cwnd: u32, ssthresh: u32) {
        // The window and threshold only (Linux's tcp_cwnd_restart and
        // tcp_cwnd_reduction): after idle, `on_restart_after_idle` pauses
        // the epoch; an ECN reduction's `on_ecn` already began a new one.
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
    }
}

fn sat_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// ⌊∛x⌋ by the digit-by-digit method: three bits of `x` per bit of the root.
fn icbrt(mut x: u128) -> u64 {
    let mut y: u128 = 0;
    let mut s: i32 = 126;
    while s >= 0 {
        y <<= 1;
        let b = 3 * y * (y + 1) + 1;
        if (x >> s) >= b {
            x -= b << s;
            y += 1;
        }
        s -= 3;
    }
    y as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const MSS: u32 = 1000;

    fn at_ms(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn ack(acked: u32, srtt_ms: u64) -> AckSample {
        let mut a = AckSample::new(acked, 0, MSS);
        a.srtt = Some(Duration::from_millis(srtt_ms));
        a
    }

    /// A CUBIC sender that reached `segs` segments in slow start and then
    /// had one loss repaired by fast recovery.
    fn after_loss_at(segs: u32) -> Cubic {
        let mut c = Cubic::without_hystart(segs, MSS);
        c.on_fast_retransmit(Instant::ZERO, segs * MSS, MSS);
        c.on_recovery_end(segs * MSS, MSS);
        c
    }

    /// Delivers one window of ACKs (one per SMSS) at `now`.
    fn one_round(c: &mut Cubic, now: Instant, srtt_ms: u64) {
        for _ in 0..c.cwnd() / MSS {
            c.on_ack(now, &ack(MSS, srtt_ms));
        }
    }

    #[test]
    fn sack_recovery_ends_at_ssthresh_whatever_is_in_flight() {
        // 11 segments: ssthresh 7.7 segments, not a whole number of them.
        let mut c = Cubic::without_hystart(11, MSS);
        c.on_fast_retransmit(Instant::ZERO, 11 * MSS, MSS);
        let ssthresh = c.ssthresh();
        assert_eq!(ssthresh, 7700);
        // After PRR the flight is a segment or so below ssthresh: cwnd =
        // ssthresh (RFC 6582's option (1) would give 7 segments).
        let mut d = c;
        d.on_sack_recovery_end(6 * MSS, MSS);
        assert_eq!(d.cwnd(), ssthresh);
        c.on_recovery_end(6 * MSS, MSS);
        assert_eq!(c.cwnd(), 7 * MSS);
        // Little in flight (the sender ran out of data): still ssthresh,
        // as Linux's tcp_end_cwnd_reduction.
        let mut e = Cubic::without_hystart(11, MSS);
        e.on_fast_retransmit(Instant::ZERO, 11 * MSS, MSS);
        e.on_sack_recovery_end(MSS, MSS);
        assert_eq!(e.cwnd(), ssthresh);
    }

    #[test]
    fn integer_cube_root_is_exact_at_and_around_cubes() {
        for y in [0u64, 1, 2, 3, 10, 4217, 1 << 20, (1 << 42) - 1, 1 << 42] {
            let c = u128::from(y).pow(3);
            assert_eq!(icbrt(c), y);
            if y > 0 {
                assert_eq!(icbrt(c - 1), y - 1);
            }
            if y > 1 {
                assert_eq!(icbrt(c + 1), y);
            }
        }
        assert_eq!(icbrt(u128::MAX), 6_981_463_658_331);
    }

    #[test]
    fn loss_sets_w_max_beta_and_k_per_rfc9438() {
        // RFC 9438 §4.6: W_max = 100 segments, ssthresh = cwnd = 70;
        // §4.2: K = ∛((100 − 70)/0.4) = ∛75 = 4.2172 s.
        let mut c = after_loss_at(100);
        assert_eq!((c.w_max(), c.cwnd_prior), (100_000, 100_000));
        assert_eq!((c.ssthresh(), c.cwnd()), (70_000, 70_000));
        c.on_ack(at_ms(0), &ack(MSS, 100));
        let (origin, k_us) = c.curve();
        assert_eq!(origin, 100_000);
        assert!((4_217_162..=4_217_164).contains(&k_us), "K = {k_us} µs");
        // The curve passes W_max at t = K and starts at cwnd_epoch.
        assert_eq!(c.w_cubic(k_us, MSS), 100_000);
        assert!(c.w_cubic(0, MSS).abs_diff(70_000) <= 1);
    }

    #[test]
    fn fast_convergence_lowers_w_max_when_the_window_shrank() {
        // Second loss at 80 segments, below W_max = 100: W_max = 80·0.85 = 68,
        // cwnd = 56, K = ∛((68 − 56)/0.4) = ∛30 = 3.1072 s.
        let mut c = after_loss_at(100);
        c.cwnd = 80_000;
        c.on_fast_retransmit(Instant::ZERO, 80_000, MSS);
        c.on_recovery_end(80_000, MSS);
        assert_eq!(
            (c.w_max(), c.cwnd_prior, c.cwnd()),
            (68_000, 80_000, 56_000)
        );
        c.on_ack(at_ms(0), &ack(MSS, 100));
        let k_us = c.curve().1;
        assert!((3_107_231..=3_107_233).contains(&k_us), "K = {k_us} µs");
        // A loss above W_max takes the window as it is.
        c.cwnd = 90_000;
        c.on_fast_retransmit(Instant::ZERO, 90_000, MSS);
        assert_eq!(c.w_max(), 90_000);
    }

    #[test]
    fn window_is_concave_up_to_w_max_then_convex() {
        // RTT 100 ms: CUBIC's curve, not Reno's, rules (K = 4.2 s = 42 rounds).
        let mut c = after_loss_at(100);
        let mut w = vec![c.cwnd()];
        for r in 0..80u64 {
            one_round(&mut c, at_ms(r * 100), 100);
            w.push(c.cwnd());
        }
        let inc: Vec<i64> = w
            .windows(2)
            .map(|p| i64::from(p[1]) - i64::from(p[0]))
            .collect();
        // Concave: increments shrink approaching K (rounds 5..35).
        assert!(inc[5] > inc[20] && inc[20] > inc[35], "{inc:?}");
        // Plateau around W_max near t = K.
        let near_k = w[42];
        assert!(near_k.abs_diff(100_000) < 2_000, "cwnd at K = {near_k}");
        // Convex: increments grow after K.
        assert!(inc[75] > inc[60] && inc[60] > inc[50], "{inc:?}");
        assert!(w[80] > 110_000);
    }

    #[test]
    fn reno_friendly_region_rules_at_small_rtt() {
        // RTT 1 ms: in 50 rounds the cubic curve has barely moved
        // (W(0.05 s) ≈ 70.4 segments), Reno's estimate grew by α·50 ≈ 26.5.
        let mut c = after_loss_at(100);
        for r in 0..50u64 {
            one_round(&mut c, at_ms(r), 1);
        }
        let segs = c.cwnd() / MSS;
        assert!((94..=98).contains(&segs), "cwnd {segs} segments");
        assert!(u64::from(c.cwnd()) > c.w_cubic(50_000, MSS) + 20_000);
        // Once W_est passes cwnd_prior, α = 1: one segment per round.
        for r in 50..70u64 {
            one_round(&mut c, at_ms(r), 1);
        }
        let before = c.cwnd();
        one_round(&mut c, at_ms(70), 1);
        assert!(
            (c.cwnd() - before).abs_diff(MSS) <= 50,
            "{before} → {}",
            c.cwnd()
        );
    }

    #[test]
    fn no_growth_and_no_clock_while_application_limited() {
        let mut c = after_loss_at(100);
        one_round(&mut c, at_ms(0), 100);
        let w0 = c.cwnd();
        // Ten seconds of ACKs while the application does not fill the window.
        for i in 1..=100u64 {
            let mut a = ack(MSS, 100);
            a.app_limited = true;
            c.on_ack(at_ms(i * 100), &a);
        }
        assert_eq!(c.cwnd(), w0, "no growth while app-limited");
        // Back to cwnd-limited: t excludes the pause, so the window is still
        // in the concave region below W_max, not 10 s up the convex curve.
        one_round(&mut c, at_ms(10_100), 100);
        assert!(c.cwnd() < 100_000, "cwnd {}", c.cwnd());
        // The same after an idle pause with nothing in flight.
        let w1 = c.cwnd();
        c.on_restart_after_idle(at_ms(100_000));
        one_round(&mut c, at_ms(100_000), 100);
        assert!(c.cwnd() - w1 < 5_000, "{w1} → {}", c.cwnd());
        // Slow start too holds still while app-limited.
        let mut s = Cubic::new(10, MSS);
        let mut a = ack(MSS, 10);
        a.app_limited = true;
        s.on_ack(at_ms(0), &a);
        assert_eq!(s.cwnd(), 10 * MSS);
    }

    #[test]
    fn hystart_exits_slow_start_into_avoidance_at_cwnd() {
        let mut c = Cubic::new(10, MSS);
        let mut rtt = 20;
        'rounds: for round in 0..12u64 {
            if round >= 4 {
                rtt = 40; // the queue builds.
            }
            let n = c.cwnd() / MSS;
            for i in 0..n {
                let mut a = ack(MSS, rtt);
                a.rtt = Some(Duration::from_millis(rtt));
                a.new_round = i == 0;
                c.on_ack(at_ms(round * 40), &a);
                if c.ssthresh() != u32::MAX {
                    break 'rounds;
                }
            }
        }
        assert_eq!(c.ssthresh(), c.cwnd(), "slow start ended at cwnd");
        assert_eq!(c.hystart_phase(), HyStartPhase::Done);
        // Doubling for 4 rounds (10 → 160), then CSS at 1/4 for 5 rounds: no
        // overshoot to a loss, well below what plain slow start would reach.
        assert!(c.cwnd() < 1_000_000, "cwnd {}", c.cwnd());
        assert!(c.cwnd() > 160_000);
    }

    #[test]
    fn huge_windows_and_long_idle_times_do_not_overflow() {
        let mut c = Cubic::without_hystart(1, 65_535);
        c.cwnd = u32::MAX - 10;
        c.on_ack(at_ms(0), &AckSample::new(u32::MAX, u32::MAX, 65_535));
        assert_eq!(c.cwnd(), u32::MAX, "saturates");
        c.on_fast_retransmit(Instant::ZERO, u32::MAX, 65_535);
        assert_eq!(c.ssthresh(), (u64::from(u32::MAX) * 7 / 10) as u32);
        c.on_recovery_end(u32::MAX, 65_535);
        // A century later, with a huge RTT: saturates, never panics.
        let mut a = AckSample::new(u32::MAX, u32::MAX, 65_535);
        a.srtt = Some(Duration::from_secs(1 << 40));
        c.on_ack(at_ms(0), &a);
        c.on_ack(Instant::from_secs(3_000_000_000), &a);
        assert_eq!(c.cwnd(), u32::MAX);
        c.on_rto(Instant::from_secs(3_000_000_001), u32::MAX, 65_535);
        assert_eq!(c.cwnd(), 65_535);
        c.on_ecn(Instant::from_secs(u64::MAX / 1_000_000), 0, 65_535);
        assert_eq!(c.cwnd(), 2 * 65_535);
    }

    #[test]
    fn timeout_reduces_once_and_falls_back_to_standard_slow_start() {
        let mut c = Cubic::new(100, MSS);
        c.on_rto(Instant::ZERO, 100_000, MSS);
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max()), (MSS, 70_000, 100_000));
        // A repeated timeout without progress keeps the first reduction.
        c.on_rto(Instant::ZERO, MSS, MSS);
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max()), (MSS, 70_000, 100_000));
        c.on_ack(at_ms(1), &ack(MSS, 10));
        assert_eq!(c.cwnd(), 2 * MSS);
        assert_eq!(c.hystart_phase(), HyStartPhase::Done);
    }

    /// A CUBIC (without HyStart, `mode`'s avoidance) at 100 segments in
    /// congestion avoidance with W_max = 100 segments, after a timeout and
    /// slow start back to ssthresh (70 segments): the first ACK of
    /// congestion avoidance has just arrived.
    fn avoiding_after_rto(mode: HyStartMode) -> Cubic {
        let mut c = Cubic::new(100, MSS).with_hystart_mode(mode);
        c.hystart_finish();
        c.on_fast_retransmit(Instant::ZERO, 100 * MSS, MSS);
        c.on_recovery_end(100 * MSS, MSS);
        c.cwnd = 100 * MSS;
        c.on_rto(at_ms(1_000), 100 * MSS, MSS);
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max()), (MSS, 70_000, 100_000));
        // Back up to ssthresh in slow start (no epoch yet: W_max unknown).
        while c.cwnd() < c.ssthresh() {
            c.on_ack(at_ms(1_100), &ack(MSS, 100));
            assert_eq!(c.w_max_now(), 0, "W_max unknown until avoidance");
        }
        c.on_ack(at_ms(1_200), &ack(MSS, 100));
        c
    }

    #[test]
    fn the_first_avoidance_after_a_timeout_starts_convex_at_its_own_window() {
        let mut c = avoiding_after_rto(HyStartMode::Rfc9406);
        // RFC 9438 §4.8: K = 0 and W_max = cwnd at the start of this
        // stage, not the 100 segments before the timeout (which would
        // give K ≈ 4.2 s and a concave climb back to them).
        // Avoidance began at ssthresh (cwnd_epoch), one ACK ago.
        let start = c.ssthresh();
        assert!(
            c.cwnd() > start && c.cwnd() < start + MSS / 10,
            "{}",
            c.cwnd()
        );
        assert_eq!(c.curve(), (u64::from(start), 0));
        assert_eq!(c.w_max_now(), start);
        // W_max before the timeout is still there for an undo.
        assert_eq!(c.w_max(), 100_000);
        // One second on: convex from `start` (0.4·1³ = 0.4 segment
        // above it); the concave curve toward 100 segments would already
        // be ~21 segments above it.
        assert!(c.w_cubic(1_000_000, MSS) < u64::from(start) + MSS as u64);
        for ms in 0..10 {
            one_round(&mut c, at_ms(1_300 + 100 * ms), 100);
        }
        // Ten round trips of W_est's Reno-friendly growth (α = 0.53: W_est
        // starts at cwnd too): about 5 segments, nowhere near 100.
        assert!(c.cwnd() < start + 8 * MSS, "{}", c.cwnd());
        assert!(c.cwnd() > start + 3 * MSS, "{}", c.cwnd());
    }

    #[test]
    fn the_first_loss_after_a_timeout_sets_w_max_without_fast_convergence() {
        let mut c = avoiding_after_rto(HyStartMode::Rfc9406);
        one_round(&mut c, at_ms(1_300), 100);
        let cwnd = c.cwnd();
        c.on_fast_retransmit(at_ms(1_400), cwnd, MSS);
        // W_max was the window at the start of avoidance, below cwnd: no
        // fast convergence (§4.7), W_max = cwnd (not 0.85·cwnd, as a
        // comparison with the 100 segments before the timeout would give).
        assert_eq!(c.w_max(), cwnd);
        assert_eq!(c.ssthresh(), cwnd * 7 / 10);
    }

    #[test]
    fn linux_avoidance_after_a_timeout_grows_as_with_capacity_unknown() {
        // Linux's `bictcp_reset` zeroes last_max_cwnd at the timeout, so
        // its floor of 5 % per round trip applies until the next loss.
        let mut linux = avoiding_after_rto(HyStartMode::Linux);
        let mut rfc = avoiding_after_rto(HyStartMode::Rfc9406);
        let start = linux.ssthresh();
        for ms in 0..10 {
            one_round(&mut linux, at_ms(1_300 + 100 * ms), 100);
            one_round(&mut rfc, at_ms(1_300 + 100 * ms), 100);
        }
        // 1.05^10 ≈ 1.63; allow for the per-ACK rounding.
        assert!(
            u64::from(linux.cwnd()) * 100 >= u64::from(start) * 155,
            "{} from {start}",
            linux.cwnd()
        );
        assert!(rfc.cwnd() < linux.cwnd());
        // The same controller after an undo of the timeout: back on the
        // old curve, W_max = 100 segments again.
        linux.on_spurious_congestion(at_ms(2_400));
        assert_eq!(linux.w_max_now(), 100_000);
    }

    /// One ACK of one segment with an RTT sample of `rtt_ms`.
    fn sampled(c: &mut Cubic, now_ms: u64, rtt_ms: u64) {
        let mut a = ack(MSS, rtt_ms);
        a.rtt = Some(Duration::from_millis(rtt_ms));
        c.on_ack(at_ms(now_ms), &a);
    }

    /// A Linux-mode CUBIC at `segs` segments in its initial slow start that
    /// has just had a retransmission timeout (ssthresh 0.7·`segs`, cwnd 1).
    fn linux_after_rto_at(segs: u32) -> Cubic {
        let mut c = Cubic::new(segs, MSS).with_hystart_mode(HyStartMode::Linux);
        sampled(&mut c, 0, 20);
        c.cwnd = segs * MSS;
        c.on_rto(at_ms(300), segs * MSS, MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, segs * MSS * 7 / 10));
        c
    }

    #[test]
    fn hystart_runs_again_in_the_slow_start_after_an_rto() {
        // Linux (tcp_cubic.c): TCP_CA_Loss → bictcp_reset clears `found`,
        // hystart_reset the round; hystart_update runs while cwnd < ssthresh.
        let mut c = linux_after_rto_at(100);
        // Base 20 ms; the RTT rises to 40 ms at 12 segments, but nothing is
        // counted below the low window of 16.
        while c.cwnd() < 12 * MSS {
            sampled(&mut c, 400, 20);
        }
        while c.cwnd() < 16 * MSS {
            sampled(&mut c, 500, 40);
            assert_eq!(c.ssthresh(), 70 * MSS, "below 16 segments");
        }
        // From 16: eight samples collected (cwnd 16 → 24), the ninth is
        // checked: 40 > 20 + max(20/8, 4) ms.
        for _ in 0..8 {
            sampled(&mut c, 600, 40);
        }
        assert_eq!((c.cwnd(), c.ssthresh()), (24 * MSS, 70 * MSS));
        sampled(&mut c, 600, 40);
        assert_eq!(
            (c.cwnd(), c.ssthresh()),
            (24 * MSS, 24 * MSS),
            "slow start ended at 24 segments, not at ssthresh 70"
        );
        assert_eq!(c.hystart_phase(), HyStartPhase::Done, "fired once");
        // The undo state from the timeout is still there.
        c.on_spurious_congestion(at_ms(700));
        assert_eq!((c.cwnd(), c.ssthresh()), (100 * MSS, u32::MAX));
    }

    #[test]
    fn rearmed_hystart_measures_a_fresh_base_rtt_after_an_rto() {
        // Linux's bictcp_reset zeroes delay_min: the base before the timeout
        // (20 ms) is forgotten, so a path now at a steady 40 ms is no rise.
        let mut c = linux_after_rto_at(100);
        while c.cwnd() < 70 * MSS {
            sampled(&mut c, 400, 40);
        }
        assert_eq!((c.cwnd(), c.ssthresh()), (70 * MSS, 70 * MSS));
        // A repeated timeout re-arms the detection again, undo state kept.
        c.on_rto(at_ms(1000), 70 * MSS, MSS);
        assert_eq!(c.hystart_phase(), HyStartPhase::SlowStart);
        assert_eq!(c.ssthresh(), 49 * MSS);
        c.on_rto(at_ms(2000), MSS, MSS);
        assert_eq!(c.ssthresh(), 49 * MSS, "no progress: no second reduction");
        c.on_spurious_congestion(at_ms(3000));
        assert_eq!((c.cwnd(), c.ssthresh()), (70 * MSS, 70 * MSS));
    }

    #[test]
    fn a_spurious_rto_in_the_initial_slow_start_leaves_hystart_armed() {
        // Undoing the timeout restores ssthresh = ∞: slow start goes on,
        // and so does the detection, with what it gathered since.
        let mut c = linux_after_rto_at(20);
        sampled(&mut c, 400, 20);
        c.on_spurious_congestion(at_ms(500));
        assert_eq!((c.cwnd(), c.ssthresh()), (20 * MSS, u32::MAX));
        assert_eq!(c.hystart_phase(), HyStartPhase::SlowStart);
        for _ in 0..8 {
            sampled(&mut c, 600, 30);
        }
        assert_eq!(c.ssthresh(), u32::MAX);
        sampled(&mut c, 600, 30);
        assert_eq!(c.ssthresh(), 28 * MSS, "30 > 20 + 4 ms on the ninth sample");
    }

    #[test]
    fn rfc9406_hystart_stays_off_after_an_rto() {
        // RFC 9406 §4.3: HyStart++ for the initial slow start only.
        let mut c = Cubic::new(100, MSS);
        c.on_rto(at_ms(0), 100 * MSS, MSS);
        for _ in 0..40 {
            let rtt = if c.cwnd() < 16 * MSS { 20 } else { 80 };
            sampled(&mut c, 100, rtt);
        }
        assert_eq!((c.cwnd(), c.ssthresh()), (41 * MSS, 70 * MSS));
        assert_eq!(c.hystart_phase(), HyStartPhase::Done);
    }

    #[test]
    fn undo_state_and_rearmed_hystart_share_twenty_octets() {
        use core::mem::size_of;
        assert_eq!(size_of::<Memory>(), 20);
        assert_eq!(size_of::<Cubic>(), 64);
    }

    #[test]
    fn ecn_echo_reduces_without_inflation() {
        let mut c = Cubic::without_hystart(100, MSS);
        c.on_ecn(Instant::ZERO, 100_000, MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (70_000, 70_000));
    }

    /// Congestion avoidance without any loss yet, `rounds` rounds of one
    /// full window each at 20 ms; returns the window after.
    fn avoidance_without_loss(mode: HyStartMode, rounds: u64) -> u32 {
        let mut c = Cubic::new(100, MSS).with_hystart_mode(mode);
        c.hystart_finish();
        c.ssthresh = c.cwnd; // slow start ended by HyStart: no loss, no W_max
        for r in 0..rounds {
            one_round(&mut c, at_ms(1000 + 20 * r), 20);
        }
        c.cwnd
    }

    #[test]
    fn linux_cubic_grows_five_percent_a_round_until_the_first_loss() {
        // 10 rounds: the convex curve from cwnd (K = 0) adds next to nothing
        // in 200 ms; Linux's floor (cnt ≤ 20) makes it ≥ 1.05 per round.
        let rfc = avoidance_without_loss(HyStartMode::Rfc9406, 10);
        let linux = avoidance_without_loss(HyStartMode::Linux, 10);
        assert!(rfc < 100 * MSS * 112 / 100, "RFC 9438 alone: {rfc}");
        // 1.05^10 = 1.63; integer steps and the first ACK starting the epoch lose a little.
        assert!(linux >= 100 * MSS * 155 / 100, "Linux floor: {linux}");
        assert!(
            linux <= 100 * MSS * 165 / 100,
            "no faster than 5 %: {linux}"
        );
        // After a loss W_max is known: the floor is gone.
        let mut c = Cubic::new(100, MSS).with_hystart_mode(HyStartMode::Linux);
        c.on_fast_retransmit(at_ms(0), 100 * MSS, MSS);
        c.on_recovery_end(70 * MSS, MSS);
        for r in 0..10 {
            one_round(&mut c, at_ms(1000 + 20 * r), 20);
        }
        // Reno-friendly α = 9/17 a round: 70 → ~75 (the floor would give > 110).
        assert!(c.cwnd < 80 * MSS, "no floor after a loss: {}", c.cwnd);
    }
}
