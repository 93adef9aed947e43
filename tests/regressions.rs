//! Inputs the fuzzers (fuzz/) found or that pin a bug they would find, replayed
//! through the same harnesses: each must run without a broken invariant.
//! Client inputs use the layout documented in fuzz/src/client.rs.

#[allow(dead_code)]
#[path = "../fuzz/src/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../fuzz/src/decode.rs"]
mod decode;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A write that timed out after the socket took part of a packet left the client
/// connected, so its next packet followed half a packet on the wire.
/// Written by hand: CONNECT with a 2 s timeout, CONNACK; a QoS 0 PUBLISH of which
/// the socket takes 4 bytes, then would-block and the wait times out; a second PUBLISH.
#[test]
fn partial_write_then_timeout_drops_the_connection() {
    client::run(&hex(
        "00 00 00 03  00 08  03 10  03 10
         06  00 00 ff e3 f0 e0
         20 02 00 00",
    ));
}

/// The same bug as the fuzzer found it (`client` target, about 30,000 executions,
/// minimised with `cargo fuzz tmin`): a PUBLISH after a partly written one.
#[test]
fn partial_write_then_timeout_fuzzer_input() {
    client::run(&hex(
        "0100050b000f01080800040c0800050c2900070006000a001b002f0202030202f4f4f4f4f4e4f4f400
         0000ffff02e829020000000002022002000032022002000032020220020000320220020000",
    ));
}

/// Both harnesses over trivial inputs: the replay path itself works.
#[test]
fn empty_and_short_inputs() {
    for input in [&[][..], &[0], &[0x30], &[0x30, 0x80], &[0xFF; 8]] {
        client::run(input);
        decode::run(input);
    }
}
