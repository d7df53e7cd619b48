//! A tokio driver for [`tcp_proto`]'s sans-IO [`Endpoint`] over a TUN device.
//!
//! # The event loop, on tokio
//!
//! An [`Endpoint`] does no IO and reads no clock: whatever runs it feeds
//! segments, polls transmits and events, and sleeps until
//! [`Endpoint::poll_timeout`] — the loop in tcp-proto's guide,
//! [driving tcp-proto from your event loop](tcp_proto#driving-tcp-proto-from-your-event-loop).
//!
//! This crate is that loop for tokio, and the worked example: [`Stack::new`]
//! spawns one task that owns the TUN device and shares the `Endpoint`
//! (behind a mutex held only for short, non-blocking calls) with the
//! [`TcpListener`]s and [`TcpStream`]s. A stream calls
//! [`Endpoint::send`]/[`Endpoint::recv`] itself and nudges the task
//! (a [`Notify`]) to transmit; when the send buffer is full `poll_write`
//! returns `Pending` until the endpoint's `Writable` event (that is the
//! backpressure), and `poll_read` waits for `Readable`. Time is
//! microseconds since the stack started, mapped to
//! [`tokio::time::sleep_until`].
//!
//! `poll_shutdown` is a half-close (FIN, reading goes on); dropping a
//! stream closes it gracefully ([`Endpoint::close`]); dropping a listener
//! stops listening, so new SYNs get a RST. A reset connection reads and
//! writes [`io::ErrorKind::ConnectionReset`].
//!
//! # Shutting down
//!
//! Like a kernel socket without `SO_LINGER`, a dropped stream keeps its
//! written data: the driver task goes on retransmitting it, sending the FIN
//! and acknowledging the peer's, after the last handle is gone — for at
//! most the [linger limit](Stack::set_orphan_linger) per connection, after
//! which it gives up with a RST. The task ends when the [`Stack`] and every
//! listener and stream made from it are gone and no dropped connection is
//! still closing (TIME-WAIT is not kept after that: the process is leaving).
//!
//! That needs a running runtime: a `main` that returns stops every task.
//! [`Stack::shutdown`] is the explicit, awaitable end: listeners refuse new
//! SYNs, every connection closes gracefully, and it returns once all are
//! closed or the timeout has reset the rest, with a [`ShutdownSummary`].

#![deny(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tcp_proto::endpoint::{
    ConnectionHandle, Counts, Endpoint, EndpointConfig, EndpointError, ListenerHandle,
};
use tcp_proto::{CloseReason, Error as TcpError, Event, Instant, State as TcpState, ip};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, watch};
use tun_rs::AsyncDevice;

/// Room in front of an encoded segment for its IP header.
const IP_ROOM: usize = ip::MAX_HEADER_LEN;
/// Packets read from the device in one go before transmitting.
const RX_BATCH: usize = 64;
/// How long a dropped stream's connection may take to close by default:
/// Linux's `tcp_fin_timeout`.
pub const DEFAULT_ORPHAN_LINGER: Duration = Duration::from_secs(60);

/// A userspace TCP/IP host on one TUN device: cheap to clone; every clone
/// shares the same endpoint and driver task.
#[derive(Clone)]
pub struct Stack {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the driver task: the application queued data, read data
    /// (window update), closed, or dropped something.
    kick: Notify,
    /// The summary, once a [`Stack::shutdown`] has finished.
    done: watch::Sender<Option<ShutdownSummary>>,
}

struct State {
    ep: Endpoint,
    start: tokio::time::Instant,
    /// Our addresses, used as the source of outgoing connections.
    addrs: Vec<IpAddr>,
    conns: HashMap<ConnectionHandle, Conn>,
    /// `accept` calls waiting for a connection.
    acceptors: Vec<Waker>,
    /// Open listeners (closed by a shutdown).
    listeners: Vec<ListenerHandle>,
    /// Connections whose stream was dropped while they were still closing,
    /// and when they are given up on (RST).
    orphans: HashMap<ConnectionHandle, tokio::time::Instant>,
    /// How long an orphan may take to close.
    linger: Duration,
    /// A shutdown in progress.
    draining: Option<Draining>,
    /// The shutdown is over: the driver task has ended.
    stopped: bool,
}

/// What a [`Stack::shutdown`] waits for.
struct Draining {
    began: tokio::time::Instant,
    deadline: tokio::time::Instant,
    /// Connections not closed yet.
    open: HashSet<ConnectionHandle>,
    summary: ShutdownSummary,
}

/// How a [`Stack::shutdown`] went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownSummary {
    /// Connections open or closing when it began: streams held, connections
    /// not yet accepted, and dropped streams still closing.
    pub connections: usize,
    /// Of those, closed gracefully: both FINs sent and acknowledged.
    pub closed: usize,
    /// Reset by us: still open at the timeout, or closed with unread
    /// data (which resets, as Linux does).
    pub reset: usize,
    /// Ended by the peer or the network first: reset by the peer, timed out.
    pub failed: usize,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

impl ShutdownSummary {
    fn count(&mut self, r: Option<CloseReason>) {
        match r {
            Some(CloseReason::Normal) | None => self.closed += 1,
            Some(CloseReason::Aborted) => self.reset += 1,
            Some(_) => self.failed += 1,
        }
    }
}

#[derive(Default)]
struct Conn {
    reader: Option<Waker>,
    writer: Option<Waker>,
    connected: bool,
    closed: Option<CloseReason>,
}

impl Conn {
    fn wake(&mut self) {
        self.reader
            .take()
            .into_iter()
            .chain(self.writer.take())
            .for_each(Waker::wake);
    }
}

impl State {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// Timeouts, transmits and events: everything owed after any input.
    /// Returns the next deadline.
    fn service(&mut self, dev: &AsyncDevice, tx: &mut [u8]) -> Option<tokio::time::Instant> {
        let now = self.now();
        self.ep.handle_timeout(now);
        while let Some(r) = self.ep.poll_transmit_into(now, &mut tx[IP_ROOM..]) {
            let Ok(e) = r else { continue }; // counted by the endpoint; TCP resends
            let pair = e.ip_pair();
            let at = IP_ROOM - ip::header_len(&pair);
            ip::write_header_with(&mut tx[at..], &pair, e.len, self.ep.transmit_ip());
            // A full device queue loses the packet, like a full link: TCP resends.
            let _ = dev.try_send(&tx[at..IP_ROOM + e.len]);
        }
        while let Some((h, ev)) = self.ep.poll_event() {
            if let Event::Closed(r) = ev {
                self.orphans.remove(&h);
                if let Some(d) = &mut self.draining
                    && d.open.remove(&h)
                {
                    d.summary.count(Some(r));
                }
            }
            let Some(c) = self.conns.get_mut(&h) else {
                // A connection not yet accepted: an `accept` may now succeed.
                self.acceptors.drain(..).for_each(Waker::wake);
                continue;
            };
            match ev {
                Event::Connected => c.connected = true,
                Event::Closed(r) => c.closed = Some(r),
                _ => {}
            }
            c.wake();
        }
        // Gone without a final event (the endpoint's queue of them overflowed).
        let ep = &self.ep;
        self.orphans.retain(|h, _| ep.connection_ref(*h).is_ok());
        if let Some(d) = &mut self.draining {
            let before = d.open.len();
            d.open.retain(|h| ep.connection_ref(*h).is_ok());
            for _ in d.open.len()..before {
                d.summary.count(None);
            }
        }
        let at = self.ep.poll_timeout();
        at.map(|at| self.start + Duration::from_micros(at.total_micros()))
            .into_iter()
            .chain(self.orphans.values().copied())
            .chain(self.draining.as_ref().map(|d| d.deadline))
            .min()
    }

    /// Resets the orphans whose linger limit has passed.
    fn reap_orphans(&mut self, now: tokio::time::Instant) {
        let late: Vec<_> = self
            .orphans
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(&h, _)| h)
            .collect();
        for h in late {
            self.orphans.remove(&h);
            let _ = self.ep.abort(h);
        }
    }

    /// Whether the driver's work is over (`handles`: holders of the shared
    /// state, the task included). A shutdown ends when its connections have
    /// closed or its deadline has passed: then every one still open is
    /// reset, and its summary is returned.
    fn finished(
        &mut self,
        dev: &AsyncDevice,
        tx: &mut [u8],
        handles: usize,
    ) -> Option<Option<ShutdownSummary>> {
        let now = tokio::time::Instant::now();
        let Some(d) = &mut self.draining else {
            // Only the task holds the stack and nothing is left closing.
            return (handles == 1 && self.orphans.is_empty()).then_some(None);
        };
        if !d.open.is_empty() && now < d.deadline {
            return None;
        }
        let late: Vec<_> = d.open.drain().collect();
        d.summary.reset += late.len();
        d.summary.elapsed = now - d.began;
        let summary = d.summary;
        for h in late {
            let _ = self.ep.abort(h);
        }
        self.service(dev, tx); // the RSTs go out
        self.orphans.clear();
        self.draining = None;
        self.stopped = true;
        self.conns.values_mut().for_each(Conn::wake);
        self.acceptors.drain(..).for_each(Waker::wake);
        Some(Some(summary))
    }
}

impl Stack {
    /// Runs a TCP host on `dev` with `addrs` as its own addresses (the
    /// far end of the TUN: packets to them arrive on `dev`). `secret` keys
    /// ISNs and the demux hash: 16 octets from the OS's random source.
    /// Spawns the driver task, so it must be called inside a tokio runtime.
    /// The MSS `cfg` advertises is lowered, if need be, to fit the
    /// device's MTU ([`EndpointConfig::fit_mss_to_mtu`]).
    pub fn new(
        dev: AsyncDevice,
        addrs: &[IpAddr],
        cfg: EndpointConfig,
        secret: [u8; 16],
    ) -> io::Result<Stack> {
        let mtu = usize::from(dev.mtu().unwrap_or(1500));
        let mut cfg = cfg;
        cfg.fit_mss_to_mtu(mtu);
        let ep = Endpoint::new(cfg, secret).map_err(|e| io::Error::other(e.to_string()))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ep,
                start: tokio::time::Instant::now(),
                addrs: addrs.to_vec(),
                conns: HashMap::new(),
                acceptors: Vec::new(),
                listeners: Vec::new(),
                orphans: HashMap::new(),
                linger: DEFAULT_ORPHAN_LINGER,
                draining: None,
                stopped: false,
            }),
            kick: Notify::new(),
            done: watch::Sender::new(None),
        });
        tokio::spawn(drive(shared.clone(), dev, mtu));
        Ok(Stack { shared })
    }

    /// How long the connection of a dropped stream may take to close
    /// (deliver its data and FIN, get the peer's FIN) before it is reset;
    /// [`DEFAULT_ORPHAN_LINGER`] unless set. It applies to streams dropped
    /// from now on.
    pub fn set_orphan_linger(&self, limit: Duration) {
        self.shared.lock().linger = limit;
    }

    /// Connections whose stream was dropped and that are still closing.
    pub fn orphans(&self) -> usize {
        self.shared.lock().orphans.len()
    }

    /// What the endpoint holds now (connections, half-open and TIME-WAIT
    /// entries, buffered octets).
    pub fn counts(&self) -> Counts {
        self.shared.lock().ep.counts()
    }

    /// Shuts the host down gracefully: listeners stop (new SYNs get a RST),
    /// every connection closes (its queued data, then a FIN; one with unread
    /// data is reset, as Linux's `close` does), and this waits until all are
    /// closed or `timeout` has passed, then resets the rest. The driver task
    /// has ended when it returns: afterwards streams read EOF or the error
    /// that ended them, writes fail, and `bind`, `connect` and `accept`
    /// report [`io::ErrorKind::NotConnected`].
    ///
    /// Any clone may call it; a second call waits for the first one's end
    /// and returns the same summary.
    pub async fn shutdown(self, timeout: Duration) -> ShutdownSummary {
        let mut done = self.shared.done.subscribe();
        {
            let mut st = self.shared.lock();
            if st.draining.is_none() && !st.stopped {
                st.begin_shutdown(timeout);
            }
        }
        self.shared.kick.notify_one();
        let summary = done.wait_for(Option::is_some).await.map(|s| *s);
        // The sender lives in `self.shared`: it cannot be gone.
        summary.ok().flatten().unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Perhaps the last handle: the task looks whether it can end.
        self.shared.kick.notify_one();
    }
}

impl State {
    /// Stops every listener, closes every connection, and notes what to wait for.
    fn begin_shutdown(&mut self, timeout: Duration) {
        let began = tokio::time::Instant::now();
        let now = self.now();
        let mut open: HashSet<ConnectionHandle> = self.orphans.keys().copied().collect();
        // Counted if still open: one that ended before is not waited for.
        let mut close = |ep: &mut Endpoint, h| {
            if ep
                .connection_ref(h)
                .is_ok_and(|c| c.state() != TcpState::Closed)
            {
                open.insert(h);
            }
            let _ = ep.close(now, h);
        };
        for l in std::mem::take(&mut self.listeners) {
            // Established but not accepted: closed like the rest (graceful).
            while let Some(h) = self.ep.accept(l) {
                close(&mut self.ep, h);
            }
            let _ = self.ep.unlisten(l);
        }
        for (&h, c) in &mut self.conns {
            close(&mut self.ep, h);
            c.wake(); // a blocked write now fails
        }
        self.acceptors.drain(..).for_each(Waker::wake);
        let summary = ShutdownSummary {
            connections: open.len(),
            ..ShutdownSummary::default()
        };
        self.draining = Some(Draining {
            began,
            deadline: began + timeout,
            open,
            summary,
        });
    }

    /// The driver ends because the device failed; a shutdown in progress
    /// ends with its open connections counted as reset.
    fn device_lost(&mut self) -> Option<ShutdownSummary> {
        self.stopped = true;
        self.conns.values_mut().for_each(Conn::wake);
        self.acceptors.drain(..).for_each(Waker::wake);
        let mut d = self.draining.take()?;
        d.summary.reset += d.open.len();
        d.summary.elapsed = d.began.elapsed();
        Some(d.summary)
    }

    /// Whether a shutdown has begun: nothing new may start.
    fn closing(&self) -> io::Result<()> {
        if self.draining.is_some() || self.stopped {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the stack is shut down",
            ));
        }
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The driver task: read packets, service the endpoint, sleep until the
/// next packet, application call or deadline.
async fn drive(shared: Arc<Shared>, dev: AsyncDevice, mtu: usize) {
    let mut tx = vec![0u8; IP_ROOM + 65_535];
    let mut rx = BytesMut::new();
    let mut deadline = None;
    loop {
        let finished = shared
            .lock()
            .finished(&dev, &mut tx, Arc::strong_count(&shared));
        if let Some(summary) = finished {
            if summary.is_some() {
                shared.done.send_replace(summary);
            }
            return;
        }
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        rx.resize(mtu, 0);
        tokio::select! {
            r = dev.recv(&mut rx) => {
                let Ok(n) = r else {
                    // The device is gone: nothing can be sent any more.
                    let summary = shared.lock().device_lost();
                    if summary.is_some() {
                        shared.done.send_replace(summary);
                    }
                    return;
                };
                let mut st = shared.lock();
                let now = st.now();
                rx.truncate(n);
                input(&mut st.ep, now, &mut rx);
                // Whatever else has already arrived, before answering.
                for _ in 1..RX_BATCH {
                    rx.resize(mtu, 0);
                    match dev.try_recv(&mut rx) {
                        Ok(n) => {
                            rx.truncate(n);
                            input(&mut st.ep, now, &mut rx);
                        }
                        Err(_) => break,
                    }
                }
            }
            _ = shared.kick.notified() => {}
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => {}
        }
        let mut st = shared.lock();
        st.reap_orphans(tokio::time::Instant::now());
        deadline = st.service(&dev, &mut tx);
    }
}

/// Hands one IP packet (the first octets of `rx`) to the endpoint, sharing
/// its storage: a TCP segment, or an ICMP/ICMPv6 error about one we sent
/// (a smaller path MTU, an unreachable peer); anything else is ignored.
fn input(ep: &mut Endpoint, now: Instant, rx: &mut BytesMut) {
    let pkt = rx.split().freeze();
    if let Some(t) = ip::parse(&pkt) {
        // A bad checksum is counted by the endpoint.
        let _ = ep.handle_packet_ecn(now, t.src, t.dst, &pkt.slice(t.tcp), t.ecn);
    } else if let Some(m) = ip::parse_icmp(&pkt) {
        ep.handle_icmp(now, m.local(), m.remote(), m.seq, m.error);
    }
    rx.reserve(64 * 1024);
}

/// Listens for connections (see [`Endpoint::listen`]). Dropping it stops
/// listening: later SYNs are answered with a RST.
pub struct TcpListener {
    shared: Arc<Shared>,
    l: ListenerHandle,
}

impl TcpListener {
    /// Listens on `port` at `addr`; `None` listens on every address of
    /// both families. At most `backlog` connections wait for `accept`.
    pub fn bind(
        stack: &Stack,
        addr: Option<IpAddr>,
        port: u16,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        let mut st = stack.shared.lock();
        st.closing()?;
        let l = st.ep.listen(addr, port, backlog).map_err(endpoint_err)?;
        st.listeners.push(l);
        drop(st);
        Ok(TcpListener {
            shared: stack.shared.clone(),
            l,
        })
    }

    /// The next established connection and its peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| {
            let mut st = self.shared.lock();
            st.closing()?;
            match st.ep.accept(self.l) {
                Some(h) => {
                    let remote = st.ep.addresses(h).map_err(endpoint_err)?.1;
                    st.conns.insert(
                        h,
                        Conn {
                            connected: true,
                            ..Conn::default()
                        },
                    );
                    let stream = TcpStream::new(self.shared.clone(), h);
                    Poll::Ready(Ok((stream, remote)))
                }
                None => {
                    if !st.acceptors.iter().any(|w| w.will_wake(cx.waker())) {
                        st.acceptors.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let _ = st.ep.unlisten(self.l);
        st.listeners.retain(|&l| l != self.l);
        drop(st);
        self.shared.kick.notify_one();
    }
}

/// One TCP connection: [`AsyncRead`] + [`AsyncWrite`]. Dropping it closes
/// the connection gracefully (FIN after the queued data).
pub struct TcpStream {
    shared: Arc<Shared>,
    h: ConnectionHandle,
    shut: bool,
}

impl TcpStream {
    fn new(shared: Arc<Shared>, h: ConnectionHandle) -> TcpStream {
        TcpStream {
            shared,
            h,
            shut: false,
        }
    }

    /// Opens a connection to `remote` from our first address of its family
    /// and an ephemeral port; resolves once established.
    pub async fn connect(stack: &Stack, remote: SocketAddr) -> io::Result<TcpStream> {
        let h = {
            let mut st = stack.shared.lock();
            st.closing()?;
            let local = st
                .addrs
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or(io::ErrorKind::AddrNotAvailable)?;
            let now = st.now();
            let h = st
                .ep
                .connect(now, SocketAddr::new(local, 0), remote)
                .map_err(endpoint_err)?;
            st.conns.insert(h, Conn::default());
            h
        };
        // Made now, so that a cancelled connect closes the connection.
        let stream = TcpStream::new(stack.shared.clone(), h);
        stack.shared.kick.notify_one();
        poll_fn(|cx| {
            let mut st = stream.shared.lock();
            let c = st.conns.entry(h).or_default();
            if c.connected {
                return Poll::Ready(Ok(()));
            }
            if let Some(r) = c.closed {
                return Poll::Ready(Err(reason_err(r)));
            }
            c.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        Ok(stream)
    }

    /// Aborts the connection (RFC 9293 §3.10.4 ABORT): a RST to the peer,
    /// queued data discarded.
    pub fn abort(self) {
        let _ = self.shared.lock().ep.abort(self.h);
        // Drop: the close that follows finds the connection gone.
    }

    /// Our address and the peer's.
    pub fn addresses(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        self.shared
            .lock()
            .ep
            .addresses(self.h)
            .map_err(endpoint_err)
    }

    /// Maps an endpoint error of this stream to an [`io::Error`]; a handle
    /// gone stale reports how its connection ended.
    fn error(&self, st: &State, e: EndpointError) -> io::Error {
        match e {
            EndpointError::StaleHandle => match st.conns.get(&self.h).and_then(|c| c.closed) {
                Some(r) if r != CloseReason::Normal => reason_err(r),
                _ => io::ErrorKind::NotConnected.into(),
            },
            e => endpoint_err(e),
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        match st.ep.recv(this.h, buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                drop(st);
                // The window opened: the driver may owe the peer an update.
                this.shared.kick.notify_one();
                Poll::Ready(Ok(()))
            }
            Err(EndpointError::Connection(TcpError::WouldBlock)) => {
                st.conns.entry(this.h).or_default().reader = Some(cx.waker().clone());
                Poll::Pending
            }
            // Everything was read and the connection ended normally: EOF.
            Err(EndpointError::StaleHandle)
                if st.conns.get(&this.h).and_then(|c| c.closed) == Some(CloseReason::Normal) =>
            {
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(this.error(&st, e))),
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        match st.ep.send(this.h, data) {
            Ok(n) => {
                drop(st);
                this.shared.kick.notify_one();
                Poll::Ready(Ok(n))
            }
            // The send buffer is full: wait for the endpoint's `Writable`.
            Err(EndpointError::Connection(TcpError::WouldBlock)) => {
                st.conns.entry(this.h).or_default().writer = Some(cx.waker().clone());
                Poll::Pending
            }
            Err(EndpointError::Connection(TcpError::InvalidState { .. })) => {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            Err(e) => Poll::Ready(Err(this.error(&st, e))),
        }
    }

    /// Data is in the connection's send buffer once written; TCP delivers it.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-close: a FIN after the queued data; reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            this.shut = true;
            let r = this.shared.lock().ep.shutdown_write(this.h);
            this.shared.kick.notify_one();
            if let Err(e) = r {
                let st = this.shared.lock();
                return Poll::Ready(Err(this.error(&st, e)));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let now = st.now();
        let _ = st.ep.close(now, self.h); // stale: already gone
        st.conns.remove(&self.h);
        // Still closing: the driver goes on with it, even without handles,
        // until the linger limit.
        if !st.stopped && st.ep.connection_ref(self.h).is_ok() {
            let limit = tokio::time::Instant::now() + st.linger;
            st.orphans.insert(self.h, limit);
        }
        drop(st);
        self.shared.kick.notify_one();
    }
}

fn reason_err(r: CloseReason) -> io::Error {
    match r {
        CloseReason::Reset => io::ErrorKind::ConnectionReset.into(),
        CloseReason::Refused => io::ErrorKind::ConnectionRefused.into(),
        CloseReason::TimedOut => io::ErrorKind::TimedOut.into(),
        CloseReason::Aborted => io::ErrorKind::ConnectionAborted.into(),
        CloseReason::Normal => io::ErrorKind::NotConnected.into(),
        CloseReason::Unreachable => io::ErrorKind::HostUnreachable.into(),
    }
}

fn endpoint_err(e: EndpointError) -> io::Error {
    match e {
        EndpointError::AddressInUse => io::ErrorKind::AddrInUse.into(),
        EndpointError::Connection(TcpError::Closed(r)) => reason_err(r),
        e => io::Error::other(e.to_string()),
    }
}
