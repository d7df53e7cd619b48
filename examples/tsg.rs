//! The time-sequence graph (Stevens / tcptrace style) of a capture, as SVG:
//! the direction that carries the most payload, its data segments as
//! sequence bars over time, the ACK and receive-window lines of the
//! segments coming back, retransmissions in red, SACK blocks in purple.
//!
//! ```sh
//! cargo run --example tun -- --pcap run.pcap ...     # or tcpdump -w run.pcap
//! cargo run --example tsg -- run.pcap tsg.svg
//! ```
//!
//! Classic pcap (not pcapng) with raw IP, Ethernet or Linux SLL frames.
use std::process::ExitCode;

use tcp_proto::plot::Tsg;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = &args[..] else {
        eprintln!("usage: tsg CAPTURE.pcap OUT.svg");
        return ExitCode::from(2);
    };
    let file = match std::fs::read(input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tsg: {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let g = match Tsg::from_pcap(&file) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("tsg: {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(output, g.to_svg()) {
        eprintln!("tsg: {output}: {e}");
        return ExitCode::FAILURE;
    }
    let retransmissions = g.bars().iter().filter(|b| b.retransmission).count();
    println!(
        "{output}: {} data segments ({retransmissions} retransmitted), {} ACKs, {} SACK blocks",
        g.bars().len(),
        g.ack_count(),
        g.sack_count()
    );
    ExitCode::SUCCESS
}
