//! Side-by-side workloads for tcp-proto and smoltcp 0.14, each a [`Workload`]
//! whose measured part runs inside [`measured_call`]: criterion times that call,
//! and callgrind counts the instructions under it (`--toggle-collect`), so
//! both figures of a row come from the same code in the same build.
//!
//! smoltcp is built with only what the traffic uses: IPv4, the IP medium,
//! TCP and its two congestion controllers ([`assert_smoltcp_is_ipv4_only`]
//! refuses to report otherwise).

pub mod bulk;
pub mod codec;
pub mod device;
pub mod lifecycle;
pub mod limits;

/// One row of the comparison: a setup (not measured) and a unit of work.
pub trait Workload {
    /// Prepares the next unit (fresh connections, buffers). Not measured.
    fn setup(&mut self) {}
    /// Whether [`Workload::setup`] does anything (criterion then times each
    /// unit separately instead of a tight loop).
    fn has_setup(&self) -> bool {
        false
    }
    /// One unit of work: a lifecycle, a 64 MiB transfer, one encode...
    /// Returns something derived from the work, so it is not optimised away.
    fn once(&mut self) -> u64;
}

/// The measured call. Never inlined, so callgrind can count exactly the
/// instructions under it (`--toggle-collect=*measured_call*`).
#[inline(never)]
pub fn measured_call(w: &mut dyn Workload) -> u64 {
    // black_box keeps the call a call (not a tail jump callgrind cannot see).
    core::hint::black_box(w.once())
}

/// A row: its criterion group and name, what it is compared against, how
/// many units callgrind runs, and how to build it.
pub struct Row {
    /// Criterion group.
    pub group: &'static str,
    /// Name within the group; `group/name` is the row's id.
    pub name: String,
    /// Ids of the rows this one is compared against (same group), each on
    /// its own line of the report; the first is the row's headline ratio.
    pub baselines: Vec<String>,
    /// Units of work counted under callgrind (after one warm-up unit).
    pub callgrind_units: u64,
    /// Builds the workload.
    pub make: Box<dyn Fn() -> Box<dyn Workload>>,
}

impl Row {
    /// `group/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }
}

/// Every row, in report order.
pub fn rows() -> Vec<Row> {
    let mut v = Vec::new();
    v.extend(lifecycle::rows());
    v.extend(bulk::rows());
    v.extend(limits::rows());
    v.extend(codec::rows());
    v
}

/// Panics unless smoltcp was compiled without IPv6: with only IPv4,
/// `IpAddress` is a 4-octet enum of one variant. Cargo hands smoltcp the
/// IPv6 feature when this crate is built together with tcp-proto's own
/// tests (feature unification); run `cargo bench -p tcp-proto-compare`.
pub fn assert_smoltcp_is_ipv4_only() {
    let size = core::mem::size_of::<smoltcp::wire::IpAddress>();
    assert!(
        size == 4,
        "smoltcp was built with more than IPv4 (IpAddress is {size} octets): \
         build this crate alone, `cargo bench -p tcp-proto-compare`"
    );
}

/// Addresses both benchmarks use.
pub const CLIENT_IP: [u8; 4] = [192, 0, 2, 1];
/// The server's address.
pub const SERVER_IP: [u8; 4] = [192, 0, 2, 2];
/// Client to server, for tcp-proto's pseudo-header.
pub const C2S: tcp_proto::IpPair = tcp_proto::IpPair::V4 {
    src: CLIENT_IP,
    dst: SERVER_IP,
};
/// Server to client.
pub const S2C: tcp_proto::IpPair = tcp_proto::IpPair::V4 {
    src: SERVER_IP,
    dst: CLIENT_IP,
};
