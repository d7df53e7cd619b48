//! Running examples/tun.rs as a program inside a test namespace: find (or
//! build) the binary, start it, read its output, wait for it, signal it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::netns::KernelNet;

/// The example's pattern seed (`SEED` in examples/tun.rs).
pub const EXAMPLE_SEED: u64 = 0x7c9_0001;

/// The example binary next to this test's (`target/<profile>/examples/tun`),
/// built on demand when this test was run alone.
pub fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let bin = dir.join("examples").join("tun");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--example", "tun"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build --example tun");
        assert!(st.success(), "cargo build --example tun failed");
    }
    bin
}

/// Starts the example inside the namespace with `args`, stdout piped.
/// `ip netns exec` execs the program, so the child's pid is the example's.
pub fn start(net: &KernelNet, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", net.name()])
        .arg(example_binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the tun example")
}

/// Waits for the child, killing it after `limit`.
pub fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("wait for the example") {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the tun example did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to the example.
pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, sig).expect("signal the example");
}

/// Reads the example's stdout until a line containing `what` (at most 60 s;
/// then keeps reading the rest on a thread); the thread returns all lines at
/// the end. Lines are echoed to stderr unless `echo` is false.
pub fn wait_for_line_quiet(
    child: &mut Child,
    what: &str,
    echo: bool,
) -> std::thread::JoinHandle<Vec<String>> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if echo {
                eprintln!("example: {l}");
            }
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(what);
                seen.push(l);
                if hit {
                    break;
                }
            }
            Err(e) => panic!("the example never printed {what:?} ({e}): {seen:?}"),
        }
    }
    std::thread::spawn(move || {
        seen.extend(rx.iter());
        let _ = reader.join();
        seen
    })
}

/// [`wait_for_line_quiet`] with every line echoed.
pub fn wait_for_line(child: &mut Child, what: &str) -> std::thread::JoinHandle<Vec<String>> {
    wait_for_line_quiet(child, what, true)
}

/// Kills the example if a test panics before waiting for it.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Asserts that the device `tcpp0` is gone from the namespace.
pub fn assert_device_gone(net: &KernelNet) {
    assert!(
        net.ip(&["link", "show", "tcpp0"]).is_err(),
        "tcpp0 left behind after the example exited"
    );
}
