//! The ladder diagram of an exchange between two hosts: a column per host
//! whose state names are shown where they change, one arrow per segment
//! with its flags, relative seq/ack and payload length, and losses marked
//! by an arrow that ends in a cross before the peer. Rendered as text (the
//! textbook figure in a terminal) or as SVG, from the same rows.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use super::colour::{LEFT_TO_RIGHT, LOSS, RIGHT_TO_LEFT};
use super::svg::{Anchor, Svg, sqrt};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::wire::{Flags, Segment};

/// One of the two hosts of a [`Ladder`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Column {
    /// The host drawn on the left (the client, by habit).
    Left,
    /// The host drawn on the right.
    Right,
}

impl Column {
    fn index(self) -> usize {
        match self {
            Column::Left => 0,
            Column::Right => 1,
        }
    }

    fn other(self) -> Column {
        match self {
            Column::Left => Column::Right,
            Column::Right => Column::Left,
        }
    }
}

/// One segment as the ladder shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrow {
    /// When it was sent.
    pub at: Instant,
    /// The host that sent it.
    pub from: Column,
    /// Its control bits.
    pub flags: Flags,
    /// SEG.SEQ relative to the sender's initial sequence number.
    pub seq: u32,
    /// SEG.ACK relative to the receiver's initial sequence number, when the
    /// ACK bit is set.
    pub ack: Option<u32>,
    /// Payload octets.
    pub len: usize,
    /// SACK blocks, relative like `ack`.
    pub sack: Vec<(u32, u32)>,
    /// The link lost it.
    pub lost: bool,
}

impl Arrow {
    /// The label drawn on the arrow: `[S.] seq=0 ack=1 len=0`, with SACK
    /// blocks when there are some.
    pub fn label(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{} seq={}", self.flags, self.seq);
        if let Some(a) = self.ack {
            let _ = write!(s, " ack={a}");
        }
        let _ = write!(s, " len={}", self.len);
        for (i, (l, r)) in self.sack.iter().enumerate() {
            let sep = if i == 0 { " sack=" } else { "," };
            let _ = write!(s, "{sep}{l}-{r}");
        }
        s
    }
}

#[derive(Clone, Debug)]
enum Row {
    Arrow(Arrow),
    State {
        at: Instant,
        col: Column,
        state: State,
    },
    Note {
        at: Instant,
        col: Column,
        text: String,
    },
}

/// A ladder diagram being recorded: add segments, state changes and notes
/// in the order they happen, then render with [`Ladder::to_text`] or
/// [`Ladder::to_svg`].
///
/// ```
/// use tcp_proto::plot::{Column, Ladder};
/// use tcp_proto::{Flags, Instant, Segment, SeqNum, State};
///
/// let mut l = Ladder::new(Instant::ZERO, "client", "server");
/// l.state(Instant::ZERO, Column::Left, State::SynSent);
/// let syn = Segment { seq: SeqNum(7), flags: Flags::SYN, ..Segment::default() };
/// l.segment(Instant::ZERO, Column::Left, &syn, false);
/// let svg = l.to_svg();
/// assert!(svg.starts_with("<svg") && svg.contains("[S] seq=0 len=0"));
/// assert_eq!(l.arrows().count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Ladder {
    start: Instant,
    names: [String; 2],
    caption: Vec<String>,
    rows: Vec<Row>,
    /// Each host's initial sequence number, once known: its first SYN's
    /// sequence number (or its first segment's, if the capture starts later).
    base: [Option<SeqNum>; 2],
}

// Text layout (columns of characters).
const TIME_W: usize = 9;
const SIDE_W: usize = 15;
const ARROW_W: usize = 44;

// SVG layout (user units).
const WIDTH: f64 = 820.0;
const TIME_X: f64 = 62.0;
const LEFT_X: f64 = 230.0;
const RIGHT_X: f64 = 650.0;
const HEAD_Y: f64 = 72.0;
const FIRST_ROW_Y: f64 = 100.0;
const ARROW_ROW: f64 = 34.0;
const ARROW_DROP: f64 = 14.0;
const STATE_ROW: f64 = 24.0;
const NOTE_ROW: f64 = 18.0;
/// How far across a lost segment's arrow goes before its cross.
const LOST_AT: f64 = 0.62;

const STATE_FILL: &str = "#e8eef8";
const STATE_TEXT: &str = "#1a1a1a";
const NOTE_TEXT: &str = "#6b6b6b";
const TIMELINE: &str = "#9a9a9a";

impl Ladder {
    /// An empty ladder whose times are shown relative to `start`, between
    /// hosts named `left` and `right`; both start CLOSED.
    pub fn new(start: Instant, left: &str, right: &str) -> Ladder {
        Ladder {
            start,
            names: [left.to_string(), right.to_string()],
            caption: Vec::new(),
            rows: Vec::new(),
            base: [None, None],
        }
    }

    /// Adds a line of caption under the title of the SVG (the first line
    /// is the title).
    pub fn caption(&mut self, line: &str) {
        self.caption.push(line.to_string());
    }

    /// `col` moved to `state` at `at`.
    pub fn state(&mut self, at: Instant, col: Column, state: State) {
        self.rows.push(Row::State { at, col, state });
    }

    /// A note in `col` at `at`: an application call, a read.
    pub fn note(&mut self, at: Instant, col: Column, text: &str) {
        self.rows.push(Row::Note {
            at,
            col,
            text: text.to_string(),
        });
    }

    /// `from` sent `seg` at `at`; `lost` if the link dropped it. Sequence
    /// numbers are made relative to each host's ISS (its first SYN).
    pub fn segment(&mut self, at: Instant, from: Column, seg: &Segment, lost: bool) {
        let me = from.index();
        if seg.flags.syn() && !seg.flags.rst() {
            // A retransmitted SYN has the same ISS; a new one (RFC 6191
            // reuse) starts the numbering again.
            self.base[me] = Some(seg.seq);
        }
        let mine = *self.base[me].get_or_insert(seg.seq);
        let theirs = self.base[from.other().index()];
        let rel_theirs = |s: SeqNum| s.0.wrapping_sub(theirs.map_or(0, |b| b.0));
        self.rows.push(Row::Arrow(Arrow {
            at,
            from,
            flags: seg.flags,
            seq: seg.seq.0.wrapping_sub(mine.0),
            ack: seg.flags.ack().then(|| rel_theirs(seg.ack)),
            len: seg.payload.len(),
            sack: seg
                .options
                .sack_blocks
                .as_slice()
                .iter()
                .map(|b| (rel_theirs(b.left), rel_theirs(b.right)))
                .collect(),
            lost,
        }));
    }

    /// The arrows, in the order the segments were sent.
    pub fn arrows(&self) -> impl Iterator<Item = &Arrow> + '_ {
        self.rows.iter().filter_map(|r| match r {
            Row::Arrow(a) => Some(a),
            _ => None,
        })
    }

    fn at(row: &Row) -> Instant {
        match row {
            Row::Arrow(a) => a.at,
            Row::State { at, .. } | Row::Note { at, .. } => *at,
        }
    }

    fn seconds(&self, at: Instant) -> f64 {
        (at - self.start).as_secs_f64()
    }

    /// What the two text columns show when `col` has `text` to say.
    fn sides<'a>(col: Column, text: &'a str, shown: &[State; 2]) -> (&'a str, &'a str) {
        match col {
            Column::Left => (text, shown[1].name()),
            Column::Right => (shown[0].name(), text),
        }
    }

    /// The ladder as text, one line per row: time, the left column, the
    /// arrow, the right column (each column shows its host's state, or the
    /// note or transition of the moment).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>tw$}  {:<cw$} {:mw$} {}",
            "time",
            self.names[0],
            "",
            self.names[1],
            tw = TIME_W,
            cw = SIDE_W,
            mw = ARROW_W
        );
        let mut shown = [State::Closed; 2];
        let line = |out: &mut String, at: Instant, l: &str, mid: &str, r: &str| {
            let _ = writeln!(
                out,
                "{:>w$.3}s  {:<cw$} {:<mw$} {}",
                self.seconds(at),
                l,
                mid,
                r,
                w = TIME_W - 1,
                cw = SIDE_W,
                mw = ARROW_W
            );
        };
        line(&mut out, self.start, shown[0].name(), "", shown[1].name());
        for row in &self.rows {
            let at = Self::at(row);
            match row {
                Row::Arrow(a) => {
                    let label = a.label();
                    let dashes = "-".repeat(ARROW_W.saturating_sub(label.chars().count() + 5));
                    let arrow = match (a.from, a.lost) {
                        (Column::Left, false) => alloc::format!("--{label} {dashes}->"),
                        (Column::Left, true) => alloc::format!("--{label} {dashes}-x"),
                        (Column::Right, false) => alloc::format!("<-{dashes} {label}--"),
                        (Column::Right, true) => alloc::format!("x-{dashes} {label}--"),
                    };
                    line(&mut out, at, shown[0].name(), &arrow, shown[1].name());
                }
                Row::State { col, state, .. } => {
                    shown[col.index()] = *state;
                    let text = alloc::format!("→ {}", state.name());
                    let (l, r) = Self::sides(*col, &text, &shown);
                    line(&mut out, at, l, "", r);
                }
                Row::Note { col, text, .. } => {
                    let (l, r) = Self::sides(*col, text, &shown);
                    line(&mut out, at, l, "", r);
                }
            }
        }
        out
    }

    fn row_height(row: &Row) -> f64 {
        match row {
            Row::Arrow(_) => ARROW_ROW,
            Row::State { .. } => STATE_ROW,
            Row::Note { .. } => NOTE_ROW,
        }
    }

    fn column_x(col: Column) -> f64 {
        match col {
            Column::Left => LEFT_X,
            Column::Right => RIGHT_X,
        }
    }

    /// The ladder as an SVG document: time runs down, one row per segment,
    /// state change or note (rows are evenly spaced, not to scale; the
    /// time of each row is in the left margin). Each arrow is a group
    /// `class="arrow l2r"` (or `r2l`, plus `lost`) holding its line, head
    /// or cross, and label.
    pub fn to_svg(&self) -> String {
        let extra_caption = self.caption.len().saturating_sub(1) as f64;
        let head_y = HEAD_Y + 15.0 * extra_caption;
        let first_row = FIRST_ROW_Y + 15.0 * extra_caption;
        let rows_h: f64 = self.rows.iter().map(Self::row_height).sum();
        let bottom = first_row + rows_h + 10.0;
        let height = bottom + 34.0;
        let mut svg = Svg::new(WIDTH, height);

        svg.heading(WIDTH, &self.caption, "TCP exchange", 24.0, 44.0);
        svg.text(
            TIME_X,
            head_y,
            Anchor::End,
            12.0,
            "#555555",
            "normal",
            "head",
            "time (s)",
        );
        for col in [Column::Left, Column::Right] {
            let x = Self::column_x(col);
            let name = &self.names[col.index()];
            svg.text(
                x,
                head_y,
                Anchor::Middle,
                14.0,
                "#111111",
                "bold",
                "host",
                name,
            );
            svg.line(
                x,
                head_y + 8.0,
                x,
                bottom,
                TIMELINE,
                2.0,
                " class=\"timeline\"",
            );
        }

        let mut y = first_row;
        let mut last_time = String::new();
        let mut n = 0usize;
        for row in &self.rows {
            let at = Self::at(row);
            let time = alloc::format!("{:.3}", self.seconds(at));
            let time_y = match row {
                Row::Arrow(_) => y + 16.0,
                Row::State { .. } => y + 16.0,
                Row::Note { .. } => y + 13.0,
            };
            if time != last_time {
                svg.text(
                    TIME_X,
                    time_y,
                    Anchor::End,
                    11.0,
                    "#555555",
                    "normal",
                    "time",
                    &time,
                );
                last_time = time;
            }
            match row {
                Row::Arrow(a) => {
                    self.draw_arrow(&mut svg, n, a, y);
                    n += 1;
                }
                Row::State { col, state, .. } => {
                    let name = state.name();
                    let w = 8.2 * name.len() as f64 + 14.0;
                    let x = Self::column_x(*col);
                    let bx = match col {
                        Column::Left => x - 12.0 - w,
                        Column::Right => x + 12.0,
                    };
                    svg.group("", "state");
                    svg.line(
                        x,
                        y + 12.0,
                        bx + if *col == Column::Left { w } else { 0.0 },
                        y + 12.0,
                        TIMELINE,
                        1.0,
                        "",
                    );
                    svg.rect(bx, y + 3.0, w, 18.0, STATE_FILL, "#7f93b8", 4.0);
                    svg.rect(x - 4.0, y + 8.0, 8.0, 8.0, "#4a4a4a", "none", 1.0);
                    svg.text(
                        bx + w / 2.0,
                        y + 16.5,
                        Anchor::Middle,
                        12.0,
                        STATE_TEXT,
                        "bold",
                        "state-name",
                        name,
                    );
                    svg.end_group();
                }
                Row::Note { col, text, .. } => {
                    let (x, anchor) = match col {
                        Column::Left => (LEFT_X - 12.0, Anchor::End),
                        Column::Right => (RIGHT_X + 12.0, Anchor::Start),
                    };
                    svg.text(x, y + 13.0, anchor, 11.0, NOTE_TEXT, "normal", "note", text);
                }
            }
            y += Self::row_height(row);
        }

        let legend_y = bottom + 22.0;
        let legend = |svg: &mut Svg, x: f64, anchor: Anchor, fill: &str, text: &str| {
            svg.text(x, legend_y, anchor, 11.0, fill, "normal", "legend", text);
        };
        let mut lx = 30.0;
        let forward = alloc::format!("{} → {}", self.names[0], self.names[1]);
        let backward = alloc::format!("{} → {}", self.names[1], self.names[0]);
        for (colour, text) in [(LEFT_TO_RIGHT, &forward), (RIGHT_TO_LEFT, &backward)] {
            svg.line(
                lx,
                legend_y - 4.0,
                lx + 24.0,
                legend_y - 4.0,
                colour,
                2.0,
                "",
            );
            legend(&mut svg, lx + 30.0, Anchor::Start, "#333333", text);
            lx += 30.0 + 6.6 * text.chars().count() as f64 + 24.0;
        }
        svg.cross(lx + 5.0, legend_y - 4.0, 5.0, LOSS, 2.5);
        legend(
            &mut svg,
            lx + 16.0,
            Anchor::Start,
            "#333333",
            "lost on the link",
        );
        legend(
            &mut svg,
            WIDTH - 16.0,
            Anchor::End,
            "#777777",
            "seq/ack relative to each ISS",
        );
        svg.finish()
    }

    /// One segment's arrow in the row starting at `y`.
    fn draw_arrow(&self, svg: &mut Svg, n: usize, a: &Arrow, y: f64) {
        let (x1, x2, colour, class) = match a.from {
            Column::Left => (LEFT_X, RIGHT_X, LEFT_TO_RIGHT, "arrow l2r"),
            Column::Right => (RIGHT_X, LEFT_X, RIGHT_TO_LEFT, "arrow r2l"),
        };
        let class = if a.lost {
            alloc::format!("{class} lost")
        } else {
            class.to_string()
        };
        let label = a.label();
        svg.group(&alloc::format!("seg-{n}"), &class);
        svg.title(&alloc::format!(
            "{:.6} s: {label}{}",
            self.seconds(a.at),
            if a.lost { " (lost)" } else { "" }
        ));
        let y1 = y + 12.0;
        let y2 = y1 + ARROW_DROP;
        let mid = (x1 + x2) / 2.0;
        svg.text(
            mid,
            y1 - 2.5,
            Anchor::Middle,
            11.5,
            colour,
            "normal",
            "label",
            &label,
        );
        if a.lost {
            let xe = x1 + (x2 - x1) * LOST_AT;
            let ye = y1 + ARROW_DROP * LOST_AT;
            svg.line(x1, y1, xe, ye, colour, 2.0, "");
            svg.cross(xe, ye, 6.0, LOSS, 3.0);
            let (tx, anchor) = if x2 > x1 {
                (xe + 12.0, Anchor::Start)
            } else {
                (xe - 12.0, Anchor::End)
            };
            svg.text(tx, ye + 4.0, anchor, 11.0, LOSS, "bold", "lost", "lost");
        } else {
            let (dx, dy) = (x2 - x1, y2 - y1);
            let len = sqrt(dx * dx + dy * dy);
            let (ux, uy) = (dx / len, dy / len);
            let (bx, by) = (x2 - ux * 10.0, y2 - uy * 10.0);
            svg.line(x1, y1, bx, by, colour, 2.0, "");
            svg.polygon(
                &[
                    (x2, y2),
                    (bx - uy * 4.5, by + ux * 4.5),
                    (bx + uy * 4.5, by - ux * 4.5),
                ],
                colour,
            );
        }
        svg.end_group();
    }
}
