//! Runs packetdrill scripts against tcp-proto on a virtual clock.
//!
//! ```text
//! cargo run --example packetdrill -- [--profile linux|rfc] [--verbose] PATH...
//! ```
//!
//! `--host endpoint` (the default) runs sockets over the crate's
//! `Endpoint`; `--host connection` over bare `Connection`s with the
//! runner's own demux.
//!
//! Prints one line per script, `PASS|FAIL|SKIP path: reason` (a FAIL says
//! what was expected, what came, and when), then `N passed, M failed, K
//! skipped`; exits 1 if any script failed. Directories are searched for
//! `.pkt` files recursively. The interpreter is shared with
//! `tests/packetdrill.rs` (see tests/packetdrill_runner/mod.rs).

#[path = "../tests/packetdrill_runner/mod.rs"]
mod packetdrill_runner;

use packetdrill_runner::{HostKind, Outcome, Profile, collect, run_file_on};
use std::path::PathBuf;

fn main() {
    let mut profile = Profile::Linux;
    let mut verbose = false;
    let mut host = HostKind::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--profile" => match args.next().as_deref() {
                Some("linux") => profile = Profile::Linux,
                Some("rfc") => profile = Profile::Rfc,
                other => usage(&format!("unknown profile {other:?}")),
            },
            "--profile=linux" => profile = Profile::Linux,
            "--profile=rfc" => profile = Profile::Rfc,
            "--host" => match args.next().as_deref() {
                Some("endpoint") => host = HostKind::Endpoint,
                Some("connection") => host = HostKind::Connection,
                other => usage(&format!("unknown host {other:?}")),
            },
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => usage(""),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        usage("no script given");
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for root in &paths {
        if !root.exists() {
            println!("FAIL {}: no such file or directory", root.display());
            failed += 1;
            continue;
        }
        for p in collect(root) {
            let (outcome, trace) = run_file_on(&p, profile, host, verbose);
            match outcome {
                Outcome::Pass => {
                    passed += 1;
                    println!("PASS {}", p.display());
                }
                Outcome::Fail(m) => {
                    failed += 1;
                    println!("FAIL {}: {m}", p.display());
                }
                Outcome::Skip(m) => {
                    skipped += 1;
                    println!("SKIP {}: {m}", p.display());
                }
            }
            for line in trace {
                println!("    {line}");
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!(
        "usage: packetdrill [--profile linux|rfc] [--host endpoint|connection] [--verbose] PATH..."
    );
    std::process::exit(2);
}
