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

/// A QoS 2 PUBLISH with DUP=0 under an id the client still holds as unreleased is a new
/// message and is delivered (a broker that restored its flows a step back after a restart
/// reuses the id without PUBREL); the fuzzer found it when its oracle still counted any
/// second delivery before PUBREL as a duplicate (`client` target, CI smoke run).
#[test]
fn qos2_first_delivery_under_an_unreleased_id_fuzzer_input() {
    client::run(&hex(
        "00000001000f002002000034070003612f62000134070003612f62000234070003612f62000334070003612f62000434
         070003612f62000534070003612f62000634070003612f62000734070003612f62000834070003612f62000934070003
         612f620003612f62001134070003612f62001234070003612f62001334070003612f62001434070003612f6200153407
         0003612f62001634070003612f62001734070003612f62001834070003612f62001934070003612f62001a3407000b61
         2f62001b34070003612f62001c3407000361316200612f62001734070003612f62001834070003612f62001934070003
         612f62001a3407000b612f62001b34070003612f62001c34070003613162001d34070003612f62001e34070003612f62
         001f34070003612f62002074070003612f620021",
    ));
}

/// The sink refuses a DUP=0 QoS 2 message under an id still unreleased from an earlier one;
/// the session releases the id, so a DUP=1 of that id is delivered. The oracle took it for a
/// duplicate until it learned that a refusal releases an id (`client` target, 3.6 million
/// executions, minimised with `cargo fuzz tmin`).
#[test]
fn qos2_refused_first_delivery_then_redelivery_fuzzer_input() {
    client::run(&hex(
        "d1070001000f002002000034070003612f62000134070003612f62000234070003612f62000434070003612f62000d34
         070003612f62000e34070003612f62001e34070003612f62001f34070003612f62002034070003612f62000d34070003
         612f62000934070003612f62000a3d070003612f62000d",
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

/// Found by the `client` target (500,000 executions) once acknowledgements waited for the
/// application: a QoS 1 message 3 whose callback raised stays owed; the broker then sends a QoS 2
/// message under id 3, and `ack(3)` sent the old PUBACK instead of the new PUBREC. A delivery
/// under an id still owed now stands for it.
#[test]
fn new_delivery_under_an_owed_id_is_the_one_acknowledged() {
    client::run(&hex(
        "40000001000f002002000034070003612f62000134070003612f62000232070003612f620003340700
         03612f62000234070003612f62000334070003612f6200043107860003612f623205000fbdbdbdbdbdbd
         bdbdbdbd",
    ));
}
