//! Congestion control behind one public trait (RFC 5681 §3, MAY-18):
//! NewReno (the RFC preset's), CUBIC with HyStart++ (the Linux preset's),
//! and any controller a user plugs in with
//! [`Connection::set_congestion_control`](crate::Connection::set_congestion_control).
//!
//! Loss detection (duplicate ACKs, recovery points, RTO) and ECN feedback
//! live in the connection; a controller only decides the window. Every hook
//! takes plain values: nothing is allocated per ACK.

mod cubic;
mod hystart;
mod newreno;
#[cfg(test)]
mod trajectory;
mod usage;

pub use cubic::Cubic;
pub use hystart::{HyStart, HyStartMode, HyStartPhase};
pub use newreno::NewReno;
pub(crate) use usage::CwndUsage;

use crate::config::CongestionAlgorithm;
use crate::time::Instant;
use alloc::boxed::Box;
use core::fmt;
use core::time::Duration;

/// What one ACK of new data (outside loss recovery) tells a controller.
///
/// Built by the connection; `#[non_exhaustive]` so that fields can be
/// added. Controllers tested on their own start from [`AckSample::new`]
/// and set the public fields they need.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct AckSample {
    /// Octets newly acknowledged by this ACK.
    pub acked: u32,
    /// Octets still in flight after this ACK.
    pub flight: u32,
    /// The sender MSS in force (SMSS), octets.
    pub mss: u32,
    /// The RTT sample this ACK produced, if any (RFC 6298 / RFC 7323).
    pub rtt: Option<Duration>,
    /// The smoothed RTT after this ACK, once there is one.
    pub srtt: Option<Duration>,
    /// The smallest RTT sample seen so far.
    pub min_rtt: Option<Duration>,
    /// This ACK ends a round trip: it covers everything that was in
    /// flight when the previous round ended (HyStart++'s `windowEnd`,
    /// RFC 9406 §4.2).
    pub new_round: bool,
    /// The sender did not fill the congestion window in the last round
    /// trip: growing the window would not be validated by use (RFC 7661;
    /// RFC 9438 §5.8). Controllers should not grow `cwnd` on such ACKs.
    pub app_limited: bool,
}

impl AckSample {
    /// `acked` octets acknowledged, `flight` left in flight, SMSS `mss`;
    /// no RTT information, not a round start, not application-limited.
    pub const fn new(acked: u32, flight: u32, mss: u32) -> AckSample {
        AckSample {
            acked,
            flight,
            mss,
            rtt: None,
            srtt: None,
            min_rtt: None,
            new_round: false,
            app_limited: false,
        }
    }
}

/// An [`AckSample`] as the connection keeps it: times in whole µs, no
/// `Duration` on the way. The crate's CUBIC works from it (its
/// [`CongestionControl::on_ack`] converts the public sample to it); other
/// controllers get the [`AckSample`] made from it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AckInfo {
    pub acked: u32,
    pub flight: u32,
    pub mss: u32,
    /// [`AckSample::rtt`], [`AckSample::srtt`], [`AckSample::min_rtt`], µs.
    pub rtt: Option<u64>,
    pub srtt: Option<u64>,
    pub min_rtt: Option<u64>,
    pub new_round: bool,
    pub app_limited: bool,
}

impl AckInfo {
    /// The public form (exact: a µs count fits a `Duration`).
    pub(crate) fn sample(&self) -> AckSample {
        AckSample {
            acked: self.acked,
            flight: self.flight,
            mss: self.mss,
            rtt: self.rtt.map(Duration::from_micros),
            srtt: self.srtt.map(Duration::from_micros),
            min_rtt: self.min_rtt.map(Duration::from_micros),
            new_round: self.new_round,
            app_limited: self.app_limited,
        }
    }
}

impl From<&AckSample> for AckInfo {
    /// Times in µs, saturating (as `Duration::as_micros` would to `u64`).
    fn from(a: &AckSample) -> AckInfo {
        let us = crate::time::duration_micros;
        AckInfo {
            acked: a.acked,
            flight: a.flight,
            mss: a.mss,
            rtt: a.rtt.map(us),
            srtt: a.srtt.map(us),
            min_rtt: a.min_rtt.map(us),
            new_round: a.new_round,
            app_limited: a.app_limited,
        }
    }
}

/// A congestion controller: the connection reports ACKs, losses and ECN
/// echoes; the controller answers with a congestion window in octets.
///
/// Implement it to plug in your own controller (see
/// [`Connection::set_congestion_control`](crate::Connection::set_congestion_control)).
/// The hooks are called from the connection's input and timer paths; they
/// must not allocate if the connection is to stay allocation-free per
/// segment.
pub trait CongestionControl {
    /// The congestion window, octets.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold, octets.
    fn ssthresh(&self) -> u32;
    /// Start over at an initial window of `initial_window` segments of
    /// `mss` octets (RFC 5681 §3.1, RFC 6928). Called when the SYN
    /// exchange fixes the MSS, and when the controller is installed.
    fn reset(&mut self, initial_window: u32, mss: u32);
    /// New data was acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, ack: &AckSample);
    /// Loss detected by duplicate ACKs: recovery starts (RFC 5681 §3.2 steps 2–3).
    fn on_fast_retransmit(&mut self, now: Instant, flight: u32, mss: u32);
    /// A further duplicate ACK during recovery (RFC 6582 §3.2 step 3: inflate).
    fn on_dup_ack_in_recovery(&mut self, mss: u32);
    /// A partial ACK of `acked` octets during recovery (RFC 6582 §3.2 step 5: deflate).
    fn on_partial_ack(&mut self, acked: u32, mss: u32);
    /// Recovery ended with a full ACK (RFC 6582 §3.2 step 4).
    fn on_recovery_end(&mut self, flight: u32, mss: u32);
    /// A SACK-based recovery (RFC 6675) ended: PRR (RFC 6937) has kept the
    /// flight near ssthresh. The default is
    /// [`on_recovery_end`](Self::on_recovery_end); CUBIC sets cwnd =
    /// ssthresh (RFC 5681 §3.2 step 6).
    fn on_sack_recovery_end(&mut self, flight: u32, mss: u32) {
        self.on_recovery_end(flight, mss);
    }
    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4: loss window).
    fn on_rto(&mut self, now: Instant, flight: u32, mss: u32);
    /// The peer echoed a congestion mark (ECE, RFC 3168 §6.1.2): reduce as
    /// for a loss, without retransmitting. The connection calls it at most
    /// once per window of data.
    fn on_ecn(&mut self, now: Instant, flight: u32, mss: u32);
    /// The last loss response ([`on_fast_retransmit`](Self::on_fast_retransmit)
    /// or [`on_rto`](Self::on_rto)) proved spurious: the peer had the data
    /// (timestamps, RFC 3522, or D-SACK, RFC 3708). Restore the state from
    /// before it (RFC 9438 §4.9). The default does nothing.
    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
    }
    /// Data is sent again after the flight drained (an idle or
    /// application-limited pause ended). The default does nothing.
    fn on_restart_after_idle(&mut self, now: Instant) {
        let _ = now;
    }
    /// The connection sets the window itself: the restart window after
    /// idle (RFC 5681 §4.1, with
    /// [`Config::slow_start_after_idle`](crate::Config::slow_start_after_idle);
    /// called before [`on_restart_after_idle`](Self::on_restart_after_idle)),
    /// and, ACK by ACK, the proportional reduction (PRR) that follows an
    /// ECN echo (after [`on_ecn`](Self::on_ecn) set the threshold) until
    /// the window of data it covered is acknowledged, as Linux's CWR
    /// state. The default keeps the controller's own window: no restart,
    /// and `on_ecn`'s reduction at once.
    fn set_window(&mut self, cwnd: u32, ssthresh: u32) {
        let _ = (cwnd, ssthresh);
    }
}

/// A controller that never limits: the peer's window alone rules. For
/// benchmarks and closed test networks (RFC 5681 forbids it on the Internet).
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl CongestionControl for Unlimited {
    fn cwnd(&self) -> u32 {
        u32::MAX
    }
    fn ssthresh(&self) -> u32 {
        u32::MAX
    }
    fn reset(&mut self, _: u32, _: u32) {}
    fn on_ack(&mut self, _: Instant, _: &AckSample) {}
    fn on_fast_retransmit(&mut self, _: Instant, _: u32, _: u32) {}
    fn on_dup_ack_in_recovery(&mut self, _: u32) {}
    fn on_partial_ack(&mut self, _: u32, _: u32) {}
    fn on_recovery_end(&mut self, _: u32, _: u32) {}
    fn on_rto(&mut self, _: Instant, _: u32, _: u32) {}
    fn on_ecn(&mut self, _: Instant, _: u32, _: u32) {}
}

/// The window after an idle period (RFC 5681 §4.1, as Linux's
/// `tcp_cwnd_restart`): `cwnd` halved n times for an idle time of n RTOs
/// and a bit, but not below the restart window RW = min(`initial`, `cwnd`); the
/// threshold becomes at least ¾ of the old window (`tcp_current_ssthresh`).
/// Returns `(cwnd, ssthresh)`; times in µs, `idle` above `rto`.
pub(crate) fn restart_after_idle(
    cwnd: u32,
    ssthresh: u32,
    initial: u32,
    idle: u64,
    rto: u64,
) -> (u32, u32) {
    let rw = initial.min(cwnd);
    let rto = rto.max(1);
    // At most 32 halvings reach RW, however long the idle time.
    let (mut w, mut left) = (cwnd, idle.saturating_sub(rto));
    while left > 0 && w > rw {
        w >>= 1;
        left = left.saturating_sub(rto);
    }
    (w.max(rw), ssthresh.max((cwnd >> 1) + (cwnd >> 2)))
}

/// The window arithmetic of fast recovery shared by the loss-based
/// controllers (RFC 5681 §3.2, RFC 6582 §3.2): `ssthresh` is the
/// controller's, the inflation and deflation are the same for all.
pub(crate) mod recovery {
    /// Step 3 of RFC 5681 §3.2: cwnd = ssthresh + 3·SMSS.
    pub(crate) fn enter(ssthresh: u32, mss: u32) -> u32 {
        ssthresh.saturating_add(3 * mss)
    }

    /// RFC 6582 §3.2 step 5: deflate by the amount acknowledged, and add
    /// back SMSS if at least SMSS was acknowledged.
    pub(crate) fn partial_ack(cwnd: u32, acked: u32, mss: u32) -> u32 {
        let back = if acked >= mss { mss } else { 0 };
        cwnd.saturating_sub(acked).saturating_add(back).max(mss)
    }

    /// RFC 6582 §3.2 step 4, option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS).
    pub(crate) fn end(ssthresh: u32, flight: u32, mss: u32) -> u32 {
        ssthresh.min(flight.max(mss).saturating_add(mss))
    }
}

/// A built-in controller as a connection starts with it
/// ([`Controller::configured`]), kept by value: a `ValidConfig` holds the
/// one for its configuration, computed once, and each connection made from
/// it starts with a copy.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Initial {
    NewReno(NewReno),
    Cubic(Cubic),
    Unlimited,
}

impl Initial {
    /// The controller for `cfg` and `mss`: [`Controller::new`] with the
    /// slow-start limit and the HyStart mode set.
    pub(crate) fn configured(cfg: &crate::config::Config, mss: u32) -> Initial {
        match cfg.congestion {
            CongestionAlgorithm::Cubic => {
                // What `set_slow_start_limit` and `set_hystart_mode` do to a
                // fresh Cubic, whose HyStart++ has not ended.
                let mut c = Cubic::new(cfg.initial_window, mss);
                if let Some(l) = cfg.slow_start_limit {
                    c.ss_limit_set(l);
                }
                c.hystart_mode_set(cfg.hystart);
                Initial::Cubic(c)
            }
            CongestionAlgorithm::NewReno => {
                let c = NewReno::new(cfg.initial_window, mss);
                Initial::NewReno(match cfg.slow_start_limit {
                    Some(l) => c.with_slow_start_limit(l),
                    None => c,
                })
            }
            CongestionAlgorithm::None => Initial::Unlimited,
        }
    }
}

/// The controller of one connection: the ones the crate ships, dispatched
/// without a heap allocation, or a user's, boxed once when installed.
pub(crate) enum Controller {
    NewReno(NewReno),
    Cubic(Cubic),
    Unlimited(Unlimited),
    Custom(Box<dyn CongestionControl + Send + Sync>),
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Controller::NewReno(c) => c.fmt(f),
            Controller::Cubic(c) => c.fmt(f),
            Controller::Unlimited(c) => c.fmt(f),
            Controller::Custom(c) => f
                .debug_struct("Custom")
                .field("cwnd", &c.cwnd())
                .field("ssthresh", &c.ssthresh())
                .finish(),
        }
    }
}

impl Controller {
    /// The plain controller, before [`Controller::configured`]'s settings
    /// (what [`Initial::configured`] is tested against).
    #[cfg(test)]
    pub(crate) fn new(alg: CongestionAlgorithm, initial_window: u32, mss: u32) -> Controller {
        match alg {
            CongestionAlgorithm::NewReno => Controller::NewReno(NewReno::new(initial_window, mss)),
            CongestionAlgorithm::Cubic => Controller::Cubic(Cubic::new(initial_window, mss)),
            CongestionAlgorithm::None => Controller::Unlimited(Unlimited),
        }
    }

    /// Applies a slow-start growth limit (segments per ACK; 0: none) to
    /// the crate's controllers; `None` keeps each one's RFC value. A
    /// user's controller decides for itself.
    #[cfg(test)]
    pub(crate) fn set_slow_start_limit(&mut self, limit: Option<u32>) {
        let Some(l) = limit else { return };
        match self {
            Controller::NewReno(c) => *c = c.with_slow_start_limit(l),
            Controller::Cubic(c) => c.ss_limit_set(l),
            Controller::Unlimited(_) | Controller::Custom(_) => {}
        }
    }

    /// Chooses HyStart's detection for the crate's CUBIC.
    #[cfg(test)]
    pub(crate) fn set_hystart_mode(&mut self, mode: HyStartMode) {
        if let Controller::Cubic(c) = self {
            c.hystart_mode_set(mode);
        }
    }

    /// A controller for `cfg` and `mss`: [`Controller::new`] with the
    /// slow-start limit and the HyStart mode set, built in one piece
    /// (connections copy theirs from [`Initial`]; this checks it).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn configured(cfg: &crate::config::Config, mss: u32) -> Controller {
        Controller::from_initial(Initial::configured(cfg, mss))
    }

    /// The controller `init` describes (a copy of it).
    #[inline(always)]
    pub(crate) fn from_initial(init: Initial) -> Controller {
        match init {
            Initial::NewReno(c) => Controller::NewReno(c),
            Initial::Cubic(c) => Controller::Cubic(c),
            Initial::Unlimited => Controller::Unlimited(Unlimited),
        }
    }

    /// A fresh start once the SYN exchange fixed the MSS, for a controller
    /// nothing has been reported to since [`Controller::configured`] built
    /// it (nothing is before the SYN exchange): the caller's own is reset;
    /// of a built-in one only the initial window depends on the MSS, so
    /// only that changes (the same as building it again with `mss`, for
    /// less).
    #[inline]
    pub(crate) fn restart_configured(&mut self, cfg: &crate::config::Config, mss: u32) {
        let iw = cfg.initial_window.saturating_mul(mss);
        match self {
            Controller::Cubic(c) => c.cwnd = iw,
            Controller::NewReno(c) => c.cwnd = iw,
            Controller::Unlimited(_) => {}
            Controller::Custom(c) => c.reset(cfg.initial_window, mss),
        }
        #[cfg(debug_assertions)]
        if !matches!(self, Controller::Custom(_)) {
            // What a rebuild gives (the controller was a fresh one).
            assert_eq!(
                alloc::format!("{self:?}"),
                alloc::format!("{:?}", Controller::configured(cfg, mss)),
                "restart_configured on a controller that was not fresh"
            );
        }
    }

    /// [`CongestionControl::cwnd`], without the call through `dyn` for
    /// the crate's controllers.
    #[inline]
    pub(crate) fn cwnd(&self) -> u32 {
        // The crate's CUBIC (the default) tests its variant and reads; the
        // others, out of line (a match here is a jump table on the decoded
        // variant on every transmit).
        if let Controller::Cubic(c) = self {
            return c.cwnd();
        }
        self.cwnd_other()
    }

    #[cold]
    #[inline(never)]
    fn cwnd_other(&self) -> u32 {
        match self {
            Controller::NewReno(c) => c.cwnd(),
            Controller::Cubic(c) => c.cwnd(),
            Controller::Unlimited(c) => c.cwnd(),
            Controller::Custom(c) => c.cwnd(),
        }
    }

    /// [`CongestionControl::ssthresh`], as [`cwnd`](Self::cwnd).
    #[inline]
    pub(crate) fn ssthresh(&self) -> u32 {
        match self {
            Controller::NewReno(c) => c.ssthresh(),
            Controller::Cubic(c) => c.ssthresh(),
            Controller::Unlimited(c) => c.ssthresh(),
            Controller::Custom(c) => c.ssthresh(),
        }
    }

    /// [`CongestionControl::on_ack`] with the ACK that `ack` makes from the
    /// controller's cwnd and ssthresh (one dispatch for the three): the
    /// crate's CUBIC takes the µs form as it is, any other controller the
    /// [`AckSample`] made from it.
    #[inline]
    pub(crate) fn on_ack(&mut self, now: Instant, ack: impl FnOnce(u32, u32) -> AckInfo) {
        match self {
            Controller::Cubic(c) => c.on_ack_with(now, ack),
            c => {
                let c = c.get_mut();
                let a = ack(c.cwnd(), c.ssthresh());
                c.on_ack(now, &a.sample());
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> &dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
            Controller::Unlimited(c) => c,
            Controller::Custom(c) => c.as_ref(),
        }
    }

    /// [`CongestionControl::on_restart_after_idle`] (every send into an
    /// empty flight), without the call through `dyn` for the crate's CUBIC.
    #[inline]
    pub(crate) fn on_restart_after_idle(&mut self, now: Instant) {
        if let Controller::Cubic(c) = self {
            c.on_restart_after_idle(now);
        } else {
            self.on_restart_after_idle_other(now);
        }
    }

    #[cold]
    #[inline(never)]
    fn on_restart_after_idle_other(&mut self, now: Instant) {
        self.get_mut().on_restart_after_idle(now);
    }

    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
            Controller::Unlimited(c) => c,
            Controller::Custom(c) => c.as_mut(),
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn controller_state_stays_within_its_size_budget() {
        // Issue 12: the controller lives inside every `Connection`.
        assert!(size_of::<Controller>() <= 64, "{}", size_of::<Controller>());
        assert!(size_of::<Cubic>() <= 64, "{}", size_of::<Cubic>());
        assert!(size_of::<HyStart>() <= 16, "{}", size_of::<HyStart>());
        assert!(size_of::<NewReno>() <= 24, "{}", size_of::<NewReno>());
        assert!(size_of::<CwndUsage>() <= 12, "{}", size_of::<CwndUsage>());
    }
}

#[cfg(test)]
mod initial_tests {
    use super::*;
    use crate::config::Config;

    /// [`Initial::configured`] builds what the plain controller with the
    /// configuration's settings applied one by one is.
    #[test]
    fn initial_is_the_configured_controller() {
        for base in [Config::linux(), Config::rfc9293()] {
            for congestion in [
                CongestionAlgorithm::NewReno,
                CongestionAlgorithm::Cubic,
                CongestionAlgorithm::None,
            ] {
                for slow_start_limit in [None, Some(0), Some(1), Some(8)] {
                    for hystart in [HyStartMode::Rfc9406, HyStartMode::Linux] {
                        for (initial_window, mss) in [(1, 536), (10, 1460), (4, 65495)] {
                            let cfg = Config {
                                congestion,
                                slow_start_limit,
                                hystart,
                                initial_window,
                                ..base
                            };
                            let mut plain = Controller::new(congestion, initial_window, mss);
                            plain.set_slow_start_limit(slow_start_limit);
                            plain.set_hystart_mode(hystart);
                            assert_eq!(
                                alloc::format!("{plain:?}"),
                                alloc::format!("{:?}", Controller::configured(&cfg, mss)),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod restart_tests {
    use super::restart_after_idle;

    const MSS: u32 = 1000;

    #[test]
    fn idle_halves_the_window_per_rto_down_to_the_restart_window() {
        let rto = 250_000;
        // Just over one RTO: one halving.
        assert_eq!(
            restart_after_idle(40 * MSS, u32::MAX, 10 * MSS, rto + 1, rto).0,
            20 * MSS
        );
        // 1.8 RTOs: one halving; 2.2: two; far longer: down to RW only.
        assert_eq!(
            restart_after_idle(40 * MSS, u32::MAX, 10 * MSS, 450_000, rto).0,
            20 * MSS
        );
        assert_eq!(
            restart_after_idle(40 * MSS, u32::MAX, 10 * MSS, 550_000, rto).0,
            10 * MSS
        );
        assert_eq!(
            restart_after_idle(40 * MSS, u32::MAX, 10 * MSS, u64::MAX, rto).0,
            10 * MSS
        );
        // Halving stops at the first value at or below RW, then RW rules.
        assert_eq!(
            restart_after_idle(30 * MSS, u32::MAX, 10 * MSS, 1_000_000, rto).0,
            10 * MSS
        );
        // A window already under IW is the restart window itself.
        assert_eq!(
            restart_after_idle(4 * MSS, u32::MAX, 10 * MSS, 10_000_000, rto).0,
            4 * MSS
        );
    }

    #[test]
    fn the_threshold_keeps_three_quarters_of_the_old_window() {
        let (cwnd, ssthresh) = restart_after_idle(40 * MSS, 12 * MSS, 10 * MSS, 600_000, 250_000);
        assert_eq!((cwnd, ssthresh), (10 * MSS, 30 * MSS));
        // A higher threshold stays.
        assert_eq!(
            restart_after_idle(40 * MSS, 35 * MSS, 10 * MSS, 600_000, 250_000).1,
            35 * MSS
        );
    }
}
