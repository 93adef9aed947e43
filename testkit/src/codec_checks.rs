//! The codec on the target: every shared vector, a round trip of every packet
//! type, and the 3.1.1 validation rules.

use crate::check::{Check, Harness, Hex};
use crate::{ensure, ensure_eq};
use umqtt_native::codec::{
    self, topic, varint, Connack, Connect, ConnectReturnCode, Error, Filters, Packet, PacketId, Publish, QoS, Suback, SubackCode,
    Subscribe, Subscription, Unsubscribe, Will,
};

/// One line of the shared seed vectors (`name | meaning | hex`), compiled in by build.rs.
pub struct Vector {
    /// The vector's name, e.g. `connack-ok`.
    pub name: &'static str,
    /// What the bytes are, in words.
    #[allow(dead_code)]
    pub meaning: &'static str,
    /// The bytes on the wire.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/vectors.rs"));

/// The bytes of the vector called `name` (empty when there is none: the check using it fails).
pub fn vector(name: &str) -> &'static [u8] {
    VECTORS.iter().find(|v| v.name == name).map_or(&[], |v| v.bytes)
}

/// A packet id the checks spell as a number (0 stops the build: it is no packet id).
pub const fn pid(n: u16) -> PacketId {
    match PacketId::new(n) {
        Some(p) => p,
        None => panic!("packet id 0"),
    }
}

const APP_Q0: &[Subscription<'static>] = &[Subscription { filter: "app_topic", qos: QoS::AtMostOnce }];
const APP_Q1: &[Subscription<'static>] = &[Subscription { filter: "app_topic", qos: QoS::AtLeastOnce }];
const APP: &[&str] = &["app_topic"];

/// What each named vector means, as a packet (None: not a single packet). The host's
/// tests/vectors.rs checks the vectors against the same expectations.
pub fn expected(name: &str) -> Option<Packet<'static>> {
    let connack = |session_present: bool, code: ConnectReturnCode| Some(Packet::Connack(Connack { session_present, code }));
    match name {
        "connect-onenet" => Some(Packet::Connect(Connect {
            client_id: "692128707",
            keepalive: 120,
            clean_session: true,
            will: None,
            username: Some("406707"),
            password: Some(b"123455"),
        })),
        "connack-sp" => connack(true, ConnectReturnCode::Accepted),
        "connack-ok" => connack(false, ConnectReturnCode::Accepted),
        "connack-rc5" => connack(false, ConnectReturnCode::NotAuthorized),
        "subscribe-q0" => Some(Packet::Subscribe(Subscribe { pid: pid(0x0A), filters: Filters::List(APP_Q0) })),
        "subscribe-q1" => Some(Packet::Subscribe(Subscribe { pid: pid(0x0B), filters: Filters::List(APP_Q1) })),
        "suback-q0" => Some(Packet::Suback(Suback { pid: pid(0x0A), codes: &[0] })),
        "suback-q1" => Some(Packet::Suback(Suback { pid: pid(0x0B), codes: &[1] })),
        "suback-fail" => Some(Packet::Suback(Suback { pid: pid(0x0B), codes: &[0x80] })),
        "unsubscribe" => Some(Packet::Unsubscribe(Unsubscribe { pid: pid(0x0C), filters: Filters::List(APP) })),
        "unsuback" => Some(Packet::Unsuback(pid(0x0C))),
        "pingreq" => Some(Packet::Pingreq),
        "pingresp" => Some(Packet::Pingresp),
        "disconnect" => Some(Packet::Disconnect),
        "publish-q0" => Some(hello()),
        _ => None,
    }
}

/// The `publish-q0` vector's packet: "hello" to `app_topic` at QoS 0.
pub fn hello() -> Packet<'static> {
    Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: "app_topic", pid: None, payload: b"hello" })
}

/// The error each malformed vector (`bad-*`) must give (None: not a malformed vector).
pub fn expected_error(name: &str) -> Option<Error> {
    Some(match name {
        "bad-type0" | "bad-type15" => Error::ReservedPacketType,
        "bad-pubrel" => Error::InvalidHeaderFlags,
        "bad-qos3" => Error::InvalidQos,
        "bad-pingresp" | "bad-connack" => Error::LengthMismatch,
        "bad-topic-len" => Error::StringPastEnd,
        _ => return None,
    })
}

/// Runs the codec checks: every shared vector, round trips, validation rules.
pub fn run<W: core::fmt::Write>(h: &mut Harness<W>) {
    for v in VECTORS {
        h.check("vector", v.name, || check_vector(v));
    }
    for (name, packet) in roundtrip_packets() {
        h.check("roundtrip", name, || roundtrip(&packet));
    }
    h.check("roundtrip", "publish-20000B", || {
        let mut payload = [0u8; 20_000];
        for (i, b) in payload.iter_mut().enumerate() {
            *b = (i * 7 + i / 251) as u8;
        }
        let p = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "big/one",
            pid: Some(pid(77)),
            payload: &payload,
        });
        roundtrip(&p)
    });
    h.check("reject", "header-flags", reject_header_flags);
    h.check("reject", "remaining-length", reject_remaining_length);
    h.check("reject", "strings", reject_strings);
    h.check("reject", "publish-topic", reject_publish_topic);
    h.check("reject", "topic-filters", reject_filters);
    h.check("reject", "packet-id-0", reject_pid0);
    h.check("reject", "connect", reject_connect);
    h.check("typed", "connack-codes", typed_connack);
    h.check("typed", "suback-codes", typed_suback);
    h.check("encode", "refuses-invalid", encode_refuses);
    h.check("topic", "matches", topic_matches);
}

fn check_vector(v: &Vector) -> Check {
    let b = v.bytes;
    if let Some(want) = expected_error(v.name) {
        ensure_eq!(codec::decode(b).map(|r| r.map(|(_, n)| n)), Err(want), "decode");
        return Ok(());
    }
    if v.name == "rl-bad-5byte" {
        ensure_eq!(varint::decode(b), Err(Error::RemainingLengthTooLong), "varint::decode");
        let mut packet = [0u8; 8];
        packet[0] = 0x30;
        packet[1..1 + b.len()].copy_from_slice(b);
        ensure_eq!(codec::decode(&packet[..1 + b.len()]).map(|r| r.is_some()), Err(Error::RemainingLengthTooLong), "decode as a PUBLISH");
        return Ok(());
    }
    if let Some(value) = v.name.strip_prefix("rl-") {
        let value: usize = value.parse().map_err(|_| crate::check::Fail::new(format_args!("vector name has no value")))?;
        ensure_eq!(varint::decode(b), Ok(Some((value, b.len()))), "varint::decode");
        for k in 0..b.len() {
            ensure_eq!(varint::decode(&b[..k]), Ok(None), "varint::decode of a prefix");
        }
        ensure_eq!(varint::encoded_len(value), b.len(), "varint::encoded_len");
        let mut out = [0u8; 4];
        let n = varint::encode(value, &mut out);
        ensure_eq!(n, Ok(b.len()), "varint::encode");
        ensure_eq!(Hex(&out[..b.len()]), Hex(b), "varint::encode bytes");
        return Ok(());
    }
    if v.name == "publish-q0-x2" {
        let (first, n1) = codec::decode(b).ok().flatten().ok_or_else(|| fail("first packet not decoded"))?;
        ensure_eq!(first, hello(), "first packet");
        let (second, n2) = codec::decode(&b[n1..]).ok().flatten().ok_or_else(|| fail("second packet not decoded"))?;
        ensure_eq!(second, hello(), "second packet");
        ensure_eq!(n1 + n2, b.len(), "bytes used");
        return Ok(());
    }
    let want = expected(v.name).ok_or_else(|| fail("no expectation for this vector in qemu/core-test"))?;
    let got = codec::decode(b);
    ensure_eq!(got, Ok(Some((want, b.len()))), "decode");
    let mut out = [0u8; 64];
    let n = want.encode(&mut out).map_err(|e| fail_fmt(format_args!("encode: {e:?}")))?;
    ensure_eq!(Hex(&out[..n]), Hex(b), "encode");
    ensure_eq!(want.encoded_len(), Ok(b.len()), "encoded_len");
    Ok(())
}

fn fail(why: &str) -> crate::check::Fail {
    crate::check::Fail::new(format_args!("{why}"))
}

fn fail_fmt(args: core::fmt::Arguments<'_>) -> crate::check::Fail {
    crate::check::Fail::new(args)
}

const SUBS3: &[Subscription<'static>] = &[
    Subscription { filter: "a/b", qos: QoS::AtMostOnce },
    Subscription { filter: "+/x/#", qos: QoS::AtLeastOnce },
    Subscription { filter: "#", qos: QoS::ExactlyOnce },
];
const UNSUBS2: &[&str] = &["a/+", "sensors/#"];
const PAYLOAD_200: &[u8] = &[0x5A; 200];

fn roundtrip_packets() -> [(&'static str, Packet<'static>); 25] {
    let publish = |dup: bool, qos: QoS, retain: bool, topic: &'static str, pid: Option<PacketId>, payload: &'static [u8]| {
        Packet::Publish(Publish { dup, qos, retain, topic, pid, payload })
    };
    let connack = |session_present: bool, code: ConnectReturnCode| Packet::Connack(Connack { session_present, code });
    [
        (
            "connect-minimal",
            Packet::Connect(Connect { client_id: "", keepalive: 0, clean_session: true, will: None, username: None, password: None }),
        ),
        (
            "connect-full",
            Packet::Connect(Connect {
                client_id: "device-\u{e9}\u{4e2d}",
                keepalive: 65535,
                clean_session: false,
                will: Some(Will { topic: "devices/1/status", message: b"offline\x00\xff", qos: QoS::AtLeastOnce, retain: true }),
                username: Some("user"),
                password: Some(&[0, 1, 2, 0xff]),
            }),
        ),
        (
            "connect-will-qos2",
            Packet::Connect(Connect {
                client_id: "c",
                keepalive: 30,
                clean_session: true,
                will: Some(Will { topic: "w", message: b"", qos: QoS::ExactlyOnce, retain: false }),
                username: Some("u"),
                password: None,
            }),
        ),
        ("connack-accepted-sp", connack(true, ConnectReturnCode::Accepted)),
        ("connack-rc1", connack(false, ConnectReturnCode::UnacceptableProtocolVersion)),
        ("connack-rc2", connack(false, ConnectReturnCode::IdentifierRejected)),
        ("connack-rc3", connack(false, ConnectReturnCode::ServerUnavailable)),
        ("connack-rc4", connack(false, ConnectReturnCode::BadUserNameOrPassword)),
        ("connack-rc5", connack(false, ConnectReturnCode::NotAuthorized)),
        ("publish-q0-retain", publish(false, QoS::AtMostOnce, true, "a/b", None, b"x")),
        ("publish-q0-empty", publish(false, QoS::AtMostOnce, false, "t", None, b"")),
        ("publish-q1-dup", publish(true, QoS::AtLeastOnce, false, "a/b/c", Some(pid(1)), b"payload")),
        ("publish-q2-200B", publish(false, QoS::ExactlyOnce, true, "$SYS/x", Some(pid(65535)), PAYLOAD_200)),
        ("puback", Packet::Puback(pid(1))),
        ("pubrec", Packet::Pubrec(pid(0x1234))),
        ("pubrel", Packet::Pubrel(pid(0xFFFF))),
        ("pubcomp", Packet::Pubcomp(pid(0x8000))),
        ("subscribe", Packet::Subscribe(Subscribe { pid: pid(2), filters: Filters::List(SUBS3) })),
        ("suback", Packet::Suback(Suback { pid: pid(2), codes: &[0, 1, 2, 0x80] })),
        ("unsubscribe", Packet::Unsubscribe(Unsubscribe { pid: pid(3), filters: Filters::List(UNSUBS2) })),
        ("unsuback", Packet::Unsuback(pid(3))),
        ("pingreq", Packet::Pingreq),
        ("pingresp", Packet::Pingresp),
        ("disconnect", Packet::Disconnect),
        ("publish-q1-long-topic", publish(false, QoS::AtLeastOnce, false, TOPIC_300, Some(pid(9)), b"p")),
    ]
}

const TOPIC_300: &str = "0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123";

/// Encode, decode back, and check every shorter prefix reads as "incomplete".
fn roundtrip(p: &Packet<'_>) -> Check {
    let mut buf = [0u8; 20_100];
    let len = p.encoded_len().map_err(|e| fail_fmt(format_args!("encoded_len: {e:?}")))?;
    ensure!(len < buf.len() - 1, "test buffer too small for {len} bytes");
    ensure_eq!(p.encode(&mut buf[..len - 1]), Err(Error::BufferTooSmall), "encode into a buffer one byte short");
    let n = p.encode(&mut buf).map_err(|e| fail_fmt(format_args!("encode: {e:?}")))?;
    ensure_eq!(n, len, "encode length vs encoded_len");
    ensure_eq!(buf[0], p.first_byte(), "first byte");
    ensure_eq!(buf[0] >> 4, p.packet_type() as u8, "packet type nibble");
    // Trailing bytes after the packet are left alone.
    buf[n] = 0xE0;
    let back = codec::decode(&buf[..n + 1]);
    ensure_eq!(back, Ok(Some((*p, n))), "decode");
    let step = if n > 1000 { 97 } else { 1 };
    for k in (0..n).step_by(step) {
        match codec::decode(&buf[..k]) {
            Ok(None) => {}
            other => return Err(fail_fmt(format_args!("prefix of {k}/{n} bytes: {other:?}, want Ok(None)"))),
        }
    }
    Ok(())
}

fn expect_err(what: &str, bytes: &[u8], want: Error) -> Check {
    match codec::decode(bytes) {
        Err(e) if e == want => Ok(()),
        other => Err(fail_fmt(format_args!("{what} {:?}: got {:?}, want Err({want:?})", Hex(bytes), other.map(|r| r.map(|(_, n)| n))))),
    }
}

fn reject_header_flags() -> Check {
    for kind in 1u8..=14 {
        if kind == 3 {
            continue; // PUBLISH flags are dup/qos/retain
        }
        let required = if matches!(kind, 6 | 8 | 10) { 0b0010 } else { 0 };
        for flags in 0u8..16 {
            if flags == required {
                continue;
            }
            expect_err("flags", &[kind << 4 | flags, 0], Error::InvalidHeaderFlags)?;
        }
    }
    expect_err("publish dup at qos 0", &[0x38, 0x03, 0x00, 0x01, 0x61], Error::DupWithQos0)?;
    expect_err("publish qos 3", &[0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], Error::InvalidQos)?;
    expect_err("reserved type 0", &[0x00, 0x00], Error::ReservedPacketType)?;
    expect_err("reserved type 15", &[0xF0, 0x00], Error::ReservedPacketType)
}

fn reject_remaining_length() -> Check {
    expect_err("5 length bytes", &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], Error::RemainingLengthTooLong)?;
    ensure_eq!(codec::decode(&[0x30, 0xFF, 0xFF, 0xFF]).map(|r| r.is_none()), Ok(true), "3 continuation bytes: incomplete");
    expect_err("PINGREQ with a body", &[0xC0, 0x01, 0x00], Error::LengthMismatch)?;
    expect_err("PUBACK of 3 bytes", &[0x40, 0x03, 0x00, 0x01, 0x00], Error::LengthMismatch)?;
    expect_err("PUBACK of 1 byte", &[0x40, 0x01, 0x01], Error::LengthMismatch)?;
    expect_err("SUBACK without codes", &[0x90, 0x02, 0x00, 0x01], Error::LengthMismatch)
}

fn reject_strings() -> Check {
    // CONNECT whose client id claims 5 bytes but 1 is left.
    expect_err(
        "client id past end",
        &[0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x05, b'a'],
        Error::StringPastEnd,
    )?;
    expect_err("topic length byte missing", &[0x30, 0x01, 0x00], Error::StringPastEnd)?;
    expect_err("invalid UTF-8 topic", &[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], Error::InvalidUtf8)?;
    expect_err("UTF-16 surrogate topic", &[0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], Error::InvalidUtf8)?;
    expect_err("U+0000 in topic", &[0x30, 0x04, 0x00, 0x02, 0x61, 0x00], Error::NullCharacter)?;
    expect_err("U+0000 in filter", &[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0x00, 0x61, 0x00], Error::NullCharacter)
}

fn reject_publish_topic() -> Check {
    expect_err("'+' in topic", &[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'], Error::WildcardInTopicName)?;
    expect_err("'#' in topic", &[0x30, 0x03, 0x00, 0x01, b'#'], Error::WildcardInTopicName)?;
    expect_err("empty topic", &[0x30, 0x02, 0x00, 0x00], Error::EmptyTopic)
}

/// A SUBSCRIBE with one filter at QoS 0, pid 1.
fn subscribe_bytes<'b>(filter: &[u8], buf: &'b mut [u8; 64]) -> &'b [u8] {
    let n = filter.len();
    buf[0] = 0x82;
    buf[1] = (2 + 2 + n + 1) as u8;
    buf[2..4].copy_from_slice(&[0, 1]);
    buf[4..6].copy_from_slice(&(n as u16).to_be_bytes());
    buf[6..6 + n].copy_from_slice(filter);
    buf[6 + n] = 0;
    &buf[..7 + n]
}

fn reject_filters() -> Check {
    let mut buf = [0u8; 64];
    for bad in ["a/#/b", "a#", "#/", "a/b+", "+a", "a/++", "##"] {
        expect_err(bad, subscribe_bytes(bad.as_bytes(), &mut buf), Error::InvalidTopicFilter)?;
        ensure!(topic::check_filter(bad).is_err(), "check_filter accepts {bad:?}");
    }
    expect_err("empty filter", subscribe_bytes(b"", &mut buf), Error::EmptyTopic)?;
    for good in ["#", "+", "+/+", "a/+/c", "a/#", "/", "a//b", "+/x/#", "$SYS/#"] {
        let bytes = subscribe_bytes(good.as_bytes(), &mut buf);
        ensure!(
            matches!(codec::decode(bytes), Ok(Some(_))),
            "valid filter {good:?} rejected: {:?}",
            codec::decode(bytes).map(|r| r.is_some())
        );
    }
    // Options byte 3 (QoS 3) and a SUBSCRIBE without any filter.
    expect_err("subscribe qos 3", &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03], Error::InvalidSubscribeOptions)?;
    expect_err("subscribe without filters", &[0x82, 0x02, 0x00, 0x01], Error::NoTopicFilters)?;
    expect_err("unsubscribe without filters", &[0xA2, 0x02, 0x00, 0x01], Error::NoTopicFilters)?;
    expect_err("unsubscribe '#' not last", &[0xA2, 0x07, 0x00, 0x01, 0x00, 0x03, b'#', b'/', b'a'], Error::InvalidTopicFilter)
}

fn reject_pid0() -> Check {
    for first in [0x40, 0x50, 0x62, 0x70, 0xB0] {
        expect_err("ack with packet id 0", &[first, 0x02, 0x00, 0x00], Error::ZeroPacketId)?;
    }
    expect_err("publish qos1 pid 0", &[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00], Error::ZeroPacketId)?;
    expect_err("publish qos2 pid 0", &[0x34, 0x05, 0x00, 0x01, b'a', 0x00, 0x00], Error::ZeroPacketId)?;
    expect_err("subscribe pid 0", &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00], Error::ZeroPacketId)?;
    expect_err("suback pid 0", &[0x90, 0x03, 0x00, 0x00, 0x00], Error::ZeroPacketId)?;
    expect_err("unsubscribe pid 0", &[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'], Error::ZeroPacketId)
}

fn reject_connect() -> Check {
    let mut c = [0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00];
    ensure!(matches!(codec::decode(&c), Ok(Some((Packet::Connect(_), 14)))), "valid CONNECT rejected");
    c[7] = b'X';
    expect_err("protocol name", &c, Error::InvalidProtocolName)?;
    c[7] = b'T';
    c[8] = 3;
    expect_err("protocol level 3", &c, Error::UnsupportedProtocolLevel)?;
    c[8] = 4;
    for flags in [0x03, 0x42, 0x0A, 0x22] {
        // reserved bit, password without user, will QoS / retain without will
        c[9] = flags;
        expect_err("connect flags", &c, Error::InvalidConnectFlags)?;
    }
    Ok(())
}

fn typed_connack() -> Check {
    let codes = [
        ConnectReturnCode::Accepted,
        ConnectReturnCode::UnacceptableProtocolVersion,
        ConnectReturnCode::IdentifierRejected,
        ConnectReturnCode::ServerUnavailable,
        ConnectReturnCode::BadUserNameOrPassword,
        ConnectReturnCode::NotAuthorized,
    ];
    for (rc, want) in codes.iter().enumerate() {
        let bytes = [0x20, 0x02, 0x00, rc as u8];
        let got = codec::decode(&bytes);
        ensure_eq!(got, Ok(Some((Packet::Connack(Connack { session_present: false, code: *want }), 4))), "CONNACK");
    }
    expect_err("connack rc 6", &[0x20, 0x02, 0x00, 0x06], Error::InvalidConnackCode)?;
    expect_err("connack flags 2", &[0x20, 0x02, 0x02, 0x00], Error::InvalidConnackFlags)?;
    expect_err("session present with rc 5", &[0x20, 0x02, 0x01, 0x05], Error::SessionPresentOnRefusal)
}

fn typed_suback() -> Check {
    let Ok(Some((Packet::Suback(s), 7))) = codec::decode(&[0x90, 0x05, 0x00, 0x01, 0x00, 0x80, 0x02]) else {
        return Err(fail("SUBACK with 3 codes not decoded"));
    };
    let mut it = s.codes();
    ensure_eq!(it.next(), Some(SubackCode::Granted(QoS::AtMostOnce)), "code 0");
    ensure_eq!(it.next(), Some(SubackCode::Failure), "code 0x80");
    ensure_eq!(it.next(), Some(SubackCode::Granted(QoS::ExactlyOnce)), "code 2");
    ensure_eq!(it.next(), None, "end");
    expect_err("suback code 3", &[0x90, 0x03, 0x00, 0x01, 0x03], Error::InvalidSubackCode)?;
    expect_err("suback code 0x81", &[0x90, 0x03, 0x00, 0x01, 0x81], Error::InvalidSubackCode)
}

fn encode_refuses() -> Check {
    let mut out = [0u8; 64];
    let publish = |topic: &'static str, qos: QoS, pid: Option<PacketId>, dup: bool| {
        Packet::Publish(Publish { dup, qos, retain: false, topic, pid, payload: b"" })
    };
    ensure!(publish("a/+", QoS::AtMostOnce, None, false).encode(&mut out).is_err(), "PUBLISH to a/+ encoded");
    ensure!(publish("#", QoS::AtMostOnce, None, false).encode(&mut out).is_err(), "PUBLISH to # encoded");
    ensure!(publish("", QoS::AtMostOnce, None, false).encode(&mut out).is_err(), "PUBLISH to an empty topic encoded");
    ensure!(publish("a", QoS::AtLeastOnce, None, false).encode(&mut out).is_err(), "QoS 1 PUBLISH without packet id encoded");
    ensure!(publish("a", QoS::AtMostOnce, Some(pid(1)), false).encode(&mut out).is_err(), "QoS 0 PUBLISH with packet id encoded");
    ensure!(publish("a", QoS::AtMostOnce, None, true).encode(&mut out).is_err(), "QoS 0 PUBLISH with DUP encoded");
    const BAD: &[Subscription<'static>] = &[Subscription { filter: "a#", qos: QoS::AtMostOnce }];
    let s = Packet::Subscribe(Subscribe { pid: pid(1), filters: Filters::List(BAD) });
    ensure_eq!(s.encode(&mut out), Err(Error::InvalidTopicFilter), "SUBSCRIBE a#");
    let none = Packet::Subscribe(Subscribe { pid: pid(1), filters: Filters::List(&[]) });
    ensure_eq!(none.encode(&mut out), Err(Error::NoTopicFilters), "SUBSCRIBE without filters");
    let c =
        Packet::Connect(Connect { client_id: "x", keepalive: 0, clean_session: true, will: None, username: None, password: Some(b"p") });
    ensure_eq!(c.encode(&mut out), Err(Error::InvalidConnectFlags), "CONNECT with password and no user");
    Ok(())
}

fn topic_matches() -> Check {
    let cases = [
        ("a/+/c", "a/b/c", true),
        ("a/#", "a", true),
        ("a/#", "a/b/c", true),
        ("#", "x/y", true),
        ("+/+", "/x", true),
        ("a/+", "a/b/c", false),
        ("a/b", "a/b/c", false),
        ("#", "$SYS/load", false),
        ("+/load", "$SYS/load", false),
        ("$SYS/#", "$SYS/load", true),
    ];
    for (filter, name, want) in cases {
        ensure_eq!(topic::matches(filter, name), want, filter);
    }
    Ok(())
}
