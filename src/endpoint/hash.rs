//! SipHash-2-4 (Aumasson and Bernstein, 2012): the keyed PRF behind the
//! demux table, the RFC 6528 ISNs, the timestamp offsets, the ephemeral
//! ports and the SYN cookies. Each use has its own key, derived from the
//! caller's secret, so that one output says nothing about another.

use super::demux::FourTuple;

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u64, u64);

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(..)") // never print a secret
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

impl Key {
    /// A key from 16 octets (little-endian halves, as the reference code).
    pub(crate) fn from_bytes(b: [u8; 16]) -> Key {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&b[..8]);
        k1.copy_from_slice(&b[8..]);
        Key(u64::from_le_bytes(k0), u64::from_le_bytes(k1))
    }

    /// A sub-key for one purpose: two PRF outputs of the label.
    pub(crate) fn derive(&self, label: u64) -> Key {
        Key(self.hash_words(&[label, 0]), self.hash_words(&[label, 1]))
    }

    /// SipHash-2-4 of `msg`.
    pub(crate) fn hash(&self, msg: &[u8]) -> u64 {
        let mut v = self.init();
        let mut chunks = msg.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            compress::<2>(&mut v, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        last[7] = msg.len() as u8;
        compress::<2>(&mut v, u64::from_le_bytes(last));
        finish::<4>(v)
    }

    fn init(&self) -> [u64; 4] {
        [
            self.0 ^ 0x736f_6d65_7073_6575,
            self.1 ^ 0x646f_7261_6e64_6f6d,
            self.0 ^ 0x6c79_6765_6e65_7261,
            self.1 ^ 0x7465_6462_7974_6573,
        ]
    }

    /// SipHash-C-D of the 48-octet message of six little-endian words,
    /// without building the octets (the same value as `hash` for C=2, D=4).
    #[inline]
    fn words6<const C: usize, const D: usize>(&self, w: [u64; 6]) -> u64 {
        let mut v = self.init();
        for m in w {
            compress::<C>(&mut v, m);
        }
        compress::<C>(&mut v, 48u64 << 56);
        finish::<D>(v)
    }

    /// SipHash-2-4 of 64-bit words (little-endian).
    pub(crate) fn hash_words(&self, words: &[u64]) -> u64 {
        let mut buf = [0u8; 64];
        let n = words.len().min(8);
        for (i, w) in words.iter().take(n).enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        self.hash(&buf[..n * 8])
    }

    /// The words of a 4-tuple message with `extra`.
    #[inline]
    fn tuple_words(t: &FourTuple, extra: u64) -> [u64; 6] {
        let w = |b: &[u8; 16], i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        let ports =
            u64::from(t.local_port) | u64::from(t.remote_port) << 16 | u64::from(t.v6) << 32;
        [
            w(&t.local, 0),
            w(&t.local, 8),
            w(&t.remote, 0),
            w(&t.remote, 8),
            ports,
            extra,
        ]
    }

    /// SipHash-2-4 of a 4-tuple, with `extra` mixed in (a counter, or zero):
    /// the PRF of ISNs, timestamp offsets, ports and cookies.
    #[inline]
    pub(crate) fn tuple(&self, t: &FourTuple, extra: u64) -> u64 {
        self.words6::<2, 4>(Self::tuple_words(t, extra))
    }

    /// SipHash-1-3 of a 4-tuple: the demux hash, on every segment. Keyed
    /// and enough against aimed collisions (Rust's `HashMap` default).
    #[inline]
    pub(crate) fn tuple_fast(&self, t: &FourTuple) -> u64 {
        self.words6::<1, 3>(Self::tuple_words(t, 0))
    }
}

#[inline(always)]
fn compress<const C: usize>(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    for _ in 0..C {
        round(v);
    }
    v[0] ^= m;
}

#[inline(always)]
fn finish<const D: usize>(mut v: [u64; 4]) -> u64 {
    v[2] ^= 0xff;
    for _ in 0..D {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The keys of one endpoint, one per purpose.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keys {
    pub demux: Key,
    pub isn: Key,
    pub ts: Key,
    pub port: Key,
    pub cookie1: Key,
    pub cookie2: Key,
}

impl Keys {
    pub(crate) fn new(secret: [u8; 16]) -> Keys {
        let k = Key::from_bytes(secret);
        Keys {
            demux: k.derive(1),
            isn: k.derive(2),
            ts: k.derive(3),
            port: k.derive(4),
            cookie1: k.derive(5),
            cookie2: k.derive(6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash24_matches_the_reference_vectors() {
        // The paper's Appendix A: key 00..0f, message 00..0e.
        let mut key = [0u8; 16];
        for (i, b) in key.iter_mut().enumerate() {
            *b = i as u8;
        }
        let k = Key::from_bytes(key);
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(k.hash(&msg), 0xa129_ca61_49be_45e5);
        // The reference implementation's vectors.h: empty message and 8 octets.
        assert_eq!(k.hash(&[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(k.hash(&msg[..8]), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn tuple_words_hash_equals_the_octet_hash() {
        let k = Key::from_bytes([3; 16]);
        let t = FourTuple::new(
            "[2001:db8::1]:80".parse().unwrap(),
            "[2001:db8::2]:4000".parse().unwrap(),
        )
        .unwrap();
        let mut buf = [0u8; 48];
        buf[..16].copy_from_slice(&t.local);
        buf[16..32].copy_from_slice(&t.remote);
        buf[32..34].copy_from_slice(&t.local_port.to_le_bytes());
        buf[34..36].copy_from_slice(&t.remote_port.to_le_bytes());
        buf[36] = 1;
        buf[40..48].copy_from_slice(&9u64.to_le_bytes());
        assert_eq!(k.tuple(&t, 9), k.hash(&buf));
    }
}
