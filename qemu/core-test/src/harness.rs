//! A tiny test runner: named checks returning `Result<(), Fail>`.

use core::fmt::{self, Write};

/// Why a check failed, formatted into a fixed buffer (truncated if long).
pub struct Fail(pub heapless::String<256>);

impl Fail {
    pub fn new(args: fmt::Arguments<'_>) -> Fail {
        let mut s = heapless::String::new();
        let _ = s.write_fmt(args);
        Fail(s)
    }
}

pub type Check = Result<(), Fail>;

/// `ensure!(cond, "why {}", x)`: fail the check unless `cond`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::harness::Fail::new(format_args!($($arg)+)));
        }
    };
}

/// `ensure_eq!(got, want, "what")`: fail with both values shown.
#[macro_export]
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    return Err($crate::harness::Fail::new(format_args!("{}: got {:?}, want {:?}", $what, got, want)));
                }
            }
        }
    };
}

/// Bytes as hex, for messages.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl PartialEq for Hex<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

pub struct Harness {
    pub passed: u32,
    pub failed: u32,
}

impl Harness {
    pub fn new() -> Self {
        Harness { passed: 0, failed: 0 }
    }

    pub fn check(&mut self, group: &str, name: &str, f: impl FnOnce() -> Check) {
        crate::print!("test {group}/{name} ... ");
        match f() {
            Ok(()) => {
                self.passed += 1;
                crate::println!("ok");
            }
            Err(Fail(why)) => {
                self.failed += 1;
                crate::println!("FAIL: {why}");
            }
        }
    }
}
