//! Every vector of ../shared/vectors/mqtt311-seed-vectors.txt, byte for byte.
//! A vector whose name this file does not know fails the run, so new vectors
//! cannot be skipped silently.

mod common;

use common::*;
use umqtt_native::codec::{
    self, varint, Connect, ConnectReturnCode, Error, Filters, Packet, Publish, QoS, Suback, Subscribe,
    Subscription, Unsubscribe,
};
use umqtt_native::driver::{self, Client, Event, Mode};
use umqtt_native::driver::EngineError;
use umqtt_testkit::codec_checks::{expected, expected_error, hello};
use umqtt_testkit::driver_checks::onenet_options;

/// Encodes `p` (checking encoded_len) and compares with the vector, then decodes the vector back.
fn assert_codec(name: &str, bytes: &[u8], p: &Packet<'_>) {
    let len = p.encoded_len().unwrap_or_else(|e| panic!("{name}: encoded_len: {e:?}"));
    assert_eq!(len, bytes.len(), "{name}: encoded_len");
    let mut out = vec![0u8; len + 8];
    let n = p.encode(&mut out).unwrap_or_else(|e| panic!("{name}: encode: {e:?}"));
    assert_eq!(&out[..n], bytes, "{name}: encoded bytes");
    // One byte short of room is refused, not truncated.
    assert_eq!(p.encode(&mut out[..len - 1]), Err(Error::BufferTooSmall), "{name}: short buffer");
    assert_decodes(name, bytes, p);
}

/// Decodes the vector to `p` using all its bytes; every proper prefix reads as incomplete.
fn assert_decodes(name: &str, bytes: &[u8], p: &Packet<'_>) {
    let (got, used) = codec::decode(bytes).unwrap_or_else(|e| panic!("{name}: decode: {e:?}")).unwrap_or_else(|| panic!("{name}: incomplete"));
    assert_eq!(&got, p, "{name}: decoded packet");
    assert_eq!(used, bytes.len(), "{name}: bytes used");
    assert_eq!(got.first_byte(), bytes[0], "{name}: first byte");
    for cut in 0..bytes.len() {
        assert_eq!(codec::decode(&bytes[..cut]), Ok(None), "{name}: prefix of {cut} bytes must read as incomplete");
    }
}

/// Remaining Length vectors: `rl-<value>`; the value comes from the name.
fn check_rl(name: &str, bytes: &[u8]) {
    let value: usize = name["rl-".len()..].parse().unwrap_or_else(|_| panic!("{name}: no value in the name"));
    assert_eq!(varint::decode(bytes), Ok(Some((value, bytes.len()))), "{name}: decode");
    // Trailing bytes are not part of the field.
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0xFF, 0x00]);
    assert_eq!(varint::decode(&longer), Ok(Some((value, bytes.len()))), "{name}: decode with trailing bytes");
    for cut in 0..bytes.len() {
        assert_eq!(varint::decode(&bytes[..cut]), Ok(None), "{name}: prefix of {cut}");
    }
    assert_eq!(varint::encoded_len(value), bytes.len(), "{name}: encoded_len");
    let mut out = [0u8; 4];
    assert_eq!(varint::encode(value, &mut out), Ok(bytes.len()), "{name}: encode length");
    assert_eq!(&out[..bytes.len()], bytes, "{name}: encoded bytes");
    // The fixed header parser reads it the same way.
    let mut packet = vec![0x30];
    packet.extend_from_slice(bytes);
    let header = codec::parse_fixed_header(&packet).unwrap().unwrap();
    assert_eq!((header.remaining_len, header.header_len), (value, 1 + bytes.len()), "{name}: fixed header");
}

fn check_rl_bad(name: &str, bytes: &[u8]) {
    assert_eq!(varint::decode(bytes), Err(Error::RemainingLengthTooLong), "{name}: varint");
    // Rejected as soon as the 4th byte says another follows, without waiting for the 5th.
    assert_eq!(varint::decode(&bytes[..4]), Err(Error::RemainingLengthTooLong), "{name}: 4 continued bytes");
    let mut packet = vec![0x30];
    packet.extend_from_slice(bytes);
    assert_eq!(codec::parse_fixed_header(&packet), Err(Error::RemainingLengthTooLong), "{name}: fixed header");
    assert_eq!(codec::decode(&packet).map(|o| o.map(|(_, n)| n)), Err(Error::RemainingLengthTooLong), "{name}: decode");
    // The value it spells (with a 5th byte) is past MQTT's maximum and cannot be encoded either.
    let mut out = [0u8; 8];
    assert_eq!(varint::encode(codec::MAX_REMAINING_LENGTH + 1, &mut out), Err(Error::PacketTooLarge), "{name}: encode");
}

fn check_bad(name: &str, bytes: &[u8]) {
    let expected = expected_error(name).unwrap_or_else(|| panic!("{name}: unknown malformed vector; add its expected error"));
    let got = codec::decode(bytes).map(|o| o.map(|(_, n)| n));
    assert_eq!(got, Err(expected), "{name}: decode");

    // A connected client fed it drops the connection with that reason.
    let mut io = ScriptedTransport::hanging_up();
    let mut client = connected::<64, 64>(&mut io, 0, None);
    io.push(bytes);
    let mut sink = VecSink::default();
    let r = client.wait_msg(&mut io, &mut sink, Mode::Wait(None));
    assert_eq!(r, Err(driver::Error::Engine(EngineError::Protocol(driver::ProtocolError::Codec(expected)))), "{name}: driver");
    assert!(!client.is_connected(), "{name}: connection dropped");
    assert!(sink.messages.is_empty(), "{name}: nothing delivered");
    assert!(io.written().is_empty(), "{name}: nothing answered");
}

const TOPIC: &str = "app_topic";

fn check(v: &Vector) {
    let name = v.name.as_str();
    let b = v.bytes.as_slice();
    match name {
        "rl-bad-5byte" => check_rl_bad(name, b),
        _ if name.starts_with("rl-") => check_rl(name, b),
        _ if name.starts_with("bad-") => check_bad(name, b),
        "publish-q0-x2" => {
            let one = enc(&hello());
            assert_eq!(b.len(), 2 * one.len(), "{name}: two packets");
            let (first, n1) = codec::decode(b).unwrap().unwrap();
            assert_eq!((first, n1), (hello(), one.len()), "{name}: first");
            let (second, n2) = codec::decode(&b[n1..]).unwrap().unwrap();
            assert_eq!((second, n1 + n2), (hello(), b.len()), "{name}: second");
            assert_eq!([one.as_slice(), one.as_slice()].concat(), b, "{name}: encoded twice");

            // Arriving in one read, both reach the application.
            let mut io = ScriptedTransport::hanging_up();
            let mut client = connected::<64, 64>(&mut io, 0, None);
            io.push(b);
            let mut sink = VecSink::default();
            for i in 0..2 {
                let ev = client.wait_msg(&mut io, &mut sink, Mode::Check).unwrap();
                assert!(matches!(ev, Some(Event::Message(m)) if m.len == 5 && m.qos == QoS::AtMostOnce), "{name}: message {i}: {ev:?}");
            }
            assert_eq!(io.reads, 2, "{name}: CONNACK and both PUBLISH in one read each");
            let want = (String::from(TOPIC), b"hello".to_vec());
            assert_eq!(sink.messages, vec![want.clone(), want], "{name}: sink");
            assert_eq!(client.wait_msg(&mut io, &mut sink, Mode::Check), Err(driver::Error::Engine(EngineError::Closed)), "{name}: nothing more");
        }
        _ => {
            // The packet each vector stands for is written down once, for this file and the
            // core-test image alike (umqtt_testkit::codec_checks::expected).
            let p = expected(name).unwrap_or_else(|| panic!("vector {name} (line {}, {:?}) is not handled by tests/vectors.rs", v.line, v.meaning));
            assert_codec(name, b, &p);
            check_as_decoded(name, b, &p);
        }
    }
}

/// What the host checks beyond the bytes: the driver sends CONNECT and reads CONNACK as the
/// vectors say, and decoded filters and SUBACK codes read back as the packet holds them.
fn check_as_decoded(name: &str, b: &[u8], want: &Packet<'_>) {
    let decoded = codec::decode(b).unwrap().unwrap().0;
    match (want, decoded) {
        (Packet::Connect(_), _) => {
            // The driver sends exactly these bytes, in one write.
            let mut io = ScriptedTransport::hanging_up();
            io.push(&CONNACK_OK);
            let mut client = Client::<64, 64>::new();
            assert_eq!(client.connect(&mut io, &onenet_options(None)), Ok(false));
            assert_eq!(io.written(), vec![b.to_vec()], "{name}: driver writes");
        }
        (Packet::Connack(c), _) => {
            // And as the driver's connect result.
            let mut io = ScriptedTransport::hanging_up();
            io.push(b);
            let mut client = Client::<64, 64>::new();
            let r = client.connect(&mut io, &options(60, None));
            let want = match c.code {
                ConnectReturnCode::Accepted => Ok(c.session_present),
                code => Err(driver::Error::Engine(EngineError::Refused(code as u8))),
            };
            assert_eq!(r, want, "{name}: connect result");
            assert_eq!(client.is_connected(), want.is_ok(), "{name}: connected");
        }
        (Packet::Subscribe(w), Packet::Subscribe(s)) => {
            assert_eq!(s.iter().collect::<Vec<_>>(), w.iter().collect::<Vec<_>>(), "{name}: filters");
        }
        (Packet::Suback(w), Packet::Suback(s)) => {
            assert_eq!(s.codes().collect::<Vec<_>>(), w.codes().collect::<Vec<_>>(), "{name}: typed codes");
        }
        (Packet::Unsubscribe(w), Packet::Unsubscribe(u)) => {
            assert_eq!(u.iter().collect::<Vec<_>>(), w.iter().collect::<Vec<_>>(), "{name}: filters");
        }
        _ => {}
    }
}

#[test]
fn every_seed_vector() {
    let vectors = load_vectors();
    let mut seen = std::collections::HashSet::new();
    for v in &vectors {
        assert!(seen.insert(v.name.clone()), "vector {} appears twice", v.name);
        check(v);
    }
    // The file still holds every kind of vector the project relies on.
    for required in [
        "rl-0", "rl-127", "rl-128", "rl-16383", "rl-16384", "rl-2097151", "rl-2097152", "rl-268435455", "rl-bad-5byte",
        "connect-onenet", "connack-ok", "connack-sp", "connack-rc5", "subscribe-q0", "suback-q0", "suback-fail",
        "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "publish-q0", "publish-q0-x2",
    ] {
        assert!(seen.contains(required), "vector {required} missing from the file");
    }
    assert!(vectors.iter().filter(|v| v.name.starts_with("bad-")).count() >= 7, "malformed vectors missing");
}

#[test]
fn unknown_vector_name_is_refused() {
    // The dispatcher must not skip what it does not know.
    let v = Vector { name: "brand-new".into(), meaning: "?".into(), bytes: vec![0xC0, 0x00], line: 0 };
    assert!(std::panic::catch_unwind(|| check(&v)).is_err());
    let v = Vector { name: "bad-unheard-of".into(), meaning: "?".into(), bytes: vec![0x00, 0x00], line: 0 };
    assert!(std::panic::catch_unwind(|| check(&v)).is_err());
}

#[test]
fn remaining_length_limits() {
    let mut out = [0u8; 4];
    assert_eq!(varint::encode(codec::MAX_REMAINING_LENGTH + 1, &mut out), Err(Error::PacketTooLarge));
    assert_eq!(varint::encode(128, &mut out[..1]), Err(Error::BufferTooSmall));
    assert_eq!(varint::decode(&[]), Ok(None));
}

/// Beyond the seed file: one malformed packet for each rule of 3.1.1 the decoder enforces.
#[test]
fn more_malformed_packets() {
    let cases: &[(&str, &str, Error)] = &[
        ("PUBACK flags 0001", "41 02 00 01", Error::InvalidHeaderFlags),
        ("SUBSCRIBE flags 0000", "80 06 00 01 00 01 61 00", Error::InvalidHeaderFlags),
        ("UNSUBSCRIBE flags 0011", "A3 05 00 01 00 01 61", Error::InvalidHeaderFlags),
        ("PINGREQ flags 1000", "C8 00", Error::InvalidHeaderFlags),
        ("CONNACK flags 0100", "24 02 00 00", Error::InvalidHeaderFlags),
        ("DUP on QoS 0", "38 05 00 01 61 68 69", Error::DupWithQos0),
        ("QoS 3 with retain", "37 05 00 01 61 00 01", Error::InvalidQos),
        ("PUBLISH topic not UTF-8", "30 04 00 02 C3 28", Error::InvalidUtf8),
        ("PUBLISH topic encoded surrogate", "30 05 00 03 ED A0 80", Error::InvalidUtf8),
        ("PUBLISH topic with U+0000", "30 05 00 03 61 00 62", Error::NullCharacter),
        ("PUBLISH empty topic", "30 02 00 00", Error::EmptyTopic),
        ("PUBLISH topic with +", "30 05 00 03 61 2F 2B", Error::WildcardInTopicName),
        ("PUBLISH topic with #", "30 03 00 01 23", Error::WildcardInTopicName),
        ("PUBLISH QoS 1 packet id 0", "32 05 00 01 61 00 00", Error::ZeroPacketId),
        ("PUBLISH QoS 1 without packet id", "32 03 00 01 61", Error::LengthMismatch),
        ("PUBLISH no topic length", "30 01 00", Error::StringPastEnd),
        ("PUBACK packet id 0", "40 02 00 00", Error::ZeroPacketId),
        ("PUBREC packet id 0", "50 02 00 00", Error::ZeroPacketId),
        ("PUBREL packet id 0", "62 02 00 00", Error::ZeroPacketId),
        ("PUBCOMP packet id 0", "70 02 00 00", Error::ZeroPacketId),
        ("UNSUBACK packet id 0", "B0 02 00 00", Error::ZeroPacketId),
        ("SUBACK packet id 0", "90 03 00 00 00", Error::ZeroPacketId),
        ("PUBACK too long", "40 03 00 01 00", Error::LengthMismatch),
        ("PUBACK too short", "40 01 01", Error::LengthMismatch),
        ("DISCONNECT with a body", "E0 01 00", Error::LengthMismatch),
        ("SUBACK without codes", "90 02 00 01", Error::LengthMismatch),
        ("SUBACK code 3", "90 03 00 01 03", Error::InvalidSubackCode),
        ("SUBACK code 0x81", "90 03 00 01 81", Error::InvalidSubackCode),
        ("CONNACK reserved flag", "20 02 02 00", Error::InvalidConnackFlags),
        ("CONNACK code 6", "20 02 00 06", Error::InvalidConnackCode),
        ("CONNACK session present on refusal", "20 02 01 05", Error::SessionPresentOnRefusal),
        ("SUBSCRIBE packet id 0", "82 06 00 00 00 01 61 00", Error::ZeroPacketId),
        ("SUBSCRIBE no filters", "82 02 00 01", Error::NoTopicFilters),
        ("SUBSCRIBE requested QoS 3", "82 06 00 01 00 01 61 03", Error::InvalidSubscribeOptions),
        ("SUBSCRIBE reserved option bits", "82 06 00 01 00 01 61 40", Error::InvalidSubscribeOptions),
        ("SUBSCRIBE missing QoS byte", "82 05 00 01 00 01 61", Error::LengthMismatch),
        ("SUBSCRIBE # not last", "82 08 00 01 00 03 23 2F 61 00", Error::InvalidTopicFilter),
        ("SUBSCRIBE # inside a level", "82 07 00 01 00 02 61 23 00", Error::InvalidTopicFilter),
        ("SUBSCRIBE + inside a level", "82 07 00 01 00 02 2B 61 00", Error::InvalidTopicFilter),
        ("SUBSCRIBE empty filter", "82 05 00 01 00 00 00", Error::EmptyTopic),
        ("UNSUBSCRIBE no filters", "A2 02 00 01", Error::NoTopicFilters),
        ("UNSUBSCRIBE bad filter", "A2 06 00 01 00 02 61 2B", Error::InvalidTopicFilter),
        ("CONNECT protocol MQIsdp", "10 10 00 06 4D 51 49 73 64 70 03 02 00 3C 00 02 69 64", Error::InvalidProtocolName),
        ("CONNECT level 3", "10 0E 00 04 4D 51 54 54 03 02 00 3C 00 02 69 64", Error::UnsupportedProtocolLevel),
        ("CONNECT level 5", "10 0E 00 04 4D 51 54 54 05 02 00 3C 00 02 69 64", Error::UnsupportedProtocolLevel),
        ("CONNECT reserved flag", "10 0E 00 04 4D 51 54 54 04 03 00 3C 00 02 69 64", Error::InvalidConnectFlags),
        ("CONNECT password without user", "10 12 00 04 4D 51 54 54 04 42 00 3C 00 02 69 64 00 02 70 77", Error::InvalidConnectFlags),
        ("CONNECT will QoS without will", "10 0E 00 04 4D 51 54 54 04 0A 00 3C 00 02 69 64", Error::InvalidConnectFlags),
        ("CONNECT will retain without will", "10 0E 00 04 4D 51 54 54 04 22 00 3C 00 02 69 64", Error::InvalidConnectFlags),
        ("CONNECT will QoS 3", "10 13 00 04 4D 51 54 54 04 1E 00 3C 00 02 69 64 00 01 77 00 00", Error::InvalidQos),
        ("CONNECT will topic with #", "10 13 00 04 4D 51 54 54 04 06 00 3C 00 02 69 64 00 01 23 00 00", Error::WildcardInTopicName),
        ("CONNECT user name past the end", "10 12 00 04 4D 51 54 54 04 82 00 3C 00 02 69 64 00 09 75 75", Error::StringPastEnd),
        ("CONNECT trailing byte", "10 0F 00 04 4D 51 54 54 04 02 00 3C 00 02 69 64 00", Error::LengthMismatch),
        ("remaining length 5 bytes on PINGRESP", "D0 80 80 80 80 00", Error::RemainingLengthTooLong),
    ];
    for (what, bytes, want) in cases {
        let b = h(bytes);
        assert_eq!(codec::decode(&b).map(|o| o.map(|(_, n)| n)), Err(*want), "{what}: {bytes}");
    }
    // And the well-formed neighbours of some of them decode.
    for ok in [
        "32 05 00 01 61 00 01",
        "30 05 00 03 61 2F 62",
        "82 08 00 01 00 03 2B 2F 23 02",
        "82 06 00 01 00 01 23 01",
        "A2 05 00 01 00 01 2B",
        "10 0C 00 04 4D 51 54 54 04 00 00 3C 00 00",
        "10 13 00 04 4D 51 54 54 04 36 00 3C 00 02 69 64 00 01 77 00 00",
        "90 06 00 01 00 01 02 80",
        "30 03 00 01 61",
    ] {
        let b = h(ok);
        let r = codec::decode(&b);
        let mut rest = b.clone();
        if let Ok(Some((p, n))) = r {
            assert_eq!(n, b.len(), "{ok}");
            assert_eq!(enc(&p), b, "{ok}: re-encoded");
            rest.clear();
        }
        assert!(rest.is_empty(), "{ok}: {r:?}");
    }
}

/// The encoder refuses what the decoder would refuse.
#[test]
fn encoder_refuses_invalid_packets() {
    let id = pid(1);
    let mut out = [0u8; 64];
    let bad_subs = [Subscription { filter: "a/#/b", qos: QoS::AtMostOnce }];
    let no_subs: [Subscription<'_>; 0] = [];
    let cases: Vec<(Packet<'_>, Error)> = vec![
        (Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: "a/+", pid: None, payload: b"" }), Error::WildcardInTopicName),
        (Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: "", pid: None, payload: b"" }), Error::EmptyTopic),
        (Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: "a\0", pid: None, payload: b"" }), Error::NullCharacter),
        (Packet::Unsubscribe(Unsubscribe { pid: id, filters: Filters::List(&["\0/#"]) }), Error::NullCharacter),
        (Packet::Publish(Publish { dup: false, qos: QoS::AtLeastOnce, retain: false, topic: "a", pid: None, payload: b"" }), Error::ZeroPacketId),
        (Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: "a", pid: Some(id), payload: b"" }), Error::ZeroPacketId),
        (Packet::Publish(Publish { dup: true, qos: QoS::AtMostOnce, retain: false, topic: "a", pid: None, payload: b"" }), Error::DupWithQos0),
        (Packet::Subscribe(Subscribe { pid: id, filters: Filters::List(&bad_subs) }), Error::InvalidTopicFilter),
        (Packet::Subscribe(Subscribe { pid: id, filters: Filters::List(&no_subs) }), Error::NoTopicFilters),
        (Packet::Unsubscribe(Unsubscribe { pid: id, filters: Filters::List(&["+a"]) }), Error::InvalidTopicFilter),
        (Packet::Suback(Suback { pid: id, codes: &[] }), Error::LengthMismatch),
        (Packet::Suback(Suback { pid: id, codes: &[3] }), Error::InvalidSubackCode),
        (
            Packet::Connect(Connect { client_id: "c", keepalive: 0, clean_session: true, will: None, username: None, password: Some(b"p") }),
            Error::InvalidConnectFlags,
        ),
    ];
    for (p, want) in cases {
        assert_eq!(p.encode(&mut out), Err(want), "{p:?}");
        assert_eq!(p.encoded_len(), Err(want), "{p:?}");
    }
    let long = "x".repeat(65_536);
    let p = Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: &long, pid: None, payload: b"" });
    assert_eq!(p.encoded_len(), Err(Error::StringTooLong));
}

/// The control packet decoder takes every packet a broker sends but PUBLISH, which it refuses
/// (the connection streams PUBLISH instead); decode_from_broker takes PUBLISH too.
#[test]
fn the_control_decoder_refuses_publish_only() {
    let publish = [0x32, 0x06, 0x00, 0x01, b'a', 0x00, 0x07, b'x'];
    let header = codec::parse_fixed_header(&publish).unwrap().unwrap();
    let body = &publish[header.header_len..];
    assert_eq!(codec::decode_control_from_broker(header, body), Err(Error::PublishNotControl));
    let Ok(Packet::Publish(p)) = codec::decode_from_broker(header, body) else { panic!("PUBLISH not decoded") };
    assert_eq!((p.topic, p.pid.map(|p| p.get()), p.payload), ("a", Some(7), &b"x"[..]));
    for bytes in [&[0x20, 2, 0, 0][..], &[0x40, 2, 0, 1], &[0x90, 3, 0, 1, 0], &[0xD0, 0]] {
        let header = codec::parse_fixed_header(bytes).unwrap().unwrap();
        let body = &bytes[header.header_len..];
        assert_eq!(codec::decode_control_from_broker(header, body), codec::decode_from_broker(header, body), "{bytes:02x?}");
        assert!(codec::decode_control_from_broker(header, body).is_ok(), "{bytes:02x?}");
    }
}
