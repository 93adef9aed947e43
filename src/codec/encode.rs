//! Packets to bytes, in one pass, into any [`Output`]: a caller's slice, or a
//! transmit buffer that lets a large payload go past it straight from where it is.

use super::topic::{check_filter, check_name};
use super::*;

/// Takes a packet's bytes in order, piece by piece. A piece borrowed from the packet
/// (a PUBLISH payload, a Last Will message) is handed over whole, so an output may
/// send it from where it lies instead of copying it.
pub trait Output {
    /// Why the output could not take a piece.
    type Error;
    /// Appends `piece`.
    fn put(&mut self, piece: &[u8]) -> Result<(), Self::Error>;
}

/// Why [`Packet::write`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError<E> {
    /// The packet breaks MQTT's rules; nothing was written.
    Invalid(Error),
    /// The output failed part way.
    Output(E),
}

/// A caller's slice as an [`Output`].
struct SliceOutput<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Output for SliceOutput<'_> {
    type Error = Error;
    fn put(&mut self, piece: &[u8]) -> Result<(), Error> {
        let end = self.pos + piece.len();
        self.out.get_mut(self.pos..end).ok_or(Error::BufferTooSmall)?.copy_from_slice(piece);
        self.pos = end;
        Ok(())
    }
}

/// Big-endian fields and length-prefixed strings on top of an [`Output`].
struct Fields<'o, O>(&'o mut O);

impl<O: Output> Fields<'_, O> {
    fn bytes(&mut self, data: &[u8]) -> Result<(), O::Error> {
        self.0.put(data)
    }
    fn u8(&mut self, v: u8) -> Result<(), O::Error> {
        self.0.put(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), O::Error> {
        self.0.put(&v.to_be_bytes())
    }
    /// A length-prefixed string; `remaining_len` has checked that it fits 16 bits.
    fn binary(&mut self, data: &[u8]) -> Result<(), O::Error> {
        self.u16(data.len() as u16)?;
        self.0.put(data)
    }
}

fn string_len(s: &[u8]) -> Result<usize, Error> {
    if s.len() > usize::from(u16::MAX) {
        return Err(Error::StringTooLong);
    }
    Ok(2 + s.len())
}

impl Packet<'_> {
    /// Remaining Length of this packet; also validates what the encoder relies on. The rules
    /// ([`Packet::check_rules`]) are checked before the lengths: a packet that breaks both
    /// reports the rule.
    pub fn remaining_len(&self) -> Result<usize, Error> {
        self.check_rules()?;
        self.lengths()
    }

    /// MQTT's rules on the fields a sender chooses: topic names and filters, U+0000, the
    /// CONNECT flags, packet ids present exactly at QoS > 0, SUBACK codes.
    pub fn check_rules(&self) -> Result<(), Error> {
        match self {
            Packet::Connect(c) => {
                if has_nul(c.client_id.as_bytes()) || c.username.is_some_and(|u| has_nul(u.as_bytes())) {
                    return Err(Error::NullCharacter);
                }
                if let Some(w) = &c.will {
                    check_name(w.topic)?;
                }
                if c.password.is_some() && c.username.is_none() {
                    return Err(Error::InvalidConnectFlags);
                }
            }
            Packet::Publish(p) => {
                check_name(p.topic)?;
                if (p.qos == QoS::AtMostOnce) != p.pid.is_none() {
                    return Err(Error::ZeroPacketId);
                }
                if p.dup && p.qos == QoS::AtMostOnce {
                    return Err(Error::DupWithQos0);
                }
            }
            Packet::Subscribe(s) => {
                for sub in s.iter() {
                    check_filter(sub.filter)?;
                }
            }
            Packet::Unsubscribe(u) => {
                for filter in u.iter() {
                    check_filter(filter)?;
                }
            }
            Packet::Suback(s) => {
                for &code in s.codes {
                    SubackCode::from_u8(code)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Remaining Length, within MQTT's limits (strings of at most 65,535 bytes, a list of
    /// filters or codes not empty, a packet of at most 256 MB); no other rule is checked.
    fn lengths(&self) -> Result<usize, Error> {
        let len = match self {
            Packet::Connect(c) => {
                let mut n = 10 + string_len(c.client_id.as_bytes())?;
                if let Some(w) = &c.will {
                    n += string_len(w.topic.as_bytes())? + string_len(w.message)?;
                }
                if let Some(u) = c.username {
                    n += string_len(u.as_bytes())?;
                }
                if let Some(p) = c.password {
                    n += string_len(p)?;
                }
                n
            }
            Packet::Connack(_) => 2,
            Packet::Publish(p) => string_len(p.topic.as_bytes())? + if p.pid.is_some() { 2 } else { 0 } + p.payload.len(),
            Packet::Puback(_) | Packet::Pubrec(_) | Packet::Pubrel(_) | Packet::Pubcomp(_) | Packet::Unsuback(_) => 2,
            Packet::Subscribe(s) => {
                let mut n = 2;
                for sub in s.iter() {
                    n += string_len(sub.filter.as_bytes())? + 1;
                }
                if n == 2 {
                    return Err(Error::NoTopicFilters);
                }
                n
            }
            Packet::Unsubscribe(u) => {
                let mut n = 2;
                for filter in u.iter() {
                    n += string_len(filter.as_bytes())?;
                }
                if n == 2 {
                    return Err(Error::NoTopicFilters);
                }
                n
            }
            Packet::Suback(s) => {
                if s.codes.is_empty() {
                    return Err(Error::LengthMismatch);
                }
                2 + s.codes.len()
            }
            Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => 0,
        };
        if len > MAX_REMAINING_LENGTH {
            return Err(Error::PacketTooLarge);
        }
        Ok(len)
    }

    /// Bytes the whole packet takes on the wire.
    pub fn encoded_len(&self) -> Result<usize, Error> {
        let rl = self.remaining_len()?;
        Ok(1 + varint::encoded_len(rl) + rl)
    }

    /// Encodes the packet at the start of `out`; returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut slice = SliceOutput { out, pos: 0 };
        match self.write(&mut slice) {
            Ok(n) => Ok(n),
            Err(WriteError::Invalid(e) | WriteError::Output(e)) => Err(e),
        }
    }

    /// Validates the packet, then hands its bytes to `out` in order; returns how many.
    /// Fixed fields come in small pieces, each payload and Last Will message in one.
    pub fn write<O: Output>(&self, out: &mut O) -> Result<usize, WriteError<O::Error>> {
        self.check_rules().map_err(WriteError::Invalid)?;
        self.write_checked(out)
    }

    /// [`Packet::write`] for a sender that has checked the packet against [`Packet::check_rules`]
    /// already (or built it so that it holds, as the connection does): only the lengths' limits
    /// are checked, each rule is checked once.
    pub fn write_checked<O: Output>(&self, out: &mut O) -> Result<usize, WriteError<O::Error>> {
        let rl = self.lengths().map_err(WriteError::Invalid)?;
        let mut header = [0u8; 5];
        header[0] = self.first_byte();
        let n = 1 + varint::encode(rl, &mut header[1..]).map_err(WriteError::Invalid)?;
        let mut w = Fields(out);
        w.bytes(&header[..n]).and_then(|_| self.write_body(&mut w)).map_err(WriteError::Output)?;
        Ok(n + rl)
    }

    fn write_body<O: Output>(&self, w: &mut Fields<'_, O>) -> Result<(), O::Error> {
        match self {
            Packet::Connect(c) => {
                let mut flags = u8::from(c.clean_session) << 1;
                if let Some(will) = &c.will {
                    flags |= 0x04 | ((will.qos as u8) << 3) | (u8::from(will.retain) << 5);
                }
                flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
                let [ka_hi, ka_lo] = c.keepalive.to_be_bytes();
                // Protocol name "MQTT", level 4, flags, keepalive: one piece.
                w.bytes(&[0, 4, b'M', b'Q', b'T', b'T', 4, flags, ka_hi, ka_lo])?;
                w.binary(c.client_id.as_bytes())?;
                if let Some(will) = &c.will {
                    w.binary(will.topic.as_bytes())?;
                    w.binary(will.message)?;
                }
                if let Some(u) = c.username {
                    w.binary(u.as_bytes())?;
                }
                if let Some(p) = c.password {
                    w.binary(p)?;
                }
            }
            Packet::Connack(c) => {
                w.u8(u8::from(c.session_present))?;
                w.u8(c.code as u8)?;
            }
            Packet::Publish(p) => {
                w.binary(p.topic.as_bytes())?;
                if let Some(pid) = p.pid {
                    w.u16(pid.get())?;
                }
                w.bytes(p.payload)?;
            }
            Packet::Puback(pid) | Packet::Pubrec(pid) | Packet::Pubrel(pid) | Packet::Pubcomp(pid) | Packet::Unsuback(pid) => {
                w.u16(pid.get())?
            }
            Packet::Subscribe(s) => {
                w.u16(s.pid.get())?;
                for sub in s.iter() {
                    w.binary(sub.filter.as_bytes())?;
                    w.u8(sub.qos as u8)?;
                }
            }
            Packet::Unsubscribe(u) => {
                w.u16(u.pid.get())?;
                for filter in u.iter() {
                    w.binary(filter.as_bytes())?;
                }
            }
            Packet::Suback(s) => {
                w.u16(s.pid.get())?;
                w.bytes(s.codes)?;
            }
            Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => {}
        }
        Ok(())
    }
}
