//! UTF-8 validation as `core::str::from_utf8` does it (RFC 3629: no overlong forms, no
//! surrogates, nothing above U+10FFFF), without core's 256-byte width table: smaller on a board,
//! and position-independent, which a native `.mpy` needs (rust-std's prebuilt `from_utf8`
//! addresses that table absolutely, and MicroPython's `mpy_ld.py` refuses such relocations).

/// `bytes` as a `str`, or None when it is not valid UTF-8.
pub fn to_str(bytes: &[u8]) -> Option<&str> {
    // ASCII (most topics) in one pass with no branch per byte: the compiler vectorizes it.
    if bytes.iter().fold(0, |acc, &b| acc | b) < 0x80 {
        // SAFETY: no byte has its high bit set, and ASCII is valid UTF-8.
        return Some(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    let mut i = 0;
    while let Some(&lead) = bytes.get(i) {
        if lead < 0x80 {
            i += 1;
            continue;
        }
        // The continuation bytes a lead byte takes, and the range its first one must lie in
        // (narrower than 0x80..=0xBF where a wider range would allow an overlong form, a
        // surrogate or a code point above U+10FFFF).
        let (more, first) = match lead {
            0xC2..=0xDF => (1, 0x80..=0xBF),
            0xE0 => (2, 0xA0..=0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80..=0xBF),
            0xED => (2, 0x80..=0x9F),
            0xF0 => (3, 0x90..=0xBF),
            0xF1..=0xF3 => (3, 0x80..=0xBF),
            0xF4 => (3, 0x80..=0x8F),
            _ => return None,
        };
        let tail = bytes.get(i + 1..i + 1 + more)?;
        let (head, rest) = tail.split_first()?;
        if !first.contains(head) || rest.iter().any(|b| !(0x80..=0xBF).contains(b)) {
            return None;
        }
        i += 1 + more;
    }
    // SAFETY: every sequence above was checked to be well-formed UTF-8.
    Some(unsafe { core::str::from_utf8_unchecked(bytes) })
}

#[cfg(test)]
mod tests {
    use super::to_str;

    fn same_as_core(b: &[u8]) {
        assert_eq!(to_str(b), core::str::from_utf8(b).ok(), "{b:02x?}");
    }

    #[test]
    fn every_sequence_of_one_to_three_bytes() {
        for a in 0..=255u8 {
            same_as_core(&[a]);
            for b in 0..=255u8 {
                same_as_core(&[a, b]);
                if a >= 0xC0 {
                    for c in 0..=255u8 {
                        same_as_core(&[a, b, c]);
                    }
                }
            }
        }
    }

    #[test]
    fn four_byte_sequences_at_every_boundary() {
        let edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF];
        for a in 0xE0..=0xFFu8 {
            for b in 0..=255u8 {
                for &c in &edges {
                    for &d in &edges {
                        same_as_core(&[a, b, c, d]);
                        same_as_core(&[b'x', a, b, c, d, b'y']);
                    }
                }
            }
        }
    }

    #[test]
    fn mixed_strings() {
        for s in ["", "a/b", "température", "温度/センサー", "🌡️/x", "\u{10FFFF}", "\u{0}"] {
            same_as_core(s.as_bytes());
            let b = s.as_bytes();
            for cut in 0..b.len() {
                same_as_core(&b[..cut]);
                same_as_core(&b[cut..]);
            }
        }
    }
}
