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
//! cargo run --example handshake -- --loss 0.3 --seed 7 --svg ladder.svg --tsg tsg.svg
//! ```
//!
//! `--svg FILE` writes the ladder as an SVG picture, `--tsg FILE` the
//! time-sequence graph of the server's response (seen at the server), both
//! drawn by `tcp_proto::plot` from the same record as the text.
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
use tcp_proto::plot::{Column, Ladder, Tsg};
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
    svg: Option<String>,
    tsg: Option<String>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: handshake [--loss P] [--seed N] \
         [--server-closes-first | --simultaneous-close] [--simultaneous-open] \
         [--svg FILE] [--tsg FILE]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Options, ExitCode> {
    let mut o = Options {
        loss: 0.0,
        seed: 1,
        close: CloseOrder::ClientFirst,
        simultaneous_open: false,
        svg: None,
        tsg: None,
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
            "--svg" => o.svg = Some(args.next().ok_or_else(usage)?),
            "--tsg" => o.tsg = Some(args.next().ok_or_else(usage)?),
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
    /// What the application sends, and how much of it is queued.
    out: Vec<u8>,
    queued: usize,
    /// What the application has read, and how much it expects.
    got: Vec<u8>,
    expect: usize,
    /// When the application saw EOF.
    eof: Option<Instant>,
    closed: bool,
}

impl Side {
    fn column(&self) -> Column {
        match self.who {
            Who::Client => Column::Left,
            Who::Server => Column::Right,
        }
    }

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
    /// Everything that happened, for the text ladder and the pictures.
    ladder: Ladder,
    /// The server's response: its data segments, and the client's ACKs as
    /// they reach it.
    tsg: Tsg,
}

impl Demo {
    fn side(&mut self, who: Who) -> &mut Side {
        match who {
            Who::Client => &mut self.client,
            Who::Server => &mut self.server,
        }
    }

    /// A note in one side's column (an application call, a read).
    fn note(&mut self, who: Who, text: &str) {
        let col = self.side(who).column();
        self.ladder.note(self.now, col, text);
    }

    /// Records the events a side has pending (state transitions).
    fn drain_events(&mut self, who: Who) {
        while let Some(e) = self.side(who).conn.poll_event() {
            if let Event::StateChanged { from: _, to } = e {
                let col = self.side(who).column();
                self.ladder.state(self.now, col, to);
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
            let col = self.side(who).column();
            self.ladder.segment(now, col, &seg, lost);
            if who == Who::Server {
                self.tsg.data(now, &seg, lost);
            }
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
                if to == Who::Server {
                    self.tsg.ack(now, &seg);
                }
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
    let side = |who, conn, out: Vec<u8>, expect| Side {
        who,
        conn,
        out,
        queued: 0,
        got: Vec::new(),
        expect,
        eof: None,
        closed: false,
    };
    let mut demo = Demo {
        rng,
        now: start,
        start,
        client: side(Who::Client, client_conn, REQUEST.to_vec(), RESPONSE_LEN),
        server: side(Who::Server, server_conn, response.clone(), REQUEST.len()),
        link: VecDeque::new(),
        wire: BytesMut::with_capacity(4096),
        lost: 0,
        ladder: Ladder::new(start, "client", "server"),
        tsg: Tsg::new("server → client: the response"),
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
    let setting = format!(
        "{open}; {close}; one-way delay {} ms; loss {} (seed {})",
        ONE_WAY.as_millis(),
        demo.opts.loss,
        demo.opts.seed
    );
    let sizes = format!(
        "request {} octets client→server, response {} octets server→client",
        REQUEST.len(),
        RESPONSE_LEN
    );
    println!("tcp-proto ladder: {setting}");
    println!("{sizes}; seq/ack relative to each side's ISS\n");
    demo.ladder.caption(&format!("tcp-proto: {open}; {close}"));
    demo.ladder.caption(&format!(
        "one-way delay {} ms; loss {} (seed {}); {sizes}",
        ONE_WAY.as_millis(),
        demo.opts.loss,
        demo.opts.seed
    ));
    demo.tsg.caption(&setting);
    demo.run();
    print!("{}", demo.ladder.to_text());
    for (path, svg) in [
        (&demo.opts.svg, demo.ladder.to_svg()),
        (&demo.opts.tsg, demo.tsg.to_svg()),
    ] {
        if let Some(path) = path
            && let Err(e) = std::fs::write(path, svg)
        {
            eprintln!("handshake: {path}: {e}");
            return ExitCode::FAILURE;
        }
    }

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
