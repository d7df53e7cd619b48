//! The host under test: connections, listeners with a backlog, and the
//! stateless replies for segments that match nothing. This is the one place
//! that maps listen/accept/connect onto the crate; it runs over
//! `Connection` (listen → `Connection::accept` per SYN, connect →
//! `Connection::connect`), and is the piece to switch to the crate's
//! `Endpoint` once that exists.

use std::collections::VecDeque;
use tcp_proto::{Config, Connection, Instant, Segment, SeqNum, State, reset_reply};

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
    pub out: VecDeque<(Instant, Segment)>,
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
    pub fn input(&mut self, now: Instant, seg: Segment) {
        let owner = self.conns.iter().position(|k| {
            k.c.state() != State::Closed
                && k.c.local_port() == seg.dst_port
                && k.c.remote_port() == seg.src_port
        });
        if let Some(i) = owner {
            let k = &mut self.conns[i];
            let was_time_wait = k.c.state() == State::TimeWait;
            k.c.handle_segment(now, seg);
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
            self.out.push_back((now, r));
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
                self.out.push_back((now, r));
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
            while let Some(s) = self.conns[i].c.poll_transmit(now) {
                self.out.push_back((now, s));
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
