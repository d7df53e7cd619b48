//! An async echo server on tcp-proto, driven by tokio over a TUN device.
//!
//! ```text
//! sudo ip netns add tcpp-demo
//! sudo ip netns exec tcpp-demo cargo run -p tcp-proto-tokio --example echo -- [--dev tcpp0] [--port 7]
//! # in another shell, from the kernel side of the TUN:
//! sudo ip netns exec tcpp-demo sh -c 'echo hello | nc -N 192.0.2.2 7'
//! sudo ip netns exec tcpp-demo sh -c 'echo hello | nc -N 2001:db8::2 7'
//! sudo ip netns del tcpp-demo
//! ```
//!
//! The example creates the TUN device (root or CAP_NET_ADMIN), gives the
//! kernel 192.0.2.1/24 and 2001:db8::1/64 on it, and answers as
//! 192.0.2.2 and 2001:db8::2 (documentation addresses). It serves until
//! Ctrl-C; the device disappears when the program exits.

use std::net::IpAddr;
use std::process::{Command, ExitCode};

use tcp_proto::endpoint::EndpointConfig;
use tcp_proto_tokio::{Stack, TcpListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

async fn run() -> Result<(), String> {
    let dev_name = arg("--dev").unwrap_or_else(|| "tcpp0".into());
    let port: u16 = arg("--port")
        .unwrap_or_else(|| "7".into())
        .parse()
        .map_err(|e| format!("--port: {e}"))?;
    let dev = tun_rs::DeviceBuilder::new()
        .name(&dev_name)
        .build_async()
        .map_err(|e| format!("create TUN {dev_name}: {e} (root? /dev/net/tun?)"))?;
    ip(&["addr", "add", "192.0.2.1/24", "dev", &dev_name])?;
    ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        &dev_name,
        "nodad",
    ])?;
    ip(&["link", "set", &dev_name, "up"])?;

    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| format!("random: {e}"))?;
    let ours: [IpAddr; 2] = ["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()];
    let stack = Stack::new(dev, &ours, EndpointConfig::default(), secret)
        .map_err(|e| format!("stack: {e}"))?;
    let listener =
        TcpListener::bind(&stack, None, port, 1024).map_err(|e| format!("listen: {e}"))?;
    eprintln!(
        "echo: serving on 192.0.2.2:{port} and [2001:db8::2]:{port} via {dev_name}; Ctrl-C stops"
    );
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (mut s, from) = r.map_err(|e| format!("accept: {e}"))?;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) => break,
                            Ok(n) => {
                                if let Err(e) = s.write_all(&buf[..n]).await {
                                    eprintln!("echo: {from}: write: {e}");
                                    return;
                                }
                            }
                            Err(e) => {
                                eprintln!("echo: {from}: read: {e}");
                                return;
                            }
                        }
                    }
                    // Dropping the stream sends our FIN after the echoed data.
                });
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("echo: Ctrl-C, stopping");
                return Ok(());
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}
