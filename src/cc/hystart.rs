//! HyStart++ (RFC 9406): leave slow start when the round-trip time starts
//! to rise, before the queue overflows, through a few rounds of
//! Conservative Slow Start (CSS) that undo a false alarm.

use core::time::Duration;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: u64 = 4_000; // µs
const MAX_RTT_THRESH: u64 = 16_000; // µs
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;
/// Most SMSS one ACK may add in slow start without pacing (RFC 9406 §4.3, L).
pub(crate) const L_NON_PACED: u32 = 8;

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

/// HyStart++ state of one connection (RFC 9406 §4.2).
#[derive(Clone, Copy, Debug)]
pub struct HyStart {
    phase: HyStartPhase,
    last_round_min: Option<u64>,
    current_round_min: Option<u64>,
    samples: u32,
    css_baseline: Option<u64>,
    css_rounds: u32,
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart::new()
    }
}

impl HyStart {
    /// A fresh instance, in slow start.
    pub const fn new() -> HyStart {
        HyStart {
            phase: HyStartPhase::SlowStart,
            last_round_min: None,
            current_round_min: None,
            samples: 0,
            css_baseline: None,
            css_rounds: 0,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> HyStartPhase {
        self.phase
    }

    /// Stops HyStart++ (loss, ECN, or slow start over): later slow starts
    /// are standard ones (RFC 9406 §4.3 uses it for the initial one only).
    pub fn finish(&mut self) {
        self.phase = HyStartPhase::Done;
    }

    /// One ACK of new data in slow start. `new_round` marks the start of a
    /// round (RFC 9406 `windowEnd` acknowledged), `rtt` the sample it gave.
    /// Returns the phase after the ACK; [`HyStartPhase::Done`] means "set ssthresh
    /// to cwnd and enter congestion avoidance now".
    pub fn on_ack(&mut self, new_round: bool, rtt: Option<Duration>) -> HyStartPhase {
        if self.phase == HyStartPhase::Done {
            return HyStartPhase::Done;
        }
        if new_round {
            self.last_round_min = self.current_round_min;
            self.current_round_min = None;
            self.samples = 0;
            if self.phase == HyStartPhase::Css {
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    // The RTT stayed up for CSS_ROUNDS rounds: a real queue.
                    self.phase = HyStartPhase::Done;
                    return HyStartPhase::Done;
                }
            }
        }
        let Some(rtt) = rtt else { return self.phase };
        let rtt = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.current_round_min = Some(self.current_round_min.map_or(rtt, |m| m.min(rtt)));
        self.samples = self.samples.saturating_add(1);
        if self.samples < N_RTT_SAMPLE {
            return self.phase;
        }
        let (Some(cur), Some(last)) = (self.current_round_min, self.last_round_min) else {
            return self.phase;
        };
        match self.phase {
            HyStartPhase::SlowStart => {
                let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                if cur >= last.saturating_add(thresh) {
                    self.css_baseline = Some(cur);
                    self.css_rounds = 0;
                    self.phase = HyStartPhase::Css;
                }
            }
            HyStartPhase::Css => {
                if self.css_baseline.is_some_and(|b| cur < b) {
                    // The rise was a false alarm: back to slow start.
                    self.css_baseline = None;
                    self.phase = HyStartPhase::SlowStart;
                }
            }
            HyStartPhase::Done => {}
        }
        self.phase
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
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
}
