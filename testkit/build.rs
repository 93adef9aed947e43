//! Turns the shared MQTT seed vectors into a Rust table in OUT_DIR: the core-test image has no
//! file system, and the vectors stay out of the repository (../shared/vectors/ beside it).

use std::{env, fmt::Write as _, fs, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let path = env::var_os("UMQTT_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../shared/vectors/mqtt311-seed-vectors.txt"));
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rerun-if-env-changed=UMQTT_VECTORS");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read the MQTT vectors at {}: {e} (set UMQTT_VECTORS)", path.display()));

    let mut out = String::from("/// Every line of the shared seed vectors, in file order.\npub static VECTORS: &[Vector] = &[\n");
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let [name, meaning, hex] = fields[..] else {
            panic!("{}:{}: expected `name | meaning | hex`", path.display(), n + 1);
        };
        let digits: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(digits.len().is_multiple_of(2), "{}:{}: odd number of hex digits", path.display(), n + 1);
        let bytes: Vec<u8> = (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or_else(|_| panic!("{}:{}: bad hex", path.display(), n + 1)))
            .collect();
        writeln!(out, "    Vector {{ name: {name:?}, meaning: {meaning:?}, bytes: &{bytes:?} }},").unwrap();
    }
    out.push_str("];\n");
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("vectors.rs"), out).unwrap();
}
