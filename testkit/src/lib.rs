//! Test doubles and checks shared by the host tests (`tests/`), the no_std core-test image on
//! QEMU (`qemu/core-test`) and the fuzzer (`fuzz/`).
//!
//! - [`mem`]: an in-memory broker side ([`mem::MemIo`]: scripted input chunks, every write
//!   kept apart, a simulated clock, would-block and write limits) and a sink ([`mem::MemSink`]),
//!   in fixed buffers: no allocator; with the `std` feature, [`host`] gives the same transport
//!   `Vec` storage and adds a sink that keeps every message.
//! - [`check`]: a runner of named checks for targets without a test harness.
//! - [`codec_checks`], [`driver_checks`]: the checks themselves, listed once; [`run_all`] runs
//!   them, on riscv32imc under QEMU and in one `#[test]` on the host.
#![no_std]
#![warn(missing_docs)]
// Check failures carry their message inline (no allocator): a large Err is the point.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod codec_checks;
pub mod driver_checks;
#[cfg(feature = "std")]
pub mod host;
pub mod mem;

pub use check::{Check, Fail, Harness, Hex};

/// Runs every shared check (codec, then session and driver) through `h`.
pub fn run_all<W: core::fmt::Write>(h: &mut Harness<W>) {
    codec_checks::run(h);
    driver_checks::run(h);
}
