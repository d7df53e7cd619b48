//! An HTTP/1.1 file server on tcp-proto, driven by tokio over a TUN device:
//! plain tokio IO, no web framework.
//!
//! ```text
//! sudo ip netns add tcpp-demo
//! sudo ip netns exec tcpp-demo cargo run -p tcp-proto-tokio --example http_server -- DIR [--dev tcpp0] [--port 80]
//! # in another shell, from the kernel side of the TUN:
//! sudo ip netns exec tcpp-demo curl -o copy.bin http://192.0.2.2/file.bin
//! sudo ip netns exec tcpp-demo curl -I 'http://[2001:db8::2]/'
//! sudo ip netns del tcpp-demo
//! ```
//!
//! It serves the files under `DIR` (`/` and other directories: their
//! `index.html`) over IPv4 and IPv6 until Ctrl-C. GET and HEAD, with
//! `Content-Length`, `Content-Type` from the extension, `Date`, persistent
//! connections (HTTP/1.1 by default, HTTP/1.0 with `Connection:
//! keep-alive`) and pipelined requests; 404 for anything that is not a
//! regular file under `DIR`: `..` segments, and symbolic links leading out
//! of it, are refused. One line per request on stderr.
//!
//! Ctrl-C stops it gracefully: new connections are refused (RST), idle
//! ones are closed, responses in progress are finished (for up to 60 s; a
//! second Ctrl-C cuts that short) and sent with `Connection: close`, then
//! [`Stack::shutdown`](tcp_proto_tokio::Stack::shutdown) delivers every
//! queued tail and FIN before the program exits.
//!
//! The TUN device (root or CAP_NET_ADMIN) gives the kernel 192.0.2.1/24 and
//! 2001:db8::1/64; the server answers as 192.0.2.2 and 2001:db8::2
//! (documentation addresses). The device disappears when the program exits.

mod common;

use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Args, exit_code, stack_on_new_tun};
use tcp_proto_tokio::{TcpListener, TcpStream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// A persistent connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(60);
/// Octets moved per write of a file into the connection.
const CHUNK: usize = 64 * 1024;
/// After Ctrl-C, how long responses in progress may take to finish.
const GRACE: Duration = Duration::from_secs(60);
/// Then, how long the connections may take to deliver their tails and close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request head.
struct Request {
    method: String,
    target: String,
    keep_alive: bool,
    /// `Content-Length` of a request body (read and discarded).
    body: u64,
}

/// Why a request is answered with an error status (and the connection
/// closed): the request head could not be used.
struct Refusal(u16);

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Parses a request head (request line, header lines, empty line).
fn parse_request(head: &[u8]) -> Result<Request, Refusal> {
    let head = std::str::from_utf8(head).map_err(|_| Refusal(400))?;
    // Lines end in CRLF; a bare LF is accepted too (RFC 9112 §2.2).
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (first.next(), first.next(), first.next(), first.next())
    else {
        return Err(Refusal(400));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(Refusal(505)),
        _ => return Err(Refusal(400)),
    };
    let (mut close, mut keep, mut body) = (false, false, 0u64);
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(Refusal(400))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().map_err(|_| Refusal(400))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // A body of unknown length: no way to find the next request.
            return Err(Refusal(501));
        }
    }
    Ok(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        keep_alive: !close && (http11 || keep),
        body,
    })
}

/// The value of one hex digit.
fn hex(d: u8) -> Option<u8> {
    (d as char).to_digit(16).map(|v| v as u8)
}

/// The file a request target names under `root` (canonical), or `None`:
/// not an absolute path, a `..` segment, a NUL, a path that leaves `root`
/// through a symbolic link, or no regular file there.
async fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    if !path.starts_with('/') {
        return None;
    }
    let mut rel = PathBuf::new();
    for seg in path.split('/') {
        // Percent-decoding per segment: an encoded '/' stays inside it
        // and is then refused below, like a NUL.
        let mut raw = Vec::with_capacity(seg.len());
        let mut b = seg.bytes();
        while let Some(c) = b.next() {
            raw.push(if c == b'%' {
                hex(b.next()?)? << 4 | hex(b.next()?)?
            } else {
                c
            });
        }
        match &raw[..] {
            b"" | b"." => {}
            b".." => return None,
            r if r.contains(&b'/') || r.contains(&0) => return None,
            r => rel.push(std::ffi::OsStr::from_bytes(r)),
        }
    }
    let mut full = tokio::fs::canonicalize(root.join(rel)).await.ok()?;
    if tokio::fs::metadata(&full).await.ok()?.is_dir() {
        full = tokio::fs::canonicalize(full.join("index.html"))
            .await
            .ok()?;
    }
    let is_file = tokio::fs::metadata(&full).await.ok()?.is_file();
    (is_file && full.starts_with(root)).then_some(full)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "md" | "rs" | "toml") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `now` as an HTTP date (RFC 9110 §5.6.7 IMF-fixdate).
fn http_date(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Writes a status line and the common headers.
async fn head(
    s: &mut BufReader<TcpStream>,
    status: u16,
    len: u64,
    ctype: &str,
    keep_alive: bool,
    extra: &str,
) -> io::Result<()> {
    let h = format!(
        "HTTP/1.1 {status} {}\r\nServer: tcp-proto-tokio\r\nDate: {}\r\nContent-Length: {len}\r\n\
         Content-Type: {ctype}\r\nConnection: {}\r\n{extra}\r\n",
        reason(status),
        http_date(SystemTime::now()),
        if keep_alive { "keep-alive" } else { "close" }
    );
    s.get_mut().write_all(h.as_bytes()).await
}

/// An error status with a short text body.
async fn error(
    s: &mut BufReader<TcpStream>,
    status: u16,
    with_body: bool,
    keep_alive: bool,
    extra: &str,
) -> io::Result<()> {
    let body = format!("{status} {}\n", reason(status));
    let ctype = "text/plain; charset=utf-8";
    head(s, status, body.len() as u64, ctype, keep_alive, extra).await?;
    if with_body {
        s.get_mut().write_all(body.as_bytes()).await?;
    }
    Ok(())
}

/// Reads one request head, up to and including its empty line:
/// `Ok(None)` at a clean EOF (or idle timeout, or the server stopping)
/// between requests.
async fn read_head(
    s: &mut BufReader<TcpStream>,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<Result<Option<Vec<u8>>, Refusal>> {
    let mut head = Vec::new();
    loop {
        // At most one octet past the limit: a peer cannot grow `head` further.
        let mut limited = (&mut *s).take((MAX_HEAD + 1 - head.len()) as u64);
        let between = head.is_empty();
        let read = tokio::time::timeout(IDLE, limited.read_until(b'\n', &mut head));
        let n = tokio::select! {
            r = read => match r {
                Ok(r) => r?,
                Err(_) if between => return Ok(Ok(None)), // idle: close quietly
                Err(_) => return Ok(Err(Refusal(408))),
            },
            // Stopping: a connection between requests is closed now (one in
            // the middle of a request head gets its answer first).
            _ = stop.wait_for(|&s| s), if between => return Ok(Ok(None)),
        };
        if n == 0 {
            return if head.is_empty() {
                Ok(Ok(None))
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.len() > MAX_HEAD {
            return Ok(Err(Refusal(431)));
        }
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        if head == b"\r\n" || head == b"\n" {
            head.clear();
        } else if head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(Ok(Some(head)));
        }
    }
}

/// One connection: requests until the client closes, asks to close, idles
/// or sends something unusable. Returns how many requests it answered.
async fn serve(
    s: TcpStream,
    from: SocketAddr,
    root: Arc<PathBuf>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<u32> {
    let mut s = BufReader::with_capacity(MAX_HEAD, s);
    let mut answered = 0;
    loop {
        let req = match read_head(&mut s, &mut stop).await? {
            Ok(None) => break,
            Ok(Some(h)) => parse_request(&h),
            Err(r) => Err(r),
        };
        let req = match req {
            // The server is stopping: this is the connection's last answer.
            Ok(r) => Request {
                keep_alive: r.keep_alive && !*stop.borrow(),
                ..r
            },
            Err(Refusal(status)) => {
                eprintln!("{from} - {status}");
                error(&mut s, status, true, false, "").await?;
                break;
            }
        };
        // A body we do not want: read past it to the next request.
        let skipped = tokio::io::copy(&mut (&mut s).take(req.body), &mut tokio::io::sink()).await?;
        if skipped < req.body {
            break;
        }
        let is_head = req.method == "HEAD";
        let (status, sent) = if req.method != "GET" && !is_head {
            let allow = "Allow: GET, HEAD\r\n";
            error(&mut s, 405, true, req.keep_alive, allow).await?;
            (405, 0)
        } else if let Some((path, mut file, len)) = open(&root, &req.target).await {
            head(&mut s, 200, len, content_type(&path), req.keep_alive, "").await?;
            let sent = if is_head {
                0
            } else {
                let mut file = BufReader::with_capacity(CHUNK, (&mut file).take(len));
                tokio::io::copy_buf(&mut file, s.get_mut()).await?
            };
            if sent < len && !is_head {
                // The file shrank under us: the length we promised is a lie.
                eprintln!("{from} {} {} 200 cut short", req.method, req.target);
                break;
            }
            (200, sent)
        } else {
            error(&mut s, 404, !is_head, req.keep_alive, "").await?;
            (404, 0)
        };
        eprintln!("{from} {} {} {status} {sent}", req.method, req.target);
        answered += 1;
        if !req.keep_alive {
            break;
        }
    }
    // Dropping the stream sends our FIN after everything queued.
    Ok(answered)
}

/// The file for `target` under `root`, opened, with its length.
async fn open(root: &Path, target: &str) -> Option<(PathBuf, tokio::fs::File, u64)> {
    let path = resolve(root, target).await?;
    let file = tokio::fs::File::open(&path).await.ok()?;
    let len = file.metadata().await.ok()?.len();
    Some((path, file, len))
}

async fn run() -> Result<(), String> {
    let args = Args::parse(&["--dev", "--port"])?;
    let [dir] = &args.positional[..] else {
        return Err("usage: http_server DIR [--dev NAME] [--port N]".into());
    };
    let root = std::fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}"))?;
    if !root.is_dir() {
        return Err(format!("{dir}: not a directory"));
    }
    let dev_name = args.get("--dev", "tcpp0");
    let port: u16 = args.num("--port", 80)?;
    let stack = stack_on_new_tun(&dev_name)?;
    let listener =
        TcpListener::bind(&stack, None, port, 1024).map_err(|e| format!("listen: {e}"))?;
    let root = Arc::new(root);
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    eprintln!(
        "http_server: serving {} on http://192.0.2.2:{port}/ and http://[2001:db8::2]:{port}/ \
         via {dev_name}; Ctrl-C stops",
        root.display()
    );
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (s, from) = r.map_err(|e| format!("accept: {e}"))?;
                let (root, stopping) = (root.clone(), stopping.clone());
                tasks.spawn(async move {
                    if let Err(e) = serve(s, from, root, stopping).await {
                        eprintln!("{from}: {e}");
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Graceful stop: refuse new connections, let the answers in progress
    // finish, then let the stack deliver every tail and FIN.
    drop(listener);
    let _ = stop.send(true);
    eprintln!(
        "http_server: Ctrl-C, finishing {} connection(s) (Ctrl-C again to cut short)",
        tasks.len()
    );
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = tokio::time::sleep(GRACE) => eprintln!("http_server: grace period over"),
        _ = tokio::signal::ctrl_c() => eprintln!("http_server: Ctrl-C again"),
    }
    // Whatever is still running drops its stream: data written so far and a FIN.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let summary = stack.shutdown(CLOSE_TIMEOUT).await;
    eprintln!(
        "http_server: stopped: {} connection(s) closing, {} closed, {} reset, {} failed, in {:?}",
        summary.connections, summary.closed, summary.reset, summary.failed, summary.elapsed
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    exit_code("http_server", run().await)
}
