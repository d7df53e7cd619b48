//! `KernelNet`: a private network namespace holding one TUN device, so that a
//! test can talk raw IP to the Linux TCP stack without touching the host.
//!
//! Layout inside the namespace (documentation addresses only):
//!
//! ```text
//!   kernel side  192.0.2.1/24   2001:db8::1/64   (addresses of tcpp0)
//!   our side     192.0.2.2      2001:db8::2      (packets we write to / read from the TUN fd)
//! ```
//!
//! The TUN fd is opened from a thread that has `setns`'d into the namespace,
//! so the device is born there. Kernel sockets are created the same way
//! ([`KernelNet::run_in`], [`KernelNet::spawn_in`]); a socket keeps its
//! namespace when moved to another thread. Dropping the guard closes the
//! TUN fd (the device disappears) and deletes the namespace, also during a
//! panic unwind.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};

/// Name of the TUN device inside every namespace.
pub const TUN_NAME: &str = "tcpp0";
/// The kernel's IPv4 address (on `tcpp0`).
pub const KERNEL_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Our IPv4 address (the far end of `tcpp0`).
pub const PEER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The kernel's IPv6 address (on `tcpp0`).
pub const KERNEL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// Our IPv6 address (the far end of `tcpp0`).
pub const PEER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Which IP version a scenario runs over.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The kernel's address in this family.
    pub fn kernel_addr(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(KERNEL_V4),
            Family::V6 => IpAddr::V6(KERNEL_V6),
        }
    }
    /// Our (tcp-proto's) address in this family.
    pub fn peer_addr(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(PEER_V4),
            Family::V6 => IpAddr::V6(PEER_V6),
        }
    }
}

const NS_PREFIX: &str = "tcpp-";
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this environment can run kernel tests. Prints a loud banner and
/// returns `false` when it cannot; panics instead when `CI=true`, so that a
/// CI run never silently skips the interop suite.
pub fn kernel_net_available(test: &str) -> bool {
    let reason = if !nix::unistd::geteuid().is_root() {
        Some("not running as root")
    } else if !std::path::Path::new("/dev/net/tun").exists() {
        Some("/dev/net/tun does not exist")
    } else if Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        Some("the `ip` command (iproute2) is missing")
    } else {
        None
    };
    match reason {
        None => true,
        Some(why) => {
            let msg = format!(
                "\n{bar}\n!!! SKIPPING kernel interop test `{test}`: {why}.\n!!! It needs root, /dev/net/tun and iproute2.\n{bar}\n",
                bar = "!".repeat(72)
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}(CI=true: a skipped interop test is a failure)");
            }
            eprintln!("{msg}");
            false
        }
    }
}

/// Runs `ip` with `args`; an error carries its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Deletes namespaces named `tcpp-<pid>-<n>` whose process is gone (left by a
/// test binary that was killed before its guards ran). Only ever touches our
/// own prefix.
fn sweep_stale_namespaces() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// A network namespace with a TUN device `tcpp0` in it. See the module docs.
pub struct KernelNet {
    name: String,
    ns: File,
    tun: Option<tun_rs::SyncDevice>,
}

impl KernelNet {
    /// `KernelNet::new()`, or `None` after a loud skip message when the
    /// environment lacks root or TUN (a panic under `CI=true`).
    pub fn new_or_skip(test: &str) -> Option<KernelNet> {
        if !kernel_net_available(test) {
            return None;
        }
        Some(
            KernelNet::new()
                .unwrap_or_else(|e| panic!("{test}: cannot set up namespace + TUN: {e}")),
        )
    }

    /// `KernelNet::bare()`, or `None` after the same loud skip as [`KernelNet::new_or_skip`].
    pub fn bare_or_skip(test: &str) -> Option<KernelNet> {
        if !kernel_net_available(test) {
            return None;
        }
        Some(KernelNet::bare().unwrap_or_else(|e| panic!("{test}: cannot set up namespace: {e}")))
    }

    /// A namespace with `lo` up and quiet IPv6 but no TUN: for a program
    /// (examples/tun.rs) that creates the device itself inside it.
    pub fn bare() -> io::Result<KernelNet> {
        sweep_stale_namespaces();
        let name = format!(
            "{NS_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let ns = match File::open(format!("/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = ip(&["netns", "del", &name]);
                return Err(e);
            }
        };
        // From here on, Drop cleans up whatever exists.
        let net = KernelNet {
            name,
            ns,
            tun: None,
        };
        // Quiet IPv6: no router advertisements or solicitations.
        net.exec(&[
            "sh",
            "-c",
            "for k in accept_ra router_solicitations; do \
               echo 0 > /proc/sys/net/ipv6/conf/all/$k; echo 0 > /proc/sys/net/ipv6/conf/default/$k; done",
        ])?;
        net.ip(&["link", "set", "lo", "up"])?;
        Ok(net)
    }

    /// Creates the namespace and the TUN device and configures both.
    pub fn new() -> io::Result<KernelNet> {
        let mut net = KernelNet::bare()?;
        net.tun = Some(net.open_tun()?);
        Ok(net)
    }

    /// Creates `tcpp0` in the namespace with the kernel's addresses on it
    /// (see the module docs), up, and returns its fd: the device lives as
    /// long as the fd.
    pub fn open_tun(&self) -> io::Result<tun_rs::SyncDevice> {
        // No link-local address on tcpp0 (so no MLD or RS chatter on the
        // TUN): `default` applies to devices created after this.
        self.exec(&[
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv6/conf/default/addr_gen_mode",
        ])?;
        let tun = self.run_in(|| tun_rs::DeviceBuilder::new().name(TUN_NAME).build_sync())?;
        self.ip(&["addr", "add", "192.0.2.1/24", "dev", TUN_NAME])?;
        self.ip(&[
            "-6",
            "addr",
            "add",
            "2001:db8::1/64",
            "dev",
            TUN_NAME,
            "nodad",
        ])?;
        // A long queue: the kernel may burst a whole window at us while the
        // test thread is busy; TUN drops would look like loss in clean runs.
        self.ip(&["link", "set", TUN_NAME, "txqueuelen", "8192"])?;
        self.ip(&["link", "set", TUN_NAME, "up"])?;
        Ok(tun)
    }

    /// The namespace's name (`tcpp-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> args…`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Runs a command inside the namespace (`ip netns exec`) and returns its stdout.
    pub fn exec(&self, cmd: &[&str]) -> io::Result<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!(
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Runs `f` on a fresh thread that has entered the namespace, and waits
    /// for it. Sockets and fds created by `f` belong to the namespace.
    pub fn run_in<R: Send, F: FnOnce() -> R + Send>(&self, f: F) -> R {
        let ns = self.ns.as_fd();
        thread::scope(|s| {
            s.spawn(move || {
                setns(ns, CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Spawns a thread that enters the namespace and then runs `f` (e.g. a
    /// kernel-side application: accept, read, write, close).
    pub fn spawn_in<R: Send + 'static, F: FnOnce() -> R + Send + 'static>(
        &self,
        f: F,
    ) -> thread::JoinHandle<R> {
        let ns = self.ns.try_clone().expect("dup namespace fd");
        thread::Builder::new()
            .name(format!("{}-kernel-app", self.name))
            .spawn(move || {
                setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
                drop(ns);
                f()
            })
            .expect("spawn namespace thread")
    }

    /// Packets the kernel dropped on `tcpp0` (`tx_dropped` + `rx_dropped`):
    /// a clean run must not lose any on the way to or from the TUN.
    pub fn tun_drops(&self) -> u64 {
        let out = self
            .exec(&[
                "cat",
                "/sys/class/net/tcpp0/statistics/tx_dropped",
                "/sys/class/net/tcpp0/statistics/rx_dropped",
            ])
            .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .sum()
    }

    fn tun(&self) -> &tun_rs::SyncDevice {
        self.tun
            .as_ref()
            .expect("TUN is open for the guard's whole life")
    }

    /// Writes one raw IP packet (no packet-info header) to the kernel.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let n = self.tun().send(packet)?;
        if n == packet.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "short TUN write: {n} of {}",
                packet.len()
            )))
        }
    }

    /// Reads one IP packet the kernel sent, waiting at most `timeout`.
    /// `Ok(None)` on timeout.
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let tun = self.tun();
        let ms = timeout.as_millis().min(60_000) as u16;
        let mut fds = [PollFd::new(tun.as_fd(), PollFlags::POLLIN)];
        let ready = match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        if ready == 0 {
            return Ok(None);
        }
        tun.recv(buf).map(Some)
    }
}

impl Drop for KernelNet {
    fn drop(&mut self) {
        // Closing the last fd of a non-persistent TUN removes the device.
        drop(self.tun.take());
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: could not delete namespace {}: {e}", self.name);
        }
    }
}
