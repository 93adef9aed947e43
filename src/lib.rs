//! umqtt-native: an MQTT 3.1.1 client engine for microcontrollers.
//!
//! Layers, each its own module: [`codec`] (wire format), [`session`] (the protocol state),
//! [`connection`] (one connection as a sans-IO state machine), [`driver`] (a blocking client
//! over `embedded-io`, a loop over a connection), and
//! [`ffi`] (the C ABI declared in `c_glue/umqtt_native.h`).
//!
//! Flash is the boards' scarcest resource, and `scripts/size-report` measured each of these
//! attributes (each stays only where it made riscv32imc `.text` smaller): a bare
//! `#[inline(never)]` marks a function that many call sites share, where a copy inlined into
//! each made the firmware larger (none sits on a per-byte loop); a bare `#[inline(always)]`
//! marks one with one or two callers in what a firmware links, which the release profile's
//! `opt-level = "s"` kept out of line although its call, saved registers and spills cost more
//! than the body it would have copied.
#![no_std]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod codec;
pub mod connection;
pub mod driver;
pub mod ffi;
#[cfg(feature = "std")]
pub mod posix;
pub mod session;

#[cfg(all(feature = "panic-handler", not(any(test, feature = "std"))))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Built with panic = "abort"; nothing reachable from the FFI is meant to panic.
    loop {}
}

/// The precompiled `core` of hosted targets (the unix port links us into a Linux binary) refers
/// to this symbol even with panic = "abort", where it is never called.
#[cfg(not(any(test, feature = "std", target_os = "none")))]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
