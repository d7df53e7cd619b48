//! The README's first command, `cargo run --example handshake`, with each of
//! its flags: exit status and the state transitions on each side's column.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .args(["run", "-q", "--example", "handshake", "--"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The states each side moved to, in order, read off the ladder: a client
/// transition is `<time> → STATE ...`, a server one ends in `→ STATE`.
fn transitions(out: &str) -> (Vec<String>, Vec<String>) {
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for line in out.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() >= 3 && t[0].ends_with('s') && t[1] == "→" {
            client.push(t[2].to_string());
        } else if t.len() >= 4 && t[t.len() - 2] == "→" {
            server.push(t[t.len() - 1].to_string());
        }
    }
    (client, server)
}

fn ok(args: &[&str]) -> (String, Vec<String>, Vec<String>) {
    let o = run(args);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "handshake {args:?} failed: {}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("OK: both sides CLOSED"), "{out}");
    let (c, s) = transitions(&out);
    (out, c, s)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn default_run_is_the_textbook_handshake_and_four_way_close() {
    let (out, c, s) = ok(&[]);
    assert_eq!(
        c,
        strs(&[
            "SYN-SENT",
            "ESTABLISHED",
            "FIN-WAIT-1",
            "FIN-WAIT-2",
            "TIME-WAIT",
            "CLOSED"
        ])
    );
    assert_eq!(
        s,
        strs(&[
            "LISTEN",
            "SYN-RECEIVED",
            "ESTABLISHED",
            "CLOSE-WAIT",
            "LAST-ACK",
            "CLOSED"
        ])
    );
    assert!(out.contains("--[S] seq=0 len=0"), "{out}");
    assert!(out.contains("[S.] seq=0 ack=1 len=0--"), "{out}");
    // TIME-WAIT lasts 2·MSL (60 s with Config::linux) before the last CLOSED.
    let last = out.lines().rfind(|l| l.contains("→ CLOSED")).unwrap_or("");
    assert!(last.trim_start().starts_with("60."), "{last}");
}

#[test]
fn server_closing_first_puts_it_in_time_wait() {
    let (_, c, s) = ok(&["--server-closes-first"]);
    assert_eq!(
        c,
        strs(&[
            "SYN-SENT",
            "ESTABLISHED",
            "CLOSE-WAIT",
            "LAST-ACK",
            "CLOSED"
        ])
    );
    assert!(s.ends_with(&strs(&["FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSED"])));
}

#[test]
fn simultaneous_close_goes_through_closing_on_both_sides() {
    let (_, c, s) = ok(&["--simultaneous-close"]);
    for side in [&c, &s] {
        assert!(
            side.ends_with(&strs(&["FIN-WAIT-1", "CLOSING", "TIME-WAIT", "CLOSED"])),
            "{side:?}"
        );
    }
}

#[test]
fn simultaneous_open_reaches_established_through_syn_received_on_both_sides() {
    let (out, c, s) = ok(&["--simultaneous-open"]);
    for side in [&c, &s] {
        assert!(
            side.starts_with(&strs(&["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"])),
            "{side:?}"
        );
    }
    assert!(!out.contains("LISTEN"));
    assert!(out.contains("retransmissions: client 0, server 0"), "{out}");
}

#[test]
fn both_simultaneous_flags_together_with_loss_still_finish() {
    ok(&[
        "--simultaneous-open",
        "--simultaneous-close",
        "--loss",
        "0.2",
        "--seed",
        "3",
    ]);
}

#[test]
fn lossy_link_shows_lost_segments_and_retransmissions() {
    let (out, _, _) = ok(&["--loss", "0.3", "--seed", "7"]);
    assert!(out.contains("-x ") || out.contains(" x-"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("segments lost on the link"))
        .expect("summary line");
    assert!(!line.starts_with("0 segments"), "{line}");
    assert!(!line.ends_with("client 0, server 0"), "{line}");
}

#[test]
fn many_seeds_at_twenty_percent_loss_all_finish() {
    for seed in 1..=8 {
        ok(&["--loss", "0.2", "--seed", &seed.to_string()]);
    }
}

#[test]
fn a_link_that_loses_almost_everything_makes_it_exit_non_zero() {
    let o = run(&["--loss", "0.97", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAILED"));
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let o = run(&["--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage"));
}
