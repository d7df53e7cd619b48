//! tcp-proto against smoltcp 0.14, every row timed by criterion and counted
//! by callgrind from the same build. See `instructions.sh` beside
//! Cargo.toml for the whole report; by hand:
//!
//! - `cargo bench -p tcp-proto-compare` — criterion, every row;
//! - `COMPARE_LIST=1 <bench binary>` — every row's id, one per line;
//! - `COMPARE_CHECK=1 <bench binary>` — every bulk cell once with the data
//!   checked, printing virtual-time throughput and timer stalls;
//! - `COMPARE_ROW='<group>/<name>' <bench binary>` — that row's units only
//!   (for `valgrind --tool=callgrind --toggle-collect='*measured_call*'`;
//!   with `COMPARE_PRINT_UNITS=1` it prints what the units returned, a
//!   bulk row's data segments, as `cachesim.sh` needs);
//! - `COMPARE_REPORT=<criterion dir> <bench binary>` — runs every row under
//!   callgrind and prints one table with criterion's medians beside the
//!   instruction counts;
//! - `COMPARE_PAIRED=<filter> <bench binary>` — wall-time ratios measured in
//!   pairs: each row and its baseline timed alternately, sample by sample
//!   (see [`paired`]).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use tcp_proto::{Config, CongestionAlgorithm};
use tcp_proto_compare::bulk::{Bulk, MSS_GRID, SmolCc, Subject, TOTAL};
use tcp_proto_compare::{Row, Workload, assert_smoltcp_is_ipv4_only, measured_call, rows};

fn main() {
    assert_smoltcp_is_ipv4_only();
    if std::env::var_os("COMPARE_LIST").is_some() {
        for row in rows() {
            println!("{}", row.id());
        }
        return;
    }
    if let Ok(id) = std::env::var("COMPARE_ROW") {
        return run_row(&id);
    }
    if std::env::var_os("COMPARE_CHECK").is_some() {
        return check();
    }
    if let Some(dir) = std::env::var_os("COMPARE_REPORT") {
        return report(Path::new(&dir));
    }
    if let Ok(filter) = std::env::var("COMPARE_PAIRED") {
        return paired(&filter);
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

fn bench(c: &mut Criterion) {
    let all = rows();
    let mut groups: Vec<&'static str> = all.iter().map(|r| r.group).collect();
    groups.dedup();
    for group in groups {
        let mut g = c.benchmark_group(group);
        if group.contains("64MiB") {
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2))
                .throughput(Throughput::Bytes(TOTAL as u64));
        } else {
            g.warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
        }
        for row in all.iter().filter(|r| r.group == group) {
            let mut w = (row.make)();
            if w.has_setup() {
                g.bench_function(row.name.as_str(), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            w.setup();
                            let t = std::time::Instant::now();
                            black_box(measured_call(&mut *w));
                            total += t.elapsed();
                        }
                        total
                    })
                });
            } else {
                g.bench_function(row.name.as_str(), |b| b.iter(|| measured_call(&mut *w)));
            }
        }
        g.finish();
    }
}

fn find(id: &str) -> Row {
    rows()
        .into_iter()
        .find(|r| r.id() == id)
        .unwrap_or_else(|| panic!("no row {id:?}"))
}

/// Runs one row's units: a warm-up unit first (not counted) when there are
/// several, then the counted ones.
fn run_row(id: &str) {
    let row = find(id);
    let mut w = (row.make)();
    if row.callgrind_units > 1 {
        w.setup();
        // Called directly, not through `measured_call`: not counted.
        black_box(w.once());
    }
    let mut units = 0;
    for _ in 0..row.callgrind_units {
        w.setup();
        units += black_box(measured_call(&mut *w));
    }
    // `cachesim.sh` divides its counts by this (a bulk unit returns its
    // data segments).
    if std::env::var_os("COMPARE_PRINT_UNITS").is_some() {
        eprintln!("measured units returned: {units}");
    }
}

/// Every bulk cell once with the data checked: virtual-time throughput and
/// stalls. tcp-proto also with delayed ACK off.
fn check() {
    println!(
        "size_of::<Connection>() = {} octets; smoltcp tcp::Socket = {} octets",
        std::mem::size_of::<tcp_proto::Connection>(),
        std::mem::size_of::<smoltcp::socket::tcp::Socket<'static>>()
    );
    println!();
    println!(
        "| cell | delayed ACK | virtual Gbit/s | stalls (virtual ms) | data segments | ACKs |"
    );
    println!("|---|---|---|---|---|---|");
    for mss in MSS_GRID {
        // (subject, delayed ACK, tcp-proto's controller if not the default,
        // timestamps if not the stack's default)
        let mut cells = Vec::new();
        for cc in [None, Some(CongestionAlgorithm::NewReno)] {
            for s in [Subject::TcpProtoCopy, Subject::TcpProtoZeroCopy] {
                cells.push((s, true, cc, None));
                cells.push((s, false, cc, None));
            }
        }
        for s in [Subject::TcpProtoCopy, Subject::TcpProtoZeroCopy] {
            cells.push((s, true, None, Some(false)));
        }
        for cc in [SmolCc::Cubic, SmolCc::Reno, SmolCc::None] {
            cells.push((Subject::Smoltcp(cc), true, None, None));
            cells.push((Subject::Smoltcp(cc), false, None, None));
        }
        cells.push((Subject::Smoltcp(SmolCc::Cubic), true, None, Some(true)));
        for (s, delack, cc, ts) in cells {
            let mut w = Bulk::new(s, mss, delack, true);
            let mut name = s.name();
            if let Some(cc) = cc {
                w = w.with_congestion(cc);
                name = name.replace(
                    &format!("{:?}", Config::linux().congestion),
                    &format!("{cc:?}"),
                );
            }
            if let Some(ts) = ts {
                w = w.with_timestamps(ts);
                name.push_str(if ts { " ts" } else { " no-ts" });
            }
            w.setup();
            w.once();
            assert_eq!(w.checked(), TOTAL, "all data delivered and checked");
            let o = w.last;
            println!(
                "| mss {mss} {} | {} | {:.2} | {} ({:.1}) | {} | {} |",
                name,
                if delack { "on" } else { "off" },
                o.virtual_gbps(),
                o.stalls,
                o.stalled_ns as f64 / 1e6,
                o.data_segments,
                o.acks
            );
        }
    }
}

/// Criterion's median per row, from `dir` (its output directory).
fn criterion_medians(dir: &Path) -> HashMap<String, f64> {
    let mut m = HashMap::new();
    let Ok(groups) = std::fs::read_dir(dir) else {
        return m;
    };
    for g in groups.flatten() {
        let Ok(benches) = std::fs::read_dir(g.path()) else {
            continue;
        };
        for b in benches.flatten() {
            let new = b.path().join("new");
            let (Ok(meta), Ok(est)) = (
                std::fs::read_to_string(new.join("benchmark.json")),
                std::fs::read_to_string(new.join("estimates.json")),
            ) else {
                continue;
            };
            let meta: serde_json::Value = serde_json::from_str(&meta).expect("json");
            let est: serde_json::Value = serde_json::from_str(&est).expect("json");
            let (Some(group), Some(func), Some(median)) = (
                meta["group_id"].as_str(),
                meta["function_id"].as_str(),
                est["median"]["point_estimate"].as_f64(),
            ) else {
                continue;
            };
            m.insert(format!("{group}/{func}"), median);
        }
    }
    m
}

/// Instructions per unit of `row`, counted by callgrind under `measured_call`.
fn callgrind(row: &Row, out_dir: &Path, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("exe");
    let out = out_dir.join(format!("callgrind.{n}.out"));
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=*measured_call*",
            "--dump-instr=no",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .env("COMPARE_ROW", row.id())
        .env_remove("COMPARE_REPORT")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("valgrind runs (install it: apt-get install valgrind)");
    assert!(status.success(), "callgrind run of {} failed", row.id());
    let text = std::fs::read_to_string(&out).expect("callgrind output");
    let total: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("callgrind totals");
    total / row.callgrind_units as f64
}

fn human_ir(ir: f64) -> String {
    if ir >= 1e6 {
        format!("{:.1} M", ir / 1e6)
    } else if ir >= 1e4 {
        format!("{:.2} k", ir / 1e3)
    } else {
        format!("{ir:.0}")
    }
}

fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Every row under callgrind, beside criterion's medians from `dir`.
fn report(dir: &Path) {
    let wall = criterion_medians(dir);
    let out_dir = dir.join("callgrind");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let all = rows();
    let filter = std::env::var("COMPARE_FILTER").unwrap_or_default();
    let mut ir = HashMap::new();
    for (n, row) in all.iter().enumerate() {
        if !row.id().contains(&filter) {
            continue;
        }
        let v = callgrind(row, &out_dir, n);
        eprintln!("{}: {:.0} Ir per unit", row.id(), v);
        ir.insert(row.id(), v);
    }
    println!(
        "| row | wall (criterion median) | instructions per unit | vs | wall: baseline/row, row/baseline | instructions: baseline/row, row/baseline |"
    );
    println!("|---|---|---|---|---|---|");
    for row in &all {
        let id = row.id();
        let Some(&i) = ir.get(&id) else { continue };
        let w = wall.get(&id).copied();
        let ws = w.map_or("(not run)".into(), human_ns);
        // One line per baseline (a row without one still gets its line).
        let none = [String::new()];
        let bases = if row.baselines.is_empty() {
            &none[..]
        } else {
            &row.baselines[..]
        };
        for base in bases {
            let mut cmp = (String::new(), String::new(), String::new());
            if !base.is_empty() {
                let short = base.split_once('/').map_or(base.as_str(), |x| x.1);
                cmp.0 = short.to_string();
                if let (Some(w), Some(bw)) = (w, wall.get(base)) {
                    cmp.1 = format!("{:.2}× / {:.2}×", bw / w, w / bw);
                }
                if let Some(bi) = ir.get(base) {
                    cmp.2 = format!("{:.2}× / {:.2}×", bi / i, i / bi);
                }
            }
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                id,
                ws,
                human_ir(i),
                cmp.0,
                cmp.1,
                cmp.2
            );
        }
    }
    // Zero-copy bulk against what the machine can do at all.
    let limits = [
        "limits-64MiB/memcpy",
        "limits-64MiB/checksum",
        "limits-64MiB/copy+2 checksums mss 1460",
    ];
    println!();
    println!(
        "| tcp-proto bulk row | as a fraction of: | memcpy 64 MiB | checksum 64 MiB | copy + 2 checksums |"
    );
    println!("|---|---|---|---|---|");
    for row in &all {
        let id = row.id();
        if !(id.starts_with("bulk") && id.contains("tcp-proto")) {
            continue;
        }
        let Some(&i) = ir.get(&id) else { continue };
        let w = wall.get(&id).copied();
        let mut wl = Vec::new();
        let mut il = Vec::new();
        for l in limits {
            wl.push(match (w, wall.get(l)) {
                (Some(w), Some(lw)) => format!("{:.0} %", 100.0 * lw / w),
                _ => "-".into(),
            });
            il.push(
                ir.get(l)
                    .map_or("-".into(), |li| format!("{:.0} %", 100.0 * li / i)),
            );
        }
        println!(
            "| {id} | wall / instructions | {} / {} | {} / {} | {} / {} |",
            wl[0], il[0], wl[1], il[1], wl[2], il[2]
        );
    }
}

/// Wall time of one sample of `w`: one unit after an untimed setup for a
/// row with a setup (a bulk transfer), else `batch` units back to back.
fn time_sample(w: &mut dyn Workload, batch: u32) -> f64 {
    if w.has_setup() {
        w.setup();
        let t = std::time::Instant::now();
        black_box(measured_call(w));
        t.elapsed().as_secs_f64()
    } else {
        let t = std::time::Instant::now();
        for _ in 0..batch {
            black_box(measured_call(w));
        }
        t.elapsed().as_secs_f64()
    }
}

/// The `q`-quantile of sorted `v` (linear interpolation).
fn quantile(v: &[f64], q: f64) -> f64 {
    let x = q * (v.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    if i + 1 < v.len() {
        v[i] * (1.0 - f) + v[i + 1] * f
    } else {
        v[i]
    }
}

/// Wall-time ratios measured in pairs, for every row with a baseline whose
/// id contains `filter`.
///
/// Criterion times one row after another, so on a shared machine a change
/// of speed between two rows (another tenant, frequency) lands in their
/// ratio: on this project's VM the same row's median moved 2.4× between two
/// runs minutes apart. Here each sample times the row and its baseline back
/// to back, in alternating order (row first in even samples, baseline first
/// in odd ones, so a steady drift cancels), and the ratio is taken within
/// the sample; the table gives the median ratio over the samples and their
/// interquartile range. Rows without a setup are timed in batches of about
/// a millisecond (the same number of units on both sides), the bulk rows
/// one transfer per sample with the setup untimed, as criterion does.
fn paired(filter: &str) {
    let all = rows();
    println!(
        "| row | vs | samples | wall per unit: row / baseline (medians) | baseline/row: median of paired ratios | interquartile range |"
    );
    println!("|---|---|---|---|---|---|");
    // Each baseline also against a second instance of itself: the ratio
    // the method reads when there is no difference to find.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for row in all.iter().filter(|r| r.id().contains(filter)) {
        for base in &row.baselines {
            let own = (base.clone(), base.clone());
            if !pairs.contains(&own) {
                pairs.push(own);
            }
            pairs.push((row.id(), base.clone()));
        }
    }
    for (id, base) in &pairs {
        {
            let (row, b) = (find(id), find(base));
            let (mut rw, mut bw) = ((row.make)(), (b.make)());
            // Warm-up, and the batch size: units per ~1 ms of the slower side.
            let per = time_sample(&mut *rw, 1).max(time_sample(&mut *bw, 1));
            let batch = if rw.has_setup() {
                1
            } else {
                let per = (0..3)
                    .map(|_| time_sample(&mut *rw, 64).max(time_sample(&mut *bw, 64)) / 64.0)
                    .fold(per, f64::min);
                ((1e-3 / per).ceil() as u32).clamp(1, 1 << 20)
            };
            let samples = if rw.has_setup() { 31 } else { 201 };
            let (mut ratios, mut tr, mut tb) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..samples {
                if rw.has_setup() {
                    // Fresh instances for every sample, made in alternating
                    // order after both old ones are gone: where each one's
                    // buffers land (page, huge page, cache-set alignment)
                    // changes from sample to sample instead of favouring one
                    // side for the whole run (kept, a bulk row against
                    // itself read up to 1.12×).
                    drop((rw, bw));
                    (rw, bw) = if i % 2 == 0 {
                        let r = (row.make)();
                        (r, (b.make)())
                    } else {
                        let bb = (b.make)();
                        ((row.make)(), bb)
                    };
                }
                let (r, bt) = if i % 2 == 0 {
                    let r = time_sample(&mut *rw, batch);
                    (r, time_sample(&mut *bw, batch))
                } else {
                    let bt = time_sample(&mut *bw, batch);
                    (time_sample(&mut *rw, batch), bt)
                };
                ratios.push(bt / r);
                tr.push(r / f64::from(batch));
                tb.push(bt / f64::from(batch));
            }
            for v in [&mut ratios, &mut tr, &mut tb] {
                v.sort_by(f64::total_cmp);
            }
            let short = base.split_once('/').map_or(base.as_str(), |x| x.1);
            println!(
                "| {} | {} | {} × {} | {} / {} | {:.2}× | {:.2}–{:.2}× |",
                if id == base {
                    format!("{id} (itself: the method's zero)")
                } else {
                    id.clone()
                },
                short,
                samples,
                batch,
                human_ns(quantile(&tr, 0.5) * 1e9),
                human_ns(quantile(&tb, 0.5) * 1e9),
                quantile(&ratios, 0.5),
                quantile(&ratios, 0.25),
                quantile(&ratios, 0.75),
            );
        }
    }
}
