//! packetdrill scripts against tcp-proto: our own (tests/scripts) and the
//! upstream ones in ../shared/packetdrill/scripts (GPL-2.0 test data, read
//! at test time, never copied into the crate).

mod packetdrill_runner;

use packetdrill_runner::{HostKind, Outcome, Profile, collect, run_file_on, run_str};
use std::path::Path;

const HOSTS: [HostKind; 2] = [HostKind::Endpoint, HostKind::Connection];

fn run_dir(dir: &Path, profile: Profile, host: HostKind) -> (usize, Vec<String>, Vec<String>) {
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    for p in collect(dir) {
        let (o, _) = run_file_on(&p, profile, host, false);
        match o {
            Outcome::Pass => {
                println!("PASS {}", p.display());
                passed += 1
            }
            Outcome::Fail(m) => {
                println!("FAIL {}: {m}", p.display());
                failed.push(format!("{}: {m}", p.display()))
            }
            Outcome::Skip(m) => {
                println!("SKIP {}: {m}", p.display());
                skipped.push(format!("{}: {m}", p.display()))
            }
        }
    }
    (passed, failed, skipped)
}

#[test]
fn own_scripts_pass_under_the_linux_profile_on_both_hosts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    for host in HOSTS {
        let (passed, failed, skipped) = run_dir(&dir, Profile::Linux, host);
        assert!(
            failed.is_empty(),
            "{host:?} failures:\n{}",
            failed.join("\n")
        );
        assert!(
            skipped.is_empty(),
            "our own scripts never skip:\n{}",
            skipped.join("\n")
        );
        assert!(passed >= 40, "{host:?}: only {passed} passed");
    }
}

/// The upstream scripts: ../shared/packetdrill/scripts beside the clone
/// (CI), or where PACKETDRILL_SCRIPTS points.
fn upstream_dir() -> std::path::PathBuf {
    match std::env::var_os("PACKETDRILL_SCRIPTS") {
        Some(p) => p.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/packetdrill/scripts"),
    }
}

#[test]
fn upstream_scripts_pass_or_skip_for_a_stated_reason() {
    let dir = upstream_dir();
    if !dir.is_dir() {
        let msg = format!(
            "SKIP upstream packetdrill scripts: {} is missing (set PACKETDRILL_SCRIPTS)",
            dir.display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        println!("{msg}");
        eprintln!("{msg}");
        return;
    }
    for host in HOSTS {
        let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
        for p in collect(&dir) {
            let rel = p
                .strip_prefix(&dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let (o, _) = run_file_on(&p, Profile::Linux, host, false);
            println!("{host:?} {o:?} {rel}");
            match o {
                Outcome::Pass => passed += 1,
                Outcome::Skip(m) => {
                    assert!(!m.is_empty(), "{rel}: a skip must say why");
                    skipped += 1
                }
                Outcome::Fail(m) => failed.push(format!("{rel}: {m}")),
            }
        }
        println!(
            "{host:?}: {passed} passed, {} failed, {skipped} skipped",
            failed.len()
        );
        assert!(
            failed.is_empty(),
            "{host:?} failures:\n{}",
            failed.join("\n")
        );
        assert!(
            passed >= 16,
            "{host:?}: only {passed} upstream scripts passed"
        );
    }
}

// ---- the runner's own checks: scripts that must fail -------------------

/// A correct passive-open script; each test below breaks one thing in it.
const GOOD: &str = r#"
`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
  +.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
   +0 write(4, ..., 1000) = 1000
   +0 > P. 1:1001(1000) ack 1
  +.1 < . 1:1(0) ack 1001 win 257
// The RTO after one 100 ms sample is 300 ms (200 ms floor on 4·RTTVAR).
// The retransmission keeps the PSH the write put on the segment.
   +0 write(4, ..., 1000) = 1000
   +0 > P. 1001:2001(1000) ack 1
  +.3 > P. 1001:2001(1000) ack 1
"#;

fn outcome(src: &str) -> Outcome {
    run_str(src, Profile::Linux, false).0
}

fn assert_fails(src: &str, what: &str) {
    match outcome(src) {
        Outcome::Fail(m) => assert!(m.contains(what), "failed, but not for `{what}`: {m}"),
        o => panic!("expected a failure mentioning `{what}`, got {o:?}"),
    }
}

#[test]
fn runner_passes_the_correct_script() {
    assert_eq!(outcome(GOOD), Outcome::Pass);
}

#[test]
fn runner_fails_a_wrong_sequence_number() {
    assert_fails(
        &GOOD.replace("> P. 1:1001(1000) ack 1", "> P. 2:1002(1000) ack 1"),
        "seq 1, expected 2",
    );
}

#[test]
fn runner_fails_a_wrong_ack_number() {
    assert_fails(
        &GOOD.replace("> P. 1:1001(1000) ack 1\n", "> P. 1:1001(1000) ack 5\n"),
        "ack 1, expected 5",
    );
}

#[test]
fn runner_fails_a_missing_packet() {
    // Nothing is sent at all after the peer ACKs everything.
    let src = GOOD.replace(
        "  +.1 < . 1:1(0) ack 1001 win 257\n",
        "  +.1 < . 1:1(0) ack 1001 win 257\n   +0 > . 1:1(0) ack 1\n",
    );
    assert_fails(&src, "expected > . 1:1(0) ack 1");
}

#[test]
fn runner_fails_a_late_packet() {
    // The retransmission comes 300 ms after the write, not 100 ms.
    assert_fails(
        &GOOD.replace("+.3 > P. 1001:2001(1000)", "+.1 > P. 1001:2001(1000)"),
        "late",
    );
}

#[test]
fn runner_fails_an_early_packet() {
    assert_fails(
        &GOOD.replace("+.3 > P. 1001:2001(1000)", "+.6 > P. 1001:2001(1000)"),
        "got P. 1001:2001(1000)",
    );
}

#[test]
fn runner_fails_a_wrong_option() {
    assert_fails(
        &GOOD.replace("<mss 1460,nop,wscale 8>", "<mss 1460,nop,wscale 7>"),
        "options",
    );
    assert_fails(
        &GOOD.replace("<mss 1460,nop,wscale 8>", "<mss 1460,wscale 8,nop>"),
        "options",
    );
}

#[test]
fn runner_fails_wrong_flags_length_window_and_return_values() {
    assert_fails(
        &GOOD.replace("> P. 1:1001(1000)", "> . 1:1001(1000)"),
        "flags",
    );
    assert_fails(
        &GOOD.replace("> P. 1:1001(1000)", "> P. 1:1101(1100)"),
        "1100",
    );
    assert_fails(
        &GOOD.replace("> S. 0:0(0) ack 1 <", "> S. 0:0(0) ack 1 win 1000 <"),
        "win 65535, expected 1000",
    );
    assert_fails(
        &GOOD.replace(
            "accept(3, ..., ...) = 4",
            "accept(3, ..., ...) = 4\n+0 read(4, ..., 10) = 10",
        ),
        "still blocked",
    );
}

#[test]
fn runner_fails_a_blocking_call_that_returns_at_the_wrong_time() {
    let src = GOOD.replace(
        "   +0 accept(3, ..., ...) = 4\n",
        "   +0 accept(3, ..., ...) = 4\n   +0...0.100 read(4, ..., 10) = 10\n",
    );
    assert_fails(&src, "still blocked");
}

#[test]
fn runner_skips_out_of_scope_features_with_a_reason() {
    let src = GOOD.replace("+0 bind(3, ..., ...) = 0", "+0 epoll_create(1) = 5");
    match outcome(&src) {
        Outcome::Skip(m) => assert!(m.contains("epoll_create"), "{m}"),
        o => panic!("expected a skip, got {o:?}"),
    }
    let src = GOOD.replace(
        "`../common/defaults.sh`",
        "`tc qdisc add dev tun0 root netem`",
    );
    assert!(matches!(outcome(&src), Outcome::Skip(_)));
}

/// `Config::rfc9293()` leaves `push_each_gso_burst` off: PSH only where a
/// write ends, so the pair that the linux profile closes with PSH goes out
/// without it.
#[test]
fn rfc_profile_sets_psh_only_where_a_write_ends() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts/data/psh-on-write-end-and-each-gso-burst.pkt");
    let linux = std::fs::read_to_string(path).unwrap();
    let burst_line = "   +0 > P. 1001:2001(1000) ack 1";
    assert!(linux.contains(burst_line));
    match run_str(&linux, Profile::Rfc, false).0 {
        Outcome::Fail(m) => assert!(m.contains("1001:2001"), "{m}"),
        o => panic!("the burst's PSH must be the linux profile's alone, got {o:?}"),
    }
    let rfc = linux.replace(burst_line, "   +0 > . 1001:2001(1000) ack 1");
    passes_only_under(&rfc, Profile::Rfc);
}

/// `src` passes under `profile` and fails under the other one.
fn passes_only_under(src: &str, profile: Profile) {
    let other = match profile {
        Profile::Linux => Profile::Rfc,
        Profile::Rfc => Profile::Linux,
    };
    assert_eq!(run_str(src, profile, false).0, Outcome::Pass, "{profile:?}");
    let o = run_str(src, other, false).0;
    assert!(matches!(o, Outcome::Fail(_)), "{other:?}: {o:?}");
}

/// An ACK of data never sent, in ESTABLISHED: the linux profile drops it
/// without a word (`drop_ack_of_unsent_silently`), the rfc profile answers
/// with an ACK (RFC 9293 §3.10.7.4). The write after it shows what went out
/// first.
#[test]
fn ack_of_unsent_data_is_answered_only_under_the_rfc_profile() {
    let script = |answer: &str| {
        format!(
            r#"
`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
  +.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
  +.1 < . 1:1(0) ack 5000 win 257
{answer}
  +.1 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
"#
        )
    };
    passes_only_under(&script(""), Profile::Linux);
    passes_only_under(&script("   +0 > . 1:1(0) ack 1"), Profile::Rfc);
}

/// packetdrill's numbering (socket.h): a SYN-ACK's ack is absolute, like
/// the SYN's seq it answers; a SYN-ACK written with a relative ack fails.
#[test]
fn runner_reads_a_syn_ack_ack_as_absolute() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts/handshake/syn-data-is-not-taken.pkt");
    let good = std::fs::read_to_string(path).unwrap();
    assert_eq!(outcome(&good), Outcome::Pass);
    let relative = good.replace("ack 5001 <mss 1460", "ack 1 <mss 1460");
    assert_ne!(relative, good);
    match outcome(&relative) {
        Outcome::Fail(m) => assert!(m.contains("ack 5001, expected 1"), "{m}"),
        o => panic!("a relative SYN-ACK ack must fail, got {o:?}"),
    }
}
