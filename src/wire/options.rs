//! Typed TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018).

use super::WireError;
use crate::seq::SeqNum;
use core::fmt;

/// One SACK block: the peer holds `[left, right)` (RFC 2018 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// Sequence number just past the block.
    pub right: SeqNum,
}

/// Up to four SACK blocks, stored inline (no allocation).
///
/// Equality and hashing look only at the blocks held, never at stale slots.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [SackBlock; 4],
    // A whole word, not an octet: no padding after it, so that a
    // segment's options are written (and copied) without stray octets.
    len: u32,
}

impl SackBlocks {
    /// The most blocks one option can carry.
    pub const MAX: usize = 4;

    /// No blocks.
    pub const fn new() -> SackBlocks {
        SackBlocks {
            blocks: [SackBlock {
                left: SeqNum(0),
                right: SeqNum(0),
            }; 4],
            len: 0,
        }
    }

    /// Appends a block; returns `false` (and keeps the list) when four are held.
    pub fn push(&mut self, block: SackBlock) -> bool {
        let i = self.len as usize;
        if i >= Self::MAX {
            return false;
        }
        self.blocks[i] = block;
        self.len += 1;
        true
    }

    /// The blocks held, in order.
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..(self.len as usize).min(Self::MAX)]
    }

    /// How many blocks are held.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops all blocks.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl core::hash::Hash for SackBlocks {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The TCP timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub val: u32,
    /// TSecr: the echoed timestamp.
    pub ecr: u32,
}

/// The options of one segment, typed. Unknown options are skipped on decode
/// (MUST-6) and never encoded.
///
/// Encoding uses Linux's layout (MSS; SACK-permitted folded with timestamps;
/// NOP+window scale; NOP NOP + SACK blocks), so a Linux SYN re-encodes to
/// the same octets; when that layout would exceed 40 octets the options are
/// packed without NOPs, so whatever decodes also encodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Options {
    /// Maximum segment size (kind 2). Only legal on SYN segments (MUST-65).
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3), as received (may exceed 14; the
    /// connection clamps it per RFC 7323 §2.3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// SACK blocks (kind 5).
    pub sack_blocks: SackBlocks,
    /// Timestamps (kind 8).
    pub timestamps: Option<Timestamps>,
}

impl Options {
    /// Whether no option is present.
    pub fn is_empty(&self) -> bool {
        self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && self.sack_blocks.is_empty()
            && self.timestamps.is_none()
    }
}

impl fmt::Display for Options {
    /// tcpdump style: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut item = |f: &mut fmt::Formatter<'_>, args: fmt::Arguments<'_>| {
            let r = write!(f, "{sep}{args}");
            sep = ",";
            r
        };
        if let Some(m) = self.mss {
            item(f, format_args!("mss {m}"))?;
        }
        if self.sack_permitted {
            item(f, format_args!("sackOK"))?;
        }
        if let Some(ts) = self.timestamps {
            item(f, format_args!("TS val {} ecr {}", ts.val, ts.ecr))?;
        }
        if let Some(ws) = self.window_scale {
            item(f, format_args!("wscale {ws}"))?;
        }
        if !self.sack_blocks.is_empty() {
            item(f, format_args!("sack {}", self.sack_blocks.len()))?;
            for b in self.sack_blocks.as_slice() {
                write!(f, " {{{}:{}}}", b.left, b.right)?;
            }
        }
        Ok(())
    }
}

/// Option kinds this crate knows (RFC 9293 §3.2, RFC 7323, RFC 2018).
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Most option octets a header holds (data offset 15 minus the fixed 20).
pub(crate) const MAX_OPTIONS_LEN: usize = 40;

/// Appends octets to a slice, failing instead of panicking when full.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let end = self.pos.saturating_add(bytes.len());
        let have = self.buf.len();
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::BufferTooSmall { need: end, have })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn put_u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    /// Octets written so far.
    pub(crate) fn written(&self) -> usize {
        self.pos
    }
}

/// The 12 octets of the timestamps option with its two leading octets
/// (`NOP NOP`, or SACK-permitted folded in; RFC 7323 Appendix A).
#[inline(always)]
fn timestamps_layout(pad: [u8; 2], ts: Timestamps) -> [u8; 12] {
    let [a, b, c, d] = ts.val.to_be_bytes();
    let [e, f, g, h] = ts.ecr.to_be_bytes();
    [pad[0], pad[1], kind::TIMESTAMPS, 10, a, b, c, d, e, f, g, h]
}

/// The option layouts of nearly every segment, told apart once per encode
/// so that its length and its octets come from one look at the options.
#[derive(Clone, Copy)]
pub(crate) enum Layout {
    /// No options (a 20-octet header).
    Bare,
    /// Timestamps alone: NOP NOP TS (a 32-octet header).
    Timestamps(Timestamps),
    /// Anything else: [`Options::encoded_len`] and [`Options::write`].
    General,
}

impl Options {
    /// Which [`Layout`] these options take.
    #[inline(always)]
    pub(crate) fn layout(&self) -> Layout {
        if self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && self.sack_blocks.is_empty()
        {
            return match self.timestamps {
                Some(ts) => Layout::Timestamps(ts),
                None => Layout::Bare,
            };
        }
        Layout::General
    }

    /// The 12 option octets of [`Layout::Timestamps`].
    #[inline(always)]
    pub(crate) fn timestamps_only(ts: Timestamps) -> [u8; 12] {
        timestamps_layout([kind::NOP, kind::NOP], ts)
    }

    /// Octets the options take on the wire: Linux's padded layout (a
    /// multiple of 4 by construction), or, when that exceeds 40 octets but
    /// the options themselves fit, the packed layout (no NOPs, EOL-padded to
    /// a multiple of 4). Anything [`Options`] decodes from a header fits one
    /// of the two. Above 40, encoding fails with [`WireError::OptionsTooLong`].
    #[inline]
    pub fn encoded_len(&self) -> usize {
        let padded = self.padded_len();
        if padded > MAX_OPTIONS_LEN && self.packed_len() <= MAX_OPTIONS_LEN {
            return self.packed_len();
        }
        padded
    }

    /// Length in Linux's padded layout.
    #[inline]
    fn padded_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamps.is_some() {
            n += 12; // SACK-permitted (or NOP NOP) folded in
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        if !self.sack_blocks.is_empty() {
            n += 4 + 8 * self.sack_blocks.len();
        }
        n
    }

    /// Length packed: every option back to back, rounded up to 4.
    fn packed_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.sack_permitted {
            n += 2;
        }
        if self.timestamps.is_some() {
            n += 10;
        }
        if self.window_scale.is_some() {
            n += 3;
        }
        if !self.sack_blocks.is_empty() {
            n += 2 + 8 * self.sack_blocks.len();
        }
        n.next_multiple_of(4)
    }

    /// Writes the options in Linux's layout into `buf`, which holds exactly
    /// [`Options::encoded_len`] octets.
    #[inline]
    pub(crate) fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        // Fast paths: no options; timestamps alone (every segment after the
        // handshake of a connection that uses them); and the SYN layouts
        // (MSS, SACK-permitted or NOP NOP, timestamps, NOP window scale).
        if self.sack_blocks.is_empty() && self.mss.is_none() && self.window_scale.is_none() {
            match (self.timestamps, self.sack_permitted) {
                (None, false) if buf.is_empty() => return Ok(()),
                (Some(ts), false) => {
                    if let Ok(dst) = <&mut [u8; 12]>::try_from(&mut *buf) {
                        *dst = timestamps_layout([kind::NOP, kind::NOP], ts);
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        if let (Some(mss), Some(ts), Some(ws), true) = (
            self.mss,
            self.timestamps,
            self.window_scale,
            self.sack_blocks.is_empty(),
        ) && let Ok(dst) = <&mut [u8; 20]>::try_from(&mut *buf)
        {
            let pad = if self.sack_permitted {
                [kind::SACK_PERMITTED, 2]
            } else {
                [kind::NOP, kind::NOP]
            };
            let [m0, m1] = mss.to_be_bytes();
            let [p0, p1, t0, t1, t2, t3, t4, t5, t6, t7, t8, t9] = timestamps_layout(pad, ts);
            *dst = [
                kind::MSS,
                4,
                m0,
                m1,
                p0,
                p1,
                t0,
                t1,
                t2,
                t3,
                t4,
                t5,
                t6,
                t7,
                t8,
                t9,
                kind::NOP,
                kind::WINDOW_SCALE,
                3,
                ws,
            ];
            return Ok(());
        }
        let mut w = Writer::new(buf);
        self.encode(&mut w)?;
        Ok(())
    }

    /// Writes the options in Linux's layout; returns the octets written
    /// (= [`Options::encoded_len`]).
    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<usize, WireError> {
        let needed = self.encoded_len();
        if needed > MAX_OPTIONS_LEN {
            return Err(WireError::OptionsTooLong { needed });
        }
        if self.padded_len() > MAX_OPTIONS_LEN {
            return self.encode_packed(w);
        }
        let start = w.written();
        // MSS first (MUST-4, MUST-14). Whether it may be sent on this
        // segment (MUST-65: SYN only) is the caller's policy, not the codec's.
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            w.put(&[kind::MSS, 4, a, b])?;
        }
        if let Some(ts) = self.timestamps {
            // RFC 7323 Appendix A layout; Linux folds SACK-permitted into
            // the two leading pad octets.
            if self.sack_permitted {
                w.put(&[kind::SACK_PERMITTED, 2, kind::TIMESTAMPS, 10])?;
            } else {
                w.put(&[kind::NOP, kind::NOP, kind::TIMESTAMPS, 10])?;
            }
            w.put_u32(ts.val)?;
            w.put_u32(ts.ecr)?;
        }
        // Without timestamps SACK-permitted takes its own word, before the
        // window scale, as Linux lays a SYN out (mss, nop, nop, sackOK,
        // nop, wscale).
        if self.sack_permitted && self.timestamps.is_none() {
            w.put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2])?;
        }
        if let Some(ws) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws])?;
        }
        if !self.sack_blocks.is_empty() {
            // At most 4 blocks, so the length is at most 34.
            let len = 2 + 8 * self.sack_blocks.len() as u8;
            w.put(&[kind::NOP, kind::NOP, kind::SACK, len])?;
            for b in self.sack_blocks.as_slice() {
                w.put_u32(b.left.0)?;
                w.put_u32(b.right.0)?;
            }
        }
        Ok(w.written() - start)
    }

    /// The packed layout: MSS, SACK-permitted, timestamps, window scale,
    /// SACK blocks, back to back, then EOL and zeros to a multiple of 4
    /// (RFC 9293 §3.1: the header is padded with zeros). For the
    /// combinations (window scale + timestamps + 3 SACK blocks: 39 octets)
    /// that fit the 40 octets only without Linux's NOPs.
    fn encode_packed(&self, w: &mut Writer<'_>) -> Result<usize, WireError> {
        let start = w.written();
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            w.put(&[kind::MSS, 4, a, b])?;
        }
        if self.sack_permitted {
            w.put(&[kind::SACK_PERMITTED, 2])?;
        }
        if let Some(ts) = self.timestamps {
            w.put(&[kind::TIMESTAMPS, 10])?;
            w.put_u32(ts.val)?;
            w.put_u32(ts.ecr)?;
        }
        if let Some(ws) = self.window_scale {
            w.put(&[kind::WINDOW_SCALE, 3, ws])?;
        }
        if !self.sack_blocks.is_empty() {
            let len = 2 + 8 * self.sack_blocks.len() as u8;
            w.put(&[kind::SACK, len])?;
            for b in self.sack_blocks.as_slice() {
                w.put_u32(b.left.0)?;
                w.put_u32(b.right.0)?;
            }
        }
        while !(w.written() - start).is_multiple_of(4) {
            w.put(&[kind::EOL])?;
        }
        Ok(w.written() - start)
    }

    /// The layouts of nearly every segment, or `None` for
    /// [`decode_general`](Self::decode_general) to parse (and judge) the
    /// options: what this returns is what the general parser returns for
    /// the same octets (the tests below compare them). The decoder takes
    /// its two halves, [`decode_timestamps_alone`](Self::decode_timestamps_alone)
    /// and [`decode_fast_other`](Self::decode_fast_other), one at a time.
    #[cfg(test)]
    pub(crate) fn decode_fast(buf: &[u8]) -> Option<Options> {
        if let Some(ts) = Self::decode_timestamps_alone(buf) {
            return Some(Options {
                timestamps: Some(ts),
                ..Options::default()
            });
        }
        Self::decode_fast_other(buf)
    }

    /// The layout of nearly every segment after the handshake when
    /// timestamps are on (NOP, NOP, TS; RFC 7323 Appendix A): its
    /// timestamps, or `None` for any other octets.
    #[inline(always)]
    pub(crate) fn decode_timestamps_alone(buf: &[u8]) -> Option<Timestamps> {
        // The four leading octets compared as one word.
        if let Ok(&[h0, h1, h2, h3, a, b, c, d, e, f, g, h]) = <&[u8; 12]>::try_from(buf)
            && u32::from_ne_bytes([h0, h1, h2, h3])
                == u32::from_ne_bytes([kind::NOP, kind::NOP, kind::TIMESTAMPS, 10])
        {
            return Some(Timestamps {
                val: u32::from_be_bytes([a, b, c, d]),
                ecr: u32::from_be_bytes([e, f, g, h]),
            });
        }
        None
    }

    /// The fast layouts other than timestamps alone: the SYN's, and none.
    #[inline(always)]
    pub(crate) fn decode_fast_other(buf: &[u8]) -> Option<Options> {
        // Fast path: the SYN and SYN-ACK layout of Linux and of this crate
        // (MSS; SACK-permitted or NOP NOP; timestamps; NOP, window scale).
        if let [
            kind::MSS,
            4,
            m0,
            m1,
            p0,
            p1,
            kind::TIMESTAMPS,
            10,
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
            kind::NOP,
            kind::WINDOW_SCALE,
            3,
            ws,
        ] = *buf
        {
            let sack_permitted = match [p0, p1] {
                [kind::SACK_PERMITTED, 2] => true,
                [kind::NOP, kind::NOP] => false,
                _ => return None,
            };
            return Some(Options {
                mss: Some(u16::from_be_bytes([m0, m1])),
                window_scale: Some(ws),
                sack_permitted,
                sack_blocks: SackBlocks::new(),
                timestamps: Some(Timestamps {
                    val: u32::from_be_bytes([a, b, c, d]),
                    ecr: u32::from_be_bytes([e, f, g, h]),
                }),
            });
        }
        if buf.is_empty() {
            return Some(Options::default());
        }
        None
    }

    /// Parses the option octets of a header (everything between the fixed
    /// 20 octets and the data offset): the general parser behind the fast
    /// layouts ([`decode_timestamps_alone`](Self::decode_timestamps_alone),
    /// [`decode_fast_other`](Self::decode_fast_other)).
    ///
    /// RFC 9293 §3.2: options may start at any octet (MUST-64) and may
    /// appear on any segment (MUST-5); EOL ends the list and whatever
    /// follows it is ignored; NOP is skipped; every other kind has a length
    /// octet (MUST-68) and unknown kinds are skipped by it (MUST-6); an
    /// illegal length is an error, never a panic (MUST-7). A known option
    /// that appears twice keeps its last value.
    pub(crate) fn decode_general(mut buf: &[u8]) -> Result<Options, WireError> {
        let mut opts = Options::default();
        while let Some((&k, rest)) = buf.split_first() {
            match k {
                kind::EOL => break,
                kind::NOP => {
                    buf = rest;
                    continue;
                }
                _ => {}
            }
            let Some((&len, _)) = rest.split_first() else {
                return Err(WireError::OptionOverrun { kind: k });
            };
            if len < 2 {
                return Err(WireError::OptionLengthTooSmall { kind: k, len });
            }
            let Some((opt, next)) = buf.split_at_checked(usize::from(len)) else {
                return Err(WireError::OptionOverrun { kind: k });
            };
            let body = opt.get(2..).unwrap_or_default();
            let bad = WireError::BadOptionSize { kind: k, len };
            match k {
                kind::MSS => match *body {
                    [a, b] => opts.mss = Some(u16::from_be_bytes([a, b])),
                    _ => return Err(bad),
                },
                kind::WINDOW_SCALE => match *body {
                    [s] => opts.window_scale = Some(s),
                    _ => return Err(bad),
                },
                kind::SACK_PERMITTED => match *body {
                    [] => opts.sack_permitted = true,
                    _ => return Err(bad),
                },
                kind::TIMESTAMPS => match *body {
                    [a, b, c, d, e, f, g, h] => {
                        opts.timestamps = Some(Timestamps {
                            val: u32::from_be_bytes([a, b, c, d]),
                            ecr: u32::from_be_bytes([e, f, g, h]),
                        });
                    }
                    _ => return Err(bad),
                },
                kind::SACK => {
                    // RFC 2018 §3: length 2 + 8n, 1 <= n <= 4 in 40 octets.
                    let blocks = body.chunks_exact(8);
                    let n = blocks.len();
                    if !blocks.remainder().is_empty() || n == 0 || n > SackBlocks::MAX {
                        return Err(bad);
                    }
                    let mut sack = SackBlocks::new();
                    for b in blocks {
                        if let [a, b, c, d, e, f, g, h] = *b {
                            sack.push(SackBlock {
                                left: SeqNum(u32::from_be_bytes([a, b, c, d])),
                                right: SeqNum(u32::from_be_bytes([e, f, g, h])),
                            });
                        }
                    }
                    opts.sack_blocks = sack;
                }
                _ => {} // unknown with a valid length: skipped (MUST-6)
            }
            buf = next;
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// The two fast layouts (timestamps alone; the SYN's MSS, SACK-permitted
    /// or NOP NOP, timestamps, NOP window scale) with random values.
    fn layouts(ts: [u8; 8], mss: [u8; 2], pad: [u8; 2], ws: u8) -> [Vec<u8>; 3] {
        let mut t = alloc::vec![kind::NOP, kind::NOP, kind::TIMESTAMPS, 10];
        t.extend_from_slice(&ts);
        let mut syn = alloc::vec![
            kind::MSS,
            4,
            mss[0],
            mss[1],
            pad[0],
            pad[1],
            kind::TIMESTAMPS,
            10
        ];
        syn.extend_from_slice(&ts);
        syn.extend_from_slice(&[kind::NOP, kind::WINDOW_SCALE, 3, ws]);
        [t, syn, Vec::new()]
    }

    proptest! {
        #[test]
        fn the_fast_layouts_decode_as_the_general_parser_does(
            ts: [u8; 8],
            mss: [u8; 2],
            pad in prop::sample::select(alloc::vec![[kind::SACK_PERMITTED, 2], [kind::NOP, kind::NOP], [kind::SACK_PERMITTED, 3], [kind::EOL, kind::EOL], [9, 2]]),
            ws: u8,
            flip in 0usize..20,
            to: u8,
        ) {
            for buf in layouts(ts, mss, pad, ws) {
                // As laid out, and with one octet changed.
                let mut changed = buf.clone();
                if let Some(b) = changed.get_mut(flip) {
                    *b = to;
                }
                for b in [buf, changed] {
                    if let Some(fast) = Options::decode_fast(&b) {
                        prop_assert_eq!(Ok(fast), Options::decode_general(&b), "{:?}", b);
                    }
                }
            }
        }
    }

    #[test]
    fn each_fast_layout_is_taken() {
        let [t, syn, empty] = layouts([1; 8], [5, 0xb4], [kind::SACK_PERMITTED, 2], 7);
        assert!(Options::decode_fast(&t).is_some_and(|o| o.timestamps.is_some()));
        assert!(
            Options::decode_fast(&syn)
                .is_some_and(|o| o.sack_permitted && o.window_scale == Some(7))
        );
        assert_eq!(Options::decode_fast(&empty), Some(Options::default()));
    }
}
