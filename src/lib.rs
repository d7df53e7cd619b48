//! # tcp-proto
//!
//! A complete TCP (RFC 9293) in sans-IO form.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod pcap;
pub mod seq;
pub mod time;
pub mod wire;

pub use seq::SeqNum;
pub use time::Instant;
pub use wire::{ChecksumMode, Flags, IpPair, Options, Segment, WireError};
