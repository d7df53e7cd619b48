//! The Internet checksum (RFC 1071) and the TCP pseudo-header sum.
//!
//! The sum is computed in native byte order, in 64-bit lanes folded to 16
//! bits at the end. One's-complement addition commutes with byte swapping
//! (RFC 1071 §2(B)), so the folded native sum only needs one byte swap on
//! little-endian machines. Plain safe code that LLVM vectorizes with the
//! baseline SSE2 instruction set.

use super::IpPair;

/// IP protocol number of TCP, carried in the pseudo-header.
const PROTO_TCP: u8 = 6;

/// Folds a 64-bit one's-complement sum to 16 bits with end-around carry.
#[inline]
fn fold(sum: u64) -> u16 {
    let s = (sum & 0xffff_ffff) + (sum >> 32); // < 2^33
    let s = (s & 0xffff) + (s >> 16); // <= 0x2fffe
    let s = (s & 0xffff) + (s >> 16); // <= 0x10001
    let s = (s & 0xffff) + (s >> 16); // <= 0xffff
    s as u16
}

/// Inputs shorter than this (headers, pure ACKs) take a plain word loop:
/// the vector loop's set-up costs more than it saves on them.
const SMALL: usize = 128;

/// One's-complement addition of 64-bit words (end-around carry).
#[inline(always)]
fn add(sum: u64, w: u64) -> u64 {
    let (s, carry) = sum.overflowing_add(w);
    s + u64::from(carry)
}

/// One's-complement sum (any 64-bit value) of `init` and `words`: one
/// add-with-carry chain on x86-64 (one instruction and one cycle of
/// latency per word, against two of each for [`add`]'s end-around carry).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn add_words(init: u64, words: &[[u8; 8]]) -> u64 {
    use core::arch::x86_64::_addcarry_u64;
    let mut sum = init;
    let mut carry = 0u8;
    for w in words {
        carry = _addcarry_u64(carry, sum, u64::from_ne_bytes(*w), &mut sum);
    }
    add(sum, u64::from(carry))
}

/// One's-complement sum (any 64-bit value) of `init` and `words`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn add_words(init: u64, words: &[[u8; 8]]) -> u64 {
    add_words_portable(init, words)
}

/// [`add_words`] without the x86-64 intrinsic: every other target's, and
/// the reference the x86-64 chain is tested against.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
fn add_words_portable(init: u64, words: &[[u8; 8]]) -> u64 {
    words
        .iter()
        .fold(init, |sum, w| add(sum, u64::from_ne_bytes(*w)))
}

/// Folds a 64-bit one's-complement sum (end-around carry, any value) to 16
/// bits, with two rotations: adding a word to itself rotated by half its
/// width leaves in its high half the sum of its halves with end-around
/// carry (the low half's carry lands in the high half; the high half's
/// own carry out, the one that wraps, is dropped). 2^32 ≡ 1 modulo
/// 2^32 − 1 and 2^16 ≡ 1 modulo 0xffff, so the result is the same
/// one's-complement sum as [`fold`]'s, in fewer instructions.
#[inline(always)]
fn fold_rotate(sum: u64) -> u16 {
    let s = (sum.wrapping_add(sum.rotate_left(32)) >> 32) as u32;
    (s.wrapping_add(s.rotate_left(16)) >> 16) as u16
}

/// Native-order sum of a short input (< [`SMALL`] octets), folded to
/// 33 bits (see [`sum_small_wide`]).
#[inline(always)]
fn sum_small(data: &[u8]) -> u64 {
    let sum = sum_small_wide(0, data);
    // 2^32 ≡ 1 (mod 0xffff): adding the halves keeps the one's-complement sum.
    (sum & 0xffff_ffff) + (sum >> 32)
}

/// Native-order one's-complement sum (any 64-bit value) of `init` and a
/// short input (< [`SMALL`] octets): 64-bit words added with end-around
/// carry. The carry chain keeps LLVM from vectorizing, which on a 20–60
/// octet header costs more than it saves.
#[inline(always)]
fn sum_small_wide(init: u64, data: &[u8]) -> u64 {
    let (words, rest) = data.as_chunks::<8>();
    let mut sum = add_words(init, words);
    // A TCP header is a whole number of 32-bit words: take a last half word
    // in one load (it starts at a multiple of 8, so 16-bit parity holds).
    let rest = match rest.split_first_chunk::<4>() {
        Some((w, tail)) => {
            sum = add(sum, u64::from(u32::from_ne_bytes(*w)));
            tail
        }
        None => rest,
    };
    // The last 0..=3 octets keep their native-order positions in a
    // zero-padded word (shifts, not a copy: a copy becomes a memcpy call).
    let mut tail = 0u64;
    for (i, b) in rest.iter().enumerate() {
        let shift = if cfg!(target_endian = "little") {
            8 * i
        } else {
            56 - 8 * i
        };
        tail |= u64::from(*b) << shift;
    }
    add(sum, tail)
}

/// [`sum_small_wide`] of exactly `N` octets (a multiple of 4): the same
/// words in the same order, the loop unrolled by the constant length.
#[inline(always)]
fn sum_exact<const N: usize>(init: u64, data: &[u8]) -> u64 {
    let Ok(data) = <&[u8; N]>::try_from(data) else {
        return sum_small_wide(init, data);
    };
    let (words, rest) = data.as_chunks::<8>();
    let mut sum = add_words(init, words);
    if let Some((w, _)) = rest.split_first_chunk::<4>() {
        sum = add(sum, u64::from(u32::from_ne_bytes(*w)));
    }
    sum
}

/// Octets summed per block before the block's sum is folded into the
/// total: 2^30, so each lane of [`sum_block`] adds at most 2^24 words and
/// its two sums stay below 2^56.
const BLOCK: usize = 1 << 30;

/// Independent accumulator lanes (64-bit words) of [`sum_block`].
const LANES: usize = 8;

/// Native-order, unfolded sum of one block (at most [`BLOCK`] octets),
/// below 2^61.
///
/// The sum of each 64-bit word's two 32-bit halves is what a one's-
/// complement sum needs (2^32 ≡ 1 mod 0xffff). Rather than split every word,
/// each lane adds whole words (wrapping) and, separately, their high halves:
/// at the end the low halves' sum is the wrapped total less 2^32 times the
/// high halves' sum, exact because it is below 2^64. With SSE2 that is a
/// load, an add, a shift and an add per 16 octets (27 → 17 instructions per
/// 64 octets against masking every word, measured with callgrind in
/// benches/compare; a scalar add-with-carry chain counts fewer instructions
/// still but ran 2-4× slower in wall time on this project's machine).
#[inline]
fn sum_block(data: &[u8]) -> u64 {
    let (chunks, rest) = data.as_chunks::<{ 8 * LANES }>();
    // The rest (< 64 octets) starts at a multiple of 64: parity holds.
    let tail = sum_tail(rest);
    // 2^32 ≡ 1 (mod 0xffff): adding the halves keeps the one's-complement sum.
    sum_lanes(chunks) + (tail & 0xffff_ffff) + (tail >> 32)
}

/// Native-order one's-complement sum (any 64-bit value) of the last
/// octets of a block (< 64, starting at an even offset): 32, 16, 8, 4, 2
/// and 1 octets, each taken or not, no loop. Every piece starts at an even
/// offset and 2^16 ≡ 1 (mod 0xffff), so each 16-bit word counts once
/// wherever it lands in the 64-bit sum; a last lone octet is the high
/// octet of a big-endian word, the first of a native one.
#[inline(always)]
fn sum_tail(rest: &[u8]) -> u64 {
    #[inline(always)]
    fn w(b: [u8; 8]) -> u64 {
        u64::from_ne_bytes(b)
    }
    let mut sum = 0u64;
    let mut rest = rest;
    if let Some((c, r)) = rest.split_first_chunk::<32>() {
        sum = add_words(sum, c.as_chunks::<8>().0);
        rest = r;
    }
    if let Some((c, r)) = rest.split_first_chunk::<16>() {
        sum = add_words(sum, c.as_chunks::<8>().0);
        rest = r;
    }
    if let Some((c, r)) = rest.split_first_chunk::<8>() {
        sum = add(sum, w(*c));
        rest = r;
    }
    if let Some((c, r)) = rest.split_first_chunk::<4>() {
        sum = add(sum, u64::from(u32::from_ne_bytes(*c)));
        rest = r;
    }
    if let Some((c, r)) = rest.split_first_chunk::<2>() {
        sum = add(sum, u64::from(u16::from_ne_bytes(*c)));
        rest = r;
    }
    if let [b] = *rest {
        sum = add(sum, u64::from(u16::from_ne_bytes([b, 0])));
    }
    sum
}

/// The lane loop of [`sum_block`].
#[inline]
fn sum_lanes(chunks: &[[u8; 8 * LANES]]) -> u64 {
    let mut all = [0u64; LANES];
    let mut high = [0u64; LANES];
    for chunk in chunks {
        let (words, _) = chunk.as_chunks::<8>();
        for ((a, h), w) in all.iter_mut().zip(high.iter_mut()).zip(words) {
            let x = u64::from_ne_bytes(*w);
            *a = a.wrapping_add(x);
            *h += x >> 32;
        }
    }
    // The lanes are combined before the low halves are recovered: each
    // lane's high sum is below 2^56 (at most 2^24 words per lane), so all
    // eight stay below 2^59, and so does the exact sum of the lanes' low
    // halves, which the wrapped totals therefore give back exactly. Adding
    // that low sum's halves rather than the low sum itself is the same
    // modulo 0xffff.
    let a = all.iter().fold(0u64, |s, a| s.wrapping_add(*a));
    let h: u64 = high.iter().sum();
    let low = a.wrapping_sub(h << 32);
    (low & 0xffff_ffff) + (low >> 32) + h
}

/// Native-order sum of `data`, folded to 16 bits.
#[inline]
fn sum_native(data: &[u8]) -> u16 {
    let mut total: u64 = 0;
    for block in data.chunks(BLOCK) {
        // total < 2^33 and the block sum < 2^61: no overflow.
        let t = total + sum_block(block);
        total = (t & 0xffff_ffff) + (t >> 32);
    }
    fold(total)
}

/// One's-complement sum of the pseudo-header for a TCP segment of `tcp_len`
/// octets, folded to 16 bits (not inverted).
///
/// IPv4: source, destination, zero, protocol 6, TCP length (RFC 9293 §3.1).
/// IPv6: source, destination, 32-bit upper-layer length, zeros, next
/// header 6 (RFC 8200 §8.1). The length enters the sum modulo 0xffff, which
/// equals summing its 16-bit halves, so it is exact for every real length.
pub fn pseudo_header_sum(addrs: &IpPair, tcp_len: usize) -> u16 {
    /// Sum of the big-endian 16-bit words of a 32-bit word (< 2^17).
    #[inline(always)]
    fn halves(w: u32) -> u64 {
        u64::from(w >> 16) + u64::from(w & 0xffff)
    }
    let sum = match addrs {
        IpPair::V4 { src, dst } => {
            halves(u32::from_be_bytes(*src)) + halves(u32::from_be_bytes(*dst))
        }
        IpPair::V6 { src, dst } => {
            let (a, b) = (u128::from_be_bytes(*src), u128::from_be_bytes(*dst));
            (0..4)
                .map(|i| halves((a >> (32 * i)) as u32) + halves((b >> (32 * i)) as u32))
                .sum()
        }
    };
    // usize is at most 64 bits on every target Rust supports; fold it in
    // two 32-bit halves so no addition can overflow.
    let len = tcp_len as u64;
    let sum = sum + (len & 0xffff_ffff) + (len >> 32) + u64::from(PROTO_TCP);
    fold(sum)
}

/// Native-order, unfolded sum of the pseudo-header (< 2^36): the same
/// octets as [`pseudo_header_sum`], read as native 32-bit words so that it
/// adds straight into the sum of the segment (RFC 1071 §2(B)).
#[inline(always)]
fn pseudo_native(addrs: &IpPair, tcp_len: usize) -> u64 {
    #[inline(always)]
    fn w(b: [u8; 4]) -> u64 {
        u64::from(u32::from_ne_bytes(b))
    }
    let addr = match addrs {
        IpPair::V4 { src, dst } => w(*src) + w(*dst),
        IpPair::V6 { src, dst } => {
            let (s, _) = src.as_chunks::<4>();
            let (d, _) = dst.as_chunks::<4>();
            s.iter().chain(d).map(|c| w(*c)).sum()
        }
    };
    // The length as big-endian 32-bit words (IPv6's upper-layer length;
    // for IPv4 the same sum as its 16-bit field, modulo 0xffff), then the
    // protocol in the low octet of a zero word.
    let len = tcp_len as u64;
    addr + w(((len & 0xffff_ffff) as u32).to_be_bytes())
        + w(((len >> 32) as u32).to_be_bytes())
        + w([0, 0, 0, PROTO_TCP])
}

/// The TCP checksum of a whole segment `data` under the pseudo-header of
/// `addrs`, in one pass: `checksum(pseudo_header_sum(addrs, data.len()), data)`
/// without folding the pseudo-header separately.
#[inline(always)]
pub(crate) fn tcp_checksum(addrs: &IpPair, data: &[u8]) -> u16 {
    let pseudo = pseudo_native(addrs, data.len());
    if data.len() < SMALL {
        // Headers and short segments: no fold until the end, the
        // pseudo-header the first term of the carry chain. The header
        // lengths nearly every segment of a connection has (bare,
        // timestamps, SYN options) summed without a loop.
        let sum = match data.len() {
            20 => sum_exact::<20>(pseudo, data),
            32 => sum_exact::<32>(pseudo, data),
            40 => sum_exact::<40>(pseudo, data),
            _ => sum_small_wide(pseudo, data),
        };
        return !u16::from_be(fold_rotate(sum));
    }
    let sum = sum_large(data);
    // The sum is below 2^61 and the pseudo-header's below 2^36: no overflow.
    !u16::from_be(fold_rotate(pseudo + sum))
}

/// Native-order, unfolded sum of `data` (below 2^61): one [`sum_block`]
/// for any segment (at most [`BLOCK`] octets), [`sum_native`] beyond.
/// Kept out of line: its vector loop would weigh on every caller that only
/// ever sums headers.
#[inline(never)]
fn sum_large(data: &[u8]) -> u64 {
    if data.len() > BLOCK {
        return sum_huge(data);
    }
    sum_block(data)
}

/// [`sum_native`] of more than [`BLOCK`] octets, apart so that
/// [`sum_large`] saves no registers for it.
#[cold]
#[inline(never)]
fn sum_huge(data: &[u8]) -> u64 {
    u64::from(sum_native(data))
}

/// The Internet checksum of `data` seeded with `initial` (a folded,
/// non-inverted partial sum), returned inverted, ready for the header.
///
/// To verify a received segment, sum the pseudo-header and the whole segment
/// (checksum field included): the result is 0 exactly when it verifies
/// (RFC 9293 §3.1, MUST-3). To compute one, zero the field first and store
/// the result big-endian (MUST-2).
pub fn checksum(initial: u16, data: &[u8]) -> u16 {
    // `initial` is a big-endian-order value; bring it into native order,
    // add, fold, and come back (RFC 1071 §2(B): byte-order independence).
    let sum = if data.len() < SMALL {
        fold(sum_small(data))
    } else {
        sum_native(data)
    };
    let native = u64::from(sum) + u64::from(u16::from_be(initial));
    !u16::from_be(fold(native))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// RFC 1071 §3 done the slow, obvious way: big-endian 16-bit words.
    fn reference(initial: u16, data: &[u8]) -> u16 {
        let mut sum = u64::from(initial);
        let mut i = 0;
        while i < data.len() {
            let hi = data[i];
            let lo = if i + 1 < data.len() { data[i + 1] } else { 0 };
            sum += u64::from(u16::from_be_bytes([hi, lo]));
            i += 2;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(0, &data), !0xddf2);
    }

    #[test]
    fn empty_data_gives_inverted_seed() {
        assert_eq!(checksum(0, &[]), 0xffff);
        assert_eq!(checksum(0x1234, &[]), !0x1234);
    }

    #[test]
    fn long_runs_carry_end_around() {
        // All-ones words make every 64-bit addition carry; odd lengths and
        // offsets exercise the tail after the 64-octet blocks.
        let ones = alloc::vec![0xffu8; 200_003];
        for (start, end) in [(0, 200_003), (1, 200_002), (3, 130), (0, 64), (5, 69)] {
            let s = &ones[start..end];
            assert_eq!(checksum(0x1234, s), reference(0x1234, s));
        }
        let mixed: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert_eq!(checksum(0, &mixed), reference(0, &mixed));
    }

    #[test]
    fn every_tail_after_the_lanes_matches_the_reference() {
        // 128..=256 octets (the out-of-line sum, one or more 64-octet lane
        // chunks) at two offsets: every rest length 0..64 `sum_tail` takes.
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80)
            .collect();
        let addrs = IpPair::V4 {
            src: [192, 0, 2, 1],
            dst: [198, 51, 100, 7],
        };
        for start in [0, 1] {
            for len in 128..=256 {
                let s = &data[start..start + len];
                let want = reference(pseudo_header_sum(&addrs, len), s);
                assert_eq!(tcp_checksum(&addrs, s), want, "{start}+{len}");
                assert_eq!(checksum(0x1234, s), reference(0x1234, s), "{start}+{len}");
            }
        }
    }

    #[test]
    fn odd_trailing_octet_is_padded_with_zero() {
        assert_eq!(checksum(0, &[0xab]), !0xab00);
        assert_eq!(checksum(0, &[0x12, 0x34, 0xab]), !(0x1234 + 0xab00));
    }

    #[test]
    fn pseudo_header_v4_matches_hand_sum() {
        let a = IpPair::V4 {
            src: [192, 0, 2, 1],
            dst: [192, 0, 2, 2],
        };
        let hand: u32 = 0xc000 + 0x0201 + 0xc000 + 0x0202 + 6 + 40;
        let hand = (hand & 0xffff) + (hand >> 16);
        assert_eq!(u32::from(pseudo_header_sum(&a, 40)), hand);
    }

    #[test]
    fn pseudo_header_v6_counts_length_and_next_header() {
        let a = IpPair::V6 {
            src: [0; 16],
            dst: [0; 16],
        };
        assert_eq!(pseudo_header_sum(&a, 0x1_0002), 1 + 2 + 6);
    }

    proptest! {
        #[test]
        fn the_carry_chain_matches_the_portable_word_sum(words in proptest::collection::vec(any::<[u8; 8]>(), 0..12), init: u64, ones in 0usize..12) {
            // All-ones words make every addition carry, the chain's hard case.
            let mut words = words;
            words.extend(core::iter::repeat_n([0xff; 8], ones));
            // Equal as one's-complement values: 0 and 0xffff are both zero.
            let (a, b) = (fold(add_words(init, &words)), fold(add_words_portable(init, &words)));
            prop_assert_eq!(a % 0xffff, b % 0xffff);
        }

        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..3000), seed: u16, skip in 0usize..4) {
            // `skip` shifts the start so unaligned slices are covered too.
            let data: Vec<u8> = data;
            let s = &data[skip.min(data.len())..];
            prop_assert_eq!(checksum(seed, s), reference(seed, s));
        }

        #[test]
        fn one_pass_matches_pseudo_header_then_data(data in proptest::collection::vec(any::<u8>(), 0..300), a: [u8; 16], b: [u8; 16], v6: bool) {
            let addrs = if v6 {
                IpPair::V6 { src: a, dst: b }
            } else {
                IpPair::V4 { src: [a[0], a[1], a[2], a[3]], dst: [b[0], b[1], b[2], b[3]] }
            };
            let two_step = checksum(pseudo_header_sum(&addrs, data.len()), &data);
            prop_assert_eq!(tcp_checksum(&addrs, &data), two_step);
        }

        #[test]
        fn header_lengths_summed_without_a_loop_match_the_general_sum(data in proptest::collection::vec(any::<u8>(), 60), len in prop::sample::select(alloc::vec![16usize, 20, 24, 28, 32, 36, 40, 44]), a: [u8; 4], b: [u8; 4]) {
            // 20, 32 and 40 octets take `sum_exact`; the neighbours the loop.
            let addrs = IpPair::V4 { src: a, dst: b };
            let data = &data[..len];
            prop_assert_eq!(tcp_checksum(&addrs, data), checksum(pseudo_header_sum(&addrs, len), data));
            prop_assert_eq!(tcp_checksum(&addrs, data), reference(pseudo_header_sum(&addrs, len), data));
        }

        #[test]
        fn checksum_field_verifies_to_zero(data in proptest::collection::vec(any::<u8>(), 20..1600), seed in 0u16..0xffff) {
            let mut data: Vec<u8> = data;
            data[16] = 0;
            data[17] = 0;
            let c = checksum(seed, &data);
            data[16..18].copy_from_slice(&c.to_be_bytes());
            prop_assert_eq!(checksum(seed, &data), 0);
        }
    }
}
