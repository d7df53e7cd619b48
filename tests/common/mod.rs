//! Interop test harness shared by the test binaries (`mod common;`).
//!
//! - [`netns`]: a private network namespace + TUN device talking to Linux TCP.
//! - [`ip`]: `Segment` <-> IPv4/IPv6 packets.
//! - [`impair`]: seeded loss / reordering / duplication.
//! - [`example`]: examples/tun.rs run as a program in a namespace.
#![allow(dead_code)]

pub mod app;
pub mod example;
pub mod impair;
pub mod ip;
pub mod netns;
pub mod pump;
pub mod smol;
pub mod tshark;
