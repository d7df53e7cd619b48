//! The application side of a scenario, for either end: a deterministic byte
//! pattern to send, a running hash of what arrives, and the close actions.
//! Pure std; shared by the tcp-proto driver and the kernel threads.

use std::io::{self, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use tcp_proto::{CloseReason, Connection, Error, Event, Instant, State};

/// Byte `i` of the stream seeded `seed`. Not periodic at any power of two,
/// so an offset error changes the hash.
pub fn pattern_byte(seed: u64, i: u64) -> u8 {
    let x = (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (i % 251) as u8
}

/// Fills `buf` with the pattern from offset `at`.
pub fn fill(seed: u64, at: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(seed, at + k as u64);
    }
}

/// Writes `len` octets of the pattern seeded `seed` to `w` (a kernel socket).
pub fn write_pattern(w: &mut impl Write, seed: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        fill(seed, at, &mut buf[..n]);
        w.write_all(&buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// The first connection `listener` (a kernel socket) accepts within
/// `limit`, as a blocking stream; panics when none comes. Polls, so that a
/// peer that never connects fails the test instead of hanging it.
pub fn accept_within(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + limit;
    let s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("kernel accept: {e}"),
        }
    };
    s.set_nonblocking(false).unwrap();
    s
}

/// FNV-1a, 64 bit: enough to compare two byte streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// The hash of `len` pattern bytes.
    pub fn of_pattern(seed: u64, len: u64) -> Fnv {
        let mut h = Fnv::default();
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(buf.len() as u64) as usize;
            fill(seed, at, &mut buf[..n]);
            h.update(&buf[..n]);
            at += n as u64;
        }
        h
    }
}

/// What the application does when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// Nothing more after sending: keep the connection open.
    Stay,
    /// `shutdown_write` after the last byte is queued.
    ShutdownWrite,
    /// `close` once everything is sent and the peer's EOF (if `wait_eof`) arrived.
    Close {
        /// Wait for the peer's FIN before closing.
        wait_eof: bool,
    },
    /// `abort` once everything sent is acknowledged and `recv_target` octets were read.
    Abort,
}

/// tcp-proto's application: sends `send_total` pattern bytes, reads and
/// hashes everything, and closes as told. Records every event.
pub struct App {
    /// Pattern seed for what we send.
    pub seed: u64,
    /// Octets to send in all.
    pub send_total: u64,
    /// Octets queued so far.
    pub sent: u64,
    /// Octets read so far.
    pub received: u64,
    /// Hash of what was read.
    pub rx_hash: Fnv,
    /// Read octets needed before `finish` may act.
    pub recv_target: u64,
    /// What to do at the end.
    pub finish: Finish,
    /// Whether `finish` has been done.
    pub finished: bool,
    /// Whether EOF (recv Ok(0)) was seen.
    pub eof: bool,
    /// Every event with its time.
    pub events: Vec<(Instant, Event)>,
    /// How the connection ended.
    pub closed: Option<CloseReason>,
    /// Scratch buffer.
    buf: Vec<u8>,
}

impl App {
    /// An application with the given plan.
    pub fn new(seed: u64, send_total: u64, recv_target: u64, finish: Finish) -> App {
        App {
            seed,
            send_total,
            sent: 0,
            received: 0,
            rx_hash: Fnv::default(),
            recv_target,
            finish,
            finished: false,
            eof: false,
            events: Vec::new(),
            closed: None,
            buf: vec![0u8; 64 * 1024],
        }
    }

    /// Queues data, reads data, and performs the finish action when due.
    /// Returns whether it changed anything (so the caller drains output).
    pub fn drive(&mut self, conn: &mut Connection, now: Instant) -> bool {
        let mut progress = false;
        // Send as much as fits.
        while self.sent < self.send_total && conn.state() != State::Closed {
            // Fill only what fits: the pattern costs time in debug builds.
            let room = conn.send_capacity().min(self.buf.len());
            let n = (self.send_total - self.sent).min(room as u64) as usize;
            if n == 0 {
                break;
            }
            fill(self.seed, self.sent, &mut self.buf[..n]);
            match conn.send(&self.buf[..n]) {
                Ok(k) if k > 0 => {
                    self.sent += k as u64;
                    progress = true;
                }
                _ => break,
            }
        }
        // Read everything available.
        loop {
            match conn.recv(&mut self.buf) {
                Ok(0) => {
                    if !self.eof {
                        progress = true;
                    }
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.rx_hash.update(&self.buf[..n]);
                    self.received += n as u64;
                    progress = true;
                }
                Err(_) => break,
            }
        }
        if !self.finished && self.sent == self.send_total && self.received >= self.recv_target {
            match self.finish {
                Finish::Stay => {}
                Finish::ShutdownWrite => {
                    conn.shutdown_write().expect("shutdown_write");
                    self.finished = true;
                }
                Finish::Close { wait_eof } => {
                    if !wait_eof || self.eof {
                        conn.close(now).expect("close");
                        self.finished = true;
                    }
                }
                // Abort once the peer has acknowledged everything, so that
                // its copy of the stream can be checked too.
                Finish::Abort if conn.send_queue_len() == 0 => {
                    conn.abort();
                    self.finished = true;
                }
                Finish::Abort => {}
            }
            progress |= self.finished;
        }
        progress
    }

    /// Takes the connection's events, recording them.
    pub fn take_events(&mut self, now: Instant, conn: &mut Connection) {
        while let Some(ev) = conn.poll_event() {
            if let Event::Closed(r) = ev {
                self.closed = Some(r);
            }
            self.events.push((now, ev));
        }
    }

    /// Whether the connection reported the peer's FIN (`Event::PeerFinished`),
    /// which it does also after a full close, when reading is over.
    pub fn saw_peer_fin(&self) -> bool {
        self.events.iter().any(|(_, e)| *e == Event::PeerFinished)
    }

    /// The `StateChanged` events, in order.
    pub fn transitions(&self) -> Vec<(State, State)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StateChanged { from, to } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    /// Asserts every transition is a legal edge and they chain, starting at
    /// `start`; returns the path of states.
    pub fn assert_legal_path(&self, start: State) -> Vec<State> {
        let mut path = vec![start];
        for (from, to) in self.transitions() {
            assert_eq!(
                Some(&from),
                path.last(),
                "transitions do not chain: {:?}",
                self.transitions()
            );
            assert!(from.can_move_to(to), "illegal transition {from} -> {to}");
            path.push(to);
        }
        path
    }
}

/// Whether `e` is `Error::WouldBlock`.
pub fn would_block(e: &Error) -> bool {
    matches!(e, Error::WouldBlock)
}
