//! Property tests: every one of the 14 packet types with valid fields survives
//! encode -> decode unchanged, and decode uses exactly the encoded bytes.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use umqtt_native::codec::{
    self, Connack, Connect, ConnectReturnCode, Filters, Packet, PacketId, PacketType, Publish, QoS, Suback, Subscribe,
    Subscription, Unsubscribe, Will,
};

/// Encodes, decodes and compares; also checks that no proper prefix decodes and that
/// trailing bytes are left alone.
fn check_roundtrip(p: &Packet<'_>) -> Result<(), TestCaseError> {
    let len = p.encoded_len().map_err(|e| TestCaseError::fail(format!("encoded_len: {e:?}")))?;
    let mut buf = vec![0u8; len + 3];
    let n = p.encode(&mut buf).map_err(|e| TestCaseError::fail(format!("encode: {e:?}")))?;
    prop_assert_eq!(n, len, "encode wrote encoded_len bytes");
    // Trailing bytes (the start of a next packet) do not change the result.
    buf[len..].copy_from_slice(&[0xC0, 0x00, 0xD0]);
    let (decoded, used) = codec::decode(&buf).map_err(|e| TestCaseError::fail(format!("decode: {e:?}")))?.ok_or_else(|| TestCaseError::fail("incomplete"))?;
    prop_assert_eq!(used, len, "bytes_used == encoded_len");
    prop_assert_eq!(&decoded, p);
    prop_assert_eq!(decoded.packet_type(), p.packet_type());
    prop_assert_eq!(buf[0], p.first_byte());
    // Re-encoding the decoded (wire-form) packet gives the same bytes.
    let mut again = vec![0u8; len];
    prop_assert_eq!(decoded.encode(&mut again), Ok(len));
    prop_assert_eq!(&again[..], &buf[..len]);
    // Header and body agree with the one-shot decoder.
    let header = codec::parse_fixed_header(&buf[..len]).unwrap().unwrap();
    prop_assert_eq!(header.packet_len(), len);
    prop_assert_eq!(codec::decode_body(header, &buf[header.header_len..len]), Ok(decoded));
    // The encoder for senders that checked the rules themselves writes the same bytes.
    let mut out = VecOutput(Vec::new());
    prop_assert_eq!(p.write_checked(&mut out), Ok(len));
    prop_assert_eq!(&out.0[..], &buf[..len]);
    // Cut anywhere: incomplete, never an error or a different packet.
    for cut in [0, 1, len / 2, len - 1] {
        if cut < len {
            prop_assert_eq!(codec::decode(&buf[..cut]), Ok(None), "prefix of {} bytes", cut);
        }
    }
    Ok(())
}

/// An encoder output that keeps every piece.
struct VecOutput(Vec<u8>);

impl codec::Output for VecOutput {
    type Error = ();
    fn put(&mut self, piece: &[u8]) -> Result<(), ()> {
        self.0.extend_from_slice(piece);
        Ok(())
    }
}

#[test]
fn only_write_checks_the_rules_write_checked_leaves_them_to_its_caller() {
    let p = Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: "a/+", pid: None, payload: b"x" });
    assert_eq!(p.check_rules(), Err(codec::Error::WildcardInTopicName));
    assert_eq!(p.write(&mut VecOutput(Vec::new())), Err(codec::WriteError::Invalid(codec::Error::WildcardInTopicName)));
    let mut out = VecOutput(Vec::new());
    assert_eq!(p.write_checked(&mut out), Ok(8));
    assert_eq!(out.0, b"\x30\x06\x00\x03a/+x");
    // Lengths stay checked: a topic past 65,535 bytes.
    let long = "t".repeat(65_536);
    let p = Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic: &long, pid: None, payload: b"" });
    assert_eq!(p.write_checked(&mut VecOutput(Vec::new())), Err(codec::WriteError::Invalid(codec::Error::StringTooLong)));
}

// ---- strategies -----------------------------------------------------------

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    prop_oneof![Just(1u16), Just(u16::MAX), 1..=u16::MAX].prop_map(|v| PacketId::new(v).unwrap())
}

/// Any UTF-8 text MQTT allows (no U+0000), including multi-byte characters.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\x00]{{0,{max}}}")).unwrap()
}

/// A topic name: not empty, no wildcards.
fn topic_name() -> BoxedStrategy<String> {
    prop_oneof![
        proptest::string::string_regex("[^\\x00+#]{1,40}").unwrap(),
        Just("a/b/c".to_string()),
        Just("/".to_string()),
        Just("$SYS/x".to_string()),
        // Long enough to need a 2-byte length and spill a small buffer.
        proptest::string::string_regex("[a-z/]{300,600}").unwrap().prop_filter("non-empty", |s| !s.is_empty()),
    ]
    .boxed()
}

/// A topic filter: levels of text, `+` as whole levels, `#` only as the whole last level.
fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![proptest::string::string_regex("[^\\x00+#/]{0,8}").unwrap(), Just("+".to_string())];
    (vec(level, 1..6), any::<bool>())
        .prop_map(|(levels, hash)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str(if f.is_empty() { "#" } else { "/#" });
            }
            f
        })
        .prop_filter("filters are not empty", |f| !f.is_empty())
}

fn binary(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// Payloads across the 1-, 2- and 3-byte Remaining Length ranges.
fn payload() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![4 => binary(120), 2 => vec(any::<u8>(), 120..2000), 1 => vec(any::<u8>(), 16_300..17_000)].boxed()
}

#[derive(Clone, Debug)]
struct OwnedConnect {
    client_id: String,
    keepalive: u16,
    clean_session: bool,
    will: Option<(String, Vec<u8>, QoS, bool)>,
    username: Option<String>,
    password: Option<Vec<u8>>,
}

fn connect() -> impl Strategy<Value = OwnedConnect> {
    let will = proptest::option::of((topic_name(), binary(200), qos(), any::<bool>()));
    let credentials = prop_oneof![
        Just((None, None)),
        text(30).prop_map(|u| (Some(u), None)),
        (text(30), binary(40)).prop_map(|(u, p)| (Some(u), Some(p))),
    ];
    (text(64), any::<u16>(), any::<bool>(), will, credentials).prop_map(|(client_id, keepalive, clean_session, will, (username, password))| {
        OwnedConnect { client_id, keepalive, clean_session, will, username, password }
    })
}

#[derive(Clone, Debug)]
struct OwnedPublish {
    dup: bool,
    qos: QoS,
    retain: bool,
    topic: String,
    pid: Option<PacketId>,
    payload: Vec<u8>,
}

fn publish() -> impl Strategy<Value = OwnedPublish> {
    (qos(), any::<bool>(), any::<bool>(), topic_name(), packet_id(), payload()).prop_map(|(qos, dup, retain, topic, id, payload)| {
        let acked = qos != QoS::AtMostOnce;
        OwnedPublish { dup: dup && acked, qos, retain, topic, pid: acked.then_some(id), payload }
    })
}

fn return_code() -> impl Strategy<Value = ConnectReturnCode> {
    use ConnectReturnCode::*;
    prop_oneof![
        Just(Accepted),
        Just(UnacceptableProtocolVersion),
        Just(IdentifierRejected),
        Just(ServerUnavailable),
        Just(BadUserNameOrPassword),
        Just(NotAuthorized)
    ]
}

fn suback_codes() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![Just(0u8), Just(1), Just(2), Just(0x80)], 1..8)
}

// ---- one property per packet type -----------------------------------------

proptest! {
    #![proptest_config(common::proptest_config(256))]

    #[test]
    fn connect_roundtrips(c in connect()) {
        let will = c.will.as_ref().map(|(topic, message, qos, retain)| Will { topic, message, qos: *qos, retain: *retain });
        let p = Packet::Connect(Connect {
            client_id: &c.client_id,
            keepalive: c.keepalive,
            clean_session: c.clean_session,
            will,
            username: c.username.as_deref(),
            password: c.password.as_deref(),
        });
        check_roundtrip(&p)?;
    }

    #[test]
    fn connack_roundtrips(code in return_code(), present in any::<bool>()) {
        // Session present only on an accepted connection.
        let session_present = present && code == ConnectReturnCode::Accepted;
        check_roundtrip(&Packet::Connack(Connack { session_present, code }))?;
    }

    #[test]
    fn publish_roundtrips(p in publish()) {
        let packet = Packet::Publish(Publish { dup: p.dup, qos: p.qos, retain: p.retain, topic: &p.topic, pid: p.pid, payload: &p.payload });
        check_roundtrip(&packet)?;
    }

    #[test]
    fn puback_roundtrips(id in packet_id()) { check_roundtrip(&Packet::Puback(id))?; }

    #[test]
    fn pubrec_roundtrips(id in packet_id()) { check_roundtrip(&Packet::Pubrec(id))?; }

    #[test]
    fn pubrel_roundtrips(id in packet_id()) { check_roundtrip(&Packet::Pubrel(id))?; }

    #[test]
    fn pubcomp_roundtrips(id in packet_id()) { check_roundtrip(&Packet::Pubcomp(id))?; }

    #[test]
    fn subscribe_roundtrips(id in packet_id(), subs in vec((topic_filter(), qos()), 1..6)) {
        let list: Vec<Subscription<'_>> = subs.iter().map(|(f, q)| Subscription { filter: f, qos: *q }).collect();
        let p = Packet::Subscribe(Subscribe { pid: id, filters: Filters::List(&list) });
        check_roundtrip(&p)?;
        let bytes = common::enc(&p);
        let (Packet::Subscribe(d), _) = codec::decode(&bytes).unwrap().unwrap() else { panic!("not SUBSCRIBE") };
        prop_assert_eq!(d.iter().collect::<Vec<_>>(), list);
    }

    #[test]
    fn suback_roundtrips(id in packet_id(), codes in suback_codes()) {
        check_roundtrip(&Packet::Suback(Suback { pid: id, codes: &codes }))?;
    }

    #[test]
    fn unsubscribe_roundtrips(id in packet_id(), filters in vec(topic_filter(), 1..6)) {
        let list: Vec<&str> = filters.iter().map(String::as_str).collect();
        let p = Packet::Unsubscribe(Unsubscribe { pid: id, filters: Filters::List(&list) });
        check_roundtrip(&p)?;
        let bytes = common::enc(&p);
        let (Packet::Unsubscribe(d), _) = codec::decode(&bytes).unwrap().unwrap() else { panic!("not UNSUBSCRIBE") };
        prop_assert_eq!(d.iter().collect::<Vec<_>>(), list);
    }

    #[test]
    fn unsuback_roundtrips(id in packet_id()) { check_roundtrip(&Packet::Unsuback(id))?; }

    /// Several packets back to back in one buffer decode one after the other.
    #[test]
    fn stream_of_packets(ps in vec(publish(), 1..6), ids in vec(packet_id(), 1..6)) {
        let mut packets: Vec<Packet<'_>> = Vec::new();
        for (p, id) in ps.iter().zip(ids.iter().cycle()) {
            packets.push(Packet::Publish(Publish { dup: p.dup, qos: p.qos, retain: p.retain, topic: &p.topic, pid: p.pid, payload: &p.payload }));
            packets.push(Packet::Pubrel(*id));
            packets.push(Packet::Pingresp);
        }
        let stream: Vec<u8> = packets.iter().flat_map(common::enc).collect();
        let mut rest = &stream[..];
        for p in &packets {
            let (d, used) = codec::decode(rest).unwrap().unwrap();
            prop_assert_eq!(&d, p);
            rest = &rest[used..];
        }
        prop_assert!(rest.is_empty());
    }
}

#[test]
fn fixed_two_byte_packets_roundtrip() {
    for (p, t) in [(Packet::Pingreq, PacketType::Pingreq), (Packet::Pingresp, PacketType::Pingresp), (Packet::Disconnect, PacketType::Disconnect)] {
        check_roundtrip(&p).unwrap();
        assert_eq!(common::enc(&p), vec![(t as u8) << 4, 0]);
    }
}

/// A PUBLISH needing a 4-byte Remaining Length (over 2 MiB).
#[test]
fn publish_with_four_byte_length_roundtrips() {
    let payload: Vec<u8> = (0..2_097_200u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let p = Packet::Publish(Publish { dup: true, qos: QoS::ExactlyOnce, retain: true, topic: "big/one", pid: PacketId::new(0xBEEF), payload: &payload });
    let bytes = common::enc(&p);
    // 3D: PUBLISH dup, QoS 2, retain; 2 + 7 + 2 + 2_097_200 = 2_097_211 = 0xBB 0x80 0x80 0x01.
    assert_eq!(&bytes[..5], &[0x3D, 0xBB, 0x80, 0x80, 0x01]);
    assert_eq!(codec::parse_fixed_header(&bytes).unwrap().unwrap().header_len, 5);
    check_roundtrip(&p).unwrap();
}

/// All 14 types are covered above: their type nibbles 1..=14 each round-trip.
#[test]
fn all_fourteen_types_covered() {
    let codes = [0u8];
    let subs = [Subscription { filter: "a/+/#", qos: QoS::ExactlyOnce }];
    let filters = ["a/#"];
    let id = PacketId::new(7).unwrap();
    let packets = [
        Packet::Connect(Connect { client_id: "c", keepalive: 60, clean_session: false, will: None, username: None, password: None }),
        Packet::Connack(Connack { session_present: true, code: ConnectReturnCode::Accepted }),
        Packet::Publish(Publish { dup: false, qos: QoS::AtLeastOnce, retain: false, topic: "t", pid: Some(id), payload: b"x" }),
        Packet::Puback(id),
        Packet::Pubrec(id),
        Packet::Pubrel(id),
        Packet::Pubcomp(id),
        Packet::Subscribe(Subscribe { pid: id, filters: Filters::List(&subs) }),
        Packet::Suback(Suback { pid: id, codes: &codes }),
        Packet::Unsubscribe(Unsubscribe { pid: id, filters: Filters::List(&filters) }),
        Packet::Unsuback(id),
        Packet::Pingreq,
        Packet::Pingresp,
        Packet::Disconnect,
    ];
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.packet_type() as usize, i + 1);
        check_roundtrip(p).unwrap();
    }
}
