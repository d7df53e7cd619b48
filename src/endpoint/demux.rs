//! Demultiplexing: the 4-tuple, and an open-addressing hash table from the
//! keyed hash of a 4-tuple to what holds it (a connection, a half-open entry
//! or a TIME-WAIT entry). Keys live in the entries themselves; the table
//! stores 8 octets per slot: the hash and a tagged index. Linear probing
//! with backward-shift deletion: no tombstones, so lookups stay short
//! whatever the churn.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A connection's addresses from our side, compact (38 octets): IPv4
/// addresses are stored IPv4-mapped with `v6` false.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct FourTuple {
    pub local: [u8; 16],
    pub remote: [u8; 16],
    pub local_port: u16,
    pub remote_port: u16,
    pub v6: bool,
}

fn octets(ip: IpAddr) -> ([u8; 16], bool) {
    match ip {
        IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), false),
        IpAddr::V6(a) => (a.octets(), true),
    }
}

fn addr(o: [u8; 16], v6: bool) -> IpAddr {
    let a = Ipv6Addr::from(o);
    if v6 {
        IpAddr::V6(a)
    } else {
        IpAddr::V4(a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED))
    }
}

impl FourTuple {
    /// `None` when the two addresses are of different families.
    pub(crate) fn new(local: SocketAddr, remote: SocketAddr) -> Option<FourTuple> {
        let (l, lv6) = octets(local.ip());
        let (r, rv6) = octets(remote.ip());
        if lv6 != rv6 {
            return None;
        }
        Some(FourTuple {
            local: l,
            remote: r,
            local_port: local.port(),
            remote_port: remote.port(),
            v6: lv6,
        })
    }

    pub(crate) fn local(&self) -> SocketAddr {
        SocketAddr::new(addr(self.local, self.v6), self.local_port)
    }

    pub(crate) fn remote(&self) -> SocketAddr {
        SocketAddr::new(addr(self.remote, self.v6), self.remote_port)
    }
}

/// What a table slot points at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Slot {
    /// An index into the connection slab.
    Conn(u32),
    /// An index into the half-open (SYN queue) slab.
    HalfOpen(u32),
    /// An index into the TIME-WAIT slab.
    TimeWait(u32),
}

const EMPTY: u32 = u32::MAX;
const TAG_SHIFT: u32 = 30;
const INDEX_MASK: u32 = (1 << TAG_SHIFT) - 1;
/// Largest index a table can hold (2^30 − 1, well above any limit).
pub(crate) const MAX_INDEX: u32 = INDEX_MASK - 1;

impl Slot {
    fn pack(self) -> u32 {
        match self {
            Slot::Conn(i) => i,
            Slot::HalfOpen(i) => (1 << TAG_SHIFT) | i,
            Slot::TimeWait(i) => (2 << TAG_SHIFT) | i,
        }
    }
    fn unpack(v: u32) -> Slot {
        let i = v & INDEX_MASK;
        match v >> TAG_SHIFT {
            0 => Slot::Conn(i),
            1 => Slot::HalfOpen(i),
            _ => Slot::TimeWait(i),
        }
    }
}

/// The table: `(hash, packed slot)` pairs, a power-of-two long.
#[derive(Debug)]
pub(crate) struct Table {
    entries: Vec<(u32, u32)>,
    len: usize,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            entries: vec![(0, EMPTY); 16],
            len: 0,
        }
    }

    /// Heap octets held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<(u32, u32)>()
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// The slot whose key `is_key` accepts, among those with `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u32, mut is_key: impl FnMut(Slot) -> bool) -> Option<Slot> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let (h, v) = *self.entries.get(i)?;
            if v == EMPTY {
                return None;
            }
            if h == hash && is_key(Slot::unpack(v)) {
                return Some(Slot::unpack(v));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds a slot (the caller has checked the key is absent).
    pub(crate) fn insert(&mut self, hash: u32, slot: Slot) {
        // At most 3/4 full: linear probing's misses (every new SYN is one)
        // stay around 8 probes; at 7/8 they would be ~32.
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while let Some(e) = self.entries.get_mut(i) {
            if e.1 == EMPTY {
                *e = (hash, slot.pack());
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Points the entry that holds `old` at `new` (same key).
    pub(crate) fn replace(&mut self, hash: u32, old: Slot, new: Slot) -> bool {
        match self.position(hash, old) {
            Some(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.1 = new.pack();
                }
                true
            }
            None => false,
        }
    }

    /// Removes the entry that holds `slot`.
    pub(crate) fn remove(&mut self, hash: u32, slot: Slot) -> bool {
        let Some(mut hole) = self.position(hash, slot) else {
            return false;
        };
        let mask = self.mask();
        // Backward shift: move later members of the run into the hole when
        // their home position allows it.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(&(h, v)) = self.entries.get(j) else {
                break;
            };
            if v == EMPTY {
                break;
            }
            let home = h as usize & mask;
            // Does `home` lie cyclically in (hole, j]? Then it stays.
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.entries.swap(hole, j);
                hole = j;
            }
        }
        if let Some(e) = self.entries.get_mut(hole) {
            *e = (0, EMPTY);
        }
        self.len -= 1;
        true
    }

    fn position(&self, hash: u32, slot: Slot) -> Option<usize> {
        let mask = self.mask();
        let packed = slot.pack();
        let mut i = hash as usize & mask;
        loop {
            let (h, v) = *self.entries.get(i)?;
            if v == EMPTY {
                return None;
            }
            if h == hash && v == packed {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let bigger = vec![(0, EMPTY); self.entries.len() * 2];
        let old = core::mem::replace(&mut self.entries, bigger);
        self.len = 0;
        for (h, v) in old {
            if v != EMPTY {
                self.insert(h, Slot::unpack(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_keep_every_other_entry_findable() {
        let mut t = Table::new();
        // Many equal low bits: long probe runs that wrap around.
        let hashes: Vec<u32> = (0..200u32).map(|i| (i % 7) * 16 + 15).collect();
        for (i, &h) in hashes.iter().enumerate() {
            t.insert(h, Slot::Conn(i as u32));
        }
        for (i, &h) in hashes.iter().enumerate() {
            assert_eq!(
                t.find(h, |s| s == Slot::Conn(i as u32)),
                Some(Slot::Conn(i as u32))
            );
        }
        for i in (0..200).step_by(3) {
            assert!(t.remove(hashes[i], Slot::Conn(i as u32)));
        }
        for (i, &h) in hashes.iter().enumerate() {
            let found = t.find(h, |s| s == Slot::Conn(i as u32));
            assert_eq!(found.is_some(), i % 3 != 0, "entry {i}");
        }
        assert!(t.replace(hashes[1], Slot::Conn(1), Slot::TimeWait(9)));
        assert_eq!(
            t.find(hashes[1], |s| s == Slot::TimeWait(9)),
            Some(Slot::TimeWait(9))
        );
    }

    #[test]
    fn four_tuple_keeps_both_families_apart() {
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let peer4: SocketAddr = "192.0.2.2:4000".parse().unwrap();
        assert!(FourTuple::new(v4, v6).is_none());
        let t = FourTuple::new(v4, peer4).unwrap();
        assert_eq!((t.local(), t.remote()), (v4, peer4));
        assert_eq!(core::mem::size_of::<FourTuple>(), 38);
    }
}
