//! The packetdrill script language: statements, times, packets, system
//! calls, shell commands and Python blocks (README §1). Parsing only.

use std::fmt;

/// Microseconds.
pub type Usecs = i64;

/// The time column (README §1.2).
#[derive(Clone, Debug, PartialEq)]
pub struct Time {
    /// `*`: any time.
    pub any: bool,
    /// The start is relative to the previous event.
    pub rel: bool,
    /// Start, µs.
    pub start: Usecs,
    /// `~`: a range; the end and whether it is relative.
    pub range_end: Option<(bool, Usecs)>,
    /// `...`: a blocking call returning at this time (same base as the start).
    pub block_end: Option<Usecs>,
}

impl Time {
    /// `+0`: what a line without a time column means.
    pub fn now() -> Time {
        Time {
            any: false,
            rel: true,
            start: 0,
            range_end: None,
            block_end: None,
        }
    }
}

/// One TCP option as a script writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    /// `nop`
    Nop,
    /// `eol`
    Eol,
    /// `mss N`
    Mss(u16),
    /// `wscale N`
    Wscale(u8),
    /// `sackOK`
    SackOk,
    /// `sack a:b c:d`
    Sack(Vec<(u32, u32)>),
    /// `TS val V ecr E`
    Ts(u32, u32),
}

impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opt::Nop => write!(f, "nop"),
            Opt::Eol => write!(f, "eol"),
            Opt::Mss(m) => write!(f, "mss {m}"),
            Opt::Wscale(w) => write!(f, "wscale {w}"),
            Opt::SackOk => write!(f, "sackOK"),
            Opt::Sack(b) => {
                write!(f, "sack")?;
                for (l, r) in b {
                    write!(f, " {l}:{r}")?;
                }
                Ok(())
            }
            Opt::Ts(v, e) => write!(f, "TS val {v} ecr {e}"),
        }
    }
}

/// Flag bits as in the TCP header.
pub mod flag {
    /// FIN
    pub const F: u8 = 0x01;
    /// SYN
    pub const S: u8 = 0x02;
    /// RST
    pub const R: u8 = 0x04;
    /// PSH
    pub const P: u8 = 0x08;
    /// ACK
    pub const A: u8 = 0x10;
    /// URG
    pub const U: u8 = 0x20;
    /// ECE
    pub const E: u8 = 0x40;
    /// CWR
    pub const W: u8 = 0x80;
}

/// Flags in tcpdump style (`S.`, `P.`, `F.`, `R`, `-`).
pub fn flags_str(f: u8) -> String {
    let mut s = String::new();
    for (b, c) in [
        (flag::S, 'S'),
        (flag::F, 'F'),
        (flag::R, 'R'),
        (flag::P, 'P'),
        (flag::U, 'U'),
        (flag::E, 'E'),
        (flag::W, 'W'),
        (flag::A, '.'),
    ] {
        if f & b != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// A packet line (README §1.3).
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// `<` (true): injected; `>`: expected from the stack.
    pub inbound: bool,
    /// Flag bits.
    pub flags: u8,
    /// Sequence range start (script space).
    pub start: u32,
    /// Payload length.
    pub len: u32,
    /// `ack N`.
    pub ack: Option<u32>,
    /// `win N` (raw field).
    pub win: Option<u32>,
    /// `urg N`.
    pub urg: Option<u32>,
    /// `None` for `<...>` (any options); `Some(vec![])` for no list.
    pub options: Option<Vec<Opt>>,
    /// The IP ECN field in brackets before the flags (`[ect0]`, `[ce]`,
    /// ...); `None` when the script leaves it out (not checked, Not-ECT
    /// when injected).
    pub ecn: Option<EcnField>,
}

/// An IP ECN field as scripts write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcnField {
    /// `[noecn]`: Not-ECT.
    NotEct,
    /// `[ect0]`.
    Ect0,
    /// `[ect1]`.
    Ect1,
    /// `[ect01]`: either ECT codepoint.
    Ect01,
    /// `[ce]`.
    Ce,
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}:{}({})",
            if self.inbound { '<' } else { '>' },
            flags_str(self.flags),
            self.start,
            self.start.wrapping_add(self.len),
            self.len
        )?;
        if let Some(a) = self.ack {
            write!(f, " ack {a}")?;
        }
        if let Some(w) = self.win {
            write!(f, " win {w}")?;
        }
        match &self.options {
            None => write!(f, " <...>"),
            Some(o) if o.is_empty() => Ok(()),
            Some(o) => {
                let v: Vec<String> = o.iter().map(|x| x.to_string()).collect();
                write!(f, " <{}>", v.join(","))
            }
        }
    }
}

/// A system-call argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// `...`
    Ellipsis,
    /// A number.
    Int(i64),
    /// A symbol or an expression of symbols (`O_RDWR|O_NONBLOCK`).
    Sym(String),
    /// `[x]`: a pointer to a value.
    Ptr(Box<Arg>),
    /// Anything else (structs, strings), kept as text.
    Other(String),
}

impl Arg {
    /// The integer, if the argument is one (or a pointer to one).
    pub fn int(&self) -> Option<i64> {
        match self {
            Arg::Int(i) => Some(*i),
            Arg::Ptr(a) => a.int(),
            _ => None,
        }
    }
    /// The symbol text, if the argument is one.
    pub fn sym(&self) -> Option<&str> {
        match self {
            Arg::Sym(s) => Some(s),
            _ => None,
        }
    }
}

/// A system-call line: `name(args) = ret [ERRNO (text)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    /// Call name.
    pub name: String,
    /// Arguments.
    pub args: Vec<Arg>,
    /// Expected return value; `None` for `...`.
    pub ret: Option<i64>,
    /// Expected errno name.
    pub errno: Option<String>,
}

/// What an event does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A packet line.
    Packet(Packet),
    /// A system call.
    Syscall(Syscall),
    /// A back-quoted shell command.
    Shell(String),
    /// A `%{ }%` Python block.
    Python(String),
    /// An injected ICMP error: `< icmp <type> [<code>] [mtu N] [[a:b(n)]]`.
    Icmp(IcmpLine),
}

/// An injected ICMP message about a segment the stack sent.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpLine {
    /// What it says (ICMPv4 unless the type is `packet_too_big`).
    pub error: tcp_proto::IcmpError,
    /// Start of the quoted segment's sequence range in script space
    /// (`None`: the last segment the stack sent).
    pub seq: Option<u32>,
}

/// One timed event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Line in the file (1-based).
    pub line: usize,
    /// The time column.
    pub time: Time,
    /// The action.
    pub action: Action,
    /// The source text (for messages).
    pub text: String,
}

/// A parsed script.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// `--name=value` lines.
    pub options: Vec<(String, String)>,
    /// Shell commands before the first event (the init command).
    pub init: Vec<String>,
    /// The events.
    pub events: Vec<Event>,
}

/// A parse error: line and message.
pub type ParseError = (usize, String);

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Script, ParseError> {
    let mut script = Script::default();
    for (line, stmt) in statements(src) {
        let s = stmt.trim();
        if let Some(body) = s.strip_prefix("--") {
            let (k, v) = body.split_once('=').unwrap_or((body, ""));
            script
                .options
                .push((k.trim().to_string(), v.trim().to_string()));
            continue;
        }
        if let Some(d) = s.strip_prefix("-D") {
            script.options.push(("define".into(), d.trim().to_string()));
            continue;
        }
        if s.starts_with('`') && script.events.is_empty() {
            script.init.push(strip_backticks(s));
            continue;
        }
        let ev = parse_event(line, s)?;
        script.events.push(ev);
    }
    Ok(script)
}

fn strip_backticks(s: &str) -> String {
    s.trim()
        .trim_start_matches('`')
        .trim_end_matches('`')
        .to_string()
}

/// Splits the source into logical statements with their first line,
/// dropping comments and joining lines inside backticks, `%{ }%` and
/// brackets.
fn statements(src: &str) -> Vec<(usize, String)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_line = 1;
    let mut line = 1;
    let (mut tick, mut py, mut depth, mut quote) = (false, false, 0i32, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if !tick && !py && !quote {
            if c == '/' && next == '/' {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            if c == '/' && next == '*' {
                i += 2;
                while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
        }
        if cur.trim().is_empty() && !c.is_whitespace() {
            cur_line = line;
        }
        match c {
            '`' if !py && !quote => tick = !tick,
            '%' if !tick && !quote && next == '{' => py = true,
            '}' if py && next == '%' => {
                cur.push('}');
                cur.push('%');
                i += 2;
                py = false;
                continue;
            }
            '"' if !tick && !py => quote = !quote,
            '(' | '[' | '{' if !tick && !py && !quote => depth += 1,
            ')' | ']' | '}' if !tick && !py && !quote => depth -= 1,
            _ => {}
        }
        if c == '\n' {
            line += 1;
            if !tick && !py && !quote && depth <= 0 {
                if !cur.trim().is_empty() {
                    out.push((cur_line, std::mem::take(&mut cur)));
                }
                cur.clear();
                depth = 0;
                i += 1;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push((cur_line, cur));
    }
    out
}

/// Parses seconds (`0.100`, `.1`, `1`) into µs.
fn secs(s: &str) -> Option<Usecs> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    let i: i64 = if i.is_empty() { 0 } else { i.parse().ok()? };
    let mut frac = 0i64;
    let mut scale = 100_000i64;
    for ch in f.chars().take(6) {
        frac += i64::from(ch.to_digit(10)?) * scale;
        scale /= 10;
    }
    let v = i * 1_000_000 + frac;
    Some(if neg { -v } else { v })
}

/// Splits a leading time column off an event line.
fn split_time(s: &str) -> Result<(Time, &str), String> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('*') {
        let mut t = Time::now();
        t.any = true;
        return Ok((t, rest));
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first == '+' || first == '.' || first.is_ascii_digit()) {
        return Ok((Time::now(), s));
    }
    // The time column may be spaced out, `+0 ... 0.010` or `+.1 ~ +.2`, as
    // packetdrill's lexer skips blanks between its tokens: join the pieces.
    let word = |s: &str| s.find(char::is_whitespace).unwrap_or(s.len());
    let (first, mut rest) = s.split_at(word(s));
    let mut tok = first.to_string();
    loop {
        let r = rest.trim_start();
        let open = tok.ends_with("...") || tok.ends_with('~');
        if !(open || r.starts_with("...") || r.starts_with('~')) || r.is_empty() {
            break;
        }
        let (w, after) = r.split_at(word(r));
        tok.push_str(w);
        rest = after;
    }
    let tok = tok.as_str();
    let one = |t: &str| -> Result<(bool, Usecs), String> {
        let (rel, num) = match t.strip_prefix('+') {
            Some(n) => (true, n),
            None => (false, t),
        };
        secs(num)
            .map(|v| (rel, v))
            .ok_or_else(|| format!("bad time `{t}`"))
    };
    let mut t = Time::now();
    if let Some((a, b)) = tok.split_once("...") {
        let (rel, v) = one(a)?;
        t.rel = rel;
        t.start = v;
        t.block_end = Some(secs(b).ok_or_else(|| format!("bad time `{b}`"))?);
    } else if let Some((a, b)) = tok.split_once('~') {
        let (rel, v) = one(a)?;
        t.rel = rel;
        t.start = v;
        t.range_end = Some(one(b)?);
    } else {
        let (rel, v) = one(tok)?;
        t.rel = rel;
        t.start = v;
    }
    Ok((t, rest))
}

fn parse_event(line: usize, s: &str) -> Result<Event, ParseError> {
    let (time, rest) = split_time(s).map_err(|e| (line, e))?;
    let rest = rest.trim();
    let action = if let Some(icmp) = rest
        .strip_prefix('<')
        .map(str::trim)
        .and_then(|r| r.strip_prefix("icmp "))
    {
        Action::Icmp(parse_icmp(icmp).map_err(|e| (line, e))?)
    } else if rest.starts_with('<') || rest.starts_with('>') {
        Action::Packet(parse_packet(rest).map_err(|e| (line, e))?)
    } else if rest.starts_with('`') {
        Action::Shell(strip_backticks(rest))
    } else if let Some(py) = rest.strip_prefix("%{") {
        Action::Python(py.trim_end().trim_end_matches("}%").to_string())
    } else {
        Action::Syscall(parse_syscall(rest).map_err(|e| (line, e))?)
    };
    Ok(Event {
        line,
        time,
        action,
        text: s.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// The words after `< icmp`, named as packetdrill names them.
fn parse_icmp(s: &str) -> Result<IcmpLine, String> {
    use tcp_proto::IcmpError;
    let mut toks = s.split_whitespace().peekable();
    let ty = toks.next().ok_or("icmp without a type")?;
    let mut code = None;
    let mut mtu = 0u32;
    let mut seq = None;
    while let Some(t) = toks.next() {
        if t == "mtu" {
            mtu = num(toks.next().ok_or("mtu without a value")?)?;
        } else if let Some(r) = t.strip_prefix('[') {
            let r = r
                .strip_suffix(']')
                .ok_or_else(|| format!("bad quoted range `{t}`"))?;
            let (a, _) = r
                .split_once(':')
                .ok_or_else(|| format!("bad quoted range `{t}`"))?;
            seq = Some(num::<i64>(a)? as u32);
        } else if code.is_none() {
            code = Some(t);
        } else {
            return Err(format!("unsupported: icmp word `{t}`"));
        }
    }
    let code_of = |names: &[&str]| -> Result<u8, String> {
        match code {
            None => Ok(0),
            Some(c) => names
                .iter()
                .position(|n| *n == c)
                .map(|i| i as u8)
                .ok_or_else(|| format!("unsupported: icmp code `{c}`")),
        }
    };
    let error = match ty {
        "unreachable" => {
            let c = code_of(&[
                "net_unreachable",
                "host_unreachable",
                "protocol_unreachable",
                "port_unreachable",
                "frag_needed",
                "source_route_failed",
                "net_unknown",
                "host_unknown",
                "source_host_isolated",
                "net_prohibited",
                "host_prohibited",
                "net_unreachable_for_tos",
                "host_unreachable_for_tos",
                "packet_filtered",
                "precedence_violation",
                "precedence_cutoff",
            ])?;
            IcmpError::from_icmpv4(3, c, mtu.min(0xffff) as u16)
        }
        "source_quench" => IcmpError::from_icmpv4(4, 0, 0),
        "time_exceeded" => IcmpError::from_icmpv4(11, code_of(&["ttl_exceeded", "reassembly"])?, 0),
        "parameter_problem" => IcmpError::from_icmpv4(12, 0, 0),
        "packet_too_big" => IcmpError::from_icmpv6(2, 0, mtu),
        _ => return Err(format!("unsupported: icmp type `{ty}`")),
    };
    let error = error.ok_or_else(|| format!("unsupported: icmp `{s}`"))?;
    Ok(IcmpLine { error, seq })
}

fn num<T: TryFrom<i64>>(s: &str) -> Result<T, String> {
    let s = s.trim();
    let v = if let Some(h) = s.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else {
        s.parse::<i64>().ok()
    };
    v.and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("bad number `{s}`"))
}

fn parse_packet(s: &str) -> Result<Packet, String> {
    let inbound = s.starts_with('<');
    let body = s[1..].trim();
    // The options list is the first `<` after the direction.
    let (head, opts) = match body.find('<') {
        Some(i) => {
            let o = body[i + 1..].trim_end();
            let o = o
                .strip_suffix('>')
                .ok_or_else(|| "unterminated option list".to_string())?;
            (&body[..i], Some(o))
        }
        None => (body, None),
    };
    let mut toks = head.split_whitespace().peekable();
    let mut ecn = None;
    if let Some(t) = toks.next_if(|t| t.starts_with('[')) {
        ecn = Some(match t {
            "[noecn]" => EcnField::NotEct,
            "[ect0]" => EcnField::Ect0,
            "[ect1]" => EcnField::Ect1,
            "[ect01]" => EcnField::Ect01,
            "[ce]" => EcnField::Ce,
            _ => return Err(format!("unsupported: IP-header field {t}")),
        });
    }
    let ftok = toks.next().ok_or("missing flags")?;
    let mut flags = 0u8;
    for c in ftok.chars() {
        flags |= match c {
            'S' => flag::S,
            'F' => flag::F,
            'R' => flag::R,
            'P' => flag::P,
            '.' => flag::A,
            'U' => flag::U,
            'E' => flag::E,
            'W' => flag::W,
            '-' => 0,
            _ => return Err(format!("unsupported: flags `{ftok}` (AccECN/AE)")),
        };
    }
    let range = toks.next().ok_or("missing sequence range")?;
    let (se, len) = range
        .strip_suffix(')')
        .and_then(|r| r.split_once('('))
        .ok_or_else(|| format!("bad sequence range `{range}`"))?;
    let (a, b) = se
        .split_once(':')
        .ok_or_else(|| format!("bad sequence range `{range}`"))?;
    let start: u32 = num::<i64>(a)? as u32;
    let end: u32 = num::<i64>(b)? as u32;
    let len: u32 = num(len)?;
    if end.wrapping_sub(start) != len {
        return Err(format!("bad sequence range `{range}`: end != start + len"));
    }
    let mut p = Packet {
        inbound,
        flags,
        start,
        len,
        ack: None,
        win: None,
        urg: None,
        options: Some(Vec::new()),
        ecn,
    };
    while let Some(t) = toks.next() {
        let v = toks
            .next()
            .ok_or_else(|| format!("`{t}` without a value"))?;
        match t {
            "ack" => p.ack = Some(num::<i64>(v)? as u32),
            "win" => p.win = Some(num(v)?),
            "urg" => p.urg = Some(num(v)?),
            _ => return Err(format!("unsupported packet field `{t}`")),
        }
    }
    if let Some(o) = opts {
        p.options = parse_options(o)?;
    }
    if inbound && p.options.is_none() {
        return Err("inbound packets may not use <...>".into());
    }
    if inbound && p.win.is_none() {
        return Err("inbound packets need `win`".into());
    }
    Ok(p)
}

fn parse_options(s: &str) -> Result<Option<Vec<Opt>>, String> {
    if s.trim() == "..." {
        return Ok(None);
    }
    let mut v = Vec::new();
    for item in s.split(',') {
        let w: Vec<&str> = item.split_whitespace().collect();
        let o = match w.as_slice() {
            ["nop"] => Opt::Nop,
            ["eol"] => Opt::Eol,
            ["mss", n] => Opt::Mss(num(n)?),
            ["wscale", n] => Opt::Wscale(num(n)?),
            ["sackOK"] => Opt::SackOk,
            ["sack", blocks @ ..] => {
                let mut b = Vec::new();
                for x in blocks {
                    let (l, r) = x.split_once(':').ok_or("bad sack block")?;
                    b.push((num::<i64>(l)? as u32, num::<i64>(r)? as u32));
                }
                Opt::Sack(b)
            }
            ["TS", "val", a, "ecr", b] => Opt::Ts(num::<i64>(a)? as u32, num::<i64>(b)? as u32),
            _ => return Err(format!("unsupported: TCP option `{}`", item.trim())),
        };
        v.push(o);
    }
    Ok(Some(v))
}

/// Splits on commas outside brackets, braces, parentheses and quotes.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut q) = (0, false);
    for c in s.chars() {
        match c {
            '"' => q = !q,
            '(' | '[' | '{' if !q => depth += 1,
            ')' | ']' | '}' if !q => depth -= 1,
            ',' if depth == 0 && !q => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn parse_arg(s: &str) -> Arg {
    let s = s.trim();
    if s == "..." {
        return Arg::Ellipsis;
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return Arg::Ptr(Box::new(parse_arg(inner)));
    }
    if let Ok(i) = num::<i64>(s) {
        return Arg::Int(i);
    }
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '|' || c == ' ')
    {
        return Arg::Sym(s.replace(' ', ""));
    }
    Arg::Other(s.to_string())
}

fn parse_syscall(s: &str) -> Result<Syscall, String> {
    let open = s.find('(').ok_or_else(|| format!("not an event: `{s}`"))?;
    let name = s[..open].trim().to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("not an event: `{s}`"));
    }
    // The matching parenthesis.
    let mut depth = 0;
    let mut close = None;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.ok_or("unbalanced parentheses")?;
    let args = split_top(&s[open + 1..close])
        .iter()
        .map(|a| parse_arg(a))
        .collect();
    let rest = s[close + 1..].trim();
    let rest = rest
        .strip_prefix('=')
        .ok_or_else(|| format!("`{name}` without `= result`"))?
        .trim();
    let mut toks = rest.split_whitespace();
    let r = toks.next().ok_or("missing result")?;
    let ret = if r == "..." { None } else { Some(num(r)?) };
    let errno = toks
        .next()
        .filter(|e| !e.starts_with('('))
        .map(str::to_string);
    Ok(Syscall {
        name,
        args,
        ret,
        errno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_lines_parse_as_packetdrill_names_them() {
        use tcp_proto::{IcmpCause, IcmpError};
        let ev = |src: &str| parse_event(1, src).unwrap().action;
        assert_eq!(
            ev("+0 < icmp unreachable frag_needed mtu 1200 [1:1449(1448)]"),
            Action::Icmp(IcmpLine {
                error: IcmpError::PacketTooBig {
                    mtu: 1200,
                    ipv6: false
                },
                seq: Some(1),
            })
        );
        assert_eq!(
            ev("+.1 < icmp unreachable port_unreachable"),
            Action::Icmp(IcmpLine {
                error: IcmpError::Unreachable(IcmpCause::PortUnreachable),
                seq: None,
            })
        );
        assert_eq!(
            ev("0 < icmp time_exceeded [5000:6000(1000)]"),
            Action::Icmp(IcmpLine {
                error: IcmpError::Unreachable(IcmpCause::TimeExceeded),
                seq: Some(5000),
            })
        );
        assert!(parse_event(1, "0 < icmp unreachable no_such_code").is_err());
        assert!(parse_event(1, "0 < icmp echo_request").is_err());
    }

    #[test]
    fn times_parse_in_all_five_forms() {
        let (t, _) = split_time("+.1 x").unwrap();
        assert!(t.rel && t.start == 100_000);
        let (t, _) = split_time("0.300~0.400 x").unwrap();
        assert!(!t.rel && t.start == 300_000 && t.range_end == Some((false, 400_000)));
        let (t, _) = split_time("+0...0.200 accept()").unwrap();
        assert_eq!(t.block_end, Some(200_000));
        assert!(split_time("* > S").unwrap().0.any);
    }

    #[test]
    fn spaced_out_time_columns_parse_like_packed_ones() {
        for src in [
            "+.002 ... 0.004 connect(4, ..., ...) = 0",
            "+.002 ...0.004 connect(4, ..., ...) = 0",
            "+.002... 0.004 connect(4, ..., ...) = 0",
        ] {
            let (t, rest) = split_time(src).unwrap();
            assert!(t.rel && t.start == 2_000, "{src}");
            assert_eq!(t.block_end, Some(4_000), "{src}");
            assert_eq!(rest.trim(), "connect(4, ..., ...) = 0", "{src}");
        }
        let (t, rest) = split_time("+.1 ~ +.2 > P. 1:2(1) ack 1").unwrap();
        assert_eq!(t.range_end, Some((true, 200_000)));
        assert!(rest.trim().starts_with("> P."));
        let (t, rest) = split_time("+0 write(4, ..., 10) = 10").unwrap();
        assert!(t.block_end.is_none() && rest.trim().starts_with("write"));
    }
}
