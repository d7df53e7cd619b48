//! The connection: RFC 9293's state machine with its modern layer, driven
//! by segments, timer ticks and application calls, never by IO.
//!
//! Input: [`Connection::handle_segment`], [`Connection::handle_timeout`] and
//! the application calls. Output, pulled by the caller:
//! [`Connection::poll_transmit`], [`Connection::poll_timeout`],
//! [`Connection::poll_event`].

mod cold;
mod counters;
mod ecn;
mod events;
mod flags;
mod host;
mod icmp;
mod info;
mod input;
mod lazy;
mod loss;
mod output;
mod rtt;
mod sockopt;
mod timers;

pub use info::TcpInfo;
pub use input::reset_reply;
pub(crate) use input::segment_acceptable;

use crate::buffer::{RecvBuffer, SendBuffer};
use crate::cc::{CongestionControl, Controller, CwndUsage};
use crate::config::{Config, ConfigError, ValidConfig};
use crate::event::{CloseReason, Error, Event};
use crate::recovery::Rack;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::wire::Segment;
use alloc::sync::Arc;
use bytes::Bytes;
use core::mem::ManuallyDrop;
use core::time::Duration;
use lazy::Lazy;
use rtt::RttEstimator;
use timers::{Timer, TimerTable};

/// How SYN-RECEIVED was reached (MUST-11).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// From LISTEN (or built from a received SYN).
    Passive,
    /// From SYN-SENT (simultaneous open).
    Active,
}

impl Connection {
    /// Queues `e` for `poll_event`; an event dropped from a full queue is
    /// counted (`Stats::events_dropped`).
    #[inline]
    fn push_event(&mut self, e: Event) {
        if self.events.push_back(e) {
            self.count_dropped_event();
        }
    }

    #[cold]
    #[inline(never)]
    fn count_dropped_event(&mut self) {
        self.cold.make().rare.events_dropped += 1;
    }

    /// A fresh TCB that takes over `old`'s undelivered events keeps the
    /// count of those dropped too (it went with the queue before the count
    /// moved to the cold state).
    fn keep_events_dropped(&mut self, old: &Connection) {
        let n = old.cold.rare.events_dropped;
        if n.get() > 0 {
            self.cold.make().rare.events_dropped = n;
        }
    }

    /// How SYN-RECEIVED was reached (a flag bit).
    #[inline(always)]
    fn origin(&self) -> Origin {
        if self.flags.active_origin() {
            Origin::Active
        } else {
            Origin::Passive
        }
    }

    #[inline(always)]
    fn set_origin(&mut self, o: Origin) {
        self.flags.set_active_origin(o == Origin::Active);
    }
}

impl Drop for Connection {
    #[inline]
    fn drop(&mut self) {
        if self.sndbuf.holds_storage() {
            self.free_send_buffer();
        }
    }
}

impl Connection {
    /// [`Drop`] of a send buffer that held storage, out of line.
    #[cold]
    #[inline(never)]
    fn free_send_buffer(&mut self) {
        drop(core::mem::replace(&mut *self.sndbuf, SendBuffer::new()));
    }
}

/// What a new connection takes from its configuration alone, derived once:
/// a [`ValidConfig`] holds it, so that each connection made from one
/// copies these instead of computing them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Init {
    rtt: RttEstimator,
    cc: crate::cc::Initial,
    rcvbuf: crate::buffer::RecvLimits,
    /// `recv_buffer`, validated ≤ 2^30.
    recv_buffer: u32,
    /// The send MSS before the peer's SYN: the default peer MSS, at most ours.
    snd_mss: u32,
    /// The "full-sized segment" of delayed ACK before any data: 536 at most.
    rcv_mss: u16,
    /// The window-scale shift offered (`Config::rcv_wscale`).
    wscale_offer: u8,
}

impl Init {
    /// What a connection with `cfg` starts with.
    pub(crate) fn of(cfg: &Config) -> Init {
        let snd_mss = u32::from(cfg.default_peer_mss.min(cfg.mss));
        Init {
            rtt: RttEstimator::new(cfg),
            cc: crate::cc::Initial::configured(cfg, snd_mss),
            rcvbuf: crate::buffer::RecvLimits::of(cfg.recv_buffer),
            // Validated ≤ 2^30 (and kept so by `resize_recv_buffer`).
            recv_buffer: cfg.recv_buffer.min(1 << 30) as u32,
            snd_mss,
            rcv_mss: cfg.mss.min(536),
            wscale_offer: cfg.rcv_wscale(),
        }
    }
}

/// How a new connection starts (see `Connection::opened`).
#[derive(Clone, Copy, Default)]
struct Opening {
    /// It moved from CLOSED to its state (reported as an event).
    from_closed: bool,
    /// Its SYN is due (and the retransmission timer armed for it).
    syn_pending: bool,
    /// Made by `listen`.
    one_shot_listener: bool,
}

/// Most replies (RSTs to bad segments) held while the caller does not poll.
const MAX_REPLIES: usize = 8;

/// How long a connection receives nothing, with everything read, before its
/// receive buffer's storage is freed (Linux reclaims socket memory of an
/// idle socket in the same spirit). Short enough that an idle connection
/// soon holds no block; long against the gap between segments of a flow.
pub(crate) const RECLAIM_AFTER_US: u64 = 200_000;

/// Read-only counters and estimates of one connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// RTT variance.
    pub rttvar: Duration,
    /// Retransmission timeout in force (with backoff).
    pub rto: Duration,
    /// Congestion window, octets.
    pub cwnd: u32,
    /// Slow-start threshold, octets.
    pub ssthresh: u32,
    /// Octets sent and not acknowledged (SND.NXT − SND.UNA).
    pub bytes_in_flight: u32,
    /// The peer's window, scaled (SND.WND).
    pub snd_wnd: u32,
    /// The window we advertise now (RCV.WND).
    pub rcv_wnd: u32,
    /// Send MSS in force (payload octets per segment).
    pub snd_mss: u32,
    /// Segments received (all, including dropped ones).
    pub segments_in: u64,
    /// Segments produced by `poll_transmit`.
    pub segments_out: u64,
    /// Data octets sent for the first time.
    pub bytes_sent: u64,
    /// Data octets received in order.
    pub bytes_received: u64,
    /// Segments retransmitted (all causes).
    pub retransmits: u64,
    /// Retransmission-timer expiries.
    pub rto_expirations: u64,
    /// Loss recoveries entered (third duplicate ACK, RFC 6675 or RACK).
    pub fast_retransmits: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// Retransmissions that RACK found lost and resent (RFC 8985 §2.2).
    pub rack_lost_retransmits: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by their rate limit.
    pub challenge_acks_suppressed: u64,
    /// ACKs to out-of-window segments without data suppressed by their own rate limit.
    pub oow_acks_suppressed: u64,
    /// Segments that failed the acceptability test (§3.10.7.4 step 1) or PAWS.
    pub dropped_unacceptable: u64,
    /// Segments dropped for an unacceptable ACK field.
    pub dropped_bad_ack: u64,
    /// Segments dropped for other reasons (wrong ports, no ACK bit, ...).
    pub dropped_other: u64,
    /// Out-of-order segments received.
    pub out_of_order: u64,
    /// Data segments that arrived marked CE (ECN negotiated).
    pub ecn_ce_received: u64,
    /// Window reductions in answer to ECN-Echo (RFC 3168 §6.1.2).
    pub ecn_reductions: u64,
    /// Loss responses (recovery or timeout) undone because they proved
    /// spurious: timestamps (Eifel, RFC 3522) or D-SACKs (RFC 3708).
    pub spurious_undos: u64,
    /// Events dropped because the application did not poll them (the
    /// queue holds 32).
    pub events_dropped: u64,
    /// ICMP errors acted on: reported, fatal to the handshake, or a
    /// smaller path MTU ([`Connection::handle_icmp`]).
    pub icmp_errors: u64,
    /// ICMP errors ignored: Source Quench, a sequence number we have not
    /// sent or that is acknowledged already, or no use in this state.
    pub icmp_ignored: u64,
}

/// One TCP connection (a TCB) as a pure state machine.
///
/// It owns no socket, clock or random number generator: `now` is passed
/// to every call that needs time, and the caller picks the ISS.
#[derive(Debug)]
pub struct Connection {
    /// Shared by every connection made from the same `Arc` (an `Endpoint`'s
    /// connections share one); a socket option copies it on write.
    cfg: Arc<Config>,
    /// Offset added to the timestamp clock (starts as `cfg.ts_offset`; an
    /// `Endpoint` sets one per 4-tuple, RFC 7323 §7.1).
    ts_offset: u32,
    /// The receive buffer in force, octets (starts as `cfg.recv_buffer`;
    /// `SO_RCVBUF` or an `Endpoint` under memory pressure changes it).
    recv_buffer: u32,
    state: State,
    /// The yes/no state, and which of `marks` are set.
    flags: flags::Flags,
    /// The sequence numbers that are not always set.
    marks: flags::Marks,
    local_port: u16,
    remote_port: u16,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    max_snd_wnd: u32,
    snd_wscale: u8,
    snd_mss: u32,
    /// End of the last sub-MSS segment sent (Minshall's Nagle, RFC 9293 A.3).
    snd_sml: SeqNum,
    /// Where the current GSO-sized burst of new data continues, and how many
    /// segments it has so far (`Config::push_each_gso_burst`).
    gso_burst_next: SeqNum,
    gso_burst_count: u8,

    // Receive sequence space.
    irs: SeqNum,
    rcv_nxt: SeqNum,
    /// Right edge last advertised: RCV.NXT + RCV.WND; never moves left (SHLD-14).
    rcv_adv: SeqNum,
    rcv_wscale: u8,
    /// The shift our SYN or SYN-ACK offers: `cfg.rcv_wscale()`, kept with
    /// the configuration it comes from (`set_recv_buffer` updates it).
    wscale_offer: u8,
    /// Largest payload seen from the peer: the "full-sized segment" of
    /// delayed ACK (at most `Config::mss`, a u16).
    rcv_mss: u16,

    // Options negotiated.
    ts_recent: u32,
    last_ack_sent: SeqNum,

    // Buffers and the close handshake.
    /// Dropped by hand (see `Drop`): a buffer that never held storage costs
    /// one inline test.
    sndbuf: ManuallyDrop<SendBuffer>,
    rcvbuf: RecvBuffer,
    /// Queued data up to here goes out whatever cork or `send_more` say
    /// (Linux `TCP_NAGLE_PUSH`: set by `set_nodelay(true)`).
    push_end: SeqNum,

    // Retransmission and congestion control.
    rtt: RttEstimator,
    /// RFC 6675 HighRxt + 1: retransmissions of this recovery reach here.
    high_rxt: SeqNum,
    /// RACK's variables (RFC 8985).
    rack: Rack,
    cc: Controller,
    /// Rounds and congestion-window use, reported to `cc` with each ACK.
    usage: CwndUsage,
    /// ECN negotiation, echo and reaction (RFC 3168).
    ecn: ecn::EcnState,
    /// Last time the peer acknowledged new data (user timeout).
    last_progress: Instant,

    // ACK policy.
    unacked_rcv: u32,
    quick_acks: u32,

    // Probes.
    keepalive_sent: u32,
    last_rcv: Instant,
    /// When data was last sent (new or retransmitted: tcp_info, restart
    /// after idle) / received (tcp_info).
    last_data_sent: Instant,
    last_data_recv: Instant,

    // Output queues and limits.
    timers: TimerTable,
    events: events::EventQueue,
    stats: counters::Counters,
    /// What a clean connection never writes (allocated on first write).
    cold: Lazy<cold::Cold>,
    /// When the connection was made: the start of its first ACK-budget
    /// window (RFC 5961 §7).
    born: Instant,
}

impl Connection {
    /// A TCB in `state` with nothing negotiated yet. The caller validates
    /// `cfg` first. Inlined into the three constructors so that the large
    /// struct is built where it ends up, not built and then moved.
    #[inline(always)]
    fn new(
        cfg: Arc<Config>,
        local_port: u16,
        remote_port: u16,
        iss: SeqNum,
        state: State,
        now: Instant,
    ) -> Connection {
        let init = Init::of(&cfg);
        Connection::opened(
            cfg,
            init,
            local_port,
            remote_port,
            iss,
            state,
            now,
            Opening::default(),
        )
    }

    /// [`Connection::new`] already opened as `opening` says: the state change
    /// from CLOSED reported, the flags set, the retransmission timer armed,
    /// all inside the one struct expression, so that `connect_valid` and
    /// `listen_valid` return it without a copy of the whole connection
    /// (building it and then changing it made the compiler move it).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // the configuration and what it derives, apart
    fn opened(
        cfg: Arc<Config>,
        init: Init,
        local_port: u16,
        remote_port: u16,
        iss: SeqNum,
        state: State,
        now: Instant,
        opening: Opening,
    ) -> Connection {
        let snd_mss = init.snd_mss;
        let rtt = init.rtt;
        debug_assert!(!opening.from_closed || State::Closed.can_move_to(state));
        // Built in each arm with its controller in place (a controller
        // chosen first and then moved in went through a copy).
        let build = |cc: Controller| Connection {
            ts_offset: cfg.ts_offset,
            recv_buffer: init.recv_buffer,
            state,
            flags: {
                let mut f = flags::Flags::default();
                f.set_header_prediction(true);
                f.set_syn_pending(opening.syn_pending);
                f.set_one_shot_listener(opening.one_shot_listener);
                f
            },
            marks: flags::Marks::default(),
            local_port,
            remote_port,
            iss,
            snd_una: iss,
            snd_nxt: iss.add(1),
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_wscale: 0,
            snd_mss,
            snd_sml: iss,
            gso_burst_next: iss,
            gso_burst_count: 0,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_wscale: 0,
            wscale_offer: init.wscale_offer,
            rcv_mss: init.rcv_mss,
            ts_recent: 0,
            last_ack_sent: SeqNum(0),
            sndbuf: ManuallyDrop::new(SendBuffer::new()),
            rcvbuf: RecvBuffer::with_limits(init.rcvbuf),
            push_end: iss,
            rtt,
            high_rxt: iss,
            rack: Rack::default(),
            cc,
            usage: CwndUsage::new(iss),
            ecn: ecn::EcnState::new(),
            last_progress: now,
            unacked_rcv: 0,
            quick_acks: cfg.quick_acks,
            keepalive_sent: 0,
            last_rcv: now,
            last_data_sent: now,
            last_data_recv: now,
            timers: {
                let mut t = TimerTable::default();
                if opening.syn_pending {
                    t.set_after(Timer::Retransmit, now, rtt.rto_micros(&cfg));
                }
                t
            },
            events: {
                let mut q = events::EventQueue::default();
                if opening.from_closed {
                    // An empty queue drops nothing.
                    let _ = q.push_back(Event::StateChanged {
                        from: State::Closed,
                        to: state,
                    });
                }
                q
            },
            stats: counters::Counters::default(),
            cold: Lazy::default(),
            born: now,
            cfg,
        };
        match init.cc {
            crate::cc::Initial::Cubic(c) => build(Controller::Cubic(c)),
            other => build(Controller::from_initial(other)),
        }
    }

    /// Active open (RFC 9293 §3.10.1): CLOSED → SYN-SENT; the SYN comes out
    /// of [`poll_transmit`](Self::poll_transmit). The caller picks `iss`
    /// (RFC 6528 / MUST-8, MUST-9: from its own clock and secret).
    ///
    /// `cfg` is a [`Config`], or an `Arc<Config>` that many connections
    /// share (no copy per connection).
    #[inline]
    pub fn connect(
        cfg: impl Into<Arc<Config>>,
        local_port: u16,
        remote_port: u16,
        iss: SeqNum,
        now: Instant,
    ) -> Result<Connection, ConfigError> {
        let cfg = ValidConfig::new(cfg)?;
        Ok(Connection::connect_valid(
            cfg,
            local_port,
            remote_port,
            iss,
            now,
        ))
    }

    /// [`connect`](Self::connect) with a configuration checked beforehand:
    /// nothing to fail, and the connection is built where the caller keeps
    /// it (no `Result` to move it out of).
    #[inline]
    pub fn connect_valid(
        cfg: ValidConfig,
        local_port: u16,
        remote_port: u16,
        iss: SeqNum,
        now: Instant,
    ) -> Connection {
        let (cfg, init) = cfg.into_parts();
        Connection::opened(
            cfg,
            init,
            local_port,
            remote_port,
            iss,
            State::SynSent,
            now,
            Opening {
                from_closed: true,
                syn_pending: true,
                one_shot_listener: false,
            },
        )
    }

    /// The RFC's one-shot passive open: CLOSED → LISTEN. The first SYN that
    /// arrives (on `local_port`, from any remote port) moves it to
    /// SYN-RECEIVED with `iss`; a reset or a failed handshake there returns
    /// it to LISTEN with nothing of that peer kept, and the next handshake
    /// uses a new ISS derived from this one (see the R2/R6/R15 edges).
    #[inline]
    pub fn listen(
        cfg: impl Into<Arc<Config>>,
        local_port: u16,
        iss: SeqNum,
    ) -> Result<Connection, ConfigError> {
        let cfg = ValidConfig::new(cfg)?;
        Ok(Connection::listen_valid(cfg, local_port, iss))
    }

    /// [`listen`](Self::listen) with a configuration checked beforehand
    /// (see [`connect_valid`](Self::connect_valid)).
    #[inline]
    pub fn listen_valid(cfg: ValidConfig, local_port: u16, iss: SeqNum) -> Connection {
        let (cfg, init) = cfg.into_parts();
        Connection::opened(
            cfg,
            init,
            local_port,
            0,
            iss,
            State::Listen,
            Instant::ZERO,
            Opening {
                from_closed: true,
                syn_pending: false,
                one_shot_listener: true,
            },
        )
    }

    /// Passive open from a received SYN, for callers that demultiplex
    /// themselves (a listener): the connection starts in SYN-RECEIVED with
    /// its SYN-ACK due. `syn` must be a SYN without ACK or RST.
    pub fn accept(
        cfg: impl Into<Arc<Config>>,
        syn: &Segment,
        iss: SeqNum,
        now: Instant,
    ) -> Result<Connection, ConfigError> {
        let cfg = cfg.into();
        cfg.validate()?;
        let mut c = Connection::new(cfg, syn.dst_port, syn.src_port, iss, State::Listen, now);
        c.handle_segment(now, syn.clone());
        if c.state != State::SynReceived {
            return Err(ConfigError::NotASyn);
        }
        c.events.clear();
        c.push_event(Event::StateChanged {
            from: State::Listen,
            to: State::SynReceived,
        });
        Ok(c)
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Local port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Remote port (0 while listening).
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }

    /// The configuration in force (with the socket options set since).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The configuration to change for a socket option: this connection's
    /// own copy (made on the first change when the `Arc` is shared).
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.cfg)
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.flags.close_reason()
    }

    /// Counters and estimates.
    pub fn stats(&self) -> Stats {
        let cc = &self.cc;
        let r = &self.cold.rare;
        Stats {
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(&self.cfg),
            cwnd: cc.cwnd(),
            ssthresh: cc.ssthresh(),
            bytes_in_flight: self.snd_nxt.dist(self.snd_una),
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_wnd(),
            snd_mss: self.snd_mss,
            segments_in: self.segments_in(),
            segments_out: self.segments_out(),
            bytes_sent: self.bytes_sent(),
            bytes_received: self.bytes_received(),
            retransmits: r.retransmits.get(),
            rto_expirations: r.rto_expirations.get(),
            fast_retransmits: r.fast_retransmits.get(),
            tail_loss_probes: r.tail_loss_probes.get(),
            rack_lost_retransmits: r.rack_lost_retransmits.get(),
            dup_acks: r.dup_acks.get(),
            challenge_acks: r.challenge_acks.get(),
            challenge_acks_suppressed: r.challenge_acks_suppressed.get(),
            oow_acks_suppressed: r.oow_acks_suppressed.get(),
            dropped_unacceptable: r.dropped_unacceptable.get(),
            dropped_bad_ack: r.dropped_bad_ack.get(),
            dropped_other: r.dropped_other.get(),
            out_of_order: r.out_of_order.get(),
            ecn_ce_received: r.ecn_ce_received.get(),
            ecn_reductions: r.ecn_reductions.get(),
            spurious_undos: r.spurious_undos.get(),
            events_dropped: r.events_dropped.get(),
            icmp_errors: r.icmp_errors.get(),
            icmp_ignored: r.icmp_ignored.get(),
        }
    }

    /// Turns header prediction (the fast path for in-order segments in
    /// ESTABLISHED, and the sender's short form of step 5 for the common
    /// ACK of new data) on or off. It is on by default and changes nothing
    /// observable, only the cost: this exists so that tests can compare it
    /// with the full segment-arrival steps.
    #[doc(hidden)]
    pub fn set_header_prediction(&mut self, on: bool) {
        self.flags.set_header_prediction(on);
    }

    /// Installs a congestion controller of the caller's in place of the
    /// one [`Config::congestion`] chose; it is boxed once here, and called
    /// through the [`CongestionControl`] trait on every ACK, loss and
    /// timeout without further allocation. It is [`reset`](CongestionControl::reset)
    /// to the initial window now and again when the SYN exchange fixes
    /// the MSS: install it before data flows.
    pub fn set_congestion_control(
        &mut self,
        mut controller: alloc::boxed::Box<dyn CongestionControl + Send + Sync>,
    ) {
        controller.reset(self.cfg.initial_window, self.snd_mss);
        self.cc = Controller::Custom(controller);
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout)
    /// must be called; `None` when no timer is armed.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next event for the application.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        // The common call finds the queue empty: a test inlined into the
        // caller; taking an event is out of line.
        if self.events.is_empty() {
            return None;
        }
        self.events.pop_front()
    }

    /// Octets the application can queue now.
    pub fn send_capacity(&self) -> usize {
        if self.can_send() {
            self.sndbuf.free(self.cfg.send_buffer)
        } else {
            0
        }
    }

    /// Octets queued or in flight, not yet acknowledged.
    pub fn send_queue_len(&self) -> usize {
        self.sndbuf.len()
    }

    /// Octets ready to read.
    pub fn recv_available(&self) -> usize {
        self.rcvbuf.readable()
    }

    /// Whether the peer has finished sending and everything before its FIN
    /// has arrived (reading may still drain buffered data).
    pub fn peer_finished(&self) -> bool {
        self.flags.peer_finished()
    }

    fn can_send(&self) -> bool {
        matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) && self.fin_seq().is_none()
    }

    /// Turns a one-shot LISTEN into an active open towards `remote_port`
    /// (RFC 9293 §3.10.2, SEND in LISTEN with the foreign socket given):
    /// LISTEN → SYN-SENT with this connection's ISS.
    pub fn open_active(&mut self, remote_port: u16, now: Instant) -> Result<(), Error> {
        if self.state != State::Listen {
            return Err(Error::InvalidState {
                call: "open_active",
                state: self.state,
            });
        }
        self.remote_port = remote_port;
        self.set_origin(Origin::Active);
        self.flags.set_syn_pending(true);
        self.last_progress = now;
        self.timers
            .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        self.set_state(State::SynSent);
        Ok(())
    }

    /// Queues a copy of `data` (RFC 9293 §3.10.2; queued, not an error, before
    /// ESTABLISHED). Returns how many octets were taken; `WouldBlock` when none fit.
    #[inline]
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.check_send()?;
        let n = self.sndbuf.push_slice(data, self.cfg.send_buffer);
        self.flags.set_more_hold(false);
        self.flags.set_more_unpushed(false);
        self.after_send(n, data.len())
    }

    /// [`send`](Self::send) with "more data follows" (Linux `MSG_MORE`):
    /// a tail shorter than the MSS is not sent at once but waits for the
    /// next ACK from the peer, the next plain `send`, or
    /// [`set_nodelay(true)`](Self::set_nodelay); and the end of this data
    /// carries no PSH.
    pub fn send_more(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.check_send()?;
        let n = self.sndbuf.push_slice(data, self.cfg.send_buffer);
        if n > 0 {
            self.flags.set_more_hold(true);
            self.flags.set_more_unpushed(true);
        }
        self.after_send(n, data.len())
    }

    /// Queues `data` without copying it. Returns how many octets were taken.
    #[inline]
    pub fn send_bytes(&mut self, data: Bytes) -> Result<usize, Error> {
        self.check_send()?;
        let len = data.len();
        let n = self.sndbuf.push_bytes(data, self.cfg.send_buffer);
        self.flags.set_more_hold(false);
        self.flags.set_more_unpushed(false);
        self.after_send(n, len)
    }

    fn check_send(&self) -> Result<(), Error> {
        if let Some(r) = self.flags.close_reason() {
            return Err(Error::Closed(r));
        }
        if !self.can_send() {
            return Err(Error::InvalidState {
                call: "send",
                state: self.state,
            });
        }
        Ok(())
    }

    fn after_send(&mut self, n: usize, asked: usize) -> Result<usize, Error> {
        if n < asked {
            self.flags.set_want_writable(true);
        }
        if n == 0 && asked > 0 {
            return Err(Error::WouldBlock);
        }
        Ok(n)
    }

    /// Copies received data into `buf`. `Ok(0)` means end of stream (the peer
    /// finished and everything was read); `WouldBlock` means nothing yet.
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.check_recv()?;
        let n = self.rcvbuf.read(buf);
        self.after_recv(n, buf.is_empty())
    }

    /// Takes up to `max` received octets without copying. An empty result
    /// means end of stream; `WouldBlock` means nothing yet.
    #[inline]
    pub fn recv_bytes(&mut self, max: usize) -> Result<Bytes, Error> {
        self.check_recv()?;
        if self.rcvbuf.readable() == 0 {
            // Nothing to take (the reader's last call after draining): no
            // empty `Bytes` made and dropped.
            return self.after_recv(0, max == 0).map(|_| Bytes::new());
        }
        let b = self.rcvbuf.read_bytes(max);
        let n = b.len();
        self.after_recv(n, max == 0).map(|_| b)
    }

    fn check_recv(&self) -> Result<(), Error> {
        if self.flags.app_closed() {
            return Err(Error::InvalidState {
                call: "recv",
                state: self.state,
            });
        }
        Ok(())
    }

    #[inline]
    fn after_recv(&mut self, n: usize, empty_request: bool) -> Result<usize, Error> {
        if self.rcvbuf.readable() == 0 {
            self.flags.set_readable_signalled(false);
        }
        if n > 0 || empty_request {
            self.maybe_window_update();
            return Ok(n);
        }
        if self.flags.peer_finished() || self.flags.rd_shut() {
            return Ok(0);
        }
        match self.flags.close_reason() {
            Some(CloseReason::Normal) => Ok(0),
            Some(r) => Err(Error::Closed(r)),
            None => Err(Error::WouldBlock),
        }
    }

    /// Half-close (RFC 9293 §3.10.4 for the sending direction): a FIN goes
    /// out after the queued data; receiving goes on.
    #[inline]
    pub fn shutdown_write(&mut self) -> Result<(), Error> {
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                if self.fin_seq().is_none() {
                    self.set_fin_seq(Some(self.snd_nxt.add(self.sndbuf.unsent_len() as u32)));
                }
                match self.state {
                    // R12: SYN-RECEIVED → FIN-WAIT-1; the FIN waits for our SYN's ACK.
                    State::SynReceived | State::Established => self.set_state(State::FinWait1),
                    State::CloseWait => self.set_state(State::LastAck),
                    // In SYN-SENT the FIN waits for ESTABLISHED.
                    _ => {}
                }
                Ok(())
            }
            // §3.10.4: closing again makes no second FIN.
            State::FinWait1
            | State::FinWait2
            | State::Closing
            | State::LastAck
            | State::TimeWait => Ok(()),
            State::Closed | State::Listen => Err(match self.flags.close_reason() {
                Some(r) => Error::Closed(r),
                None => Error::InvalidState {
                    call: "shutdown_write",
                    state: self.state,
                },
            }),
        }
    }

    /// Full close (RFC 9293 §3.10.4): FIN after the queued data, and no more
    /// reading. If received data is left unread it is discarded and the peer
    /// is told with a RST instead (SHLD-3, RFC 2525 §2.17, as Linux does).
    pub fn close(&mut self, now: Instant) -> Result<(), Error> {
        match self.state {
            State::Closed => {
                return match self.flags.close_reason() {
                    Some(_) => {
                        // Already closed (e.g. LAST-ACK acknowledged after a
                        // half-close): nobody will read what is left, and
                        // an endpoint frees the connection once it is gone.
                        self.rcvbuf.clear();
                        Ok(())
                    }
                    None => Err(Error::InvalidState {
                        call: "close",
                        state: self.state,
                    }),
                };
            }
            State::Listen => {
                self.enter_closed(CloseReason::Normal);
                return Ok(());
            }
            State::SynSent => {
                self.enter_closed(CloseReason::Aborted);
                return Ok(());
            }
            _ => {}
        }
        self.flags.set_app_closed(true);
        if self.rcvbuf.readable() > 0 && self.state.is_synchronized() {
            self.rcvbuf.clear();
            self.reset_and_close(CloseReason::Aborted);
            return Ok(());
        }
        self.shutdown_write()?;
        self.arm_fin_wait_2(now);
        Ok(())
    }

    /// Abort (RFC 9293 §3.10.5): RST to the peer where the state calls for
    /// one, everything discarded, CLOSED.
    pub fn abort(&mut self) {
        match self.state {
            State::Closed => {}
            State::Listen | State::SynSent | State::Closing | State::LastAck | State::TimeWait => {
                self.enter_closed(CloseReason::Aborted)
            }
            _ => self.reset_and_close(CloseReason::Aborted),
        }
    }

    /// Handles every timer whose deadline is at or before `now`.
    ///
    /// Terminates: each pass takes one expired timer, and there are as
    /// many passes as timer kinds. Every configured duration is at least one
    /// clock tick (`Config::validate`), so a timer re-armed here lies after
    /// `now` and no deadline at or before `now` is left behind.
    #[inline]
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..Timer::ALL.len() {
            let Some(t) = self.timers.take_expired(now) else {
                break;
            };
            match t {
                Timer::Retransmit => self.on_retransmit_timeout(now),
                Timer::Persist if self.flags.cork_probe() && self.snd_wnd > 0 => {
                    // A corked (or `send_more`) tail waited with nothing in
                    // flight: it goes out now, with PSH (Linux's probe timer,
                    // `tcp_write_wakeup`).
                    self.flags.set_cork_probe(false);
                    self.flags.set_more_hold(false);
                    self.flags.set_more_unpushed(false);
                    self.push_end = self.snd_nxt.add(self.sndbuf.unsent_len() as u32);
                }
                Timer::Persist => {
                    self.flags.set_cork_probe(false);
                    // SHLD-29/30: probe, then back off. MUST-37: never give up
                    // while probes are answered (`persist_unanswered` resets on any ACK).
                    if self.cold.persist_unanswered > self.cfg.max_retries {
                        self.enter_closed(CloseReason::TimedOut);
                        return;
                    }
                    self.flags.set_zero_window_probe(true);
                    self.cold.make().persist_unanswered += 1;
                    self.cold.make().persist_backoff += 1;
                    self.arm_persist(now);
                }
                Timer::DelayedAck => self.flags.set_ack_now(true),
                Timer::Keepalive => self.on_keepalive_timeout(now),
                // TIME-WAIT ends normally; FIN-WAIT-2 gives up (see `Timer::Linger`).
                Timer::Linger if self.state == State::TimeWait => {
                    self.enter_closed(CloseReason::Normal)
                }
                Timer::Linger => self.enter_closed(CloseReason::TimedOut),
                Timer::Rack => {
                    self.rack_detect(now);
                    self.sack_loss_recovery(now, 0, false);
                }
                Timer::LossProbe => self.on_loss_probe_timeout(now),
                Timer::Reclaim => self.on_reclaim_timeout(now),
            }
            if self.state == State::Closed {
                return;
            }
        }
        self.arm_persist_if_needed(now);
    }

    /// Frees the receive buffer's storage of a connection that has received
    /// nothing for [`RECLAIM_AFTER_US`] and whose data the application has
    /// read: an idle connection holds no block and no queue (#12), while a
    /// reader that drains after every segment keeps its storage in use
    /// instead of freeing and allocating it once per segment
    /// (non-negotiable 3). Re-armed while storage is held.
    fn on_reclaim_timeout(&mut self, now: Instant) {
        let quiet_since = self.last_data_recv.total_micros();
        let idle = now.total_micros().saturating_sub(quiet_since) >= RECLAIM_AFTER_US;
        if idle && self.rcvbuf.readable() == 0 {
            self.rcvbuf.reclaim_if_drained();
        }
        if self.rcvbuf.holds_idle_storage() {
            let from = if idle { now } else { self.last_data_recv };
            self.timers
                .set_after(Timer::Reclaim, from, RECLAIM_AFTER_US);
        }
    }

    /// R1 (RFC 9293 §3.8.3, MUST-20/22, SHLD-9): the retransmission just
    /// counted is the `retries1`-th of this data (or SYN) — report it once.
    fn check_r1(&mut self) {
        if self.cfg.retries1 != 0 && self.cold.retries == self.cfg.retries1 {
            self.push_event(Event::DeliveryProblem);
        }
    }

    fn on_retransmit_timeout(&mut self, now: Instant) {
        self.cold.make().rare.rto_expirations += 1;
        self.set_syn_rtt_probe(None); // Karn: no sample from a retransmitted segment.
        if !self.flags.syn_acked() {
            // MUST-22: SYN and SYN-ACK retransmissions follow the general rules.
            let syn_sent = self.state == State::SynSent;
            let linear = if syn_sent {
                self.cfg.syn_linear_timeouts
            } else {
                0
            };
            let limit = if syn_sent {
                self.cfg.syn_retries.saturating_add(linear)
            } else {
                self.cfg.synack_retries
            };
            if self.cold.retries >= limit || matches!(self.state, State::Listen | State::Closed) {
                if self.state == State::SynReceived
                    && self.origin() == Origin::Passive
                    && self.flags.one_shot_listener()
                {
                    // R15: the handshake failed, the listener survives.
                    self.back_to_listen(now);
                } else {
                    self.enter_closed(CloseReason::TimedOut);
                }
                return;
            }
            self.cold.make().retries += 1;
            self.check_r1();
            if self.cold.retries > linear {
                self.rtt.back_off();
            }
            self.flags.set_syn_pending(true);
            self.cold.make().rare.retransmits += 1;
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
            return;
        }
        if self.snd_una == self.snd_nxt {
            return;
        }
        // MUST-20/21: give up after R2 retransmissions or the user timeout.
        let user_timed_out = self
            .cfg
            .user_timeout
            .is_some_and(|t| now - self.last_progress >= t);
        if self.cold.retries >= self.cfg.max_retries || user_timed_out {
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        self.cold.make().retries += 1;
        self.check_r1();
        self.rtt.back_off();
        let flight = self.flight_size();
        let mss = self.snd_mss;
        self.cc.get_mut().on_rto(now, flight, mss);
        self.cold.make().undo.start(self.snd_una, true);
        self.ecn_on_loss();
        // RFC 6582 §4 / RFC 5681: after an RTO, everything outstanding is resent
        // in slow start, and fast recovery is not re-entered for it.
        self.flags.set_in_recovery(false);
        if let Some(c) = self.cold.present() {
            c.dupacks = 0;
        }
        self.set_recover(self.snd_nxt);
        self.set_fast_rtx(None);
        self.set_rtx_next(Some(self.snd_una));
        // RFC 6675 §5.1 (Errata 1610) lets the sender keep what the peer
        // SACKed across a timeout when reneging is tested for robustly, as
        // Linux does: go-back-N then resends only the holes, not a window
        // the receiver holds. The test: an ACK that stops at the left edge
        // of a SACKed range (`ack_new_data`) forgets the scoreboard and
        // resends from SND.UNA. A second timeout without progress follows
        // RFC 2018 §8 and forgets it too (the peer may have reneged without
        // our seeing it), so a reneging receiver costs at most one more RTO.
        if self.cold.retries > 1
            && let Some(c) = self.cold.present()
        {
            c.forget_sacks(now);
        }
        self.rack.on_rto();
        self.set_rack_lost_end(self.snd_una);
        self.set_tlp_high_seq(None);
        self.flags.set_tlp_pending(false);
        self.timers.stop(Timer::Rack);
        self.timers.stop(Timer::LossProbe);
        self.restart_rto(now);
    }

    /// The retransmission timer from `now` (RFC 6298 (5.1)/(5.6)): one
    /// RTO, backed off as it is, but no later than the user timeout's
    /// deadline (MUST-20), which then fires at its time, not at the next
    /// backed-off RTO.
    pub(super) fn restart_rto(&mut self, now: Instant) {
        let mut next = now + self.rtt.rto(&self.cfg);
        if let Some(t) = self.cfg.user_timeout {
            next = next.min(self.last_progress + t);
        }
        self.timers.set(Timer::Retransmit, next);
    }

    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(k) = self.cfg.keepalive else { return };
        if !self.state.is_synchronized() || self.snd_una != self.snd_nxt {
            self.timers.set(Timer::Keepalive, now + k.idle);
            return;
        }
        // MUST-29: only `probes` unanswered probes in a row declare the peer dead.
        // The RST tells a peer that is only unreachable one way (or comes back)
        // that this end is gone, as Linux's keepalive timer does.
        if self.keepalive_sent >= k.probes {
            self.reset_and_close(CloseReason::TimedOut);
            return;
        }
        self.keepalive_sent += 1;
        self.flags.set_keepalive_probe(true);
        self.timers.set(Timer::Keepalive, now + k.interval);
    }

    // ---- shared helpers -------------------------------------------------

    /// Moves to `to`, checked against the legal-edge table, and reports it.
    fn set_state(&mut self, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        debug_assert!(from.can_move_to(to), "illegal transition {from} -> {to}");
        self.state = to;
        self.push_event(Event::StateChanged { from, to });
    }

    /// CLOSED, with its reason; all timers stop and in-flight data is dropped.
    fn enter_closed(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.set_state(State::Closed);
        self.flags.set_close_reason(Some(reason));
        self.timers.stop_all();
        self.flags.set_syn_pending(false);
        self.flags.set_ack_now(false);
        self.flags.set_zero_window_probe(false);
        self.flags.set_keepalive_probe(false);
        self.clear_retransmit_marks();
        if reason != CloseReason::Normal {
            self.rcvbuf.clear();
        }
        self.push_event(Event::Closed(reason));
    }

    /// Sends `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>` and closes (§3.10.5).
    /// With timestamps in use the RST carries the option too (as Linux's
    /// does; RFC 7323 §3.2: once negotiated, on every segment), stamped
    /// when it is sent.
    fn reset_and_close(&mut self, reason: CloseReason) {
        let mut rst = self.make_segment(
            self.snd_nxt,
            crate::wire::Flags::RST.with(crate::wire::Flags::ACK),
        );
        if self.flags.ts_enabled() {
            rst.options.timestamps = Some(crate::wire::Timestamps::default());
        }
        self.push_reply(rst);
        self.enter_closed(reason);
    }

    fn push_reply(&mut self, seg: Segment) {
        if self.cold.replies.len() < MAX_REPLIES {
            self.cold.make().replies.push_back(seg);
        } else {
            self.cold.make().rare.dropped_other += 1;
        }
    }

    /// A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate-limited per
    /// connection (RFC 5961 §7; tcp-checklist B16) by its own budget.
    fn challenge_ack(&mut self, now: Instant) {
        let (limit, born) = (self.cfg.challenge_ack_limit, self.born);
        if self.cold.make().challenge_budget.take(now, limit, born) {
            self.cold.make().rare.challenge_acks += 1;
            self.flags.set_ack_now(true);
        } else {
            self.cold.make().rare.challenge_acks_suppressed += 1;
        }
    }

    /// The ACK §3.10.7.4 step 1 sends for an unacceptable segment (and E6
    /// for an ACK of unsent data). As Linux (`tcp_oow_rate_limited`): a
    /// segment that occupies sequence space (data or FIN, no SYN) is always
    /// answered, since it may be the peer's retransmission of what we
    /// already have and cannot be part of an ACK loop; so is a probe at
    /// exactly RCV.NXT − 1 (keep-alive, zero-window probe: a blind attacker
    /// cannot hit it). Other segments draw ACKs from their own budget, not
    /// from the challenge-ACK budget.
    fn oow_ack(&mut self, now: Instant, seg: &Segment) {
        let occupies = seg.seg_len() > 0 && !seg.flags.syn();
        let probe = seg.seq == self.rcv_nxt.sub(1);
        let (limit, born) = (self.cfg.challenge_ack_limit, self.born);
        if occupies || probe || self.cold.make().oow_budget.take(now, limit, born) {
            self.flags.set_ack_now(true);
        } else {
            self.cold.make().rare.oow_acks_suppressed += 1;
        }
    }

    /// Octets outstanding that count against the congestion window: after an
    /// RTO only what has been resent since counts (the rest is presumed lost);
    /// with SACK, RFC 6675's pipe.
    fn flight_size(&self) -> u32 {
        match self.rtx_next() {
            // SACKed octets the cursor skipped are not in flight.
            Some(c) => self.cold.scoreboard.unsacked_between(self.snd_una, c),
            None if self.flags.sack_enabled() => self.pipe(),
            None => self.snd_nxt.dist(self.snd_una),
        }
    }

    /// The FlightSize a loss response halves (or multiplies by β): RFC
    /// 5681 §3.2 step 2 (and RFC 6675 §5 step 4.2) leave out what limited
    /// transmit (RFC 3042) sent beyond the window on the first duplicate
    /// ACKs — with SACK, the new data sent for segments SACKed before loss
    /// was declared. A window-limited sender had the congestion window in
    /// flight before those; an application-limited one less.
    fn loss_flight(&self, flight: u32) -> u32 {
        flight.min(self.cc.get().cwnd())
    }

    /// RFC 6675 §4 SetPipe: un-SACKed octets not deemed lost, plus those
    /// retransmitted in this recovery (an octet both lost-and-resent counts once).
    #[inline]
    fn pipe(&self) -> u32 {
        if !self.flags.in_recovery()
            && self
                .cold
                .allocated()
                .is_none_or(|c| c.scoreboard.is_empty())
        {
            // Nothing SACKed, nothing deemed lost: every octet sent is in flight.
            return self.snd_nxt.dist(self.snd_una);
        }
        self.pipe_with_sacks()
    }

    /// [`pipe`](Self::pipe) with a scoreboard or in recovery.
    fn pipe_with_sacks(&self) -> u32 {
        let (una, nxt) = (self.snd_una, self.snd_nxt);
        let sb = &self.cold.scoreboard;
        let lost = self.lost_end();
        let mut p = sb.unsacked_between(una, nxt) - sb.unsacked_between(una, lost);
        if self.flags.in_recovery() && self.high_rxt.gt(una) {
            p += sb.unsacked_between(una, self.high_rxt.min(nxt));
        }
        p
    }

    /// Everything un-SACKed below this point is deemed lost: RFC 6675
    /// IsLost, and with RACK its clock (alone once reordering was seen,
    /// RFC 8985 §6.2 step 4).
    fn lost_end(&self) -> SeqNum {
        let dup = self.cold.scoreboard.lost_end(self.snd_una, self.snd_mss);
        if !self.rack_on() {
            return dup;
        }
        let rack = self.rack_lost_end().max(self.snd_una).min(self.snd_nxt);
        if self.cold.rack_reordering.reordering_seen() {
            rack
        } else {
            rack.max(dup)
        }
    }

    /// Whether RACK-TLP runs on this connection (configured, SACK negotiated).
    #[inline]
    fn rack_on(&self) -> bool {
        self.cfg.rack && self.flags.sack_enabled()
    }

    /// RCV.WND: what is left of the window last advertised (zero, not
    /// negative, once a FIN took the last number).
    fn rcv_wnd(&self) -> u32 {
        if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv.dist(self.rcv_nxt)
        } else {
            0
        }
    }

    fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una.gt(f))
    }

    fn fin_sent(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_nxt.gt(f))
    }

    fn arm_fin_wait_2(&mut self, now: Instant) {
        if self.state == State::FinWait2
            && self.flags.app_closed()
            && let Some(t) = self.cfg.fin_wait_2_timeout
            && !self.timers.is_set(Timer::Linger)
        {
            self.timers.set(Timer::Linger, now + t);
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.stop_all();
        self.clear_retransmit_marks();
        self.timers.set(Timer::Linger, now + self.cfg.time_wait);
    }

    fn arm_persist(&mut self, now: Instant) {
        self.flags.set_cork_probe(false);
        let shift = self.cold.persist_backoff.min(16);
        let d = self
            .rtt
            .rto(&self.cfg)
            .saturating_mul(1 << shift)
            .min(self.cfg.max_rto);
        self.timers.set(Timer::Persist, now + d);
    }

    /// Zero-window probing (MUST-35/36, SHLD-29): armed when data waits, the
    /// peer's window is zero and nothing is in flight to draw an update.
    fn arm_persist_if_needed(&mut self, now: Instant) {
        let waiting =
            self.sndbuf.unsent_len() > 0 || (self.fin_seq().is_some() && !self.fin_sent());
        if self.flags.syn_acked()
            && self.state != State::Closed
            && self.snd_wnd == 0
            && waiting
            && self.snd_una == self.snd_nxt
        {
            if !self.timers.is_set(Timer::Persist) {
                self.arm_persist(now);
            }
        } else if self.snd_wnd > 0 {
            self.timers.stop(Timer::Persist);
            if let Some(c) = self.cold.present() {
                c.persist_backoff = 0;
            }
        }
    }

    /// After the application reads: announce a window that opened enough
    /// (receiver SWS avoidance, MUST-39), at once rather than on a timer.
    #[inline]
    fn maybe_window_update(&mut self) {
        if !self.state.is_synchronized() || self.flags.peer_finished() {
            return;
        }
        let advertised = self.rcv_wnd() as usize;
        if advertised >= self.recv_buffer() / 2 {
            // Half the buffer or more still offered: no update (tested
            // first, so that a reader that keeps up computes nothing more).
            return;
        }
        self.window_update_if_opened(advertised);
    }

    /// [`maybe_window_update`](Self::maybe_window_update) once less than
    /// half the buffer is offered (`advertised`).
    fn window_update_if_opened(&mut self, advertised: usize) {
        // What an ACK would offer now: the window field as it would be sent
        // (so a window that cannot grow past 65,535 without scaling draws
        // no ACK re-advertising the same value).
        let offered = (usize::from(self.window_field())) << self.rcv_wscale;
        let threshold = (self.recv_buffer() / 2).min(usize::from(self.cfg.mss));
        if offered >= advertised + threshold {
            self.flags.set_ack_now(true);
        }
    }

    fn signal_readable(&mut self) {
        if !self.flags.readable_signalled() && self.rcvbuf.readable() > 0 {
            self.flags.set_readable_signalled(true);
            self.push_event(Event::Readable);
        }
    }
}
