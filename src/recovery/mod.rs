//! Loss detection and recovery around SACK: what a receiver reports
//! (RFC 2018, RFC 2883), the sender's scoreboard and RFC 6675 recovery,
//! RACK-TLP (RFC 8985), PRR (RFC 6937) and the undo of a spurious
//! response (RFC 3522, RFC 3708). One concern per file; the
//! connection calls them from `input.rs` and `output.rs`.

mod prr;
mod rack;
mod report;
mod scoreboard;
mod undo;

pub(crate) use prr::Prr;
pub(crate) use rack::{Rack, Reordering, probe_timeout_micros};
pub(crate) use report::SackReport;
pub(crate) use scoreboard::{DUP_THRESH, Scoreboard, dsack_block};
pub(crate) use undo::Undo;
