//! The compact entries an endpoint keeps instead of a [`Connection`]:
//! half-open (SYN-RECEIVED before the handshake completes) and TIME-WAIT.

use super::demux::FourTuple;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::timewait::TimeWaitView;
use crate::wire::{Flags, Options, Segment, Timestamps};

/// A half-open connection: what the SYN said and what we answered, and no
/// buffers. 72 octets on 64-bit targets (pinned by a test).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct HalfOpen {
    /// Registered deadline (SYN-ACK retransmission or expiry), microseconds.
    pub deadline: u64,
    pub tuple: FourTuple,
    /// The peer's ISN.
    pub irs: SeqNum,
    /// Our ISN.
    pub iss: SeqNum,
    /// The SYN's TSval.
    pub ts_val: u32,
    /// The SYN's MSS option (0: none).
    pub peer_mss: u16,
    /// The listener's index.
    pub listener: u16,
    /// The SYN's window-scale option (0xff: none).
    pub wscale: u8,
    /// Bit 0: SACK-permitted; bit 1: timestamps; bit 2: ECN-setup SYN
    /// (ECE and CWR, RFC 3168 §6.1.1).
    pub opts: u8,
    /// SYN-ACK retransmissions so far.
    pub retries: u8,
}

const SACK: u8 = 1;
const TS: u8 = 2;
const ECN_SETUP: u8 = 4;

impl HalfOpen {
    pub(crate) fn from_syn(
        tuple: FourTuple,
        syn: &Segment,
        iss: SeqNum,
        listener: u16,
        deadline: Instant,
    ) -> HalfOpen {
        let o = &syn.options;
        HalfOpen {
            deadline: deadline.total_micros(),
            tuple,
            irs: syn.seq,
            iss,
            ts_val: o.timestamps.map_or(0, |t| t.val),
            peer_mss: o.mss.unwrap_or(0),
            listener,
            wscale: o.window_scale.unwrap_or(0xff),
            opts: if o.sack_permitted { SACK } else { 0 }
                | if o.timestamps.is_some() { TS } else { 0 }
                | if syn.flags.contains(Flags::ECE.with(Flags::CWR)) {
                    ECN_SETUP
                } else {
                    0
                },
            retries: 0,
        }
    }

    /// The SYN again, as far as the connection's LISTEN code reads it.
    pub(crate) fn syn(&self) -> Segment {
        let o = Options {
            mss: (self.peer_mss != 0).then_some(self.peer_mss),
            window_scale: (self.wscale != 0xff).then_some(self.wscale),
            sack_permitted: self.opts & SACK != 0,
            timestamps: (self.opts & TS != 0).then_some(Timestamps {
                val: self.ts_val,
                ecr: 0,
            }),
            ..Options::default()
        };
        Segment {
            src_port: self.tuple.remote_port,
            dst_port: self.tuple.local_port,
            seq: self.irs,
            flags: if self.opts & ECN_SETUP != 0 {
                Flags::SYN.with(Flags::ECE).with(Flags::CWR)
            } else {
                Flags::SYN
            },
            window: u16::MAX,
            options: o,
            ..Segment::default()
        }
    }
}

/// A connection in TIME-WAIT, without its `Connection`: 64 octets on
/// 64-bit targets (pinned by a test). The timestamp offset is recomputed
/// from the 4-tuple when an ACK is due.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimeWait {
    /// End of 2·MSL, microseconds.
    pub deadline: u64,
    pub rcv_nxt: SeqNum,
    pub snd_nxt: SeqNum,
    pub rcv_wnd: u32,
    pub ts_recent: u32,
    pub tuple: FourTuple,
    pub ts_enabled: bool,
    /// Our window-scale shift, for the window field of ACKs.
    pub rcv_wscale: u8,
}

impl TimeWait {
    pub(crate) fn new(
        tuple: FourTuple,
        v: TimeWaitView,
        rcv_wscale: u8,
        deadline: Instant,
    ) -> TimeWait {
        TimeWait {
            deadline: deadline.total_micros(),
            rcv_nxt: v.rcv_nxt,
            snd_nxt: v.snd_nxt,
            rcv_wnd: v.rcv_wnd,
            ts_recent: v.ts_recent,
            tuple,
            ts_enabled: v.ts_enabled,
            rcv_wscale,
        }
    }

    pub(crate) fn view(&self) -> TimeWaitView {
        TimeWaitView {
            rcv_nxt: self.rcv_nxt,
            snd_nxt: self.snd_nxt,
            rcv_wnd: self.rcv_wnd,
            ts_enabled: self.ts_enabled,
            ts_recent: self.ts_recent,
        }
    }

    /// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`, with timestamps if negotiated.
    pub(crate) fn ack(&self, ts_now: u32) -> Segment {
        let mut s = Segment {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: Flags::ACK,
            window: (self.rcv_wnd >> self.rcv_wscale).min(65535) as u16,
            ..Segment::default()
        };
        if self.ts_enabled {
            s.options.timestamps = Some(Timestamps {
                val: ts_now,
                ecr: self.ts_recent,
            });
        }
        s
    }

    /// `<SEQ=SND.NXT><CTL=RST,ACK>` (RFC 5961 off, a SYN in the window).
    pub(crate) fn reset(&self) -> Segment {
        Segment {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: Flags::RST.with(Flags::ACK),
            ..Segment::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_entries_stay_small() {
        assert!(core::mem::size_of::<TimeWait>() <= 64);
        assert!(core::mem::size_of::<Option<TimeWait>>() <= 64);
        assert!(core::mem::size_of::<HalfOpen>() <= 72);
        assert!(core::mem::size_of::<Option<HalfOpen>>() <= 80);
    }
}
