//! HyStart++ (RFC 9406): leave slow start when the round-trip time starts
//! to rise, before the queue overflows, through a few rounds of
//! Conservative Slow Start (CSS) that undo a false alarm.
//!
//! [`HyStartMode::Linux`] is the delay detection Linux's CUBIC uses
//! instead (`hystart_update`, HYSTART_DELAY): the round's minimum RTT is
//! compared with the connection's *base* (smallest ever) RTT rather than
//! with the previous round's, and slow start ends at once, without CSS.
//! Without pacing, every slow-start round starts with a burst that finds
//! the queue nearly drained, so round-to-round minima rise in small steps
//! each below the threshold while the standing queue grows past it: RFC
//! 9406's comparison then fires only once the window is well beyond the
//! path's capacity (measured in the crate's goodput bench: 1-BDP drop-tail
//! queue, 80 ms, ~1,000 queue drops in slow start).

use core::time::Duration;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: u64 = 4_000; // µs
const MAX_RTT_THRESH: u64 = 16_000; // µs
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u8 = 8;
const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u8 = 5;
/// Most SMSS one ACK may add in slow start without pacing (RFC 9406 §4.3, L).
pub(crate) const L_NON_PACED: u32 = 8;

/// Linux's CUBIC runs delay detection only from this window on
/// (`hystart_low_window`), in segments: below it a few RTT samples are
/// noise, and an early exit costs little.
pub(crate) const LINUX_LOW_WINDOW: u32 = 16;

/// How HyStart decides that the RTT has risen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum HyStartMode {
    /// RFC 9406 as written: the round's minimum RTT against the previous
    /// round's; a rise enters Conservative Slow Start for up to 5 rounds.
    #[default]
    Rfc9406,
    /// Linux's delay detection: the round's minimum RTT (after 8 samples)
    /// against the smallest RTT seen, the same threshold
    /// (base/8 within [4, 16] ms); a rise ends slow start at once
    /// (ssthresh = cwnd), from a window of 16 segments on. As Linux's
    /// CUBIC, a retransmission timeout re-arms it for the slow start that
    /// follows, with a fresh base RTT and round.
    Linux,
}

/// Where HyStart++ is in the initial slow start.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HyStartPhase {
    /// Standard slow start, watching the RTT.
    SlowStart,
    /// Conservative Slow Start: growth at 1/4, for up to `CSS_ROUNDS` rounds.
    Css,
    /// Done: the controller is in congestion avoidance (or lost a packet).
    Done,
}

/// "No RTT yet" in the RTT fields of [`HyStart`].
const NO_RTT: u32 = u32::MAX;

/// RTT samples are taken in whole µs up to this (71.6 minutes, far above
/// any RTT a connection survives; a longer sample counts as this long).
const MAX_RTT_US: u32 = NO_RTT - 1;

/// HyStart++ state of one connection (RFC 9406 §4.2), 16 octets. RTT
/// samples are whole microseconds; one above 71.5 minutes counts as 71.5
/// minutes.
// RTTs in u32 µs with `NO_RTT` for "none", the counters in octets (they
// are compared with 8 and 5 and saturate).
#[derive(Clone, Copy, Debug)]
pub struct HyStart {
    mode: HyStartMode,
    phase: HyStartPhase,
    /// RTT samples in the current round, saturating.
    samples: u8,
    css_rounds: u8,
    last_round_min: u32,
    current_round_min: u32,
    css_baseline: u32,
}

/// The rise over `base` µs that counts (RFC 9406 §4.2, also Linux's):
/// base/8 within [4, 16] ms.
fn threshold(base: u32) -> u64 {
    (u64::from(base) / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH)
}

/// An RTT sample (in µs) at most [`MAX_RTT_US`].
fn rtt_us(rtt: u64) -> u32 {
    u32::try_from(rtt).map_or(MAX_RTT_US, |r| r.min(MAX_RTT_US))
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart::new()
    }
}

impl HyStart {
    /// A fresh instance, in slow start.
    pub const fn new() -> HyStart {
        HyStart::with_mode(HyStartMode::Rfc9406)
    }

    /// A fresh instance with the given detection, in slow start.
    pub const fn with_mode(mode: HyStartMode) -> HyStart {
        HyStart {
            mode,
            phase: HyStartPhase::SlowStart,
            samples: 0,
            css_rounds: 0,
            last_round_min: NO_RTT,
            current_round_min: NO_RTT,
            css_baseline: NO_RTT,
        }
    }

    /// The detection in use.
    pub fn mode(&self) -> HyStartMode {
        self.mode
    }

    /// The current phase.
    pub fn phase(&self) -> HyStartPhase {
        self.phase
    }

    /// Stops HyStart++ (loss, ECN, or slow start over): later slow starts
    /// are standard ones (RFC 9406 §4.3 uses it for the initial one only;
    /// CUBIC re-arms [`HyStartMode::Linux`] at a timeout, as Linux).
    pub fn finish(&mut self) {
        self.phase = HyStartPhase::Done;
    }

    /// One ACK of new data in slow start. `new_round` marks the start of a
    /// round (RFC 9406 `windowEnd` acknowledged), `rtt` the sample it gave.
    /// Returns the phase after the ACK; [`HyStartPhase::Done`] means "set ssthresh
    /// to cwnd and enter congestion avoidance now".
    pub fn on_ack(&mut self, new_round: bool, rtt: Option<Duration>) -> HyStartPhase {
        self.on_ack_in_window(new_round, rtt.map(crate::time::duration_micros), true)
    }

    /// [`on_ack`](Self::on_ack) with the sample in µs and whether the
    /// congestion window has reached [`LINUX_LOW_WINDOW`] segments (Linux's
    /// detection waits for it).
    #[inline]
    pub(crate) fn on_ack_in_window(
        &mut self,
        new_round: bool,
        rtt: Option<u64>,
        low_window_reached: bool,
    ) -> HyStartPhase {
        if self.phase == HyStartPhase::Done {
            return HyStartPhase::Done;
        }
        if self.mode == HyStartMode::Linux {
            return self.on_ack_linux(new_round, rtt, low_window_reached);
        }
        if new_round {
            self.last_round_min = self.current_round_min;
            self.current_round_min = NO_RTT;
            self.samples = 0;
            if self.phase == HyStartPhase::Css {
                self.css_rounds = self.css_rounds.saturating_add(1);
                if self.css_rounds >= CSS_ROUNDS {
                    // The RTT stayed up for CSS_ROUNDS rounds: a real queue.
                    self.phase = HyStartPhase::Done;
                    return HyStartPhase::Done;
                }
            }
        }
        let Some(rtt) = rtt else { return self.phase };
        // A sample is never NO_RTT, so the minimum is the sample or less.
        self.current_round_min = self.current_round_min.min(rtt_us(rtt));
        self.samples = self.samples.saturating_add(1);
        if self.samples < N_RTT_SAMPLE {
            return self.phase;
        }
        let (cur, last) = (self.current_round_min, self.last_round_min);
        if last == NO_RTT {
            return self.phase;
        }
        match self.phase {
            HyStartPhase::SlowStart => {
                if u64::from(cur) >= u64::from(last) + threshold(last) {
                    self.css_baseline = cur;
                    self.css_rounds = 0;
                    self.phase = HyStartPhase::Css;
                }
            }
            HyStartPhase::Css => {
                if self.css_baseline != NO_RTT && cur < self.css_baseline {
                    // The rise was a false alarm: back to slow start.
                    self.css_baseline = NO_RTT;
                    self.phase = HyStartPhase::SlowStart;
                }
            }
            HyStartPhase::Done => {}
        }
        self.phase
    }

    /// [`HyStartMode::Linux`]: `last_round_min` holds the base RTT (the
    /// smallest sample ever), `current_round_min` the round's minimum
    /// ([`linux_delay_rise`]).
    #[inline]
    fn on_ack_linux(&mut self, new_round: bool, rtt: Option<u64>, active: bool) -> HyStartPhase {
        if linux_delay_rise(
            &mut self.last_round_min,
            &mut self.current_round_min,
            &mut self.samples,
            new_round,
            rtt,
            active,
        ) {
            self.phase = HyStartPhase::Done;
        }
        self.phase
    }

    /// Linux's delay detection resumed from `d` (what a re-armed detection
    /// gathered when a spurious timeout is undone in its slow start).
    pub(crate) fn linux_resumed(d: LinuxDelay) -> HyStart {
        let mut h = HyStart::with_mode(HyStartMode::Linux);
        h.last_round_min = d.base;
        h.current_round_min = d.round_min;
        h.samples = d.samples;
        h
    }

    /// The slow-start increase for an ACK of `acked` octets (RFC 9406
    /// §4.2): min(acked, L·SMSS), divided by CSS_GROWTH_DIVISOR in CSS.
    pub fn increase(&self, acked: u32, mss: u32) -> u32 {
        self.increase_limited(acked, mss, L_NON_PACED)
    }

    /// [`increase`](Self::increase) with another L (segments per ACK; 0
    /// lifts the limit, as Linux's `tcp_slow_start`).
    pub fn increase_limited(&self, acked: u32, mss: u32, limit: u32) -> u32 {
        let n = match limit {
            0 => acked,
            l => acked.min(l.saturating_mul(mss)),
        };
        if self.phase == HyStartPhase::Css {
            n / CSS_GROWTH_DIVISOR
        } else {
            n
        }
    }
}

/// The state of Linux's delay detection ([`HyStartMode::Linux`]) on its
/// own: what `hystart_reset` and `bictcp_reset` clear in Linux's CUBIC.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct LinuxDelay {
    /// The smallest RTT sample since the detection was (re-)armed, µs
    /// (Linux's `delay_min`), or [`NO_RTT`].
    pub(crate) base: u32,
    /// The current round's minimum, µs (`curr_rtt`), or [`NO_RTT`].
    pub(crate) round_min: u32,
    /// Samples counted in the round, up to [`N_RTT_SAMPLE`] (`sample_cnt`).
    pub(crate) samples: u8,
}

impl LinuxDelay {
    /// Freshly armed: no base, no round (`bictcp_reset` + `hystart_reset`).
    pub(crate) const FRESH: LinuxDelay = LinuxDelay {
        base: NO_RTT,
        round_min: NO_RTT,
        samples: 0,
    };
}

/// One ACK in slow start for Linux's delay detection (`hystart_update`,
/// HYSTART_DELAY) on the fields of a [`LinuxDelay`] (borrowed one by one:
/// its owners keep them flattened). Returns whether the RTT rose (slow
/// start ends: ssthresh = cwnd).
///
/// The base follows every sample. Nothing is counted below the low window
/// (`active` false), so the first round counted starts there; the round's
/// first [`N_RTT_SAMPLE`] samples are only collected, and each later one
/// (itself included in the minimum) is checked against a rise of strictly
/// more than the threshold.
#[inline]
pub(crate) fn linux_delay_rise(
    base: &mut u32,
    round_min: &mut u32,
    samples: &mut u8,
    new_round: bool,
    rtt: Option<u64>,
    active: bool,
) -> bool {
    let Some(rtt) = rtt.map(rtt_us) else {
        if new_round || !active {
            *round_min = NO_RTT;
            *samples = 0;
        }
        return false;
    };
    *base = (*base).min(rtt);
    if new_round || !active {
        *round_min = NO_RTT;
        *samples = 0;
        if !active {
            return false;
        }
    }
    *round_min = (*round_min).min(rtt);
    if *samples < N_RTT_SAMPLE {
        *samples += 1;
        return false;
    }
    u64::from(*round_min) > u64::from(*base) + threshold(*base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
    }

    /// [`ms`] in µs, as `on_ack_in_window` takes it.
    fn us(v: u64) -> Option<u64> {
        Some(v * 1000)
    }

    /// One round of `n` ACKs, each with an RTT sample of `rtt_ms`.
    fn round(h: &mut HyStart, n: u32, rtt_ms: u64) -> HyStartPhase {
        let mut p = h.on_ack(true, ms(rtt_ms));
        for _ in 1..n {
            p = h.on_ack(false, ms(rtt_ms));
        }
        p
    }

    #[test]
    fn a_sustained_rtt_rise_enters_css_then_congestion_avoidance() {
        let mut h = HyStart::new();
        assert_eq!(round(&mut h, 10, 80), HyStartPhase::SlowStart);
        assert_eq!(round(&mut h, 10, 80), HyStartPhase::SlowStart);
        // 80 ms base: the threshold is clamp(80/8, 4, 16) = 10 ms.
        assert_eq!(
            round(&mut h, 10, 89),
            HyStartPhase::SlowStart,
            "below the threshold"
        );
        // From 89 ms the threshold is 89/8 = 11.125 ms.
        assert_eq!(round(&mut h, 10, 101), HyStartPhase::Css, "89 → 101 ms");
        assert_eq!(h.increase(8000, 1000), 2000, "CSS grows at a quarter");
        for _ in 0..4 {
            assert_eq!(round(&mut h, 10, 101), HyStartPhase::Css);
        }
        // The fifth CSS round boundary ends slow start.
        assert_eq!(h.on_ack(true, ms(101)), HyStartPhase::Done);
        assert_eq!(h.on_ack(false, ms(1)), HyStartPhase::Done, "never restarts");
    }

    #[test]
    fn rtt_noise_below_the_threshold_stays_in_slow_start() {
        let mut h = HyStart::new();
        // ±3 ms of jitter around 20 ms: the per-round minimum barely moves.
        for r in 0..20u64 {
            let mut p = h.on_ack(true, ms(20 + (r % 3)));
            for i in 1..12u64 {
                p = h.on_ack(false, ms(20 + (r + i) % 4));
            }
            assert_eq!(p, HyStartPhase::SlowStart, "round {r}");
        }
    }

    #[test]
    fn too_few_samples_decide_nothing() {
        let mut h = HyStart::new();
        round(&mut h, 10, 10);
        // 7 samples < N_RTT_SAMPLE, even with a huge rise.
        assert_eq!(round(&mut h, 7, 500), HyStartPhase::SlowStart);
    }

    #[test]
    fn an_rtt_drop_during_css_resumes_slow_start() {
        let mut h = HyStart::new();
        round(&mut h, 8, 10);
        assert_eq!(round(&mut h, 8, 20), HyStartPhase::Css);
        assert_eq!(h.on_ack(true, ms(20)), HyStartPhase::Css);
        for _ in 0..6 {
            h.on_ack(false, ms(20));
        }
        assert_eq!(h.on_ack(false, ms(15)), HyStartPhase::SlowStart);
        assert_eq!(h.increase(100_000, 1000), 8000, "L = 8 SMSS per ACK");
    }

    #[test]
    fn linux_detection_compares_with_the_base_rtt_and_skips_css() {
        // Round minima creeping up 3 ms a round from 80 ms: every step is
        // below RFC 9406's 10 ms threshold, the sum is not.
        let mut rfc = HyStart::new();
        let mut linux = HyStart::with_mode(HyStartMode::Linux);
        let mut exited_at = None;
        for r in 0..6u64 {
            let rtt = 80 + 3 * r;
            assert_eq!(
                round(&mut rfc, 10, rtt),
                HyStartPhase::SlowStart,
                "RFC 9406, round {r}"
            );
            if round(&mut linux, 10, rtt) == HyStartPhase::Done && exited_at.is_none() {
                exited_at = Some(rtt);
            }
        }
        // Threshold clamp(80/8, 4, 16) = 10 ms above the base: 89 ms is below, 92 is not.
        assert_eq!(exited_at, Some(92), "straight to Done, no CSS");
        assert_eq!(
            linux.increase(8000, 1000),
            8000,
            "Done: no CSS quarter growth"
        );
    }

    #[test]
    fn linux_detection_checks_from_the_ninth_sample_of_a_round_at_sixteen_segments() {
        let mut h = HyStart::with_mode(HyStartMode::Linux);
        // Base RTT 20 ms (counted below 16 segments for the base only).
        assert_eq!(
            h.on_ack_in_window(true, us(20), false),
            HyStartPhase::SlowStart
        );
        // Below 16 segments a rise is neither counted nor acted on.
        for _ in 0..12 {
            assert_eq!(
                h.on_ack_in_window(false, us(200), false),
                HyStartPhase::SlowStart
            );
        }
        // From 16 on: eight samples of the round are only collected ...
        for _ in 0..8 {
            assert_eq!(
                h.on_ack_in_window(false, us(200), true),
                HyStartPhase::SlowStart
            );
        }
        // ... the ninth is checked, and ends slow start.
        assert_eq!(h.on_ack_in_window(false, us(200), true), HyStartPhase::Done);
    }

    #[test]
    fn linux_detection_needs_a_rise_strictly_above_the_threshold() {
        // Base 40 ms: threshold max(40/8, 4) = 5 ms.
        let mut h = HyStart::with_mode(HyStartMode::Linux);
        h.on_ack_in_window(true, us(40), true);
        let mut p = h.on_ack_in_window(true, us(45), true);
        for _ in 0..12 {
            p = h.on_ack_in_window(false, us(45), true);
        }
        assert_eq!(p, HyStartPhase::SlowStart, "45 ms is not above 40 + 5");
        assert_eq!(
            h.on_ack_in_window(true, us(46), true),
            HyStartPhase::SlowStart
        );
        for _ in 0..7 {
            h.on_ack_in_window(false, us(46), true);
        }
        assert_eq!(h.on_ack_in_window(false, us(46), true), HyStartPhase::Done);
    }
}
