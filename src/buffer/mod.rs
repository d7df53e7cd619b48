//! The send buffer with its retransmission queue, and the receive buffer with
//! out-of-order reassembly. Both hold `Bytes` so that segments are sliced, not copied.

mod recv;
mod send;

pub(crate) use recv::{RecvBuffer, RecvLimits};
pub(crate) use send::{Acked, SendBuffer};
