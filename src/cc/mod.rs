//! Congestion control behind one trait (RFC 5681 §3, MAY-18), so that
//! further algorithms (CUBIC) plug in beside NewReno.
//!
//! Loss detection (duplicate ACKs, recovery points, RTO) lives in the
//! connection; a controller only decides the window.

mod newreno;

pub use newreno::NewReno;

use crate::config::CongestionAlgorithm;
use crate::time::Instant;

/// A congestion controller: the connection reports ACKs and losses, the
/// controller answers with a congestion window in octets.
pub trait CongestionControl {
    /// The congestion window, octets.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold, octets.
    fn ssthresh(&self) -> u32;
    /// `acked` new octets were acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: u32, flight: u32, mss: u32);
    /// Loss detected by duplicate ACKs: recovery starts (RFC 5681 §3.2 steps 2–3).
    fn on_fast_retransmit(&mut self, now: Instant, flight: u32, mss: u32);
    /// A further duplicate ACK during recovery (RFC 6582 §3.2 step 3: inflate).
    fn on_dup_ack_in_recovery(&mut self, mss: u32);
    /// A partial ACK of `acked` octets during recovery (RFC 6582 §3.2 step 5: deflate).
    fn on_partial_ack(&mut self, acked: u32, mss: u32);
    /// Recovery ended with a full ACK (RFC 6582 §3.2 step 4).
    fn on_recovery_end(&mut self, flight: u32, mss: u32);
    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4: loss window).
    fn on_rto(&mut self, flight: u32, mss: u32);
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
    fn on_ack(&mut self, _: Instant, _: u32, _: u32, _: u32) {}
    fn on_fast_retransmit(&mut self, _: Instant, _: u32, _: u32) {}
    fn on_dup_ack_in_recovery(&mut self, _: u32) {}
    fn on_partial_ack(&mut self, _: u32, _: u32) {}
    fn on_recovery_end(&mut self, _: u32, _: u32) {}
    fn on_rto(&mut self, _: u32, _: u32) {}
}

/// The controllers the crate ships, dispatched without a heap allocation.
#[derive(Clone, Debug)]
pub(crate) enum Controller {
    NewReno(NewReno),
    Unlimited(Unlimited),
}

impl Controller {
    pub(crate) fn new(cfg: &crate::config::Config, mss: u32) -> Controller {
        match cfg.congestion {
            CongestionAlgorithm::NewReno => Controller::NewReno(
                NewReno::new(cfg.initial_window, mss).with_slow_start_limit(cfg.slow_start_limit),
            ),
            CongestionAlgorithm::None => Controller::Unlimited(Unlimited),
        }
    }

    pub(crate) fn get(&self) -> &dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Unlimited(c) => c,
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Unlimited(c) => c,
        }
    }
}
