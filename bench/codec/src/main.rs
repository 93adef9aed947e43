//! PUBLISH encode/decode: umqtt-native's codec against mqttrs and mqttbytes.
//!
//! All three libraries get the same wire bytes (decode) and the same message (encode);
//! before timing, every library's output is checked against the others so that no one
//! is timed doing less work. Timing: each (case, op, library) runs batches calibrated to
//! `--sample-ms`; each round runs one batch of every library, their order rotated from
//! round to round; reported: the median ns/op over `--rounds` rounds and the median of the
//! per-round ratios (robust to load changing between rounds on a shared machine). With
//! `--instructions`, the binary also reruns itself under callgrind to count instructions per op.
//! Usage: bench-codec [--rounds N] [--sample-ms MS] [--quick] [--instructions] [--json PATH] [--csv PATH]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use umqtt_native::codec::{self, Packet, PacketId, Publish, QoS};

const TOPIC: &str = "sensors/room1/temperature";
const PID: u16 = 0x2a17;
const MQTTRS: &str = "mqttrs 0.4.1";
const MQTTBYTES: &str = "mqttbytes 0.6.0";

/// The optimisation all three crates were built with (bench/run-codec's OPT_LEVEL, else the profile's 3).
const OPT_LEVEL: &str = match option_env!("CARGO_PROFILE_BENCH_RELEASE_OPT_LEVEL") {
    Some(level) => level,
    None => "3",
};

const LIBS: [&str; 3] = ["umqtt-native", MQTTRS, MQTTBYTES];

/// What each library is asked to do, in its fastest reasonable form.
const APIS: [(&str, &str, &str); 3] = [
    (
        "umqtt-native",
        "Packet::Publish(..).encode(&mut [u8]) into a reused slice; checks the topic (not empty, \
         no wildcard, no U+0000), packet id present iff QoS > 0, no DUP at QoS 0",
        "codec::decode(&[u8]) -> Packet borrowing the input (topic, payload), no allocation; \
         checks header flags, QoS, packet id != 0, UTF-8, no U+0000, no wildcard, topic not empty",
    ),
    (
        MQTTRS,
        "encode_slice(&Packet, &mut [u8]) into a reused slice (default std features); checks \
         only the buffer size and the 256 MB limit",
        "decode_slice(&[u8]) -> Packet borrowing the input, no allocation; checks header flags, \
         QoS, packet id != 0, UTF-8",
    ),
    (
        MQTTBYTES,
        "v4::Publish::write(&mut BytesMut) into a reused, cleared BytesMut (no reallocation); \
         the Publish (String topic, Bytes payload) is built once outside the loop; checks \
         packet id != 0 at QoS > 0 and the 256 MB limit",
        "check() + FixedHeader::packet_type() + v4::Publish::read(header, Bytes) on a \
         Bytes::from_static view: payload zero-copy, topic copied into a new String (1 malloc+free \
         per op); checks QoS, packet id != 0, UTF-8",
    ),
];

/// One benchmark input: a PUBLISH and its wire form.
struct Case {
    name: String,
    qos: u8,
    payload: Vec<u8>,
    /// Built here by hand, independently of the three libraries.
    wire: &'static [u8],
}

impl Case {
    fn new(qos: u8, payload_len: usize) -> Case {
        // Deterministic, non-uniform payload (xorshift), so no library gets a zeroed fast path.
        let mut x: u32 = 0x9e37_79b9 ^ payload_len as u32;
        let payload: Vec<u8> = (0..payload_len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut body = Vec::new();
        body.extend_from_slice(&(TOPIC.len() as u16).to_be_bytes());
        body.extend_from_slice(TOPIC.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&PID.to_be_bytes());
        }
        body.extend_from_slice(&payload);
        let mut wire = vec![0x30 | (qos << 1)];
        let mut rl = body.len();
        loop {
            let byte = (rl & 0x7f) as u8;
            rl >>= 7;
            wire.push(if rl > 0 { byte | 0x80 } else { byte });
            if rl == 0 {
                break;
            }
        }
        wire.extend_from_slice(&body);
        let size = if payload_len.is_multiple_of(1024) {
            format!("{}KiB", payload_len / 1024)
        } else {
            format!("{payload_len}B")
        };
        Case {
            name: format!("qos{qos} {size}"),
            qos,
            payload,
            wire: Box::leak(wire.into_boxed_slice()),
        }
    }

    fn expected(&self) -> Msg {
        Msg {
            dup: false,
            qos: self.qos,
            retain: false,
            topic: TOPIC.into(),
            pid: (self.qos > 0).then_some(PID),
            payload: self.payload.clone(),
        }
    }

    fn ours(&self) -> Packet<'_> {
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::from_bits(self.qos).unwrap(),
            retain: false,
            topic: TOPIC,
            pid: (self.qos > 0).then(|| PacketId::new(PID).unwrap()),
            payload: &self.payload,
        })
    }

    fn mqttrs(&self) -> mqttrs::Packet<'_> {
        let pid = mqttrs::Pid::try_from(PID).unwrap();
        mqttrs::Packet::Publish(mqttrs::Publish {
            dup: false,
            qospid: match self.qos {
                0 => mqttrs::QosPid::AtMostOnce,
                1 => mqttrs::QosPid::AtLeastOnce(pid),
                _ => mqttrs::QosPid::ExactlyOnce(pid),
            },
            retain: false,
            topic_name: TOPIC,
            payload: &self.payload,
        })
    }

    fn mqttbytes(&self) -> mqttbytes::v4::Publish {
        mqttbytes::v4::Publish {
            dup: false,
            qos: mqttbytes::qos(self.qos).unwrap(),
            retain: false,
            topic: TOPIC.into(),
            pkid: if self.qos > 0 { PID } else { 0 },
            payload: Bytes::copy_from_slice(&self.payload),
        }
    }
}

/// A decoded PUBLISH in a library-neutral form, for the fairness check.
#[derive(Debug, PartialEq)]
struct Msg {
    dup: bool,
    qos: u8,
    retain: bool,
    topic: String,
    pid: Option<u16>,
    payload: Vec<u8>,
}

fn decode_ours(wire: &[u8]) -> Msg {
    let r = codec::decode(wire);
    let Ok(Some((Packet::Publish(p), used))) = r else {
        panic!("umqtt-native: not a PUBLISH: {r:?}")
    };
    assert_eq!(used, wire.len());
    Msg {
        dup: p.dup,
        qos: p.qos as u8,
        retain: p.retain,
        topic: p.topic.into(),
        pid: p.pid.map(|p| p.get()),
        payload: p.payload.into(),
    }
}

fn decode_mqttrs(wire: &[u8]) -> Msg {
    let r = mqttrs::decode_slice(wire);
    let Ok(Some(mqttrs::Packet::Publish(p))) = r else {
        panic!("mqttrs: not a PUBLISH: {r:?}")
    };
    let qos = match p.qospid.qos() {
        mqttrs::QoS::AtMostOnce => 0,
        mqttrs::QoS::AtLeastOnce => 1,
        mqttrs::QoS::ExactlyOnce => 2,
    };
    Msg {
        dup: p.dup,
        qos,
        retain: p.retain,
        topic: p.topic_name.into(),
        pid: p.qospid.pid().map(|p| p.get()),
        payload: p.payload.into(),
    }
}

fn decode_mqttbytes(wire: &'static [u8]) -> Msg {
    let p = mqttbytes_decode(&Bytes::from_static(wire)).expect("mqttbytes: not a PUBLISH");
    let qos = p.qos as u8;
    Msg {
        dup: p.dup,
        qos,
        retain: p.retain,
        topic: p.topic,
        pid: (qos > 0).then_some(p.pkid),
        payload: p.payload.to_vec(),
    }
}

/// mqttbytes' `v4::read` without its BytesMut split/freeze: header check, type dispatch, PUBLISH body.
#[inline(always)]
fn mqttbytes_decode(stream: &Bytes) -> Result<mqttbytes::v4::Publish, mqttbytes::Error> {
    let header = mqttbytes::check(stream.iter(), usize::MAX)?;
    match header.packet_type()? {
        mqttbytes::PacketType::Publish => {
            let mut frame = stream.clone(); // static: no refcount, no copy
            frame.truncate(header.frame_length());
            mqttbytes::v4::Publish::read(header, frame)
        }
        other => Err(mqttbytes::Error::NotConnect(other)),
    }
}

/// Refuses to time anything unless all three libraries agree on both directions.
fn check_fairness(case: &Case) {
    let expected = case.expected();
    for (lib, got) in [
        ("umqtt-native", decode_ours(case.wire)),
        (MQTTRS, decode_mqttrs(case.wire)),
        (MQTTBYTES, decode_mqttbytes(case.wire)),
    ] {
        assert_eq!(got, expected, "{lib} decodes {} differently", case.name);
    }
    let mut out = vec![0u8; case.wire.len() + 64];
    let n = case.ours().encode(&mut out).unwrap();
    assert_eq!(
        &out[..n],
        case.wire,
        "umqtt-native encodes {} differently",
        case.name
    );
    assert_eq!(case.ours().encoded_len().unwrap(), n);
    let n = mqttrs::encode_slice(&case.mqttrs(), &mut out).unwrap();
    assert_eq!(
        &out[..n],
        case.wire,
        "mqttrs encodes {} differently",
        case.name
    );
    let mut buf = BytesMut::new();
    let n = case.mqttbytes().write(&mut buf).unwrap();
    assert_eq!(n, buf.len());
    assert_eq!(
        &buf[..],
        case.wire,
        "mqttbytes encodes {} differently",
        case.name
    );
}

type Batch<'a> = Box<dyn FnMut(u64) + 'a>;

/// The timed loops. Each closure is its own monomorphic loop; black_box hides inputs and results.
fn batches(case: &Case) -> [[Batch<'_>; 3]; 2] {
    let wire = case.wire;
    let ours = case.ours();
    let theirs = case.mqttrs();
    let bytes_msg = case.mqttbytes();
    let mut out1 = vec![0u8; wire.len() + 64];
    let mut out2 = vec![0u8; wire.len() + 64];
    let mut bm = BytesMut::with_capacity(wire.len() + 64);
    let stream = Bytes::from_static(wire);
    [
        [
            Box::new(move |n| {
                for _ in 0..n {
                    black_box(black_box(&ours).encode(black_box(&mut out1[..])).unwrap());
                }
            }),
            Box::new(move |n| {
                for _ in 0..n {
                    black_box(
                        mqttrs::encode_slice(black_box(&theirs), black_box(&mut out2[..])).unwrap(),
                    );
                }
            }),
            Box::new(move |n| {
                for _ in 0..n {
                    let buf = black_box(&mut bm);
                    buf.clear();
                    black_box(black_box(&bytes_msg).write(buf).unwrap());
                }
            }),
        ],
        [
            Box::new(move |n| {
                for _ in 0..n {
                    black_box(codec::decode(black_box(wire)).unwrap());
                }
            }),
            Box::new(move |n| {
                for _ in 0..n {
                    black_box(mqttrs::decode_slice(black_box(wire)).unwrap());
                }
            }),
            Box::new(move |n| {
                for _ in 0..n {
                    black_box(mqttbytes_decode(black_box(&stream)).unwrap());
                }
            }),
        ],
    ]
}

const OPS: [&str; 2] = ["encode", "decode"];

/// One (case, op, library) and what was measured for it.
struct Series {
    case: usize,
    op: usize,
    lib: usize,
    iters: u64,
    ns: Vec<f64>,
    /// Instructions per op under callgrind (`--instructions`).
    instr: Option<f64>,
}

impl Series {
    fn id(&self, cases: &[Case]) -> String {
        format!(
            "{}/{}/{}",
            cases[self.case].name, OPS[self.op], LIBS[self.lib]
        )
    }
}

fn time(batch: &mut Batch<'_>, iters: u64) -> Duration {
    let start = Instant::now();
    batch(iters);
    start.elapsed()
}

/// Iterations that fill about `target` (at least 1000 per batch, so timer cost is negligible).
fn calibrate(batch: &mut Batch<'_>, target: Duration) -> u64 {
    let mut iters = 1000u64;
    loop {
        let t = time(batch, iters);
        if t >= target / 4 {
            return ((iters as f64 * target.as_secs_f64() / t.as_secs_f64()) as u64).max(1000);
        }
        iters *= 4;
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

struct Stats {
    median: f64,
    q1: f64,
    q3: f64,
    min: f64,
}

fn stats(ns: &[f64]) -> Stats {
    let mut s = ns.to_vec();
    s.sort_by(f64::total_cmp);
    Stats {
        median: quantile(&s, 0.5),
        q1: quantile(&s, 0.25),
        q3: quantile(&s, 0.75),
        min: s[0],
    }
}

struct Args {
    rounds: usize,
    sample: Duration,
    json: Option<String>,
    csv: Option<String>,
    /// Also count instructions per op under callgrind (deterministic, immune to a busy machine).
    instructions: bool,
    /// Internal, for callgrind: run the loop named by `only` exactly `count` times, untimed.
    count: Option<u64>,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        rounds: 31,
        sample: Duration::from_millis(8),
        json: None,
        csv: None,
        instructions: false,
        count: None,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => a.rounds = val().parse().expect("--rounds N"),
            "--sample-ms" => {
                a.sample = Duration::from_millis(val().parse().expect("--sample-ms MS"))
            }
            "--json" => a.json = Some(val()),
            "--csv" => a.csv = Some(val()),
            "--instructions" => a.instructions = true,
            "--count" => a.count = Some(val().parse().expect("--count N")),
            "--only" => a.only = Some(val()),
            "--quick" => (a.rounds, a.sample) = (7, Duration::from_millis(2)),
            _ => panic!("unknown argument {arg}; see the header of bench/codec/src/main.rs"),
        }
    }
    assert!(a.rounds >= 1 && !a.sample.is_zero());
    a
}

fn main() {
    let args = args();
    let cases: Vec<Case> = [(0, 32), (1, 32), (0, 1024), (1, 1024)]
        .iter()
        .map(|&(q, n)| Case::new(q, n))
        .collect();
    for case in &cases {
        check_fairness(case);
    }
    let mut loops: Vec<[[Batch<'_>; 3]; 2]> = cases.iter().map(batches).collect();
    let mut series = Vec::new();
    for c in 0..cases.len() {
        for o in 0..OPS.len() {
            for l in 0..LIBS.len() {
                series.push(Series {
                    case: c,
                    op: o,
                    lib: l,
                    iters: 0,
                    ns: Vec::new(),
                    instr: None,
                });
            }
        }
    }
    if let Some(n) = args.count {
        for s in &series {
            if args.only.as_deref().is_none_or(|id| id == s.id(&cases)) {
                loops[s.case][s.op][s.lib](n);
            }
        }
        return;
    }
    eprintln!("fairness check passed: all three libraries decode the same message and encode the same bytes");

    for s in series.iter_mut() {
        s.iters = calibrate(&mut loops[s.case][s.op][s.lib], args.sample);
    }
    let started = Instant::now();
    for round in 0..args.rounds {
        for s in series.chunks_mut(LIBS.len()) {
            // One batch per library; rotate who goes first so none always runs on a cold or warm cache.
            for k in 0..LIBS.len() {
                let s = &mut s[(k + round) % LIBS.len()];
                let t = time(&mut loops[s.case][s.op][s.lib], s.iters);
                s.ns.push(t.as_nanos() as f64 / s.iters as f64);
            }
        }
    }
    let timed = started.elapsed();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");

    let mut out = String::new();
    let _ = writeln!(
        out,
        "PUBLISH codec benchmark, topic \"{TOPIC}\" ({} B), packet id {PID:#06x} for QoS 1; all crates at opt-level {OPT_LEVEL}",
        TOPIC.len()
    );
    let _ = writeln!(
        out,
        "Time: {} rounds x {} ms per sample, libraries interleaved (order rotated each round); median ns/op over the \
         rounds ([q1, q3] in the JSON/CSV). Timed part: {:.1} s, load average after it: {load}",
        args.rounds,
        args.sample.as_millis(),
        timed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "ratio = theirs / ours, the median of the per-round ratios (each round times the three side by side): \
         above 1.00x means umqtt-native is faster.\n"
    );
    let time_of = |s: &Series| stats(&s.ns).median;
    table(&mut out, &cases, &series, ("ns", 1), time_of, |s| {
        time_ratio(&series, s)
    });

    if args.instructions {
        match count_instructions(&cases, &mut series) {
            Ok(()) => {
                let _ = writeln!(out, "\nInstructions per op (valgrind --tool=callgrind, {CG_OPS} ops per run; exact, not timing):\n");
                let instr_ratio = |s: &Series| s.instr.unwrap() / ours(&series, s).instr.unwrap();
                table(
                    &mut out,
                    &cases,
                    &series,
                    ("in", 0),
                    |s| s.instr.unwrap(),
                    instr_ratio,
                );
            }
            Err(e) => {
                let _ = writeln!(out, "\ninstruction counts skipped: {e}");
            }
        }
    }

    let _ = writeln!(out, "\nAPIs timed (each library's fastest reasonable use; inputs built once, outside the loop):");
    for (lib, enc, dec) in APIS {
        let _ = writeln!(out, "  {lib}\n    encode: {enc}\n    decode: {dec}");
    }
    let slower: Vec<String> = series
        .iter()
        .filter(|s| s.lib != 0 && time_ratio(&series, s) < 1.0)
        .map(|s| {
            let (c, o, r) = (&cases[s.case].name, OPS[s.op], time_ratio(&series, s));
            format!(
                "{c} {o}: {:.1} ns vs {} {:.1} ns (ratio {r:.2}x)",
                time_of(ours(&series, s)),
                LIBS[s.lib],
                time_of(s)
            )
        })
        .collect();
    if slower.is_empty() {
        let _ = writeln!(
            out,
            "\numqtt-native is the fastest in every case (by time ratio)."
        );
    } else {
        let _ = writeln!(out, "\numqtt-native is slower (by time ratio) in:");
        for s in &slower {
            let _ = writeln!(out, "  {s}");
        }
    }
    print!("{out}");

    if let Some(path) = &args.json {
        write_file(path, &json(&args, &cases, &series, &load));
    }
    if let Some(path) = &args.csv {
        write_file(path, &csv(&cases, &series));
    }
}

/// Rows: case x op; columns: the three libraries and the two ratios.
fn table(
    out: &mut String,
    cases: &[Case],
    series: &[Series],
    (unit, digits): (&str, usize),
    value: impl Fn(&Series) -> f64,
    ratio: impl Fn(&Series) -> f64,
) {
    let _ = writeln!(
        out,
        "{:<10} {:<6} {:>6} | {:>12} | {:>12} {:>6} | {:>15} {:>6}",
        "case", "op", "wire", "umqtt-native", MQTTRS, "ratio", MQTTBYTES, "ratio"
    );
    let _ = writeln!(out, "{}", "-".repeat(87));
    for row in series.chunks(LIBS.len()) {
        let case = &cases[row[0].case];
        let v: Vec<f64> = row.iter().map(&value).collect();
        let r: Vec<f64> = row.iter().map(&ratio).collect();
        let _ = writeln!(
            out,
            "{:<10} {:<6} {:>4} B | {:>9.digits$} {unit} | {:>9.digits$} {unit} {:>5.2}x | {:>12.digits$} {unit} {:>5.2}x",
            case.name,
            OPS[row[0].op],
            case.wire.len(),
            v[0],
            v[1],
            r[1],
            v[2],
            r[2]
        );
    }
}

const CG_OPS: u64 = 20_000;

/// Runs this binary under callgrind once per series; (Ir(N ops) - Ir(0 ops)) / N is one op's cost.
fn count_instructions(cases: &[Case], series: &mut [Series]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let run = |count: u64, only: &str| -> Result<f64, String> {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["--count", &count.to_string(), "--only", only])
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        let ir = err
            .lines()
            .find_map(|l| l.split("Collected : ").nth(1))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("no callgrind total in: {err}"))?;
        if !out.status.success() {
            return Err(format!("benchmark failed under valgrind: {err}"));
        }
        Ok(ir)
    };
    let base = run(0, "none")?;
    eprintln!(
        "counting instructions: {} runs under callgrind",
        series.len()
    );
    for s in series.iter_mut() {
        s.instr = Some((run(CG_OPS, &s.id(cases))? - base) / CG_OPS as f64);
    }
    Ok(())
}

fn ours<'s>(series: &'s [Series], s: &Series) -> &'s Series {
    series
        .iter()
        .find(|x| (x.case, x.op, x.lib) == (s.case, s.op, 0))
        .unwrap()
}

/// Median over the rounds of theirs / ours: a load change between rounds hits both sides of a ratio.
fn time_ratio(series: &[Series], s: &Series) -> f64 {
    let per_round: Vec<f64> =
        s.ns.iter()
            .zip(&ours(series, s).ns)
            .map(|(t, o)| t / o)
            .collect();
    stats(&per_round).median
}

fn write_file(path: &str, text: &str) {
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    eprintln!("wrote {path}");
}

/// One figure of a result row, as the CSV (bare) and the JSON (quoted text, `null`) spell it.
enum Figure {
    Text(String),
    Number(String),
    Missing,
}

/// The figures of one series that both output files hold, under their column (and key) names,
/// in the CSV's column order.
fn figures(cases: &[Case], series: &[Series], s: &Series) -> Vec<(&'static str, Figure)> {
    let (case, st, base) = (&cases[s.case], stats(&s.ns), ours(series, s));
    let optional = |v: Option<String>| v.map_or(Figure::Missing, Figure::Number);
    vec![
        ("case", Figure::Text(case.name.to_string())),
        ("qos", Figure::Number(case.qos.to_string())),
        ("payload_bytes", Figure::Number(case.payload.len().to_string())),
        ("wire_bytes", Figure::Number(case.wire.len().to_string())),
        ("op", Figure::Text(OPS[s.op].to_string())),
        ("library", Figure::Text(LIBS[s.lib].to_string())),
        ("median_ns", Figure::Number(format!("{:.2}", st.median))),
        ("q1_ns", Figure::Number(format!("{:.2}", st.q1))),
        ("q3_ns", Figure::Number(format!("{:.2}", st.q3))),
        ("min_ns", Figure::Number(format!("{:.2}", st.min))),
        ("ratio_vs_umqtt_native", Figure::Number(format!("{:.3}", time_ratio(series, s)))),
        ("iters_per_sample", Figure::Number(s.iters.to_string())),
        ("rounds", Figure::Number(s.ns.len().to_string())),
        ("instructions_per_op", optional(s.instr.map(|v| format!("{v:.1}")))),
        ("instructions_ratio_vs_umqtt_native", optional(s.instr.zip(base.instr).map(|(a, b)| format!("{:.3}", a / b)))),
    ]
}

fn csv(cases: &[Case], series: &[Series]) -> String {
    let mut t = String::new();
    for (i, s) in series.iter().enumerate() {
        let row = figures(cases, series, s);
        if i == 0 {
            let names: Vec<&str> = row.iter().map(|(name, _)| *name).collect();
            let _ = writeln!(t, "{}", names.join(","));
        }
        let values: Vec<&str> = row
            .iter()
            .map(|(_, f)| match f {
                Figure::Text(v) | Figure::Number(v) => v.as_str(),
                Figure::Missing => "",
            })
            .collect();
        let _ = writeln!(t, "{}", values.join(","));
    }
    t
}

fn json(args: &Args, cases: &[Case], series: &[Series], load: &str) -> String {
    let mut t = String::from("{\n");
    let _ = writeln!(t, "  \"benchmark\": \"publish codec\",\n  \"topic\": \"{TOPIC}\",\n  \"opt_level\": \"{OPT_LEVEL}\",");
    let _ = writeln!(
        t,
        "  \"rounds\": {},\n  \"sample_ms\": {},\n  \"loadavg\": \"{load}\",",
        args.rounds,
        args.sample.as_millis()
    );
    t.push_str("  \"apis\": {\n");
    for (i, (lib, enc, dec)) in APIS.iter().enumerate() {
        let sep = if i + 1 < APIS.len() { "," } else { "" };
        let _ = writeln!(
            t,
            "    \"{lib}\": {{\"encode\": \"{}\", \"decode\": \"{}\"}}{sep}",
            esc(enc),
            esc(dec)
        );
    }
    t.push_str("  },\n  \"results\": [\n");
    for (i, s) in series.iter().enumerate() {
        let mut fields: Vec<String> = figures(cases, series, s)
            .into_iter()
            .map(|(name, f)| match f {
                Figure::Text(v) => format!("\"{name}\": \"{}\"", esc(&v)),
                Figure::Number(v) => format!("\"{name}\": {v}"),
                Figure::Missing => format!("\"{name}\": null"),
            })
            .collect();
        let samples: Vec<String> = s.ns.iter().map(|x| format!("{x:.2}")).collect();
        fields.push(format!("\"samples_ns\": [{}]", samples.join(", ")));
        let sep = if i + 1 < series.len() { "," } else { "" };
        let _ = writeln!(t, "    {{{}}}{sep}", fields.join(", "));
    }
    t.push_str("  ]\n}\n");
    t
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
