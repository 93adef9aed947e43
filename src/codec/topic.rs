//! Topic names (PUBLISH) and topic filters (SUBSCRIBE/UNSUBSCRIBE).

use super::Error;

/// A topic a message is published to: no wildcards, not empty, no U+0000 (MQTT-1.5.3-2).
pub fn check_name(topic: &str) -> Result<(), Error> {
    if topic.is_empty() {
        return Err(Error::EmptyTopic);
    }
    // One pass for both rules: this runs on every PUBLISH, in and out.
    for b in topic.bytes() {
        match b {
            0 => return Err(Error::NullCharacter),
            b'+' | b'#' => return Err(Error::WildcardInTopicName),
            _ => {}
        }
    }
    Ok(())
}

/// A topic name straight from the wire: the byte rules in one pass, then UTF-8 validity.
pub(crate) fn name_from_wire(bytes: &[u8]) -> Result<&str, Error> {
    if bytes.is_empty() {
        return Err(Error::EmptyTopic);
    }
    for &b in bytes {
        match b {
            0 => return Err(Error::NullCharacter),
            b'+' | b'#' => return Err(Error::WildcardInTopicName),
            _ => {}
        }
    }
    core::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)
}

/// A subscription filter: `#` only as a whole last level, `+` only as a whole level.
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
