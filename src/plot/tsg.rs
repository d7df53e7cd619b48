//! The time-sequence graph of one direction of a connection, as W. R.
//! Stevens drew it and tcptrace and Wireshark draw it: time across, the
//! sequence space up; each data segment a vertical bar from its first to
//! past its last sequence number at the moment it was sent; the ACK line
//! (the receiver's cumulative ACK as it reached the sender) and above it
//! the receive-window line (ACK + advertised window); retransmissions in
//! red, SACK blocks in purple beside the ACK that carried them.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::colour::{ACK, DATA, LOST, RETRANSMISSION, SACK, WINDOW};
use super::svg::{Anchor, Svg, decimals, ticks};
use crate::pcap;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::{ChecksumMode, IpPair, Segment};
use core::net::SocketAddr;

/// One direction of a connection in a capture: source, destination.
type Flow = (SocketAddr, SocketAddr);

/// One data segment of a [`Tsg`] (anything that takes sequence space:
/// payload, SYN, FIN).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bar {
    /// When it was sent (or captured).
    pub at: Instant,
    /// Its first sequence number, relative to the sender's ISS.
    pub seq: i64,
    /// Just past its last sequence number (`seq` + SEG.LEN).
    pub end: i64,
    /// It starts below the highest sequence number sent before it: a
    /// retransmission (tcptrace's rule, so it works on captures too).
    pub retransmission: bool,
    /// The link lost it (known in simulations; never set from a capture).
    pub lost: bool,
}

/// One ACK from the receiver as the graph shows it.
#[derive(Clone, Copy, Debug)]
struct AckMark {
    at: Instant,
    ack: i64,
    /// `ack` + the window, scaled.
    window_edge: i64,
    sack: [(i64, i64); 4],
    sacks: u8,
}

/// Why a time-sequence graph could not be made from a capture.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TsgError {
    /// The capture could not be read.
    #[error("pcap: {0}")]
    Pcap(#[from] pcap::ReadError),
    /// No TCP segment in the capture carries data.
    #[error("no TCP data in the capture")]
    NoData,
}

/// A time-sequence graph being recorded: feed the data sender's segments
/// to [`Tsg::data`] and the receiver's to [`Tsg::ack`], in time order, then
/// render with [`Tsg::to_svg`].
///
/// ```
/// use bytes::Bytes;
/// use tcp_proto::plot::Tsg;
/// use tcp_proto::{Flags, Instant, Segment, SeqNum};
///
/// let mut g = Tsg::new("one segment and its ACK");
/// let data = Segment { seq: SeqNum(100), flags: Flags::ACK, payload: Bytes::from_static(&[0; 500]), ..Segment::default() };
/// g.data(Instant::from_millis(1), &data, false);
/// let ack = Segment { ack: SeqNum(600), flags: Flags::ACK, window: 1000, ..Segment::default() };
/// g.ack(Instant::from_millis(11), &ack);
/// assert_eq!(g.seq_span(), Some((0, 500)));
/// assert!(g.to_svg().contains("class=\"data\""));
/// ```
#[derive(Clone, Debug)]
pub struct Tsg {
    caption: Vec<String>,
    bars: Vec<Bar>,
    acks: Vec<AckMark>,
    /// The data sender's ISS (its SYN), or the first sequence number seen.
    base: Option<SeqNum>,
    /// The highest relative sequence number seen, to unwrap the next.
    last: i64,
    /// The highest sequence number sent (SND.MAX), relative.
    snd_max: Option<i64>,
    /// The window scale each side's SYN offered: sender, receiver.
    wscale: [Option<Option<u8>>; 2],
}

// Layout (user units).
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 580.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 86.0;
const BOTTOM: f64 = 58.0;

const GRID: &str = "#e6e6e6";
const AXIS: &str = "#333333";

impl Tsg {
    /// An empty graph titled `title`.
    pub fn new(title: &str) -> Tsg {
        Tsg {
            caption: alloc::vec![title.to_string()],
            bars: Vec::new(),
            acks: Vec::new(),
            base: None,
            last: 0,
            snd_max: None,
            wscale: [None, None],
        }
    }

    /// Adds a line of caption under the title.
    pub fn caption(&mut self, line: &str) {
        self.caption.push(line.to_string());
    }

    /// The position of `s` relative to the sender's ISS, unwrapped to the
    /// copy of the 2^32 sequence space nearest the last one seen.
    fn rel(&mut self, s: SeqNum) -> i64 {
        let base = *self.base.get_or_insert(s);
        let r = s.0.wrapping_sub(base.0);
        let near = self.last;
        let diff = i64::from(r.wrapping_sub(near as u32) as i32);
        let v = near + diff;
        self.last = v;
        v
    }

    /// A segment from the data sender, sent (or captured) at `at`; `lost`
    /// if the link dropped it. Segments that take no sequence space (pure
    /// ACKs of the other direction) are not drawn.
    pub fn data(&mut self, at: Instant, seg: &Segment, lost: bool) {
        if seg.flags.syn() {
            self.wscale[0] = Some(seg.options.window_scale);
            if !seg.flags.ack() || self.base.is_none() {
                self.base = Some(seg.seq);
                self.last = 0;
            }
        }
        if seg.seg_len() == 0 || seg.flags.rst() {
            return;
        }
        let seq = self.rel(seg.seq);
        let end = seq + i64::from(seg.seg_len());
        let retransmission = self.snd_max.is_some_and(|m| seq < m);
        self.snd_max = Some(self.snd_max.map_or(end, |m| m.max(end)));
        self.bars.push(Bar {
            at,
            seq,
            end,
            retransmission,
            lost,
        });
    }

    /// A segment from the receiver as it reached the sender at `at` (or was
    /// captured). Its ACK, window and SACK blocks are drawn; the window is
    /// scaled when both SYNs offered scaling (RFC 7323 §2.2), never on a SYN.
    pub fn ack(&mut self, at: Instant, seg: &Segment) {
        if seg.flags.syn() {
            self.wscale[1] = Some(seg.options.window_scale);
        }
        if !seg.flags.ack() || seg.flags.rst() {
            return;
        }
        let shift = match self.wscale {
            [Some(Some(_)), Some(Some(r))] if !seg.flags.syn() => u32::from(r.min(14)),
            _ => 0,
        };
        let ack = self.rel(seg.ack);
        let window = i64::from(seg.window) << shift;
        let mut mark = AckMark {
            at,
            ack,
            window_edge: ack + window,
            sack: [(0, 0); 4],
            sacks: 0,
        };
        for b in seg.options.sack_blocks.as_slice() {
            let l = self.rel(b.left);
            let r = self.rel(b.right);
            mark.sack[usize::from(mark.sacks)] = (l, r);
            mark.sacks += 1;
        }
        self.last = ack;
        self.acks.push(mark);
    }

    /// The data segments, in the order they were given.
    pub fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// How many ACKs are drawn.
    pub fn ack_count(&self) -> usize {
        self.acks.len()
    }

    /// How many SACK blocks are drawn.
    pub fn sack_count(&self) -> usize {
        self.acks.iter().map(|a| usize::from(a.sacks)).sum()
    }

    /// The first and last moments drawn: the time axis's range.
    pub fn time_span(&self) -> Option<(Instant, Instant)> {
        let times = self
            .bars
            .iter()
            .map(|b| b.at)
            .chain(self.acks.iter().map(|a| a.at));
        let lo = times.clone().min()?;
        Some((lo, times.max()?))
    }

    /// The lowest and highest sequence numbers the data, ACKs and SACK
    /// blocks reach (relative to the sender's ISS).
    pub fn seq_span(&self) -> Option<(i64, i64)> {
        let vals = self
            .bars
            .iter()
            .flat_map(|b| [b.seq, b.end])
            .chain(self.acks.iter().map(|a| a.ack))
            .chain(self.acks.iter().flat_map(|a| {
                a.sack[..usize::from(a.sacks)]
                    .iter()
                    .flat_map(|&(l, r)| [l, r])
            }));
        let lo = vals.clone().min()?;
        Some((lo, vals.max()?))
    }

    /// The sequence axis's range: [`Tsg::seq_span`], raised by at most a
    /// quarter of it so that the window line shows where it is near the
    /// data (above that it is cut off at the top of the plot).
    pub fn seq_axis(&self) -> Option<(i64, i64)> {
        let (lo, hi) = self.seq_span()?;
        let win = self.acks.iter().map(|a| a.window_edge).max().unwrap_or(hi);
        let room = (hi - lo).max(1) / 4;
        let hi = hi.max(win.min(hi + room));
        Some((lo, hi.max(lo + 1)))
    }

    /// The graph of the direction that carries the most payload in a pcap
    /// capture ([`pcap::read`]), as seen where it was captured. Other
    /// connections in the capture are ignored.
    pub fn from_pcap(file: &[u8]) -> Result<Tsg, TsgError> {
        // Pass 1: the flow (addresses and ports, one direction) with the most
        // payload; ties go to the flow seen first.
        let mut flows: BTreeMap<Flow, (u64, usize)> = BTreeMap::new();
        for p in pcap::read(file)? {
            let Some((flow, _, seg)) = Self::segment_of(p?) else {
                continue;
            };
            let order = flows.len();
            flows.entry(flow).or_insert((0, order)).0 += seg.payload.len() as u64;
        }
        let Some((&flow, &(total, _))) = flows
            .iter()
            .max_by_key(|(_, (n, order))| (*n, core::cmp::Reverse(*order)))
        else {
            return Err(TsgError::NoData);
        };
        if total == 0 {
            return Err(TsgError::NoData);
        }
        let (src, dst) = flow;
        let back = (dst, src);
        let mut g = Tsg::new(&alloc::format!("{src} → {dst}"));
        g.caption(&alloc::format!(
            "from a capture: {total} octets of payload in this direction, ACKs as captured"
        ));
        // Pass 2: that flow's data and the ACKs coming back.
        for p in pcap::read(file)? {
            let p = p?;
            let ts = p.ts;
            match Self::segment_of(p) {
                Some((f, _, seg)) if f == flow => g.data(ts, &seg, false),
                Some((f, _, seg)) if f == back => g.ack(ts, &seg),
                _ => {}
            }
        }
        Ok(g)
    }

    /// The flow, addresses and TCP segment of a captured packet, if it is one.
    fn segment_of(p: pcap::Packet<'_>) -> Option<(Flow, IpPair, Segment)> {
        let pkt = p.ip?;
        let found = crate::ip::parse(pkt)?;
        let addrs = crate::ip::pair(found.src, found.dst)?;
        // Captures often hold checksums a NIC fills in later: do not verify.
        let seg = Segment::decode_slice(&pkt[found.tcp], &addrs, ChecksumMode::Skip).ok()?;
        let flow = (
            SocketAddr::new(found.src, seg.src_port),
            SocketAddr::new(found.dst, seg.dst_port),
        );
        Some((flow, addrs, seg))
    }

    /// The graph as an SVG document. Every bar, ACK step and SACK block
    /// is its own element, with a class saying what it is (`data`,
    /// `retransmission`, `ack`, `window`, `sack`, `lost`); the axes'
    /// ranges are [`Tsg::time_span`] and [`Tsg::seq_axis`].
    pub fn to_svg(&self) -> String {
        let extra = self.caption.len().saturating_sub(2) as f64 * 15.0;
        let top = TOP + extra;
        let height = HEIGHT + extra;
        let (pw, ph) = (WIDTH - LEFT - RIGHT, height - top - BOTTOM);
        let mut svg = Svg::new(WIDTH, height);
        svg.heading(WIDTH, &self.caption, "", 22.0, 40.0);
        let window_above = self.seq_axis().is_some_and(|(_, hi)| {
            !self.acks.is_empty() && self.acks.iter().all(|a| a.window_edge > hi)
        });
        self.legend(&mut svg, top - 20.0, window_above);

        let (Some((t0, t1)), Some((lo, hi))) = (self.time_span(), self.seq_axis()) else {
            svg.text(
                WIDTH / 2.0,
                height / 2.0,
                Anchor::Middle,
                14.0,
                AXIS,
                "normal",
                "empty",
                "no data",
            );
            return svg.finish();
        };
        let (t0, t1) = (t0.total_micros() as i64, t1.total_micros() as i64);
        let tspan = (t1 - t0).max(1) as f64;
        let x = |at: Instant| LEFT + (at.total_micros() as i64 - t0) as f64 / tspan * pw;
        let sspan = (hi - lo).max(1) as f64;
        let y = |v: i64| top + ph - (v - lo) as f64 / sspan * ph;

        // Grid, ticks and labels: time from the first thing drawn, in seconds.
        let (tstep, tticks) = ticks(0, t1 - t0, 10);
        let tdec = decimals(tstep, 1_000_000);
        for t in tticks {
            let px = LEFT + t as f64 / tspan * pw;
            svg.line(px, top, px, top + ph, GRID, 1.0, "");
            svg.line(px, top + ph, px, top + ph + 5.0, AXIS, 1.0, "");
            let label = alloc::format!("{:.*}", tdec, t as f64 / 1e6);
            svg.text(
                px,
                top + ph + 18.0,
                Anchor::Middle,
                11.0,
                AXIS,
                "normal",
                "xtick",
                &label,
            );
        }
        let (sstep, sticks) = ticks(lo, hi, 8);
        for v in sticks {
            let py = y(v);
            svg.line(LEFT, py, LEFT + pw, py, GRID, 1.0, "");
            svg.line(LEFT - 5.0, py, LEFT, py, AXIS, 1.0, "");
            svg.text(
                LEFT - 8.0,
                py + 4.0,
                Anchor::End,
                11.0,
                AXIS,
                "normal",
                "ytick",
                &seq_label(v, sstep),
            );
        }
        svg.rect(LEFT, top, pw, ph, "none", AXIS, 0.0);
        let t0_s = t0 as f64 / 1e6;
        svg.text(
            LEFT + pw / 2.0,
            height - 14.0,
            Anchor::Middle,
            12.0,
            AXIS,
            "normal",
            "xlabel",
            &alloc::format!("time (s) from the first segment, at {t0_s:.6} s"),
        );
        svg.vtext(
            20.0,
            top + ph / 2.0,
            12.0,
            AXIS,
            "ylabel",
            "sequence number (octets from the ISS)",
        );

        svg.clip_rect("plot", LEFT, top - 1.0, pw, ph + 2.0);
        svg.clipped_group("plot");
        // The window line, then the ACK line: steps, the value holding until the next ACK.
        let mut win = Vec::with_capacity(self.acks.len() * 2);
        let mut ackl = Vec::with_capacity(self.acks.len() * 2);
        for (i, a) in self.acks.iter().enumerate() {
            let px = x(a.at);
            if i > 0 {
                let p = &self.acks[i - 1];
                win.push((px, y(p.window_edge)));
                ackl.push((px, y(p.ack)));
            }
            win.push((px, y(a.window_edge)));
            ackl.push((px, y(a.ack)));
        }
        if let Some(a) = self.acks.last() {
            win.push((LEFT + pw, y(a.window_edge)));
            ackl.push((LEFT + pw, y(a.ack)));
        }
        svg.polyline(&win, WINDOW, 1.5, "window");
        svg.polyline(&ackl, ACK, 1.5, "ack");
        svg.end_group();
        // SACK blocks, just right of the ACK that carried them.
        for a in &self.acks {
            for &(l, r) in &a.sack[..usize::from(a.sacks)] {
                let px = x(a.at) + 2.0;
                svg.path(
                    &alloc::format!("M{px:.1},{:.1}V{:.1}", y(l), y(r)),
                    SACK,
                    2.0,
                    "sack",
                );
            }
        }
        // The data: an I-beam per segment.
        for b in &self.bars {
            let px = x(b.at);
            let (y1, mut y2) = (y(b.seq), y(b.end));
            if y1 - y2 < 2.0 {
                y2 = y1 - 2.0;
            }
            let (colour, class) = if b.retransmission {
                (RETRANSMISSION, "retransmission")
            } else {
                (DATA, "data")
            };
            svg.path(
                &alloc::format!(
                    "M{px:.1},{y1:.1}V{y2:.1}M{:.1},{y1:.1}H{:.1}M{:.1},{y2:.1}H{:.1}",
                    px - 3.0,
                    px + 3.0,
                    px - 3.0,
                    px + 3.0
                ),
                colour,
                2.0,
                class,
            );
            if b.lost {
                svg.cross(px + 8.0, (y1 + y2) / 2.0, 3.5, LOST, 2.0);
            }
        }
        svg.finish()
    }

    /// The key above the plot; `window_above` when the whole window line
    /// is above the plot.
    fn legend(&self, svg: &mut Svg, y: f64, window_above: bool) {
        let items: [(&str, &str, bool); 6] = [
            (DATA, "data", true),
            (RETRANSMISSION, "retransmission", true),
            (ACK, "ACK", false),
            (
                WINDOW,
                if window_above {
                    "ACK + window (above the plot)"
                } else {
                    "ACK + window"
                },
                false,
            ),
            (SACK, "SACK", true),
            (LOST, "lost", true),
        ];
        let mut lx = LEFT;
        for (colour, name, bar) in items {
            if name == "lost" && !self.bars.iter().any(|b| b.lost) {
                continue;
            }
            if bar {
                svg.line(lx + 6.0, y - 10.0, lx + 6.0, y + 2.0, colour, 2.5, "");
                lx += 14.0;
            } else {
                svg.line(lx, y - 4.0, lx + 22.0, y - 4.0, colour, 2.0, "");
                lx += 28.0;
            }
            svg.text(lx, y, Anchor::Start, 11.5, AXIS, "normal", "legend", name);
            lx += 12.0 + 6.4 * name.chars().count() as f64;
        }
    }
}

/// A sequence-axis label: octets, in k or M when the ticks are round enough.
fn seq_label(v: i64, step: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else if step.is_multiple_of(1_000_000) && v % 1_000_000 == 0 {
        alloc::format!("{}M", v / 1_000_000)
    } else if step.is_multiple_of(1000) && v % 1000 == 0 {
        alloc::format!("{}k", v / 1000)
    } else {
        alloc::format!("{v}")
    }
}
