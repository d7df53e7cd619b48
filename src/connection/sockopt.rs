//! Socket options on a live connection (Linux `setsockopt` analogues),
//! half-close of the receiving side, and the queue counts of `ioctl`
//! (SIOCINQ / SIOCOUTQ / SIOCOUTQNSD).

use super::{Connection, Timer};
use crate::config::Keepalive;
use crate::event::Event;
use crate::state::State;
use crate::time::Instant;
use core::time::Duration;

impl Connection {
    /// `TCP_NODELAY`: turns Nagle's algorithm off (`true`) or on (MUST-17).
    /// Queued data goes out at the next [`poll_transmit`](Self::poll_transmit).
    /// Turning it on also pushes what is queued now past a cork or a
    /// [`send_more`](Self::send_more) (Linux sets `TCP_NAGLE_PUSH`); data
    /// queued later is held again.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.config_mut().nagle = !nodelay;
        if nodelay {
            self.flags.set_more_hold(false);
            self.push_end = self.snd_nxt.add(self.sndbuf.unsent_len() as u32);
        }
    }

    /// A `TCP_CORK`-like "more data is coming": while set, a segment
    /// shorter than the MSS is held back (a FIN still flushes it); clearing
    /// it sends what is queued. As on Linux, a held tail with nothing in
    /// flight goes out after max(RTO, 200 ms) all the same.
    pub fn set_cork(&mut self, cork: bool) {
        self.flags.set_corked(cork);
    }

    /// `TCP_USER_TIMEOUT` (RFC 9293 §3.8.3, MUST-20/21 "USER TIMEOUT"):
    /// give up when sent data stays unacknowledged this long; `None` leaves
    /// only the retransmission count.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.config_mut().user_timeout = timeout;
    }

    /// `SO_KEEPALIVE` with `TCP_KEEPIDLE` / `TCP_KEEPINTVL` / `TCP_KEEPCNT`
    /// (RFC 9293 §3.8.4): `None` turns keep-alive off. The idle time counts
    /// from the last segment received, as Linux does when the idle time of
    /// a live socket changes. A setting with fewer than two probes or a
    /// zero time is taken as two probes / one second (MUST-29).
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>, now: Instant) {
        let k = keepalive.map(|k| Keepalive {
            idle: k.idle.max(Duration::from_secs(1)),
            interval: k.interval.max(Duration::from_secs(1)),
            probes: k.probes.max(2),
        });
        self.config_mut().keepalive = k;
        match k {
            Some(k) if self.state.is_synchronized() => {
                let at = (self.last_rcv + k.idle).max(now);
                self.timers.set(Timer::Keepalive, at);
            }
            _ => self.timers.stop(Timer::Keepalive),
        }
    }

    /// `IP_TOS` / `IPV6_TCLASS` less ECN: the DSCP of this connection's
    /// segments from now on (MUST-48, SHLD-21: also mid-connection), masked
    /// to its six bits. It reaches IP through
    /// [`transmit_ip`](Self::transmit_ip) unchanged (SHLD-22).
    pub fn set_dscp(&mut self, dscp: u8) {
        self.config_mut().dscp = dscp & 0x3f;
    }

    /// `IP_TTL` / `IPV6_UNICAST_HOPS`: the TTL / hop limit of this
    /// connection's segments from now on (MUST-49); 0 is taken as 1.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.config_mut().hop_limit = hop_limit.max(1);
    }

    /// `SO_SNDBUF`: the send buffer's size in octets (queued plus
    /// unacknowledged). Shrinking never drops queued data; it only stops
    /// new data until the queue drains below the new size.
    pub fn set_send_buffer(&mut self, octets: usize) {
        let octets = octets.clamp(1, 1 << 30);
        self.config_mut().send_buffer = octets;
        if self.flags.want_writable()
            && self.sndbuf.free(self.cfg.send_buffer) > 0
            && self.can_send()
        {
            self.flags.set_want_writable(false);
            self.push_event(Event::Writable);
        }
    }

    /// `SO_RCVBUF`: the receive buffer's size in octets. The window already
    /// advertised is never taken back (SHLD-14), so the buffer does not
    /// shrink below what is held plus that window. The window-scale shift,
    /// fixed by the SYN, does not change.
    pub fn set_recv_buffer(&mut self, octets: usize) {
        let octets = self.resize_recv_buffer(octets);
        self.config_mut().recv_buffer = octets;
        // Until our SYN or the peer's arrives, the shift we will offer
        // follows the size; from then on it is fixed (RFC 7323 §2.2: the
        // shift a SYN or SYN-ACK offers is the one this side scales by).
        if self.wscale_offer_open() {
            self.wscale_offer = self.cfg.rcv_wscale();
        }
    }

    /// Whether no SYN has offered our window-scale shift yet and no
    /// peer's SYN has fixed it: LISTEN, or SYN-SENT before the first SYN
    /// goes out.
    fn wscale_offer_open(&self) -> bool {
        match self.state {
            State::Listen => true,
            State::SynSent => self.flags.syn_pending() && self.no_retries(),
            _ => false,
        }
    }

    /// [`set_recv_buffer`](Self::set_recv_buffer) without recording it in
    /// the configuration (an `Endpoint` under memory pressure: no copy of a
    /// shared configuration); returns the size now in force.
    pub(crate) fn resize_recv_buffer(&mut self, octets: usize) -> usize {
        let floor = self.rcvbuf.readable() + self.rcv_wnd() as usize;
        let octets = octets
            .max(floor)
            .max(usize::from(self.cfg.mss))
            .min(1 << 30);
        self.recv_buffer = octets as u32; // ≤ 2^30
        self.rcvbuf.set_capacity(octets);
        self.maybe_window_update();
        octets
    }

    /// The receive buffer in force, octets.
    pub(crate) fn recv_buffer(&self) -> usize {
        self.recv_buffer as usize
    }

    /// `TCP_LINGER2`: how long FIN-WAIT-2 waits for the peer's FIN after a
    /// full close; `None` waits forever. Restarts a running timer.
    pub fn set_fin_wait_2_timeout(&mut self, timeout: Option<Duration>, now: Instant) {
        self.config_mut().fin_wait_2_timeout = timeout;
        // Only FIN-WAIT-2 runs this timer (in TIME-WAIT the same slot
        // holds the 2·MSL wait, which this must not touch).
        if self.state == State::FinWait2 {
            self.timers.stop(Timer::Linger);
        }
        self.arm_fin_wait_2(now);
    }

    /// `shutdown(SHUT_RD)`: reads return end-of-stream (`Ok(0)`) once the
    /// buffered data is read. As on Linux, data that still arrives is
    /// acknowledged and queued, and later reads return it; nothing is sent
    /// to the peer (RFC 9293 has no receive half-close on the wire).
    pub fn shutdown_read(&mut self) {
        if self.state != State::Closed {
            self.flags.set_rd_shut(true);
        }
    }

    /// Octets queued and never sent (Linux `SIOCOUTQNSD`).
    pub fn unsent_len(&self) -> usize {
        self.sndbuf.unsent_len()
    }

    /// Data octets sent and not yet acknowledged (SYN and FIN not counted).
    /// `unacked_len() + unsent_len()` is Linux's `SIOCOUTQ`;
    /// [`recv_available`](Self::recv_available) is `SIOCINQ`.
    pub fn unacked_len(&self) -> usize {
        self.sndbuf.sent_len()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Connection, Instant, SeqNum};

    /// The window-scale shift a SYN or SYN-ACK offers is the configuration's
    /// as it stands when the shift is first offered or fixed (after any
    /// earlier `set_recv_buffer`), and each side scales by exactly the shift
    /// it offered, whatever `set_recv_buffer` does between the SYN and the
    /// SYN-ACK (RFC 7323 §2.2).
    #[test]
    fn offered_window_scale_follows_the_receive_buffer() {
        let now = Instant::from_secs(1);
        let sizes = [None, Some(4096), Some(70_000), Some(1 << 20), Some(1 << 24)];
        for base in [Config::linux(), Config::rfc9293()] {
            for recv_buffer_max in [0, 6 << 20] {
                for initial in [65_535, 1 << 20] {
                    for (before, between) in sizes.iter().flat_map(|b| sizes.map(|w| (*b, w))) {
                        let cfg = Config {
                            recv_buffer: initial,
                            recv_buffer_max,
                            ..base
                        };
                        let mut c = Connection::connect(cfg, 4000, 80, SeqNum(1), now).unwrap();
                        let mut s = Connection::listen(cfg, 80, SeqNum(9)).unwrap();
                        if let Some(b) = before {
                            c.set_recv_buffer(b);
                            s.set_recv_buffer(b);
                        }
                        let syn = c.poll_transmit(now).expect("SYN");
                        let offered = syn.options.window_scale;
                        assert_eq!(offered, Some(c.cfg.rcv_wscale()));
                        s.handle_segment(now, syn);
                        assert_eq!(s.rcv_wscale, s.cfg.rcv_wscale());
                        if let Some(b) = between {
                            s.set_recv_buffer(b);
                        }
                        let syn_ack = s.poll_transmit(now).expect("SYN-ACK");
                        // (Echoed only when the exchange uses scaling.)
                        let echoed = s.rcv_wscale > 0 || s.snd_wscale > 0;
                        assert_eq!(syn_ack.options.window_scale, echoed.then_some(s.rcv_wscale));
                        if let Some(b) = between {
                            c.set_recv_buffer(b);
                        }
                        let scaled = syn_ack.options.window_scale.is_some();
                        c.handle_segment(now, syn_ack);
                        let want = if scaled { offered.unwrap_or(0) } else { 0 };
                        assert_eq!(c.rcv_wscale, want);
                    }
                }
            }
        }
    }
}
