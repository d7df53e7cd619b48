//! The pictures (`tcp_proto::plot`) rendered headless with resvg, and
//! checked by their pixels and their elements: the ladder has an arrow per
//! segment with losses crossed out before the peer, the time-sequence
//! graph's axes span the run, retransmissions are drawn red, SACK blocks
//! purple. The PNGs are left in the target directory to look at.

use std::path::PathBuf;
use std::time::Duration;

use resvg::{tiny_skia, usvg};
use tcp_proto::plot::{Tsg, colour};
use tcp_proto::sim::{Bottleneck, Id, Link, Sim, Trace};
use tcp_proto::{Config, Connection, Event, IpPair, SeqNum, pcap};

/// A picture rendered at scale 1.
struct Picture {
    pixmap: tiny_skia::Pixmap,
}

fn render(svg: &str, name: &str) -> Picture {
    let mut opt = usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    let tree = usvg::Tree::from_str(svg, &opt).expect("the SVG parses");
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).expect("size");
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pictures");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join(format!("{name}.svg")), svg).expect("svg written");
    pixmap
        .save_png(dir.join(format!("{name}.png")))
        .expect("png written");
    Picture { pixmap }
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).expect("colour");
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

impl Picture {
    fn at(&self, x: f64, y: f64) -> [u8; 3] {
        let (x, y) = (x.round() as u32, y.round() as u32);
        match self.pixmap.pixel(x, y) {
            Some(p) => [p.red(), p.green(), p.blue()],
            None => [255, 255, 255],
        }
    }

    /// Whether some pixel within `r` of `(x, y)` is `colour` (give or
    /// take anti-aliasing).
    fn has_near(&self, x: f64, y: f64, r: f64, colour: &str) -> bool {
        let want = rgb(colour);
        let steps = (2.0 * r) as i32;
        (0..=steps).any(|i| {
            (0..=steps).any(|j| {
                let p = self.at(x - r + i as f64, y - r + j as f64);
                p.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 40)
            })
        })
    }

    /// Pixels in the rectangle that are not the white background.
    fn ink(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> usize {
        let mut n = 0;
        for y in y0 as u32..y1 as u32 {
            for x in x0 as u32..x1 as u32 {
                if self.at(x as f64, y as f64) != [255, 255, 255] {
                    n += 1;
                }
            }
        }
        n
    }
}

/// The attribute `name="..."` of an element's text.
fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = element.find(&key)? + key.len();
    let end = element[at..].find('"')?;
    Some(&element[at..at + end])
}

fn num(element: &str, name: &str) -> f64 {
    attr(element, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {name} in {element}"))
}

/// The elements (start tags, with text content up to the next tag) of
/// class `class`.
fn elements<'a>(svg: &'a str, class: &str) -> Vec<&'a str> {
    let key = format!("class=\"{class}\"");
    svg.split('<').filter(|e| e.contains(&key)).collect()
}

/// The text content of an element from [`elements`].
fn content(element: &str) -> &str {
    element.split_once('>').map_or("", |(_, t)| t)
}

/// The numbers of a path's `d` (`M x,y V y ...`), in order.
fn path_numbers(element: &str) -> Vec<f64> {
    attr(element, "d")
        .expect("d")
        .split(|c: char| c.is_ascii_alphabetic() || c == ',' || c == ' ')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().expect("number"))
        .collect()
}

/// A run with losses: `n` octets from a client (ISS just below 2^32, so
/// the relative numbers cross the wrap) to a server, then a close.
fn transfer(seed: u64, loss: f64, n: usize) -> (Sim, Id, Id) {
    let mut sim = Sim::new(seed);
    let s = sim.add(Connection::listen(Config::linux(), 80, SeqNum(7)).expect("listen"));
    let c = sim.add(
        Connection::connect(
            Config::linux(),
            40_000,
            80,
            SeqNum(u32::MAX - 5000),
            sim.now(),
        )
        .expect("connect"),
    );
    let link = Link {
        delay: Duration::from_millis(5),
        loss,
        ..Link::default()
    };
    sim.set_links(c, s, link);
    // A 20 Mbit/s bottleneck spreads the segments over time, as on a real path.
    sim.set_bottlenecks(
        c,
        s,
        Some(Bottleneck::with_bdp_queue(
            20_000_000,
            Duration::from_millis(10),
        )),
    );
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0, 0);
    let mut buf = vec![0u8; 65_536];
    let done = sim.run_until(1_000_000, |sim| {
        if sent < n
            && let Ok(k) = sim.conn_mut(c).send(&data[sent..])
        {
            sent += k;
        }
        while let Ok(k) = sim.conn_mut(s).recv(&mut buf) {
            if k == 0 {
                break;
            }
            got += k;
        }
        got == n
    });
    assert!(done, "the transfer completes");
    let now = sim.now();
    sim.conn_mut(c).close(now).expect("close");
    sim.run_until_quiet(1_000_000);
    (sim, c, s)
}

/// The plot frame: left, top, width, height.
fn frame(svg: &str) -> (f64, f64, f64, f64) {
    let rect = svg
        .split('<')
        .find(|e| e.starts_with("rect") && e.contains("fill=\"none\""))
        .expect("the plot frame");
    (
        num(rect, "x"),
        num(rect, "y"),
        num(rect, "width"),
        num(rect, "height"),
    )
}

fn seq_tick_value(label: &str) -> f64 {
    match label.strip_suffix('M') {
        Some(v) => v.parse::<f64>().expect("tick") * 1e6,
        None => match label.strip_suffix('k') {
            Some(v) => v.parse::<f64>().expect("tick") * 1e3,
            None => label.parse().expect("tick"),
        },
    }
}

#[test]
fn time_sequence_graph_spans_the_run_and_draws_retransmissions_red_and_sacks() {
    const N: usize = 120_000;
    let (sim, c, _s) = transfer(11, 0.03, N);
    // What the sender sent and what came back to it, read off the trace.
    let mut data = Vec::new();
    let mut times = Vec::new();
    let mut sack_blocks = 0;
    let mut acks = 0;
    for t in sim.trace() {
        match t {
            Trace::Sent { at, from, seg, .. } if *from == c && seg.seg_len() > 0 => {
                data.push(seg.clone());
                times.push(*at);
            }
            Trace::Delivered { at, to, seg } if *to == c && seg.flags.ack() => {
                sack_blocks += seg.options.sack_blocks.len();
                acks += 1;
                times.push(*at);
            }
            _ => {}
        }
    }
    let retransmits = sim.conn(c).stats().retransmits as usize;
    assert!(
        retransmits > 0 && sack_blocks > 0,
        "the run has losses: {retransmits} retransmissions, {sack_blocks} SACK blocks"
    );
    let (t0, t1) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());

    let g = sim.tsg(c);
    // SYN at 0, data 1..=N, FIN at N+1: the relative span despite the ISS near 2^32.
    assert_eq!(g.seq_span(), Some((0, N as i64 + 2)));
    assert_eq!(g.time_span(), Some((t0, t1)));
    let svg = g.to_svg();
    let pic = render(&svg, "tsg-lossy-transfer");
    let (left, top, pw, ph) = frame(&svg);

    // Every segment that took sequence space is one bar; the ones the
    // connection counted as retransmissions are the red ones.
    let plain = elements(&svg, "data");
    let red = elements(&svg, "retransmission");
    assert_eq!(plain.len() + red.len(), data.len());
    assert_eq!(red.len(), retransmits);
    assert_eq!(elements(&svg, "sack").len(), sack_blocks);
    assert_eq!(g.ack_count(), acks);
    assert_eq!(
        elements(&svg, "lost").len(),
        0,
        "lost segments are crossed, not a class of bars"
    );

    // The time axis: 0 at the left edge is t0, its right edge t1.
    let span_us = (t1.total_micros() - t0.total_micros()) as f64;
    let xticks = elements(&svg, "xtick");
    assert!(xticks.len() >= 4, "{} time ticks", xticks.len());
    for t in &xticks {
        let secs: f64 = content(t).parse().expect("a time label");
        let want = left + secs * 1e6 / span_us * pw;
        assert!(
            (num(t, "x") - want).abs() < 0.6,
            "time tick {secs} at {} not {want}",
            num(t, "x")
        );
        assert!(secs * 1e6 <= span_us + 0.5);
    }
    // The sequence axis: its bottom is the ISS, its top the highest
    // sequence number plus at most a quarter for the window line.
    let yticks = elements(&svg, "ytick");
    assert!(yticks.len() >= 4, "{} sequence ticks", yticks.len());
    let (a, b) = (yticks[0], yticks[yticks.len() - 1]);
    let (va, vb) = (seq_tick_value(content(a)), seq_tick_value(content(b)));
    // Labels sit 4 units below their tick (the text baseline).
    let (ya, yb) = (num(a, "y") - 4.0, num(b, "y") - 4.0);
    let per_unit = (ya - yb) / (vb - va);
    let at_bottom = va - (top + ph - ya) / per_unit;
    let at_top = va + (ya - top) / per_unit;
    let hi = (N + 2) as f64;
    assert!(
        at_bottom.abs() < hi * 0.002,
        "the axis starts at {at_bottom}, not 0"
    );
    assert!(
        at_top >= hi * 0.998 && at_top <= hi * 1.25 * 1.002,
        "the axis ends at {at_top}"
    );

    // The pixels: ink in the plot, red where the retransmissions are,
    // black where the rest are, purple where the SACK blocks are.
    assert!(pic.ink(left + 1.0, top + 1.0, left + pw - 1.0, top + ph - 1.0) > 2000);
    let mid = |e: &str| {
        let n = path_numbers(e);
        (n[0], (n[1] + n[2]) / 2.0)
    };
    for e in &red {
        let (x, y) = mid(e);
        assert!(
            pic.has_near(x, y, 1.5, colour::RETRANSMISSION),
            "a retransmission at ({x}, {y}) is not red"
        );
    }
    let black = plain
        .iter()
        .filter(|e| {
            let (x, y) = mid(e);
            pic.has_near(x, y, 1.5, colour::DATA)
        })
        .count();
    assert!(
        black * 10 >= plain.len() * 9,
        "{black} of {} first transmissions drawn black",
        plain.len()
    );
    for e in elements(&svg, "sack") {
        let (x, y) = mid(e);
        assert!(
            pic.has_near(x, y, 2.0, colour::SACK),
            "a SACK block at ({x}, {y}) is not purple"
        );
    }
    // The ACK line ends at the top of the data (everything acknowledged).
    let y_hi = yb - (hi - vb) * per_unit;
    assert!(
        pic.has_near(left + pw - 4.0, y_hi, 2.0, colour::ACK),
        "the ACK line does not end at {y_hi}"
    );
}

#[test]
fn ladder_has_an_arrow_per_segment_and_losses_end_in_a_cross_before_the_peer() {
    let (sim, c, s) = transfer(5, 0.2, 6000);
    let (mut sent, mut lost, mut states) = (0, 0, 0);
    for t in sim.trace() {
        match t {
            Trace::Sent {
                from,
                to: Some(to),
                lost: l,
                ..
            } if (*from == c && *to == s) || (*from == s && *to == c) => {
                sent += 1;
                lost += usize::from(*l);
            }
            Trace::Event {
                id,
                event: Event::StateChanged { .. },
                ..
            } if *id == c || *id == s => states += 1,
            _ => {}
        }
    }
    assert!(lost > 0, "the run loses segments");
    let ladder = sim.ladder(c, s);
    assert_eq!(ladder.arrows().count(), sent);
    let svg = ladder.to_svg();
    let pic = render(&svg, "ladder-lossy-transfer");

    let timelines: Vec<f64> = elements(&svg, "timeline")
        .iter()
        .map(|e| num(e, "x1"))
        .collect();
    let [left, right] = timelines[..] else {
        panic!("two timelines: {timelines:?}")
    };
    assert_eq!(elements(&svg, "state-name").len(), states);
    // Each arrow is a group: `<g id="seg-N" class="arrow l2r[ lost]">` then
    // its title, label, line and head (or cross).
    let groups: Vec<&str> = svg.split("<g id=\"seg-").skip(1).collect();
    assert_eq!(groups.len(), sent);
    let mut last_y = 0.0;
    let mut crossed = 0;
    for g in groups {
        let g = &g[..g.find("</g>").expect("group closes")];
        let head = g.split('>').next().expect("tag");
        let l2r = head.contains("l2r");
        let (from_x, to_x, colour) = if l2r {
            (left, right, colour::LEFT_TO_RIGHT)
        } else {
            (right, left, colour::RIGHT_TO_LEFT)
        };
        let line = g
            .split('<')
            .find(|e| e.starts_with("line"))
            .expect("a line");
        let (x1, y1, x2, y2) = (
            num(line, "x1"),
            num(line, "y1"),
            num(line, "x2"),
            num(line, "y2"),
        );
        assert_eq!(x1, from_x, "an arrow starts at its sender");
        assert!(y1 > last_y, "time runs down the page");
        last_y = y1;
        let dir = (to_x - from_x).signum();
        assert!(
            pic.has_near(x1 + dir * 8.0, y1, 1.5, colour),
            "arrow at y={y1} not drawn"
        );
        if head.contains("lost") {
            crossed += 1;
            let cross = g
                .split('<')
                .find(|e| e.starts_with("path class=\"loss\""))
                .expect("a cross");
            let p = path_numbers(cross);
            let (cx, cy) = ((p[0] + p[2]) / 2.0, (p[1] + p[3]) / 2.0);
            assert!(
                (cx - x2).abs() < 0.2 && (cy - y2).abs() < 0.2,
                "the cross ends the line"
            );
            assert!(
                (cx - from_x) * dir > 40.0 && (to_x - cx) * dir > 40.0,
                "the cross is between the hosts"
            );
            assert!(
                pic.has_near(cx, cy, 2.0, colour::LOSS),
                "the cross at ({cx}, {cy}) is not red"
            );
            assert!(!g.contains("<polygon"), "a lost segment has no head");
            // Nothing of this arrow reaches the peer.
            let peer_y = cy + (cy - y1) * (to_x - cx) / (cx - x1);
            assert!(
                !pic.has_near(to_x - dir * 12.0, peer_y, 2.0, colour),
                "a lost arrow reaches the peer"
            );
        } else {
            let poly = g
                .split('<')
                .find(|e| e.starts_with("polygon"))
                .expect("a head");
            let tip: Vec<f64> = attr(poly, "points")
                .expect("points")
                .split([' ', ','])
                .take(2)
                .map(|v| v.parse().expect("number"))
                .collect();
            assert_eq!(tip[0], to_x, "a delivered arrow ends at the peer");
            assert!(
                pic.has_near(tip[0] - dir * 4.0, tip[1], 1.5, colour),
                "no head at {tip:?}"
            );
        }
    }
    assert_eq!(crossed, lost);
}

#[test]
fn time_sequence_graph_from_a_capture_matches_the_simulator() {
    let (sim, c, s) = transfer(11, 0.03, 50_000);
    // A capture at the client: what it sent (lost or not) and what reached it.
    let mut file = Vec::new();
    pcap::global_header(&mut file);
    let (to_s, to_c) = (sim.addrs(c, s), sim.addrs(s, c));
    let mut noise = 0;
    for t in sim.trace() {
        match t {
            Trace::Sent { at, from, seg, .. } if *from == c => {
                pcap::segment_packet(&mut file, *at, &to_s, seg).expect("encodes");
            }
            Trace::Delivered { at, to, seg } if *to == c => {
                pcap::segment_packet(&mut file, *at, &to_c, seg).expect("encodes");
                // Another, smaller flow in the same capture.
                if noise < 3 {
                    noise += 1;
                    let other = IpPair::V4 {
                        src: [192, 0, 2, 9],
                        dst: [192, 0, 2, 10],
                    };
                    let mut seg = seg.clone();
                    seg.payload = bytes::Bytes::from_static(&[1; 100]);
                    pcap::segment_packet(&mut file, *at, &other, &seg).expect("encodes");
                }
            }
            _ => {}
        }
    }
    let from_sim = sim.tsg(c);
    let from_pcap = Tsg::from_pcap(&file).expect("the capture reads");
    assert_eq!(from_pcap.time_span(), from_sim.time_span());
    assert_eq!(from_pcap.seq_span(), from_sim.seq_span());
    assert_eq!(from_pcap.seq_span(), Some((0, 50_002)));
    assert_eq!(from_pcap.ack_count(), from_sim.ack_count());
    assert_eq!(from_pcap.sack_count(), from_sim.sack_count());
    let strip = |g: &Tsg| -> Vec<_> {
        g.bars()
            .iter()
            .map(|b| (b.at, b.seq, b.end, b.retransmission))
            .collect()
    };
    assert_eq!(strip(&from_pcap), strip(&from_sim));
    assert!(from_pcap.bars().iter().any(|b| b.retransmission));
    let svg = from_pcap.to_svg();
    assert!(
        svg.contains("10.0.0.2:40000 → 10.0.0.1:80"),
        "the title names the flow"
    );
    let pic = render(&svg, "tsg-from-pcap");
    let (left, top, pw, ph) = frame(&svg);
    assert!(pic.ink(left + 1.0, top + 1.0, left + pw - 1.0, top + ph - 1.0) > 2000);
}

/// `examples/handshake --svg --tsg` draws the run its text ladder shows:
/// the same arrows, the same losses, a bar per server segment with data.
#[test]
fn handshake_example_pictures_show_the_printed_exchange() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pictures");
    std::fs::create_dir_all(&dir).expect("dir");
    let (ladder_path, tsg_path) = (
        dir.join("handshake-ladder.svg"),
        dir.join("handshake-tsg.svg"),
    );
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "--example",
            "handshake",
            "--",
            "--loss",
            "0.3",
            "--seed",
            "7",
            "--svg",
        ])
        .arg(&ladder_path)
        .arg("--tsg")
        .arg(&tsg_path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arrows: Vec<&str> = text.lines().filter(|l| l.contains(" seq=")).collect();
    let lost = arrows
        .iter()
        .filter(|l| l.contains("-x ") || l.contains(" x-"))
        .count();
    let reported: usize = text
        .lines()
        .find_map(|l| {
            l.split_once(" segments lost on the link")
                .map(|(n, _)| n.trim())
        })
        .and_then(|n| n.parse().ok())
        .expect("the loss count is printed");
    assert!(lost > 0);
    assert_eq!(lost, reported);

    let svg = std::fs::read_to_string(&ladder_path).expect("ladder written");
    assert_eq!(svg.matches("<g id=\"seg-").count(), arrows.len());
    assert_eq!(svg.matches("lost\">").count(), lost);
    let pic = render(&svg, "handshake-ladder");
    assert!(pic.ink(0.0, 60.0, 820.0, 400.0) > 5000);

    // The server's segments that take sequence space (data, SYN, FIN).
    let server_bars = arrows
        .iter()
        .filter(|l| l.contains("<-") || l.contains(" x-"))
        .filter(|l| !l.contains(" len=0") || l.contains("[S") || l.contains("[F"))
        .count();
    let tsg = std::fs::read_to_string(&tsg_path).expect("tsg written");
    let bars = elements(&tsg, "data").len() + elements(&tsg, "retransmission").len();
    assert_eq!(bars, server_bars);
    assert!(
        !elements(&tsg, "retransmission").is_empty(),
        "the lost response segment is resent, in red"
    );
    let pic = render(&tsg, "handshake-tsg");
    let (left, top, pw, ph) = frame(&tsg);
    assert!(pic.ink(left + 1.0, top + 1.0, left + pw - 1.0, top + ph - 1.0) > 500);
}
