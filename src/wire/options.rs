//! Typed TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018).

use crate::seq::SeqNum;
use core::fmt;

/// One SACK block: the peer holds `[left, right)` (RFC 2018 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// Sequence number just past the block.
    pub right: SeqNum,
}

/// Up to four SACK blocks, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlocks {
    blocks: [SackBlock; 4],
    len: u8,
}

impl SackBlocks {
    /// The most blocks one option can carry.
    pub const MAX: usize = 4;

    /// No blocks.
    pub const fn new() -> SackBlocks {
        SackBlocks { blocks: [SackBlock { left: SeqNum(0), right: SeqNum(0) }; 4], len: 0 }
    }

    /// Appends a block; returns `false` (and keeps the list) when four are held.
    pub fn push(&mut self, block: SackBlock) -> bool {
        let i = usize::from(self.len);
        if i >= Self::MAX {
            return false;
        }
        self.blocks[i] = block;
        self.len += 1;
        true
    }

    /// The blocks held, in order.
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len).min(Self::MAX)]
    }

    /// How many blocks are held.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops all blocks.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The TCP timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub val: u32,
    /// TSecr: the echoed timestamp.
    pub ecr: u32,
}

/// The options of one segment, typed. Unknown options are skipped on decode
/// (MUST-6) and never encoded.
///
/// Encoding uses Linux's layout (MSS; SACK-permitted folded with timestamps;
/// NOP+window scale; NOP NOP + SACK blocks), so a Linux SYN re-encodes to
/// the same octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Options {
    /// Maximum segment size (kind 2). Only legal on SYN segments (MUST-65).
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3), as received (may exceed 14; the
    /// connection clamps it per RFC 7323 §2.3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// SACK blocks (kind 5).
    pub sack_blocks: SackBlocks,
    /// Timestamps (kind 8).
    pub timestamps: Option<Timestamps>,
}

impl Options {
    /// Whether no option is present.
    pub fn is_empty(&self) -> bool {
        self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && self.sack_blocks.is_empty()
            && self.timestamps.is_none()
    }
}

impl fmt::Display for Options {
    /// tcpdump style: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut item = |f: &mut fmt::Formatter<'_>, args: fmt::Arguments<'_>| {
            let r = write!(f, "{sep}{args}");
            sep = ",";
            r
        };
        if let Some(m) = self.mss {
            item(f, format_args!("mss {m}"))?;
        }
        if self.sack_permitted {
            item(f, format_args!("sackOK"))?;
        }
        if let Some(ts) = self.timestamps {
            item(f, format_args!("TS val {} ecr {}", ts.val, ts.ecr))?;
        }
        if let Some(ws) = self.window_scale {
            item(f, format_args!("wscale {ws}"))?;
        }
        if !self.sack_blocks.is_empty() {
            item(f, format_args!("sack {}", self.sack_blocks.len()))?;
            for b in self.sack_blocks.as_slice() {
                write!(f, " {{{}:{}}}", b.left, b.right)?;
            }
        }
        Ok(())
    }
}
