//! The blocking driver against a scripted broker: bytes on the wire (each
//! `write` call recorded on its own), acknowledgement flows, buffering,
//! streaming, keepalive and timeouts on a fake clock.

mod common;

use common::*;
use umqtt_native::codec::{Packet, PacketId, Publish, QoS, Will};
use umqtt_native::driver::{ArgError, Awaited, Client, ConnectOptions, EngineError, Error, Event, Message, Mode, ProtocolError};

type C = Client<256, 256>;

fn publish_bytes(qos: QoS, id: u16, dup: bool, topic: &str, payload: &[u8]) -> Vec<u8> {
    let pid = (qos != QoS::AtMostOnce).then(|| pid(id));
    enc(&Packet::Publish(Publish { dup, qos, retain: false, topic, pid, payload }))
}

fn message(ev: Result<Option<Event>, Error<MemError>>) -> Message {
    match ev {
        Ok(Some(Event::Message(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next event, a message, acknowledged as a callback that returned would have it.
fn next_acked<const RX: usize, const TX: usize>(c: &mut Client<RX, TX>, io: &mut ScriptedTransport, sink: &mut VecSink, mode: Mode) -> Message {
    let m = message(c.wait_msg(io, sink, mode));
    c.ack(io, m.pid).expect("ack");
    m
}

// ---- connect --------------------------------------------------------------

#[test]
fn connect_writes_one_packet_and_reads_connack() {
    let mut io = ScriptedTransport::hanging_up();
    io.push(&h("20 02 01 00"));
    let mut c = C::new();
    let opts = ConnectOptions {
        client_id: "cid",
        keepalive_s: 30,
        clean_session: false,
        will: Some(Will { topic: "w", message: b"bye", qos: QoS::AtLeastOnce, retain: true }),
        username: Some("u"),
        password: Some(b"p"),
        timeout_ms: None,
    };
    assert_eq!(c.connect(&mut io, &opts), Ok(true), "session present");
    assert!(c.is_connected());
    // Flags EC: user, password, will retain, will QoS 1, will; clean session off.
    let want = h("10 1D 00 04 4D 51 54 54 04 EC 00 1E 00 03 63 69 64 00 01 77 00 03 62 79 65 00 01 75 00 01 70");
    assert_eq!(io.written(), vec![want]);
}

#[test]
fn connack_split_over_reads() {
    let mut io = ScriptedTransport::hanging_up();
    io.max_read = 1;
    io.push(&CONNACK_OK);
    let mut c = C::new();
    assert_eq!(c.connect(&mut io, &options(0, None)), Ok(false));
    assert_eq!(io.reads, 4);
}

#[test]
fn connect_refused_gives_the_code() {
    for code in 1..=5u8 {
        let mut io = ScriptedTransport::hanging_up();
        io.push(&[0x20, 0x02, 0x00, code]);
        let mut c = C::new();
        assert_eq!(c.connect(&mut io, &options(60, None)), Err(Error::Engine(EngineError::Refused(code))));
        assert!(!c.is_connected());
        assert_eq!(c.publish(&mut io, "t", b"x", QoS::AtMostOnce, false), Err(Error::Engine(EngineError::NotConnected)));
        assert_eq!(io.written().len(), 1, "only the CONNECT went out");
    }
}

#[test]
fn connect_rejects_other_first_packets() {
    for reply in ["D0 00", "30 03 00 01 74", "20 02 02 00", "20 02 01 05", "20 03 00 00 00", "FF"] {
        let mut io = ScriptedTransport::hanging_up();
        io.push(&h(reply));
        let mut c = C::new();
        let r = c.connect(&mut io, &options(0, None));
        assert!(matches!(r, Err(Error::Engine(EngineError::Protocol(_))) | Err(Error::Engine(EngineError::Closed))), "{reply}: {r:?}");
        assert!(!c.is_connected(), "{reply}");
    }
    // Closed before any answer.
    let mut io = ScriptedTransport::hanging_up();
    assert_eq!(C::new().connect(&mut io, &options(0, None)), Err(Error::Engine(EngineError::Closed)));
}

#[test]
fn connect_times_out_on_fake_clock() {
    let mut io = ScriptedTransport::hanging_up();
    for _ in 0..10 {
        io.silence();
    }
    io.now = 7;
    let mut c = C::new();
    assert_eq!(c.connect(&mut io, &options(0, Some(1500))), Err(Error::Engine(EngineError::Timeout)));
    assert!(!c.is_connected());
    // It waited no longer than the limit, and not much shorter.
    assert_eq!(io.now - 7, 1500, "waits: {:?}", io.waits());
    assert!(io.waits().iter().all(|&(w, t)| !w && t.is_some_and(|t| t <= 1500)));
}

#[test]
fn connack_and_publish_in_one_read() {
    let mut io = ScriptedTransport::hanging_up();
    let mut data = CONNACK_OK.to_vec();
    data.extend(publish_bytes(QoS::AtMostOnce, 0, false, "t", b"first"));
    io.push(&data);
    let mut c = C::new();
    assert_eq!(c.connect(&mut io, &options(0, None)), Ok(false));
    io.silence();
    let mut sink = VecSink::default();
    let m = next_acked(&mut c, &mut io, &mut sink, Mode::Check);
    assert_eq!(m.len, 5);
    assert_eq!(sink.messages, vec![("t".into(), b"first".to_vec())]);
    assert_eq!(io.reads, 1);
}

/// A read that would block while CONNACK is awaited (a TLS socket read non-blocking that holds
/// only part of a record) means "not yet", not a failed connect.
#[test]
fn would_block_before_connack_is_waited_out() {
    let mut io = ScriptedTransport::hanging_up();
    io.cannot_wait = true;
    io.silence().silence();
    io.push(&h("20 02 00 00"));
    let mut c = C::new();
    assert_eq!(c.connect(&mut io, &options(0, Some(1000))), Ok(false));
    assert!(c.is_connected());
}

// ---- one write per packet -------------------------------------------------

#[test]
fn every_outgoing_packet_is_one_write() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();

    assert_eq!(c.publish(&mut io, "t", b"hi", QoS::AtMostOnce, false), Ok(None));
    assert_eq!(io.take_writes(), vec![h("30 05 00 01 74 68 69")]);

    assert_eq!(c.publish(&mut io, "t", b"hi", QoS::AtLeastOnce, true), Ok(Some(pid(1))));
    assert_eq!(io.take_writes(), vec![h("33 07 00 01 74 00 01 68 69")]);
    io.push(&h("40 02 00 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, pid(1)), Ok(Awaited::Done(0)));
    assert!(io.take_writes().is_empty());

    assert_eq!(c.subscribe(&mut io, "a/#", QoS::AtLeastOnce), Ok(pid(2)));
    assert_eq!(io.take_writes(), vec![h("82 08 00 02 00 03 61 2F 23 01")]);
    io.push(&h("90 03 00 02 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, pid(2)), Ok(Awaited::Done(1)));

    assert_eq!(c.unsubscribe(&mut io, "a/#"), Ok(pid(3)));
    assert_eq!(io.take_writes(), vec![h("A2 07 00 03 00 03 61 2F 23")]);
    io.push(&h("B0 02 00 03"));
    assert_eq!(c.await_ack(&mut io, &mut sink, pid(3)), Ok(Awaited::Done(0)));

    assert_eq!(c.ping(&mut io), Ok(()));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    io.push(&h("D0 00"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0xD0))));

    // Bigger than TX: its header, then the payload straight from the caller's slice.
    let big = vec![0x5Au8; 1000];
    assert_eq!(c.publish(&mut io, "t", &big, QoS::AtMostOnce, false), Ok(None));
    assert_eq!(io.take_writes(), vec![h("30 EB 07 00 01 74"), big.clone()]);
    assert_eq!([h("30 EB 07 00 01 74"), big.clone()].concat(), publish_bytes(QoS::AtMostOnce, 0, false, "t", &big));
    // Exactly TX bytes: still one write.
    let fits = vec![0x33u8; 256 - 6];
    assert_eq!(c.publish(&mut io, "t", &fits, QoS::AtMostOnce, false), Ok(None));
    assert_eq!(io.take_writes(), vec![publish_bytes(QoS::AtMostOnce, 0, false, "t", &fits)]);
    // A piece that does not fit what is left of TX but fits TX: gathered again, two writes.
    let topic = "x".repeat(200);
    let mid = vec![0x44u8; 100];
    assert_eq!(c.publish(&mut io, &topic, &mid, QoS::AtMostOnce, false), Ok(None));
    let w = io.take_writes();
    assert_eq!(w.len(), 2);
    assert_eq!(w[1], mid);
    assert_eq!(w.concat(), publish_bytes(QoS::AtMostOnce, 0, false, &topic, &mid));

    assert_eq!(c.disconnect(&mut io), Ok(()));
    assert_eq!(io.take_writes(), vec![h("E0 00")]);
    assert!(!c.is_connected());
    assert_eq!(sink.messages.len(), 0);
}

#[test]
fn invalid_arguments_write_nothing() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    for topic in ["", "a/+", "a/#", "#", "a\0b"] {
        assert!(matches!(c.publish(&mut io, topic, b"x", QoS::AtLeastOnce, false), Err(Error::Engine(EngineError::InvalidArgument(_)))), "{topic:?}");
    }
    assert_eq!(c.publish(&mut io, "\0", b"", QoS::AtMostOnce, false), Err(Error::Engine(EngineError::InvalidArgument(ArgError::TopicNul))));
    for filter in ["", "a/#/b", "a+", "#a", "a/\0"] {
        assert!(matches!(c.subscribe(&mut io, filter, QoS::AtMostOnce), Err(Error::Engine(EngineError::InvalidArgument(_)))), "{filter:?}");
        assert!(matches!(c.unsubscribe(&mut io, filter), Err(Error::Engine(EngineError::InvalidArgument(_)))), "{filter:?}");
    }
    assert!(io.written().is_empty());
    // No id was spent on them.
    assert_eq!(c.publish(&mut io, "ok", b"", QoS::AtLeastOnce, false), Ok(Some(pid(1))));
}

// ---- input buffering ------------------------------------------------------

#[test]
fn several_packets_in_one_read_are_all_handled() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let p1 = c.publish(&mut io, "t", b"1", QoS::AtLeastOnce, false).unwrap().unwrap();
    let s2 = c.subscribe(&mut io, "s", QoS::AtMostOnce).unwrap();
    io.take_writes();
    let reads_before = io.reads;
    let mut data = Vec::new();
    data.extend(h("40 02 00 01")); // PUBACK p1
    data.extend(publish_bytes(QoS::AtMostOnce, 0, false, "x", b"one"));
    data.extend(h("D0 00"));
    data.extend(publish_bytes(QoS::AtLeastOnce, 9, false, "y", b"two"));
    data.extend(h("90 03 00 02 00")); // SUBACK s2
    io.push(&data);
    io.silence();

    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0x40))));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Check).len, 3);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0xD0))));
    let m = next_acked(&mut c, &mut io, &mut sink, Mode::Check);
    assert_eq!((m.qos, m.pid, m.len), (QoS::AtLeastOnce, 9, 3));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0x90))));
    assert_eq!(io.reads - reads_before, 1, "one read carried all five packets");
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));

    assert_eq!(c.await_ack(&mut io, &mut sink, p1), Ok(Awaited::Done(0)));
    assert_eq!(c.await_ack(&mut io, &mut sink, s2), Ok(Awaited::Done(0)));
    assert_eq!(sink.messages, vec![("x".into(), b"one".to_vec()), ("y".into(), b"two".to_vec())]);
    assert_eq!(io.take_writes(), vec![h("40 02 00 09")], "PUBACK for the QoS 1 message");
}

#[test]
fn byte_at_a_time_arrival() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<16, 64>(&mut io, 0, None);
    io.max_read = 1;
    let mut sink = VecSink::default();
    let payload: Vec<u8> = (0..100).collect();
    io.push(&publish_bytes(QoS::ExactlyOnce, 3, false, "abc", &payload));
    io.push(&h("62 02 00 03"));
    let m = next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None));
    assert_eq!((m.len, m.pid, m.qos), (100, 3, QoS::ExactlyOnce));
    assert_eq!(sink.messages, vec![("abc".into(), payload)]);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x62))));
    assert_eq!(io.take_writes(), vec![h("50 02 00 03"), h("70 02 00 03")]);
}

#[test]
fn check_mode_keeps_half_a_packet() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let bytes = publish_bytes(QoS::AtLeastOnce, 4, false, "topic", b"0123456789");
    // Cut inside the fixed header, inside the topic, and inside the payload.
    for cut in [1, 6, bytes.len() - 3] {
        io.push(&bytes[..cut]);
        io.silence().silence();
        assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "cut {cut}");
        assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None), "cut {cut}, again");
        assert!(io.written().is_empty(), "no PUBACK before the message is in");
        io.push(&bytes[cut..]);
        let m = next_acked(&mut c, &mut io, &mut sink, Mode::Check);
        assert_eq!((m.len, m.pid), (10, 4));
        assert_eq!(sink.messages.last().unwrap(), &("topic".into(), b"0123456789".to_vec()));
        assert_eq!(io.take_writes(), vec![h("40 02 00 04")]);
    }
    assert_eq!(sink.messages.len(), 3);
    // Half a control packet too.
    io.push(&h("D0"));
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    io.push(&h("00"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0xD0))));
    // Check mode never waits with a timeout other than 0.
    assert!(io.waits().iter().filter(|w| !w.0).skip(1).all(|w| w.1 == Some(0)), "{:?}", io.waits());
}

#[test]
fn would_block_on_wait_msg_returns_none() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, None);
    let mut sink = VecSink::default();
    io.cannot_wait = true;
    io.silence();
    let waits = io.waits().len();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(None));
    assert!(io.waits()[waits..].iter().all(|w| w.1.is_none()), "without keepalive nothing limits the wait: {:?}", &io.waits()[waits..]);
    assert!(c.is_connected());
    // Half a packet, then would-block: still None, and the rest completes it.
    let bytes = publish_bytes(QoS::AtMostOnce, 0, false, "t", b"abc");
    io.push(&bytes[..4]);
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(None));
    io.push(&bytes[4..]);
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 3);
    assert_eq!(sink.messages, vec![("t".into(), b"abc".to_vec())]);
}

#[test]
fn closed_and_broken_connections_are_fatal() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, None);
    let mut sink = VecSink::default();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::Closed)));
    assert!(!c.is_connected());
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::NotConnected)));

    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, None);
    io.fail();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Err(Error::Io(MemError::Broken)));
    assert!(!c.is_connected());
}

#[test]
fn packets_a_broker_must_not_send_drop_the_connection() {
    for bytes in ["20 02 00 00", "C0 00", "E0 00", "82 06 00 01 00 01 61 00", "10 0C 00 04 4D 51 54 54 04 02 00 00 00 00"] {
        let mut io = ScriptedTransport::hanging_up();
        let mut c = connected::<64, 64>(&mut io, 0, None);
        let mut sink = VecSink::default();
        io.push(&h(bytes));
        assert!(matches!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::Protocol(_)))), "{bytes}");
        assert!(!c.is_connected(), "{bytes}");
    }
}

// ---- acknowledgements -----------------------------------------------------

/// PUBACK and PUBREC leave only when the application says it is done (its callback
/// returned): a message whose callback raised stays unacknowledged, for redelivery.
#[test]
fn acknowledgement_waits_for_the_application() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    io.push(&publish_bytes(QoS::AtLeastOnce, 3, false, "q1", b"a"));
    io.push(&publish_bytes(QoS::ExactlyOnce, 4, false, "q2", b"b"));
    io.push(&publish_bytes(QoS::ExactlyOnce, 4, true, "q2", b"b"));
    io.push(&publish_bytes(QoS::ExactlyOnce, 4, true, "q2", b"b"));
    assert_eq!(message(c.wait_msg(&mut io, &mut sink, Mode::Wait(None))).pid, 3);
    assert_eq!(message(c.wait_msg(&mut io, &mut sink, Mode::Wait(None))).pid, 4);
    assert!(io.take_writes().is_empty(), "nothing acknowledged before the application is done");
    // The QoS 2 message was never acknowledged: its redelivery is delivered again.
    assert_eq!(message(c.wait_msg(&mut io, &mut sink, Mode::Wait(None))).pid, 4);
    c.ack(&mut io, 4).unwrap();
    c.ack(&mut io, 3).unwrap();
    assert_eq!(io.take_writes(), vec![h("50 02 00 04"), h("40 02 00 03")]);
    // Acknowledged: now a redelivery is a duplicate, answered at once.
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x3C))));
    assert_eq!(io.take_writes(), vec![h("50 02 00 04")]);
    // Nothing is owed twice, nor for an id never delivered.
    c.ack(&mut io, 3).unwrap();
    c.ack(&mut io, 99).unwrap();
    assert!(io.take_writes().is_empty());
    assert_eq!(sink.begins, 3);
}

/// An acknowledgement owed on a connection that is gone is not sent on the next one:
/// the broker delivers the message again there.
#[test]
fn acknowledgement_owed_on_a_lost_connection_is_dropped() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    io.push(&publish_bytes(QoS::AtLeastOnce, 5, false, "q1", b"a"));
    assert_eq!(message(c.wait_msg(&mut io, &mut sink, Mode::Wait(None))).pid, 5);
    c.reset();
    io.push(&CONNACK_SESSION);
    let mut opts = options(0, None);
    opts.clean_session = false;
    assert_eq!(c.connect(&mut io, &opts), Ok(true));
    io.take_writes();
    c.ack(&mut io, 5).unwrap();
    assert!(io.take_writes().is_empty(), "PUBACK of the old connection sent on the new one");
    io.push(&publish_bytes(QoS::AtLeastOnce, 5, true, "q1", b"a"));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).pid, 5);
    assert_eq!(io.take_writes(), vec![h("40 02 00 05")]);
}

#[test]
fn publish_while_awaiting_puback_is_delivered() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "out", b"x", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.take_writes();
    io.push(&publish_bytes(QoS::AtLeastOnce, 77, false, "in", b"meanwhile"));
    io.push(&h("40 02 00 01"));
    match c.await_ack(&mut io, &mut sink, id) {
        Ok(Awaited::Message(m)) => assert_eq!((m.len, m.pid, m.qos), (9, 77, QoS::AtLeastOnce)),
        other => panic!("{other:?}"),
    }
    assert_eq!(sink.messages, vec![("in".into(), b"meanwhile".to_vec())]);
    assert!(io.take_writes().is_empty(), "no PUBACK before the application is done with it");
    c.ack(&mut io, 77).unwrap();
    assert_eq!(io.take_writes(), vec![h("40 02 00 4D")], "the incoming message is acknowledged");
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
    // Done means forgotten: the id no longer awaits anything.
    assert!(matches!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::InvalidArgument(_)))));
}

#[test]
fn publish_while_awaiting_suback_and_unsuback_is_delivered() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let s = c.subscribe(&mut io, "in", QoS::ExactlyOnce).unwrap();
    // Retained message and SUBACK in the same read, message first.
    let mut data = publish_bytes(QoS::AtMostOnce, 0, false, "in", b"retained");
    data.extend(h("90 03 00 01 02"));
    io.push(&data);
    assert!(matches!(c.await_ack(&mut io, &mut sink, s), Ok(Awaited::Message(m)) if m.len == 8));
    assert_eq!(c.await_ack(&mut io, &mut sink, s), Ok(Awaited::Done(2)));
    let u = c.unsubscribe(&mut io, "in").unwrap();
    io.push(&publish_bytes(QoS::AtMostOnce, 0, false, "in", b"late"));
    io.push(&h("B0 02 00 02"));
    assert!(matches!(c.await_ack(&mut io, &mut sink, u), Ok(Awaited::Message(m)) if m.len == 4));
    assert_eq!(c.await_ack(&mut io, &mut sink, u), Ok(Awaited::Done(0)));
    assert_eq!(sink.messages.len(), 2);
}

#[test]
fn qos1_outbound() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"hi", QoS::AtLeastOnce, false).unwrap().unwrap();
    assert_eq!(io.take_writes(), vec![h("32 07 00 01 74 00 01 68 69")]);
    // A stray PUBACK for another id and a PINGRESP are consumed on the way.
    io.push(&h("40 02 01 00 D0 00 40 02 00 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
    assert!(io.written().is_empty());
    assert!(c.is_connected());
}

#[test]
fn qos2_outbound() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"hi", QoS::ExactlyOnce, false).unwrap().unwrap();
    io.push(&h("50 02 00 01")); // PUBREC
    io.push(&publish_bytes(QoS::AtMostOnce, 0, false, "m", b"between"));
    io.push(&h("50 02 00 01")); // PUBREC again (broker retry): PUBREL again
    io.push(&h("70 02 00 01")); // PUBCOMP
    assert!(matches!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Message(_))));
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
    assert_eq!(
        io.take_writes(),
        vec![h("34 07 00 01 74 00 01 68 69"), h("62 02 00 01"), h("62 02 00 01")],
        "PUBLISH, PUBREL on PUBREC, PUBREL on the repeated PUBREC"
    );
}

#[test]
fn wrong_ack_kind_is_a_protocol_error() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"hi", QoS::ExactlyOnce, false).unwrap().unwrap();
    io.push(&h("40 02 00 01")); // PUBACK for a QoS 2 publish
    assert!(matches!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::Protocol(_)))));
    assert!(!c.is_connected());
}

#[test]
fn qos2_inbound_delivered_exactly_once() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let first = publish_bytes(QoS::ExactlyOnce, 5, false, "q2", b"once");
    let dup = publish_bytes(QoS::ExactlyOnce, 5, true, "q2", b"once");
    io.push(&first);
    io.push(&dup);
    io.push(&dup);
    io.push(&h("62 02 00 05")); // PUBREL
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, false, "q2", b"next")); // id reused after release
    io.push(&h("62 02 00 05"));

    let m = next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None));
    assert_eq!((m.qos, m.pid, m.dup, m.len), (QoS::ExactlyOnce, 5, false, 4));
    assert_eq!(io.take_writes(), vec![h("50 02 00 05")]);
    for _ in 0..2 {
        // Suppressed, but PUBREC is sent again.
        assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x3C))));
        assert_eq!(io.take_writes(), vec![h("50 02 00 05")]);
    }
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x62))));
    assert_eq!(io.take_writes(), vec![h("70 02 00 05")], "PUBCOMP answers PUBREL");
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 4);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x62))));
    assert_eq!(io.take_writes(), vec![h("50 02 00 05"), h("70 02 00 05")]);
    assert_eq!(sink.begins, 2);
    assert_eq!(sink.messages, vec![("q2".into(), b"once".to_vec()), ("q2".into(), b"next".to_vec())]);
}

#[test]
fn qos2_duplicate_while_awaiting_ack_is_suppressed() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.take_writes();
    io.push(&publish_bytes(QoS::ExactlyOnce, 8, false, "q", b"m"));
    io.push(&publish_bytes(QoS::ExactlyOnce, 8, true, "q", b"m"));
    io.push(&h("40 02 00 01"));
    assert!(matches!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Message(_))));
    c.ack(&mut io, 8).unwrap();
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
    assert_eq!(sink.begins, 1);
    assert_eq!(io.take_writes(), vec![h("50 02 00 08"), h("50 02 00 08")]);
}

#[test]
fn suback_failure_is_an_error() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let s = c.subscribe(&mut io, "denied/#", QoS::AtLeastOnce).unwrap();
    io.push(&h("90 03 00 01 80"));
    assert_eq!(c.await_ack(&mut io, &mut sink, s), Err(Error::Engine(EngineError::SubscribeFailed)));
    assert!(c.is_connected(), "a refused subscription does not end the connection");
    let s = c.subscribe(&mut io, "ok", QoS::ExactlyOnce).unwrap();
    io.push(&h("90 03 00 02 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, s), Ok(Awaited::Done(1)), "granted QoS 1");
}

// ---- sink -----------------------------------------------------------------

#[test]
fn message_larger_than_rx_is_streamed_intact() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let payload: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8 ^ (i >> 10) as u8).collect();
    let bytes = publish_bytes(QoS::AtLeastOnce, 0x1234, false, "big/topic", &payload);
    // Arrives in uneven pieces; the last piece also carries the next packet.
    let mut rest = &bytes[..];
    for size in [3usize, 100, 997, 256, 4096].iter().cycle() {
        if rest.len() <= *size {
            break;
        }
        io.push(&rest[..*size]);
        rest = &rest[*size..];
    }
    let mut last = rest.to_vec();
    last.extend(publish_bytes(QoS::AtMostOnce, 0, false, "small", b"after"));
    io.push(&last);
    let m = next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None));
    assert_eq!((m.len, m.pid), (payload.len(), 0x1234));
    assert_eq!(sink.messages.len(), 1);
    assert_eq!(sink.messages[0].0, "big/topic");
    assert!(sink.messages[0].1 == payload, "payload corrupted");
    assert_eq!(io.take_writes(), vec![h("40 02 12 34")]);
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 5);
    assert_eq!(sink.messages[1], ("small".into(), b"after".to_vec()));
}

#[test]
fn large_duplicate_is_skipped_without_losing_sync() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let payload = vec![7u8; 5000];
    let mut data = publish_bytes(QoS::ExactlyOnce, 2, false, "d", &payload);
    data.extend(publish_bytes(QoS::ExactlyOnce, 2, true, "d", &payload));
    data.extend(h("62 02 00 02 D0 00"));
    io.max_read = 700;
    io.push(&data);
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 5000);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x3C))));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x62))));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0xD0))));
    assert_eq!(sink.messages, vec![("d".into(), payload)]);
}

#[test]
fn refused_message_is_not_acknowledged() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, None);
    let mut sink = VecSink { refuse: true, ..VecSink::default() };
    io.push(&publish_bytes(QoS::AtLeastOnce, 1, false, "r", &[1u8; 300]));
    io.push(&publish_bytes(QoS::ExactlyOnce, 2, false, "r", b"q2"));
    io.push(&publish_bytes(QoS::AtMostOnce, 0, false, "ok", b"fine"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::Sink)));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::Sink)));
    assert!(c.is_connected());
    assert!(io.written().is_empty(), "neither PUBACK nor PUBREC for refused messages");
    sink.refuse = false;
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 4);
    // The refused QoS 2 message is not remembered: a redelivery is delivered.
    io.push(&publish_bytes(QoS::ExactlyOnce, 2, true, "r", b"q2"));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 2);
    assert_eq!(sink.messages, vec![("ok".into(), b"fine".to_vec()), ("r".into(), b"q2".to_vec())]);
}

// ---- keepalive ------------------------------------------------------------

/// A link on which each read takes a second of the fake clock (a slow radio).
struct SlowReads(ScriptedTransport);

impl embedded_io::ErrorType for SlowReads {
    type Error = MemError;
}

impl embedded_io::Read for SlowReads {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        self.0.now += 1000;
        self.0.read(buf)
    }
}

impl embedded_io::Write for SlowReads {
    fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}

impl umqtt_native::driver::Transport for SlowReads {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, MemError> {
        self.0.wait(writable, timeout_ms)
    }
    fn now_ms(&mut self) -> u32 {
        self.0.now_ms()
    }
    fn would_block(err: &MemError) -> bool {
        *err == MemError::WouldBlock
    }
}

/// A large message arriving steadily for longer than the keepalive period through check_msg
/// calls: the bytes show the broker alive, so it is delivered, not a KeepaliveTimeout.
#[test]
fn message_trickling_in_through_check_mode_is_no_keepalive_timeout() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 10, None);
    let mut sink = VecSink::default();
    let bytes = publish_bytes(QoS::AtLeastOnce, 1, false, "t", &[7u8; 4000]);
    let mut result = Ok(None);
    for chunk in bytes.chunks(200) {
        io.push(chunk);
        io.silence();
        io.now += 1000;
        result = c.wait_msg(&mut io, &mut sink, Mode::Check);
        assert!(result.is_ok(), "at {} ms: {result:?}", io.now);
    }
    assert_eq!(message(result).len, 4000);
    assert!(io.now >= 20_000, "the message took two keepalive periods");
}

/// Input trickling in during one blocking wait_msg: PINGREQ still goes out every half
/// keepalive period (the broker counts only what the client sends).
#[test]
fn input_trickling_in_during_one_wait_does_not_hold_pingreq_back() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 10, None);
    let mut sink = VecSink::default();
    for b in publish_bytes(QoS::AtMostOnce, 0, false, "t", &[1u8; 60]) {
        io.push(&[b]);
    }
    let mut slow = SlowReads(io);
    assert_eq!(message(c.wait_msg(&mut slow, &mut sink, Mode::Wait(None))).len, 60);
    assert!(slow.0.now >= 65_000, "the message took {} ms", slow.0.now);
    let pings = slow.0.writes().filter(|w| w[..] == h("C0 00")[..]).count();
    assert!(pings >= 65 / 5 - 1, "{pings} PINGREQs in {} ms with keepalive 10 s", slow.0.now);
}

#[test]
fn keepalive_pings_when_due_and_accepts_pingresp() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 10, None);
    let mut sink = VecSink::default();
    io.silence(); // nothing for a while: the wait ends when PINGREQ is due
    io.push(&h("D0 00"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0xD0))));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    assert_eq!(io.now, 5000, "PINGREQ at half the 10 s keepalive");
    // Answered: the next interval starts from the PINGREQ.
    io.silence();
    io.push(&h("D0 00"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0xD0))));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    assert_eq!(io.now, 10_000);
    assert!(c.is_connected());
}

#[test]
fn keepalive_timeout_without_answer() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 10, None);
    let mut sink = VecSink::default();
    io.silence();
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::KeepaliveTimeout)));
    assert_eq!(io.take_writes(), vec![h("C0 00")], "one PINGREQ, then the verdict");
    assert_eq!(io.now, 10_000);
    assert!(!c.is_connected());
}

#[test]
fn keepalive_in_check_mode_on_fake_clock() {
    let mut io = ScriptedTransport::hanging_up();
    io.now = u32::MAX - 2000; // the clock wraps during the test
    let mut c = connected::<64, 64>(&mut io, 4, None);
    let mut sink = VecSink::default();
    io.silence();
    io.now = io.now.wrapping_add(1999);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    assert!(io.written().is_empty(), "not due yet");
    // Sending postpones the ping.
    assert_eq!(c.publish(&mut io, "t", b"", QoS::AtMostOnce, false), Ok(None));
    io.take_writes();
    io.now = io.now.wrapping_add(1999);
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    assert!(io.written().is_empty(), "publish counted as activity");
    io.now = io.now.wrapping_add(1);
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    io.now = io.now.wrapping_add(1999);
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    assert!(io.written().is_empty(), "one PINGREQ per interval");
    io.now = io.now.wrapping_add(1);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Err(Error::Engine(EngineError::KeepaliveTimeout)));
    assert!(!c.is_connected());
}

#[test]
fn any_packet_counts_as_an_answer() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 2, None);
    let mut sink = VecSink::default();
    io.silence();
    io.push(&publish_bytes(QoS::AtMostOnce, 0, false, "t", b"alive"));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 5);
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    // The broker spoke after the ping: no timeout at the next deadline, a new ping instead.
    io.silence();
    io.push(&h("D0 00"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0xD0))));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
}

#[test]
fn keepalive_while_awaiting_ack() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 6, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.take_writes();
    io.silence();
    io.silence();
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::KeepaliveTimeout)));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    assert_eq!(io.now, 6000);
}

// ---- timeouts -------------------------------------------------------------

#[test]
fn await_ack_times_out_and_can_resume() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 0, Some(2000));
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.silence();
    let t0 = io.now;
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::Timeout)));
    assert_eq!(io.now - t0, 2000);
    assert!(c.is_connected(), "a timeout leaves the connection up");
    io.push(&h("40 02 00 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
}

#[test]
fn timeout_and_keepalive_together_take_the_nearer_limit() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 60, Some(700));
    let mut sink = VecSink::default();
    let id = c.subscribe(&mut io, "t", QoS::AtMostOnce).unwrap();
    io.take_writes();
    io.silence();
    io.silence();
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::Timeout)));
    assert_eq!(io.now, 700);
    assert!(io.written().is_empty(), "no ping within 700 ms of a 60 s keepalive");
}

// ---- packet ids -----------------------------------------------------------

fn publish_id(c: &mut C, io: &mut ScriptedTransport) -> u16 {
    let id = c.publish(io, "p", b"", QoS::AtLeastOnce, false).unwrap().unwrap().get();
    let w = io.take_writes();
    assert_eq!(w.len(), 1);
    assert_eq!(&w[0][5..7], &id.to_be_bytes(), "the id on the wire");
    id
}

#[test]
fn packet_ids_wrap_and_skip_ids_in_flight() {
    let mut io = ScriptedTransport::hanging_up();
    io.budget = usize::MAX;
    let mut c = *connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    // Ids 1 and 2 stay in flight throughout.
    assert_eq!(publish_id(&mut c, &mut io), 1);
    let s = c.subscribe(&mut io, "keep", QoS::AtMostOnce).unwrap();
    assert_eq!(s.get(), 2);
    io.take_writes();
    let mut prev = 2u16;
    let mut wraps = 0;
    for _ in 0..2 * 65_533 + 10 {
        let id = publish_id(&mut c, &mut io);
        assert!(id != 0 && id != 1 && id != 2, "id {id} is 0 or in flight");
        if id < prev {
            assert_eq!((prev, id), (65_535, 3), "wraps past 0 and the ids in flight");
            wraps += 1;
        } else {
            assert_eq!(id, prev + 1);
        }
        prev = id;
        io.push(&[0x40, 0x02, (id >> 8) as u8, id as u8]);
        assert_eq!(c.await_ack(&mut io, &mut sink, pid(id)), Ok(Awaited::Done(0)));
    }
    assert_eq!(wraps, 2);
    // The two old operations still complete.
    io.push(&h("90 03 00 02 00 40 02 00 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, s), Ok(Awaited::Done(0)));
    assert_eq!(c.await_ack(&mut io, &mut sink, pid(1)), Ok(Awaited::Done(0)));
}

#[test]
fn too_many_in_flight_is_busy() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let ids: Vec<PacketId> = (0..umqtt_native::session::MAX_OUTBOUND).map(|_| c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    io.take_writes();
    assert_eq!(c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false), Err(Error::Engine(EngineError::Busy)));
    assert_eq!(c.subscribe(&mut io, "t", QoS::AtMostOnce), Err(Error::Engine(EngineError::Busy)));
    assert!(io.written().is_empty());
    // QoS 0 needs no id.
    assert_eq!(c.publish(&mut io, "t", b"", QoS::AtMostOnce, false), Ok(None));
    io.push(&[0x40, 0x02, 0x00, ids[3].get() as u8]);
    assert_eq!(c.await_ack(&mut io, &mut sink, ids[3]), Ok(Awaited::Done(0)));
    let next = c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    assert!(!ids.contains(&next) || next == ids[3]);
}

#[test]
fn abandoned_operation_is_reaped_when_acknowledged() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let ids: Vec<PacketId> = (0..umqtt_native::session::MAX_OUTBOUND).map(|_| c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap()).collect();
    c.abandon(ids[0]);
    assert_eq!(c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false), Err(Error::Engine(EngineError::Busy)), "still in flight");
    io.push(&[0x40, 0x02, 0x00, ids[0].get() as u8]);
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0x40))));
    let next = c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    assert!(!ids[1..].contains(&next));
}

#[test]
fn reconnect_forgets_old_operations() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let id = c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    // Leftover bytes of the old connection must not leak into the new one.
    io.push(&h("40 02"));
    let mut sink = VecSink::default();
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    io.push(&CONNACK_OK);
    assert_eq!(c.connect(&mut io, &options(0, None)), Ok(false));
    assert!(matches!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::InvalidArgument(_)))));
}

// ---- partial writes ---------------------------------------------------------

#[test]
fn partial_write_is_completed() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, Some(1000));
    io.script_writes(&[WriteStep::Accept(3), WriteStep::WouldBlock, WriteStep::Accept(2)]);
    assert_eq!(c.publish(&mut io, "t", b"hello", QoS::AtMostOnce, false), Ok(None));
    // The packet is offered whole each time; the transport took it in pieces.
    assert_eq!(io.written().concat(), h("30 08 00 01 74 68 65 6C 6C 6F"));
    assert_eq!(io.written().iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 2, 5]);
    assert!(io.waits().contains(&(true, Some(1000))));
    assert!(c.is_connected());
}

#[test]
fn write_timeout_before_any_byte_keeps_the_connection() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, Some(1000));
    io.script_writes(&[WriteStep::WouldBlock]);
    io.script_writable(false);
    assert_eq!(c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false), Err(Error::Engine(EngineError::Timeout)));
    assert!(io.written().is_empty());
    assert!(c.is_connected(), "nothing went out: the stream is intact");
    // The failed publish awaits nothing.
    let mut sink = VecSink::default();
    assert!(matches!(c.await_ack(&mut io, &mut sink, pid(1)), Err(Error::Engine(EngineError::InvalidArgument(_)))));
    assert_eq!(c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false), Ok(Some(pid(2))));
}

#[test]
fn subscribe_that_never_left_holds_no_packet_id() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, Some(1000));
    // More failed subscribes than operations may be in flight: each is forgotten, none holds an id.
    for _ in 0..=umqtt_native::session::MAX_OUTBOUND {
        io.script_writes(&[WriteStep::WouldBlock]);
        io.script_writable(false);
        assert_eq!(c.subscribe(&mut io, "t", QoS::AtLeastOnce), Err(Error::Engine(EngineError::Timeout)));
    }
    assert!(io.written().is_empty());
    assert!(c.is_connected());
    io.script_writable(true);
    let ticket = c.subscribe(&mut io, "t", QoS::AtLeastOnce).expect("an id is free");
    assert_eq!(io.written(), vec![h(&format!("82 06 00 {:02X} 00 01 74 01", ticket.get()))]);
}

#[test]
fn write_timeout_mid_packet_drops_the_connection() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, Some(1000));
    io.script_writes(&[WriteStep::Accept(4), WriteStep::WouldBlock]);
    io.script_writable(false);
    assert_eq!(c.publish(&mut io, "t", b"hello", QoS::AtMostOnce, false), Err(Error::Engine(EngineError::Timeout)));
    assert_eq!(io.written(), vec![h("30 08 00 01")]);
    // Half a packet is on the wire: nothing more may follow it on this connection.
    assert!(!c.is_connected());
    assert_eq!(c.publish(&mut io, "t", b"x", QoS::AtMostOnce, false), Err(Error::Engine(EngineError::NotConnected)));
    assert_eq!(io.written().len(), 1);
}

#[test]
fn write_error_drops_the_connection() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    io.script_writes(&[WriteStep::Fail]);
    assert_eq!(c.subscribe(&mut io, "t", QoS::AtMostOnce), Err(Error::Io(MemError::Broken)));
    assert!(!c.is_connected());
}

// ---- session present --------------------------------------------------------

/// An unreleased inbound QoS 2 message across a reconnect: remembered when the
/// broker kept the session, forgotten when it did not.
#[test]
fn qos2_inbound_state_follows_session_present() {
    for (connack, redelivered) in [("20 02 01 00", false), ("20 02 00 00", true)] {
        let mut io = ScriptedTransport::hanging_up();
        let mut c = connected::<256, 256>(&mut io, 0, None);
        let mut sink = VecSink::default();
        io.push(&publish_bytes(QoS::ExactlyOnce, 9, false, "q", b"m"));
        assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).pid, 9);
        c.reset();
        io.push(&h(connack));
        let mut opts = options(0, None);
        opts.clean_session = false;
        assert_eq!(c.connect(&mut io, &opts), Ok(connack == "20 02 01 00"));
        io.take_writes();
        io.push(&publish_bytes(QoS::ExactlyOnce, 9, true, "q", b"m"));
        let ev = c.wait_msg(&mut io, &mut sink, Mode::Wait(None)).unwrap().unwrap();
        assert_eq!(matches!(ev, Event::Message(_)), redelivered, "{connack}: {ev:?}");
        // A duplicate is acknowledged at once, a redelivered message once it was handled.
        if redelivered {
            assert!(io.take_writes().is_empty(), "{connack}: PUBREC before the application had it");
            c.ack(&mut io, 9).unwrap();
        }
        assert_eq!(io.take_writes(), vec![h("50 02 00 09")], "{connack}: PUBREC either way");
        assert_eq!(sink.begins, 1 + usize::from(redelivered));
    }
}

#[test]
fn timeout_mid_message_keeps_the_partial_message() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<16, 64>(&mut io, 0, Some(1000));
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"x", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.take_writes();
    let payload: Vec<u8> = (0..=255).collect();
    let bytes = publish_bytes(QoS::AtMostOnce, 0, false, "in", &payload);
    io.push(&bytes[..100]);
    io.silence();
    io.push(&bytes[100..]);
    io.push(&h("40 02 00 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Err(Error::Engine(EngineError::Timeout)));
    assert!(c.is_connected());
    assert!(matches!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Message(m)) if m.len == 256));
    assert_eq!(sink.messages, vec![("in".into(), payload)]);
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
}

/// A message and a PINGRESP in one read after a PINGREQ: the application taking long over the
/// message does not turn the buffered answer into a keepalive timeout.
#[test]
fn slow_application_with_buffered_answer_is_no_keepalive_timeout() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 64>(&mut io, 10, None);
    let mut sink = VecSink::default();
    io.silence();
    let mut data = publish_bytes(QoS::AtMostOnce, 0, false, "t", b"m");
    data.extend(h("D0 00"));
    io.push(&data);
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 1);
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
    assert_eq!(io.now, 5000);
    io.now += 5000; // the application is slow with the message
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0xD0))));
    assert!(c.is_connected());
    // The answer came; the next interval starts from the PINGREQ sent at 5000: a new one is due now.
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(None));
    assert_eq!(io.take_writes(), vec![h("C0 00")]);
}

#[test]
fn topic_longer_than_rx_is_skipped_and_the_connection_stays() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<64, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let long_topic = format!("t/{}", "x".repeat(100));
    let mut bytes = publish_bytes(QoS::AtLeastOnce, 7, false, &long_topic, &[0xAB; 300]);
    bytes.extend(publish_bytes(QoS::AtMostOnce, 0, false, "short", b"next"));
    io.push(&bytes[..40]);
    io.push(&bytes[40..]);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::TopicTooLong)));
    assert!(c.is_connected());
    assert!(io.take_writes().is_empty(), "a skipped message is not acknowledged");
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 4);
    assert_eq!(sink.messages, vec![("short".into(), b"next".to_vec())]);
}

#[test]
fn inbound_qos2_beyond_capacity_forgets_the_oldest_instead_of_failing() {
    use umqtt_native::session::{Session, MAX_INBOUND_QOS2};
    let mut s = Session::new();
    for n in 1..=MAX_INBOUND_QOS2 as u16 + 1 {
        assert!(s.on_publish(QoS::ExactlyOnce, Some(pid(n)), false).unwrap().deliver, "id {n}");
        s.received_qos2(pid(n));
    }
    // The newest MAX_INBOUND_QOS2 ids are still recognised as duplicates; id 1 was forgotten.
    assert!(!s.on_publish(QoS::ExactlyOnce, Some(pid(2)), true).unwrap().deliver);
    assert!(!s.on_publish(QoS::ExactlyOnce, Some(pid(MAX_INBOUND_QOS2 as u16 + 1)), true).unwrap().deliver);
    assert!(s.on_publish(QoS::ExactlyOnce, Some(pid(1)), true).unwrap().deliver);
}

/// DUP=0 is a first delivery: a new message even under an id not released yet (a broker
/// that restored its flows one step back after a restart sends no PUBREL and moves on).
#[test]
fn qos2_first_delivery_under_an_unreleased_id_is_a_new_message() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, false, "q2", b"one"));
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, true, "q2", b"one"));
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, false, "q2", b"two"));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 3);
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x3C))), "DUP=1: suppressed");
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 3);
    assert_eq!(sink.messages, vec![("q2".into(), b"one".to_vec()), ("q2".into(), b"two".to_vec())]);
    assert_eq!(io.take_writes(), vec![h("50 02 00 05"); 3], "PUBREC each time");
}

/// The id then stands for the new message: if that one is refused (not acknowledged), its
/// redelivery (DUP=1) is delivered, not taken for a duplicate of the old one.
#[test]
fn qos2_refused_first_delivery_under_an_unreleased_id_is_delivered_when_redelivered() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, false, "q2", b"old"));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 3);
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, false, "q2", b"new"));
    sink.refuse = true;
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Err(Error::Engine(EngineError::Sink)));
    sink.refuse = false;
    io.push(&publish_bytes(QoS::ExactlyOnce, 5, true, "q2", b"new"));
    assert_eq!(next_acked(&mut c, &mut io, &mut sink, Mode::Wait(None)).len, 3);
    assert_eq!(sink.messages, vec![("q2".into(), b"old".to_vec()), ("q2".into(), b"new".to_vec())]);
    assert_eq!(io.take_writes(), vec![h("50 02 00 05"); 2], "PUBREC for the delivered ones only");
}

#[test]
fn connack_of_the_wrong_length_is_named() {
    let mut io = ScriptedTransport::hanging_up();
    io.push(&h("20 03 00 00 00"));
    let mut c: Box<Client<64, 64>> = Box::new(Client::new());
    let err = c.connect(&mut io, &options(0, Some(1000))).unwrap_err();
    assert_eq!(err, Error::Engine(EngineError::Protocol(ProtocolError::ConnackLength)));
}

// ---- resuming a session (MQTT 3.1.1 4.4) ------------------------------------

const CONNACK_SESSION: [u8; 4] = [0x20, 0x02, 0x01, 0x00];

/// The connection of `c` breaks (a read fails); then CONNECT with clean_session=0 gets `connack`.
fn break_and_reconnect(c: &mut C, io: &mut ScriptedTransport, connack: &[u8]) -> bool {
    let mut sink = VecSink::default();
    io.fail();
    assert!(c.wait_msg(io, &mut sink, Mode::Wait(None)).is_err());
    assert!(!c.is_connected());
    io.push(connack);
    let mut opts = options(0, None);
    opts.clean_session = false;
    let present = c.connect(io, &opts).expect("reconnect");
    assert_eq!(io.take_writes().len(), 1, "CONNECT");
    present
}

#[test]
fn unacknowledged_qos1_publish_is_sent_again_with_dup_under_its_id() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"hi", QoS::AtLeastOnce, true).unwrap().unwrap();
    assert_eq!(io.take_writes(), vec![h("33 07 00 01 74 00 01 68 69")]);
    assert!(break_and_reconnect(&mut c, &mut io, &CONNACK_SESSION));
    assert_eq!(c.resume(&mut io, id, "t", b"hi", true), Ok(true));
    assert_eq!(io.take_writes(), vec![h("3B 07 00 01 74 00 01 68 69")], "DUP=1, same id, retain kept");
    io.push(&h("40 02 00 01"));
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
}

#[test]
fn qos2_publish_is_resumed_where_it_stopped() {
    // Before PUBREC: PUBLISH again with DUP=1. After PUBREC: PUBREL only.
    for (pubrec_came, resent) in [(false, h("3C 07 00 01 74 00 01 68 69")), (true, h("62 02 00 01"))] {
        let mut io = ScriptedTransport::hanging_up();
        let mut c = connected::<256, 256>(&mut io, 0, None);
        let mut sink = VecSink::default();
        let id = c.publish(&mut io, "t", b"hi", QoS::ExactlyOnce, false).unwrap().unwrap();
        if pubrec_came {
            io.push(&h("50 02 00 01"));
            assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x50))));
        }
        io.take_writes();
        c.abandon(id); // the waiter gave up when the connection broke; resuming takes it up again
        assert!(break_and_reconnect(&mut c, &mut io, &CONNACK_SESSION));
        assert_eq!(c.resume(&mut io, id, "t", b"hi", false), Ok(true));
        assert_eq!(io.take_writes(), vec![resent.clone()]);
        if !pubrec_came {
            io.push(&h("50 02 00 01"));
        }
        io.push(&h("70 02 00 01"));
        assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)), "pubrec_came={pubrec_came}");
    }
}

#[test]
fn nothing_is_resumed_without_the_brokers_session() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let id = c.publish(&mut io, "t", b"hi", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.take_writes();
    assert!(!break_and_reconnect(&mut c, &mut io, &CONNACK_OK));
    assert_eq!(c.resume(&mut io, id, "t", b"hi", false), Ok(false));
    assert!(io.written().is_empty());
    // A clean session forgets it too, whatever the broker says.
    let id = c.publish(&mut io, "t", b"hi", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.fail();
    let mut sink = VecSink::default();
    assert!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)).is_err());
    io.push(&CONNACK_SESSION);
    assert_eq!(c.connect(&mut io, &options(0, None)), Ok(true));
    assert_eq!(c.resume(&mut io, id, "t", b"hi", false), Ok(false));
}

#[test]
fn publishes_not_resumed_are_forgotten_at_the_next_call() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let ids: Vec<PacketId> = (0..umqtt_native::session::MAX_OUTBOUND).map(|_| c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap()).collect();
    io.take_writes();
    assert!(break_and_reconnect(&mut c, &mut io, &CONNACK_SESSION));
    assert_eq!(c.resume(&mut io, ids[2], "t", b"", false), Ok(true));
    // One not resumed can be neither completed (a stray PUBACK) nor awaited; the next
    // publish frees its slot.
    io.push(&h("40 02 00 01"));
    io.silence();
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Check), Ok(Some(Event::Control(0x40))));
    assert!(matches!(c.await_ack(&mut io, &mut sink, ids[0]), Err(Error::Engine(EngineError::InvalidArgument(_)))));
    for _ in 1..umqtt_native::session::MAX_OUTBOUND {
        c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    }
    assert_eq!(c.publish(&mut io, "t", b"", QoS::AtLeastOnce, false), Err(Error::Engine(EngineError::Busy)), "ids[2] still in flight");
}

#[test]
fn a_publish_completed_before_the_break_is_still_reported_done() {
    let mut io = ScriptedTransport::hanging_up();
    let mut c = connected::<256, 256>(&mut io, 0, None);
    let mut sink = VecSink::default();
    let id = c.publish(&mut io, "t", b"hi", QoS::AtLeastOnce, false).unwrap().unwrap();
    io.push(&h("40 02 00 01"));
    assert_eq!(c.wait_msg(&mut io, &mut sink, Mode::Wait(None)), Ok(Some(Event::Control(0x40))));
    io.take_writes();
    assert!(break_and_reconnect(&mut c, &mut io, &CONNACK_SESSION));
    assert_eq!(c.resume(&mut io, id, "t", b"hi", false), Ok(true));
    assert!(io.written().is_empty(), "nothing to send again");
    assert_eq!(c.await_ack(&mut io, &mut sink, id), Ok(Awaited::Done(0)));
}
