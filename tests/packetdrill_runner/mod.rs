//! A packetdrill interpreter over tcp-proto (../shared/packetdrill/README.md):
//! scripts run on a virtual clock against `Connection`s, with no network.
//!
//! Shared by `tests/packetdrill.rs` and `examples/packetdrill.rs` (each
//! includes this directory as a module), so the example runs with a plain
//! `cargo run --example packetdrill` and the library carries no test
//! harness (parsing, std) behind a feature.

#![allow(dead_code)]

pub mod env;
pub mod host;
pub mod parse;
pub mod python;
pub mod run;

pub use env::Profile;
pub use run::{HostKind, Outcome};

use std::path::{Path, PathBuf};

/// Runs the script in `src`; `verbose` collects a trace.
pub fn run_str(src: &str, profile: Profile, verbose: bool) -> (Outcome, Vec<String>) {
    run_str_on(src, profile, HostKind::default(), verbose)
}

/// [`run_str`] on the given host.
pub fn run_str_on(
    src: &str,
    profile: Profile,
    host: HostKind,
    verbose: bool,
) -> (Outcome, Vec<String>) {
    match parse::parse(src) {
        Ok(s) => run::run(&s, profile, host, verbose),
        Err((line, m)) if m.starts_with("unsupported: ") => (
            Outcome::Skip(format!("line {line}: {}", &m["unsupported: ".len()..])),
            Vec::new(),
        ),
        Err((line, m)) => (
            Outcome::Fail(format!("line {line}: parse error: {m}")),
            Vec::new(),
        ),
    }
}

/// Runs one script file.
pub fn run_file(path: &Path, profile: Profile, verbose: bool) -> (Outcome, Vec<String>) {
    run_file_on(path, profile, HostKind::default(), verbose)
}

/// [`run_file`] on the given host.
pub fn run_file_on(
    path: &Path,
    profile: Profile,
    host: HostKind,
    verbose: bool,
) -> (Outcome, Vec<String>) {
    match std::fs::read_to_string(path) {
        Ok(src) => run_str_on(&src, profile, host, verbose),
        Err(e) => (Outcome::Fail(format!("cannot read: {e}")), Vec::new()),
    }
}

/// Every `.pkt` file under `path` (itself if it is a file), sorted.
pub fn collect(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if path.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    out.extend(collect(&p));
                } else if p.extension().is_some_and(|e| e == "pkt") {
                    out.push(p);
                }
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    out
}
