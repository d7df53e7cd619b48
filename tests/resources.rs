//! Heap a peer cannot inflate (issue 10): a counting global allocator
//! measures the heap one connection holds under hostile peers, and checks it
//! stays within 2 × the configured buffers + a constant.
//!
//! One `#[test]` runs every scenario in turn (the allocator is global); the
//! allocator counts only on the thread that switched counting on.

// The counting allocator wraps `System`; the crate denies `unsafe_code`
// everywhere else (Cargo.toml [lints]).
#![allow(unsafe_code)]

use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;
use tcp_proto::wire::Timestamps;
use tcp_proto::{Config, Connection, Flags, Instant, Segment, SeqNum, State};

/// Bytes allocated minus bytes freed while counting.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Highest `LIVE` seen since the last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.with(Cell::get)
}

fn grow(n: isize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            grow(layout.size() as isize);
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            grow(layout.size() as isize);
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            grow(-(layout.size() as isize));
        }
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            grow(new_size as isize - layout.size() as isize);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` counting: returns (live heap after, peak heap during), both
/// relative to the start. Packets the peer builds count while they live, so
/// what a stored slice pins counts too; the test's own buffers are made
/// before counting starts.
fn measure(f: impl FnOnce()) -> (isize, isize) {
    let l0 = LIVE.load(Ordering::Relaxed);
    PEAK.store(l0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    (
        LIVE.load(Ordering::Relaxed) - l0,
        PEAK.load(Ordering::Relaxed) - l0,
    )
}

/// The constant of "2 × buffers + a constant": the connection itself, its
/// queues' slots, one reassembly block.
const CONSTANT: isize = 64 * 1024;

const LOCAL: u16 = 80;
const REMOTE: u16 = 5000;

/// The hostile peer: it tracks the window we advertise and sends into it.
struct Peer {
    c: Connection,
    now: Instant,
    /// Next sequence number the peer would send.
    snd_nxt: SeqNum,
    /// Our ISS + 1 (what the peer acknowledges).
    our_nxt: SeqNum,
    /// Right edge of our advertised window, as the peer computes it.
    edge: SeqNum,
    wscale: u8,
    ts: bool,
    /// Packet buffer each payload is sliced from (as a decoder slices it).
    packet: usize,
}

impl Peer {
    /// A one-shot listener taken to ESTABLISHED by a peer offering window
    /// scale 7 (and timestamps when `cfg.timestamps`).
    fn establish(cfg: Config) -> Peer {
        let now = Instant::from_secs(1);
        let mut c = Connection::listen(cfg, LOCAL, SeqNum(1)).unwrap();
        let mut syn = Segment {
            src_port: REMOTE,
            dst_port: LOCAL,
            seq: SeqNum(u32::MAX - 1000),
            flags: Flags::SYN,
            window: 65535,
            ..Segment::default()
        };
        syn.options.mss = Some(1460);
        syn.options.window_scale = Some(7);
        if cfg.timestamps {
            syn.options.timestamps = Some(Timestamps { val: 1, ecr: 0 });
        }
        c.handle_segment(now, syn);
        let synack = c.poll_transmit(now).expect("SYN-ACK");
        let wscale = synack.options.window_scale.unwrap_or(0);
        let mut p = Peer {
            c,
            now,
            snd_nxt: SeqNum(u32::MAX - 999),
            our_nxt: synack.seq.add(1),
            edge: synack.ack.add(u32::from(synack.window)),
            wscale,
            ts: cfg.timestamps,
            packet: 1500,
        };
        let ack = p.seg(Flags::ACK, 0);
        p.c.handle_segment(now, ack);
        assert_eq!(p.c.state(), State::Established);
        p.drain();
        p
    }

    /// A segment from the peer at SND.NXT with `len` octets sliced from a
    /// fresh packet buffer.
    fn seg(&self, flags: Flags, len: usize) -> Segment {
        let payload = Bytes::from(vec![0x5au8; self.packet.max(len)]).slice(..len);
        let mut s = Segment {
            src_port: REMOTE,
            dst_port: LOCAL,
            seq: self.snd_nxt,
            ack: self.our_nxt,
            flags,
            window: 65535,
            payload,
            ..Segment::default()
        };
        if self.ts {
            s.options.timestamps = Some(Timestamps {
                val: self.now.total_millis() as u32 + 2,
                ecr: 0,
            });
        }
        s
    }

    /// Takes everything the connection says; tracks the edge it advertises.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(s) = self.c.poll_transmit(self.now) {
            n += 1;
            if s.flags.ack() && !s.flags.rst() {
                let e = s.ack.add(u32::from(s.window) << self.wscale);
                if e.gt(self.edge) {
                    self.edge = e;
                }
            }
        }
        while self.c.poll_event().is_some() {}
        n
    }

    /// Room the peer believes it has.
    fn room(&self) -> u32 {
        if self.edge.gt(self.snd_nxt) {
            self.edge.dist(self.snd_nxt)
        } else {
            0
        }
    }

    /// Sends `len`-octet segments until the advertised window is full (at
    /// most `max` segments); `true` if anything went.
    fn fill(&mut self, len: usize, max: usize) -> bool {
        let mut sent = false;
        for _ in 0..max {
            let n = (self.room() as usize).min(len);
            if n == 0 {
                break;
            }
            let s = self.seg(Flags::ACK, n);
            self.c.handle_segment(self.now, s);
            self.snd_nxt = self.snd_nxt.add(n as u32);
            self.drain();
            sent = true;
        }
        sent
    }

    /// Runs timers up to `d` from now.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            match self.c.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.c.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }
}

fn cfg(recv: usize, send: usize) -> Config {
    let mut c = Config::linux();
    c.recv_buffer = recv;
    c.send_buffer = send;
    c
}

fn bound(c: &Config) -> isize {
    2 * (c.recv_buffer + c.send_buffer) as isize + CONSTANT
}

fn check(name: &str, c: &Config, (live, peak): (isize, isize)) {
    println!(
        "{name}: live {live} B, peak {peak} B (bound {} B)",
        bound(c)
    );
    assert!(
        peak <= bound(c),
        "{name}: peak heap {peak} B exceeds 2 × buffers + {CONSTANT} = {} B",
        bound(c)
    );
    let _ = live;
}

/// A peer that fills every octet of the advertised window, one octet per
/// segment, into an application that never reads, and then keeps pushing
/// one octet at the (rounded-up) edge every second for hours.
fn tiny_in_order_segments_without_reading(recv: usize, timestamps: bool) {
    let mut c = cfg(recv, 4096);
    c.timestamps = timestamps;
    let m = measure(|| {
        let mut p = Peer::establish(c);
        // Fill with one-octet segments (bounded count for the 1 MiB buffer).
        let len = if recv > 100_000 { 16 } else { 1 };
        p.fill(len, 200_000);
        for _ in 0..4 * 3600 {
            p.advance(Duration::from_secs(1));
            // Whatever the window says, push a little more at the edge.
            let s = p.seg(Flags::ACK, 1 << p.wscale);
            p.c.handle_segment(p.now, s);
            p.drain();
            // At most the buffer plus the rounding of the scaled window
            // (less than one unit).
            if p.c.recv_available() >= recv + (1 << p.wscale) {
                panic!(
                    "{} octets readable in a {recv}-octet buffer",
                    p.c.recv_available()
                );
            }
            let accepted = p.c.stats().bytes_received;
            p.snd_nxt = SeqNum(u32::MAX - 999).add(accepted as u32);
            p.fill(len, 1000);
        }
        assert!(p.c.recv_available() < recv + (1 << p.wscale));
        drop(p);
    });
    check(
        &format!("tiny in-order, no reading (recv {recv}, ts {timestamps})"),
        &c,
        m,
    );
}

/// One-octet segments read now and then: coalesced, never a packet each.
fn tiny_in_order_segments_with_reading() {
    let c = cfg(64 * 1024, 4096);
    let mut buf = vec![0u8; 1000];
    let m = measure(|| {
        let mut p = Peer::establish(c);
        for round in 0..200 {
            p.fill(1, 500);
            if round % 3 == 0 {
                let _ = p.c.recv(&mut buf);
                p.drain();
            }
        }
        drop(p);
    });
    check("tiny in-order, reading", &c, m);
}

/// Out-of-order floods: one-octet pieces at every other octet of the
/// window, each pinning a 1,500-octet packet, then random pieces.
fn out_of_order_floods() {
    let c = cfg(64 * 1024, 4096);
    let m = measure(|| {
        let mut p = Peer::establish(c);
        let base = p.snd_nxt;
        let room = p.room();
        for off in (1..room).step_by(2) {
            let mut s = p.seg(Flags::ACK, 1);
            s.seq = base.add(off);
            p.c.handle_segment(p.now, s);
            p.drain();
        }
        let mut x = 12345u32;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = 1 + (x >> 20) as usize % 1460;
            let mut s = p.seg(Flags::ACK, len);
            s.seq = base.add(1 + x % room);
            p.c.handle_segment(p.now, s);
            p.drain();
        }
        assert_eq!(p.c.recv_available(), 0);
        drop(p);
    });
    check("out-of-order floods", &c, m);
}

/// Our side sends into a peer that shows a zero window for hours and
/// answers every probe; then a peer that never acknowledges anything.
fn zero_window_and_silent_peer() {
    let c = cfg(64 * 1024, 64 * 1024);
    let data = vec![7u8; 100_000];
    let m = measure(|| {
        let mut p = Peer::establish(c);
        let mut z = p.seg(Flags::ACK, 0);
        z.window = 0;
        p.c.handle_segment(p.now, z);
        let _ = p.c.send(&data);
        p.drain();
        for _ in 0..600 {
            p.advance(Duration::from_secs(30));
            let mut z = p.seg(Flags::ACK, 0);
            z.window = 0;
            p.c.handle_segment(p.now, z);
            p.drain();
            let _ = p.c.send(&data);
        }
        assert_eq!(p.c.state(), State::Established);
        // The peer goes silent with its window open: retransmissions, then give-up.
        let mut open = p.seg(Flags::ACK, 0);
        open.seq = open.seq.add(0);
        p.c.handle_segment(p.now, open);
        p.drain();
        for _ in 0..2000 {
            let _ = p.c.send(&data);
            p.advance(Duration::from_secs(10));
        }
        assert_eq!(p.c.state(), State::Closed);
        drop(p);
    });
    check("zero window for hours, then a peer that never ACKs", &c, m);
}

/// FIN and RST floods at every offset around the window.
fn fin_and_rst_floods() {
    let c = cfg(64 * 1024, 4096);
    let m = measure(|| {
        let mut p = Peer::establish(c);
        let base = p.snd_nxt;
        let mut x = 777u32;
        for i in 0..50_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let flags = if i % 2 == 0 { Flags::FIN } else { Flags::RST };
            let mut s = p.seg(flags.with(Flags::ACK), 0);
            s.seq = base.add(1 + x % 200_000);
            p.c.handle_segment(p.now, s);
            if i % 7 != 0 {
                p.drain(); // Sometimes the caller does not poll at once.
            }
        }
        assert_eq!(p.c.state(), State::Established);
        drop(p);
    });
    check("FIN/RST floods", &c, m);
}

/// 100,000 handshakes and closes: nothing accumulates.
fn open_close_cycles() {
    let c = cfg(16 * 1024, 16 * 1024);
    let (live, peak) = measure(|| {
        for i in 0..100_000u32 {
            let mut p = Peer::establish(c);
            let fin = p.seg(Flags::FIN.with(Flags::ACK), 0);
            p.c.handle_segment(p.now, fin);
            p.snd_nxt = p.snd_nxt.add(1);
            p.c.send(b"bye").unwrap();
            p.c.close(p.now).unwrap();
            p.drain();
            let mut ack = p.seg(Flags::ACK, 0);
            ack.ack = p.our_nxt.add(4);
            p.c.handle_segment(p.now, ack);
            p.drain();
            assert_eq!(p.c.state(), State::Closed, "cycle {i}");
        }
    });
    println!("100,000 open/close cycles: live {live} B, peak {peak} B");
    assert!(live <= 0, "{live} B left after the cycles");
    assert!(peak <= bound(&c), "peak {peak} B");
}

#[test]
fn heap_stays_within_twice_the_buffers_under_hostile_peers() {
    tiny_in_order_segments_without_reading(64 * 1024, false);
    tiny_in_order_segments_without_reading(1 << 20, true);
    tiny_in_order_segments_with_reading();
    out_of_order_floods();
    zero_window_and_silent_peer();
    fin_and_rst_floods();
    open_close_cycles();
}
