//! Shared test helpers: the seed vectors, and umqtt_testkit's scripted in-memory transport
//! (a fake clock, every `write` kept apart) and Vec-backed sink under the names the tests use.
#![allow(dead_code)]

use std::string::String;
use std::vec::Vec;

use umqtt_native::codec::{Packet, PacketId};
use umqtt_native::driver::{Client, ConnectOptions};

// ---- seed vectors ---------------------------------------------------------

pub const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/mqtt311-seed-vectors.txt");

#[derive(Clone, Debug)]
pub struct Vector {
    pub name: String,
    pub meaning: String,
    pub bytes: Vec<u8>,
    pub line: usize,
}

/// Parses `name | meaning | hex` lines; `#` starts a comment. Any malformed line fails the test.
pub fn load_vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(VECTORS_PATH).unwrap_or_else(|e| panic!("cannot read {VECTORS_PATH}: {e}"));
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(fields.len(), 3, "vector line {}: want `name | meaning | hex`: {raw:?}", i + 1);
        let bytes = hex(fields[2]).unwrap_or_else(|e| panic!("vector line {}: {e}", i + 1));
        out.push(Vector { name: fields[0].into(), meaning: fields[1].into(), bytes, line: i + 1 });
    }
    assert!(!out.is_empty(), "no vectors in {VECTORS_PATH}");
    out
}

pub fn vector(name: &str) -> Vec<u8> {
    load_vectors().into_iter().find(|v| v.name == name).unwrap_or_else(|| panic!("vector {name} missing")).bytes
}

/// Hex digits, whitespace ignored.
pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).map_err(|e| format!("{s:?}: {e}")))
        .collect()
}

pub fn h(s: &str) -> Vec<u8> {
    hex(s).unwrap()
}

pub fn pid(v: u16) -> PacketId {
    PacketId::new(v).expect("packet id 0 in a test")
}

/// Encodes with the crate's encoder (used for broker-side input, not for expectations on the wire).
pub fn enc(p: &Packet<'_>) -> Vec<u8> {
    let mut out = vec![0u8; p.encoded_len().expect("encodable")];
    let n = p.encode(&mut out).expect("encode");
    assert_eq!(n, out.len());
    out
}

// ---- scripted transport and sink: umqtt_testkit's, shared with qemu/core-test --------

// Each test crate uses some of these.
#[allow(unused_imports)]
pub use umqtt_testkit::host::{VecSink, SINK_FILL};
#[allow(unused_imports)]
pub use umqtt_testkit::mem::{MemError, WriteStep};

/// The host tests' broker side: umqtt_testkit's scripted transport over `Vec`s.
pub type ScriptedTransport = umqtt_testkit::host::HostIo;

/// One step of a broker script built ahead of time (tests/no_panic.rs draws them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes that arrive (one read hands out bytes of one step only).
    Data(Vec<u8>),
    /// Nothing arrives for a while.
    Silence,
    /// A read fails.
    Fail,
}

/// Appends `steps` to `io`'s script.
pub fn play(io: &mut ScriptedTransport, steps: impl IntoIterator<Item = Step>) {
    for step in steps {
        match step {
            Step::Data(bytes) => io.push(&bytes),
            Step::Silence => io.silence(),
            Step::Fail => io.fail(),
        };
    }
}

// ---- clients --------------------------------------------------------------

pub fn options(keepalive_s: u16, timeout_ms: Option<u32>) -> ConnectOptions<'static> {
    ConnectOptions {
        client_id: "test",
        keepalive_s,
        clean_session: true,
        will: None,
        username: None,
        password: None,
        timeout_ms,
    }
}

pub const CONNACK_OK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// A client connected through `io` (a CONNACK is scripted first); the CONNECT write is dropped.
pub fn connected<const RX: usize, const TX: usize>(io: &mut ScriptedTransport, keepalive_s: u16, timeout_ms: Option<u32>) -> Box<Client<RX, TX>> {
    io.push_front(&CONNACK_OK);
    let mut client = Box::new(Client::<RX, TX>::new());
    let present = client.connect(io, &options(keepalive_s, timeout_ms)).expect("connect");
    assert!(!present);
    assert!(client.is_connected());
    let w = io.take_writes();
    assert_eq!(w.len(), 1, "CONNECT in one write");
    assert_eq!(w[0][0], 0x10);
    client
}

/// Proptest settings for this suite: no regression files left in the tree;
/// PROPTEST_CASES in the environment overrides the case count (for longer runs).
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    proptest::test_runner::Config { cases, failure_persistence: None, ..proptest::test_runner::Config::default() }
}
