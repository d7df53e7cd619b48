//! Heap allocations per segment on the bulk path (issue #3), counted by a
//! global allocator, and the heap an out-of-order flood pins.
//!
//! One `#[test]` runs every scenario in turn; the allocator counts only on
//! the thread that switched counting on, so the test harness's own threads
//! add no noise. Figures are printed (`--nocapture`).

// The counting allocator wraps `System`; the crate denies `unsafe_code`
// everywhere else (Cargo.toml [lints]).
#![allow(unsafe_code)]

use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::Duration;
use tcp_proto::{Config, Connection, Flags, Instant, Segment, SeqNum, State};

/// Allocations (alloc, alloc_zeroed, realloc) made while counting.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated minus bytes freed while counting.
static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // Const-initialised without a destructor: safe to read inside the allocator.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.with(Cell::get)
}

/// Wraps the system allocator and counts calls made on a counting thread.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is (the caller upholds `alloc`'s contract).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts allocations made by `f` on this thread.
fn count<T>(f: impl FnOnce() -> T) -> (T, u64, isize) {
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let l0 = LIVE.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (
        r,
        ALLOCS.load(Ordering::Relaxed) - a0,
        LIVE.load(Ordering::Relaxed) - l0,
    )
}

const MIB: usize = 1 << 20;

/// A client sending to a server over a perfect, instant link, pumped by
/// hand with queues allocated once.
struct Bulk {
    client: Connection,
    server: Connection,
    now: Instant,
    to_server: VecDeque<Segment>,
    to_client: VecDeque<Segment>,
    buf: Vec<u8>,
    received: usize,
    data_segments: u64,
    /// Drop every n-th data segment from the client (0: none).
    drop_every: u64,
}

impl Bulk {
    fn new() -> Bulk {
        let cfg = Config::linux();
        let now = Instant::ZERO;
        let client = Connection::connect(cfg, 40000, 80, SeqNum(u32::MAX - 100_000), now).unwrap();
        let server = Connection::listen(cfg, 80, SeqNum(7)).unwrap();
        let mut b = Bulk {
            client,
            server,
            now,
            to_server: VecDeque::with_capacity(4096),
            to_client: VecDeque::with_capacity(4096),
            buf: vec![0u8; 256 * 1024],
            received: 0,
            data_segments: 0,
            drop_every: 0,
        };
        while b.client.state() != State::Established || b.server.state() != State::Established {
            b.round();
        }
        b
    }

    /// One round: both outputs onto the link, both inputs off it, the
    /// server's application reads, the clock moves 20 µs, timers fire.
    fn round(&mut self) {
        while let Some(s) = self.client.poll_transmit(self.now) {
            if !s.payload.is_empty() {
                self.data_segments += 1;
                if self.drop_every > 0 && self.data_segments.is_multiple_of(self.drop_every) {
                    continue;
                }
            }
            self.to_server.push_back(s);
        }
        while let Some(s) = self.server.poll_transmit(self.now) {
            self.to_client.push_back(s);
        }
        while let Some(s) = self.to_server.pop_front() {
            self.server.handle_segment(self.now, s);
        }
        while let Some(s) = self.to_client.pop_front() {
            self.client.handle_segment(self.now, s);
        }
        while let Ok(n) = self.server.recv(&mut self.buf) {
            if n == 0 {
                break;
            }
            self.received += n;
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
        self.now += Duration::from_micros(20);
        for c in [&mut self.client, &mut self.server] {
            if c.poll_timeout().is_some_and(|t| t <= self.now) {
                c.handle_timeout(self.now);
            }
        }
    }

    /// Feeds with `feed` until `total` octets have arrived at the server.
    fn transfer(&mut self, total: usize, feed: &mut impl FnMut(&mut Connection) -> bool) {
        let goal = self.received + total;
        let mut rounds = 0;
        while self.received < goal {
            while self.client.send_capacity() > 0 && feed(&mut self.client) {}
            self.round();
            rounds += 1;
            assert!(rounds < 10_000_000, "transfer stalled");
        }
    }
}

/// Warms up with 1 MiB, then counts over the next 8 MiB.
fn measure(name: &str, mut feed: impl FnMut(&mut Connection) -> bool) -> (u64, u64) {
    let mut b = Bulk::new();
    b.transfer(MIB, &mut feed);
    let seg0 = b.data_segments;
    let ((), allocs, _) = count(|| b.transfer(8 * MIB, &mut feed));
    let segs = b.data_segments - seg0;
    println!(
        "{name}: {allocs} allocations over {segs} data segments (8 MiB): {:.4} per segment",
        allocs as f64 / segs as f64
    );
    (allocs, segs)
}

fn bulk_send_bytes_allocates_nothing_per_segment() {
    // One 16 MiB buffer, promoted to shared storage before counting starts
    // (cloning a `Bytes` built from a `Vec` allocates its shared header once).
    let big = Bytes::from(vec![0xa5u8; 16 * MIB]);
    drop(big.clone());
    let mut off = 0;
    let chunk = 64 * 1024;
    let (allocs, segs) = measure("send_bytes", |c| {
        let piece = big.slice(off..off + chunk);
        match c.send_bytes(piece) {
            Ok(n) => {
                off = (off + n) % (big.len() - chunk);
                true
            }
            Err(_) => false,
        }
    });
    assert!(segs > 5000, "only {segs} segments");
    assert!(
        allocs < segs / 100,
        "send_bytes: {allocs} allocations for {segs} segments"
    );
}

/// The sender offers one `len`-octet piece per round and the receiving
/// application reads after every segment, so the receive queue is drained
/// each time (an echo, a request/response loop, a zero-copy reader): its
/// storage is kept while data flows, not freed and allocated per segment.
/// 12,000 rounds of 20 µs span the 200 ms reclaim timer, which must see the
/// flow as busy.
fn a_reader_draining_after_every_segment_allocates_nothing_per_segment(len: usize) {
    let big = Bytes::from(vec![0x5au8; 4 * MIB]);
    drop(big.clone());
    let mut off = 0;
    let mut b = Bulk::new();
    // Each piece its own segment (no Nagle coalescing at the sender).
    b.client.set_nodelay(true);
    let mut offer = |b: &mut Bulk| {
        if b.client.send_bytes(big.slice(off..off + len)).is_ok() {
            off = (off + len) % (big.len() - len);
        }
        b.round();
    };
    for _ in 0..500 {
        offer(&mut b);
    }
    let (seg0, got0) = (b.data_segments, b.received);
    let ((), allocs, _) = count(|| {
        for _ in 0..12_000 {
            offer(&mut b);
        }
    });
    let segs = b.data_segments - seg0;
    println!(
        "drain after every {len}-octet segment: {allocs} allocations over {segs} data segments"
    );
    assert!(
        b.received - got0 >= 10_000 * len,
        "the flow moved too little"
    );
    assert!(
        allocs < segs / 100,
        "reader draining every segment: {allocs} allocations for {segs} segments of {len} octets"
    );
}

fn bulk_send_copies_allocate_at_most_a_staging_block_per_64_kib() {
    let data = vec![0x3cu8; 64 * 1024];
    let (allocs, segs) = measure("send(&[u8])", |c| matches!(c.send(&data), Ok(n) if n > 0));
    assert!(segs > 5000, "only {segs} segments");
    assert!(
        allocs < segs / 20,
        "send: {allocs} allocations for {segs} segments"
    );
}

/// 3,000 in-window out-of-order segments of fresh 1,500-octet packets that
/// never fill the hole: the heap the connection keeps stays bounded.
fn out_of_order_flood_pins_bounded_heap() {
    let mut cfg = Config::linux();
    cfg.recv_buffer = 64 * 1024;
    cfg.timestamps = false;
    // A receiver with the small buffer, handshaken by hand.
    let now = Instant::from_secs(1);
    let mut rx = Connection::listen(cfg, 81, SeqNum(1)).unwrap();
    let syn = Segment {
        src_port: 5000,
        dst_port: 81,
        seq: SeqNum(1000),
        flags: Flags::SYN,
        window: 65535,
        ..Segment::default()
    };
    rx.handle_segment(now, syn);
    let synack = rx.poll_transmit(now).unwrap();
    let ack = Segment {
        src_port: 5000,
        dst_port: 81,
        seq: SeqNum(1001),
        ack: synack.seq.add(1),
        flags: Flags::ACK,
        window: 65535,
        ..Segment::default()
    };
    rx.handle_segment(now, ack.clone());
    assert_eq!(rx.state(), State::Established);
    while rx.poll_transmit(now).is_some() {}
    let mut x = 12345u32;
    let ((), allocs, live) = count(|| {
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let off = 1 + x % 60_000;
            let len = 1 + (x >> 16) as usize % 1460;
            // A whole packet's storage, as a decoder would slice it.
            let packet = Bytes::from(vec![0u8; 1500]);
            let seg = Segment {
                seq: SeqNum(1001).add(off),
                payload: packet.slice(..len),
                ..ack.clone()
            };
            rx.handle_segment(now, seg);
            while rx.poll_transmit(now).is_some() {}
            assert_eq!(rx.recv_available(), 0);
        }
    });
    println!(
        "out-of-order flood (recv_buffer 64 KiB): {allocs} allocations, {live} octets of heap still held"
    );
    // Everything held lies in the 64 KiB window, each piece pinning at most
    // its 1,500-octet packet and a queue slot; 256 pieces at most (capacity/256).
    assert!(
        live < (256 * (1500 + 64) + 64 * 1024) as isize,
        "{live} octets held after the flood"
    );
}

/// Bulk transfer with SACK on and one data segment in 100 lost: SACK
/// blocks, the scoreboard, RFC 6675 recovery and PRR allocate nothing per
/// segment once warm.
fn lossy_bulk_with_sack_allocates_next_to_nothing_per_segment() {
    let mut b = Bulk::new();
    b.drop_every = 100;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut feed = |c: &mut Connection| c.send(&chunk).is_ok();
    b.transfer(MIB, &mut feed);
    let seg0 = b.data_segments;
    let rtx0 = b.client.stats().fast_retransmits;
    let ((), allocs, _) = count(|| b.transfer(8 * MIB, &mut feed));
    let segs = b.data_segments - seg0;
    let recoveries = b.client.stats().fast_retransmits - rtx0;
    println!(
        "lossy bulk (1 %, SACK): {allocs} allocations over {segs} data segments, {recoveries} recoveries: {:.4} per segment",
        allocs as f64 / segs as f64
    );
    assert!(recoveries > 10, "the losses were repaired by SACK recovery");
    // Copies from `send(&[u8])` take one 64 KiB staging block each.
    let staging = (8 * MIB / (64 * 1024)) as u64;
    assert!(
        allocs <= staging + segs / 100,
        "{allocs} allocations for {segs} segments"
    );
}

/// A peer floods SACK blocks over a window of tiny segments: the
/// scoreboard reserves its bounded storage once and never grows, and the
/// lazily allocated recovery state is allocated once.
fn sack_flood_allocates_only_the_scoreboard_once() {
    let mut cfg = Config::linux();
    cfg.timestamps = false;
    let now = Instant::from_secs(1);
    let mut tx = Connection::connect(cfg, 40000, 80, SeqNum(5), now).unwrap();
    let syn = tx.poll_transmit(now).unwrap();
    let mut synack = Segment {
        src_port: 80,
        dst_port: 40000,
        seq: SeqNum(9000),
        ack: syn.seq.add(1),
        flags: Flags::SYN.with(Flags::ACK),
        window: 65535,
        ..Segment::default()
    };
    synack.options.mss = Some(64);
    synack.options.sack_permitted = true;
    tx.handle_segment(now, synack);
    let big = Bytes::from(vec![1u8; 1 << 20]);
    tx.send_bytes(big).unwrap();
    let ack = Segment {
        src_port: 80,
        dst_port: 40000,
        seq: SeqNum(9001),
        ack: SeqNum(6),
        flags: Flags::ACK,
        window: 65535,
        ..Segment::default()
    };
    // Slow start up to the peer's 64 KiB window: a thousand tiny segments in flight.
    let mut una = SeqNum(6);
    let mut ends = Vec::new();
    for _ in 0..12 {
        while let Some(s) = tx.poll_transmit(now) {
            ends.push(s.seq.add(s.payload.len() as u32));
        }
        for e in ends.drain(..) {
            una = e;
            tx.handle_segment(
                now,
                Segment {
                    ack: e,
                    ..ack.clone()
                },
            );
        }
    }
    while tx.poll_transmit(now).is_some() {}
    let flight = tx.stats().bytes_in_flight;
    assert!(flight > 60_000, "{flight}");
    let ack = Segment { ack: una, ..ack };
    let mut x = 7u32;
    let ((), allocs, live) = count(|| {
        for _ in 0..10_000 {
            let mut a = ack.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let off = x % flight;
                a.options.sack_blocks.push(tcp_proto::wire::SackBlock {
                    left: una.add(off),
                    right: una.add(off + 1 + (x >> 24) % 3),
                });
            }
            tx.handle_segment(now, a);
            while tx.poll_transmit(now).is_some() {}
        }
    });
    println!(
        "SACK flood ({flight} octets in flight, MSS 64): {allocs} allocations, {live} octets held"
    );
    // Once each: the scoreboard (allocated with the first SACK block), its
    // range storage, PRR's state and the undo state (with the first
    // recovery) and the counts of rare events (the first duplicate ACK).
    assert!(allocs <= 5, "{allocs} allocations during the flood");
    assert!(
        live < 64 * 1024,
        "{live} octets of heap pinned by the flood"
    );
}

/// An established connection that sent one message with `send(&[u8])`
/// (acknowledged) and read one, with nothing queued, holds at most
/// `limit` octets of heap of its own (measured as what dropping it frees;
/// the configuration is one `Arc` both ends share, as an `Endpoint`'s
/// connections do). Returns the two ends' figures.
fn idle_connection_heap(cfg: Config, limit: isize) -> (isize, isize) {
    let cfg = std::sync::Arc::new(cfg);
    let now = Instant::from_secs(1);
    let mut client =
        Connection::connect(cfg.clone(), 40000, 80, SeqNum(u32::MAX - 3), now).unwrap();
    let mut server = Connection::listen(cfg.clone(), 80, SeqNum(7)).unwrap();
    let mut now = now;
    let pump = |client: &mut Connection, server: &mut Connection, now: &mut Instant| {
        for _ in 0..50 {
            while let Some(s) = client.poll_transmit(*now) {
                server.handle_segment(*now, s);
            }
            while let Some(s) = server.poll_transmit(*now) {
                client.handle_segment(*now, s);
            }
            *now += Duration::from_millis(10);
            for c in [&mut *client, &mut *server] {
                if c.poll_timeout().is_some_and(|t| t <= *now) {
                    c.handle_timeout(*now);
                }
                while c.poll_event().is_some() {}
            }
        }
    };
    pump(&mut client, &mut server, &mut now);
    assert_eq!(client.state(), State::Established);
    let request = vec![0x11u8; 300];
    let response = vec![0x22u8; 3000];
    let mut buf = vec![0u8; 8192];
    assert_eq!(client.send(&request), Ok(300));
    pump(&mut client, &mut server, &mut now);
    assert_eq!(server.recv(&mut buf), Ok(300));
    assert_eq!(server.send(&response), Ok(3000));
    pump(&mut client, &mut server, &mut now);
    assert_eq!(client.recv(&mut buf), Ok(3000));
    pump(&mut client, &mut server, &mut now);
    for c in [&client, &server] {
        assert_eq!(c.state(), State::Established);
        assert_eq!(c.send_queue_len(), 0, "everything acknowledged");
        assert_eq!(c.recv_available(), 0, "everything read");
        assert_eq!(c.poll_timeout(), None, "idle: no timer armed");
    }
    let ((), _, client_heap) = count(|| drop(client));
    let ((), _, server_heap) = count(|| drop(server));
    let (client_heap, server_heap) = (-client_heap, -server_heap);
    println!(
        "idle connection heap (size_of::<Connection>() = {} inline): client {client_heap} B, server {server_heap} B",
        std::mem::size_of::<Connection>()
    );
    assert!(
        client_heap <= limit && server_heap <= limit,
        "heap held by an idle connection: client {client_heap} B, server {server_heap} B"
    );
    assert_eq!(
        std::sync::Arc::strong_count(&cfg),
        1,
        "the config was shared"
    );
    (client_heap, server_heap)
}

#[test]
fn allocations_per_segment_and_heap_held() {
    idle_connection_heap(Config::linux(), 256);
    idle_connection_heap(Config::rfc9293(), 256);
    lossy_bulk_with_sack_allocates_next_to_nothing_per_segment();
    sack_flood_allocates_only_the_scoreboard_once();
    bulk_send_bytes_allocates_nothing_per_segment();
    a_reader_draining_after_every_segment_allocates_nothing_per_segment(1460);
    a_reader_draining_after_every_segment_allocates_nothing_per_segment(500);
    bulk_send_copies_allocate_at_most_a_staging_block_per_64_kib();
    out_of_order_flood_pins_bounded_heap();
}

/// `size_of::<Connection>()`: 1,744 B before issue #12's work, 1,072 B
/// after it, 1,136 B once CUBIC's undo state and the GSO-burst tracking
/// were merged; 568 B with the flags word, the one-octet event codes, the
/// cold state behind one pointer, and the compact CUBIC, send and receive
/// buffers; 512 B (the goal in #12) with loss recovery's sequence marks,
/// RACK's reordering state, ECN's recovery point and the count of dropped
/// events in the cold state, the origin and close reason in the flags
/// word, `max_rto` and the send buffer's size read from the shared
/// configuration instead of copied, and `rcv_mss` in 16 bits. A guard
/// against regrowth: a larger state belongs behind `Lazy` or a shared
/// `Arc`.
#[test]
fn connection_stays_within_its_size_budget() {
    let size = std::mem::size_of::<Connection>();
    println!("size_of::<Connection>() = {size} B");
    assert!(size <= 512, "Connection is {size} B");
}
