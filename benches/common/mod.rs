//! The in-memory smoltcp device the smoltcp benchmarks drive (the goodput bench here,
//! and benches/compare through a `#[path]` include): two queues of IP packets and a
//! shared buffer pool, so no packet allocates once warm.

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

pub type Pool = Rc<RefCell<Vec<Vec<u8>>>>;

/// A device whose wire is two queues of IP packets, with a shared buffer pool.
pub struct QueueDevice {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
    pub pool: Pool,
    pub mtu: usize,
}

pub struct Rx(Vec<u8>, Pool);
pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>, Pool);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.0);
        self.1.borrow_mut().push(self.0);
        r
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.1.borrow_mut().pop().unwrap_or_default();
        buf.resize(len, 0);
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _t: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let pkt = self.rx.pop_front()?;
        Some((
            Rx(pkt, self.pool.clone()),
            Tx(&mut self.tx, self.pool.clone()),
        ))
    }

    fn transmit(&mut self, _t: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx, self.pool.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}
