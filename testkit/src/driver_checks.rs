//! The session state machine and the blocking driver, against the in-memory
//! broker side in `mem`: bytes written are compared packet by packet.

use crate::codec_checks::{pid, vector};
use crate::check::{Check, Fail, Harness, Hex};
use crate::mem::{MemError, MemIo, MemSink};
use crate::{ensure, ensure_eq};
use umqtt_native::codec::{self, varint, ConnectReturnCode, Packet, PacketId, Publish, QoS, Will};
use umqtt_native::driver::{Awaited, Client, ConnectOptions, EngineError, Error, Event, Message, Mode};
use umqtt_native::session::{Keepalive, Pending, Reply, Session, SessionError, MAX_INBOUND_QOS2, MAX_OUTBOUND};

type C = Client<256, 256>;
type E = Error<MemError>;

/// Runs the session and driver checks against [`MemIo`].
pub fn run<W: core::fmt::Write>(h: &mut Harness<W>) {
    h.check("connect", "onenet-bytes", connect_onenet);
    h.check("connect", "will", connect_will);
    h.check("connect", "session-present", || {
        let mut io = mem_io();
        io.push(vector("connack-sp"));
        ensure_eq!(C::new().connect(&mut io, &opts(0)), Ok(true), "connect");
        Ok(())
    });
    h.check("connect", "connack-in-pieces", || {
        let mut io = mem_io();
        io.push(&[0x20]);
        io.push(&[0x02, 0x00]);
        io.push(&[0x00]);
        let mut c = C::new();
        ensure_eq!(c.connect(&mut io, &opts(0)), Ok(false), "connect");
        ensure!(c.is_connected(), "not connected");
        Ok(())
    });
    h.check("connect", "refused-rc5", connect_refused);
    h.check("connect", "timeout", connect_timeout);
    h.check("connect", "first-packet-not-connack", || {
        let mut io = mem_io();
        io.push(vector("suback-q0"));
        let mut c = C::new();
        let r = c.connect(&mut io, &opts(0));
        ensure!(matches!(r, Err(Error::Engine(EngineError::Protocol(_)))), "connect: {r:?}");
        ensure!(!c.is_connected(), "connected after a bad first packet");
        Ok(())
    });
    h.check("publish", "qos0-bytes", publish_qos0);
    h.check("publish", "qos1-puback", publish_qos1);
    h.check("publish", "qos2-acks-in-one-read", || publish_qos2(true));
    h.check("publish", "qos2-acks-in-two-reads", || publish_qos2(false));
    h.check("publish", "message-while-awaiting-ack", publish_message_during_ack);
    h.check("publish", "partial-writes", publish_partial_writes);
    h.check("publish", "large-packet-header-then-payload", publish_large);
    h.check("publish", "invalid-topic", publish_invalid_topic);
    h.check("publish", "busy-then-acked", publish_busy);
    h.check("subscribe", "granted-qos1", subscribe_granted);
    h.check("subscribe", "failure-0x80", subscribe_failure);
    h.check("unsubscribe", "unsuback", unsubscribe);
    h.check("ping", "pingreq-pingresp", ping);
    h.check("disconnect", "bytes-and-state", disconnect);
    h.check("inbound", "qos1-puback", inbound_qos1);
    h.check("inbound", "qos2-delivered-once", inbound_qos2_once);
    h.check("inbound", "two-publish-one-read", inbound_two_in_one_read);
    h.check("inbound", "streamed-1500B-chunks", || inbound_large(100));
    h.check("inbound", "streamed-1500B-one-read", || inbound_large(2000));
    h.check("inbound", "sink-refuses", inbound_sink_refuses);
    h.check("check", "half-packet-topic", || check_half_packet(9));
    h.check("check", "half-packet-payload", || check_half_packet(15));
    h.check("check", "nothing-there", || {
        let (mut io, mut c) = connected_client()?;
        let before = io.now;
        ensure_eq!(c.wait_msg(&mut io, &mut MemSink::new(), Mode::Check), Ok(None), "check_msg");
        ensure_eq!(io.now, before, "clock moved: check_msg waited");
        Ok(())
    });
    h.check("check", "closed-by-broker", || {
        let (mut io, mut c) = connected_client()?;
        io.closed = true;
        ensure_eq!(c.wait_msg(&mut io, &mut MemSink::new(), Mode::Check), Err(Error::Engine(EngineError::Closed)), "check_msg");
        ensure!(!c.is_connected(), "still connected");
        Ok(())
    });
    for v in crate::codec_checks::VECTORS.iter().filter(|v| v.name.starts_with("bad-") || v.name == "rl-bad-5byte") {
        h.check("malformed", v.name, || malformed(v.name, v.bytes));
    }
    h.check("malformed", "connack-on-open-connection", || malformed("connack", vector("connack-ok")));
    h.check("malformed", "subscribe-from-broker", || malformed("subscribe", vector("subscribe-q0")));
    h.check("malformed", "wrong-ack-kind", wrong_ack_kind);
    h.check("keepalive", "ping-when-due-then-lost", keepalive_ping);
    h.check("keepalive", "wait-msg-bounded", keepalive_wait_msg);
    h.check("session", "packet-ids", session_packet_ids);
    h.check("session", "keepalive-clock-wrap", session_keepalive_wrap);
    h.check("session", "inbound-qos2", session_inbound_qos2);
    h.check("session", "resume-qos2-after-pubrec", session_resume_qos2);
    h.check("fuzz", "decoder-20000", fuzz_decoder);
    h.check("fuzz", "driver-500-streams", fuzz_driver);
}

/// A fresh broker side, its clock at 1 s: no check may depend on time starting at 0.
fn mem_io() -> MemIo {
    let mut io = MemIo::new();
    io.now = 1000;
    io
}

fn opts(keepalive_s: u16) -> ConnectOptions<'static> {
    ConnectOptions {
        client_id: "qemu",
        keepalive_s,
        clean_session: true,
        will: None,
        username: None,
        password: None,
        timeout_ms: Some(5000),
    }
}

/// A client of the usual size, connected without keepalive, and its broker side.
fn connected_client() -> Result<(MemIo, C), Fail> {
    let mut io = mem_io();
    let c = connected(&mut io, 0)?;
    Ok((io, c))
}

fn connected<const RX: usize, const TX: usize>(io: &mut MemIo, keepalive_s: u16) -> Result<Client<RX, TX>, Fail> {
    let mut c = Client::new();
    io.push(&[0x20, 0x02, 0x00, 0x00]);
    ensure_eq!(c.connect(io, &opts(keepalive_s)), Ok(false), "connect");
    io.clear_writes();
    Ok(c)
}

/// The packet id a QoS 1/2 `publish` returned, or why there is none.
fn publish_id(result: Result<Option<PacketId>, E>) -> Result<PacketId, Fail> {
    match result {
        Ok(Some(p)) => Ok(p),
        other => Err(Fail::new(format_args!("publish: {other:?}, want a packet id"))),
    }
}

/// The writes so far must be exactly these packets, one write each.
fn writes_are(io: &MemIo, want: &[&[u8]]) -> Check {
    ensure_eq!(io.write_count(), want.len(), "number of writes");
    for (i, (got, want)) in io.writes().zip(want).enumerate() {
        ensure!(got == *want, "write {i}: got {:?}, want {:?}", Hex(got), Hex(want));
    }
    Ok(())
}

fn ack(first: u8, p: PacketId) -> [u8; 4] {
    let [hi, lo] = p.get().to_be_bytes();
    [first, 0x02, hi, lo]
}

/// A broker's PUBLISH, encoded into `out`.
fn publish_bytes<'o>(out: &'o mut [u8], qos: QoS, p: u16, dup: bool, topic: &str, payload: &[u8]) -> &'o [u8] {
    let packet = Packet::Publish(Publish { dup, qos, retain: false, topic, pid: PacketId::new(p), payload });
    let n = packet.encode(out).unwrap_or(0);
    &out[..n]
}

fn expect_message(r: Result<Option<Event>, E>) -> Result<Message, Fail> {
    match r {
        Ok(Some(Event::Message(m))) => Ok(m),
        other => Err(Fail::new(format_args!("got {other:?}, want a message"))),
    }
}

/// The options whose CONNECT is the `connect-onenet` vector (OneNET's client id and
/// credentials, keepalive 120 s, clean session), with a time limit of the caller's.
pub fn onenet_options(timeout_ms: Option<u32>) -> ConnectOptions<'static> {
    ConnectOptions {
        client_id: "692128707",
        keepalive_s: 120,
        clean_session: true,
        will: None,
        username: Some("406707"),
        password: Some(b"123455"),
        timeout_ms,
    }
}

fn connect_onenet() -> Check {
    let mut io = mem_io();
    io.push(vector("connack-ok"));
    let o = onenet_options(Some(5000));
    let mut c = C::new();
    ensure_eq!(c.connect(&mut io, &o), Ok(false), "connect");
    ensure!(c.is_connected(), "not connected after CONNACK 0");
    writes_are(&io, &[vector("connect-onenet")])
}

fn connect_will() -> Check {
    let mut io = mem_io();
    io.push(vector("connack-ok"));
    let will = Will { topic: "dev/1/status", message: b"offline", qos: QoS::AtLeastOnce, retain: true };
    let o = ConnectOptions { will: Some(will), clean_session: false, ..opts(30) };
    let mut c = C::new();
    ensure_eq!(c.connect(&mut io, &o), Ok(false), "connect");
    let sent = io.last_write().unwrap_or(&[]);
    match codec::decode(sent) {
        Ok(Some((Packet::Connect(got), n))) if n == sent.len() => {
            ensure_eq!(got.will, Some(will), "will");
            ensure_eq!(got.keepalive, 30, "keepalive");
            ensure_eq!(got.clean_session, false, "clean session");
            ensure_eq!(got.client_id, "qemu", "client id");
        }
        other => return Err(Fail::new(format_args!("CONNECT sent does not decode: {:?}", other.map(|r| r.map(|(_, n)| n))))),
    }
    let bad = ConnectOptions { will: Some(Will { topic: "a/#", ..will }), ..opts(0) };
    ensure!(matches!(C::new().connect(&mut io, &bad), Err(Error::Engine(EngineError::InvalidArgument(_)))), "will topic a/# accepted");
    Ok(())
}

fn connect_refused() -> Check {
    let mut io = mem_io();
    io.push(vector("connack-rc5"));
    let mut c = C::new();
    ensure_eq!(c.connect(&mut io, &opts(0)), Err(Error::Engine(EngineError::Refused(5))), "connect");
    ensure!(!c.is_connected(), "connected after a refusal");
    ensure_eq!(c.publish(&mut io, "a", b"x", QoS::AtMostOnce, false), Err(Error::Engine(EngineError::NotConnected)), "publish after refusal");
    Ok(())
}

fn connect_timeout() -> Check {
    let mut io = mem_io();
    let start = io.now;
    let mut c = C::new();
    ensure_eq!(c.connect(&mut io, &ConnectOptions { timeout_ms: Some(3000), ..opts(0) }), Err(Error::Engine(EngineError::Timeout)), "connect");
    let waited = io.now.wrapping_sub(start);
    ensure!((3000..=3001).contains(&waited), "waited {waited} ms of simulated time, want 3000");
    ensure!(!c.is_connected(), "connected without CONNACK");
    Ok(())
}

fn publish_qos0() -> Check {
    let (mut io, mut c) = connected_client()?;
    ensure_eq!(c.publish(&mut io, "app_topic", b"hello", QoS::AtMostOnce, false), Ok(None), "publish");
    writes_are(&io, &[vector("publish-q0")])
}

fn publish_qos1() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let p = c.publish(&mut io, "app_topic", b"hello", QoS::AtLeastOnce, true);
    let Ok(Some(p)) = p else { return Err(Fail::new(format_args!("publish: {p:?}"))) };
    ensure_eq!(c.last_pid(), p.get(), "last_pid");
    let [hi, lo] = p.get().to_be_bytes();
    let want = [0x33, 0x12, 0x00, 0x09, b'a', b'p', b'p', b'_', b't', b'o', b'p', b'i', b'c', hi, lo, b'h', b'e', b'l', b'l', b'o'];
    writes_are(&io, &[&want])?;
    io.push(&ack(0x40, p));
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Ok(Awaited::Done(0)), "await PUBACK");
    ensure_eq!(io.write_count(), 1, "writes after PUBACK");
    ensure_eq!(io.pending_input(), 0, "unread input");
    Ok(())
}

fn publish_qos2(one_read: bool) -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let reads = io.reads;
    let p = c.publish(&mut io, "q2", b"exactly", QoS::ExactlyOnce, false);
    let Ok(Some(p)) = p else { return Err(Fail::new(format_args!("publish: {p:?}"))) };
    let mut buf = [0u8; 32];
    let sent = publish_bytes(&mut buf, QoS::ExactlyOnce, p.get(), false, "q2", b"exactly");
    if one_read {
        let mut both = [0u8; 8];
        both[..4].copy_from_slice(&ack(0x50, p));
        both[4..].copy_from_slice(&ack(0x70, p));
        io.push(&both);
    } else {
        io.push(&ack(0x50, p));
        io.push(&ack(0x70, p));
    }
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Ok(Awaited::Done(0)), "await PUBCOMP");
    writes_are(&io, &[sent, &ack(0x62, p)])?;
    ensure_eq!(io.reads - reads, if one_read { 1 } else { 2 }, "reads");
    Ok(())
}

fn publish_message_during_ack() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let p = publish_id(c.publish(&mut io, "app_topic", b"hello", QoS::AtLeastOnce, false))?;
    let sent_publish = {
        let mut b = [0u8; 32];
        let n = io.last_write().map_or(0, |w| w.len());
        b[..n].copy_from_slice(io.last_write().unwrap_or(&[]));
        (b, n)
    };
    // The broker's own QoS 1 message, then our PUBACK, in one read.
    let mut buf = [0u8; 40];
    let n = publish_bytes(&mut buf, QoS::AtLeastOnce, 0x0909, false, "cmd", b"on").len();
    buf[n..n + 4].copy_from_slice(&ack(0x40, p));
    io.push(&buf[..n + 4]);
    match c.await_ack(&mut io, &mut sink, p) {
        Ok(Awaited::Message(m)) => {
            ensure_eq!((m.qos, m.pid, m.len), (QoS::AtLeastOnce, 0x0909, 2), "message (qos, pid, len)");
            ensure_eq!(sink.topic.as_str(), "cmd", "topic");
            ensure_eq!(sink.payload(), b"on", "payload");
        }
        other => return Err(Fail::new(format_args!("first await: {other:?}, want the message"))),
    }
    ensure_eq!(io.write_count(), 1, "PUBACK before the application was done");
    ensure_eq!(c.ack(&mut io, 0x0909), Ok(()), "ack");
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Ok(Awaited::Done(0)), "second await");
    writes_are(&io, &[&sent_publish.0[..sent_publish.1], &[0x40, 0x02, 0x09, 0x09]])
}

fn publish_partial_writes() -> Check {
    let (mut io, mut c) = connected_client()?;
    io.max_write = 3;
    ensure_eq!(c.publish(&mut io, "app_topic", b"hello", QoS::AtMostOnce, false), Ok(None), "publish");
    let want = vector("publish-q0");
    ensure_eq!(io.write_count(), want.len().div_ceil(3), "writes of at most 3 bytes");
    let mut all = [0u8; 32];
    let mut n = 0;
    for w in io.writes() {
        all[n..n + w.len()].copy_from_slice(w);
        n += w.len();
    }
    ensure_eq!(Hex(&all[..n]), Hex(want), "bytes written");
    Ok(())
}

fn publish_large() -> Check {
    let (mut io, mut c) = connected_client()?;
    let payload = [0xA5u8; 300];
    // 305 bytes past a 256 B TX buffer: the header, then the payload from where it lies.
    ensure_eq!(c.publish(&mut io, "big", &payload, QoS::AtMostOnce, false), Ok(None), "publish 300 B");
    let mut want = [0u8; 320];
    let want = publish_bytes(&mut want, QoS::AtMostOnce, 0, false, "big", &payload);
    writes_are(&io, &[&want[..want.len() - payload.len()], &payload])
}

fn publish_invalid_topic() -> Check {
    let (mut io, mut c) = connected_client()?;
    for topic in ["", "a/+", "#"] {
        let r = c.publish(&mut io, topic, b"x", QoS::AtLeastOnce, false);
        ensure!(matches!(r, Err(Error::Engine(EngineError::InvalidArgument(_)))), "publish to {topic:?}: {r:?}");
    }
    for filter in ["", "a#", "a/#/b"] {
        let r = c.subscribe(&mut io, filter, QoS::AtMostOnce);
        ensure!(matches!(r, Err(Error::Engine(EngineError::InvalidArgument(_)))), "subscribe to {filter:?}: {r:?}");
    }
    ensure!(c.is_connected(), "invalid arguments dropped the connection");
    writes_are(&io, &[])
}

fn publish_busy() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let mut pids = heapless::Vec::<PacketId, MAX_OUTBOUND>::new();
    for _ in 0..MAX_OUTBOUND {
        match c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false) {
            Ok(Some(p)) => {
                let _ = pids.push(p);
            }
            other => return Err(Fail::new(format_args!("publish: {other:?}"))),
        }
    }
    ensure_eq!(c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false), Err(Error::Engine(EngineError::Busy)), "publish beyond MAX_OUTBOUND");
    ensure!(c.is_connected(), "Busy dropped the connection");
    // Acks arrive in reverse order, all in one read.
    let mut acks = [0u8; 4 * MAX_OUTBOUND];
    for (i, p) in pids.iter().rev().enumerate() {
        acks[4 * i..4 * i + 4].copy_from_slice(&ack(0x40, *p));
    }
    io.push(&acks);
    for p in &pids {
        ensure_eq!(c.await_ack(&mut io, &mut sink, *p), Ok(Awaited::Done(0)), "await");
    }
    ensure!(matches!(c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false), Ok(Some(_))), "publish after the acks");
    Ok(())
}

fn subscribe_granted() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let p = c.subscribe(&mut io, "app_topic", QoS::AtLeastOnce).map_err(|e| Fail::new(format_args!("subscribe: {e:?}")))?;
    let mut want = [0u8; 16];
    want.copy_from_slice(vector("subscribe-q1"));
    want[2..4].copy_from_slice(&p.get().to_be_bytes());
    writes_are(&io, &[&want])?;
    let [hi, lo] = p.get().to_be_bytes();
    io.push(&[0x90, 0x03, hi, lo, 0x01]);
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Ok(Awaited::Done(1)), "await SUBACK");
    Ok(())
}

fn subscribe_failure() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let p = c.subscribe(&mut io, "app_topic", QoS::AtLeastOnce).map_err(|e| Fail::new(format_args!("subscribe: {e:?}")))?;
    let [hi, lo] = p.get().to_be_bytes();
    io.push(&[0x90, 0x03, hi, lo, 0x80]);
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Err(Error::Engine(EngineError::SubscribeFailed)), "await SUBACK 0x80");
    ensure!(c.is_connected(), "a refused subscription dropped the connection");
    Ok(())
}

fn unsubscribe() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let p = c.unsubscribe(&mut io, "app_topic").map_err(|e| Fail::new(format_args!("unsubscribe: {e:?}")))?;
    let mut want = [0u8; 15];
    want.copy_from_slice(vector("unsubscribe"));
    want[2..4].copy_from_slice(&p.get().to_be_bytes());
    writes_are(&io, &[&want])?;
    io.push(&ack(0xB0, p));
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Ok(Awaited::Done(0)), "await UNSUBACK");
    Ok(())
}

fn ping() -> Check {
    let (mut io, mut c) = connected_client()?;
    ensure_eq!(c.ping(&mut io), Ok(()), "ping");
    writes_are(&io, &[vector("pingreq")])?;
    io.push(vector("pingresp"));
    ensure_eq!(c.wait_msg(&mut io, &mut MemSink::new(), Mode::Check), Ok(Some(Event::Control(0xD0))), "check_msg");
    Ok(())
}

fn disconnect() -> Check {
    let (mut io, mut c) = connected_client()?;
    ensure_eq!(c.disconnect(&mut io), Ok(()), "disconnect");
    writes_are(&io, &[vector("disconnect")])?;
    ensure!(!c.is_connected(), "connected after disconnect");
    ensure_eq!(c.wait_msg(&mut io, &mut MemSink::new(), Mode::Check), Err(Error::Engine(EngineError::NotConnected)), "check_msg after disconnect");
    Ok(())
}

fn inbound_qos1() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let mut buf = [0u8; 32];
    io.push(publish_bytes(&mut buf, QoS::AtLeastOnce, 0x0102, false, "in/1", b"data"));
    let m = expect_message(c.wait_msg(&mut io, &mut sink, Mode::Check))?;
    ensure_eq!((m.qos, m.pid, m.len, m.retain, m.dup), (QoS::AtLeastOnce, 0x0102, 4, false, false), "message");
    ensure_eq!((sink.topic.as_str(), sink.payload()), ("in/1", &b"data"[..]), "delivered");
    writes_are(&io, &[])?;
    // PUBACK once the application is done with it.
    ensure_eq!(c.ack(&mut io, m.pid), Ok(()), "ack");
    writes_are(&io, &[&[0x40, 0x02, 0x01, 0x02]])
}

fn inbound_qos2_once() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let mut buf = [0u8; 32];
    let pubrec = [0x50, 0x02, 0x00, 0x07];
    io.push(publish_bytes(&mut buf, QoS::ExactlyOnce, 7, false, "q2", b"once"));
    let m = expect_message(c.wait_msg(&mut io, &mut sink, Mode::Check))?;
    ensure_eq!((m.qos, m.pid), (QoS::ExactlyOnce, 7), "message");
    ensure_eq!(sink.payload(), b"once", "payload");
    ensure_eq!(io.write_count(), 0, "PUBREC before the application was done");
    ensure_eq!(c.ack(&mut io, 7), Ok(()), "ack");
    ensure_eq!(io.last_write(), Some(&pubrec[..]), "PUBREC");
    // The broker resends before our PUBREC reached it: acknowledged, not delivered.
    io.push(publish_bytes(&mut buf, QoS::ExactlyOnce, 7, true, "q2", b"once"));
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0x3C))), "duplicate");
    ensure_eq!(sink.begun, 1, "messages delivered");
    ensure_eq!(io.last_write(), Some(&pubrec[..]), "PUBREC for the duplicate");
    io.push(&[0x62, 0x02, 0x00, 0x07]);
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0x62))), "PUBREL");
    ensure_eq!(io.last_write(), Some(&[0x70, 0x02, 0x00, 0x07][..]), "PUBCOMP");
    ensure_eq!(io.write_count(), 3, "writes");
    // Released: the same id now carries a new message.
    io.push(publish_bytes(&mut buf, QoS::ExactlyOnce, 7, false, "q2", b"next"));
    expect_message(c.wait_msg(&mut io, &mut sink, Mode::Check))?;
    ensure_eq!((sink.begun, sink.payload()), (2, &b"next"[..]), "new message with the released id");
    Ok(())
}

fn inbound_two_in_one_read() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let reads = io.reads;
    io.push(vector("publish-q0-x2"));
    for i in 0..2 {
        let m = expect_message(c.wait_msg(&mut io, &mut sink, Mode::Check))?;
        ensure_eq!((m.len, sink.topic.as_str(), sink.payload()), (5, "app_topic", &b"hello"[..]), i);
    }
    ensure_eq!(io.reads - reads, 1, "reads for two packets");
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "third check_msg");
    Ok(())
}

fn inbound_large(chunk: usize) -> Check {
    let mut io = mem_io();
    let mut c: Client<64, 64> = connected(&mut io, 0)?;
    let mut sink = MemSink::new();
    let mut payload = [0u8; 1500];
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let mut buf = [0u8; 1600];
    let bytes = publish_bytes(&mut buf, QoS::AtLeastOnce, 5, false, "big", &payload);
    for part in bytes.chunks(chunk) {
        io.push(part);
    }
    let mut result = Ok(None);
    for _ in 0..100 {
        result = c.wait_msg(&mut io, &mut sink, Mode::Check);
        if !matches!(result, Ok(None)) {
            break;
        }
    }
    let m = expect_message(result)?;
    ensure_eq!(m.len, 1500, "message length");
    ensure!(sink.payload() == &payload[..], "payload differs");
    ensure_eq!(io.pending_input(), 0, "unread input");
    ensure_eq!(c.ack(&mut io, m.pid), Ok(()), "ack");
    writes_are(&io, &[&[0x40, 0x02, 0x00, 0x05]])
}

fn inbound_sink_refuses() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    sink.refuse = true;
    let mut buf = [0u8; 32];
    io.push(publish_bytes(&mut buf, QoS::AtLeastOnce, 3, false, "r", b"refused"));
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Err(Error::Engine(EngineError::Sink)), "check_msg");
    writes_are(&io, &[])?; // not acknowledged
    ensure!(c.is_connected(), "a refusing sink dropped the connection");
    sink.refuse = false;
    io.push(vector("publish-q0"));
    expect_message(c.wait_msg(&mut io, &mut sink, Mode::Check))?;
    ensure_eq!(sink.payload(), b"hello", "next message");
    Ok(())
}

fn check_half_packet(split: usize) -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let bytes = vector("publish-q0");
    let now = io.now;
    io.push(&bytes[..split]);
    for _ in 0..2 {
        ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "check_msg with part of a packet");
    }
    ensure_eq!(io.now, now, "clock moved: check_msg waited");
    io.push(&bytes[split..]);
    let m = expect_message(c.wait_msg(&mut io, &mut sink, Mode::Check))?;
    ensure_eq!((m.len, sink.begun, sink.topic.as_str(), sink.payload()), (5, 1, "app_topic", &b"hello"[..]), "message");
    Ok(())
}

fn malformed(what: &str, bytes: &[u8]) -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut packet = [0u8; 64];
    let input = if what == "rl-bad-5byte" {
        packet[0] = 0x30;
        packet[1..1 + bytes.len()].copy_from_slice(bytes);
        &packet[..1 + bytes.len()]
    } else {
        bytes
    };
    io.push(input);
    let r = c.wait_msg(&mut io, &mut MemSink::new(), Mode::Check);
    ensure!(matches!(r, Err(Error::Engine(EngineError::Protocol(_)))), "check_msg: {r:?}, want a protocol error");
    ensure!(!c.is_connected(), "still connected after a protocol error");
    Ok(())
}

fn wrong_ack_kind() -> Check {
    let (mut io, mut c) = connected_client()?;
    let p = publish_id(c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false))?;
    io.push(&ack(0x70, p)); // PUBCOMP for a QoS 1 publish
    let r = c.await_ack(&mut io, &mut MemSink::new(), p);
    ensure!(matches!(r, Err(Error::Engine(EngineError::Protocol(_)))), "await: {r:?}");
    ensure!(!c.is_connected(), "still connected");
    Ok(())
}

fn keepalive_ping() -> Check {
    let mut io = mem_io();
    let mut c: C = connected(&mut io, 10)?;
    let mut sink = MemSink::new();
    io.now += 4999;
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "check_msg before half the keepalive");
    writes_are(&io, &[])?;
    io.now += 1;
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "check_msg at half the keepalive");
    writes_are(&io, &[&[0xC0, 0x00]])?;
    io.push(&[0xD0, 0x00]);
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0xD0))), "PINGRESP");
    io.now += 5000;
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "second ping due");
    writes_are(&io, &[&[0xC0, 0x00], &[0xC0, 0x00]])?;
    io.now += 4999;
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "no answer yet");
    io.now += 1;
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Err(Error::Engine(EngineError::KeepaliveTimeout)), "no PINGRESP");
    ensure!(!c.is_connected(), "still connected after keepalive timeout");
    Ok(())
}

fn keepalive_wait_msg() -> Check {
    let mut io = mem_io();
    let mut c: C = connected(&mut io, 4)?;
    let start = io.now;
    let r = c.wait_msg(&mut io, &mut MemSink::new(), Mode::Wait(None));
    ensure_eq!(r, Err(Error::Engine(EngineError::KeepaliveTimeout)), "wait_msg with a silent broker");
    writes_are(&io, &[&[0xC0, 0x00]])?;
    let waited = io.now.wrapping_sub(start);
    ensure_eq!(waited, 4000, "simulated ms waited");
    Ok(())
}

fn session_packet_ids() -> Check {
    let mut s = Session::new();
    s.begin_connect(0, true, 0);
    s.on_connack(ConnectReturnCode::Accepted, false);
    let mut inflight = heapless::Deque::<PacketId, MAX_OUTBOUND>::new();
    for _ in 0..MAX_OUTBOUND {
        let p = s.next_pid().map_err(|e| Fail::new(format_args!("next_pid: {e:?}")))?;
        ensure_eq!(s.track(p, Pending::Puback), Ok(()), "track");
        let _ = inflight.push_back(p);
    }
    ensure_eq!(s.next_pid(), Err(SessionError::Busy), "next_pid with all slots taken");
    // pid 1 stays in flight while the counter wraps around twice.
    let stuck = inflight.pop_front().unwrap_or(pid(1));
    ensure_eq!(stuck.get(), 1, "first pid");
    let mut wraps = 0;
    let mut last = 0u16;
    for _ in 0..140_000u32 {
        let Some(done) = inflight.pop_front() else { return Err(Fail::new(format_args!("nothing in flight"))) };
        ensure_eq!(s.on_control(&Packet::Puback(done)), Ok(None), "PUBACK");
        ensure_eq!(s.take_done(done), Some(0), "take_done");
        let p = s.next_pid().map_err(|e| Fail::new(format_args!("next_pid: {e:?}")))?;
        ensure!(p != stuck && !inflight.iter().any(|q| *q == p), "pid {} handed out while in flight", p.get());
        if p.get() < last {
            wraps += 1;
        }
        last = p.get();
        ensure_eq!(s.track(p, Pending::Puback), Ok(()), "track");
        let _ = inflight.push_back(p);
    }
    ensure!(wraps >= 2, "pid counter wrapped {wraps} times");
    ensure_eq!(s.pending(stuck), Some(Pending::Puback), "stuck pid");
    Ok(())
}

fn session_keepalive_wrap() -> Check {
    let mut s = Session::new();
    let t0 = u32::MAX - 1000;
    s.begin_connect(10, true, t0);
    ensure_eq!(s.keepalive(t0), Keepalive::Idle(None), "before CONNACK");
    s.on_connack(ConnectReturnCode::Accepted, false);
    ensure_eq!(s.keepalive(t0.wrapping_add(4999)), Keepalive::Idle(Some(1)), "at 4999 ms");
    let t1 = t0.wrapping_add(5000);
    ensure_eq!(s.keepalive(t1), Keepalive::SendPing, "at 5000 ms (clock wrapped)");
    s.on_ping_sent(t1);
    ensure_eq!(s.keepalive(t1.wrapping_add(4999)), Keepalive::Idle(Some(1)), "awaiting PINGRESP");
    ensure_eq!(s.keepalive(t1.wrapping_add(5000)), Keepalive::Lost, "PINGRESP overdue");
    s.on_received();
    ensure_eq!(s.keepalive(t1.wrapping_add(5000)), Keepalive::SendPing, "after an answer");
    let mut off = Session::new();
    off.begin_connect(0, true, 0);
    off.on_connack(ConnectReturnCode::Accepted, false);
    ensure_eq!(off.keepalive(u32::MAX), Keepalive::Idle(None), "keepalive 0");
    Ok(())
}

/// A QoS 2 publish cut after PUBREC: on the kept session, PUBREL again under the same id.
fn session_resume_qos2() -> Check {
    let (mut io, mut c) = connected_client()?;
    let mut sink = MemSink::new();
    let p = publish_id(c.publish(&mut io, "q2", b"once", QoS::ExactlyOnce, false))?;
    io.push(&ack(0x50, p));
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x50))), "PUBREC");
    io.closed = true;
    ensure_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::Closed)), "broken connection");
    io.closed = false;
    io.push(&[0x20, 0x02, 0x01, 0x00]);
    let mut o = opts(0);
    o.clean_session = false;
    ensure_eq!(c.connect(&mut io, &o), Ok(true), "session present");
    io.clear_writes();
    ensure_eq!(c.resume(&mut io, p, "q2", b"once", false), Ok(true), "resume");
    writes_are(&io, &[&ack(0x62, p)])?;
    io.push(&ack(0x70, p));
    ensure_eq!(c.await_ack(&mut io, &mut sink, p), Ok(Awaited::Done(0)), "PUBCOMP");
    Ok(())
}

fn session_inbound_qos2() -> Check {
    let mut s = Session::new();
    s.begin_connect(0, true, 0);
    s.on_connack(ConnectReturnCode::Accepted, false);
    let five = Some(pid(5));
    let first = s.on_publish(QoS::ExactlyOnce, five, false).map_err(|e| Fail::new(format_args!("{e:?}")))?;
    ensure_eq!((first.deliver, first.ack), (true, Some(Reply::Pubrec(pid(5)))), "first");
    // Recorded once its PUBREC goes out (the application is done with it).
    s.received_qos2(pid(5));
    let dup = s.on_publish(QoS::ExactlyOnce, five, true).map_err(|e| Fail::new(format_args!("{e:?}")))?;
    ensure_eq!((dup.deliver, dup.ack), (false, Some(Reply::Pubrec(pid(5)))), "duplicate");
    ensure_eq!(s.on_control(&Packet::Pubrel(pid(5))), Ok(Some(Reply::Pubcomp(pid(5)))), "PUBREL");
    ensure_eq!(s.on_publish(QoS::ExactlyOnce, five, true).map(|i| i.deliver), Ok(true), "after release");
    s.received_qos2(pid(5));
    // A reconnect with session present keeps the unreleased id; without, it is forgotten.
    s.on_connack(ConnectReturnCode::Accepted, true);
    ensure_eq!(s.on_publish(QoS::ExactlyOnce, five, true).map(|i| i.deliver), Ok(false), "session present");
    s.on_connack(ConnectReturnCode::Accepted, false);
    ensure_eq!(s.on_publish(QoS::ExactlyOnce, five, true).map(|i| i.deliver), Ok(true), "clean session");
    s.received_qos2(pid(5));
    for n in 100..(100 + MAX_INBOUND_QOS2 as u16 - 1) {
        ensure_eq!(s.on_publish(QoS::ExactlyOnce, Some(pid(n)), false).map(|i| i.deliver), Ok(true), "filling");
        s.received_qos2(pid(n));
    }
    // Beyond MAX_INBOUND_QOS2 the oldest id is forgotten rather than the message refused.
    ensure_eq!(s.on_publish(QoS::ExactlyOnce, Some(pid(1000)), false).map(|i| i.deliver), Ok(true), "beyond MAX_INBOUND_QOS2");
    s.received_qos2(pid(1000));
    ensure_eq!(s.on_publish(QoS::ExactlyOnce, Some(pid(100)), true).map(|i| i.deliver), Ok(false), "newer ids kept");
    ensure_eq!(s.on_publish(QoS::ExactlyOnce, five, true).map(|i| i.deliver), Ok(true), "oldest forgotten");
    Ok(())
}

struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// A packet a broker might send, usually well formed, sometimes with one byte changed.
    fn packet(&mut self, out: &mut [u8]) -> usize {
        let r = self.next();
        let first = [0x30, 0x32, 0x34, 0x3A, 0x40, 0x50, 0x62, 0x70, 0x90, 0xB0, 0xD0, 0x20][r as usize % 12];
        let mut body = [0u8; 60];
        let mut n = 0;
        let pid = (self.next() % 32) as u16; // 0 now and then
        match first >> 4 {
            3 => {
                let topic_len = self.next() as usize % 12;
                body[..2].copy_from_slice(&(topic_len as u16).to_be_bytes());
                for b in &mut body[2..2 + topic_len] {
                    *b = b"abcd/e"[self.next() as usize % 6];
                }
                n = 2 + topic_len;
                if first & 0x06 != 0 {
                    body[n..n + 2].copy_from_slice(&pid.to_be_bytes());
                    n += 2;
                }
                n += self.next() as usize % 30;
            }
            4..=7 | 11 => {
                body[..2].copy_from_slice(&pid.to_be_bytes());
                n = 2;
            }
            9 => {
                body[..3].copy_from_slice(&[0, pid as u8, [0, 1, 2, 0x80, 3][self.next() as usize % 5]]);
                n = 3;
            }
            2 => n = 2,
            _ => {}
        }
        out[0] = first;
        let rl = varint::encode(n, &mut out[1..]).unwrap_or(0);
        out[1 + rl..1 + rl + n].copy_from_slice(&body[..n]);
        let total = 1 + rl + n;
        if self.next().is_multiple_of(8) {
            let at = self.next() as usize % total;
            out[at] = self.next() as u8;
        }
        total
    }

    /// Bytes that look like MQTT often enough to get past the first checks.
    fn fill(&mut self, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let r = self.next();
            *b = match (i, r % 8) {
                (0, 0..=5) => [0x20, 0x30, 0x32, 0x34, 0x3B, 0x40, 0x50, 0x62, 0x70, 0x90, 0xB0, 0xD0][(r >> 8) as usize % 12],
                (1, 0..=5) => (r >> 8) as u8 % 24,
                (_, 0..=2) => (r >> 8) as u8 % 8,
                (_, 3) => b'/',
                _ => (r >> 8) as u8,
            };
        }
    }
}

fn fuzz_decoder() -> Check {
    let mut rng = XorShift(0x1234_5678);
    let mut buf = [0u8; 96];
    let mut decoded = 0u32;
    for _ in 0..20_000 {
        let len = rng.next() as usize % buf.len();
        rng.fill(&mut buf[..len]);
        if let Ok(Some((p, n))) = codec::decode(&buf[..len]) {
            ensure!(n <= len, "used {n} of {len} bytes");
            ensure!(p.encoded_len().is_ok(), "decoded packet does not encode: {:?}", Hex(&buf[..n]));
            decoded += 1;
        }
    }
    ensure!(decoded > 100, "only {decoded} inputs decoded: the generator is too random to reach past the header");
    Ok(())
}

fn fuzz_driver() -> Check {
    let mut rng = XorShift(0xC0FF_EE11);
    let mut sink = MemSink::new();
    let mut events = 0u32;
    for _ in 0..500 {
        let mut io = mem_io();
        let mut c: Client<64, 64> = connected(&mut io, (rng.next() % 3) as u16)?;
        let mut stream = [0u8; 600];
        let mut len = 0;
        for _ in 0..(rng.next() % 8 + 1) {
            len += rng.packet(&mut stream[len..]);
        }
        // Split at random points: packets straddle reads, or share one.
        let mut at = 0;
        while at < len {
            let n = (rng.next() as usize % 80 + 1).min(len - at);
            io.push(&stream[at..at + n]);
            at += n;
        }
        io.closed = rng.next().is_multiple_of(4);
        let mut calls = 0;
        loop {
            calls += 1;
            ensure!(calls < 2000, "no progress after 2000 check_msg calls");
            io.clear_writes();
            io.now = io.now.wrapping_add(rng.next() % 300);
            match c.wait_msg(&mut io, &mut sink, Mode::Check) {
                Ok(Some(_)) => events += 1,
                Ok(None) if io.pending_input() == 0 => break,
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
    ensure!(events > 500, "only {events} packets handled: the generator is too random");
    Ok(())
}
