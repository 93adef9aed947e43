//! Topic names (PUBLISH) and topic filters (SUBSCRIBE/UNSUBSCRIBE).

use super::Error;

/// A topic a message is published to: no wildcards, not empty, no U+0000 (MQTT-1.5.3-2).
pub fn check_name(topic: &str) -> Result<(), Error> {
    if topic.is_empty() {
        return Err(Error::EmptyTopic);
    }
    if !maybe_special(topic.as_bytes()) {
        return Ok(());
    }
    match scan(topic.as_bytes()) {
        (true, _) => Err(special_error(topic.as_bytes())),
        _ => Ok(()),
    }
}

/// A topic name straight from the wire: the byte rules and UTF-8 validity, one pass for ASCII.
#[inline(always)]
pub(crate) fn name_from_wire(bytes: &[u8]) -> Result<&str, Error> {
    if bytes.is_empty() {
        return Err(Error::EmptyTopic);
    }
    if !maybe_special(bytes) {
        // SAFETY: no byte has its high bit set, and ASCII is valid UTF-8.
        return Ok(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    match scan(bytes) {
        (true, _) => Err(special_error(bytes)),
        (false, true) => super::utf8::to_str(bytes).ok_or(Error::InvalidUtf8),
        // SAFETY: scan saw no byte with its high bit set, and ASCII is valid UTF-8.
        (false, false) => Ok(unsafe { core::str::from_utf8_unchecked(bytes) }),
    }
}

const WORD: usize = core::mem::size_of::<usize>();
const ONES: usize = usize::MAX / 0xFF; // 0x01 in every byte
const HIGHS: usize = ONES * 0x80;

/// A word at a time: false means every byte is ASCII and none is 0, '+' or '#'. True may be a
/// false alarm next to such a byte (borrows), so `scan` decides then.
fn maybe_special(bytes: &[u8]) -> bool {
    // For an ASCII byte x, x - 1 sets bit 7 only when x == 0; '#' (0x23) and '+' (0x2B) differ
    // in bit 3 alone, so (x | 0x08) ^ 0x2B is 0 for both and (that - 1) sets bit 7. A non-ASCII
    // byte sets bit 7 itself.
    let flag = |w: usize| w | w.wrapping_sub(ONES) | ((w | (ONES * 0x08)) ^ (ONES * 0x2B)).wrapping_sub(ONES);
    let word = |c: &[u8]| usize::from_le_bytes(c.try_into().unwrap_or([0; WORD]));
    let Some(last) = bytes.len().checked_sub(WORD).and_then(|at| bytes.get(at..)) else {
        return scan(bytes) != (false, false);
    };
    let mut acc = flag(word(last)); // the last WORD bytes, overlapping: a yes/no answer
    for chunk in bytes.chunks_exact(WORD) {
        acc |= flag(word(chunk));
    }
    acc & HIGHS != 0
}

/// (a byte a topic name may not hold: 0, '+', '#'; a non-ASCII byte). Runs on every PUBLISH in
/// and out, so it has no early exit: a branch-free loop the compiler can vectorise.
#[inline(always)]
fn scan(bytes: &[u8]) -> (bool, bool) {
    let (mut special, mut high) = (0u8, 0u8);
    for &b in bytes {
        special |= u8::from(b == 0) | u8::from(b == b'+') | u8::from(b == b'#');
        high |= b;
    }
    (special != 0, high >= 0x80)
}

fn special_error(bytes: &[u8]) -> Error {
    if super::has_nul(bytes) {
        Error::NullCharacter
    } else {
        Error::WildcardInTopicName
    }
}

/// A subscription filter: `#` only as a whole last level, `+` only as a whole level.
#[inline(always)]
pub fn check_filter(filter: &str) -> Result<(), Error> {
    if filter.is_empty() {
        return Err(Error::EmptyTopic);
    }
    if super::has_nul(filter.as_bytes()) {
        return Err(Error::NullCharacter);
    }
    // A wildcard must fill its level: the bytes either side are '/' or an end.
    let bytes = filter.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'+' && b != b'#' {
            continue;
        }
        let alone_before = i == 0 || bytes.get(i - 1) == Some(&b'/');
        let next = bytes.get(i + 1);
        let alone_after = next.is_none() || next == Some(&b'/');
        if !alone_before || !alone_after || (b == b'#' && next.is_some()) {
            return Err(Error::InvalidTopicFilter);
        }
    }
    Ok(())
}

/// Whether `topic` matches `filter` (both already valid).
pub fn matches(filter: &str, topic: &str) -> bool {
    // Topics starting with '$' are not matched by a leading wildcard.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match (level, topic_levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time test never misses what the byte scan finds, at every length and offset.
    #[test]
    fn maybe_special_never_misses() {
        let alphabet = [0u8, b'+', b'#', b'*', b',', b'"', b'$', 0x01, 0x0b, 0x7f, 0x80, 0xc3, 0xa9, 0xff, b'a', b'/'];
        let mut x: u32 = 0x1234_5678;
        for len in 0..40usize {
            for _ in 0..3000 {
                let v: std::vec::Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        if x.is_multiple_of(4) { alphabet[(x >> 8) as usize % alphabet.len()] } else { b'a' + (x >> 16) as u8 % 26 }
                    })
                    .collect();
                if scan(&v) != (false, false) {
                    assert!(maybe_special(&v), "{v:?}");
                }
                let slow = core::str::from_utf8(&v).map_err(|_| Error::InvalidUtf8);
                if let (Ok(t), false) = (slow, v.is_empty()) {
                    let expected = if scan(&v).0 { Err(special_error(&v)) } else { Ok(t) };
                    assert_eq!(name_from_wire(&v), expected, "{v:?}");
                }
            }
        }
    }
}
