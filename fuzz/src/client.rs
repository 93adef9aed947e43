//! A `driver::Client` playing a session against an arbitrary broker.
//!
//! Input layout (every part may be cut short; what is missing reads as defaults):
//!
//! ```text
//! cfg  refuse  clock  n_ops  (op param)*n_ops  n_ctrl  ctrl*n_ctrl  broker bytes...
//! ```
//!
//! - `cfg` bit 0: the small client (RX 32, TX 64) instead of the FFI's (`ffi::RX_CAPACITY`, `ffi::TX_CAPACITY`);
//!   bits 4-7: bit 4 + (k mod 4) set: the callback of the k-th delivered message raises
//!   (the harness does not acknowledge it).
//! - `refuse`: bit k set: the sink refuses the k-th message (mod 8).
//! - `clock`: start of the fake clock, counted back from 0 so it wraps soon.
//! - ops: see [`Op`] (`op % 12`; 10 is abandon, or resume with bit 4; 11 is ping, or disconnect with bit 4, or adopt with bit 5); after them, `wait_msg` runs until the connection ends.
//!   Each delivered message is acknowledged with `ack` unless its callback "raised".
//! - ctrl: one byte per transport call (read, wait, write) deciding chunk size,
//!   would-block, errors, partial or zero-length writes and time passing; once used up, every
//!   call succeeds whole.
//! - broker bytes: served to reads; once used up, reads return 0 (closed), so
//!   nothing can wait for ever.
//!
//! Checked: no panic; a packet that fits the transmit buffer is offered in one write,
//! a larger one in pieces that make it up exactly, each holding one whole valid
//! client-to-broker packet; a partial write is continued byte for byte;
//! packet ids are never 0 nor reused while in flight; operations write what
//! they were asked; a delivered QoS 1/2 message is acknowledged by `ack` and not before
//! (PUBACK/PUBREC leave only once its callback returned); a QoS 2
//! redelivery (DUP=1) is not delivered before its PUBREL; a resumed publish goes out again
//! as itself (DUP=1, same id) or as its PUBREL; fatal errors drop the
//! connection; no loop polls a finished transport.

use std::string::String;
use std::vec::Vec;

use umqtt_native::codec::{self, Packet, PacketId, PacketType, QoS, Will};
use umqtt_native::driver::{Awaited, Client, ConnectOptions, EngineError, Error, Event, Message, Mode, Sink, Transport};

const MAX_OPS: usize = 64;
/// Transport calls tolerated once the script has run out (each must end the session).
const IDLE_LIMIT: u32 = 1000;
/// Largest message the sink takes (a board's heap is small; larger ones are refused).
const SINK_LIMIT: usize = 64 * 1024;

const TOPICS: [&str; 8] = [
    "a/b",
    "",
    "x/#",
    "t/0123456789012345678901234567890123456789012345678901234567890123456789",
    "a/b/c",
    "a\0b",
    "+",
    "$SYS/x",
];
const FILTERS: [&str; 16] = [
    "a/b",
    "#",
    "+/x",
    "a/#/b",
    "",
    "a+",
    "$SYS/#",
    "f/0123456789012345678901234567890123456789012345678901234567890123456789/#",
    "a/b/c",
    "+",
    "a/+/c/#",
    "a\0b",
    "/",
    "##",
    "a/#",
    "+/+",
];
const PAYLOAD_LENS: [usize; 8] = [0, 1, 10, 31, 64, 128, 511, 4000];
const KEEPALIVES: [u16; 4] = [0, 1, 5, 60];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeError {
    WouldBlock,
    Reset,
}

impl embedded_io::Error for FakeError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

/// Splits the input into its parts.
struct Script<'a> {
    cfg: u8,
    refuse: u8,
    clock: u32,
    ops: Vec<(u8, u8)>,
    ctrl: &'a [u8],
    broker: &'a [u8],
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = data.split_at(n.min(data.len()));
    *data = rest;
    head
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

impl<'a> Script<'a> {
    fn parse(mut data: &'a [u8]) -> Self {
        let cfg = byte(&mut data);
        let refuse = byte(&mut data);
        let clock = 0u32.wrapping_sub(u32::from(byte(&mut data)) * 997);
        let n_ops = usize::from(byte(&mut data)).min(MAX_OPS);
        let ops = take(&mut data, 2 * n_ops).chunks(2).map(|c| (c[0], c.get(1).copied().unwrap_or(0))).collect();
        let n_ctrl = usize::from(byte(&mut data));
        let ctrl = take(&mut data, n_ctrl);
        Script { cfg, refuse, clock, ops, ctrl, broker: data }
    }
}

/// The broker's side of the connection, in memory, with a fake clock.
pub struct FakeNet<'a> {
    ctrl: &'a [u8],
    broker: &'a [u8],
    /// All the broker's bytes, to find delivered messages in.
    broker_all: &'a [u8],
    clock: u32,
    idle_calls: u32,
    /// (writable, timeout) of each wait since the harness last looked.
    waits: Vec<(bool, Option<u32>)>,
    /// Transmit buffer size: packets up to it must be offered in one write.
    tx: usize,
    /// The bytes of the packet being written that the "socket" took so far, and its length.
    current: Vec<u8>,
    expect: usize,
    /// What a partial write left of the piece it was offered: the next write must be it.
    rest: Vec<u8>,
    /// Whole packets written since the harness last looked.
    written: Vec<Vec<u8>>,
    /// Inbound QoS 2 ids released by a PUBCOMP (the session forgets them before sending it).
    released: Vec<u16>,
}

impl<'a> FakeNet<'a> {
    fn ctrl(&mut self) -> Option<u8> {
        if self.ctrl.is_empty() && self.broker.is_empty() {
            self.idle_calls += 1;
            assert!(self.idle_calls <= IDLE_LIMIT, "hang: the transport was polled {IDLE_LIMIT} times after the script ended");
        }
        let (&c, rest) = self.ctrl.split_first()?;
        self.ctrl = rest;
        Some(c)
    }

    /// A new TCP connection: nothing half-written on it.
    fn reconnect(&mut self) {
        self.current.clear();
        self.expect = 0;
        self.rest.clear();
    }

    /// Checks the bytes a write call offers before any of them are taken.
    fn check_write(&mut self, data: &[u8]) {
        if !self.rest.is_empty() {
            assert_eq!(data, &self.rest[..], "write does not continue the piece partly written");
            return;
        }
        if self.expect > 0 {
            assert!(data.len() <= self.expect - self.current.len(), "write of {} bytes runs past its packet", data.len());
            return;
        }
        let header = match codec::parse_fixed_header(data) {
            Ok(Some(h)) => h,
            other => panic!("write of {} bytes does not start a packet: {other:?}: {data:02x?}", data.len()),
        };
        let whole = header.packet_len();
        assert!(data.len() <= whole, "write holds more than one packet: {data:02x?}");
        assert!(whole > self.tx || data.len() == whole, "packet of {whole} bytes (transmit buffer {}) offered in pieces", self.tx);
        self.expect = whole;
    }

    /// The socket took `data`: a packet it completes is checked and recorded.
    fn take(&mut self, data: &[u8]) {
        self.current.extend_from_slice(data);
        if self.current.len() < self.expect {
            return;
        }
        let packet = core::mem::take(&mut self.current);
        self.expect = 0;
        let (decoded, used) = match codec::decode(&packet) {
            Ok(Some(p)) => p,
            other => panic!("client wrote an invalid packet: {other:?}: {packet:02x?}"),
        };
        assert_eq!(used, packet.len(), "packet length differs from its header");
        use PacketType::*;
        let kind = decoded.packet_type();
        assert!(
            matches!(kind, Connect | Publish | Puback | Pubrec | Pubrel | Pubcomp | Subscribe | Unsubscribe | Pingreq | Disconnect),
            "client wrote a {kind:?}"
        );
        self.written.push(packet);
    }
}

impl embedded_io::ErrorType for FakeNet<'_> {
    type Error = FakeError;
}

impl embedded_io::Read for FakeNet<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, FakeError> {
        assert!(!buf.is_empty(), "read into an empty buffer (it would read as closed)");
        let chunk = match self.ctrl() {
            Some(0xF0..=0xF7) => return Err(FakeError::WouldBlock),
            Some(0xF8..=0xFB) => return Err(FakeError::Reset),
            Some(c @ 0..=0xEF) => usize::from(c % 64) + 1,
            _ => usize::MAX,
        };
        let n = chunk.min(buf.len()).min(self.broker.len());
        buf[..n].copy_from_slice(&self.broker[..n]);
        self.broker = &self.broker[n..];
        Ok(n)
    }
}

impl embedded_io::Write for FakeNet<'_> {
    fn write(&mut self, data: &[u8]) -> Result<usize, FakeError> {
        assert!(!data.is_empty(), "empty write");
        // The session forgets an inbound QoS 2 id before its PUBCOMP goes out, sent or not.
        if self.expect == 0 && self.rest.is_empty() {
            if let Ok(Some((Packet::Pubcomp(pid), _))) = codec::decode(data) {
                self.released.push(pid.get());
            }
        }
        let n = match self.ctrl() {
            Some(0xF0..=0xF7) => return Err(FakeError::WouldBlock),
            Some(0xF8..=0xFB) => return Err(FakeError::Reset),
            Some(c @ 0xE0..=0xEF) => usize::from(c & 0x0F) + 1,
            Some(0xFC) => return Ok(0),
            _ => usize::MAX,
        }
        .min(data.len());
        self.check_write(data);
        self.rest = data[n..].to_vec();
        self.take(&data[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), FakeError> {
        Ok(())
    }
}

impl Transport for FakeNet<'_> {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, FakeError> {
        self.waits.push((writable, timeout_ms));
        match (self.ctrl(), timeout_ms) {
            // The time runs out with nothing happening.
            (Some(0xE0..=0xFF), Some(t)) => {
                self.clock = self.clock.wrapping_add(t);
                Ok(false)
            }
            // Something happens after a delay (within the limit, if any).
            (Some(c @ 0xC0..=0xFF), t) => {
                let delay = u32::from(c & 0x1F) * 700;
                self.clock = self.clock.wrapping_add(t.map_or(delay, |t| delay.min(t)));
                Ok(true)
            }
            _ => Ok(true),
        }
    }
    fn now_ms(&mut self) -> u32 {
        self.clock
    }
    fn would_block(err: &FakeError) -> bool {
        *err == FakeError::WouldBlock
    }
}

/// Takes messages up to [`SINK_LIMIT`] unless told to refuse.
struct FakeSink {
    refuse: u8,
    count: u32,
    buf: Vec<u8>,
    /// The message announced by `begin` and not yet delivered.
    announced: Option<(String, usize)>,
    /// A message was refused since the harness last looked.
    refused: bool,
}

impl Sink for FakeSink {
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool {
        assert!(codec::topic::check_name(topic).is_ok(), "sink offered an invalid topic {topic:?}");
        let refuse = self.refuse & (1 << (self.count % 8)) != 0;
        self.count += 1;
        if refuse || payload_len > SINK_LIMIT {
            self.announced = None;
            self.refused = true;
            return false;
        }
        self.buf.clear();
        self.buf.resize(payload_len, 0);
        self.announced = Some((String::from(topic), payload_len));
        true
    }
    fn buffer(&mut self) -> &mut [u8] {
        assert!(self.announced.is_some(), "buffer() of a message the sink did not take");
        &mut self.buf
    }
}

/// One operation: `op % 10` picks it, `param` its arguments.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// param: bits 0-1 keepalive, 2 clean session, 3 timeout, 4 will, 5 user, 6 password, 7 long client id.
    Connect(u8),
    /// param: bits 0-3 filter, 4-5 QoS.
    Subscribe(u8),
    Unsubscribe(u8),
    /// param: bits 0-2 topic, 3-5 payload length, 6 retain.
    Publish(QoS, u8),
    Check,
    /// param: bits 0-1: 0, 1 wait without limit; 2 wait at most 300 ms; 3 buffered packets only.
    WaitMsg(u8),
    /// param: which operation in flight (or, past them, a made-up id).
    AwaitAck(u8),
    Abandon(u8),
    Ping,
    Disconnect,
    /// A connection opened elsewhere; param: bits 0-1 keepalive.
    Adopt(u8),
    /// Resume an unfinished publish of the last connection; param: bits 0-2 which, 3-5 payload.
    Resume(u8),
}

impl Op {
    fn from(op: u8, param: u8) -> Op {
        match op % 12 {
            0 => Op::Connect(param),
            1 => Op::Subscribe(param),
            2 => Op::Unsubscribe(param),
            3 => Op::Publish(QoS::AtMostOnce, param),
            4 => Op::Publish(QoS::AtLeastOnce, param),
            5 => Op::Publish(QoS::ExactlyOnce, param),
            6 => Op::Check,
            7 => Op::WaitMsg(param),
            8 | 9 => Op::AwaitAck(param),
            10 if op & 0x10 != 0 => Op::Resume(param),
            10 => Op::Abandon(param),
            _ if op & 0x20 != 0 => Op::Adopt(param),
            _ if op & 0x10 != 0 => Op::Disconnect,
            _ => Op::Ping,
        }
    }
}

fn is_fatal<E>(e: &Error<E>) -> bool {
    matches!(e, Error::Io(_)) || matches!(e, Error::Engine(e) if e.is_fatal())
}

/// What the harness knows of the session, to check the client against.
struct Model {
    /// Ids of operations issued on this connection, neither completed nor abandoned.
    in_flight: Vec<PacketId>,
    /// Inbound QoS 2 ids delivered and not yet released, oldest first (the session keeps
    /// the newest MAX_INBOUND_QOS2).
    delivered_qos2: Vec<u16>,
    /// Operations in flight when the last connection dropped (what a resumed session may take up).
    unfinished: Vec<PacketId>,
    /// Messages delivered so far, and which of them (bit k mod 4) have a callback that raises.
    delivered: u32,
    raises: u8,
}

impl Op {
    /// The mode of a wait_msg op.
    fn wait_mode(param: u8) -> Mode {
        match param & 3 {
            2 => Mode::Wait(Some(300)),
            3 => Mode::Buffered,
            _ => Mode::Wait(None),
        }
    }
}

pub fn run(data: &[u8]) {
    let script = Script::parse(data);
    if script.cfg & 1 != 0 {
        session::<32, 64>(&script);
    } else {
        session::<{ umqtt_native::ffi::RX_CAPACITY }, { umqtt_native::ffi::TX_CAPACITY }>(&script);
    }
}

fn session<const RX: usize, const TX: usize>(script: &Script<'_>) {
    let mut client = Client::<RX, TX>::new();
    let mut net = FakeNet {
        ctrl: script.ctrl,
        broker: script.broker,
        broker_all: script.broker,
        clock: script.clock,
        idle_calls: 0,
        waits: Vec::new(),
        tx: TX,
        current: Vec::new(),
        expect: 0,
        rest: Vec::new(),
        written: Vec::new(),
        released: Vec::new(),
    };
    let mut sink = FakeSink { refuse: script.refuse, count: 0, buf: Vec::new(), announced: None, refused: false };
    let mut model = Model { in_flight: Vec::new(), delivered_qos2: Vec::new(), unfinished: Vec::new(), delivered: 0, raises: script.cfg >> 4 };
    let long_id = "c".repeat(300);
    let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();

    // Limits of the last CONNECT: every wait must respect them.
    let mut timeout: Option<u32> = None;
    let mut keepalive_ms = 0u32;
    for &(op, param) in &script.ops {
        let op = Op::from(op, param);
        net.written.clear();
        net.waits.clear();
        match op {
            Op::Connect(p) => {
                timeout = (p & 8 != 0).then_some(2000);
                keepalive_ms = u32::from(KEEPALIVES[usize::from(p & 3)]) * 1000;
            }
            Op::Adopt(p) => {
                timeout = None;
                keepalive_ms = u32::from(KEEPALIVES[usize::from(p & 3)]) * 1000;
            }
            _ => {}
        }
        let fatal = match op {
            Op::Connect(p) => {
                net.reconnect();
                if !model.in_flight.is_empty() {
                    model.unfinished = core::mem::take(&mut model.in_flight);
                }
                let options = ConnectOptions {
                    client_id: if p & 0x80 != 0 { &long_id } else { "fuzz" },
                    keepalive_s: KEEPALIVES[usize::from(p & 3)],
                    clean_session: p & 4 != 0,
                    will: (p & 0x10 != 0).then_some(Will { topic: "w/t", message: b"bye", qos: QoS::AtLeastOnce, retain: true }),
                    username: (p & 0x20 != 0).then_some("u"),
                    password: (p & 0x40 != 0).then_some(b"p".as_slice()),
                    timeout_ms: (p & 8 != 0).then_some(2000),
                };
                let result = client.connect(&mut net, &options);
                match &result {
                    Ok(session_present) => {
                        assert!(client.is_connected(), "connect succeeded but not connected");
                        assert_eq!(net.written.len(), 1, "connect wrote {} packets", net.written.len());
                        check_connect(&net.written, &options);
                        if !session_present {
                            model.delivered_qos2.clear();
                        }
                    }
                    Err(e) => {
                        assert!(!client.is_connected(), "connect failed ({e:?}) but the client is connected");
                        if matches!(e, Error::Engine(EngineError::Refused(_))) {
                            model.delivered_qos2.clear();
                        }
                        if options.password.is_some() && options.username.is_none() {
                            assert!(matches!(e, Error::Engine(EngineError::InvalidArgument(_))), "password without user: {e:?}");
                        }
                    }
                }
                result.err().filter(is_fatal)
            }
            Op::Subscribe(p) => {
                let filter = FILTERS[usize::from(p & 15)];
                let qos = QoS::from_bits((p >> 4) % 3).unwrap_or(QoS::AtMostOnce);
                let result = client.subscribe(&mut net, filter, qos);
                if let Ok(pid) = result {
                    new_pid(&mut model, pid);
                    let subs = [codec::Subscription { filter, qos }];
                    let want = Packet::Subscribe(codec::Subscribe { pid, filters: codec::Filters::List(&subs) });
                    check_one_written(&net.written, &want);
                }
                check_arg_errors(&result, codec::topic::check_filter(filter).is_ok());
                result.err().filter(is_fatal)
            }
            Op::Unsubscribe(p) => {
                let filter = FILTERS[usize::from(p & 15)];
                let result = client.unsubscribe(&mut net, filter);
                if let Ok(pid) = result {
                    new_pid(&mut model, pid);
                    let filters = [filter];
                    let want = Packet::Unsubscribe(codec::Unsubscribe { pid, filters: codec::Filters::List(&filters) });
                    check_one_written(&net.written, &want);
                }
                check_arg_errors(&result, codec::topic::check_filter(filter).is_ok());
                result.err().filter(is_fatal)
            }
            Op::Publish(qos, p) => {
                let topic = TOPICS[usize::from(p & 7)];
                let body = &payload[..PAYLOAD_LENS[usize::from((p >> 3) & 7)]];
                let retain = p & 0x40 != 0;
                let result = client.publish(&mut net, topic, body, qos, retain);
                if let Ok(pid) = result {
                    assert_eq!(pid.is_some(), qos != QoS::AtMostOnce, "packet id at {qos:?}");
                    if let Some(pid) = pid {
                        new_pid(&mut model, pid);
                    }
                    let want = Packet::Publish(codec::Publish { dup: false, qos, retain, topic, pid, payload: body });
                    check_one_written(&net.written, &want);
                }
                check_arg_errors(&result, codec::topic::check_name(topic).is_ok());
                result.err().filter(is_fatal)
            }
            Op::Check | Op::WaitMsg(_) => {
                let mode = if let Op::WaitMsg(p) = op { Op::wait_mode(p) } else { Mode::Check };
                let result = client.wait_msg(&mut net, &mut sink, mode);
                let acked = match result {
                    Ok(Some(event)) => check_event(&mut client, &mut model, &mut sink, &mut net, event),
                    _ => None,
                };
                result.err().or(acked).filter(is_fatal)
            }
            Op::AwaitAck(p) => {
                let pid = match model.in_flight.get(usize::from(p)) {
                    Some(&pid) => pid,
                    None => PacketId::new(u16::from(p) << 8 | u16::from(p)).unwrap_or(PacketId::MIN),
                };
                let result = client.await_ack(&mut net, &mut sink, pid);
                let mut acked = None;
                match result {
                    Ok(Awaited::Done(code)) => {
                        assert!(code <= 2, "await_ack result {code}");
                        model.in_flight.retain(|&p| p != pid);
                    }
                    Ok(Awaited::Message(m)) => acked = check_event(&mut client, &mut model, &mut sink, &mut net, Event::Message(m)),
                    Err(Error::Engine(EngineError::SubscribeFailed)) => model.in_flight.retain(|&p| p != pid),
                    Err(_) => {}
                }
                result.err().or(acked).filter(is_fatal)
            }
            Op::Resume(p) => {
                let pid = model.unfinished.get(usize::from(p & 7)).copied().unwrap_or(PacketId::MIN);
                let body = &payload[..PAYLOAD_LENS[usize::from((p >> 3) & 7)]];
                let result = client.resume(&mut net, pid, "a/b", body, false);
                match result {
                    Ok(true) => {
                        assert!(net.written.len() <= 1, "resume wrote {} packets", net.written.len());
                        if let Some(w) = net.written.first() {
                            match codec::decode(w).unwrap().unwrap().0 {
                                Packet::Pubrel(p) => assert_eq!(p, pid, "PUBREL for another id"),
                                Packet::Publish(m) => {
                                    assert!(m.dup && m.qos != QoS::AtMostOnce, "resumed PUBLISH without DUP: {m:?}");
                                    assert_eq!((m.pid, m.topic, m.payload), (Some(pid), "a/b", body), "resumed PUBLISH differs");
                                }
                                other => panic!("resume wrote {other:?}"),
                            }
                        }
                        if !model.in_flight.contains(&pid) {
                            model.in_flight.push(pid);
                        }
                    }
                    Ok(false) => assert!(net.written.is_empty(), "resume of nothing wrote"),
                    Err(_) => {}
                }
                result.err().filter(is_fatal)
            }
            Op::Abandon(p) => {
                if let Some(&pid) = model.in_flight.get(usize::from(p)) {
                    client.abandon(pid);
                    // It may complete unseen and its id be reused: no longer tracked.
                    model.in_flight.retain(|&p| p != pid);
                }
                None
            }
            Op::Ping => {
                let result = client.ping(&mut net);
                if result.is_ok() {
                    check_one_written(&net.written, &Packet::Pingreq);
                }
                result.err().filter(is_fatal)
            }
            Op::Adopt(p) => {
                net.reconnect();
                model.in_flight.clear();
                model.unfinished.clear();
                model.delivered_qos2.clear();
                client.adopt(&mut net, KEEPALIVES[usize::from(p & 3)]);
                assert!(client.is_connected(), "not connected after adopt");
                assert!(net.written.is_empty(), "adopt wrote to the connection");
                None
            }
            Op::Disconnect => {
                let result = client.disconnect(&mut net);
                assert!(!client.is_connected(), "connected after disconnect");
                if result.is_ok() {
                    check_one_written(&net.written, &Packet::Disconnect);
                }
                result.err().filter(is_fatal)
            }
        };
        let read_limit = match op {
            Op::Check => Some(0),
            Op::Connect(_) => timeout,
            Op::AwaitAck(_) => min_opt(timeout, (keepalive_ms > 0).then_some(keepalive_ms)),
            Op::WaitMsg(p) => match Op::wait_mode(p) {
                Mode::Wait(limit) => min_opt(limit, (keepalive_ms > 0).then_some(keepalive_ms)),
                _ => Some(0),
            },
            _ => None,
        };
        check_waits(&net.waits, read_limit, timeout, op);
        after_op(&client, &mut model, &mut net, &mut sink, fatal.map(|e| format!("{e:?}")));
    }

    // Then the broker has its say to the end.
    let limit = 2 * script.broker.len() + usize::from(u8::MAX) + 100;
    for i in 0.. {
        assert!(i < limit, "wait_msg loop did not end");
        net.written.clear();
        net.waits.clear();
        let result = client.wait_msg(&mut net, &mut sink, Mode::Wait(None));
        check_waits(&net.waits, (keepalive_ms > 0).then_some(keepalive_ms), timeout, Op::WaitMsg(0));
        let acked = match result {
            Ok(Some(event)) => check_event(&mut client, &mut model, &mut sink, &mut net, event),
            _ => None,
        };
        let fatal = result.err().or(acked).filter(is_fatal);
        after_op(&client, &mut model, &mut net, &mut sink, fatal.map(|e| format!("{e:?}")));
        if !client.is_connected() {
            break;
        }
    }
}

/// After any operation: a fatal error dropped the connection, and with it what was in flight.
fn after_op<const RX: usize, const TX: usize>(
    client: &Client<RX, TX>,
    model: &mut Model,
    net: &mut FakeNet<'_>,
    sink: &mut FakeSink,
    fatal: Option<String>,
) {
    if let Some(e) = fatal {
        assert!(!client.is_connected(), "still connected after {e}");
    }
    if !client.is_connected() {
        if !model.in_flight.is_empty() {
            model.unfinished = core::mem::take(&mut model.in_flight);
        }
        model.in_flight.clear();
    }
    model.release(net);
    // A refused QoS 2 message is not acknowledged, and the session releases its id: a
    // redelivery of it must be delivered. Which id the harness does not see (the sink is
    // told the topic only), so it stops counting any id as unreleased; an operation ends at
    // a refusal, so no delivery of the same operation is missed.
    if core::mem::take(&mut sink.refused) {
        model.delivered_qos2.clear();
    }
}

impl Model {
    fn release(&mut self, net: &mut FakeNet<'_>) {
        for pid in net.released.drain(..) {
            self.delivered_qos2.retain(|&p| p != pid);
        }
    }
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Waits for input never outlast `read_limit` (Check: 0; timeout; keepalive), waits to write never the timeout.
fn check_waits(waits: &[(bool, Option<u32>)], read_limit: Option<u32>, timeout: Option<u32>, op: Op) {
    for &(writable, t) in waits {
        let limit = if writable { timeout } else { read_limit };
        if let Some(limit) = limit {
            assert!(t.is_some_and(|t| t <= limit), "{op:?}: wait(writable={writable}, {t:?}) beyond {limit} ms");
        }
    }
}

fn new_pid(model: &mut Model, pid: PacketId) {
    assert!(!model.in_flight.contains(&pid), "packet id {pid} reused while in flight");
    model.in_flight.push(pid);
}

fn check_one_written(written: &[Vec<u8>], want: &Packet<'_>) {
    assert_eq!(written.len(), 1, "operation wrote {} packets", written.len());
    let (got, _) = codec::decode(&written[0]).unwrap().unwrap();
    assert_eq!(&got, want, "operation wrote another packet");
}

fn check_connect(written: &[Vec<u8>], o: &ConnectOptions<'_>) {
    let want = Packet::Connect(codec::Connect {
        client_id: o.client_id,
        keepalive: o.keepalive_s,
        clean_session: o.clean_session,
        will: o.will,
        username: o.username,
        password: o.password,
    });
    let first = written.first().expect("connect succeeded without writing CONNECT");
    let (got, _) = codec::decode(first).unwrap().unwrap();
    assert_eq!(got, want, "CONNECT differs from the options");
}

/// Argument errors come from the arguments only.
fn check_arg_errors<T: core::fmt::Debug, E: core::fmt::Debug>(result: &Result<T, Error<E>>, arg_valid: bool) {
    if !arg_valid {
        assert!(matches!(result, Err(Error::Engine(EngineError::InvalidArgument(_))) | Err(Error::Engine(EngineError::NotConnected))), "invalid argument gave {result:?}");
    } else {
        assert!(!matches!(result, Err(Error::Engine(EngineError::InvalidArgument(_)))), "valid argument refused: {result:?}");
    }
}

/// Checks an event; a delivered message is then acknowledged as a callback that returned
/// would have it (unless its callback "raised"): the error of that `ack`, if any.
fn check_event<const RX: usize, const TX: usize>(
    client: &mut Client<RX, TX>,
    model: &mut Model,
    sink: &mut FakeSink,
    net: &mut FakeNet<'_>,
    event: Event,
) -> Option<Error<FakeError>> {
    match event {
        Event::Message(m) => {
            check_message(model, sink, net, m);
            let raised = model.raises & (1 << (model.delivered % 4)) != 0;
            model.delivered += 1;
            if raised {
                return None;
            }
            acknowledge(client, model, net, m).err()
        }
        Event::Control(b) => {
            assert!(PacketType::from_first_byte(b).is_ok(), "control event with first byte {b:#04x}");
            None
        }
    }
}

/// The callback of `m` returned: `ack` sends its PUBACK/PUBREC (QoS 1/2), nothing else.
fn acknowledge<const RX: usize, const TX: usize>(client: &mut Client<RX, TX>, model: &mut Model, net: &mut FakeNet<'_>, m: Message) -> Result<(), Error<FakeError>> {
    net.written.clear();
    let connected = client.is_connected();
    let result = client.ack(net, m.pid);
    let want = PacketId::new(m.pid).and_then(|pid| match m.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(Packet::Puback(pid)),
        QoS::ExactlyOnce => Some(Packet::Pubrec(pid)),
    });
    match (&result, want) {
        (Ok(()), Some(want)) if connected => check_one_written(&net.written, &want),
        (Ok(()), _) => assert!(net.written.is_empty(), "ack of {m:?} wrote {} packets", net.written.len()),
        (Err(_), _) => {}
    }
    // The session records a QoS 2 id once its PUBREC is on its way.
    if m.qos == QoS::ExactlyOnce && connected && !model.delivered_qos2.contains(&m.pid) {
        model.delivered_qos2.push(m.pid);
        if model.delivered_qos2.len() > umqtt_native::session::MAX_INBOUND_QOS2 {
            model.delivered_qos2.remove(0);
        }
    }
    result
}

fn check_message(model: &mut Model, sink: &mut FakeSink, net: &mut FakeNet<'_>, m: Message) {
    model.release(net);
    let (topic, len) = sink.announced.take().expect("message delivered that the sink did not take");
    assert_eq!(m.len, len, "message length differs from what was announced");
    // Topic, packet id and payload as the broker sent them, in one piece.
    let mut wire = Vec::with_capacity(4 + topic.len() + len);
    wire.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    wire.extend_from_slice(topic.as_bytes());
    if m.qos != QoS::AtMostOnce {
        wire.extend_from_slice(&m.pid.to_be_bytes());
    }
    wire.extend_from_slice(&sink.buf[..len]);
    assert!(net.broker_all.windows(wire.len()).any(|w| w == wire), "delivered message {topic:?} {:02x?} is not what the broker sent", &sink.buf[..len]);
    assert_eq!(m.qos, QoS::from_bits((m.first_byte >> 1) & 3).unwrap(), "qos vs first byte");
    assert_eq!((m.retain, m.dup), (m.first_byte & 1 != 0, m.first_byte & 8 != 0), "flags vs first byte");
    // Nothing acknowledges the message before its callback ran.
    let early = net.written.iter().filter_map(|w| codec::decode(w).ok().flatten()).any(|(p, _)| match p {
        Packet::Puback(pid) | Packet::Pubrec(pid) => pid.get() == m.pid,
        _ => false,
    });
    assert!(!early, "message {m:?} acknowledged before its callback ran");
    match m.qos {
        QoS::AtMostOnce => assert_eq!(m.pid, 0, "packet id at QoS 0"),
        QoS::AtLeastOnce => assert!(m.pid != 0, "QoS 1 message with id 0"),
        QoS::ExactlyOnce => {
            assert!(m.pid != 0, "QoS 2 message with id 0");
            // A redelivery (DUP=1) of an id acknowledged and not released is a duplicate;
            // DUP=0 is a new message.
            let unreleased = model.delivered_qos2.contains(&m.pid);
            assert!(!(unreleased && m.dup), "QoS 2 redelivery of {} delivered before its PUBREL", m.pid);
            if unreleased {
                model.delivered_qos2.retain(|&p| p != m.pid);
            }
        }
    }
}
