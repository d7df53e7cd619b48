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

/// Frames with TCP analysis flags (retransmission, dup ACK, out-of-order,
/// zero window, …) other than window updates and "window full" (a sender
/// filling the advertised window is flow control working, not an error). Must be empty for a run
/// without impairment.
pub fn tcp_anomalies(file: &Path) -> Vec<Vec<String>> {
    fields(
        file,
        "tcp.analysis.flags && !tcp.analysis.window_update && !tcp.analysis.window_full",
        &["frame.number", "_ws.col.Info"],
    )
}

/// Asserts that a clean (unimpaired) run's trace has no malformed frame and
/// no TCP analysis flag; for lossy runs only the former is checked.
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
