//! The interpreter: a virtual clock, inbound packets injected at their
//! time, outbound packets checked against what the stack emitted (README
//! §1.4–§1.6), system calls mapped to the crate's API (§1.7, §3.2).

use super::env::{Profile, World};
use super::host::{EndpointHost, Host, Out, Stack};
use super::parse::{self, Action, Arg, EcnField, Opt, Packet, Script, Syscall, Usecs, flag};
use super::python::{self, PyResult};
use core::time::Duration;
use std::collections::HashMap;
use tcp_proto::wire::{Ecn, SackBlock, Timestamps};
use tcp_proto::{
    ChecksumMode, CloseReason, Config, Connection, Error, Flags, Instant, IpPair, Keepalive,
    Options, Segment, SeqNum, State,
};

/// How a script ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every event matched.
    Pass,
    /// A mismatch: what was expected, what happened, when.
    Fail(String),
    /// The script needs something out of scope (the reason).
    Skip(String),
}

enum Stop {
    Fail(String),
    Skip(String),
}

type R<T> = Result<T, Stop>;

fn fail<T>(m: impl Into<String>) -> R<T> {
    Err(Stop::Fail(m.into()))
}
fn skip<T>(m: impl Into<String>) -> R<T> {
    Err(Stop::Skip(m.into()))
}

/// The port scripts listen on and connect to.
const SCRIPT_PORT: u16 = 8080;
/// The remote (injected) side's port towards a listener.
const REMOTE_PORT: u16 = 47_123;
/// The stack's timestamp clock offset (wraps 7 s in).
const TS_OFFSET: u32 = 4_294_960_000;

#[derive(Clone, Copy, Default)]
struct SockOpts {
    mss: Option<u16>,
    rcvbuf: Option<usize>,
    sndbuf: Option<usize>,
    nodelay: bool,
    cork: bool,
    user_timeout: Option<Duration>,
    keepalive: bool,
    keepidle: Option<Duration>,
    keepintvl: Option<Duration>,
    keepcnt: Option<u32>,
    linger2: Option<Duration>,
    abort_on_close: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Fresh,
    Listener(usize),
    Conn(usize),
}

struct Socket {
    kind: Kind,
    nonblock: bool,
    opts: SockOpts,
    /// The pending error (ECONNRESET, ...) was reported to a call already.
    err_reported: bool,
}

enum Ret {
    /// Returned: value and errno name.
    Done(i64, Option<&'static str>),
    /// Would block (a blocking socket waits).
    Block,
}

struct Pending {
    sc: Syscall,
    line: usize,
    text: String,
    end: Usecs,
    tol: Usecs,
}

/// One script run.
pub struct Runner {
    world: World,
    host: Box<dyn Stack>,
    now: Instant,
    tol_us: Usecs,
    tol_pct: f64,
    /// `--mss`: the GSO size packetdrill gives injected packets.
    gso_mss: Option<u32>,
    ts_tick: Usecs,
    socks: HashMap<i64, Socket>,
    cur_local: u16,
    cur_remote: u16,
    local_isn: SeqNum,
    /// The seq the script wrote on our SYN or SYN-ACK (usually 0): a SYN's
    /// ack of it is written in that space, everything else relative to
    /// `local_isn` (packetdrill's socket.h).
    script_local_isn: u32,
    remote_isn: u32,
    ts0: Option<(u32, u32)>,
    ts_map: Vec<(u32, u32)>,
    pending: Option<Pending>,
    pending_fail: Option<String>,
    last_conn: Option<usize>,
    next_port: u16,
    /// listen() calls so far.
    listens: u16,
    verbose: bool,
    /// Names the script's `%{ }%` blocks assigned (`NAME = 0x7fffffff`).
    py_names: HashMap<String, i64>,
    /// Sequence number of the last segment the stack sent (what an `icmp`
    /// line without a quoted range quotes).
    last_sent_seq: Option<SeqNum>,
    /// Trace of what happened (verbose mode).
    pub trace: Vec<String>,
}

fn us(t: Instant) -> Usecs {
    t.total_micros() as Usecs
}

fn secs(t: Usecs) -> String {
    format!("{:.6}", t as f64 / 1e6)
}

/// Which host runs listen/accept/connect.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum HostKind {
    /// The crate's `Endpoint` (one per socket).
    #[default]
    Endpoint,
    /// Bare `Connection`s with the runner's own small demux.
    Connection,
}

/// Runs a parsed script.
pub fn run(
    script: &Script,
    profile: Profile,
    host: HostKind,
    verbose: bool,
) -> (Outcome, Vec<String>) {
    let mut r = Runner {
        world: World::new(profile),
        host: match host {
            HostKind::Endpoint => Box::new(EndpointHost::default()),
            HostKind::Connection => Box::new(Host::default()),
        },
        now: Instant::ZERO,
        tol_us: 4000,
        tol_pct: 12.5,
        gso_mss: None,
        ts_tick: 0,
        socks: HashMap::new(),
        cur_local: SCRIPT_PORT,
        cur_remote: REMOTE_PORT,
        local_isn: SeqNum(0),
        script_local_isn: 0,
        remote_isn: 0,
        ts0: None,
        ts_map: Vec::new(),
        pending: None,
        pending_fail: None,
        last_conn: None,
        next_port: 48_000,
        listens: 0,
        verbose,
        py_names: HashMap::new(),
        last_sent_seq: None,
        trace: Vec::new(),
    };
    let out = match r.go(script) {
        Ok(()) => Outcome::Pass,
        Err(Stop::Fail(m)) => Outcome::Fail(m),
        Err(Stop::Skip(m)) => Outcome::Skip(m),
    };
    (out, r.trace)
}

impl Runner {
    fn log(&mut self, m: impl FnOnce() -> String) {
        if self.verbose {
            let line = format!("{} {}", secs(us(self.now)), m());
            self.trace.push(line);
        }
    }

    fn go(&mut self, script: &Script) -> R<()> {
        for (k, v) in &script.options {
            let n = || {
                v.parse::<f64>()
                    .map_err(|_| Stop::Fail(format!("--{k}={v}")))
            };
            match k.as_str() {
                "tolerance_usecs" => self.tol_us = n()? as Usecs,
                "tolerance_percent" => self.tol_pct = n()?,
                "tcp_ts_tick_usecs" => self.ts_tick = n()? as Usecs,
                "mss" => self.gso_mss = Some(n()? as u32),
                k if k.starts_with("wire_") || k == "define" => {
                    return skip(format!("command-line option --{k} is not modeled"));
                }
                // Addresses, MTU, the inbound GSO size, output options: no
                // effect on a sans-IO run.
                _ => {}
            }
        }
        for cmd in &script.init {
            self.world.shell(cmd).map_err(Stop::Skip)?;
        }
        let mut base: Usecs = 0;
        for ev in &script.events {
            let t = &ev.time;
            let start = if t.any {
                us(self.now)
            } else if t.rel {
                base + t.start
            } else {
                t.start
            };
            let tol = self
                .tol_us
                .max(((start - base).max(0) as f64 * self.tol_pct / 100.0) as Usecs);
            let at = |e: String| format!("line {} `{}`: {e}", ev.line, ev.text);
            let res: R<Usecs> = match &ev.action {
                Action::Packet(p) if p.inbound => {
                    self.advance_to(start);
                    self.log(|| format!("inject {p}"));
                    self.inject(p).map(|()| start)
                }
                Action::Packet(p) => {
                    let (lo, hi) = match t.range_end {
                        Some((rel, e)) => (start, if rel { base + e } else { e }),
                        None => (start, start),
                    };
                    self.expect(p, lo, hi, tol, t.any).map(|actual| {
                        if t.any || t.range_end.is_some() {
                            actual
                        } else {
                            start
                        }
                    })
                }
                Action::Syscall(sc) => {
                    self.advance_to(start);
                    self.pending_check()?;
                    let end = t.block_end.map(|e| if t.rel { base + e } else { e });
                    self.log(|| format!("call {}", ev.text));
                    self.syscall_event(sc, ev.line, &ev.text, end, tol)
                        .map(|()| start)
                }
                Action::Shell(cmd) => {
                    self.advance_to(start);
                    self.world.shell(cmd).map_err(Stop::Skip).map(|()| start)
                }
                Action::Python(src) => {
                    self.advance_to(start);
                    self.python(src).map(|()| start)
                }
                Action::Icmp(i) => {
                    self.advance_to(start);
                    self.log(|| format!("inject icmp {:?}", i.error));
                    let seq = match (i.seq, self.last_sent_seq) {
                        (Some(a), _) => self.local_isn.add(a),
                        (None, Some(s)) => s,
                        (None, None) => return skip("an icmp line before any packet was sent"),
                    };
                    self.host
                        .icmp(self.now, self.cur_local, self.cur_remote, seq, i.error);
                    Ok(start)
                }
            };
            match res {
                Ok(b) => base = b,
                Err(Stop::Fail(m)) => return fail(at(m)),
                Err(Stop::Skip(m)) => return skip(m),
            }
            self.pending_check()?;
        }
        // A call still blocked returns later, or the script fails.
        if let Some(end) = self.pending.as_ref().map(|p| p.end + p.tol) {
            self.advance_to(end);
            self.pending_check()?;
        }
        if let Some(p) = &self.pending {
            return fail(format!(
                "line {} `{}`: the call was still blocked at the end of the script",
                p.line, p.text
            ));
        }
        Ok(())
    }

    // ---- the clock -----------------------------------------------------

    /// Fires every timer due up to `t`, then sets the clock to `t`.
    fn advance_to(&mut self, t: Usecs) {
        let target = Instant::from_micros(t.max(0) as u64);
        while let Some(d) = self.host.next_deadline() {
            if d > target {
                break;
            }
            self.now = self.now.max(d);
            self.host.fire(self.now);
            // A blocked call that returns here is checked by pending_check.
            if self.pending.is_some() {
                let _ = self.try_pending();
            }
        }
        self.now = self.now.max(target);
    }

    /// The next emitted segment, firing timers up to `deadline` to get one.
    fn next_out(&mut self, deadline: Usecs) -> Option<Out> {
        loop {
            if let Some(x) = self.host.pop_out() {
                self.last_sent_seq = Some(x.1.seq);
                return Some(x);
            }
            match self.host.next_deadline() {
                Some(d) if us(d) <= deadline => {
                    self.now = self.now.max(d);
                    self.host.fire(self.now);
                    if self.pending.is_some() {
                        let _ = self.try_pending();
                    }
                }
                _ => return None,
            }
        }
    }

    // ---- inbound -------------------------------------------------------

    fn map_ecr(&self, ecr: u32) -> u32 {
        if ecr == 0 {
            return 0;
        }
        if let Some((_, live)) = self.ts_map.iter().rev().find(|(s, _)| *s == ecr) {
            return *live;
        }
        match self.ts0 {
            Some((s0, l0)) => l0.wrapping_add(ecr.wrapping_sub(s0)),
            None => ecr,
        }
    }

    fn inject(&mut self, p: &Packet) -> R<()> {
        if self.gso_mss.is_some_and(|m| p.len > m) {
            // The kernel takes such a packet as one GRO segment and reads
            // the sender's segment size from its gso_size; a sans-IO
            // connection is handed the segment alone.
            return skip(format!(
                "an inbound GSO packet ({} octets over --mss): its gso_size is not modeled",
                p.len
            ));
        }
        // A SYN defines the peer's ISN when it opens a connection (to a
        // listener, a new incarnation from TIME-WAIT, a SYN-ACK or a
        // simultaneous open); a SYN on a synchronized connection is just a
        // segment (RFC 5961 §4), numbered like the others.
        let syn = p.flags & flag::S != 0
            && match self.host.state_of(self.cur_local, self.cur_remote) {
                None | Some(State::TimeWait | State::SynSent | State::Listen) => true,
                Some(State::SynReceived) => p.flags & flag::A != 0,
                Some(_) => false,
            };
        let seq = if syn {
            self.remote_isn = p.start;
            SeqNum(p.start)
        } else {
            SeqNum(self.remote_isn.wrapping_add(p.start))
        };
        // packetdrill maps the ACK field into live sequence space whenever
        // the ACK flag is set, an omitted `ack` being script ACK 0 (our ISN);
        // without the flag the field is left as written (0 if omitted).
        let ack = match p.ack {
            None if p.flags & flag::A == 0 => SeqNum(0),
            a => {
                let a = a.unwrap_or(0);
                if syn {
                    self.local_isn.add(a.wrapping_sub(self.script_local_isn))
                } else {
                    self.local_isn.add(a)
                }
            }
        };
        let mut o = Options::default();
        for opt in p.options.iter().flatten() {
            match opt {
                Opt::Nop | Opt::Eol => {}
                Opt::Mss(m) => o.mss = Some(*m),
                Opt::Wscale(w) => o.window_scale = Some(*w),
                Opt::SackOk => o.sack_permitted = true,
                Opt::Sack(b) => {
                    for (l, r) in b {
                        o.sack_blocks.push(SackBlock {
                            left: self.local_isn.add(*l),
                            right: self.local_isn.add(*r),
                        });
                    }
                }
                Opt::Ts(v, e) => {
                    o.timestamps = Some(Timestamps {
                        val: *v,
                        ecr: self.map_ecr(*e),
                    })
                }
            }
        }
        let seg = Segment {
            src_port: self.cur_remote,
            dst_port: self.cur_local,
            seq,
            ack,
            flags: Flags(p.flags),
            window: p.win.unwrap_or(0).min(65535) as u16,
            urgent: p.urg.unwrap_or(0) as u16,
            options: o,
            payload: vec![0u8; p.len as usize].into(),
        };
        let ecn = match p.ecn {
            None | Some(EcnField::NotEct) => Ecn::NotEct,
            Some(EcnField::Ect0 | EcnField::Ect01) => Ecn::Ect0,
            Some(EcnField::Ect1) => Ecn::Ect1,
            Some(EcnField::Ce) => Ecn::Ce,
        };
        self.host.input(self.now, seg, ecn);
        Ok(())
    }

    // ---- outbound ------------------------------------------------------

    fn expect(&mut self, p: &Packet, lo: Usecs, hi: Usecs, tol: Usecs, any: bool) -> R<Usecs> {
        let deadline = if any {
            us(self.now) + 600_000_000
        } else {
            hi + tol
        };
        let Some((t, first, first_ecn)) = self.next_out(deadline) else {
            // Missing, or late: look 2 s further to say which.
            return match self.next_out(hi + 2_000_000) {
                Some((t2, s, _)) => fail(format!(
                    "expected {p} at {}, got {} late, at {}",
                    secs(lo),
                    self.show(&s),
                    secs(us(t2))
                )),
                None => fail(format!(
                    "expected {p} at {}, nothing was sent by {}",
                    secs(lo),
                    secs(hi + 2_000_000)
                )),
            };
        };
        let ts = us(t);
        if !any && (ts < lo - tol || ts > hi + tol) {
            return fail(format!(
                "expected {p} at {} (±{} µs), got {} at {}",
                secs(lo),
                tol,
                self.show(&first),
                secs(ts)
            ));
        }
        if self.verbose {
            let shown = self.show(&first);
            self.log(|| format!("sent {shown}"));
        }
        // Segment aggregation (README §1.6): a long line is matched by
        // consecutive segments whose payloads add up to it.
        let mut segs = vec![first];
        let mut ecns = vec![first_ecn];
        let mut total = segs[0].payload.len() as u32;
        if p.flags & flag::S == 0 {
            while total < p.len {
                let Some((t2, s, ecn)) = self.next_out(deadline) else {
                    return fail(format!(
                        "expected {p} at {}: got {} octets of it, then nothing by {}",
                        secs(lo),
                        total,
                        secs(deadline)
                    ));
                };
                if !any && us(t2) > hi + tol {
                    return fail(format!(
                        "expected {p} at {}: the octets after the first {total} came late, at {}",
                        secs(lo),
                        secs(us(t2))
                    ));
                }
                if self.verbose {
                    let shown = self.show(&s);
                    self.log(|| format!("sent {shown} (continued)"));
                }
                let prev = segs.last().expect("one segment at least");
                let next_seq = prev.seq.add(prev.payload.len() as u32);
                if s.seq != next_seq || s.payload.is_empty() {
                    return fail(format!(
                        "expected {p} at {}: after {} octets got {} instead of the next piece",
                        secs(lo),
                        total,
                        self.show(&s)
                    ));
                }
                total += s.payload.len() as u32;
                segs.push(s);
                ecns.push(ecn);
            }
        }
        if let Some(want) = p.ecn
            && let Some((i, got)) = ecns
                .iter()
                .enumerate()
                .find(|(_, e)| !ecn_matches(want, **e))
        {
            return fail(format!(
                "expected {p} at {}: IP ECN field {got:?} on segment {} of {}, expected {want:?}",
                secs(lo),
                i + 1,
                ecns.len()
            ));
        }
        self.compare(p, &segs, lo)?;
        Ok(ts)
    }

    /// Compares the expected line with the (aggregated) segments.
    fn compare(&mut self, p: &Packet, segs: &[Segment], lo: Usecs) -> R<()> {
        let first = &segs[0];
        let last = &segs[segs.len() - 1];
        let shown = if segs.len() == 1 {
            self.show(first)
        } else {
            format!(
                "{} ... {} ({} segments)",
                self.show(first),
                self.show(last),
                segs.len()
            )
        };
        let bad = |what: String| -> R<()> {
            fail(format!("expected {p} at {}, got {shown}: {what}", secs(lo)))
        };
        // Flags: exact on a single segment; PSH and FIN only on the last
        // of an aggregate.
        const PF: u8 = flag::P | flag::F;
        for (i, s) in segs.iter().enumerate() {
            let f = s.flags.0;
            let ok = if i + 1 == segs.len() {
                f == p.flags
            } else {
                f & !PF == p.flags & !PF
            };
            if !ok {
                return bad(format!(
                    "flags {} (segment {} of {})",
                    parse::flags_str(f),
                    i + 1,
                    segs.len()
                ));
            }
        }
        if p.flags & flag::S != 0 {
            self.local_isn = first.seq;
            self.script_local_isn = p.start;
        } else {
            let rel = first.seq.dist(self.local_isn);
            if rel != p.start {
                return bad(format!("seq {rel}, expected {}", p.start));
            }
        }
        if p.flags & flag::A != 0 {
            // A SYN-ACK's ack is written absolute (the peer's ISN + 1, as its
            // SYN was); every other ack relative to that ISN (packetdrill).
            let rel = if p.flags & flag::S != 0 {
                first.ack.0
            } else {
                first.ack.0.wrapping_sub(self.remote_isn)
            };
            let want = p.ack.unwrap_or(0);
            if rel != want {
                return bad(format!("ack {rel}, expected {want}"));
            }
        }
        let len: u32 = segs.iter().map(|s| s.payload.len() as u32).sum();
        if len != p.len {
            return bad(format!("payload {len} octets, expected {}", p.len));
        }
        if segs.iter().any(|s| s.payload.iter().any(|b| *b != 0)) {
            return bad("payload octets differ (scripts send zeros)".into());
        }
        if let Some(w) = p.win
            && u32::from(first.window) != w
        {
            return bad(format!("win {}, expected {w}", first.window));
        }
        if let Some(u) = p.urg
            && u32::from(first.urgent) != u
        {
            return bad(format!("urg {}, expected {u}", first.urgent));
        }
        let got = raw_options(first);
        if let Some(want) = &p.options {
            if got.len() != want.len() {
                return bad(format!(
                    "options <{}>, expected <{}>",
                    join(&got),
                    join(want)
                ));
            }
            for (g, w) in got.iter().zip(want) {
                let ok = match (g, w) {
                    (Opt::Ts(gv, _), Opt::Ts(wv, _)) => {
                        if self.ts_tick > 0
                            && let Some((s0, l0)) = self.ts0
                        {
                            let expect = l0.wrapping_add(wv.wrapping_sub(s0));
                            let off = (gv.wrapping_sub(expect) as i32).unsigned_abs() as i64;
                            let slack = (self.tol_us + self.ts_tick - 1) / self.ts_tick;
                            if off > slack {
                                return bad(format!(
                                    "TS val {} ticks from the expected {wv}",
                                    gv.wrapping_sub(expect) as i32
                                ));
                            }
                        }
                        true
                    }
                    (Opt::Sack(gb), Opt::Sack(wb)) => {
                        gb.len() == wb.len()
                            && gb.iter().zip(wb).all(|((gl, gr), (wl, wr))| {
                                gl.wrapping_sub(self.remote_isn) == *wl
                                    && gr.wrapping_sub(self.remote_isn) == *wr
                            })
                    }
                    _ => g == w,
                };
                if !ok {
                    return bad(format!(
                        "options <{}>, expected <{}>",
                        join(&got),
                        join(want)
                    ));
                }
            }
        }
        // Learn the TS clock mapping from the first outbound TS (README §1.5).
        if let Some(Opt::Ts(gv, _)) = got.iter().find(|o| matches!(o, Opt::Ts(..))) {
            let want = p.options.iter().flatten().find_map(|o| {
                if let Opt::Ts(v, _) = o {
                    Some(*v)
                } else {
                    None
                }
            });
            if let Some(wv) = want {
                if self.ts0.is_none() {
                    self.ts0 = Some((wv, *gv));
                }
                self.ts_map.push((wv, *gv));
            } else if self.ts0.is_none() {
                self.ts0 = Some((0, *gv));
            }
        }
        Ok(())
    }

    /// A segment in script space, for messages.
    fn show(&self, s: &Segment) -> String {
        let syn = s.flags.syn();
        let seq = if syn { 0 } else { s.seq.dist(self.local_isn) };
        let mut o = format!(
            "{} {}:{}({})",
            parse::flags_str(s.flags.0),
            seq,
            seq.wrapping_add(s.payload.len() as u32),
            s.payload.len()
        );
        if s.flags.ack() {
            o += &format!(" ack {}", s.ack.0.wrapping_sub(self.remote_isn));
        }
        o += &format!(" win {}", s.window);
        let opts = raw_options(s);
        if !opts.is_empty() {
            o += &format!(" <{}>", join(&opts));
        }
        o
    }

    // ---- system calls --------------------------------------------------

    fn syscall_event(
        &mut self,
        sc: &Syscall,
        line: usize,
        text: &str,
        end: Option<Usecs>,
        tol: Usecs,
    ) -> R<()> {
        match self.syscall(sc)? {
            Ret::Done(v, e) => self.check_ret(sc, v, e, end, tol),
            Ret::Block => {
                let fd = sc.args.first().and_then(Arg::int).unwrap_or(-1);
                if self.socks.get(&fd).is_some_and(|s| s.nonblock) {
                    // A non-blocking socket says EAGAIN.
                    return self.check_ret(sc, -1, Some("EAGAIN"), None, tol);
                }
                // A blocking call without `...` must return at once.
                let end = end.unwrap_or(us(self.now));
                if self.pending.is_some() {
                    return skip("two blocked calls at once (threads) are not modeled");
                }
                self.pending = Some(Pending {
                    sc: sc.clone(),
                    line,
                    text: text.to_string(),
                    end,
                    tol,
                });
                Ok(())
            }
        }
    }

    fn check_ret(
        &mut self,
        sc: &Syscall,
        v: i64,
        e: Option<&'static str>,
        end: Option<Usecs>,
        tol: Usecs,
    ) -> R<()> {
        let got = match e {
            Some(e) => format!("-1 {e}"),
            None => v.to_string(),
        };
        let want_v = sc.ret;
        let want = match (&sc.errno, want_v) {
            (Some(e), _) => format!("-1 {e}"),
            (None, Some(v)) => v.to_string(),
            (None, None) => "...".into(),
        };
        let ok_v = want_v.is_none_or(|w| w == if e.is_some() { -1 } else { v });
        let ok_e = match (&sc.errno, e) {
            (Some(w), Some(g)) => w == g || (w == "EWOULDBLOCK" && g == "EAGAIN"),
            (None, None) => true,
            (None, Some(_)) => want_v == Some(-1),
            (Some(_), None) => false,
        };
        if !(ok_v && ok_e) {
            return fail(format!("returned {got}, expected {want}"));
        }
        if let Some(end) = end {
            let t = us(self.now);
            if (t - end).abs() > tol {
                return fail(format!(
                    "returned at {}, expected at {} (±{tol} µs)",
                    secs(t),
                    secs(end)
                ));
            }
        }
        Ok(())
    }

    /// Retries a blocked call; returns whether it completed. A completion
    /// with the wrong result or time is kept in `pending_fail`.
    fn try_pending(&mut self) -> R<bool> {
        let Some(p) = self.pending.take() else {
            return Ok(false);
        };
        match self.syscall(&p.sc)? {
            Ret::Block => {
                self.pending = Some(p);
                Ok(false)
            }
            Ret::Done(v, e) => {
                if let Err(Stop::Fail(m)) = self.check_ret(&p.sc, v, e, Some(p.end), p.tol) {
                    self.pending_fail = Some(format!("line {} `{}`: {m}", p.line, p.text));
                }
                Ok(true)
            }
        }
    }

    fn pending_check(&mut self) -> R<()> {
        if self.pending.is_some() {
            self.try_pending()?;
        }
        if let Some(m) = self.pending_fail.take() {
            return fail(m);
        }
        if let Some(p) = &self.pending
            && us(self.now) > p.end + p.tol
        {
            return fail(format!(
                "line {} `{}`: still blocked at {}, expected to return at {}",
                p.line,
                p.text,
                secs(us(self.now)),
                secs(p.end)
            ));
        }
        Ok(())
    }

    fn sock(&mut self, sc: &Syscall) -> R<(i64, &mut Socket)> {
        let fd = sc.args.first().and_then(Arg::int).unwrap_or(-1);
        match self.socks.get_mut(&fd) {
            Some(s) => Ok((fd, s)),
            None => skip(format!("{}: fd {fd} is not a socket we model", sc.name)),
        }
    }

    fn conn_of(&mut self, sc: &Syscall) -> R<Option<usize>> {
        let (_, s) = self.sock(sc)?;
        Ok(match s.kind {
            Kind::Conn(i) => Some(i),
            _ => None,
        })
    }

    fn cfg_for(&self, o: &SockOpts) -> Config {
        let mut c = self.world.cfg;
        if let Some(m) = o.mss {
            c.mss = m;
        }
        if let Some(b) = o.rcvbuf {
            c.recv_buffer = b.max(usize::from(c.mss));
            c.recv_buffer_max = b;
        }
        if let Some(b) = o.sndbuf {
            c.send_buffer = b;
        }
        c.nagle = !o.nodelay;
        c.user_timeout = o.user_timeout.or(c.user_timeout);
        if let Some(l) = o.linger2 {
            c.fin_wait_2_timeout = Some(l);
        }
        if o.keepalive {
            c.keepalive = Some(self.keepalive_of(o));
        }
        c.ts_offset = TS_OFFSET;
        c
    }

    fn keepalive_of(&self, o: &SockOpts) -> Keepalive {
        let k = self.world.keepalive;
        Keepalive {
            idle: o.keepidle.unwrap_or(k.idle),
            interval: o.keepintvl.unwrap_or(k.interval),
            probes: o.keepcnt.unwrap_or(k.probes).max(2),
        }
    }

    /// The connection, unless the host dropped it.
    fn conn(&mut self, i: usize) -> Option<&mut Connection> {
        self.host.conn(i)
    }

    /// Why connection `i` closed, if it did.
    fn reason(&mut self, i: usize) -> Option<CloseReason> {
        match self.host.conn(i) {
            Some(c) => c.close_reason(),
            None => Some(self.host.gone_reason(i).unwrap_or(CloseReason::Normal)),
        }
    }

    fn state(&mut self, i: usize) -> State {
        self.host.conn(i).map_or(State::Closed, |c| c.state())
    }

    fn syscall(&mut self, sc: &Syscall) -> R<Ret> {
        let a = |i: usize| sc.args.get(i).cloned().unwrap_or(Arg::Ellipsis);
        let len_arg = |i: usize| a(i).int().or(sc.ret).unwrap_or(0).max(0) as usize;
        let now = self.now;
        let r = match sc.name.as_str() {
            "socket" => {
                let ty = a(1).sym().unwrap_or("").to_string();
                if !ty.contains("SOCK_STREAM") {
                    return skip(format!("socket type {ty} (only TCP is modeled)"));
                }
                let fd = sc.ret.unwrap_or(3);
                self.socks.insert(
                    fd,
                    Socket {
                        kind: Kind::Fresh,
                        nonblock: ty.contains("SOCK_NONBLOCK"),
                        opts: SockOpts::default(),
                        err_reported: false,
                    },
                );
                Ret::Done(fd, None)
            }
            "bind" => {
                self.sock(sc)?;
                Ret::Done(0, None)
            }
            "listen" => {
                let backlog = a(1).int().unwrap_or(1).max(0) as usize;
                let (_, s) = self.sock(sc)?;
                let o = s.opts;
                let cfg = self.cfg_for(&o);
                let l = self.host.listen(SCRIPT_PORT, backlog, cfg);
                self.sock(sc)?.1.kind = Kind::Listener(l);
                self.cur_local = SCRIPT_PORT;
                // packetdrill gives each listening socket its own peer: a
                // second listen() after close() talks to a new remote port.
                self.cur_remote = REMOTE_PORT.wrapping_add(self.listens);
                self.listens += 1;
                Ret::Done(0, None)
            }
            "accept" | "accept4" => {
                let (_, s) = self.sock(sc)?;
                let Kind::Listener(l) = s.kind else {
                    return Ok(Ret::Done(-1, Some("EINVAL")));
                };
                let opts = s.opts;
                match self.host.accept(l) {
                    Some(i) => {
                        let fd = sc.ret.unwrap_or(4);
                        self.socks.insert(
                            fd,
                            Socket {
                                kind: Kind::Conn(i),
                                nonblock: false,
                                opts,
                                err_reported: false,
                            },
                        );
                        self.last_conn = Some(i);
                        Ret::Done(fd, None)
                    }
                    None => Ret::Block,
                }
            }
            "connect" => {
                let (_, s) = self.sock(sc)?;
                match s.kind {
                    Kind::Fresh => {
                        let o = s.opts;
                        let nonblock = s.nonblock;
                        let cfg = self.cfg_for(&o);
                        let port = self.next_port;
                        self.next_port += 1;
                        self.cur_local = port;
                        self.cur_remote = SCRIPT_PORT;
                        let i = self
                            .host
                            .connect(cfg, port, SCRIPT_PORT, now)
                            .map_err(Stop::Fail)?;
                        self.sock(sc)?.1.kind = Kind::Conn(i);
                        self.last_conn = Some(i);
                        if nonblock {
                            Ret::Done(-1, Some("EINPROGRESS"))
                        } else {
                            Ret::Block
                        }
                    }
                    Kind::Conn(i) => match self.state(i) {
                        State::SynSent | State::SynReceived => {
                            if self.sock(sc)?.1.nonblock {
                                Ret::Done(-1, Some("EALREADY"))
                            } else {
                                Ret::Block
                            }
                        }
                        State::Closed => self.take_error(sc, "ECONNREFUSED")?,
                        _ => Ret::Done(0, None),
                    },
                    Kind::Listener(_) => Ret::Done(-1, Some("EISCONN")),
                }
            }
            "write" | "send" | "sendto" | "writev" | "sendmsg" => {
                let n = if matches!(sc.name.as_str(), "writev" | "sendmsg") {
                    sc.ret.unwrap_or(0).max(0) as usize
                } else {
                    len_arg(2)
                };
                let flags = match sc.name.as_str() {
                    "send" | "sendto" => a(3).sym().unwrap_or("").to_string(),
                    // sendmsg(fd, msghdr, flags)
                    "sendmsg" => a(2).sym().unwrap_or("").to_string(),
                    _ => String::new(),
                };
                for f in ["MSG_FASTOPEN", "MSG_ZEROCOPY", "MSG_OOB", "MSG_EOR"] {
                    if flags.contains(f) {
                        return skip(format!("{} with {f} is not modeled", sc.name));
                    }
                }
                let Some(i) = self.conn_of(sc)? else {
                    return Ok(Ret::Done(-1, Some("EPIPE")));
                };
                if matches!(self.state(i), State::SynSent | State::SynReceived) {
                    return Ok(Ret::Block);
                }
                if self.conn(i).is_none() {
                    let r = self.reason(i).unwrap_or(CloseReason::Normal);
                    return self.closed_error(sc, r, true);
                }
                let c = self.conn(i).expect("checked above");
                if n > 0 && null_buffer(sc) {
                    // The kernel fails to copy from a NULL buffer once the
                    // socket's state allowed the write: EFAULT, nothing queued.
                    return Ok(Ret::Done(-1, Some("EFAULT")));
                }
                let data = vec![0u8; n];
                let sent = if flags.contains("MSG_MORE") {
                    c.send_more(&data)
                } else {
                    c.send(&data)
                };
                let fd = sc.args.first().and_then(Arg::int).unwrap_or(-1);
                let blocking = self.socks.get(&fd).is_some_and(|s| !s.nonblock);
                match sent {
                    Ok(k) if blocking && k < n => {
                        // Linux's write(2) then sleeps until all of it is
                        // queued; when it wakes depends on its skb memory
                        // accounting (truesize against SO_SNDBUF).
                        return skip(format!(
                            "a blocking {} of {n} octets that only partly fits the send buffer: \
                             when Linux wakes the writer depends on its skb memory accounting",
                            sc.name
                        ));
                    }
                    Ok(k) => Ret::Done(k as i64, None),
                    Err(Error::WouldBlock) => Ret::Block,
                    Err(Error::Closed(r)) => self.closed_error(sc, r, true)?,
                    Err(Error::InvalidState { .. }) => Ret::Done(-1, Some("EPIPE")),
                }
            }
            "read" | "recv" | "recvfrom" | "readv" | "recvmsg" => {
                let n = if matches!(sc.name.as_str(), "readv" | "recvmsg") {
                    sc.ret.unwrap_or(0).max(0) as usize
                } else {
                    len_arg(2)
                };
                let Some(i) = self.conn_of(sc)? else {
                    return Ok(Ret::Done(-1, Some("ENOTCONN")));
                };
                let mut buf = vec![0u8; n];
                let Some(c) = self.conn(i) else {
                    let r = self.reason(i).unwrap_or(CloseReason::Normal);
                    return self.closed_error(sc, r, false);
                };
                if n > 0 && null_buffer(sc) && c.recv_available() > 0 {
                    // Data is there, but copying it to NULL faults: EFAULT,
                    // and the data stays queued.
                    return Ok(Ret::Done(-1, Some("EFAULT")));
                }
                match c.recv(&mut buf) {
                    Ok(k) => Ret::Done(k as i64, None),
                    Err(Error::WouldBlock) => Ret::Block,
                    Err(Error::Closed(r)) => self.closed_error(sc, r, false)?,
                    Err(Error::InvalidState { .. }) => Ret::Done(-1, Some("EBADF")),
                }
            }
            "shutdown" => {
                let how = a(1).sym().unwrap_or("").to_string();
                let Some(i) = self.conn_of(sc)? else {
                    return Ok(Ret::Done(-1, Some("ENOTCONN")));
                };
                let Some(c) = self.conn(i) else {
                    return Ok(Ret::Done(-1, Some("ENOTCONN")));
                };
                if how.contains("RD") {
                    c.shutdown_read();
                }
                if how.contains("WR") {
                    let _ = c.shutdown_write();
                }
                self.host.drain(now);
                Ret::Done(0, None)
            }
            "close" => {
                let (fd, s) = self.sock(sc)?;
                let kind = s.kind;
                let abort = s.opts.abort_on_close;
                self.socks.remove(&fd);
                match kind {
                    Kind::Conn(i) => {
                        if let Some(c) = self.conn(i) {
                            if abort {
                                c.abort();
                            } else {
                                let _ = c.close(now);
                            }
                        }
                    }
                    Kind::Listener(l) => self.host.close_listener(l, now),
                    Kind::Fresh => {}
                }
                self.host.drain(now);
                Ret::Done(0, None)
            }
            "fcntl" => {
                let cmd = a(1).sym().unwrap_or("").to_string();
                let (_, s) = self.sock(sc)?;
                match cmd.as_str() {
                    "F_SETFL" => {
                        s.nonblock = a(2).sym().is_some_and(|f| f.contains("O_NONBLOCK"));
                        Ret::Done(0, None)
                    }
                    "F_GETFL" => Ret::Done(2 | if s.nonblock { 0o4000 } else { 0 }, None),
                    _ => return skip(format!("fcntl {cmd}")),
                }
            }
            "ioctl" => {
                let req = a(1).sym().unwrap_or("").to_string();
                let Some(i) = self.conn_of(sc)? else {
                    return Ok(Ret::Done(-1, Some("EINVAL")));
                };
                let c = self.conn(i);
                let v = match (req.as_str(), c) {
                    (_, None) => 0,
                    ("SIOCINQ" | "FIONREAD", Some(c)) => c.recv_available(),
                    ("SIOCOUTQ" | "TIOCOUTQ", Some(c)) => c.unacked_len() + c.unsent_len(),
                    ("SIOCOUTQNSD", Some(c)) => c.unsent_len(),
                    _ => return skip(format!("ioctl {req}")),
                } as i64;
                self.check_out_arg(sc, 2, v)?;
                Ret::Done(0, None)
            }
            "setsockopt" => self.setsockopt(sc)?,
            "getsockopt" => self.getsockopt(sc)?,
            other => return skip(format!("system call {other} is not modeled")),
        };
        self.host.drain(self.now);
        Ok(r)
    }

    /// A pending error (SO_ERROR semantics): reported once, then `after`.
    fn take_error(&mut self, sc: &Syscall, default: &'static str) -> R<Ret> {
        let Some(i) = self.conn_of(sc)? else {
            return Ok(Ret::Done(-1, Some(default)));
        };
        let reason = self.reason(i);
        let (_, s) = self.sock(sc)?;
        let e = match reason {
            Some(CloseReason::Refused) => "ECONNREFUSED",
            Some(CloseReason::Unreachable) => "EHOSTUNREACH",
            Some(CloseReason::TimedOut) => "ETIMEDOUT",
            Some(CloseReason::Reset) => "ECONNRESET",
            _ => default,
        };
        s.err_reported = true;
        Ok(Ret::Done(-1, Some(e)))
    }

    fn closed_error(&mut self, sc: &Syscall, r: CloseReason, write: bool) -> R<Ret> {
        let (_, s) = self.sock(sc)?;
        let first = !s.err_reported;
        s.err_reported = true;
        let e = match r {
            CloseReason::Reset if first => "ECONNRESET",
            CloseReason::Refused if first => "ECONNREFUSED",
            CloseReason::Unreachable if first => "EHOSTUNREACH",
            CloseReason::TimedOut if first => "ETIMEDOUT",
            _ if write => "EPIPE",
            _ => return Ok(Ret::Done(0, None)),
        };
        Ok(Ret::Done(-1, Some(e)))
    }

    fn check_out_arg(&self, sc: &Syscall, idx: usize, v: i64) -> R<()> {
        let want = match sc.args.get(idx) {
            Some(Arg::Ptr(inner)) => match &**inner {
                Arg::Int(w) => Some(*w),
                Arg::Sym(s) => errno_num(s),
                _ => None,
            },
            _ => None,
        };
        if let Some(w) = want
            && w != v
        {
            return fail(format!("{} gave [{v}], expected [{w}]", sc.name));
        }
        Ok(())
    }

    fn setsockopt(&mut self, sc: &Syscall) -> R<Ret> {
        let name = sc.args.get(2).and_then(Arg::sym).unwrap_or("").to_string();
        let v = sc.args.get(3).and_then(Arg::int);
        let (_, s) = self.sock(sc)?;
        let kind = s.kind;
        let o = &mut s.opts;
        let ms = |v: Option<i64>| Duration::from_millis(v.unwrap_or(0).max(0) as u64);
        let sec = |v: Option<i64>| Duration::from_secs(v.unwrap_or(0).max(0) as u64);
        match name.as_str() {
            "SO_REUSEADDR" | "SO_REUSEPORT" | "IP_TOS" | "IPV6_TCLASS" => {}
            "SO_LINGER" => {
                let t = match sc.args.get(3) {
                    Some(Arg::Other(t)) => t.replace(' ', ""),
                    _ => String::new(),
                };
                // {onoff=1, linger=0}: close() aborts with a RST.
                o.abort_on_close = t.contains("onoff=1") && t.contains("linger=0");
            }
            "TCP_MAXSEG" => o.mss = v.map(|m| m.clamp(64, 65535) as u16),
            // Linux stores twice the value asked for (README §3.3).
            "SO_RCVBUF" => o.rcvbuf = v.map(|b| (b.max(1) as usize) * 2),
            "SO_SNDBUF" => o.sndbuf = v.map(|b| (b.max(1) as usize) * 2),
            "TCP_NODELAY" => o.nodelay = v.unwrap_or(0) != 0,
            "TCP_CORK" => o.cork = v.unwrap_or(0) != 0,
            "TCP_USER_TIMEOUT" => {
                o.user_timeout = Some(ms(v)).filter(|d| !d.is_zero());
            }
            "SO_KEEPALIVE" => o.keepalive = v.unwrap_or(0) != 0,
            "TCP_KEEPIDLE" => o.keepidle = Some(sec(v)),
            "TCP_KEEPINTVL" => o.keepintvl = Some(sec(v)),
            "TCP_KEEPCNT" => o.keepcnt = v.map(|c| c.max(0) as u32),
            "TCP_LINGER2" => o.linger2 = Some(sec(v)),
            _ => return skip(format!("socket option {name} is not modeled")),
        }
        let o = *o;
        if let Kind::Listener(l) = kind {
            // Linux: a listener's options are inherited by what it accepts.
            let cfg = self.cfg_for(&o);
            self.host.set_listener_config(l, cfg);
        }
        if let Kind::Conn(i) = kind {
            let ka = o.keepalive.then(|| self.keepalive_of(&o));
            let now = self.now;
            let Some(c) = self.conn(i) else {
                return Ok(Ret::Done(0, None));
            };
            match name.as_str() {
                "TCP_NODELAY" => c.set_nodelay(o.nodelay),
                "TCP_CORK" => c.set_cork(o.cork),
                "TCP_USER_TIMEOUT" => c.set_user_timeout(o.user_timeout),
                "SO_KEEPALIVE" | "TCP_KEEPIDLE" | "TCP_KEEPINTVL" | "TCP_KEEPCNT" => {
                    c.set_keepalive(ka, now)
                }
                "SO_RCVBUF" => c.set_recv_buffer(o.rcvbuf.unwrap_or(0)),
                "SO_SNDBUF" => c.set_send_buffer(o.sndbuf.unwrap_or(0)),
                "TCP_LINGER2" => c.set_fin_wait_2_timeout(o.linger2, now),
                _ => {}
            }
        }
        Ok(Ret::Done(0, None))
    }

    fn getsockopt(&mut self, sc: &Syscall) -> R<Ret> {
        let name = sc.args.get(2).and_then(Arg::sym).unwrap_or("").to_string();
        let (_, s) = self.sock(sc)?;
        let (kind, o) = (s.kind, s.opts);
        let cfg = self.cfg_for(&o);
        let conn = match kind {
            Kind::Conn(i) => Some(i),
            _ => None,
        };
        let v: i64 = match name.as_str() {
            "TCP_MAXSEG" => match conn {
                Some(i) if !matches!(self.state(i), State::SynSent | State::Closed) => {
                    let now = self.now;
                    self.conn(i)
                        .map_or(i64::from(cfg.mss), |c| i64::from(c.tcp_info(now).snd_mss))
                }
                _ => i64::from(cfg.mss),
            },
            "SO_ERROR" => {
                let r = conn.and_then(|i| self.reason(i));
                let (_, s) = self.sock(sc)?;
                let e = match r {
                    Some(CloseReason::Refused) if !s.err_reported => 111,
                    Some(CloseReason::Unreachable) if !s.err_reported => 113,
                    Some(CloseReason::TimedOut) if !s.err_reported => 110,
                    Some(CloseReason::Reset) if !s.err_reported => 104,
                    _ => 0,
                };
                if e != 0 {
                    s.err_reported = true;
                }
                e
            }
            "SO_RCVBUF" => cfg.recv_buffer as i64,
            "SO_SNDBUF" => cfg.send_buffer as i64,
            "TCP_NODELAY" => i64::from(o.nodelay),
            "TCP_CORK" => i64::from(o.cork),
            "SO_KEEPALIVE" => i64::from(o.keepalive),
            "TCP_USER_TIMEOUT" => o.user_timeout.map_or(0, |d| d.as_millis() as i64),
            "TCP_KEEPIDLE" => self.keepalive_of(&o).idle.as_secs() as i64,
            "TCP_KEEPINTVL" => self.keepalive_of(&o).interval.as_secs() as i64,
            "TCP_KEEPCNT" => i64::from(self.keepalive_of(&o).probes),
            "TCP_INFO" => {
                let Some(i) = conn else {
                    return skip("TCP_INFO on a socket without a connection");
                };
                let now = self.now;
                let Some(c) = self.conn(i) else {
                    return skip("TCP_INFO of a connection the endpoint no longer holds");
                };
                let info = c.tcp_info(now);
                let text = match sc.args.get(3) {
                    Some(Arg::Other(t)) => t.clone(),
                    _ => String::new(),
                };
                let fields = info.fields();
                for kv in text.trim_matches(|c| c == '{' || c == '}').split(',') {
                    let Some((k, v)) = kv.split_once('=') else {
                        continue;
                    };
                    let k = k.trim().trim_start_matches("tcpi_");
                    let Some((_, got)) = fields.iter().find(|(n, _)| *n == k) else {
                        return skip(format!("tcp_info field tcpi_{k} is not modeled"));
                    };
                    let want = v.trim();
                    if want != "..." && want.parse::<i64>().ok() != Some(*got) {
                        return fail(format!("tcpi_{k} is {got}, expected {want}"));
                    }
                }
                return Ok(Ret::Done(0, None));
            }
            _ => return skip(format!("socket option {name} (getsockopt) is not modeled")),
        };
        self.check_out_arg(sc, 3, v)?;
        Ok(Ret::Done(0, None))
    }

    fn python(&mut self, src: &str) -> R<()> {
        let Some(i) = self.last_conn else {
            return skip("python block without a connection");
        };
        let now = self.now;
        let Some(c) = self.conn(i) else {
            return skip("tcp_info of a connection the endpoint no longer holds (TIME-WAIT)");
        };
        let info = c.tcp_info(now);
        let mut vars: HashMap<String, i64> = info
            .fields()
            .iter()
            .map(|(k, v)| (format!("tcpi_{k}"), *v))
            .chain(self.py_names.iter().map(|(k, v)| (k.clone(), *v)))
            .collect();
        for (k, v) in [
            ("TCP_ESTABLISHED", 1),
            ("TCP_SYN_SENT", 2),
            ("TCP_SYN_RECV", 3),
            ("TCP_FIN_WAIT1", 4),
            ("TCP_FIN_WAIT2", 5),
            ("TCP_TIME_WAIT", 6),
            ("TCP_CLOSE", 7),
            ("TCP_CLOSE_WAIT", 8),
            ("TCP_LAST_ACK", 9),
            ("TCP_LISTEN", 10),
            ("TCP_CLOSING", 11),
            ("TCP_CA_Open", 0),
            ("TCP_CA_Disorder", 1),
            ("TCP_CA_CWR", 2),
            ("TCP_CA_Recovery", 3),
            ("TCP_CA_Loss", 4),
        ] {
            vars.insert(k.into(), v);
        }
        match python::run(src, &mut vars, &mut self.py_names) {
            PyResult::Ok => Ok(()),
            PyResult::Failed(m) => fail(m),
            PyResult::Unsupported(m) => skip(m),
        }
    }
}

fn join(o: &[Opt]) -> String {
    o.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn errno_num(s: &str) -> Option<i64> {
    Some(match s {
        "ECONNREFUSED" => 111,
        "EHOSTUNREACH" => 113,
        "ETIMEDOUT" => 110,
        "ECONNRESET" => 104,
        "EPIPE" => 32,
        _ => return None,
    })
}

/// The options of a segment as they go on the wire, in order.
fn raw_options(s: &Segment) -> Vec<Opt> {
    let mut hdr = s.clone();
    hdr.payload = Default::default();
    let addrs = IpPair::V4 {
        src: [192, 168, 0, 1],
        dst: [192, 0, 2, 1],
    };
    let mut buf = [0u8; 64];
    let Ok(n) = hdr.encode(&mut buf, &addrs, ChecksumMode::Skip) else {
        return Vec::new();
    };
    let off = usize::from(buf[12] >> 4) * 4;
    let b = &buf[20..off.min(n)];
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0 => {
                out.push(Opt::Eol);
                i += 1;
            }
            1 => {
                out.push(Opt::Nop);
                i += 1;
            }
            k => {
                let l = usize::from(*b.get(i + 1).unwrap_or(&2)).max(2);
                let d = &b[(i + 2).min(b.len())..(i + l).min(b.len())];
                let be = |x: &[u8]| x.iter().fold(0u32, |a, y| (a << 8) | u32::from(*y));
                out.push(match k {
                    2 => Opt::Mss(be(d) as u16),
                    3 => Opt::Wscale(d.first().copied().unwrap_or(0)),
                    4 => Opt::SackOk,
                    5 => Opt::Sack(d.chunks(8).map(|c| (be(&c[..4]), be(&c[4..]))).collect()),
                    8 => Opt::Ts(be(&d[..4]), be(&d[4..])),
                    _ => Opt::Eol,
                });
                i += l;
            }
        }
    }
    out
}

/// Whether a read or write call names `NULL` as its buffer.
fn null_buffer(sc: &Syscall) -> bool {
    matches!(sc.args.get(1), Some(Arg::Sym(b)) if b == "NULL")
}

/// Whether an emitted IP ECN field is what the script's `[...]` asks for.
fn ecn_matches(want: EcnField, got: Ecn) -> bool {
    match want {
        EcnField::NotEct => got == Ecn::NotEct,
        EcnField::Ect0 => got == Ecn::Ect0,
        EcnField::Ect1 => got == Ecn::Ect1,
        EcnField::Ect01 => matches!(got, Ecn::Ect0 | Ecn::Ect1),
        EcnField::Ce => got == Ecn::Ce,
    }
}
