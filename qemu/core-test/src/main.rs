//! The umqtt-native core on a bare rv32imc machine (QEMU `virt`, -bios none).
//!
//! Runs every check of `umqtt_testkit` (the codec, session and driver checks the host runs
//! too), one line each on the UART (`test <name> ... ok` / `FAIL: why`), then
//! `N passed, M failed`, and ends QEMU through the SiFive test device: 0x5555 when all passed,
//! else (failed << 16) | 0x3333. The line is printed before a check runs, so a hang or a panic
//! (the library's handler spins) shows which check it was.
//!
//! Built for anything but a bare machine (a workspace-wide `cargo build` on the host), the
//! binary runs the same checks with std and prints them to stdout.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod bare;

#[cfg(not(target_os = "none"))]
fn main() {
    /// std's stdout as a `core::fmt::Write`, for the check runner.
    struct Stdout;

    impl core::fmt::Write for Stdout {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            std::io::Write::write_all(&mut std::io::stdout(), s.as_bytes()).map_err(|_| core::fmt::Error)
        }
    }

    let mut h = umqtt_testkit::Harness::new(Stdout);
    umqtt_testkit::run_all(&mut h);
    h.summary();
    std::process::exit(h.failed.min(255) as i32);
}
