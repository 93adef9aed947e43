//! `codec::decode` over arbitrary bytes, with a differential check: every
//! packet that decodes re-encodes to the same bytes and decodes back equal.

use umqtt_native::codec::{self, varint, Packet};

/// Decodes packets back to back, as a receive buffer holding several would.
pub fn run(data: &[u8]) {
    let mut rest = data;
    loop {
        match codec::decode(rest) {
            Ok(Some((packet, used))) => {
                assert!(used >= 2 && used <= rest.len(), "bytes used {used} of {}", rest.len());
                check_packet(&rest[..used], &packet);
                rest = &rest[used..];
            }
            Ok(None) => {
                check_incomplete(rest);
                return;
            }
            Err(e) => {
                // An error is a property of the bytes already there: more input cannot cure it.
                let mut longer = rest.to_vec();
                longer.extend_from_slice(&[0, 0xFF, 0]);
                assert_eq!(codec::decode(&longer).map(|_| ()), Err(e), "error changed when bytes were appended");
                return;
            }
        }
    }
}

fn check_packet(bytes: &[u8], packet: &Packet<'_>) {
    let header = codec::parse_fixed_header(bytes).expect("header of a decoded packet").expect("complete header");
    assert_eq!(header.packet_len(), bytes.len(), "packet length from the header");
    assert_eq!(packet.first_byte(), bytes[0], "first byte");
    assert_eq!(packet.packet_type(), header.kind, "packet type");
    if let Packet::Subscribe(s) = packet {
        assert!(s.iter().count() > 0, "SUBSCRIBE decoded without filters");
    }
    if let Packet::Unsubscribe(u) = packet {
        assert!(u.iter().count() > 0, "UNSUBSCRIBE decoded without filters");
    }

    // Re-encode: same length, same bytes.
    let len = packet.encoded_len().unwrap_or_else(|e| panic!("decoded {packet:?} does not encode: {e:?}"));
    let mut out = vec![0u8; len];
    let n = packet.encode(&mut out).unwrap_or_else(|e| panic!("decoded {packet:?} does not encode: {e:?}"));
    assert_eq!(n, len, "encode wrote other than encoded_len");
    let body = &bytes[header.header_len..];
    if header.header_len == 1 + varint::encoded_len(header.remaining_len) {
        assert_eq!(out, bytes, "re-encoding differs");
    } else {
        // The input spelled its Remaining Length with more bytes than needed
        // (3.1.1 does not forbid it); the encoder uses the shortest form.
        assert_eq!(out[0], bytes[0], "re-encoded first byte differs");
        assert_eq!(&out[len - body.len()..], body, "re-encoded body differs");
    }

    // Decode the re-encoding: the same packet, all bytes used.
    let (again, used) = codec::decode(&out).expect("re-encoding decodes").expect("re-encoding is complete");
    assert_eq!(used, len, "re-encoding: bytes used");
    assert_eq!(&again, packet, "re-encoding decodes to another packet");

    // One byte short of room is refused, never truncated.
    assert_eq!(packet.encode(&mut out[..len - 1]), Err(codec::Error::BufferTooSmall), "encode into a short buffer");

    // Every proper prefix is incomplete (a long packet: a sample of cuts).
    let cuts = bytes.len();
    let step = if cuts <= 64 { 1 } else { cuts / 61 };
    for cut in (0..cuts).step_by(step).chain([cuts - 1]) {
        assert_eq!(codec::decode(&bytes[..cut]).map(|r| r.map(|(_, u)| u)), Ok(None), "prefix of {cut} bytes");
    }
}

/// `Ok(None)` must mean a true prefix: the header, or the packet it announces, is not all there.
fn check_incomplete(rest: &[u8]) {
    match codec::parse_fixed_header(rest) {
        Ok(None) => assert!(rest.len() < 5, "a header of {} bytes read as incomplete", rest.len()),
        Ok(Some(h)) => assert!(h.packet_len() > rest.len(), "a complete packet read as incomplete"),
        Err(e) => panic!("decode said incomplete, the header parser said {e:?}"),
    }
}
