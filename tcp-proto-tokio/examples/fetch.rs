//! An HTTP client on tcp-proto, driven by tokio over a TUN device: GETs a
//! URL from a server on the kernel side and writes the body to stdout or a
//! file.
//!
//! ```text
//! sudo ip netns add tcpp-demo
//! # a kernel server in the namespace (on every address: the TUN does not exist yet)
//! sudo ip netns exec tcpp-demo python3 -m http.server 8000 --bind :: --directory /usr/share/doc &
//! sudo ip netns exec tcpp-demo cargo run -p tcp-proto-tokio --example fetch -- http://192.0.2.1:8000/ -o index.html
//! sudo ip netns exec tcpp-demo cargo run -p tcp-proto-tokio --example fetch -- 'http://[2001:db8::1]:8000/'
//! kill %1; sudo ip netns del tcpp-demo
//! ```
//!
//! Usage: `fetch URL [-o FILE] [--dev tcpp0] [--timeout-s 60]`. The URL is
//! `http://HOST[:PORT]/PATH` with HOST an address on the TUN's kernel side
//! (192.0.2.1, or `[2001:db8::1]`; no DNS). The body is read by
//! `Content-Length`, or to the end of the connection when there is none.
//! A status other than 2xx, a short body or a timeout exits non-zero. The
//! status and the octet count go to stderr.
//!
//! The program creates the TUN device (root or CAP_NET_ADMIN); tcp-proto is
//! 192.0.2.2 and 2001:db8::2 on it, the kernel 192.0.2.1/24 and
//! 2001:db8::1/64 (documentation addresses). The device disappears when
//! the program exits.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{Args, exit_code, stack_on_new_tun};
use tcp_proto_tokio::TcpStream;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The longest response head accepted.
const MAX_HEAD: u64 = 64 * 1024;

/// `http://HOST[:PORT][/PATH]`: the server's address, the Host header and
/// the request target.
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed ["))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let ip: IpAddr = host
        .parse()
        .map_err(|_| format!("{url}: the host must be an IP address (no DNS here)"))?;
    let port: u16 = match port {
        Some(p) => p.parse().map_err(|e| format!("{url}: port: {e}"))?,
        None => 80,
    };
    Ok((
        SocketAddr::new(ip, port),
        authority.to_owned(),
        path.to_owned(),
    ))
}

/// Status code and `Content-Length` (if any) of a response head.
fn parse_head(head: &str) -> Result<(u16, Option<u64>), String> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad status line {status_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not HTTP/1.x: {status_line:?}"));
    }
    let code = code
        .parse()
        .map_err(|_| format!("bad status {status_line:?}"))?;
    let mut len = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        if name.eq_ignore_ascii_case("content-length") {
            len = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "Transfer-Encoding {} is not supported",
                value.trim()
            ));
        }
    }
    Ok((code, len))
}

/// Sends the request on `s`, writes the body to `out`; returns the status
/// and the octets written.
async fn fetch(
    s: TcpStream,
    host: &str,
    path: &str,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<(u16, u64), String> {
    let mut s = BufReader::new(s);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tcp-proto-fetch\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    s.get_mut()
        .write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    // Nothing more to send: a half-close, the response still comes.
    s.get_mut()
        .shutdown()
        .await
        .map_err(|e| format!("shutdown: {e}"))?;
    let mut head = Vec::new();
    loop {
        let mut limited = (&mut s).take(MAX_HEAD - head.len() as u64);
        let n = limited
            .read_until(b'\n', &mut head)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection ended inside the response head".into());
        }
        if head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
        if head.len() as u64 >= MAX_HEAD {
            return Err("response head too long".into());
        }
    }
    let head = String::from_utf8_lossy(&head);
    let (code, len) = parse_head(&head)?;
    if !(200..300).contains(&code) {
        return Err(format!(
            "server answered {}",
            head.lines().next().unwrap_or("")
        ));
    }
    let body: &mut (dyn AsyncRead + Unpin) = &mut s;
    let got = match len {
        Some(len) => tokio::io::copy(&mut body.take(len), out).await,
        None => tokio::io::copy(body, out).await,
    }
    .map_err(|e| format!("body: {e}"))?;
    out.flush().await.map_err(|e| format!("write: {e}"))?;
    if let Some(len) = len.filter(|&len| got < len) {
        return Err(format!("body cut short: {got} of {len} octets"));
    }
    Ok((code, got))
}

async fn run() -> Result<(), String> {
    let args = Args::parse(&["--dev", "-o", "--timeout-s"])?;
    let [url] = &args.positional[..] else {
        return Err("usage: fetch URL [-o FILE] [--dev NAME] [--timeout-s S]".into());
    };
    let (to, host, path) = parse_url(url)?;
    let limit = Duration::from_secs(args.num("--timeout-s", 60)?);
    let dev_name = args.get("--dev", "tcpp0");
    let stack = stack_on_new_tun(&dev_name)?;
    let start = Instant::now();
    let work = async {
        let s = TcpStream::connect(&stack, to)
            .await
            .map_err(|e| format!("connect {to}: {e}"))?;
        match args.get("-o", "-").as_str() {
            "-" => fetch(s, &host, &path, &mut tokio::io::stdout()).await,
            file => {
                let mut f = tokio::fs::File::create(file)
                    .await
                    .map_err(|e| format!("{file}: {e}"))?;
                fetch(s, &host, &path, &mut f).await
            }
        }
    };
    let (code, n) = tokio::time::timeout(limit, work)
        .await
        .map_err(|_| format!("no complete response within {limit:?}"))??;
    eprintln!(
        "fetch: {url}: {code}, {n} octets in {:.3} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    exit_code("fetch", run().await)
}
