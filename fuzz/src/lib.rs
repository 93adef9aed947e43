//! Fuzz harnesses, kept apart from the libFuzzer entry points so that
//! `tests/regressions.rs` can replay an input through exactly the same checks.
//! Each harness panics on a broken invariant; libFuzzer reports that as a crash.

pub mod client;
pub mod decode;
