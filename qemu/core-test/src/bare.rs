//! The image proper: start-up code, the UART, and the SiFive test device that ends QEMU.

use core::arch::global_asm;
use core::fmt::Write;

global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    la t0, trap_entry
    csrw mtvec, t0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call image_main
3:  j 3b

    .balign 4
trap_entry:
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call image_trap
4:  j 4b
"#
);

/// NS16550A transmit register on `virt`.
const UART_BASE: usize = 0x1000_0000;
/// SiFive test device: a write ends QEMU.
const TEST_DEVICE: usize = 0x0010_0000;

/// The `virt` machine's UART, polled.
pub struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: the virt machine maps a 16550 here; LSR (offset 5) bit 5 = transmitter ready.
            unsafe {
                while core::ptr::read_volatile((UART_BASE + 5) as *const u8) & 0x20 == 0 {}
                core::ptr::write_volatile(UART_BASE as *mut u8, b);
            }
        }
        Ok(())
    }
}

macro_rules! println {
    ($($arg:tt)*) => {{ let _ = core::writeln!(Uart, $($arg)*); }};
}

fn exit(failed: u32) -> ! {
    let code = if failed == 0 { 0x5555 } else { (failed.min(0xFFFF) << 16) | 0x3333 };
    // SAFETY: the SiFive test device on virt; the write does not return under QEMU.
    unsafe { core::ptr::write_volatile(TEST_DEVICE as *mut u32, code) };
    loop {
        core::hint::spin_loop();
    }
}

#[no_mangle]
extern "C" fn image_main() -> ! {
    println!("umqtt-native core test on rv32imc (qemu virt)");
    let mut h = umqtt_testkit::Harness::new(Uart);
    umqtt_testkit::run_all(&mut h);
    h.summary();
    exit(h.failed)
}

#[no_mangle]
extern "C" fn image_trap(mcause: usize, mepc: usize, mtval: usize) -> ! {
    println!("\nTRAP mcause={mcause:#x} mepc={mepc:#x} mtval={mtval:#x}");
    exit(0xFFFF)
}
