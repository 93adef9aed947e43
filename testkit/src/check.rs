//! A tiny check runner for targets without a test harness: named checks returning
//! [`Check`], one line of output each, failures counted.

use core::fmt::{self, Write};

/// Why a check failed, formatted into a fixed buffer (truncated if long: no allocator).
#[derive(Debug)]
pub struct Fail(pub heapless::String<256>);

impl Fail {
    /// Formats `args` as the reason (what does not fit in 256 bytes is cut off).
    pub fn new(args: fmt::Arguments<'_>) -> Fail {
        let mut s = heapless::String::new();
        let _ = s.write_fmt(args);
        Fail(s)
    }
}

/// The outcome of one check.
pub type Check = Result<(), Fail>;

/// `ensure!(cond, "why {}", x)`: fail the check unless `cond`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::check::Fail::new(format_args!($($arg)+)));
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
                    return Err($crate::check::Fail::new(format_args!("{}: got {:?}, want {:?}", $what, got, want)));
                }
            }
        }
    };
}

/// Bytes as hex, for messages (`01 A5 FF`).
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

/// Runs checks and writes `test <group>/<name> ... ok` or `... FAIL: why` for each to `out`.
pub struct Harness<W: Write> {
    /// Where the report goes (a UART on the image, a `String` on the host).
    pub out: W,
    /// Checks that passed so far.
    pub passed: u32,
    /// Checks that failed so far.
    pub failed: u32,
}

impl<W: Write> Harness<W> {
    /// A runner with nothing run yet.
    pub fn new(out: W) -> Self {
        Harness { out, passed: 0, failed: 0 }
    }

    /// Runs one check. Its name is written before it runs, so that a hang or a panic on a
    /// bare machine (where the panic handler spins) shows which check it was.
    pub fn check(&mut self, group: &str, name: &str, f: impl FnOnce() -> Check) {
        let _ = write!(self.out, "test {group}/{name} ... ");
        match f() {
            Ok(()) => {
                self.passed += 1;
                let _ = writeln!(self.out, "ok");
            }
            Err(Fail(why)) => {
                self.failed += 1;
                let _ = writeln!(self.out, "FAIL: {why}");
            }
        }
    }

    /// The closing line every runner of this project prints: `N passed, M failed`.
    pub fn summary(&mut self) {
        let _ = writeln!(self.out, "{} passed, {} failed", self.passed, self.failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the report in a fixed buffer.
    struct Report(heapless::String<512>);

    impl Write for Report {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.push_str(s).map_err(|_| fmt::Error)
        }
    }

    #[test]
    fn counts_and_reports_each_check() {
        let mut h = Harness::new(Report(heapless::String::new()));
        h.check("g", "good", || Ok(()));
        h.check("g", "bad", || {
            ensure_eq!(1 + 1, 3, "sum");
            Ok(())
        });
        h.summary();
        assert_eq!((h.passed, h.failed), (1, 1));
        assert_eq!(h.out.0.as_str(), "test g/good ... ok\ntest g/bad ... FAIL: sum: got 2, want 3\n1 passed, 1 failed\n");
    }

    #[test]
    fn hex_spaces_the_bytes() {
        let mut s = heapless::String::<32>::new();
        write!(s, "{:?}", Hex(&[0x01, 0xA5, 0xFF])).unwrap();
        assert_eq!(s.as_str(), "01 A5 FF");
    }
}
