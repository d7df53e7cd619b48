//! Connection configuration with two presets: Linux's habits and the RFCs'.

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

/// The resolution of [`Instant`](crate::Instant): one microsecond. Every
/// configured duration that arms a timer must be at least this long.
pub const CLOCK_RESOLUTION: Duration = Duration::from_micros(1);

/// Which congestion controller a connection uses (RFC 5681 / MAY-18).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum CongestionAlgorithm {
    /// NewReno (RFC 5681 + RFC 6582): the RFC preset's.
    NewReno,
    /// CUBIC (RFC 9438) with HyStart++ (RFC 9406): Linux's default, and
    /// the Linux preset's.
    #[default]
    Cubic,
    /// No congestion control: the window is the peer's receive window.
    /// For benchmarks and closed test networks only.
    None,
}

/// Explicit Congestion Notification (RFC 3168) on a connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum EcnMode {
    /// Never: SYNs ask for nothing, a peer's request is declined.
    #[default]
    Off,
    /// Accept when the peer asks on its SYN; never ask (Linux `tcp_ecn=2`).
    Accept,
    /// Ask on our SYN, and accept when the peer asks (Linux `tcp_ecn=1`).
    On,
}

/// Keep-alive settings (RFC 9293 §3.8.4, MUST-24..29).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Keepalive {
    /// Idle time before the first probe (MUST-28: at least 2 hours by default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead (MUST-29: more than one).
    pub probes: u32,
}

/// Per-connection configuration. Build from [`Config::linux`] (the default)
/// or [`Config::rfc9293`] and adjust fields; [`Config::validate`] checks it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Config {
    /// MSS we advertise, and the largest payload we send (MUST-14, MUST-67).
    pub mss: u16,
    /// Send MSS assumed when the peer sends no MSS option (MUST-15: 536 for IPv4, 1220 for IPv6).
    pub default_peer_mss: u16,
    /// Send buffer, octets: queued plus unacknowledged data.
    pub send_buffer: usize,
    /// Receive buffer, octets: the most we advertise, in order plus out of order.
    pub recv_buffer: usize,
    /// Offer window scaling (RFC 7323). The shift offered is
    /// [`window_scale_shift`](Self::window_scale_shift) if set, else the
    /// smallest that lets the larger of `recv_buffer` and
    /// [`recv_buffer_max`](Self::recv_buffer_max) be advertised.
    pub window_scale: bool,
    /// The most the receive buffer may ever be grown to (Linux:
    /// `tcp_rmem[2]`, or twice `SO_RCVBUF` once the application set it).
    /// Only the window-scale choice uses it, as Linux does: a connection
    /// whose buffer may grow needs the shift up front, since the shift is
    /// fixed by the SYN (RFC 7323 §2.2). 0 means "same as `recv_buffer`".
    pub recv_buffer_max: usize,
    /// An explicit window-scale shift to offer (clamped to 14), overriding
    /// the choice from the buffer sizes.
    pub window_scale_shift: Option<u8>,
    /// Offer timestamps (RFC 7323): RTT per ACK and PAWS.
    pub timestamps: bool,
    /// Offset added to the timestamp clock (the caller's secret per 4-tuple, RFC 7323 §7.1).
    pub ts_offset: u32,
    /// Offer and accept selective acknowledgments (RFC 2018, with D-SACK,
    /// RFC 2883): the receiver reports out-of-order data, the sender
    /// recovers several losses per round trip (RFC 6675).
    pub sack: bool,
    /// ECN (RFC 3168): whether to ask for it and whether to accept it. The
    /// caller carries the IP bits: [`Connection::handle_segment_ecn`](crate::Connection::handle_segment_ecn)
    /// in, [`Connection::transmit_ecn`](crate::Connection::transmit_ecn) out.
    pub ecn: EcnMode,
    /// The DSCP for the IP headers of this connection's segments (RFC 2474;
    /// 0..=63, MUST-48): carried to the caller with each segment
    /// ([`Connection::transmit_ip`](crate::Connection::transmit_ip)), as
    /// Linux's `IP_TOS` / `IPV6_TCLASS` less the ECN bits.
    pub dscp: u8,
    /// The IPv4 TTL / IPv6 hop limit for this connection's segments
    /// (MUST-49; 64 as Linux's `ip_default_ttl`). At least 1.
    pub hop_limit: u8,
    /// RACK-TLP loss detection (RFC 8985): losses by time rather than by
    /// three duplicates, lost retransmissions found, tail loss probes.
    /// Needs `sack` (and a peer that permits it).
    pub rack: bool,
    /// Initial congestion window, in segments (RFC 6928: 10).
    pub initial_window: u32,
    /// Restart from a smaller window after an idle period (RFC 5681 §4.1,
    /// Linux's `tcp_slow_start_after_idle`, on by default there): data
    /// sent with nothing in flight, more than an RTO after the last data
    /// sent (new or retransmitted), starts from the window halved once
    /// per RTO of idleness, not below min(initial window, cwnd); ssthresh
    /// keeps at least ¾ of the window (Linux's `tcp_cwnd_restart`). Off:
    /// the window survives idle.
    pub slow_start_after_idle: bool,
    /// Congestion controller.
    pub congestion: CongestionAlgorithm,
    /// Slow-start growth per ACK, in segments (the L of RFC 3465 and
    /// RFC 9406): `None` keeps each controller's RFC value (NewReno 1,
    /// CUBIC/HyStart++ 8); `Some(0)` lets an ACK add every segment it
    /// covers, as Linux's `tcp_slow_start` (one ACK for a 10-segment
    /// initial window doubles cwnd). CUBIC counts a limit above 65,535 as
    /// 65,535.
    pub slow_start_limit: Option<u32>,
    /// How CUBIC's HyStart decides that slow start should end: RFC 9406
    /// (the RFC preset's) or Linux's delay detection against the base RTT
    /// (the Linux preset's; ends slow start before a drop-tail queue of
    /// one BDP overflows, where RFC 9406's round-to-round test fires too
    /// late without pacing). Linux's detection also runs in the slow
    /// start after a retransmission timeout, as in Linux's CUBIC; RFC
    /// 9406's only in the initial one (§4.3).
    pub hystart: crate::cc::HyStartMode,
    /// Nagle's algorithm (SHLD-7; MUST-17: can be turned off).
    pub nagle: bool,
    /// Delayed ACK timeout (MUST-40: below 500 ms); `None` acknowledges every segment at once.
    pub delayed_ack: Option<Duration>,
    /// Segments acknowledged at once at connection start before delaying (Linux "quick-ack").
    pub quick_acks: u32,
    /// Delay the ACK of a FIN that arrives in ESTABLISHED after data, by the
    /// delayed-ACK time (Linux's "pingpong" mode after a FIN); `false`
    /// acknowledges every FIN at once. A FIN with no data before it, or in
    /// any other state, is acknowledged at once either way.
    pub delay_fin_ack: bool,
    /// Retransmission timeout before the first RTT sample (RFC 6298 (2.1)).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (RFC 6298 (2.4): 1 s; Linux 200 ms).
    pub min_rto: Duration,
    /// Upper bound on the RTO (RFC 6298 (2.5): at least 60 s).
    pub max_rto: Duration,
    /// Floor on the variance term of the RTO: RTO = SRTT + max(floor, 4·RTTVAR)
    /// (RFC 6298 (2.3) uses the clock granularity G; Linux uses 200 ms).
    pub rttvar_floor: Duration,
    /// SYN retransmissions before giving up (MUST-22/23).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before giving up.
    pub synack_retries: u32,
    /// SYN retransmissions that keep the initial RTO instead of doubling it,
    /// on top of `syn_retries` (Linux ≥ 6.5 `tcp_syn_linear_timeouts` = 4:
    /// SYNs at 0, 1, 2, 3, 4, 5, 7, 11, ... s). RFC 6298 (5.5) doubles on
    /// every expiry: 0.
    pub syn_linear_timeouts: u32,
    /// Retransmissions of the same data (or SYN) after which the
    /// connection reports [`Event::DeliveryProblem`](crate::Event::DeliveryProblem)
    /// (R1, MUST-20, MUST-22, SHLD-9; at least 3, SHLD-10; Linux's
    /// `tcp_retries1` = 3). 0: never.
    pub retries1: u32,
    /// Data retransmissions before giving up (R2, MUST-20/21).
    pub max_retries: u32,
    /// Give up when data stays unacknowledged this long (TCP_USER_TIMEOUT); `None` for R2 only.
    pub user_timeout: Option<Duration>,
    /// TIME-WAIT length, 2·MSL (MUST-13).
    pub time_wait: Duration,
    /// How long FIN-WAIT-2 waits for the peer's FIN after a full close; `None` waits forever.
    pub fin_wait_2_timeout: Option<Duration>,
    /// Keep-alive probes; `None` is off (MUST-25: off by default).
    pub keepalive: Option<Keepalive>,
    /// RFC 5961 hardening: exact-match RST, challenge ACKs, ACK-range check.
    pub rfc5961: bool,
    /// Challenge ACKs allowed per second, per connection (RFC 5961 §7; kept
    /// per connection, tcp-checklist B16). The same number, counted
    /// separately, bounds ACKs to out-of-window segments that carry no data
    /// (data and FIN segments are always answered, as Linux does). Must be
    /// at least 1: a connection that can never send a challenge ACK cannot
    /// recover from a half-open peer.
    pub challenge_ack_limit: u32,
    /// RFC 1337: ignore an in-window RST in TIME-WAIT instead of closing.
    pub rfc1337: bool,
    /// Data arriving after a full close aborts the connection with a RST
    /// (RFC 2525 §2.17). `true` sends it in the form a host without the
    /// connection would, `<SEQ=SEG.ACK><CTL=RST>` (Linux: `tcp_reset`, then
    /// the no-socket reply); `false` sends `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>`
    /// (RFC 9293 §3.10.5's abort).
    pub reset_data_after_close_as_no_tcb: bool,
    /// PSH on the last segment of every multi-segment burst of new data, the
    /// bursts cut as Linux cuts its TSO/GSO packets (`tcp_tso_autosize`:
    /// about 1 ms at the pacing rate, at least [`min_gso_segs`](Self::min_gso_segs)
    /// segments; at most half the congestion window, `tcp_cwnd_test`).
    /// Linux forces PSH on each such packet as a hint to the receiver's
    /// GRO. `false` sets PSH only on the segment that empties the send
    /// queue (MUST-61), which both do.
    pub push_each_gso_burst: bool,
    /// The fewest segments in such a burst (Linux's `tcp_min_tso_segs`,
    /// 2): only where [`push_each_gso_burst`](Self::push_each_gso_burst)
    /// puts PSH depends on it.
    pub min_gso_segs: u8,
    /// In ESTABLISHED, a segment acknowledging data never sent (SEG.ACK >
    /// SND.NXT) is dropped without the ACK RFC 9293 §3.10.7.4 sends (Linux:
    /// `tcp_ack` refuses it and `tcp_rcv_established` discards it). Its
    /// timestamp never updates TS.Recent either way. Other states answer.
    pub drop_ack_of_unsent_silently: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::linux()
    }
}

impl Config {
    /// Linux's habits: CUBIC with HyStart++, MSS 1460, SACK with RACK-TLP, ECN accepted, IW10,
    /// RTO = SRTT + max(4·RTTVAR, 200 ms),
    /// initial RTO 1 s, max 120 s, TIME-WAIT 60 s, FIN-WAIT-2 timeout 60 s,
    /// delayed ACK 40 ms with quick-ACK at start, 6 SYN retries.
    pub const fn linux() -> Config {
        Config {
            mss: 1460,
            default_peer_mss: 536,
            send_buffer: 1 << 20,
            recv_buffer: 1 << 20,
            window_scale: true,
            // This crate does not grow the receive buffer (Linux's
            // autotuning does, up to tcp_rmem[2], and picks the shift for
            // that): the shift covers `recv_buffer`. Set 6 MiB (Linux's
            // default tcp_rmem[2], shift 7) or 15 MiB (packetdrill's
            // defaults.sh, shift 8) to offer Linux's shift.
            recv_buffer_max: 0,
            window_scale_shift: None,
            timestamps: true,
            ts_offset: 0,
            sack: true,
            ecn: EcnMode::Accept,
            dscp: 0,
            hop_limit: 64,
            rack: true,
            initial_window: 10,
            slow_start_after_idle: true,
            congestion: CongestionAlgorithm::Cubic,
            // RFC 9406 / RFC 5681 limit the growth per ACK (8 and 1 SMSS);
            // Linux's tcp_slow_start lets an ACK add every segment it
            // covers (HyStart++ still ends slow start early).
            slow_start_limit: Some(0),
            hystart: crate::cc::HyStartMode::Linux,
            nagle: true,
            delayed_ack: Some(Duration::from_millis(40)),
            quick_acks: 16,
            delay_fin_ack: true,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            rttvar_floor: Duration::from_millis(200),
            syn_retries: 6,
            synack_retries: 5,
            syn_linear_timeouts: 4,
            retries1: 3,
            max_retries: 15,
            user_timeout: None,
            time_wait: Duration::from_secs(60),
            fin_wait_2_timeout: Some(Duration::from_secs(60)),
            keepalive: None,
            rfc5961: true,
            challenge_ack_limit: 100,
            rfc1337: false,
            reset_data_after_close_as_no_tcb: true,
            push_each_gso_burst: true,
            min_gso_segs: 2,
            drop_ack_of_unsent_silently: true,
        }
    }

    /// The RFCs' numbers (RFC 9293 alone: NewReno, no SACK, no ECN): MSL 2 min (TIME-WAIT 4 min), min RTO 1 s, max RTO
    /// 60 s, delayed ACK 200 ms, initial window per RFC 3390, SYN retries
    /// covering more than 3 minutes (MUST-23), no FIN-WAIT-2 timeout.
    pub const fn rfc9293() -> Config {
        let mut c = Config::linux();
        c.congestion = CongestionAlgorithm::NewReno;
        c.initial_window = 3;
        c.reset_data_after_close_as_no_tcb = false;
        c.push_each_gso_burst = false;
        c.drop_ack_of_unsent_silently = false;
        c.slow_start_limit = None;
        c.hystart = crate::cc::HyStartMode::Rfc9406;
        c.sack = false;
        c.ecn = EcnMode::Off;
        c.rack = false;
        c.delayed_ack = Some(Duration::from_millis(200));
        c.quick_acks = 0;
        c.delay_fin_ack = false;
        c.min_rto = Duration::from_secs(1);
        c.max_rto = Duration::from_secs(60);
        c.rttvar_floor = Duration::from_millis(1);
        c.syn_retries = 8;
        c.synack_retries = 8;
        c.syn_linear_timeouts = 0;
        c.time_wait = Duration::from_secs(240);
        c.fin_wait_2_timeout = None;
        c
    }

    /// This configuration checked once, to be shared by many connections
    /// ([`ValidConfig::new`]).
    pub fn validated(self) -> Result<ValidConfig, ConfigError> {
        ValidConfig::new(self)
    }

    /// Checks the settings for values no TCP can run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mss < 64 {
            return Err(ConfigError::MssTooSmall(self.mss));
        }
        if self.default_peer_mss < 64 {
            return Err(ConfigError::MssTooSmall(self.default_peer_mss));
        }
        if self.recv_buffer < usize::from(self.mss) || self.recv_buffer > (1 << 30) {
            return Err(ConfigError::BadBuffer {
                name: "recv_buffer",
                size: self.recv_buffer,
            });
        }
        if self.send_buffer == 0 || self.send_buffer > (1 << 30) {
            return Err(ConfigError::BadBuffer {
                name: "send_buffer",
                size: self.send_buffer,
            });
        }
        if self.initial_window == 0 {
            return Err(ConfigError::ZeroInitialWindow);
        }
        if self.dscp > 63 || self.hop_limit == 0 {
            return Err(ConfigError::BadIpField);
        }
        if let Some(d) = self.delayed_ack {
            // MUST-40: an ACK is never delayed by 0.5 s or more.
            if d >= Duration::from_millis(500) {
                return Err(ConfigError::DelayedAckTooLong);
            }
        }
        // Every duration that arms a timer is at least one tick of the clock
        // (`Instant` counts microseconds): a timer re-armed at `now + d`
        // then always lies after `now`, so `handle_timeout` cannot spin.
        let sub_tick = |d: Duration| d < CLOCK_RESOLUTION;
        if sub_tick(self.min_rto) || self.min_rto > self.max_rto || sub_tick(self.initial_rto) {
            return Err(ConfigError::BadRto);
        }
        if sub_tick(self.time_wait) {
            return Err(ConfigError::ZeroTimeWait);
        }
        // (Spelled out, not an iterator over an array of options: this runs
        // on every connect and listen.)
        let opt_sub_tick = |d: Option<Duration>| d.is_some_and(sub_tick);
        if opt_sub_tick(self.delayed_ack)
            || opt_sub_tick(self.user_timeout)
            || opt_sub_tick(self.fin_wait_2_timeout)
        {
            return Err(ConfigError::BelowClockResolution);
        }
        if self.challenge_ack_limit == 0 {
            return Err(ConfigError::ZeroChallengeAckLimit);
        }
        if let Some(k) = self.keepalive {
            // MUST-29: one lost probe must not kill the connection.
            if k.probes < 2 || sub_tick(k.interval) || sub_tick(k.idle) {
                return Err(ConfigError::BadKeepalive);
            }
        }
        Ok(())
    }

    /// The window-scale shift we offer: the explicit shift if set, else the
    /// smallest that lets the largest receive buffer be advertised, as
    /// Linux's `tcp_select_initial_window` (RFC 7323 §2.3: at most 14).
    pub fn rcv_wscale(&self) -> u8 {
        if let Some(s) = self.window_scale_shift {
            return s.min(14);
        }
        // The smallest s with space >> s <= 65535: the bits of `space`
        // above the low 16 (read on every SYN and SYN-ACK: no loop).
        let space = self.recv_buffer.max(self.recv_buffer_max);
        let bits = usize::BITS - space.leading_zeros();
        bits.saturating_sub(16).min(14) as u8
    }
}

/// A [`Config`] that passed [`Config::validate`], shared by reference
/// count: made once with [`ValidConfig::new`] (or [`Config::validated`]),
/// then cloned into as many connections as needed
/// ([`Connection::connect_valid`](crate::Connection::connect_valid),
/// [`Connection::listen_valid`](crate::Connection::listen_valid)) without
/// checking it again or going through a `Result` per connection.
#[derive(Clone)]
pub struct ValidConfig {
    cfg: Arc<Config>,
    /// What every connection made from it starts with, derived once.
    init: crate::connection::Init,
}

impl ValidConfig {
    /// Checks `cfg` once ([`Config::validate`]).
    pub fn new(cfg: impl Into<Arc<Config>>) -> Result<ValidConfig, ConfigError> {
        let cfg = cfg.into();
        cfg.validate()?;
        let init = crate::connection::Init::of(&cfg);
        Ok(ValidConfig { cfg, init })
    }

    /// The shared configuration.
    pub fn arc(&self) -> &Arc<Config> {
        &self.cfg
    }

    /// The shared configuration, taken out.
    pub fn into_arc(self) -> Arc<Config> {
        self.cfg
    }

    /// The configuration and what a connection derives from it.
    #[inline(always)]
    pub(crate) fn into_parts(self) -> (Arc<Config>, crate::connection::Init) {
        (self.cfg, self.init)
    }
}

/// Equal when the configurations are (the rest is derived from them).
impl PartialEq for ValidConfig {
    fn eq(&self, other: &ValidConfig) -> bool {
        self.cfg == other.cfg
    }
}

impl Eq for ValidConfig {}

impl fmt::Debug for ValidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValidConfig").field(&self.cfg).finish()
    }
}

impl core::ops::Deref for ValidConfig {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.cfg
    }
}

impl From<ValidConfig> for Arc<Config> {
    fn from(v: ValidConfig) -> Arc<Config> {
        v.cfg
    }
}

/// Why a [`Config`] was rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum ConfigError {
    /// An MSS below 64 octets.
    #[error("MSS {0} is below 64")]
    MssTooSmall(u16),
    /// A buffer size out of range.
    #[error("{name} of {size} octets is out of range")]
    BadBuffer {
        /// Which buffer.
        name: &'static str,
        /// Its size.
        size: usize,
    },
    /// An initial window of zero segments.
    #[error("initial window must be at least one segment")]
    ZeroInitialWindow,
    /// A delayed-ACK timeout of 500 ms or more (MUST-40).
    #[error("delayed ACK must be below 500 ms (MUST-40)")]
    DelayedAckTooLong,
    /// Zero or inverted RTO bounds.
    #[error("RTO bounds must be positive with min_rto <= max_rto")]
    BadRto,
    /// A zero TIME-WAIT.
    #[error("TIME-WAIT must last longer than zero (MUST-13)")]
    ZeroTimeWait,
    /// Keep-alive with fewer than two probes, or an idle time or interval
    /// below [`CLOCK_RESOLUTION`] (MUST-29).
    #[error("keep-alive needs at least two probes and non-zero times (MUST-29)")]
    BadKeepalive,
    /// A timer duration shorter than [`CLOCK_RESOLUTION`] (it would re-arm at `now`).
    #[error("timer durations must be at least one microsecond (the clock's resolution)")]
    BelowClockResolution,
    /// A `challenge_ack_limit` of zero (RFC 5961 §7 needs at least one per second).
    #[error("challenge_ack_limit must be at least 1")]
    ZeroChallengeAckLimit,
    /// An endpoint limit of zero or beyond what the endpoint can index, an
    /// empty ephemeral port range, or a pressure threshold outside 1–100 %.
    #[error("an endpoint limit is out of range")]
    BadLimit,
    /// A DSCP above 63 or a hop limit of zero.
    #[error("dscp must be at most 63 and hop_limit at least 1")]
    BadIpField,
    /// [`Connection::accept`](crate::Connection::accept) was given a segment
    /// that is not an acceptable SYN.
    #[error("the segment given to accept is not a SYN without ACK or RST")]
    NotASyn,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_bad_values_do_not() {
        assert_eq!(Config::linux().validate(), Ok(()));
        assert_eq!(Config::rfc9293().validate(), Ok(()));
        let mut c = Config::linux();
        c.delayed_ack = Some(Duration::from_millis(500));
        assert_eq!(c.validate(), Err(ConfigError::DelayedAckTooLong));
        let mut c = Config::linux();
        c.mss = 10;
        assert_eq!(c.validate(), Err(ConfigError::MssTooSmall(10)));
        let mut c = Config::linux();
        c.min_rto = Duration::from_secs(200);
        assert_eq!(c.validate(), Err(ConfigError::BadRto));
        let mut c = Config::linux();
        c.keepalive = Some(Keepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            probes: 1,
        });
        assert_eq!(c.validate(), Err(ConfigError::BadKeepalive));
    }

    #[test]
    fn a_valid_config_is_checked_once_and_builds_the_same_connections() {
        let mut bad = Config::linux();
        bad.mss = 10;
        assert_eq!(bad.validated(), Err(ConfigError::MssTooSmall(10)));
        let mut bad = Config::linux();
        bad.user_timeout = Some(Duration::from_nanos(999));
        assert_eq!(
            ValidConfig::new(bad),
            Err(ConfigError::BelowClockResolution)
        );
        let v = Config::rfc9293().validated().expect("valid");
        assert_eq!(**v.arc(), Config::rfc9293());
        let now = crate::Instant::from_secs(3);
        let iss = crate::SeqNum(u32::MAX - 1);
        let a = crate::Connection::connect(Config::rfc9293(), 40000, 80, iss, now).expect("ok");
        let b = crate::Connection::connect_valid(v.clone(), 40000, 80, iss, now);
        assert_eq!(alloc::format!("{a:?}"), alloc::format!("{b:?}"));
        let a = crate::Connection::listen(Config::rfc9293(), 80, iss).expect("ok");
        let b = crate::Connection::listen_valid(v, 80, iss);
        assert_eq!(alloc::format!("{a:?}"), alloc::format!("{b:?}"));
    }

    #[test]
    fn window_scale_is_the_smallest_that_covers_the_buffer() {
        let mut c = Config::rfc9293();
        c.recv_buffer = 65535;
        assert_eq!(c.rcv_wscale(), 0);
        c.recv_buffer = 1 << 20;
        assert_eq!(c.rcv_wscale(), 5);
        // Against the definition (the smallest shift that fits, at most 14).
        for space in [
            0,
            1,
            65535,
            65536,
            131071,
            131072,
            1 << 29,
            (1 << 30) + 1,
            usize::MAX,
        ] {
            c.recv_buffer = space;
            let want = (0..14u8).find(|&s| (space >> s) <= 65535).unwrap_or(14);
            assert_eq!(c.rcv_wscale(), want, "space {space}");
        }
    }

    #[test]
    fn window_scale_follows_the_maximum_buffer_like_linux_or_the_override() {
        let mut c = Config::linux();
        assert_eq!(c.rcv_wscale(), 5, "the 1 MiB buffer itself");
        c.recv_buffer_max = 6 << 20;
        assert_eq!(c.rcv_wscale(), 7, "Linux default tcp_rmem[2] = 6 MiB");
        c.recv_buffer_max = 15 << 20;
        assert_eq!(c.rcv_wscale(), 8, "packetdrill's defaults.sh: 15 MiB");
        c.recv_buffer_max = 32 << 20;
        assert_eq!(c.rcv_wscale(), 10);
        c.window_scale_shift = Some(2);
        assert_eq!(c.rcv_wscale(), 2);
        c.window_scale_shift = Some(20);
        assert_eq!(c.rcv_wscale(), 14, "RFC 7323 §2.3 caps the shift at 14");
    }
}
