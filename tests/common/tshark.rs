//! Checks pcap files with tshark, when it is installed (required when `CI=true`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether tshark can be run. Loud message when missing; panics under `CI=true`.
pub fn available(test: &str) -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let msg = format!(
            "!!! `{test}`: tshark not on PATH: pcap checks SKIPPED (apt-get install tshark)"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true: tshark is required)");
        }
        eprintln!("{msg}");
    }
    ok
}

/// Where a test's pcap goes: `$CARGO_TARGET_TMPDIR/pcap/<name>.pcap`.
pub fn pcap_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pcap");
    std::fs::create_dir_all(&dir).expect("create pcap dir");
    dir.join(format!("{name}.pcap"))
}

/// `tshark -r file -Y filter -T fields -e f1 -e f2 …`, one `Vec` per packet.
pub fn fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-n",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.relative_sequence_numbers:FALSE",
    ]);
    // Payloads are test patterns: dissect them as plain data, or tshark's
    // HTTP (port 80) and heuristic dissectors (thrift, ...) call random
    // octets "malformed" and hide real TCP/IP errors among false ones.
    cmd.args(["-d", "tcp.port==1-65535,data"]);
    cmd.arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-E", "separator=\t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Packets in the file.
pub fn count(file: &Path) -> usize {
    fields(file, "frame", &["frame.number"]).len()
}

/// Frames that tshark finds wrong: malformed, bad IP/TCP checksum. Always
/// must be empty. A TCP checksum written 0xFFFF where the sum gives 0x0000
/// is not wrong (the same ones' complement number): Linux writes it
/// (skb_checksum_help's CSUM_MANGLED_0), and tshark calls it "Bad".
pub fn malformed(file: &Path) -> Vec<Vec<String>> {
    fields(
        file,
        r#"_ws.malformed || _ws.expert.severity >= "Error" || (tcp.checksum.status == "Bad" && !tcp.checksum.ffff) || ip.checksum.status == "Bad""#,
        &["frame.number", "_ws.col.Info"],
    )
}

/// Flags a run without impairment may still show, because they are the
/// protocol working as specified rather than anything going wrong:
/// - flow control: window updates, a sender filling the window, and zero
///   windows with their probes when the receiving application reads slower
///   than the sender sends (both stacks are fast enough for that now);
/// - timer-driven probes: a tail loss probe (RFC 8985 §7, both Linux and
///   tcp-proto; its timeout is 2·SRTT, a few ms over a TUN) fires when the
///   harness is descheduled longer than that on a loaded machine, and so does
///   a retransmission timer (a FIN re-sent 30 ms later under load); it shows
///   as a retransmission that the receiver answers with a duplicate ACK (with
///   a D-SACK for data). These are bounded by [`timer_probe_budget`], so a
///   retransmission storm still fails.
const FLOW_CONTROL: &str = "tcp.analysis.window_update || tcp.analysis.window_full \
    || tcp.analysis.zero_window || tcp.analysis.zero_window_probe \
    || tcp.analysis.zero_window_probe_ack";
const TIMER_PROBE: &str = "tcp.analysis.retransmission || tcp.analysis.spurious_retransmission \
    || tcp.analysis.duplicate_ack";

/// Frames with TCP analysis flags (out-of-order, lost segment, fast
/// retransmission, ACKed unseen segment, …) that a run without impairment
/// must never show: everything but flow control and timer-driven probes.
pub fn tcp_anomalies(file: &Path) -> Vec<Vec<String>> {
    fields(
        file,
        &format!("tcp.analysis.flags && !({FLOW_CONTROL}) && !({TIMER_PROBE})"),
        &["frame.number", "_ws.col.Info"],
    )
}

/// Timer-driven probe frames (see [`FLOW_CONTROL`]'s notes) in the file.
pub fn timer_probes(file: &Path) -> Vec<Vec<String>> {
    fields(
        file,
        &format!("tcp.analysis.flags && !({FLOW_CONTROL}) && ({TIMER_PROBE})"),
        &["frame.number", "_ws.col.Info"],
    )
}

/// How many timer-driven probe frames a clean run of `frames` frames may
/// show: one in 500 frames, at least 8 (a probe and its D-SACK per stall).
pub fn timer_probe_budget(frames: usize) -> usize {
    (frames / 500).max(8)
}

/// Asserts that a clean (unimpaired) run's trace has no malformed frame, no
/// TCP analysis flag but flow control, and at most a few timer-driven probes;
/// for lossy runs only the first is checked.
pub fn assert_trace_ok(file: &Path, clean: bool) {
    let bad = malformed(file);
    assert!(
        bad.is_empty(),
        "{}: tshark finds {} malformed frames, first: {:?}",
        file.display(),
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    if clean {
        let odd = tcp_anomalies(file);
        assert!(
            odd.is_empty(),
            "{}: tshark flags {} TCP anomalies in a clean run, first: {:?}",
            file.display(),
            odd.len(),
            &odd[..odd.len().min(10)]
        );
        let probes = timer_probes(file);
        let budget = timer_probe_budget(count(file));
        assert!(
            probes.len() <= budget,
            "{}: {} timer-driven retransmissions and D-SACKs in a clean run (budget {budget}), first: {:?}",
            file.display(),
            probes.len(),
            &probes[..probes.len().min(10)]
        );
    }
}

/// Asserts that tshark sees retransmissions in a lossy run's trace (the
/// impairment dropped packets, so recovery must show on the wire).
pub fn assert_retransmissions_seen(file: &Path) {
    let n = fields(
        file,
        "tcp.analysis.retransmission || tcp.analysis.fast_retransmission",
        &["frame.number"],
    )
    .len();
    assert!(
        n > 0,
        "{}: a lossy run without a single retransmission",
        file.display()
    );
}
