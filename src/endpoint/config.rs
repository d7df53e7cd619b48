//! Endpoint-wide settings, with Linux's defaults.

use crate::config::{Config, ConfigError};

/// When SYN cookies answer a SYN (RFC 4987 §3.6; Linux `tcp_syncookies`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum SynCookies {
    /// Never: a SYN that finds the SYN queue full is dropped.
    Off,
    /// When the listener's SYN queue (or the endpoint's half-open limit) is
    /// full (Linux `tcp_syncookies = 1`, its default).
    #[default]
    WhenFull,
    /// For every SYN: no half-open state at all (Linux `tcp_syncookies = 2`).
    Always,
}

/// Settings of an [`Endpoint`](super::Endpoint). [`EndpointConfig::default`]
/// follows Linux; [`EndpointConfig::validate`] checks it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EndpointConfig {
    /// Settings of every connection. `ts_offset` is replaced per connection
    /// by the keyed hash of its 4-tuple (RFC 7323 §7.1).
    pub connection: Config,
    /// MSS for IPv6 connections; `None`: `connection.mss` − 20 (the IPv6
    /// header is 20 octets longer: 1440 on a 1500-octet link). IPv6
    /// connections also assume 1220, not 536, from a peer that sends no MSS
    /// option (MUST-15), unless `connection.default_peer_mss` says more.
    pub ipv6_mss: Option<u16>,
    /// Most connections (established or not, excluding half-open and
    /// TIME-WAIT entries) held at once; connects and handshakes beyond are refused.
    pub max_connections: usize,
    /// Most half-open (SYN-RECEIVED) entries, all listeners together.
    pub max_half_open: usize,
    /// Most half-open entries per listener (Linux `tcp_max_syn_backlog`).
    pub max_syn_backlog: usize,
    /// Most TIME-WAIT entries (Linux `tcp_max_tw_buckets`); beyond, a
    /// connection that enters TIME-WAIT is closed at once.
    pub max_time_wait: usize,
    /// SYN cookies.
    pub syn_cookies: SynCookies,
    /// Octets all connections together may hold in their send and receive
    /// buffers (Linux `tcp_mem`'s hard limit). Above `buffer_pressure_percent`
    /// of it, new connections are refused and receive buffers shrink to four
    /// segments as connections are touched (the window already advertised is
    /// kept, SHLD-14; they grow back once pressure ends); at all of it,
    /// arriving payload is dropped before it is buffered (the peer retransmits).
    pub buffer_budget: usize,
    /// Fraction of `buffer_budget`, in percent, above which the endpoint is
    /// under memory pressure (Linux `tcp_mem`'s pressure threshold).
    pub buffer_pressure_percent: u8,
    /// Replies sent for segments that have no connection (RSTs, TIME-WAIT
    /// ACKs) per second; `None` is unlimited (Linux
    /// `icmp_ratelimit`-like, RFC 9293 §3.10.7.1 permits it).
    pub reply_rate_limit: Option<u32>,
    /// Endpoint-made segments (RSTs, SYN-ACKs, TIME-WAIT ACKs) held while
    /// the caller does not poll; beyond, they are dropped and counted.
    pub max_pending_replies: usize,
    /// Lowest and highest ephemeral port for [`Endpoint::connect`](super::Endpoint::connect)
    /// with port 0 (Linux `ip_local_port_range`).
    pub ephemeral_ports: (u16, u16),
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig::linux()
    }
}

impl EndpointConfig {
    /// Linux's defaults: SYN backlog 4096, TIME-WAIT buckets 262144, cookies
    /// when the queue is full, ephemeral ports 32768–60999.
    pub const fn linux() -> EndpointConfig {
        EndpointConfig {
            connection: Config::linux(),
            ipv6_mss: None,
            max_connections: 1 << 20,
            max_half_open: 1 << 16,
            max_syn_backlog: 4096,
            max_time_wait: 262_144,
            syn_cookies: SynCookies::WhenFull,
            buffer_budget: 1 << 32,
            buffer_pressure_percent: 75,
            reply_rate_limit: Some(1000),
            max_pending_replies: 4096,
            ephemeral_ports: (32768, 60999),
        }
    }

    /// The MSS advertised over IPv4 and over IPv6: `connection.mss`, and
    /// `ipv6_mss` or else 20 octets less (the larger IPv6 header), never
    /// under 64.
    pub fn advertised_mss(&self) -> (u16, u16) {
        let v4 = self.connection.mss;
        (v4, self.ipv6_mss.unwrap_or(v4.saturating_sub(20)).max(64))
    }

    /// Lowers the MSS advertised, where it is larger, to what a link of
    /// `mtu` octets carries (RFC 9293 §3.7.1: the MTU less the IP and TCP
    /// headers, 40 octets over IPv4 and 60 over IPv6; never under 64). A
    /// TUN device made for a tunnel is often under 1500 octets, and a peer
    /// beyond it that believed a 1460 would send packets the tunnel cannot
    /// carry. A smaller MSS already set is kept.
    pub fn fit_mss_to_mtu(&mut self, mtu: usize) {
        let fit = |overhead: usize| {
            u16::try_from(mtu.saturating_sub(overhead).max(64)).unwrap_or(u16::MAX)
        };
        let (v4, v6) = self.advertised_mss();
        self.connection.mss = v4.min(fit(40));
        self.ipv6_mss = Some(v6.min(fit(60)));
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.connection.validate()?;
        if let Some(m) = self.ipv6_mss.filter(|&m| m < 64) {
            return Err(ConfigError::MssTooSmall(m));
        }
        let max = super::demux::MAX_INDEX as usize;
        if self.max_connections == 0
            || self.max_connections > max
            || self.max_half_open > max
            || self.max_time_wait > max
        {
            return Err(ConfigError::BadLimit);
        }
        if self.buffer_pressure_percent == 0 || self.buffer_pressure_percent > 100 {
            return Err(ConfigError::BadLimit);
        }
        let (lo, hi) = self.ephemeral_ports;
        if lo == 0 || lo > hi || self.max_pending_replies == 0 {
            return Err(ConfigError::BadLimit);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_the_mss_to_an_mtu_only_lowers_it() {
        let cfg = EndpointConfig::linux();
        assert_eq!(cfg.advertised_mss(), (1460, 1440));
        let mut big = cfg;
        big.fit_mss_to_mtu(9000);
        assert_eq!(big.advertised_mss(), (1460, 1440), "1460 fits 9000");
        let mut small = cfg;
        small.fit_mss_to_mtu(1280);
        assert_eq!(small.advertised_mss(), (1240, 1220));
        let mut own = cfg;
        own.connection.mss = 1000;
        own.ipv6_mss = Some(900);
        own.fit_mss_to_mtu(1280);
        assert_eq!(own.advertised_mss(), (1000, 900), "smaller ones are kept");
        let mut tiny = cfg;
        tiny.fit_mss_to_mtu(68);
        assert_eq!(tiny.advertised_mss(), (64, 64));
        assert!(tiny.validate().is_ok());
    }
}
