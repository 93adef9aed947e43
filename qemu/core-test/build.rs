//! Links the bare-machine image with qemu-virt.ld (its memory map and start-up sections on
//! QEMU `virt`).

use std::{env, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=qemu-virt.ld");
    // Only the bare-machine image has its own memory map; a host build links as usual.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rustc-link-arg=-T{}", manifest.join("qemu-virt.ld").display());
}
