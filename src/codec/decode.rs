//! Bytes to packets: zero-copy, strict, never panics.

use super::packet::{wire_filters, Reader};
use super::topic::{check_filter, check_name, name_from_wire};
use super::*;

/// A parsed fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    pub first_byte: u8,
    pub kind: PacketType,
    /// Remaining Length: bytes after the fixed header.
    pub remaining_len: usize,
    /// Size of the fixed header itself (2 to 5).
    pub header_len: usize,
}

impl FixedHeader {
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Reads the fixed header at the start of `buf`; `Ok(None)` if more bytes are needed.
#[inline(always)]
pub fn parse_fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, Error> {
    let Some((&first_byte, rest)) = buf.split_first() else {
        return Ok(None);
    };
    let kind = PacketType::from_first_byte(first_byte)?;
    Ok(varint::decode(rest)?.map(|(remaining_len, n)| FixedHeader {
        first_byte,
        kind,
        remaining_len,
        header_len: 1 + n,
    }))
}

/// Decodes the packet at the start of `buf`.
/// `Ok(None)`: incomplete; `Ok(Some((packet, bytes_used)))` otherwise.
pub fn decode(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, Error> {
    let Some(header) = parse_fixed_header(buf)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(header.header_len..header.packet_len()) else {
        return Ok(None);
    };
    // PUBLISH is the hot path: straight to its parser, past the general dispatch.
    let packet = match header.kind {
        PacketType::Publish => Packet::Publish(publish(header.first_byte, body)?),
        _ => decode_body(header, body)?,
    };
    Ok(Some((packet, header.packet_len())))
}

/// Decodes a packet body (exactly `header.remaining_len` bytes).
pub fn decode_body(header: FixedHeader, body: &[u8]) -> Result<Packet<'_>, Error> {
    match header.kind {
        PacketType::Connect | PacketType::Subscribe | PacketType::Unsubscribe | PacketType::Pingreq | PacketType::Disconnect => {
            decode_to_broker(header, body)
        }
        _ => decode_from_broker(header, body),
    }
}

/// Decodes a packet a broker may send to a client.
/// The others only ever travel to a broker: kept apart, their decoders stay out
/// of a client's firmware.
pub fn decode_from_broker(header: FixedHeader, body: &[u8]) -> Result<Packet<'_>, Error> {
    match header.kind {
        PacketType::Publish => Ok(Packet::Publish(publish(header.first_byte, body)?)),
        _ => decode_control_from_broker(header, body),
    }
}

/// [`decode_from_broker`] for every packet but PUBLISH (refused with
/// [`Error::PublishNotControl`]): what a client that streams each PUBLISH's payload (the
/// connection) decodes whole, without a PUBLISH decoder in its firmware.
#[inline(always)]
pub fn decode_control_from_broker(header: FixedHeader, body: &[u8]) -> Result<Packet<'_>, Error> {
    let mut r = Reader { buf: body };
    let packet = match header.kind {
        PacketType::Connack => {
            let flags = r.u8()?;
            if flags & !1 != 0 {
                return Err(Error::InvalidConnackFlags);
            }
            let code = ConnectReturnCode::from_u8(r.u8()?)?;
            if flags != 0 && code != ConnectReturnCode::Accepted {
                return Err(Error::SessionPresentOnRefusal);
            }
            Packet::Connack(Connack { session_present: flags == 1, code })
        }
        PacketType::Publish => return Err(Error::PublishNotControl),
        PacketType::Puback => Packet::Puback(r.pid()?),
        PacketType::Pubrec => Packet::Pubrec(r.pid()?),
        PacketType::Pubrel => Packet::Pubrel(r.pid()?),
        PacketType::Pubcomp => Packet::Pubcomp(r.pid()?),
        PacketType::Unsuback => Packet::Unsuback(r.pid()?),
        PacketType::Suback => {
            let pid = r.pid()?;
            let codes = core::mem::take(&mut r.buf);
            if codes.is_empty() {
                return Err(Error::LengthMismatch);
            }
            for &code in codes {
                SubackCode::from_u8(code)?;
            }
            Packet::Suback(Suback { pid, codes })
        }
        PacketType::Pingresp => Packet::Pingresp,
        PacketType::Connect | PacketType::Subscribe | PacketType::Unsubscribe | PacketType::Pingreq | PacketType::Disconnect => {
            return Err(Error::NotFromBroker)
        }
    };
    r.finish()?;
    Ok(packet)
}

/// Decodes a packet only a client sends (what a broker reads).
fn decode_to_broker(header: FixedHeader, body: &[u8]) -> Result<Packet<'_>, Error> {
    let mut r = Reader { buf: body };
    let packet = match header.kind {
        PacketType::Connect => Packet::Connect(connect(&mut r)?),
        PacketType::Subscribe => {
            let pid = r.pid()?;
            let wire = filter_list(&mut r, true)?;
            Packet::Subscribe(Subscribe { pid, filters: Filters::Wire(wire) })
        }
        PacketType::Unsubscribe => {
            let pid = r.pid()?;
            let wire = filter_list(&mut r, false)?;
            Packet::Unsubscribe(Unsubscribe { pid, filters: Filters::Wire(wire) })
        }
        PacketType::Pingreq => Packet::Pingreq,
        PacketType::Disconnect => Packet::Disconnect,
        _ => return decode_from_broker(header, body),
    };
    r.finish()?;
    Ok(packet)
}

/// The variable header of a PUBLISH: topic and packet id, and where the payload starts.
#[inline(always)]
pub(crate) fn publish_header(first_byte: u8, body: &[u8]) -> Result<(&str, Option<PacketId>, usize), Error> {
    let qos = QoS::from_bits((first_byte >> 1) & 3)?;
    let mut r = Reader { buf: body };
    let topic = name_from_wire(r.binary()?)?;
    let pid = if qos == QoS::AtMostOnce { None } else { Some(r.pid()?) };
    Ok((topic, pid, body.len() - r.buf.len()))
}

fn publish(first_byte: u8, body: &[u8]) -> Result<Publish<'_>, Error> {
    let (topic, pid, used) = publish_header(first_byte, body)?;
    Ok(Publish {
        dup: first_byte & 0x08 != 0,
        qos: QoS::from_bits((first_byte >> 1) & 3)?,
        retain: first_byte & 1 != 0,
        topic,
        pid,
        payload: body.get(used..).unwrap_or(&[]),
    })
}

/// Validates a SUBSCRIBE/UNSUBSCRIBE payload and returns it whole.
fn filter_list<'a>(r: &mut Reader<'a>, with_qos: bool) -> Result<&'a [u8], Error> {
    let wire = r.buf;
    if r.is_empty() {
        return Err(Error::NoTopicFilters);
    }
    while !r.is_empty() {
        check_filter(r.string()?)?;
        if with_qos && r.u8()? > 2 {
            return Err(Error::InvalidSubscribeOptions);
        }
    }
    debug_assert!(wire_filters(wire, with_qos).count() > 0);
    Ok(wire)
}

fn connect<'a>(r: &mut Reader<'a>) -> Result<Connect<'a>, Error> {
    if r.string()? != "MQTT" {
        return Err(Error::InvalidProtocolName);
    }
    if r.u8()? != 4 {
        return Err(Error::UnsupportedProtocolLevel);
    }
    let flags = r.u8()?;
    let keepalive = r.u16()?;
    let has_will = flags & 0x04 != 0;
    let will_qos = QoS::from_bits((flags >> 3) & 3)?;
    let will_retain = flags & 0x20 != 0;
    let has_password = flags & 0x40 != 0;
    let has_user = flags & 0x80 != 0;
    let reserved = flags & 0x01 != 0;
    let will_bits_without_will = !has_will && (will_qos != QoS::AtMostOnce || will_retain);
    if reserved || will_bits_without_will || (has_password && !has_user) {
        return Err(Error::InvalidConnectFlags);
    }
    let client_id = r.string()?;
    let will = if has_will {
        let topic = r.string()?;
        check_name(topic)?;
        Some(Will { topic, message: r.binary()?, qos: will_qos, retain: will_retain })
    } else {
        None
    };
    let username = if has_user { Some(r.string()?) } else { None };
    let password = if has_password { Some(r.binary()?) } else { None };
    Ok(Connect { client_id, keepalive, clean_session: flags & 0x02 != 0, will, username, password })
}
