//! Connection bugs first seen in the kernel interop matrix
//! (tests/kernel_interop.rs), pinned in memory: two `Connection`s and a
//! hand-driven wire, no namespace, no clock.

use std::time::Duration;
use tcp_proto::{CloseReason, Config, Connection, Flags, Instant, Segment, SeqNum, State};

fn cfg() -> Config {
    let mut c = Config::linux();
    c.time_wait = Duration::from_secs(60);
    c.delayed_ack = None;
    c
}

/// Moves every pending segment both ways until the wire is quiet; returns
/// what `b` sent last (the final ACKs, say).
fn shuttle(a: &mut Connection, b: &mut Connection, now: Instant) -> Vec<Segment> {
    let mut from_b = Vec::new();
    for _ in 0..1000 {
        let mut moved = false;
        while let Some(s) = a.poll_transmit(now) {
            b.handle_segment(now, s);
            moved = true;
        }
        while let Some(s) = b.poll_transmit(now) {
            from_b.push(s.clone());
            a.handle_segment(now, s);
            moved = true;
        }
        if !moved {
            return from_b;
        }
    }
    panic!("the wire never went quiet");
}

/// Linux answers our duplicated last ACK after it reached CLOSED with a RST
/// (seen in kernel_v6_server_usfirst_lossy). In TIME-WAIT both FINs are
/// acknowledged and every octet has arrived: the RST only ends the 2·MSL
/// wait early (RFC 9293 §3.10.7.4 lets it close the connection). It must not
/// turn a graceful close into `Reset` nor discard data the application has
/// not read yet.
#[test]
fn rst_in_time_wait_ends_it_normally_and_keeps_unread_data() {
    let t = Instant::from_secs(1);
    let mut a = Connection::connect(cfg(), 40_000, 80, SeqNum(1000), t).unwrap();
    let mut b = Connection::listen(cfg(), 80, SeqNum(5000)).unwrap();
    shuttle(&mut a, &mut b, t);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );

    // A closes first (its FIN is acknowledged: FIN-WAIT-2); B sends data and
    // its FIN, which A does not read before entering TIME-WAIT.
    a.shutdown_write().unwrap();
    shuttle(&mut a, &mut b, t);
    assert_eq!(a.state(), State::FinWait2);
    assert_eq!(b.send(b"last words").unwrap(), 10);
    b.close(t).unwrap();
    let from_b = shuttle(&mut a, &mut b, t);
    assert_eq!((a.state(), b.state()), (State::TimeWait, State::Closed));

    // B, now without a TCB, resets A's duplicated last ACK: <SEQ=SEG.ACK><RST>.
    let fin = from_b.iter().find(|s| s.flags.fin()).expect("B's FIN");
    let rst = Segment {
        src_port: 80,
        dst_port: 40_000,
        seq: fin.seq.add(fin.seg_len()),
        flags: Flags::RST,
        ..Segment::default()
    };
    a.handle_segment(t + Duration::from_millis(1), rst);
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.close_reason(), Some(CloseReason::Normal));
    let mut buf = [0u8; 64];
    assert_eq!(a.recv(&mut buf), Ok(10), "received data survives the RST");
    assert_eq!(&buf[..10], b"last words");
    assert_eq!(a.recv(&mut buf), Ok(0), "then end of stream");
}

/// A pure ACK exactly as Linux sent it in kernel_v4_server_half_close: its
/// checksum field is 0xFFFF, where a sum that folds to zero may also be
/// written 0x0000 (the same number in ones' complement, RFC 1071). The
/// verifying decoder must accept it (etherparse's strict comparison did not).
#[test]
fn linux_checksum_written_as_ffff_verifies() {
    use tcp_proto::{ChecksumMode, IpPair};
    let tcp: &[u8] = b"\xa6\xb8\x13\x8azZ\xa9\xfe\0\x1e\xcbY\x80\x10\x06\xc5\xff\xff\0\0\x01\x01\x08\n}^\xc3\xf5\0\0\0\x8d";
    let pair = IpPair::V4 {
        src: [192, 0, 2, 1],
        dst: [192, 0, 2, 2],
    };
    let seg = Segment::decode(&bytes::Bytes::from_static(tcp), &pair, ChecksumMode::Verify)
        .expect("a 0xFFFF checksum that sums to zero verifies");
    assert_eq!((seg.src_port, seg.dst_port), (42_680, 5002));
    assert_eq!(seg.flags, Flags::ACK);
    let wrong = IpPair::V4 {
        src: [192, 0, 2, 1],
        dst: [192, 0, 2, 3],
    };
    assert!(
        Segment::decode(
            &bytes::Bytes::from_static(tcp),
            &wrong,
            ChecksumMode::Verify
        )
        .is_err()
    );
}
