//! Pictures of TCP exchanges as SVG text (feature `plot`; `alloc` only, no
//! dependency): the [`Ladder`] diagram of two hosts' segments and states,
//! and the [`Tsg`] time-sequence graph (Stevens / tcptrace style) of one
//! direction's data, ACKs, receive window, retransmissions and SACK blocks.
//!
//! Both are recorded as things happen (or read from a capture with
//! [`Tsg::from_pcap`]) and rendered at the end; the simulator draws its own
//! runs with `Sim::ladder` and `Sim::tsg` (feature `sim`). Writing the
//! `String` to a file, or serving it, is the caller's business.

/// The colours of the pictures (SVG colour strings), named for what they
/// show: a reader's key, and what tests look for in rendered pixels.
pub mod colour {
    /// Ladder: an arrow from the left host to the right one.
    pub const LEFT_TO_RIGHT: &str = "#1f5fbf";
    /// Ladder: an arrow from the right host to the left one.
    pub const RIGHT_TO_LEFT: &str = "#b35900";
    /// Ladder: the cross where a lost segment's arrow ends.
    pub const LOSS: &str = "#d62728";
    /// Time-sequence graph: a data segment sent for the first time.
    pub const DATA: &str = "#1a1a1a";
    /// Time-sequence graph: a retransmitted segment.
    pub const RETRANSMISSION: &str = "#e31a1c";
    /// Time-sequence graph: the cumulative ACK line.
    pub const ACK: &str = "#1b9e3a";
    /// Time-sequence graph: the receive-window line (ACK + window).
    pub const WINDOW: &str = "#d69a00";
    /// Time-sequence graph: a SACK block.
    pub const SACK: &str = "#8e44c8";
    /// Time-sequence graph: the cross over a segment the link lost.
    pub const LOST: &str = "#ff7f0e";
}

mod ladder;
mod svg;
mod tsg;

pub use ladder::{Arrow, Column, Ladder};
pub use tsg::{Bar, Tsg, TsgError};
