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
        let mut v = [
            self.0 ^ 0x736f_6d65_7073_6575,
            self.1 ^ 0x646f_7261_6e64_6f6d,
            self.0 ^ 0x6c79_6765_6e65_7261,
            self.1 ^ 0x7465_6462_7974_6573,
        ];
        let mut chunks = msg.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let m = u64::from_le_bytes(w);
            v[3] ^= m;
            round(&mut v);
            round(&mut v);
            v[0] ^= m;
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        last[7] = msg.len() as u8;
        let m = u64::from_le_bytes(last);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
        v[2] ^= 0xff;
        for _ in 0..4 {
            round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
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

    /// The PRF of a 4-tuple, with `extra` mixed in (a counter, or zero).
    #[inline]
    pub(crate) fn tuple(&self, t: &FourTuple, extra: u64) -> u64 {
        let mut buf = [0u8; 48];
        buf[..16].copy_from_slice(&t.local);
        buf[16..32].copy_from_slice(&t.remote);
        buf[32..34].copy_from_slice(&t.local_port.to_le_bytes());
        buf[34..36].copy_from_slice(&t.remote_port.to_le_bytes());
        buf[36] = u8::from(t.v6);
        buf[40..48].copy_from_slice(&extra.to_le_bytes());
        self.hash(&buf)
    }
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
}
