//! The in-memory smoltcp device every smoltcp row drives: two queues of IP
//! packets and a shared buffer pool, so no packet allocates once warm. The
//! device itself is the one the root package's goodput bench drives
//! (`benches/common/mod.rs`), included here rather than copied.

use std::collections::VecDeque;

#[path = "../../common/mod.rs"]
mod queue;

pub use queue::{Pool, QueueDevice};

/// One smoltcp host: an `Interface` over a [`QueueDevice`] with one TCP socket.
pub struct Host {
    /// The interface.
    pub iface: smoltcp::iface::Interface,
    /// Its device.
    pub dev: QueueDevice,
    /// Its one socket.
    pub sockets: smoltcp::iface::SocketSet<'static>,
    /// The socket's handle.
    pub handle: smoltcp::iface::SocketHandle,
}

impl Host {
    /// A host at `ip`/24 with a device of `mtu` and one socket with
    /// `buffer` octets each way and congestion control `cc`.
    pub fn new(
        ip: [u8; 4],
        pool: &Pool,
        seed: u64,
        mtu: usize,
        buffer: usize,
        cc: smoltcp::socket::tcp::CongestionControl,
    ) -> Host {
        use smoltcp::iface::{Config, Interface, SocketSet};
        use smoltcp::socket::tcp;
        use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
        let mut dev = QueueDevice {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            pool: pool.clone(),
            mtu,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, smoltcp::time::Instant::ZERO);
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::from(ip)), 24))
                .expect("room");
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        socket.set_congestion_control(cc);
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(socket);
        Host {
            iface,
            dev,
            sockets,
            handle,
        }
    }

    /// The socket.
    pub fn socket(&mut self) -> &mut smoltcp::socket::tcp::Socket<'static> {
        self.sockets.get_mut(self.handle)
    }

    /// Connects the socket to `ip`:`port` from local port `local`.
    pub fn connect(&mut self, ip: [u8; 4], port: u16, local: u16) {
        use smoltcp::wire::{IpAddress, Ipv4Address};
        let cx = self.iface.context();
        self.sockets
            .get_mut::<smoltcp::socket::tcp::Socket>(self.handle)
            .connect(cx, (IpAddress::Ipv4(Ipv4Address::from(ip)), port), local)
            .expect("connect");
    }

    /// One full `Interface::poll`.
    pub fn poll(&mut self, now: smoltcp::time::Instant) {
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
    }
}
