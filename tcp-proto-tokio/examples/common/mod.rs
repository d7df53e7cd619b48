//! What the examples share: their command line and a stack on a TUN
//! device they create (the kernel is 192.0.2.1 and 2001:db8::1 on it;
//! tcp-proto answers as 192.0.2.2 and 2001:db8::2; documentation
//! addresses only).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::{Command, ExitCode};

use tcp_proto::endpoint::EndpointConfig;
use tcp_proto_tokio::Stack;

/// The kernel's address on the TUN, IPv4.
pub const KERNEL_V4: &str = "192.0.2.1";
/// The kernel's address on the TUN, IPv6.
pub const KERNEL_V6: &str = "2001:db8::1";
/// tcp-proto's addresses: the far end of the TUN.
pub fn ours() -> [IpAddr; 2] {
    ["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()]
}

/// The exit status of a program named `name` whose work returned `result`;
/// an error is printed first.
pub fn exit_code(name: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A command line: `--flag value` pairs (for the flags named) and the
/// positional arguments in order.
pub struct Args {
    flags: HashMap<String, String>,
    /// The arguments that are neither flags nor their values.
    pub positional: Vec<String>,
}

impl Args {
    /// Parses this program's arguments; `valued` are the flags that take a
    /// value. Any other `-…` argument is an error.
    pub fn parse(valued: &[&str]) -> Result<Args, String> {
        let mut flags = HashMap::new();
        let mut positional = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if valued.contains(&a.as_str()) {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                flags.insert(a, v);
            } else if a.starts_with('-') && a != "-" {
                return Err(format!("unknown option {a}"));
            } else {
                positional.push(a);
            }
        }
        Ok(Args { flags, positional })
    }

    /// The value of `flag`, or `default`.
    pub fn get(&self, flag: &str, default: &str) -> String {
        self.flags
            .get(flag)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    /// The value of `flag` parsed, or `default`.
    pub fn num<T: std::str::FromStr>(&self, flag: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.flags.get(flag) {
            Some(v) => v.parse().map_err(|e| format!("{flag} {v}: {e}")),
            None => Ok(default),
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Creates the TUN device `name` (root or CAP_NET_ADMIN), gives the kernel
/// its addresses on it, and runs a tcp-proto stack at the far end. Call
/// inside a tokio runtime; the device goes away when the program exits.
pub fn stack_on_new_tun(name: &str) -> Result<Stack, String> {
    let dev = tun_rs::DeviceBuilder::new()
        .name(name)
        .build_async()
        .map_err(|e| format!("create TUN {name}: {e} (root? /dev/net/tun?)"))?;
    ip(&["addr", "add", &format!("{KERNEL_V4}/24"), "dev", name])?;
    ip(&[
        "-6",
        "addr",
        "add",
        &format!("{KERNEL_V6}/64"),
        "dev",
        name,
        "nodad",
    ])?;
    // The kernel may burst a whole window at us: a long queue, not drops.
    ip(&["link", "set", name, "txqueuelen", "8192"])?;
    ip(&["link", "set", name, "up"])?;
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| format!("random: {e}"))?;
    Stack::new(dev, &ours(), EndpointConfig::default(), secret).map_err(|e| format!("stack: {e}"))
}
