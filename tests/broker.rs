//! Through the C ABI against a real broker.
//!
//! Builds the no_std staticlib (`cargo build --release` into target/c-abi: a
//! separate target dir, so the nested cargo does not wait on the lock of the
//! `cargo test` that runs us), compiles tests/c/*.c against it with the C
//! compiler, starts mosquitto on a free loopback port with a password file and
//! `allow_anonymous false`, and runs the C program (tests/c/broker_client.c,
//! which prints and asserts each check) while a paho-mqtt peer
//! (tests/broker/will_watcher.py) watches the Last Will topics from outside.
//!
//! mosquitto and paho-mqtt are required: when either is missing the test
//! fails and says what to install (.ci/run installs both).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const USER: &str = "umqtt-tester";
const PASSWORD: &str = "pw-5f3a";
/// mosquitto 2.0 (checked with 2.0.11) answers a wrong password from an MQTT
/// 3.1.1 client with CONNACK 5, "not authorised" (not 4, "bad user name or password").
const REFUSED_CODE: u8 = 5;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir() -> PathBuf {
    root().join("target/c-abi")
}

/// `name` from the environment variable `var`, PATH, or the sbin directories.
fn find_tool(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn require_tool(var: &str, name: &str) -> PathBuf {
    find_tool(var, name).unwrap_or_else(|| {
        panic!("{name} not found (PATH, /usr/sbin, or ${var}): install mosquitto (Debian: apt-get install mosquitto)")
    })
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The release staticlib, as firmware links it.
fn build_staticlib() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    run(
        Command::new(cargo)
            .current_dir(root())
            .args(["build", "--release", "--lib", "--target-dir"])
            .arg(out_dir()),
        "cargo build --release (staticlib)",
    );
    let lib = out_dir().join("release/libumqtt_native.a");
    assert!(lib.is_file(), "{} was not built", lib.display());
    lib
}

/// Compiles the C test program against the staticlib, with ASan and UBSan
/// when the compiler has them (UMQTT_C_SANITIZE=0 turns them off).
fn build_c_program(lib: &Path, dir: &Path) -> PathBuf {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let exe = dir.join("broker_client");
    let compile = |sanitize: bool| {
        let mut cmd = Command::new(&cc);
        cmd.args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]);
        if sanitize {
            cmd.args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]);
        }
        cmd.arg("-I").arg(root().join("c_glue"));
        cmd.arg(root().join("tests/c/posix_env.c")).arg(root().join("tests/c/broker_client.c"));
        cmd.arg(lib).arg("-o").arg(&exe);
        cmd.output().unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"))
    };
    let want_sanitize = std::env::var("UMQTT_C_SANITIZE").map_or(true, |v| v != "0");
    if want_sanitize {
        let out = compile(true);
        if out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            return exe;
        }
        eprintln!("note: C compiler has no ASan/UBSan here, building without:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = compile(false);
    assert!(out.status.success(), "compiling tests/c failed:\n{}", String::from_utf8_lossy(&out.stderr));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    exe
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("umqtt-broker-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop (also when the test panics).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Broker {
    process: Guard,
    port: u16,
    log: PathBuf,
}

impl Broker {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// mosquitto on a free 127.0.0.1 port, password required.
fn start_broker(dir: &Path) -> Broker {
    let mosquitto = require_tool("MOSQUITTO", "mosquitto");
    let passwd_tool = require_tool("MOSQUITTO_PASSWD", "mosquitto_passwd");
    let passwd = dir.join("passwd");
    run(Command::new(passwd_tool).args(["-c", "-b"]).arg(&passwd).args([USER, PASSWORD]), "mosquitto_passwd");
    let log = dir.join("mosquitto.log");
    // The port is free when asked; another process could take it before mosquitto binds, so retry.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = dir.join("mosquitto.conf");
        fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence false\n\
                 log_dest stderr\nlog_type all\nconnection_messages true\n",
                passwd.display()
            ),
        )
        .unwrap();
        let log_file = fs::File::create(&log).unwrap();
        let child = Command::new(&mosquitto)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", mosquitto.display()));
        let mut broker = Broker { process: Guard(child), port, log: log.clone() };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Some(status) = broker.process.0.try_wait().unwrap() {
                eprintln!("mosquitto exited ({status}) on port {port}:\n{}", broker.log());
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return broker;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("mosquitto did not start; log:\n{}", fs::read_to_string(&log).unwrap_or_default());
}

/// The paho-mqtt peer, subscribed to PREFIX/will/# once `ready` returns.
struct Watcher {
    process: Guard,
    lines: mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
}

fn start_watcher(port: u16, prefix: &str) -> Watcher {
    let python = find_tool("PYTHON", "python3").expect("python3 not found: the paho-mqtt peer needs it");
    let probe = Command::new(&python).args(["-c", "import paho.mqtt.client"]).output().expect("cannot run python3");
    assert!(
        probe.status.success(),
        "paho-mqtt is not importable by {}: install it (pip install paho-mqtt)\n{}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    let mut child = Command::new(python)
        .arg(root().join("tests/broker/will_watcher.py"))
        .args(["127.0.0.1", &port.to_string(), USER, PASSWORD, prefix, "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the paho-mqtt peer");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Watcher { process: Guard(child), lines, stderr }
}

impl Watcher {
    fn ready(&self) -> Result<(), String> {
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line == "READY" => Ok(()),
            Ok(line) => Err(format!("unexpected first line {line:?}")),
            Err(e) => Err(format!("no READY within 10 s ({e})")),
        }
    }

    /// Message lines until the end marker (or the watcher exits), and its stderr.
    fn finish(self, end_topic: &str) -> (Vec<String>, String) {
        let Watcher { mut process, lines, stderr } = self;
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let end = line.contains(&format!("\"topic\": \"{end_topic}\""));
                    got.push(line);
                    if end {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = process.0.kill();
        let _ = process.0.wait();
        (got, stderr.join().unwrap_or_default())
    }
}

/// Runs the C program with a time limit; its exit status and output.
fn run_c_program(exe: &Path, port: u16, prefix: &str, dir: &Path) -> (Option<i32>, String, Duration) {
    let out_path = dir.join("broker_client.out");
    let out = fs::File::create(&out_path).unwrap();
    let start = Instant::now();
    let child = Command::new(exe)
        .args(["127.0.0.1", &port.to_string(), USER, PASSWORD, prefix, &REFUSED_CODE.to_string()])
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .env("UBSAN_OPTIONS", "print_stacktrace=1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("cannot run the C test program");
    let mut child = Guard(child);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(25) {
            break None; // killed by the guard below
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    drop(child);
    let output = fs::read_to_string(&out_path).unwrap_or_default();
    (status.and_then(|s| s.code()), output, elapsed)
}

#[test]
fn c_abi_against_mosquitto() {
    let t0 = Instant::now();
    let dir = TempDir::new();
    let lib = build_staticlib();
    let exe = build_c_program(&lib, &dir.0);
    let built = t0.elapsed();

    let broker = start_broker(&dir.0);
    let prefix = format!("umqtt-test/{}", std::process::id());
    let watcher = start_watcher(broker.port, &prefix);
    if let Err(e) = watcher.ready() {
        let (_, stderr) = watcher.finish("");
        panic!("paho-mqtt peer not ready: {e}\n{stderr}\nbroker log:\n{}", broker.log());
    }

    let (code, output, ran) = run_c_program(&exe, broker.port, &prefix, &dir.0);
    let (seen, watcher_err) = watcher.finish(&format!("{prefix}/will/end"));
    println!("{output}");
    println!("paho peer saw:\n{}", seen.join("\n"));
    println!("build {:.1} s, C program {:.2} s, total {:.1} s", built.as_secs_f64(), ran.as_secs_f64(), t0.elapsed().as_secs_f64());

    let context = || format!("C program output:\n{output}\npaho peer saw:\n{}\n{watcher_err}\nbroker log:\n{}", seen.join("\n"), broker.log());
    assert_eq!(code, Some(0), "the C test program failed (exit {code:?}; None: killed after 25 s)\n{}", context());
    let last = output.lines().rev().find(|l| l.ends_with(" failed")).unwrap_or("");
    assert!(last.ends_with(" 0 failed") && !output.contains("\nFAIL"), "checks failed\n{}", context());

    // The outside observer saw b's will, then the end marker, and nothing else: a and c
    // left cleanly (their wills must not be published), b was dropped (its will must be).
    let topic_of = |l: &String| l.split("\"topic\": \"").nth(1).and_then(|t| t.split('"').next()).unwrap_or("").to_string();
    let topics: Vec<String> = seen.iter().map(topic_of).collect();
    assert_eq!(topics, [format!("{prefix}/will/b"), format!("{prefix}/will/end")], "Last Wills seen from outside\n{}", context());
    assert!(
        seen[0].contains(&format!("\"payload_hex\": \"{}\"", hex(b"b-gone"))) && seen[0].contains("\"qos\": 1"),
        "b's Last Will has the wrong payload or QoS: {}\n{}",
        seen[0],
        context()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
