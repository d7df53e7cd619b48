//! A client and a server, in memory, through a connection's whole life:
//! three-way handshake, a request and a response, the four-way close and
//! TIME-WAIT, printed as a ladder diagram like a textbook figure.
//!
//! ```sh
//! cargo run --example handshake
//! cargo run --example handshake -- --loss 0.3 --seed 7
//! cargo run --example handshake -- --server-closes-first
//! cargo run --example handshake -- --simultaneous-close
//! cargo run --example handshake -- --simultaneous-open
//! ```
//!
//! The link is part of this example: a one-way delay of 10 ms and, with
//! `--loss P`, each segment dropped with probability P (seeded, so a run
//! repeats exactly). Every segment really crosses it as octets: encoded
//! with its checksum over an IPv4 pseudo-header and decoded (checksum
//! verified) at the other end. Time is virtual.
//!
//! Sequence numbers are shown relative to each side's ISS, as Wireshark
//! does. The program exits with status 1 unless both sides end CLOSED
//! after a normal close with every octet delivered.
use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tcp_proto::{
    ChecksumMode, CloseReason, Config, Connection, Event, Instant, IpPair, Segment, SeqNum, State,
};

const CLIENT_IP: [u8; 4] = [192, 0, 2, 1];
const SERVER_IP: [u8; 4] = [192, 0, 2, 2];
const ONE_WAY: Duration = Duration::from_millis(10);
/// The passive closer's application takes this long to close after EOF,
/// so that its ACK of the peer's FIN and its own FIN go out separately.
const APP_CLOSE_DELAY: Duration = Duration::from_millis(5);
/// Give up (and fail) if the exchange is not over by then.
const TIME_LIMIT: Duration = Duration::from_secs(900);

const REQUEST: &[u8] = b"GET /rfc9293.txt HTTP/1.0\r\n\r\n";
const RESPONSE_LEN: usize = 3000;

const TIME_W: usize = 9;
const SIDE_W: usize = 15;
const ARROW_W: usize = 44;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CloseOrder {
    ClientFirst,
    ServerFirst,
    Simultaneous,
}

struct Options {
    loss: f64,
    seed: u64,
    close: CloseOrder,
    simultaneous_open: bool,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: handshake [--loss P] [--seed N] \
         [--server-closes-first | --simultaneous-close] [--simultaneous-open]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Options, ExitCode> {
    let mut o = Options {
        loss: 0.0,
        seed: 1,
        close: CloseOrder::ClientFirst,
        simultaneous_open: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--loss" => {
                o.loss = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|p: &f64| (0.0..1.0).contains(p))
                    .ok_or_else(usage)?
            }
            "--seed" => o.seed = args.next().and_then(|v| v.parse().ok()).ok_or_else(usage)?,
            "--server-closes-first" => o.close = CloseOrder::ServerFirst,
            "--simultaneous-close" => o.close = CloseOrder::Simultaneous,
            "--simultaneous-open" => o.simultaneous_open = true,
            "-h" | "--help" => {
                usage();
                return Err(ExitCode::SUCCESS);
            }
            _ => return Err(usage()),
        }
    }
    Ok(o)
}

/// SplitMix64: the link's loss and the ISSs, reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Client,
    Server,
}

/// One end: the connection plus its little application.
struct Side {
    who: Who,
    conn: Connection,
    iss: SeqNum,
    /// What the application sends, and how much of it is queued.
    out: Vec<u8>,
    queued: usize,
    /// What the application has read, and how much it expects.
    got: Vec<u8>,
    expect: usize,
    /// When the application saw EOF.
    eof: Option<Instant>,
    closed: bool,
    /// The state shown in this side's column.
    shown: State,
}

impl Side {
    fn addrs(&self) -> IpPair {
        match self.who {
            Who::Client => IpPair::V4 {
                src: CLIENT_IP,
                dst: SERVER_IP,
            },
            Who::Server => IpPair::V4 {
                src: SERVER_IP,
                dst: CLIENT_IP,
            },
        }
    }

    fn done_reading(&self) -> bool {
        self.got.len() == self.expect
    }
}

/// A packet on the link.
struct InFlight {
    arrives: Instant,
    to: Who,
    packet: Bytes,
}

struct Demo {
    opts: Options,
    rng: Rng,
    now: Instant,
    start: Instant,
    client: Side,
    server: Side,
    link: VecDeque<InFlight>,
    wire: BytesMut,
    lost: u32,
}

fn rel(seq: SeqNum, base: SeqNum) -> u32 {
    seq.0.wrapping_sub(base.0)
}

impl Demo {
    fn side(&mut self, who: Who) -> &mut Side {
        match who {
            Who::Client => &mut self.client,
            Who::Server => &mut self.server,
        }
    }

    fn time(&self) -> String {
        format!(
            "{:>w$.3}s",
            (self.now - self.start).as_secs_f64(),
            w = TIME_W - 1
        )
    }

    /// One ladder line: time, client column, middle, server column.
    fn line(&self, client: &str, middle: &str, server: &str) {
        println!(
            "{}  {:<cw$} {:<mw$} {}",
            self.time(),
            client,
            middle,
            server,
            cw = SIDE_W,
            mw = ARROW_W
        );
    }

    /// A note in one side's column (a transition, an application call).
    fn note(&self, who: Who, text: &str) {
        let (c, s) = match who {
            Who::Client => (text.to_string(), self.server.shown.name().to_string()),
            Who::Server => (self.client.shown.name().to_string(), text.to_string()),
        };
        self.line(&c, "", &s);
    }

    /// Prints the events a side has pending (state transitions).
    fn drain_events(&mut self, who: Who) {
        while let Some(e) = self.side(who).conn.poll_event() {
            if let Event::StateChanged { from: _, to } = e {
                self.side(who).shown = to;
                self.note(who, &format!("→ {}", to.name()));
            }
        }
    }

    /// Sends everything `who` has to send now, drawing an arrow per segment.
    fn transmit(&mut self, who: Who) -> bool {
        let mut any = false;
        loop {
            let now = self.now;
            let Some(seg) = self.side(who).conn.poll_transmit(now) else {
                break;
            };
            any = true;
            self.drain_events(who);
            let lost = self.rng.chance(self.opts.loss);
            self.draw(who, &seg, lost);
            if lost {
                self.lost += 1;
                continue;
            }
            let addrs = self.side(who).addrs();
            self.wire.reserve(2048);
            seg.encode_into(&mut self.wire, &addrs, ChecksumMode::Verify)
                .expect("segment encodes");
            let packet = self.wire.split().freeze();
            let to = match who {
                Who::Client => Who::Server,
                Who::Server => Who::Client,
            };
            self.link.push_back(InFlight {
                arrives: self.now + ONE_WAY,
                to,
                packet,
            });
        }
        any
    }

    fn draw(&self, who: Who, seg: &Segment, lost: bool) {
        let (mine, theirs) = match who {
            Who::Client => (self.client.iss, self.server.iss),
            Who::Server => (self.server.iss, self.client.iss),
        };
        let mut label = format!("{} seq={}", seg.flags, rel(seg.seq, mine));
        if seg.flags.ack() {
            label += &format!(" ack={}", rel(seg.ack, theirs));
        }
        label += &format!(" len={}", seg.payload.len());
        let fill = ARROW_W.saturating_sub(label.len() + 5);
        let dashes = "-".repeat(fill);
        let arrow = match (who, lost) {
            (Who::Client, false) => format!("--{label} {dashes}->"),
            (Who::Client, true) => format!("--{label} {dashes}-x"),
            (Who::Server, false) => format!("<-{dashes} {label}--"),
            (Who::Server, true) => format!("x-{dashes} {label}--"),
        };
        self.line(self.client.shown.name(), &arrow, self.server.shown.name());
    }

    /// The applications: send, read, and close when their script says so.
    fn apps(&mut self) {
        for who in [Who::Client, Who::Server] {
            let now = self.now;
            let s = self.side(who);
            // Read whatever has arrived.
            let mut buf = [0u8; 4096];
            let mut read = 0;
            loop {
                match s.conn.recv(&mut buf) {
                    Ok(0) => {
                        if s.eof.is_none() {
                            s.eof = Some(now);
                            self.note(who, "read EOF");
                        }
                        break;
                    }
                    Ok(n) => {
                        s.got.extend_from_slice(&buf[..n]);
                        read += n;
                    }
                    Err(_) => break,
                }
            }
            if read > 0 {
                self.note(who, &format!("read {read}"));
            }
            // The server answers once the whole request is in.
            let s = self.side(who);
            let may_send = who == Who::Client || s.done_reading();
            if may_send
                && s.queued < s.out.len()
                && matches!(s.conn.state(), State::Established | State::CloseWait)
                && let Ok(n) = s.conn.send(&s.out[s.queued..])
            {
                s.queued += n;
                self.note(who, &format!("send({n})"));
            }
        }
        // Closing, by the script.
        let all_sent = |s: &Side| s.queued == s.out.len() && s.conn.send_queue_len() == 0;
        let now = self.now;
        let eof_seen = |s: &Side| s.eof.is_some_and(|t| now >= t + APP_CLOSE_DELAY);
        let (close_client, close_server) = match self.opts.close {
            CloseOrder::ClientFirst => (self.client.done_reading(), eof_seen(&self.server)),
            CloseOrder::ServerFirst => (
                eof_seen(&self.client),
                self.server.done_reading() && self.server.queued == self.server.out.len(),
            ),
            CloseOrder::Simultaneous => {
                let both = self.client.done_reading()
                    && self.server.done_reading()
                    && all_sent(&self.client)
                    && all_sent(&self.server);
                (both, both)
            }
        };
        for (who, due) in [(Who::Client, close_client), (Who::Server, close_server)] {
            let now = self.now;
            let s = self.side(who);
            if due && !s.closed {
                s.closed = true;
                let r = s.conn.close(now);
                self.note(who, "close()");
                if let Err(e) = r {
                    self.note(who, &format!("close: {e}"));
                }
                self.drain_events(who);
            }
        }
    }

    /// Everything that happens at `now`, until both sides are quiet.
    fn settle(&mut self) {
        loop {
            self.apps();
            let a = self.transmit(Who::Client);
            let b = self.transmit(Who::Server);
            self.drain_events(Who::Client);
            self.drain_events(Who::Server);
            if !a && !b {
                break;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.link.front().map(|p| p.arrives),
            self.client.conn.poll_timeout(),
            self.server.conn.poll_timeout(),
            self.client
                .eof
                .filter(|_| !self.client.closed)
                .map(|t| t + APP_CLOSE_DELAY),
            self.server
                .eof
                .filter(|_| !self.server.closed)
                .map(|t| t + APP_CLOSE_DELAY),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn run(&mut self) {
        self.drain_events(Who::Client);
        self.drain_events(Who::Server);
        self.settle();
        while let Some(t) = self.next_deadline() {
            if t - self.start > TIME_LIMIT {
                self.note(Who::Client, "time limit");
                break;
            }
            self.now = self.now.max(t);
            while self.link.front().is_some_and(|p| p.arrives <= self.now) {
                let Some(p) = self.link.pop_front() else {
                    break;
                };
                let to = p.to;
                let addrs = match to {
                    Who::Client => self.server.addrs(),
                    Who::Server => self.client.addrs(),
                };
                let seg = Segment::decode(&p.packet, &addrs, ChecksumMode::Verify)
                    .expect("checksum verifies");
                let now = self.now;
                self.side(to).conn.handle_segment(now, seg);
                self.drain_events(to);
            }
            for who in [Who::Client, Who::Server] {
                let now = self.now;
                let s = self.side(who);
                if s.conn.poll_timeout().is_some_and(|d| d <= now) {
                    s.conn.handle_timeout(now);
                    self.drain_events(who);
                }
            }
            self.settle();
        }
    }
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut rng = Rng(opts.seed);
    // The ladder shows the textbook four-way close: the ACK of the peer's
    // FIN goes at once, where Linux (`delay_fin_ack`) would let it ride on
    // the application's own FIN a moment later.
    let cfg = Config {
        delay_fin_ack: false,
        ..Config::linux()
    };
    let start = Instant::from_secs(1);
    let (ciss, siss) = (SeqNum(rng.next() as u32), SeqNum(rng.next() as u32));
    let (client_conn, server_conn) = if opts.simultaneous_open {
        (
            Connection::connect(cfg, 5000, 6000, ciss, start).expect("config"),
            Connection::connect(cfg, 6000, 5000, siss, start).expect("config"),
        )
    } else {
        (
            Connection::connect(cfg, 40000, 80, ciss, start).expect("config"),
            Connection::listen(cfg, 80, siss).expect("config"),
        )
    };
    let response: Vec<u8> = (0..RESPONSE_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    let side = |who, conn, iss, out: Vec<u8>, expect| Side {
        who,
        conn,
        iss,
        out,
        queued: 0,
        got: Vec::new(),
        expect,
        eof: None,
        closed: false,
        shown: State::Closed,
    };
    let mut demo = Demo {
        rng,
        now: start,
        start,
        client: side(
            Who::Client,
            client_conn,
            ciss,
            REQUEST.to_vec(),
            RESPONSE_LEN,
        ),
        server: side(
            Who::Server,
            server_conn,
            siss,
            response.clone(),
            REQUEST.len(),
        ),
        link: VecDeque::new(),
        wire: BytesMut::with_capacity(4096),
        lost: 0,
        opts,
    };

    let close = match demo.opts.close {
        CloseOrder::ClientFirst => "client closes first",
        CloseOrder::ServerFirst => "server closes first",
        CloseOrder::Simultaneous => "simultaneous close",
    };
    let open = if demo.opts.simultaneous_open {
        "simultaneous open"
    } else {
        "client connects, server listens"
    };
    println!(
        "tcp-proto ladder: {open}; {close}; one-way delay {} ms; loss {} (seed {})",
        ONE_WAY.as_millis(),
        demo.opts.loss,
        demo.opts.seed
    );
    println!(
        "request {} octets client→server, response {} octets server→client; \
         seq/ack relative to each side's ISS\n",
        REQUEST.len(),
        RESPONSE_LEN
    );
    println!(
        "{:>tw$}  {:<cw$} {:mw$} server",
        "time",
        "client",
        "",
        tw = TIME_W,
        cw = SIDE_W,
        mw = ARROW_W
    );
    demo.line("CLOSED", "", "CLOSED");
    demo.run();

    let c = &demo.client;
    let s = &demo.server;
    let ok = c.conn.state() == State::Closed
        && s.conn.state() == State::Closed
        && c.conn.close_reason() == Some(CloseReason::Normal)
        && s.conn.close_reason() == Some(CloseReason::Normal)
        && c.got == response
        && s.got == REQUEST;
    let (cs, ss) = (c.conn.stats(), s.conn.stats());
    println!(
        "\n{} segments lost on the link; retransmissions: client {}, server {}",
        demo.lost, cs.retransmits, ss.retransmits
    );
    println!(
        "client: {} ({:?}), read {}/{} octets; server: {} ({:?}), read {}/{} octets",
        c.conn.state(),
        c.conn.close_reason(),
        c.got.len(),
        RESPONSE_LEN,
        s.conn.state(),
        s.conn.close_reason(),
        s.got.len(),
        REQUEST.len()
    );
    if ok {
        println!("OK: both sides CLOSED, every octet delivered");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: the exchange did not end with both sides CLOSED and all data delivered");
        ExitCode::FAILURE
    }
}
