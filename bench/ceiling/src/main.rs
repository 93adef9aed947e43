//! The ceiling of bench/run-mqtt: the same MQTT traffic as bench/mqtt/bench.py, from the
//! umqtt-native core driven directly over a `TcpStream` (same buffer sizes as the firmware).
//!
//!   bench-ceiling pub PORT TOPIC SIZE QOS COUNT SECONDS     publish up to COUNT messages or SECONDS
//!   bench-ceiling rx-setup PORT TOPIC QOS CLIENT_ID        persistent session subscribed to TOPIC
//!   bench-ceiling rx PORT QOS COUNT CLIENT_ID SKIP         reconnect, drain SKIP + COUNT queued
//!                                                          messages; the time covers the last COUNT
//!
//! Prints one JSON line: {"n": messages, "secs": timed seconds}.
use std::net::TcpStream;
use std::time::Instant;

use umqtt_native::codec::QoS;
use umqtt_native::driver::{Awaited, Client, ConnectOptions, Event, Mode};
use umqtt_native::ffi::{RX_CAPACITY, TX_CAPACITY};
use umqtt_native::posix::{TcpTransport, VecSink};

type Mqtt = Client<RX_CAPACITY, TX_CAPACITY>;

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(String::as_str).unwrap_or_else(|| die("missing argument"))
}

fn num(args: &[String], i: usize) -> u64 {
    arg(args, i).parse().unwrap_or_else(|_| die("bad number"))
}

fn die(msg: &str) -> ! {
    eprintln!("bench-ceiling: {msg}");
    std::process::exit(2)
}

fn qos(n: u64) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn open(port: &str, client_id: &str, clean: bool) -> (Box<Mqtt>, TcpTransport) {
    let stream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap_or_else(|_| die("bad port"))))
        .unwrap_or_else(|e| die(&format!("connect: {e}")));
    let mut io = TcpTransport::new(stream).unwrap_or_else(|e| die(&format!("socket: {e}")));
    let mut client = Box::new(Mqtt::new());
    let opts = ConnectOptions {
        client_id,
        keepalive_s: 0,
        clean_session: clean,
        will: None,
        username: None,
        password: None,
        timeout_ms: Some(10_000),
    };
    client.connect(&mut io, &opts).unwrap_or_else(|e| die(&format!("CONNECT: {e:?}")));
    (client, io)
}

fn publish(args: &[String]) {
    let (port, topic) = (arg(args, 2), arg(args, 3));
    let (size, q, count) = (num(args, 4) as usize, qos(num(args, 5)), num(args, 6));
    let secs: f64 = arg(args, 7).parse().unwrap_or_else(|_| die("bad seconds"));
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let (mut client, mut io) = open(port, &format!("ceiling-pub-{}", std::process::id()), true);
    let mut sink = VecSink::default();
    let start = Instant::now();
    let mut n = 0;
    while n < count {
        let pid = client
            .publish(&mut io, topic, &payload, q, false)
            .unwrap_or_else(|e| die(&format!("publish: {e:?}")));
        if let Some(pid) = pid {
            loop {
                match client.await_ack(&mut io, &mut sink, pid) {
                    Ok(Awaited::Done(_)) => break,
                    Ok(Awaited::Message(_)) => {}
                    Err(e) => die(&format!("await_ack: {e:?}")),
                }
            }
        }
        n += 1;
        if n % 64 == 0 && start.elapsed().as_secs_f64() >= secs {
            break;
        }
    }
    let dt = start.elapsed().as_secs_f64();
    let _ = client.disconnect(&mut io);
    println!("{{\"n\": {n}, \"secs\": {dt:.6}}}");
}

fn rx_setup(args: &[String]) {
    let (port, topic, q, id) = (arg(args, 2), arg(args, 3), qos(num(args, 4)), arg(args, 5));
    drop(open(port, id, true)); // forget any earlier session of this id
    let (mut client, mut io) = open(port, id, false);
    let mut sink = VecSink::default();
    let pid = client.subscribe(&mut io, topic, q).unwrap_or_else(|e| die(&format!("subscribe: {e:?}")));
    match client.await_ack(&mut io, &mut sink, pid) {
        Ok(Awaited::Done(_)) => {}
        other => die(&format!("SUBACK: {other:?}")),
    }
    let _ = client.disconnect(&mut io);
    println!("{{\"n\": 0, \"secs\": 0}}");
}

fn rx(args: &[String]) {
    let (port, count, id, skip) = (arg(args, 2), num(args, 4), arg(args, 5), num(args, 6));
    let (mut client, mut io) = open(port, id, false);
    let mut sink = VecSink::default();
    let mut n = 0;
    let mut bytes = 0;
    let mut start = Instant::now();
    while n < skip + count {
        if n == skip {
            start = Instant::now();
        }
        match client.wait_msg(&mut io, &mut sink, Mode::Wait(None)) {
            Ok(Some(Event::Message(m))) => {
                n += 1;
                bytes += m.len;
                client.ack(&mut io, m.pid).unwrap_or_else(|e| die(&format!("ack: {e:?}")));
            }
            Ok(_) => {}
            Err(e) => die(&format!("wait_msg: {e:?}")),
        }
    }
    let dt = start.elapsed().as_secs_f64();
    let _ = client.disconnect(&mut io);
    println!("{{\"n\": {}, \"secs\": {dt:.6}, \"bytes\": {bytes}}}", n - skip);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match arg(&args, 1) {
        "pub" => publish(&args),
        "rx-setup" => rx_setup(&args),
        "rx" => rx(&args),
        _ => die("usage: bench-ceiling pub|rx-setup|rx ..."),
    }
}
