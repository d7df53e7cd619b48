//! Shared by the fuzz targets: a byte reader, a counting allocator and the
//! invariant checks a connection must keep after every step.
#![allow(dead_code, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use tcp_proto::{Connection, Event, Instant, State};

/// Live heap of the whole process (the targets are single-threaded).
pub static LIVE: AtomicIsize = AtomicIsize::new(0);

pub struct Counting;

// SAFETY: forwards every call to `System` unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Reads the fuzzer's bytes; zeros once they run out.
pub struct Input<'a> {
    pub data: &'a [u8],
}

impl Input<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Follows one connection's `StateChanged` events and checks each edge.
#[derive(Default)]
pub struct Edges {
    pub state: Option<State>,
    pub closed: bool,
}

impl Edges {
    /// Drains the events: every edge legal (the table in `State`), starting
    /// where the last one ended; one `Closed` at most.
    pub fn check(&mut self, c: &mut Connection) {
        while let Some(e) = c.poll_event() {
            match e {
                Event::StateChanged { from, to } => {
                    if let Some(s) = self.state {
                        assert_eq!(s, from, "edge {from} -> {to} starts elsewhere");
                    }
                    assert!(from.can_move_to(to), "illegal edge {from} -> {to}");
                    self.state = Some(to);
                }
                Event::Closed(_) => {
                    assert!(!self.closed, "closed twice");
                    self.closed = true;
                }
                _ => {}
            }
        }
        if let Some(s) = self.state {
            assert_eq!(s, c.state(), "state() disagrees with the events");
        }
    }
}

/// Runs the timers due at `now` and checks that none is left at or before it.
pub fn timers(c: &mut Connection, now: Instant) {
    c.handle_timeout(now);
    if let Some(t) = c.poll_timeout() {
        assert!(
            t > now,
            "deadline {t} left at or before now {now} in {}",
            c.state()
        );
    }
}

/// Buffers within their configured sizes (plus one window-scale unit of
/// rounding on the receive side).
pub fn buffers(c: &Connection) {
    let cfg = c.config();
    assert!(
        c.send_queue_len() <= cfg.send_buffer,
        "send queue over its buffer"
    );
    assert!(
        c.recv_available() <= cfg.recv_buffer + (1 << 14),
        "{} readable in a {}-octet buffer",
        c.recv_available(),
        cfg.recv_buffer
    );
}
