//! The host under test: connections, listeners with a backlog, and the
//! stateless replies for segments that match nothing. This is the one place
//! that maps listen/accept/connect onto the crate, behind [`Stack`]: [`Host`]
//! runs over bare `Connection`s (listen → `Connection::accept` per SYN,
//! connect → `Connection::connect`, a small demux here), and
//! [`EndpointHost`] over the crate's `Endpoint` (one per socket, so that
//! socket options made before listen/connect apply to it alone).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, ListenerHandle};
use tcp_proto::wire::Ecn;
use tcp_proto::{
    CloseReason, Config, Connection, Event, IcmpError, Instant, Segment, SeqNum, State, reset_reply,
};

/// An emitted segment: when, what, and the ECN codepoint of its IP header.
pub type Out = (Instant, Segment, Ecn);

/// What the interpreter needs from a host.
pub trait Stack {
    /// A new listener on `port`.
    fn listen(&mut self, port: u16, backlog: usize, cfg: Config) -> usize;
    /// Active open; the connection's id.
    fn connect(
        &mut self,
        cfg: Config,
        local: u16,
        remote: u16,
        now: Instant,
    ) -> Result<usize, String>;
    /// Delivers one segment.
    fn input(&mut self, now: Instant, seg: Segment, ecn: Ecn);
    /// Collects what was emitted.
    fn drain(&mut self, now: Instant);
    /// Earliest timer deadline.
    fn next_deadline(&mut self) -> Option<Instant>;
    /// Fires the timers due at `now`.
    fn fire(&mut self, now: Instant);
    /// An established child of listener `l`.
    fn accept(&mut self, l: usize) -> Option<usize>;
    /// close() on a listener.
    fn close_listener(&mut self, l: usize, now: Instant);
    /// A socket option set on listener `l`: the connections it accepts
    /// from now on get `cfg`.
    fn set_listener_config(&mut self, l: usize, cfg: Config);
    /// State of the live connection on a 4-tuple.
    fn state_of(&mut self, local: u16, remote: u16) -> Option<State>;
    /// The connection `i`, unless the host dropped it (closed, or kept
    /// only as a TIME-WAIT entry).
    fn conn(&mut self, i: usize) -> Option<&mut Connection>;
    /// Why a dropped connection closed.
    fn gone_reason(&self, i: usize) -> Option<CloseReason>;
    /// The oldest emitted segment and its time.
    fn pop_out(&mut self) -> Option<Out>;
    /// An ICMP error from the peer's side about the segment with `seq`
    /// the connection on ports `local`/`remote` sent.
    fn icmp(&mut self, now: Instant, local: u16, remote: u16, seq: SeqNum, err: IcmpError);
}

/// The address scripts use for the stack.
pub const LOCAL_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
/// The address of the injected peer.
pub const REMOTE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// One endpoint per socket.
struct Ep {
    ep: Endpoint,
    /// The port it owns (listener port or the connection's local port).
    port: u16,
    listener: Option<ListenerHandle>,
}

/// The host over the crate's `Endpoint`.
#[derive(Default)]
pub struct EndpointHost {
    eps: Vec<Ep>,
    /// Connection id → (endpoint, handle).
    conns: Vec<(usize, ConnectionHandle)>,
    /// Listener id → endpoint.
    listeners: Vec<usize>,
    gone: HashMap<usize, CloseReason>,
    out: VecDeque<Out>,
    seed: u8,
}

impl EndpointHost {
    fn endpoint(&mut self, cfg: Config, port: u16) -> usize {
        self.seed = self.seed.wrapping_add(1);
        let ecfg = EndpointConfig {
            connection: cfg,
            ..EndpointConfig::linux()
        };
        let ep = Endpoint::new(ecfg, [self.seed; 16]).expect("a valid endpoint configuration");
        self.eps.push(Ep {
            ep,
            port,
            listener: None,
        });
        self.eps.len() - 1
    }

    fn id_of(&mut self, e: usize, h: ConnectionHandle) -> usize {
        match self.conns.iter().position(|&(x, y)| x == e && y == h) {
            Some(i) => i,
            None => {
                self.conns.push((e, h));
                self.conns.len() - 1
            }
        }
    }
}

impl Stack for EndpointHost {
    fn listen(&mut self, port: u16, backlog: usize, cfg: Config) -> usize {
        let e = self.endpoint(cfg, port);
        let l = self.eps[e]
            .ep
            .listen(None, port, backlog)
            .expect("the port is free");
        self.eps[e].listener = Some(l);
        self.listeners.push(e);
        self.listeners.len() - 1
    }

    fn set_listener_config(&mut self, l: usize, cfg: Config) {
        let e = self.listeners[l];
        self.eps[e]
            .ep
            .set_connection_config(cfg)
            .expect("a valid connection configuration");
    }

    fn connect(
        &mut self,
        cfg: Config,
        local: u16,
        remote: u16,
        now: Instant,
    ) -> Result<usize, String> {
        let e = self.endpoint(cfg, local);
        let h = self.eps[e]
            .ep
            .connect(
                now,
                SocketAddr::new(LOCAL_IP, local),
                SocketAddr::new(REMOTE_IP, remote),
            )
            .map_err(|x| x.to_string())?;
        let id = self.id_of(e, h);
        self.drain(now);
        Ok(id)
    }

    fn input(&mut self, now: Instant, seg: Segment, ecn: Ecn) {
        match self.eps.iter_mut().rev().find(|x| x.port == seg.dst_port) {
            Some(x) => x.ep.handle_segment_ecn(now, REMOTE_IP, LOCAL_IP, seg, ecn),
            None => {
                if let Some(r) = reset_reply(&seg) {
                    self.out.push_back((now, r, Ecn::NotEct));
                }
            }
        }
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        for e in 0..self.eps.len() {
            while let Some(t) = self.eps[e].ep.poll_transmit(now) {
                let ecn = self.eps[e].ep.transmit_ecn();
                self.out.push_back((now, t.segment, ecn));
            }
            while let Some((h, ev)) = self.eps[e].ep.poll_event() {
                if let Event::Closed(r) = ev {
                    let id = self.id_of(e, h);
                    self.gone.insert(id, r);
                }
            }
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        self.eps
            .iter_mut()
            .filter_map(|x| x.ep.poll_timeout())
            .min()
    }

    fn fire(&mut self, now: Instant) {
        for x in &mut self.eps {
            if x.ep.poll_timeout().is_some_and(|d| d <= now) {
                x.ep.handle_timeout(now);
            }
        }
        self.drain(now);
    }

    fn accept(&mut self, l: usize) -> Option<usize> {
        let e = self.listeners[l];
        let lh = self.eps[e].listener?;
        let h = self.eps[e].ep.accept(lh)?;
        Some(self.id_of(e, h))
    }

    fn close_listener(&mut self, l: usize, now: Instant) {
        let e = self.listeners[l];
        if let Some(lh) = self.eps[e].listener.take() {
            let _ = self.eps[e].ep.unlisten(lh);
        }
        self.drain(now);
    }

    fn state_of(&mut self, local: u16, remote: u16) -> Option<State> {
        for &(e, h) in &self.conns {
            if let Ok(c) = self.eps[e].ep.connection_ref(h)
                && c.local_port() == local
                && c.remote_port() == remote
                && c.state() != State::Closed
            {
                return Some(c.state());
            }
        }
        None
    }

    fn conn(&mut self, i: usize) -> Option<&mut Connection> {
        let (e, h) = *self.conns.get(i)?;
        self.eps[e].ep.connection(h).ok()
    }

    fn gone_reason(&self, i: usize) -> Option<CloseReason> {
        self.gone.get(&i).copied()
    }

    fn pop_out(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    fn icmp(&mut self, now: Instant, local: u16, remote: u16, seq: SeqNum, err: IcmpError) {
        let (l, r) = (
            SocketAddr::new(LOCAL_IP, local),
            SocketAddr::new(REMOTE_IP, remote),
        );
        for x in &mut self.eps {
            x.ep.handle_icmp(now, l, r, seq, err);
        }
        self.drain(now);
    }
}

/// A connection slot.
pub struct Conn {
    /// The state machine.
    pub c: Connection,
    /// The listener that made it (passive opens), until accepted.
    pub listener: Option<usize>,
    /// Queued for accept already.
    pub queued: bool,
    /// The listener it came from, if any (a TIME-WAIT reincarnation goes
    /// back through it to accept).
    pub origin: Option<usize>,
}

/// A listening socket.
pub struct Listener {
    /// Local port.
    pub port: u16,
    /// Most connections waiting for accept (Linux: `backlog`, at least 1).
    pub backlog: usize,
    /// Configuration for its children.
    pub cfg: Config,
    /// Established children ready for accept.
    pub ready: VecDeque<usize>,
    /// Closed listeners take no SYNs.
    pub open: bool,
}

/// Connections and listeners of one host, and what they emitted.
#[derive(Default)]
pub struct Host {
    /// Every connection ever made (index = handle).
    pub conns: Vec<Conn>,
    /// Listeners (index = handle).
    pub listeners: Vec<Listener>,
    /// Emitted segments with their emission times, oldest first.
    pub out: VecDeque<Out>,
    iss_seed: u32,
}

impl Host {
    /// The next ISS: spread over the whole space (some near 2^32) so that
    /// scripts exercise modular arithmetic.
    pub fn next_iss(&mut self) -> SeqNum {
        self.iss_seed = self.iss_seed.wrapping_add(1);
        SeqNum(
            self.iss_seed
                .wrapping_mul(0x9e37_79b9)
                .wrapping_add(0xffff_0000),
        )
    }

    /// A new listener.
    pub fn listen(&mut self, port: u16, backlog: usize, cfg: Config) -> usize {
        self.listeners.push(Listener {
            port,
            backlog: backlog.max(1),
            cfg,
            ready: VecDeque::new(),
            open: true,
        });
        self.listeners.len() - 1
    }

    /// Active open.
    pub fn connect(
        &mut self,
        cfg: Config,
        local: u16,
        remote: u16,
        now: Instant,
    ) -> Result<usize, String> {
        let iss = self.next_iss();
        let c = Connection::connect(cfg, local, remote, iss, now).map_err(|e| e.to_string())?;
        self.conns.push(Conn {
            c,
            listener: None,
            queued: false,
            origin: None,
        });
        self.drain(now);
        Ok(self.conns.len() - 1)
    }

    /// State of the live connection on a 4-tuple, if any.
    pub fn state_of(&self, local: u16, remote: u16) -> Option<State> {
        self.conns
            .iter()
            .map(|k| &k.c)
            .find(|c| {
                c.state() != State::Closed && c.local_port() == local && c.remote_port() == remote
            })
            .map(|c| c.state())
    }

    /// Delivers one segment to whatever owns it.
    pub fn input(&mut self, now: Instant, seg: Segment, ecn: Ecn) {
        let owner = self.conns.iter().position(|k| {
            k.c.state() != State::Closed
                && k.c.local_port() == seg.dst_port
                && k.c.remote_port() == seg.src_port
        });
        if let Some(i) = owner {
            let k = &mut self.conns[i];
            let was_time_wait = k.c.state() == State::TimeWait;
            k.c.handle_segment_ecn(now, seg, ecn);
            if was_time_wait && k.c.state() == State::SynReceived && k.origin.is_some() {
                // A new incarnation from TIME-WAIT (RFC 6191): a new child
                // of the listener, accepted afresh.
                k.listener = k.origin;
                k.queued = false;
            }
        } else if let Some(l) = self
            .listeners
            .iter()
            .position(|l| l.open && l.port == seg.dst_port)
        {
            self.listener_input(now, l, seg);
        } else if let Some(r) = reset_reply(&seg) {
            self.out.push_back((now, r, Ecn::NotEct));
        }
        self.drain(now);
    }

    /// RFC 9293 §3.10.7.2 at a listener with a backlog.
    fn listener_input(&mut self, now: Instant, l: usize, seg: Segment) {
        let f = seg.flags;
        if f.rst() {
            return;
        }
        if f.ack() {
            if let Some(r) = reset_reply(&seg) {
                self.out.push_back((now, r, Ecn::NotEct));
            }
            return;
        }
        if !f.syn() {
            return;
        }
        let pending = self
            .conns
            .iter()
            .filter(|k| k.listener == Some(l) && k.c.state() != State::Closed)
            .count();
        if pending > self.listeners[l].backlog {
            return; // Linux drops the SYN when the queue is full.
        }
        let iss = self.next_iss();
        let cfg = self.listeners[l].cfg;
        if let Ok(c) = Connection::accept(cfg, &seg, iss, now) {
            self.conns.push(Conn {
                c,
                listener: Some(l),
                queued: false,
                origin: Some(l),
            });
        }
    }

    /// Moves everything emitted into `out`, and queues children that
    /// finished their handshake for accept.
    pub fn drain(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            while let Some((s, ecn)) = self.conns[i].c.poll_transmit_ecn(now) {
                self.out.push_back((now, s, ecn));
            }
            while self.conns[i].c.poll_event().is_some() {}
            let k = &mut self.conns[i];
            if let (Some(l), false) = (k.listener, k.queued)
                && !matches!(
                    k.c.state(),
                    State::SynReceived | State::Listen | State::Closed
                )
            {
                k.queued = true;
                self.listeners[l].ready.push_back(i);
            }
        }
    }

    /// Earliest timer deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conns.iter().filter_map(|k| k.c.poll_timeout()).min()
    }

    /// Fires every timer due at `now`.
    pub fn fire(&mut self, now: Instant) {
        for k in &mut self.conns {
            if k.c.poll_timeout().is_some_and(|d| d <= now) {
                k.c.handle_timeout(now);
            }
        }
        self.drain(now);
    }

    /// Takes an established child off a listener's queue.
    pub fn accept(&mut self, l: usize) -> Option<usize> {
        let i = self.listeners[l].ready.pop_front()?;
        self.conns[i].listener = None;
        Some(i)
    }

    /// close() on a listener: children never accepted are reset (Linux).
    pub fn close_listener(&mut self, l: usize, now: Instant) {
        self.listeners[l].open = false;
        for k in &mut self.conns {
            if k.listener == Some(l) {
                k.c.abort();
            }
        }
        self.drain(now);
    }
}

impl Stack for Host {
    fn listen(&mut self, port: u16, backlog: usize, cfg: Config) -> usize {
        Host::listen(self, port, backlog, cfg)
    }
    fn connect(
        &mut self,
        cfg: Config,
        local: u16,
        remote: u16,
        now: Instant,
    ) -> Result<usize, String> {
        Host::connect(self, cfg, local, remote, now)
    }
    fn input(&mut self, now: Instant, seg: Segment, ecn: Ecn) {
        Host::input(self, now, seg, ecn)
    }
    fn drain(&mut self, now: Instant) {
        Host::drain(self, now)
    }
    fn next_deadline(&mut self) -> Option<Instant> {
        Host::next_deadline(self)
    }
    fn fire(&mut self, now: Instant) {
        Host::fire(self, now)
    }
    fn accept(&mut self, l: usize) -> Option<usize> {
        Host::accept(self, l)
    }
    fn close_listener(&mut self, l: usize, now: Instant) {
        Host::close_listener(self, l, now)
    }
    fn set_listener_config(&mut self, l: usize, cfg: Config) {
        self.listeners[l].cfg = cfg;
    }
    fn state_of(&mut self, local: u16, remote: u16) -> Option<State> {
        Host::state_of(self, local, remote)
    }
    fn conn(&mut self, i: usize) -> Option<&mut Connection> {
        self.conns.get_mut(i).map(|k| &mut k.c)
    }
    fn gone_reason(&self, _: usize) -> Option<CloseReason> {
        None
    }
    fn pop_out(&mut self) -> Option<Out> {
        self.out.pop_front()
    }
    fn icmp(&mut self, now: Instant, local: u16, remote: u16, seq: SeqNum, err: IcmpError) {
        if let Some(k) = self.conns.iter_mut().find(|k| {
            k.c.state() != State::Closed && k.c.local_port() == local && k.c.remote_port() == remote
        }) {
            k.c.handle_icmp(now, err, seq);
        }
        self.drain(now);
    }
}
