//! The Remaining Length field: a variable byte integer of 1 to 4 bytes.

use super::{Error, MAX_REMAINING_LENGTH};

/// Decodes a Remaining Length from the start of `buf`.
/// `Ok(None)`: more bytes are needed; `Ok(Some((value, bytes_used)))`.
pub fn decode(buf: &[u8]) -> Result<Option<(usize, usize)>, Error> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().enumerate() {
        if i == 4 {
            return Err(Error::RemainingLengthTooLong);
        }
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    // A 5th byte would be an error whatever it is: report it without waiting.
    if buf.len() >= 4 {
        return Err(Error::RemainingLengthTooLong);
    }
    Ok(None)
}

/// How many bytes `value` takes as a Remaining Length.
pub const fn encoded_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` at the start of `out`; returns the bytes used.
pub fn encode(value: usize, out: &mut [u8]) -> Result<usize, Error> {
    if value > MAX_REMAINING_LENGTH {
        return Err(Error::PacketTooLarge);
    }
    let len = encoded_len(value);
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let mut rest = value;
    for byte in out.iter_mut() {
        *byte = (rest & 0x7F) as u8;
        rest >>= 7;
        if rest > 0 {
            *byte |= 0x80;
        }
    }
    Ok(len)
}
