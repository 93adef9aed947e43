//! Untrusted bytes never crash or hang: arbitrary and mutated input fed to
//! `codec::decode` and, as the broker's side of a connection, to the driver.
//! A driver that loops without end exhausts the scripted transport's call
//! budget, which fails the case; a panic fails it directly.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use umqtt_native::codec::{self, varint, Packet, PacketId, Publish, QoS, Suback};
use umqtt_native::driver::{Awaited, Client, EngineError, Error, Event, Mode};

// ---- decoder --------------------------------------------------------------

/// Whatever decode says must be consistent with the bytes.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    match codec::decode(bytes) {
        Ok(Some((p, used))) => {
            prop_assert!((2..=bytes.len()).contains(&used));
            // Trailing bytes do not matter; the exact packet decodes alone.
            prop_assert_eq!(codec::decode(&bytes[..used]), Ok(Some((p, used))));
            let header = codec::parse_fixed_header(bytes).unwrap().unwrap();
            prop_assert_eq!(header.packet_len(), used);
            // What the decoder accepts, the encoder writes back identically
            // (when the sender used the shortest Remaining Length).
            if header.header_len == 1 + varint::encoded_len(header.remaining_len) {
                let mut out = vec![0u8; used];
                prop_assert_eq!(p.encode(&mut out), Ok(used), "re-encode {:?}", p);
                prop_assert_eq!(&out[..], &bytes[..used]);
            }
        }
        Ok(None) => {
            // Incomplete: either the fixed header or the body is still short.
            match codec::parse_fixed_header(bytes) {
                Ok(None) => prop_assert!(bytes.len() < 5),
                Ok(Some(h)) => prop_assert!(h.packet_len() > bytes.len()),
                Err(e) => prop_assert!(false, "decode said incomplete, header said {:?}", e),
            }
        }
        Err(e) => {
            // The same error with more bytes after it: a verdict never depends on what follows.
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(&[0u8; 3]);
            if codec::parse_fixed_header(bytes).ok().flatten().is_some_and(|h| h.packet_len() <= bytes.len())
                || codec::parse_fixed_header(bytes).is_err()
            {
                prop_assert_eq!(codec::decode(&longer).map(|o| o.map(|(_, n)| n)), Err(e));
            }
        }
    }
    Ok(())
}

/// Seeds for mutation: every vector plus packets of each kind a broker sends.
fn seeds() -> Vec<Vec<u8>> {
    let mut s: Vec<Vec<u8>> = load_vectors().into_iter().map(|v| v.bytes).collect();
    let id = PacketId::new(0x0102).unwrap();
    for p in [
        Packet::Publish(Publish { dup: true, qos: QoS::ExactlyOnce, retain: true, topic: "a/b", pid: Some(id), payload: b"xyz" }),
        Packet::Publish(Publish { dup: false, qos: QoS::AtLeastOnce, retain: false, topic: "t", pid: Some(id), payload: &[0; 130] }),
        Packet::Puback(id),
        Packet::Pubrec(id),
        Packet::Pubrel(id),
        Packet::Pubcomp(id),
        Packet::Suback(Suback { pid: id, codes: &[0, 1, 2, 0x80] }),
    ] {
        s.push(enc(&p));
    }
    s
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    /// Appends another seed (packets back to back).
    Append(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => any::<Index>().prop_map(Mutation::Append),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in mutations {
        let len = b.len();
        match *m {
            Mutation::Flip(ref i, bit) if len > 0 => b[i.index(len)] ^= 1 << bit,
            Mutation::Set(ref i, v) if len > 0 => b[i.index(len)] = v,
            Mutation::Insert(ref i, v) => b.insert(i.index(len + 1), v),
            Mutation::Remove(ref i) if len > 0 => {
                b.remove(i.index(len));
            }
            Mutation::Truncate(ref i) => b.truncate(i.index(len + 1)),
            Mutation::Append(ref i) if !seeds.is_empty() => b.extend_from_slice(&seeds[i.index(seeds.len())]),
            _ => {}
        }
    }
    b
}

/// A first byte of any kind, a Remaining Length (usually right), then random body bytes.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), vec(any::<u8>(), 0..200), prop_oneof![4 => Just(None), 1 => (0usize..300).prop_map(Some)]).prop_map(|(first, body, rl)| {
        let mut out = vec![first];
        let mut len = [0u8; 4];
        let n = varint::encode(rl.unwrap_or(body.len()), &mut len).unwrap();
        out.extend_from_slice(&len[..n]);
        out.extend_from_slice(&body);
        out
    })
}

// ---- driver ---------------------------------------------------------------

/// Which client operation faces the bytes.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// The bytes answer CONNECT.
    Connect,
    Check,
    WaitMsg { keepalive_s: u16 },
    /// await_ack after a PUBLISH at this QoS (1 or 2).
    AwaitPublish(QoS),
    AwaitSubscribe,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    prop_oneof![
        Just(Scenario::Connect),
        Just(Scenario::Check),
        Just(Scenario::WaitMsg { keepalive_s: 0 }),
        Just(Scenario::WaitMsg { keepalive_s: 10 }),
        Just(Scenario::AwaitPublish(QoS::AtLeastOnce)),
        Just(Scenario::AwaitPublish(QoS::ExactlyOnce)),
        Just(Scenario::AwaitSubscribe),
    ]
}

/// The broker side: split into reads at `cuts`, with silences (nothing to read) between some.
fn script(bytes: &[u8], cuts: &[Index], silences: &[bool]) -> Vec<Step> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    let mut steps = Vec::new();
    for (i, w) in points.windows(2).enumerate() {
        steps.push(Step::Data(bytes[w[0]..w[1]].to_vec()));
        if silences.get(i).copied().unwrap_or(false) {
            steps.push(Step::Silence);
        }
    }
    steps
}

fn drive<const RX: usize>(bytes: &[u8], cuts: &[Index], silences: &[bool], scenario: Scenario, max_read: usize) -> Result<(), TestCaseError> {
    let steps = script(bytes, cuts, silences);
    // Every call must consume input or end; each step can be consumed a bounded number of ways.
    let rounds = bytes.len() + steps.len() + 4;
    let mut io = ScriptedTransport::hanging_up();
    io.max_read = max_read;
    io.budget = 2_000 + 100 * rounds;
    let mut sink = VecSink { max_len: 1 << 20, ..VecSink::default() };
    let keepalive = match scenario {
        Scenario::WaitMsg { keepalive_s } => keepalive_s,
        _ => 0,
    };

    let mut client: Box<Client<RX, 128>> = if let Scenario::Connect = scenario {
        play(&mut io, steps);
        let mut c = Box::new(Client::new());
        let r = c.connect(&mut io, &options(0, Some(1000)));
        prop_assert_eq!(r.is_ok(), c.is_connected());
        if r.is_err() {
            check_writes(&io)?;
            return Ok(());
        }
        c
    } else {
        let c = connected::<RX, 128>(&mut io, keepalive, Some(5000));
        play(&mut io, steps);
        c
    };

    let mut delivered = 0usize;
    let awaited = match scenario {
        Scenario::AwaitPublish(qos) => Some(client.publish(&mut io, "t/x", b"payload", qos, false).unwrap().unwrap()),
        Scenario::AwaitSubscribe => Some(client.subscribe(&mut io, "t/#", QoS::AtLeastOnce).unwrap()),
        _ => None,
    };
    if let Some(id) = awaited {
        let mut ended = false;
        for _ in 0..rounds {
            match client.await_ack(&mut io, &mut sink, id) {
                Ok(Awaited::Message(m)) => {
                    delivered += 1;
                    check_message(&sink, m.len)?;
                }
                Ok(Awaited::Done(_)) | Err(Error::Engine(EngineError::SubscribeFailed)) => {
                    ended = true;
                    break;
                }
                // Not fatal (a refused message, a timeout): the wait may go on.
                Err(Error::Engine(EngineError::Sink) | Error::Engine(EngineError::Timeout) | Error::Engine(EngineError::TopicTooLong)) if client.is_connected() => {}
                Err(e) => {
                    prop_assert!(!client.is_connected(), "{:?} left the connection up", e);
                    ended = true;
                    break;
                }
            }
        }
        prop_assert!(ended, "await_ack neither completed nor failed after {} rounds", rounds);
    }
    // Then drain what is left with wait_msg in the scenario's mode, until the connection ends
    // (the script's end reads as closed).
    let mode = if let Scenario::WaitMsg { .. } = scenario { Mode::Wait(None) } else { Mode::Check };
    let mut ended = false;
    for _ in 0..rounds {
        match client.wait_msg(&mut io, &mut sink, mode) {
            Ok(Some(Event::Message(m))) => {
                delivered += 1;
                check_message(&sink, m.len)?;
            }
            Ok(_) => {}
            Err(Error::Engine(EngineError::Sink) | Error::Engine(EngineError::TopicTooLong)) if client.is_connected() => {}
            Err(e) => {
                prop_assert!(!client.is_connected(), "{:?} left the connection up", e);
                ended = true;
                break;
            }
        }
    }
    prop_assert!(ended, "wait_msg never reported the end of input after {} rounds", rounds);
    prop_assert!(delivered <= sink.messages.len());
    check_writes(&io)
}

fn check_message(sink: &VecSink, len: usize) -> Result<(), TestCaseError> {
    let (_, payload) = sink.messages.last().expect("a message event with nothing begun");
    prop_assert_eq!(payload.len(), len);
    Ok(())
}

/// Whatever the input, each write carries exactly one well-formed packet.
fn check_writes(io: &ScriptedTransport) -> Result<(), TestCaseError> {
    for w in io.writes() {
        let decoded = codec::decode(w);
        prop_assert!(matches!(decoded, Ok(Some((_, n))) if n == w.len()), "write {:02x?} is not one packet: {:?}", w, decoded);
        // Only packets a client sends: CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, PINGREQ.
        prop_assert!([1, 3, 4, 5, 6, 7, 8, 12].contains(&(w[0] >> 4)), "write {:02x?}", w);
    }
    Ok(())
}

/// Plausible broker traffic (mostly valid, small id space so acks collide), then corrupted a little.
fn broker_stream() -> impl Strategy<Value = Vec<u8>> {
    let packet = prop_oneof![
        4 => (0u8..3, any::<bool>(), 1u16..4, prop_oneof![Just("t/x"), Just("a"), Just("long/topic/name/for/a/small/buffer")], vec(any::<u8>(), 0..300))
            .prop_map(|(q, dup, id, topic, payload)| {
                let qos = QoS::from_bits(q).unwrap();
                let pid = (qos != QoS::AtMostOnce).then(|| PacketId::new(id).unwrap());
                enc(&Packet::Publish(Publish { dup: dup && pid.is_some(), qos, retain: false, topic, pid, payload: &payload }))
            }),
        1 => (1u16..4).prop_map(|id| enc(&Packet::Puback(PacketId::new(id).unwrap()))),
        1 => (1u16..4).prop_map(|id| enc(&Packet::Pubrec(PacketId::new(id).unwrap()))),
        1 => (1u16..4).prop_map(|id| enc(&Packet::Pubrel(PacketId::new(id).unwrap()))),
        1 => (1u16..4).prop_map(|id| enc(&Packet::Pubcomp(PacketId::new(id).unwrap()))),
        1 => (1u16..4, prop_oneof![Just(0u8), Just(1), Just(0x80)]).prop_map(|(id, c)| enc(&Packet::Suback(Suback { pid: PacketId::new(id).unwrap(), codes: &[c] }))),
        1 => (1u16..4).prop_map(|id| enc(&Packet::Unsuback(PacketId::new(id).unwrap()))),
        1 => Just(enc(&Packet::Pingresp)),
        1 => Just(CONNACK_OK.to_vec()),
        1 => vec(any::<u8>(), 1..8),
    ];
    (vec(packet, 0..12), vec(mutation(), 0..3)).prop_map(|(packets, muts)| {
        let stream: Vec<u8> = packets.concat();
        mutate(&stream, &muts, &[])
    })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    let mutated = {
        let seeds2 = seeds.clone();
        (proptest::sample::select(seeds), vec(mutation(), 0..4)).prop_map(move |(s, m)| mutate(&s, &m, &seeds2))
    };
    prop_oneof![
        2 => vec(any::<u8>(), 0..400),
        2 => framed(),
        3 => mutated,
        4 => broker_stream(),
    ]
}

proptest! {
    #![proptest_config(proptest_config(2000))]

    #[test]
    fn decode_arbitrary_bytes(bytes in vec(any::<u8>(), 0..600)) {
        check_decode(&bytes)?;
    }

    #[test]
    fn decode_framed_bytes(bytes in framed()) {
        check_decode(&bytes)?;
    }

    #[test]
    fn decode_mutated_vectors(bytes in input()) {
        check_decode(&bytes)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(1500))]

    #[test]
    fn driver_survives_any_broker_bytes(
        bytes in input(),
        cuts in vec(any::<Index>(), 0..6),
        silences in vec(any::<bool>(), 0..8),
        scenario in scenario(),
        max_read in prop_oneof![Just(usize::MAX), 1usize..9],
    ) {
        drive::<64>(&bytes, &cuts, &silences, scenario, max_read)?;
    }

    #[test]
    fn driver_with_tiny_buffer_survives(
        bytes in input(),
        cuts in vec(any::<Index>(), 0..6),
        silences in vec(any::<bool>(), 0..8),
        scenario in scenario(),
    ) {
        drive::<8>(&bytes, &cuts, &silences, scenario, usize::MAX)?;
    }

    #[test]
    fn driver_with_large_buffer_survives(
        bytes in input(),
        cuts in vec(any::<Index>(), 0..6),
        scenario in scenario(),
    ) {
        drive::<1024>(&bytes, &cuts, &[], scenario, usize::MAX)?;
    }
}

/// Every seed and each of its truncations, through the decoder and each driver path.
#[test]
fn every_seed_and_prefix() {
    for s in seeds() {
        for cut in 0..=s.len() {
            let b = &s[..cut];
            check_decode(b).unwrap();
            for sc in [Scenario::Connect, Scenario::Check, Scenario::WaitMsg { keepalive_s: 0 }, Scenario::AwaitPublish(QoS::ExactlyOnce)] {
                drive::<64>(b, &[], &[], sc, usize::MAX).unwrap_or_else(|e| panic!("{b:02x?} {sc:?}: {e}"));
                drive::<8>(b, &[], &[true], sc, 1).unwrap_or_else(|e| panic!("{b:02x?} {sc:?}: {e}"));
            }
        }
    }
}
