//! A seeded impairment stage: loss, reordering and duplication, applied to
//! one direction of a link. Use one `Impair` per direction.
//!
//! Deterministic for a given seed and input sequence (the reorder hold-back
//! timeout reads the caller's `now`, so with a real clock only the decisions,
//! not their timing, repeat).

use std::collections::VecDeque;
use std::time::Duration;
use tcp_proto::Instant;

/// SplitMix64: a tiny, good-enough PRNG (no `rand` dependency).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// `true` with probability `p` (0.0 ..= 1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Probabilities for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Profile {
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Probability that a packet is held back and released after the next
    /// one (or after `hold` if no next one comes).
    pub reorder: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Longest time a reordered packet is held.
    pub hold: Duration,
}

impl Profile {
    /// No impairment.
    pub const CLEAN: Profile = Profile {
        loss: 0.0,
        reorder: 0.0,
        duplicate: 0.0,
        hold: Duration::from_millis(5),
    };

    /// `p` loss, `p` reordering and `p` duplication.
    pub fn lossy(p: f64) -> Profile {
        Profile {
            loss: p,
            reorder: p,
            duplicate: p,
            hold: Duration::from_millis(5),
        }
    }

    /// Whether this profile changes anything.
    pub fn is_clean(&self) -> bool {
        self.loss == 0.0 && self.reorder == 0.0 && self.duplicate == 0.0
    }
}

/// Counters of what the stage did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets offered.
    pub offered: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// Packets held back for reordering.
    pub reordered: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
}

/// One direction's impairment stage. `push` packets in, take them out of
/// `pop_ready` (and call `pop_ready` on timeouts, so held packets leave).
pub struct Impair<T> {
    profile: Profile,
    rng: SplitMix64,
    held: Option<(T, Instant)>,
    out: VecDeque<T>,
    /// What happened so far.
    pub stats: ImpairStats,
}

impl<T: Clone> Impair<T> {
    /// A stage with `profile`, seeded with `seed`.
    pub fn new(profile: Profile, seed: u64) -> Self {
        Impair {
            profile,
            rng: SplitMix64::new(seed),
            held: None,
            out: VecDeque::new(),
            stats: ImpairStats::default(),
        }
    }

    /// Offers one packet at `now`.
    pub fn push(&mut self, now: Instant, pkt: T) {
        self.stats.offered += 1;
        if self.rng.chance(self.profile.loss) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.profile.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        if self.held.is_none() && self.rng.chance(self.profile.reorder) {
            self.stats.reordered += 1;
            if copies == 2 {
                self.out.push_back(pkt.clone());
            }
            self.held = Some((pkt, now));
            return;
        }
        for _ in 1..copies {
            self.out.push_back(pkt.clone());
        }
        self.out.push_back(pkt);
        // A held packet leaves right after the one that overtook it.
        if let Some((h, _)) = self.held.take() {
            self.out.push_back(h);
        }
    }

    /// The next packet due at `now`, if any.
    pub fn pop_ready(&mut self, now: Instant) -> Option<T> {
        if let Some((_, since)) = &self.held
            && now.saturating_duration_since(*since) >= self.profile.hold
        {
            let (h, _) = self.held.take().expect("checked above");
            self.out.push_back(h);
        }
        self.out.pop_front()
    }

    /// When a held packet must be released, if one is held.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held
            .as_ref()
            .map(|(_, since)| *since + self.profile.hold)
    }

    /// Whether nothing is queued or held.
    pub fn is_idle(&self) -> bool {
        self.held.is_none() && self.out.is_empty()
    }
}
