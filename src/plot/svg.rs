//! The few SVG elements the pictures use, written into a `String`, and the
//! axis ticks. Coordinates are user units (pixels at scale 1) with one
//! decimal, so the text stays small and diffs stay stable.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Escapes the characters XML reserves in text and attribute values.
pub(crate) fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// An SVG document being written.
pub(crate) struct Svg {
    out: String,
}

/// Where a text's `x` is: its start, middle or end.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

// `write!` into a `String` cannot fail; the results are ignored on purpose.
impl Svg {
    /// A `width` × `height` document on a white background.
    pub(crate) fn new(width: f64, height: f64) -> Svg {
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        );
        Svg { out }
    }

    /// Opens a group; `id` (if any) names it for readers and tests.
    pub(crate) fn group(&mut self, id: &str, class: &str) {
        self.out.push_str("<g");
        if !id.is_empty() {
            let _ = write!(self.out, " id=\"{id}\"");
        }
        if !class.is_empty() {
            let _ = write!(self.out, " class=\"{class}\"");
        }
        self.out.push_str(">\n");
    }

    /// Closes the innermost group.
    pub(crate) fn end_group(&mut self) {
        self.out.push_str("</g>\n");
    }

    /// A straight line; `extra` is appended inside the tag (e.g. a dash array).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn line(
        &mut self,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        stroke: &str,
        width: f64,
        extra: &str,
    ) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\" \
             stroke-width=\"{width}\"{extra}/>"
        );
    }

    /// An unfilled polyline through `points`.
    pub(crate) fn polyline(
        &mut self,
        points: &[(f64, f64)],
        stroke: &str,
        width: f64,
        class: &str,
    ) {
        if points.is_empty() {
            return;
        }
        let _ = write!(self.out, "<polyline class=\"{class}\" points=\"");
        for (i, (x, y)) in points.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(self.out, "{sep}{x:.1},{y:.1}");
        }
        let _ = writeln!(
            self.out,
            "\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"/>"
        );
    }

    /// A filled polygon (an arrow head).
    pub(crate) fn polygon(&mut self, points: &[(f64, f64)], fill: &str) {
        self.out.push_str("<polygon points=\"");
        for (i, (x, y)) in points.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(self.out, "{sep}{x:.1},{y:.1}");
        }
        let _ = writeln!(self.out, "\" fill=\"{fill}\"/>");
    }

    /// A rectangle; `stroke` may be `"none"`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        stroke: &str,
        rx: f64,
    ) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{rx}\" \
             fill=\"{fill}\" stroke=\"{stroke}\"/>"
        );
    }

    /// A cross of half-size `r` centred on `(x, y)`: a loss.
    pub(crate) fn cross(&mut self, x: f64, y: f64, r: f64, stroke: &str, width: f64) {
        let _ = writeln!(
            self.out,
            "<path class=\"loss\" d=\"M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}\" \
             stroke=\"{stroke}\" stroke-width=\"{width}\" stroke-linecap=\"round\"/>",
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        );
    }

    /// A line of text; `weight` is a CSS font weight ("normal", "bold").
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn text(
        &mut self,
        x: f64,
        y: f64,
        anchor: Anchor,
        size: f64,
        fill: &str,
        weight: &str,
        class: &str,
        content: &str,
    ) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{}\" font-size=\"{size}\" \
             fill=\"{fill}\" font-weight=\"{weight}\">",
            anchor.name()
        );
        escape(content, &mut self.out);
        self.out.push_str("</text>\n");
    }

    /// A path (`d` in SVG path syntax), unfilled.
    pub(crate) fn path(&mut self, d: &str, stroke: &str, width: f64, class: &str) {
        let _ = writeln!(
            self.out,
            "<path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>"
        );
    }

    /// Defines a rectangular clip path named `id`.
    pub(crate) fn clip_rect(&mut self, id: &str, x: f64, y: f64, w: f64, h: f64) {
        let _ = writeln!(
            self.out,
            "<defs><clipPath id=\"{id}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\"/></clipPath></defs>"
        );
    }

    /// Opens a group clipped by the clip path `clip`.
    pub(crate) fn clipped_group(&mut self, clip: &str) {
        let _ = writeln!(self.out, "<g clip-path=\"url(#{clip})\">");
    }

    /// A line of text reading upwards, centred on `(x, y)` (an axis title).
    pub(crate) fn vtext(
        &mut self,
        x: f64,
        y: f64,
        size: f64,
        fill: &str,
        class: &str,
        content: &str,
    ) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" transform=\"rotate(-90 {x:.1} {y:.1})\" \
             text-anchor=\"middle\" font-size=\"{size}\" fill=\"{fill}\">"
        );
        escape(content, &mut self.out);
        self.out.push_str("</text>\n");
    }

    /// A `<title>` (a tooltip in browsers) for the enclosing group.
    /// The heading both pictures share, centred on a `width`-wide page:
    /// `caption[0]` in bold at `title_y` (shrunk to fit), the other lines smaller, 15 units apart
    /// from `first_caption_y`.
    pub(crate) fn heading(
        &mut self,
        width: f64,
        caption: &[String],
        fallback: &str,
        title_y: f64,
        first_caption_y: f64,
    ) {
        let title = caption.first().map_or(fallback, String::as_str);
        let middle = width / 2.0;
        let size = fit(title, 15.0, width - 20.0);
        self.text(
            middle,
            title_y,
            Anchor::Middle,
            size,
            "#111111",
            "bold",
            "title",
            title,
        );
        for (i, c) in caption.iter().skip(1).enumerate() {
            let y = first_caption_y + 15.0 * i as f64;
            self.text(
                middle,
                y,
                Anchor::Middle,
                11.0,
                "#555555",
                "normal",
                "caption",
                c,
            );
        }
    }

    pub(crate) fn title(&mut self, content: &str) {
        self.out.push_str("<title>");
        escape(content, &mut self.out);
        self.out.push_str("</title>\n");
    }

    /// Closes the document and returns its text.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// The font size, at most `size`, at which `text` fits in `width` (an
/// estimate: DejaVu Sans averages about 0.62 em per character).
pub(crate) fn fit(text: &str, size: f64, width: f64) -> f64 {
    let em = 0.62 * text.chars().count() as f64;
    if em * size <= width { size } else { width / em }
}

/// Tick positions for an axis over `[lo, hi]` (integers, in the axis's
/// unit): multiples of a step of 1, 2 or 5 × 10^k chosen so that at most
/// about `target` ticks fall inside. Returns the step and the ticks.
pub(crate) fn ticks(lo: i64, hi: i64, target: u64) -> (u64, Vec<i64>) {
    let span = hi.abs_diff(lo).max(1);
    let target = target.max(1);
    let mut step = 1u64;
    'search: loop {
        for m in [1u64, 2, 5] {
            let s = step.saturating_mul(m);
            if span / s <= target || s == u64::MAX {
                step = s;
                break 'search;
            }
        }
        step = step.saturating_mul(10);
    }
    let mut out = Vec::new();
    let Ok(st) = i64::try_from(step) else {
        return (step, out);
    };
    // The first multiple of the step at or above `lo`.
    let mut v = lo.div_euclid(st).saturating_mul(st);
    if v < lo {
        v = v.saturating_add(st);
    }
    while v <= hi && out.len() < 64 {
        out.push(v);
        match v.checked_add(st) {
            Some(n) => v = n,
            None => break,
        }
    }
    (step, out)
}

/// The number of decimals a value printed in units of `unit` needs when
/// ticks are `step` apart (both in the same base unit): `step` 250 with
/// `unit` 1000 needs 2 (0.25, 0.50).
pub(crate) fn decimals(step: u64, unit: u64) -> usize {
    let mut d = 0;
    let mut scale = 1u64;
    while d < 9 && !step.saturating_mul(scale).is_multiple_of(unit.max(1)) {
        d += 1;
        scale = scale.saturating_mul(10);
    }
    d
}

/// The square root by Newton's method: `core` has no `f64::sqrt` without
/// `std`, and the pictures need it only to point arrow heads.
pub(crate) fn sqrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut r = if x > 1.0 { x } else { 1.0 };
    for _ in 0..64 {
        let next = 0.5 * (r + x / r);
        let d = r - next;
        if d <= f64::EPSILON * r && -d <= f64::EPSILON * r {
            return next;
        }
        r = next;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_multiples_inside_the_range() {
        let (step, t) = ticks(0, 3000, 8);
        assert_eq!(step, 500);
        assert_eq!(t, [0, 500, 1000, 1500, 2000, 2500, 3000]);
        let (step, t) = ticks(1_234, 1_290, 5);
        assert_eq!(step, 10);
        assert_eq!(t, [1_240, 1_250, 1_260, 1_270, 1_280, 1_290]);
        let (step, t) = ticks(1_234, 1_290, 3);
        assert_eq!(step, 20);
        assert_eq!(t, [1_240, 1_260, 1_280]);
        let (_, t) = ticks(7, 7, 5);
        assert_eq!(t, [7]);
        let (step, t) = ticks(-250, 250, 5);
        assert_eq!(step, 100);
        assert_eq!(t, [-200, -100, 0, 100, 200]);
    }

    #[test]
    fn decimals_follow_the_step() {
        assert_eq!(decimals(250_000, 1_000_000), 2);
        assert_eq!(decimals(1_000_000, 1_000_000), 0);
        assert_eq!(decimals(5_000, 1_000_000), 3);
        assert_eq!(decimals(2_000_000, 1_000_000), 0);
    }

    #[test]
    fn square_roots() {
        for x in [0.0, 0.25, 2.0, 176_596.0, 1e12] {
            let r = sqrt(x);
            assert!((r * r - x).abs() <= 1e-9 * x.max(1.0), "sqrt({x}) = {r}");
        }
    }

    #[test]
    fn text_is_escaped() {
        let mut s = String::new();
        escape("a<b & \"c\">", &mut s);
        assert_eq!(s, "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
