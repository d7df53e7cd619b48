//! An in-memory smoltcp 0.14 peer: one `Interface` (`Medium::Ip`) with a
//! queue-backed `Device` and one TCP socket, client or server.
//!
//! The smoltcp side owns 192.0.2.1/24 and 2001:db8::1/64 (the same roles as
//! the kernel in [`super::netns`]); tcp-proto is 192.0.2.2 / 2001:db8::2.
//! Packets are whole IP packets (`Vec<u8>`), framed and parsed by
//! [`super::ip`]. Time is virtual: the caller passes `tcp_proto::Instant`,
//! mapped 1:1 (microseconds) onto `smoltcp::time::Instant`.

use std::collections::VecDeque;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use super::netns::{Family, KERNEL_V4, KERNEL_V6, PEER_V4, PEER_V6};

/// Maps our virtual clock onto smoltcp's.
pub fn smol_now(now: tcp_proto::Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(now.total_micros()).unwrap_or(i64::MAX))
}

/// Maps smoltcp's clock back onto ours (negative times clamp to zero).
pub fn from_smol(t: smoltcp::time::Instant) -> tcp_proto::Instant {
    tcp_proto::Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// A `Device` whose wire is two queues of IP packets.
#[derive(Default)]
pub struct QueueDevice {
    /// Packets waiting to be received by smoltcp.
    pub rx: VecDeque<Vec<u8>>,
    /// Packets smoltcp transmitted.
    pub tx: VecDeque<Vec<u8>>,
    /// MTU reported to smoltcp.
    pub mtu: usize,
}

/// Receive token: one packet.
pub struct Rx(Vec<u8>);
/// Transmit token: appends to the tx queue.
pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
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
        Some((Rx(pkt), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _t: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

/// The smoltcp peer.
pub struct SmolPeer {
    /// The interface.
    pub iface: Interface,
    /// Its queues.
    pub device: QueueDevice,
    /// The socket set (one TCP socket).
    pub sockets: SocketSet<'static>,
    /// The TCP socket's handle.
    pub handle: SocketHandle,
    /// Address family of the connection.
    pub family: Family,
}

fn smol_addr(a: std::net::IpAddr) -> IpAddress {
    match a {
        std::net::IpAddr::V4(v) => IpAddress::Ipv4(v),
        std::net::IpAddr::V6(v) => IpAddress::Ipv6(v),
    }
}

impl SmolPeer {
    fn new(family: Family, buffer: usize, seed: u64, now: tcp_proto::Instant) -> SmolPeer {
        let mut device = QueueDevice {
            mtu: 1500,
            ..QueueDevice::default()
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, smol_now(now));
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(KERNEL_V4), 24))
                .expect("room for v4");
            addrs
                .push(IpCidr::new(IpAddress::Ipv6(KERNEL_V6), 64))
                .expect("room for v6");
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        // Reno, as before the dev-dependency enabled smoltcp's CUBIC (which
        // would otherwise become its default).
        socket.set_congestion_control(tcp::CongestionControl::Reno);
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(socket);
        SmolPeer {
            iface,
            device,
            sockets,
            handle,
            family,
        }
    }

    /// A smoltcp server listening on `port` (on its own address).
    pub fn server(
        family: Family,
        port: u16,
        buffer: usize,
        seed: u64,
        now: tcp_proto::Instant,
    ) -> SmolPeer {
        let mut p = SmolPeer::new(family, buffer, seed, now);
        p.socket().listen(port).expect("smoltcp listen");
        p
    }

    /// A smoltcp client connecting from `local_port` to tcp-proto's address, `remote_port`.
    pub fn client(
        family: Family,
        local_port: u16,
        remote_port: u16,
        buffer: usize,
        seed: u64,
        now: tcp_proto::Instant,
    ) -> SmolPeer {
        let mut p = SmolPeer::new(family, buffer, seed, now);
        let remote = match family {
            Family::V4 => IpEndpoint::new(smol_addr(std::net::IpAddr::V4(PEER_V4)), remote_port),
            Family::V6 => IpEndpoint::new(smol_addr(std::net::IpAddr::V6(PEER_V6)), remote_port),
        };
        let cx = p.iface.context();
        let socket = p.sockets.get_mut::<tcp::Socket>(p.handle);
        socket
            .connect(cx, remote, local_port)
            .expect("smoltcp connect");
        p
    }

    /// The TCP socket.
    pub fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    /// The socket's state.
    pub fn state(&mut self) -> tcp::State {
        self.socket().state()
    }

    /// Hands smoltcp one IP packet (delivered at the next [`SmolPeer::step`]).
    pub fn deliver(&mut self, packet: Vec<u8>) {
        self.device.rx.push_back(packet);
    }

    /// Polls smoltcp at `now` (ingress of every delivered packet, timers,
    /// egress) and returns the IP packets it transmitted.
    pub fn step(&mut self, now: tcp_proto::Instant) -> Vec<Vec<u8>> {
        self.iface
            .poll(smol_now(now), &mut self.device, &mut self.sockets);
        self.device.tx.drain(..).collect()
    }

    /// When smoltcp next wants to be polled (`None`: only on input).
    pub fn poll_at(&mut self, now: tcp_proto::Instant) -> Option<tcp_proto::Instant> {
        self.iface
            .poll_at(smol_now(now), &self.sockets)
            .map(from_smol)
    }
}
