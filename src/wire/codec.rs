//! Decode and encode of whole segments (RFC 9293 §3.1).

use super::checksum::tcp_checksum;
use super::options::{Layout, MAX_OPTIONS_LEN};
use super::{ChecksumMode, Flags, HEADER_LEN, IpPair, Options, Segment, WireError};
use crate::seq::SeqNum;
use bytes::{Bytes, BytesMut};

/// Offset of the checksum field in the header.
const CHECKSUM_AT: usize = 16;

/// Whether `packet` (a whole TCP segment, checksum field included) verifies
/// against the pseudo-header of `addrs` (RFC 9293 §3.1, MUST-3).
#[inline]
pub fn verify_checksum(packet: &[u8], addrs: &IpPair) -> bool {
    tcp_checksum(addrs, packet) == 0
}

impl Segment {
    /// Decodes a TCP segment (header, options, payload) from `packet`.
    ///
    /// The payload is `packet.slice(header_len..)`: it shares `packet`'s
    /// storage, nothing is copied. With [`ChecksumMode::Verify`] a segment
    /// whose checksum does not verify is rejected (MUST-3). The reserved
    /// bits are ignored.
    #[inline]
    pub fn decode(
        packet: &Bytes,
        addrs: &IpPair,
        mode: ChecksumMode,
    ) -> Result<Segment, WireError> {
        parse::<true>(packet, addrs, mode, |hdr_len| packet.slice(hdr_len..))
    }

    /// Like [`Segment::decode`], from a borrowed slice: the payload is copied
    /// into a new [`Bytes`].
    #[inline]
    pub fn decode_slice(
        packet: &[u8],
        addrs: &IpPair,
        mode: ChecksumMode,
    ) -> Result<Segment, WireError> {
        parse::<false>(packet, addrs, mode, |hdr_len| match packet.get(hdr_len..) {
            // Most segments of a handshake or close carry nothing: no copy.
            Some(data) if !data.is_empty() => Bytes::copy_from_slice(data),
            _ => Bytes::new(),
        })
    }

    /// Length of the encoded header: 20 octets plus the options, or
    /// [`WireError::OptionsTooLong`] if the options do not fit in 40.
    #[inline]
    pub fn header_len(&self) -> Result<usize, WireError> {
        let needed = self.options.encoded_len();
        if needed > MAX_OPTIONS_LEN {
            return Err(WireError::OptionsTooLong { needed });
        }
        Ok(HEADER_LEN + needed)
    }

    /// Length of the whole encoded segment: header plus payload.
    #[inline]
    pub fn encoded_len(&self) -> Result<usize, WireError> {
        Ok(self.header_len()? + self.payload.len())
    }

    /// Encodes the segment into the front of `out` and returns the octets
    /// written. Computes the checksum over the pseudo-header of `addrs`,
    /// header and payload (MUST-2), or leaves the field zero with
    /// [`ChecksumMode::Skip`]. Does not allocate.
    #[inline]
    pub fn encode(
        &self,
        out: &mut [u8],
        addrs: &IpPair,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        let layout = self.options.layout();
        let hdr_len = self.header_len_of(layout)?;
        let total = hdr_len + self.payload.len();
        let have = out.len();
        let out = out
            .get_mut(..total)
            .ok_or(WireError::BufferTooSmall { need: total, have })?;
        let (head, body) = out
            .split_at_mut_checked(hdr_len)
            .ok_or(WireError::BufferTooSmall { need: total, have })?;
        self.write_header(head, layout)?;
        // body.len() = total - hdr_len = payload length: the copy cannot panic.
        if !body.is_empty() {
            body.copy_from_slice(&self.payload);
        }
        finish_checksum(out, addrs, mode);
        Ok(total)
    }

    /// Appends the encoded segment to `out` (reserving once) and returns
    /// the octets appended. Same rules as [`Segment::encode`].
    pub fn encode_into(
        &self,
        out: &mut BytesMut,
        addrs: &IpPair,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        let layout = self.options.layout();
        let hdr_len = self.header_len_of(layout)?;
        let total = hdr_len + self.payload.len();
        let start = out.len();
        out.reserve(total);
        // The header lengths of nearly every segment (timestamps; none) go
        // in as copies of a constant size, a few moves each, not a call to
        // copy a variable length.
        match layout {
            Layout::Timestamps(_) => self.put_header::<32>(out, layout)?,
            Layout::Bare => self.put_header::<20>(out, layout)?,
            Layout::General => {
                let mut buf = [0u8; super::MAX_HEADER_LEN];
                let head = buf.get_mut(..hdr_len).unwrap_or_default();
                self.write_header(head, layout)?;
                out.extend_from_slice(head);
            }
        }
        // Pure ACKs carry nothing: no call to copy nothing.
        if !self.payload.is_empty() {
            out.extend_from_slice(&self.payload);
        }
        finish_checksum(out.get_mut(start..).unwrap_or_default(), addrs, mode);
        Ok(total)
    }

    /// Appends the header of `N` octets (20 plus the options).
    #[inline(always)]
    fn put_header<const N: usize>(
        &self,
        out: &mut BytesMut,
        layout: Layout,
    ) -> Result<(), WireError> {
        let mut head = [0u8; N];
        self.write_header(&mut head, layout)?;
        out.extend_from_slice(&head);
        Ok(())
    }

    /// Writes the fixed header and options into `head` (exactly the header
    /// length: 20 octets plus the options; checksum field zero).
    #[inline]
    fn write_header(&self, head: &mut [u8], layout: Layout) -> Result<(), WireError> {
        let hdr_len = head.len();
        let Some((fixed, options)) = head.split_first_chunk_mut::<HEADER_LEN>() else {
            return Err(WireError::BufferTooSmall {
                need: HEADER_LEN,
                have: hdr_len,
            });
        };
        let [sp0, sp1] = self.src_port.to_be_bytes();
        let [dp0, dp1] = self.dst_port.to_be_bytes();
        let [s0, s1, s2, s3] = self.seq.0.to_be_bytes();
        let [a0, a1, a2, a3] = self.ack.0.to_be_bytes();
        // hdr_len <= 60, so the data offset fits in 4 bits; the 4 reserved
        // bits below it are written as zero (RFC 9293 §3.1).
        let off = ((hdr_len / 4) as u8) << 4;
        let [w0, w1] = self.window.to_be_bytes();
        let [u0, u1] = self.urgent.to_be_bytes();
        *fixed = [
            sp0,
            sp1,
            dp0,
            dp1,
            s0,
            s1,
            s2,
            s3,
            a0,
            a1,
            a2,
            a3,
            off,
            self.flags.0,
            w0,
            w1,
            0,
            0,
            u0,
            u1,
        ];
        match layout {
            Layout::Bare if options.is_empty() => Ok(()),
            Layout::Timestamps(ts) if options.len() == 12 => {
                options.copy_from_slice(&Options::timestamps_only(ts));
                Ok(())
            }
            _ => self.options.write(options),
        }
    }

    /// [`Segment::header_len`] of options in `layout`.
    #[inline(always)]
    fn header_len_of(&self, layout: Layout) -> Result<usize, WireError> {
        match layout {
            Layout::Bare => Ok(HEADER_LEN),
            Layout::Timestamps(_) => Ok(HEADER_LEN + 12),
            Layout::General => self.header_len(),
        }
    }
}

/// Fills in the checksum of a freshly written segment whose checksum field
/// is zero: one pass over the octets just written, still in cache (MUST-2).
#[inline]
fn finish_checksum(seg: &mut [u8], addrs: &IpPair, mode: ChecksumMode) {
    if mode == ChecksumMode::Verify {
        let sum = tcp_checksum(addrs, seg);
        if let Some(field) = seg.get_mut(CHECKSUM_AT..CHECKSUM_AT + 2) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
    }
}

/// Parses and checks the header; the segment's payload is `payload(header
/// length)`, made before the header's fields are read with `PAYLOAD_FIRST`
/// (slicing a `Bytes` calls through its vtable: no field is then held in a
/// register across the call), as the segment is built without (a copied
/// slice's payload, nearly always none).
#[inline(always)]
fn parse<const PAYLOAD_FIRST: bool>(
    packet: &[u8],
    addrs: &IpPair,
    mode: ChecksumMode,
    payload: impl FnOnce(usize) -> Bytes,
) -> Result<Segment, WireError> {
    let len = packet.len();
    let Some((fixed, _)) = packet.split_first_chunk::<HEADER_LEN>() else {
        return Err(WireError::Truncated { len });
    };
    let offset = fixed[12] >> 4; // the low 4 bits are reserved: ignored
    if offset < 5 {
        return Err(WireError::DataOffsetTooSmall { offset });
    }
    let hdr_len = usize::from(offset) * 4;
    let Some(options) = packet.get(HEADER_LEN..hdr_len) else {
        return Err(WireError::DataOffsetPastEnd { offset, len });
    };
    // RFC 9293 §3.1, MUST-3: discard segments whose checksum fails.
    if mode == ChecksumMode::Verify && !verify_checksum(packet, addrs) {
        return Err(WireError::BadChecksum);
    }
    if PAYLOAD_FIRST {
        let p = payload(hdr_len);
        return build(fixed, options, || p);
    }
    build(fixed, options, || payload(hdr_len))
}

/// The segment of a verified header `fixed` with its option octets and
/// payload, built once, in place (no move of a finished `Segment` through
/// a `Result`). The fields are read once the checksum verifies: none is
/// held in a register (or spilled) across the sum.
#[inline(always)]
fn build(
    fixed: &[u8; HEADER_LEN],
    options: &[u8],
    payload: impl FnOnce() -> Bytes,
) -> Result<Segment, WireError> {
    let [
        sp0,
        sp1,
        dp0,
        dp1,
        s0,
        s1,
        s2,
        s3,
        a0,
        a1,
        a2,
        a3,
        _,
        flags,
        w0,
        w1,
        _,
        _,
        u0,
        u1,
    ] = *fixed;
    let segment = |options, payload| Segment {
        src_port: u16::from_be_bytes([sp0, sp1]),
        dst_port: u16::from_be_bytes([dp0, dp1]),
        seq: SeqNum(u32::from_be_bytes([s0, s1, s2, s3])),
        ack: SeqNum(u32::from_be_bytes([a0, a1, a2, a3])),
        flags: Flags(flags),
        // MUST-1: the window is an unsigned 16-bit quantity.
        window: u16::from_be_bytes([w0, w1]),
        urgent: u16::from_be_bytes([u0, u1]),
        options,
        payload,
    };
    // The common layouts build the segment straight from the octets; only
    // the general parser's options go through a `Result`. Timestamps alone
    // (nearly every segment) build theirs apart from the SYN's.
    if let Some(ts) = Options::decode_timestamps_alone(options) {
        let o = Options {
            timestamps: Some(ts),
            ..Options::default()
        };
        return Ok(segment(o, payload()));
    }
    if let Some(o) = Options::decode_fast_other(options) {
        return Ok(segment(o, payload()));
    }
    let o = Options::decode_general(options)?;
    Ok(segment(o, payload()))
}
