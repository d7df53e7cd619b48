//! The IP header fields TCP chooses besides the addresses: the DSCP the
//! application sets (MUST-48, SHLD-21/22, even mid-connection), the TTL /
//! hop limit (MUST-49), and ECN; what a connection and the `Endpoint`
//! hand to `ip::write_header_with`, and what `ip::parse` reads back.

mod support;

use std::net::SocketAddr;
use support::*;
use tcp_proto::endpoint::{Endpoint, EndpointConfig};
use tcp_proto::ip::{self, IpFields};
use tcp_proto::{Config, ConfigError, Ecn, Instant};

#[test]
fn a_connection_carries_its_dscp_and_hop_limit_to_every_segment_and_can_change_the_dscp() {
    let mut cfg = plain();
    cfg.dscp = 10; // AF11
    cfg.hop_limit = 33;
    let (mut h, _, _) = established_active(cfg, 7, 9);
    let want = IpFields {
        ecn: Ecn::NotEct,
        dscp: 10,
        hop_limit: 33,
    };
    assert_eq!(h.c.transmit_ip(), want);
    h.c.set_dscp(46);
    h.c.send(b"x").unwrap();
    assert_eq!(h.drain().len(), 1);
    assert_eq!(
        h.c.transmit_ip().dscp,
        46,
        "SHLD-21: changed mid-connection"
    );
    assert_eq!(h.c.transmit_ip().hop_limit, 33);
    h.c.set_dscp(0xff);
    assert_eq!(h.c.transmit_ip().dscp, 63, "six bits");
    h.c.set_hop_limit(0);
    assert_eq!(h.c.transmit_ip().hop_limit, 1);
}

#[test]
fn a_dscp_above_63_or_a_zero_hop_limit_is_refused() {
    let mut c = Config::linux();
    c.dscp = 64;
    assert_eq!(c.validate(), Err(ConfigError::BadIpField));
    let mut c = Config::linux();
    c.hop_limit = 0;
    assert_eq!(c.validate(), Err(ConfigError::BadIpField));
    assert_eq!((Config::linux().dscp, Config::linux().hop_limit), (0, 64));
}

#[test]
fn the_endpoint_gives_each_segment_its_fields_and_its_own_replies_the_configured_ones() {
    let mut cfg = EndpointConfig::default();
    cfg.connection.dscp = 8;
    cfg.connection.hop_limit = 40;
    let mut client = Endpoint::new(cfg, [4; 16]).unwrap();
    let mut server = Endpoint::new(EndpointConfig::default(), [5; 16]).unwrap();
    let now = Instant::ZERO;
    let a: SocketAddr = "192.0.2.2:0".parse().unwrap();
    let b: SocketAddr = "192.0.2.1:80".parse().unwrap();
    client.connect(now, a, b).unwrap();
    let syn = client.poll_transmit(now).unwrap();
    assert_eq!(
        client.transmit_ip(),
        IpFields {
            ecn: Ecn::NotEct,
            dscp: 8,
            hop_limit: 40
        }
    );
    // Nobody listens: the server's RST carries its own defaults.
    server.handle_segment(now, syn.src, syn.dst, syn.segment.clone());
    let rst = server.poll_transmit(now).unwrap();
    assert!(rst.segment.flags.rst());
    assert_eq!(server.transmit_ip(), IpFields::default());
    // The client's fields survive the trip through an IP header.
    let mut pkt = [0u8; ip::MAX_HEADER_LEN + 64];
    let e = {
        let mut c2 = Endpoint::new(cfg, [6; 16]).unwrap();
        c2.connect(now, a, b).unwrap();
        let e = c2
            .poll_transmit_into(now, &mut pkt[ip::MAX_HEADER_LEN..])
            .unwrap()
            .unwrap();
        let at = ip::MAX_HEADER_LEN - ip::header_len(&e.ip_pair());
        ip::write_header_with(&mut pkt[at..], &e.ip_pair(), e.len, c2.transmit_ip());
        assert_eq!(pkt[at + 1], 8 << 2, "TOS: DSCP 8, Not-ECT");
        assert_eq!(pkt[at + 8], 40, "TTL");
        (at, e.len)
    };
    let parsed = ip::parse(&pkt[e.0..ip::MAX_HEADER_LEN + e.1]).unwrap();
    assert_eq!(parsed.ecn, Ecn::NotEct);
}
