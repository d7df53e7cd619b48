//! SYN cookies (RFC 4987 §3.6), Linux's scheme: the ISS of the SYN-ACK
//! carries what a half-open entry would hold, so a listener under a flood
//! keeps no state until the handshake completes.
//!
//! ISS = H1(tuple) + IRS + (count << 24) + ((H2(tuple, count) + mss_index) mod 2^24),
//! with `count` the 64-second period of `now`; an ACK is valid when its
//! period is at most one behind the current one (an age under 128 s, at
//! least 64 s). With timestamps, the low 6 bits of our TSval carry the
//! peer's window scale (4 bits, 15 for none), SACK-permitted and ECN; the
//! peer echoes them in TSecr.

use super::demux::FourTuple;
use super::hash::Keys;
use crate::seq::SeqNum;
use crate::time::Instant;

const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Periods a cookie stays valid (the current one and the one before).
const MAX_AGE: u32 = 2;
/// Length of one period, as a shift of seconds (64 s).
const PERIOD_SHIFT: u32 = 6;

/// MSS values a cookie can carry, IPv4 (Linux's `msstab`).
pub(crate) const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// MSS values a cookie can carry, IPv6.
pub(crate) const MSS_V6: [u16; 4] = [1220, 1400, 1440, 8940];

/// The MSS table for the tuple's family.
pub(crate) fn mss_table(t: &FourTuple) -> &'static [u16; 4] {
    if t.v6 { &MSS_V6 } else { &MSS_V4 }
}

/// Index of the largest table MSS not above `peer_mss` (the smallest if none).
pub(crate) fn mss_index(t: &FourTuple, peer_mss: u16) -> u32 {
    let tab = mss_table(t);
    tab.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u32
}

/// The 64-second period of `now`.
pub(crate) fn period(now: Instant) -> u32 {
    ((now.total_micros() / 1_000_000) >> PERIOD_SHIFT) as u32
}

fn h1(keys: &Keys, t: &FourTuple) -> u32 {
    keys.cookie1.tuple(t, 0) as u32
}

fn h2(keys: &Keys, t: &FourTuple, count: u32) -> u32 {
    keys.cookie2.tuple(t, u64::from(count)) as u32
}

/// The cookie ISS for a SYN with sequence number `irs`.
pub(crate) fn make(keys: &Keys, t: &FourTuple, irs: SeqNum, now: Instant, mss_idx: u32) -> SeqNum {
    let count = period(now);
    let v = h1(keys, t)
        .wrapping_add(irs.0)
        .wrapping_add(count << COOKIE_BITS)
        .wrapping_add(h2(keys, t, count).wrapping_add(mss_idx) & COOKIE_MASK);
    SeqNum(v)
}

/// The MSS index a cookie carries, if it is ours, for this tuple and IRS,
/// and recent enough.
pub(crate) fn check(
    keys: &Keys,
    t: &FourTuple,
    irs: SeqNum,
    cookie: SeqNum,
    now: Instant,
) -> Option<u32> {
    let count = period(now);
    let c = cookie.0.wrapping_sub(h1(keys, t)).wrapping_sub(irs.0);
    let diff = count.wrapping_sub(c >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
    if diff >= MAX_AGE {
        return None;
    }
    let idx = c.wrapping_sub(h2(keys, t, count.wrapping_sub(diff))) & COOKIE_MASK;
    (idx < 4).then_some(idx)
}

/// Options a SYN offered, to carry in the TSval low bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TsOptions {
    /// The peer's window-scale shift, if it offered one.
    pub wscale: Option<u8>,
    /// SACK-permitted.
    pub sack: bool,
    /// ECN setup (RFC 3168).
    pub ecn: bool,
}

const WSCALE_NONE: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
const TS_MASK: u32 = 0x3f;

/// Our TSval for a cookie SYN-ACK: `ts_now` with its low 6 bits replaced
/// by the options, never ahead of `ts_now`.
pub(crate) fn encode_ts(ts_now: u32, o: TsOptions) -> u32 {
    let mut bits = o.wscale.map_or(WSCALE_NONE, |w| u32::from(w.min(14)));
    if o.sack {
        bits |= TS_SACK;
    }
    if o.ecn {
        bits |= TS_ECN;
    }
    let ts = (ts_now & !TS_MASK) | bits;
    if (ts.wrapping_sub(ts_now) as i32) > 0 {
        ts.wrapping_sub(TS_MASK + 1)
    } else {
        ts
    }
}

/// The options back from a TSecr; `None` if they cannot be ours.
pub(crate) fn decode_ts(ecr: u32) -> Option<TsOptions> {
    let w = ecr & WSCALE_NONE;
    let wscale = match w {
        WSCALE_NONE => None,
        0..=14 => Some(w as u8),
        _ => return None,
    };
    Some(TsOptions {
        wscale,
        sack: ecr & TS_SACK != 0,
        ecn: ecr & TS_ECN != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> FourTuple {
        FourTuple::new(
            "192.0.2.1:80".parse().unwrap(),
            "198.51.100.7:40000".parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn valid_cookie_returns_its_mss_within_the_window_only() {
        let keys = Keys::new([7; 16]);
        let t = tuple();
        let irs = SeqNum(u32::MAX - 3); // near the wrap
        let at = Instant::from_secs(1000);
        let c = make(&keys, &t, irs, at, 2);
        assert_eq!(check(&keys, &t, irs, c, at), Some(2));
        assert_eq!(
            check(&keys, &t, irs, c, at + core::time::Duration::from_secs(64)),
            Some(2)
        );
        // Expired: two periods later.
        assert_eq!(
            check(&keys, &t, irs, c, at + core::time::Duration::from_secs(192)),
            None
        );
    }

    #[test]
    fn forged_cookies_fail() {
        let keys = Keys::new([7; 16]);
        let t = tuple();
        let irs = SeqNum(12345);
        let at = Instant::from_secs(1000);
        let c = make(&keys, &t, irs, at, 1);
        // Another secret, another tuple, another IRS, a flipped bit.
        assert_eq!(check(&Keys::new([8; 16]), &t, irs, c, at), None);
        let mut other = t;
        other.remote_port += 1;
        assert_eq!(check(&keys, &other, irs, c, at), None);
        // (As in Linux, IRS enters linearly: a neighbouring IRS only shifts
        // the MSS index, which the 2^24 mask then rejects for any real shift.)
        assert_eq!(check(&keys, &t, irs.add(1000), c, at), None);
        // Guessing: of 10,000 random cookies, (almost) none passes. Each
        // passes with probability 2 * 4 / 2^24 * 2^-8ish; expect zero.
        let passed = (0..10_000u32)
            .filter(|i| check(&keys, &t, irs, SeqNum(i.wrapping_mul(2_654_435_761)), at).is_some())
            .count();
        assert!(passed <= 1, "{passed} forged cookies passed");
    }

    #[test]
    fn timestamp_bits_round_trip_and_never_run_ahead() {
        let o = TsOptions {
            wscale: Some(7),
            sack: true,
            ecn: false,
        };
        for now in [0u32, 5, 63, 64, 1000, u32::MAX] {
            let ts = encode_ts(now, o);
            assert!((ts.wrapping_sub(now) as i32) <= 0);
            assert_eq!(decode_ts(ts), Some(o));
        }
        let none = TsOptions {
            wscale: None,
            sack: false,
            ecn: true,
        };
        assert_eq!(decode_ts(encode_ts(99, none)), Some(none));
        assert_eq!(mss_index(&tuple(), 1460), 3);
        assert_eq!(mss_index(&tuple(), 1400), 1);
        assert_eq!(mss_index(&tuple(), 100), 0);
    }
}
