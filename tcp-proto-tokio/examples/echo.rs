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
//! Ctrl-C, then shuts down gracefully: new connections are refused, every
//! open one gets what was echoed so far and a FIN (up to 10 s, then a
//! RST); the device disappears when the program exits.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use common::{Args, exit_code, stack_on_new_tun};
use tcp_proto_tokio::TcpListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn run() -> Result<(), String> {
    let args = Args::parse(&["--dev", "--port"])?;
    let dev_name = args.get("--dev", "tcpp0");
    let port: u16 = args.num("--port", 7)?;
    let stack = stack_on_new_tun(&dev_name)?;
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
                drop(listener);
                let summary = stack.shutdown(Duration::from_secs(10)).await;
                eprintln!(
                    "echo: stopped: {} connection(s), {} closed, {} reset, {} failed, in {:?}",
                    summary.connections, summary.closed, summary.reset, summary.failed,
                    summary.elapsed
                );
                return Ok(());
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    exit_code("echo", run().await)
}
