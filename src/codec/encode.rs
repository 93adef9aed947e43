//! Packets to bytes, written into a caller's slice in one pass.

use super::topic::{check_filter, check_name};
use super::*;

/// Writes big-endian fields and length-prefixed strings.
struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, data: &[u8]) -> Result<(), Error> {
        let end = self.pos + data.len();
        self.out.get_mut(self.pos..end).ok_or(Error::BufferTooSmall)?.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.bytes(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes())
    }
    fn binary(&mut self, data: &[u8]) -> Result<(), Error> {
        let len = u16::try_from(data.len()).map_err(|_| Error::StringTooLong)?;
        self.u16(len)?;
        self.bytes(data)
    }
}

fn string_len(s: &[u8]) -> Result<usize, Error> {
    if s.len() > usize::from(u16::MAX) {
        return Err(Error::StringTooLong);
    }
    Ok(2 + s.len())
}

impl Packet<'_> {
    /// Remaining Length of this packet; also validates what the encoder relies on.
    pub fn remaining_len(&self) -> Result<usize, Error> {
        let len = match self {
            Packet::Connect(c) => {
                if has_nul(c.client_id.as_bytes()) || c.username.is_some_and(|u| has_nul(u.as_bytes())) {
                    return Err(Error::NullCharacter);
                }
                let mut n = 10 + string_len(c.client_id.as_bytes())?;
                if let Some(w) = &c.will {
                    check_name(w.topic)?;
                    n += string_len(w.topic.as_bytes())? + string_len(w.message)?;
                }
                if let Some(u) = c.username {
                    n += string_len(u.as_bytes())?;
                }
                if let Some(p) = c.password {
                    if c.username.is_none() {
                        return Err(Error::InvalidConnectFlags);
                    }
                    n += string_len(p)?;
                }
                n
            }
            Packet::Connack(_) => 2,
            Packet::Publish(p) => {
                check_name(p.topic)?;
                if (p.qos == QoS::AtMostOnce) != p.pid.is_none() {
                    return Err(Error::ZeroPacketId);
                }
                if p.dup && p.qos == QoS::AtMostOnce {
                    return Err(Error::DupWithQos0);
                }
                string_len(p.topic.as_bytes())? + if p.pid.is_some() { 2 } else { 0 } + p.payload.len()
            }
            Packet::Puback(_) | Packet::Pubrec(_) | Packet::Pubrel(_) | Packet::Pubcomp(_) | Packet::Unsuback(_) => 2,
            Packet::Subscribe(s) => {
                let mut n = 2;
                for sub in s.iter() {
                    check_filter(sub.filter)?;
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
                    check_filter(filter)?;
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
                for &code in s.codes {
                    SubackCode::from_u8(code)?;
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
        let rl = self.remaining_len()?;
        if out.len() < 1 + varint::encoded_len(rl) + rl {
            return Err(Error::BufferTooSmall);
        }
        let (first, rest) = out.split_first_mut().ok_or(Error::BufferTooSmall)?;
        *first = self.first_byte();
        let pos = 1 + varint::encode(rl, rest)?;
        let mut w = Writer { out, pos };
        match self {
            Packet::Connect(c) => {
                w.binary(b"MQTT")?;
                w.u8(4)?;
                let mut flags = u8::from(c.clean_session) << 1;
                if let Some(will) = &c.will {
                    flags |= 0x04 | ((will.qos as u8) << 3) | (u8::from(will.retain) << 5);
                }
                flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
                w.u8(flags)?;
                w.u16(c.keepalive)?;
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
        Ok(w.pos)
    }
}
