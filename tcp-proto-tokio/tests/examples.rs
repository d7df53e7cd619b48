//! The HTTP examples, run as programs in a private network namespace
//! against Linux: a kernel `curl` downloads files from `http_server`
//! (IPv4 and IPv6, SHA-256 checked, keep-alive, HEAD, 404, no way out of
//! the served directory, Ctrl-C ends it gracefully: a download in progress
//! still completes, an idle connection gets a FIN), and `fetch` downloads from a
//! kernel HTTP server (SHA-256 checked; a 404 exits non-zero).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as KernelListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::netns::KernelNet;
use common::pattern;
use sha2::{Digest, Sha256};

/// The example `name`, next to this test's binary (built on demand when
/// the test runs alone).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let bin = dir.join("examples").join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "tcp-proto-tokio", "--example", name])
            .status()
            .expect("cargo build --example");
        assert!(st.success(), "cargo build --example {name} failed");
    }
    bin
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tcpp-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program started in the namespace (`ip netns exec` execs it, so the
/// child is the program): killed on drop if still running.
struct Program {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    fn start(net: &KernelNet, bin: &Path, args: &[&str]) -> Program {
        let mut child = Command::new("ip")
            .args(["netns", "exec", net.name()])
            .arg(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the example");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("example: {l}");
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Program {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most 30 s) for a stderr line containing `what`.
    fn wait_for(&mut self, what: &str) {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(what);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(e) => panic!("never printed {what:?} ({e}): {:?}", self.seen),
            }
        }
    }

    /// Waits (at most `limit`) for the exit; the lines printed meanwhile.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, Vec<String>) {
        let end = Instant::now() + limit;
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < end, "did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at the pipe's EOF.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        (st, std::mem::take(&mut self.seen))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `curl` is there, or the test is skipped loudly (a failure under CI=true).
fn have_curl(test: &str) -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: curl is required under CI=true"
        );
        eprintln!("SKIPPED {test}: no curl");
    }
    ok
}

/// Runs curl in the namespace: (exit success, stdout).
fn curl(net: &KernelNet, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            net.name(),
            "curl",
            "-sS",
            "--max-time",
            "60",
        ])
        .args(args)
        .output()
        .expect("run curl");
    if !out.status.success() {
        eprintln!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn sha256_file(p: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(p).unwrap()).into()
}

#[test]
fn kernel_curl_downloads_files_from_the_http_server_example() {
    let test = "kernel_curl_downloads_files_from_the_http_server_example";
    if !have_curl(test) {
        return;
    }
    let Some(net) = KernelNet::bare_or_skip(test) else {
        return;
    };
    let tmp = TempDir::new(test);
    let root = tmp.0.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big = pattern(13, 3_000_017);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("sub").join("index.html"), b"<p>sub</p>\n").unwrap();
    std::fs::write(tmp.0.join("secret.txt"), b"outside the root\n").unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("escape")).unwrap();

    let mut server = Program::start(
        &net,
        &example("http_server"),
        &[root.to_str().unwrap(), "--port", "8080"],
    );
    server.wait_for("serving");

    // Downloads over both families, checked by SHA-256.
    for (i, base) in ["http://192.0.2.2:8080", "http://[2001:db8::2]:8080"]
        .iter()
        .enumerate()
    {
        let out = tmp.0.join(format!("got{i}.bin"));
        let (ok, w) = curl(
            &net,
            &[
                "-o",
                out.to_str().unwrap(),
                "-w",
                "%{http_code} %{size_download}",
                &format!("{base}/big.bin"),
            ],
        );
        assert!(ok, "{base}: curl failed");
        assert_eq!(w, format!("200 {}", big.len()), "{base}");
        assert_eq!(
            sha256_file(&out),
            <[u8; 32]>::from(Sha256::digest(&big)),
            "{base}: SHA-256 of the download"
        );
    }

    // Two requests on one connection (keep-alive): the second connects 0 times.
    let (ok, w) = curl(
        &net,
        &[
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}:%{num_connects} ",
            "http://192.0.2.2:8080/sub/",
            "http://192.0.2.2:8080/big.bin",
        ],
    );
    assert!(ok);
    assert_eq!(w, "200:1 200:0 ", "keep-alive");

    // HEAD: the length without the body.
    let (ok, head) = curl(&net, &["-I", "http://[2001:db8::2]:8080/big.bin"]);
    assert!(ok);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", big.len())),
        "{head}"
    );

    // Nothing outside the root, nothing that is not there.
    for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/escape", "/nope"] {
        let (ok, w) = curl(
            &net,
            &[
                "--path-as-is",
                "-w",
                " %{http_code}",
                &format!("http://192.0.2.2:8080{path}"),
            ],
        );
        assert!(ok, "{path}");
        assert_eq!(w, "404 Not Found\n 404", "{path}");
    }

    // Pipelined requests are answered in order on one connection; the
    // one asking to close ends it. A method it does not serve is a 405.
    let raw = |req: &'static [u8]| {
        net.run_in(move || {
            let to: SocketAddr = "192.0.2.2:8080".parse().unwrap();
            let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10))?;
            s.set_read_timeout(Some(Duration::from_secs(20)))?;
            s.write_all(req)?;
            let mut r = Vec::new();
            s.read_to_end(&mut r)?;
            std::io::Result::Ok(String::from_utf8_lossy(&r).into_owned())
        })
        .expect("raw request")
    };
    let r = raw(
        b"GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
                  GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let statuses: Vec<_> = r.lines().filter(|l| l.starts_with("HTTP/1.1 ")).collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 404 Not Found"
        ],
        "{r}"
    );
    assert!(r.contains("\r\n\r\n<p>sub</p>\n"), "{r}");
    assert!(
        r.ends_with("Connection: close\r\n\r\n404 Not Found\n"),
        "{r}"
    );
    let r = raw(b"DELETE /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
    assert!(r.contains("\r\nAllow: GET, HEAD\r\n"), "{r}");
    assert!(root.join("big.bin").exists());

    // Ctrl-C in the middle of a slow download, with an idle keep-alive
    // connection open: the download completes (every octet, then the
    // server's FIN), the idle connection is closed with a FIN, the program
    // exits cleanly, and the device goes with it.
    let (connected_tx, connected) = mpsc::channel();
    let idle = net.spawn_in(move || -> std::io::Result<Vec<u8>> {
        let to: SocketAddr = "192.0.2.2:8080".parse().unwrap();
        let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10))?;
        let _ = connected_tx.send(());
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut r = Vec::new();
        s.read_to_end(&mut r)?; // EOF: a RST would be an error
        Ok(r)
    });
    connected
        .recv_timeout(Duration::from_secs(10))
        .expect("the idle connection is up");
    let (started_tx, started) = mpsc::channel();
    let slow = net.spawn_in(move || -> std::io::Result<(Vec<u8>, String)> {
        let to: SocketAddr = "192.0.2.2:8080".parse().unwrap();
        let mut s = slow_reader_connect(to)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut all = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if all.len() >= 256 * 1024 && all.len() - n < 256 * 1024 {
                let _ = started_tx.send(());
            }
            std::thread::sleep(Duration::from_millis(10)); // about 1.6 MB/s
        }
        let at = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&all[..at]).into_owned();
        Ok((all.split_off(at + 4), head))
    });
    started
        .recv_timeout(Duration::from_secs(20))
        .expect("the slow download started");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (body, head) = slow.join().unwrap().expect("slow download");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(
        body.len(),
        big.len(),
        "octets of the download cut by Ctrl-C"
    );
    assert!(body == big, "the download cut by Ctrl-C differs");
    assert_eq!(idle.join().unwrap().expect("idle connection"), b"");
    let (st, lines) = server.wait(Duration::from_secs(20));
    assert!(st.success(), "exit status {st}: {lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("GET /big.bin 200 3000017")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopped:") && l.contains(" 0 reset, 0 failed")),
        "{lines:?}"
    );
    assert!(net.ip(&["link", "show", "tcpp0"]).is_err(), "tcpp0 left");
}

/// A kernel connection to `to` with a small receive buffer (set before
/// `connect`, so the window stays small): a slow reader.
fn slow_reader_connect(to: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrStorage, connect, setsockopt, socket, sockopt,
    };
    let fam = if to.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(fam, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::RcvBuf, &(32 * 1024))?;
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(to),
    )?;
    Ok(std::net::TcpStream::from(fd))
}

/// A kernel HTTP/1.0-style server on every address of the namespace (the
/// example's TUN does not exist yet): answers `requests` requests, `/file`
/// with `body`, anything else 404.
fn kernel_http(net: &KernelNet, body: Vec<u8>, requests: usize) -> std::thread::JoinHandle<()> {
    let l = net
        .run_in(|| KernelListener::bind(SocketAddr::from(([0u16; 8], 8000))))
        .expect("kernel listener on [::]:8000");
    std::thread::spawn(move || {
        for _ in 0..requests {
            let (mut s, _) = l.accept().expect("kernel accept");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut b).unwrap() == 0 {
                    break;
                }
                head.push(b[0]);
            }
            let head = String::from_utf8_lossy(&head);
            assert!(head.contains("\r\nHost: "), "{head}");
            if head.starts_with("GET /file HTTP/1.1\r\n") {
                write!(
                    s,
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .unwrap();
                s.write_all(&body).unwrap();
            } else {
                s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
                    .unwrap();
            }
        }
    })
}

#[test]
fn fetch_example_downloads_from_a_kernel_server() {
    let test = "fetch_example_downloads_from_a_kernel_server";
    let Some(net) = KernelNet::bare_or_skip(test) else {
        return;
    };
    let tmp = TempDir::new(test);
    let body = pattern(17, 2_000_003);
    let server = kernel_http(&net, body.clone(), 3);
    let fetch = example("fetch");
    for (i, url) in [
        "http://192.0.2.1:8000/file",
        "http://[2001:db8::1]:8000/file",
    ]
    .iter()
    .enumerate()
    {
        let out = tmp.0.join(format!("fetched{i}"));
        let mut p = Program::start(&net, &fetch, &[url, "-o", out.to_str().unwrap()]);
        let (st, lines) = p.wait(Duration::from_secs(60));
        assert!(st.success(), "{url}: exit status {st}: {lines:?}");
        assert_eq!(
            sha256_file(&out),
            <[u8; 32]>::from(Sha256::digest(&body)),
            "{url}: SHA-256 of the download"
        );
    }
    let mut p = Program::start(&net, &fetch, &["http://192.0.2.1:8000/missing"]);
    let (st, lines) = p.wait(Duration::from_secs(60));
    assert!(!st.success(), "a 404 must exit non-zero: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("404")), "{lines:?}");
    server.join().expect("kernel server");
}
