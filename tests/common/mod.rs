//! Shared test helpers: the seed vectors, a scripted in-memory transport with a
//! fake clock that records every `write` separately, and a Vec-backed sink.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

use umqtt_native::codec::{Packet, PacketId};
use umqtt_native::driver::{Client, ConnectOptions, Sink, Transport};

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

// ---- scripted transport ---------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes that have arrived. One `read` returns bytes of one step only (at most `max_read`).
    Data(Vec<u8>),
    /// Nothing arrives for a while: a bounded `wait` times out (the clock advances by its
    /// timeout), a `read` reports WouldBlock; either consumes the step. An unbounded wait skips it.
    Silence,
    /// `read` fails with an I/O error.
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    WouldBlock,
    Broken,
}

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            IoError::WouldBlock => embedded_io::ErrorKind::Other,
            IoError::Broken => embedded_io::ErrorKind::BrokenPipe,
        }
    }
}

/// How the transport answers one `write` call (default when none is scripted: take everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStep {
    /// Take at most this many bytes.
    Accept(usize),
    WouldBlock,
    Fail,
}

/// A broker played from a script. When the script is exhausted the connection reads as closed.
#[derive(Debug)]
pub struct ScriptedTransport {
    pub script: VecDeque<Step>,
    /// Every `write` call that moved bytes, one entry each (what it took).
    pub writes: Vec<Vec<u8>>,
    /// Answers to the next `write` calls.
    pub write_script: VecDeque<WriteStep>,
    /// Answers to the next `wait(writable)` calls (default true); false lets its timeout pass.
    pub writable: VecDeque<bool>,
    /// The fake clock (ms); it only moves when a bounded wait times out or a test sets it.
    pub now: u32,
    /// Largest read handed out at once (tests partial arrivals).
    pub max_read: usize,
    /// Log of `wait(for_write, timeout)` calls.
    pub waits: Vec<(bool, Option<u32>)>,
    pub reads: usize,
    /// Transport calls left before the test declares the driver stuck in a loop.
    pub budget: usize,
    /// A stream that cannot wait (non-blocking, no poll): waits for input answer ready at
    /// once and reads report silence as would-block.
    pub cannot_wait: bool,
}

impl Default for ScriptedTransport {
    fn default() -> Self {
        ScriptedTransport {
            script: VecDeque::new(),
            writes: Vec::new(),
            write_script: VecDeque::new(),
            writable: VecDeque::new(),
            now: 0,
            max_read: usize::MAX,
            waits: Vec::new(),
            reads: 0,
            budget: 1_000_000,
            cannot_wait: false,
        }
    }
}

impl ScriptedTransport {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with(steps: impl IntoIterator<Item = Step>) -> Self {
        let mut t = Self::new();
        t.script.extend(steps);
        t
    }
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.script.push_back(Step::Data(bytes.to_vec()));
        self
    }
    pub fn silence(&mut self) -> &mut Self {
        self.script.push_back(Step::Silence);
        self
    }
    pub fn take_writes(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.writes)
    }
    /// Bytes still scripted (not yet read).
    pub fn unread(&self) -> usize {
        self.script.iter().map(|s| if let Step::Data(d) = s { d.len() } else { 0 }).sum()
    }
    fn spend(&mut self) {
        assert!(self.budget > 0, "transport call budget exhausted: the driver loops without end");
        self.budget -= 1;
    }
    fn drop_empty(&mut self) {
        while matches!(self.script.front(), Some(Step::Data(d)) if d.is_empty()) {
            self.script.pop_front();
        }
    }
}

impl embedded_io::ErrorType for ScriptedTransport {
    type Error = IoError;
}

impl embedded_io::Read for ScriptedTransport {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        self.spend();
        self.reads += 1;
        self.drop_empty();
        match self.script.front_mut() {
            None => Ok(0),
            Some(Step::Silence) => {
                self.script.pop_front();
                Err(IoError::WouldBlock)
            }
            Some(Step::Fail) => {
                self.script.pop_front();
                Err(IoError::Broken)
            }
            Some(Step::Data(d)) => {
                let n = d.len().min(buf.len()).min(self.max_read);
                buf[..n].copy_from_slice(&d[..n]);
                d.drain(..n);
                self.drop_empty();
                Ok(n)
            }
        }
    }
}

impl embedded_io::Write for ScriptedTransport {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.spend();
        let n = match self.write_script.pop_front() {
            None => buf.len(),
            Some(WriteStep::Accept(n)) => n.min(buf.len()),
            Some(WriteStep::WouldBlock) => return Err(IoError::WouldBlock),
            Some(WriteStep::Fail) => return Err(IoError::Broken),
        };
        self.writes.push(buf[..n].to_vec());
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl Transport for ScriptedTransport {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, IoError> {
        self.spend();
        self.waits.push((writable, timeout_ms));
        if writable {
            let ready = self.writable.pop_front().unwrap_or(true);
            if !ready {
                self.now = self.now.wrapping_add(timeout_ms.expect("an unbounded wait for a socket that never drains"));
            }
            return Ok(ready);
        }
        self.drop_empty();
        if self.cannot_wait {
            return Ok(true);
        }
        while let Some(Step::Silence) = self.script.front() {
            match timeout_ms {
                Some(t) => {
                    self.script.pop_front();
                    self.now = self.now.wrapping_add(t);
                    return Ok(false);
                }
                None => {
                    self.script.pop_front();
                }
            }
        }
        // Data, a failure to report, or end of script (reads as closed): all are "readable".
        Ok(true)
    }
    fn now_ms(&mut self) -> u32 {
        self.spend();
        self.now
    }
    fn would_block(err: &IoError) -> bool {
        *err == IoError::WouldBlock
    }
}

// ---- sink -----------------------------------------------------------------

/// Keeps every message begun, payload buffers prefilled with a marker byte.
#[derive(Debug)]
pub struct VecSink {
    pub messages: Vec<(String, Vec<u8>)>,
    /// `begin` answers false (the caller refuses messages).
    pub refuse: bool,
    /// Larger messages are refused (fuzzing must not allocate what a corrupt length claims).
    pub max_len: usize,
    pub begins: usize,
}

impl Default for VecSink {
    fn default() -> Self {
        VecSink { messages: Vec::new(), refuse: false, max_len: usize::MAX, begins: 0 }
    }
}

pub const SINK_FILL: u8 = 0xA5;

impl Sink for VecSink {
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool {
        self.begins += 1;
        if self.refuse || payload_len > self.max_len {
            return false;
        }
        self.messages.push((topic.into(), vec![SINK_FILL; payload_len]));
        true
    }
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.messages.last_mut().expect("Sink::buffer called before begin").1
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
    io.script.push_front(Step::Data(CONNACK_OK.to_vec()));
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
