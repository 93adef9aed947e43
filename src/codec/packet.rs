//! The packets as typed, borrowed views.

use super::Error;

/// Delivery guarantee of a PUBLISH or a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    pub fn from_bits(bits: u8) -> Result<QoS, Error> {
        match bits {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(Error::InvalidQos),
        }
    }
}

/// A packet identifier: never 0.
pub type PacketId = core::num::NonZeroU16;

/// Control packet types (the high nibble of the first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    Connect = 1,
    Connack = 2,
    Publish = 3,
    Puback = 4,
    Pubrec = 5,
    Pubrel = 6,
    Pubcomp = 7,
    Subscribe = 8,
    Suback = 9,
    Unsubscribe = 10,
    Unsuback = 11,
    Pingreq = 12,
    Pingresp = 13,
    Disconnect = 14,
}

impl PacketType {
    /// Checks the first byte of a fixed header: a known type with the flags 3.1.1 requires.
    pub fn from_first_byte(byte: u8) -> Result<PacketType, Error> {
        use PacketType::*;
        // By the high nibble: one load on every packet read instead of a chain of compares.
        const BY_NIBBLE: [Option<PacketType>; 16] = [
            None,
            Some(Connect),
            Some(Connack),
            Some(Publish),
            Some(Puback),
            Some(Pubrec),
            Some(Pubrel),
            Some(Pubcomp),
            Some(Subscribe),
            Some(Suback),
            Some(Unsubscribe),
            Some(Unsuback),
            Some(Pingreq),
            Some(Pingresp),
            Some(Disconnect),
            None,
        ];
        let kind = BY_NIBBLE.get(usize::from(byte >> 4)).copied().flatten().ok_or(Error::ReservedPacketType)?;
        let flags = byte & 0x0F;
        if kind != Publish {
            return if flags == kind.fixed_flags() { Ok(kind) } else { Err(Error::InvalidHeaderFlags) };
        }
        match flags & 0x0E {
            0x06 | 0x0E => Err(Error::InvalidQos),
            0x08 => Err(Error::DupWithQos0),
            _ => Ok(kind),
        }
    }

    /// The fixed flags of every type but PUBLISH.
    pub const fn fixed_flags(self) -> u8 {
        match self {
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

/// CONNACK return codes (3.1.1 section 3.2.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUserNameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    pub fn from_u8(code: u8) -> Result<Self, Error> {
        use ConnectReturnCode::*;
        Ok(match code {
            0 => Accepted,
            1 => UnacceptableProtocolVersion,
            2 => IdentifierRejected,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return Err(Error::InvalidConnackCode),
        })
    }
}

/// One SUBACK return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubackCode {
    Granted(QoS),
    Failure,
}

impl SubackCode {
    pub fn from_u8(code: u8) -> Result<Self, Error> {
        match code {
            0x80 => Ok(SubackCode::Failure),
            0..=2 => Ok(SubackCode::Granted(QoS::from_bits(code)?)),
            _ => Err(Error::InvalidSubackCode),
        }
    }
    pub const fn to_u8(self) -> u8 {
        match self {
            SubackCode::Granted(q) => q as u8,
            SubackCode::Failure => 0x80,
        }
    }
}

/// A field of a packet that the sender's memory holds (not bytes the encoder makes): the
/// encoder names it with each of its pieces ([`Output::put_part`]), so an output may send a
/// piece that does not fit its buffer from where it lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A PUBLISH's topic, the filter of a SUBSCRIBE or UNSUBSCRIBE with one, a CONNECT's will topic.
    Topic,
    /// A PUBLISH's payload.
    Payload,
    /// CONNECT's client identifier.
    ClientId,
    /// CONNECT's will message.
    WillMessage,
    /// CONNECT's user name.
    Username,
    /// CONNECT's password.
    Password,
}

/// Last Will carried by CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub message: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    pub client_id: &'a str,
    pub keepalive: u16,
    pub clean_session: bool,
    pub will: Option<Will<'a>>,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connack {
    pub session_present: bool,
    pub code: ConnectReturnCode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: &'a str,
    /// Present exactly when qos > 0.
    pub pid: Option<PacketId>,
    pub payload: &'a [u8],
}

/// A list of topic filters, either still in wire form (decoded) or given by the caller.
#[derive(Clone, Copy, Debug)]
pub enum Filters<'a, T: 'a> {
    /// Validated wire bytes: for SUBSCRIBE (len, filter, qos)*, for UNSUBSCRIBE (len, filter)*.
    Wire(&'a [u8]),
    List(&'a [T]),
}

impl<T> Filters<'_, T> {
    /// No filter at all (which MQTT does not allow).
    pub fn is_empty(&self) -> bool {
        match self {
            Filters::Wire(wire) => wire.is_empty(),
            Filters::List(list) => list.is_empty(),
        }
    }
}

/// One SUBSCRIBE entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription<'a> {
    pub filter: &'a str,
    pub qos: QoS,
}

#[derive(Clone, Copy, Debug)]
pub struct Subscribe<'a> {
    pub pid: PacketId,
    pub filters: Filters<'a, Subscription<'a>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Unsubscribe<'a> {
    pub pid: PacketId,
    pub filters: Filters<'a, &'a str>,
}

/// SUBACK return codes: wire bytes, already validated, or the caller's list.
#[derive(Clone, Copy, Debug)]
pub struct Suback<'a> {
    pub pid: PacketId,
    pub codes: &'a [u8],
}

impl<'a> Suback<'a> {
    pub fn codes(&self) -> impl Iterator<Item = SubackCode> + 'a {
        // Validated on decode; an invalid caller-made byte reads as Failure.
        self.codes.iter().map(|&c| SubackCode::from_u8(c).unwrap_or(SubackCode::Failure))
    }
}

/// Any MQTT 3.1.1 control packet.
#[derive(Clone, Copy, Debug)]
pub enum Packet<'a> {
    Connect(Connect<'a>),
    Connack(Connack),
    Publish(Publish<'a>),
    Puback(PacketId),
    Pubrec(PacketId),
    Pubrel(PacketId),
    Pubcomp(PacketId),
    Subscribe(Subscribe<'a>),
    Suback(Suback<'a>),
    Unsubscribe(Unsubscribe<'a>),
    Unsuback(PacketId),
    Pingreq,
    Pingresp,
    Disconnect,
}

impl Packet<'_> {
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::Connack(_) => PacketType::Connack,
            Packet::Publish(_) => PacketType::Publish,
            Packet::Puback(_) => PacketType::Puback,
            Packet::Pubrec(_) => PacketType::Pubrec,
            Packet::Pubrel(_) => PacketType::Pubrel,
            Packet::Pubcomp(_) => PacketType::Pubcomp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::Suback(_) => PacketType::Suback,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::Unsuback(_) => PacketType::Unsuback,
            Packet::Pingreq => PacketType::Pingreq,
            Packet::Pingresp => PacketType::Pingresp,
            Packet::Disconnect => PacketType::Disconnect,
        }
    }

    /// The first byte of the fixed header.
    pub fn first_byte(&self) -> u8 {
        let kind = self.packet_type();
        let flags = match self {
            Packet::Publish(p) => (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain),
            _ => kind.fixed_flags(),
        };
        ((kind as u8) << 4) | flags
    }
}

/// Reads length-prefixed strings and the like from a packet body.
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn u8(&mut self) -> Result<u8, Error> {
        let (&b, rest) = self.buf.split_first().ok_or(Error::LengthMismatch)?;
        self.buf = rest;
        Ok(b)
    }
    pub fn u16(&mut self) -> Result<u16, Error> {
        let [hi, lo, ref rest @ ..] = *self.buf else {
            return Err(Error::LengthMismatch);
        };
        self.buf = rest;
        Ok(u16::from_be_bytes([hi, lo]))
    }
    pub fn pid(&mut self) -> Result<PacketId, Error> {
        PacketId::new(self.u16()?).ok_or(Error::ZeroPacketId)
    }
    pub fn binary(&mut self) -> Result<&'a [u8], Error> {
        let len = usize::from(self.u16().map_err(|_| Error::StringPastEnd)?);
        if self.buf.len() < len {
            return Err(Error::StringPastEnd);
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }
    pub fn string(&mut self) -> Result<&'a str, Error> {
        let bytes = self.binary()?;
        utf8(bytes)
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn finish(&self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::LengthMismatch)
        }
    }
}

/// Whether a string holds U+0000, which MQTT forbids (a plain loop: no memchr in the firmware).
#[allow(clippy::manual_contains)] // contains() pulls memchr into the firmware
pub fn has_nul(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == 0)
}

/// A UTF-8 string as MQTT allows it: valid and without U+0000.
pub fn utf8(bytes: &[u8]) -> Result<&str, Error> {
    let s = super::utf8::to_str(bytes).ok_or(Error::InvalidUtf8)?;
    if has_nul(bytes) {
        return Err(Error::NullCharacter);
    }
    Ok(s)
}

/// Iterates (filter, optional options byte) over validated wire bytes.
pub(crate) fn wire_filters(buf: &[u8], with_qos: bool) -> impl Iterator<Item = (&str, u8)> {
    let mut reader = Reader { buf };
    core::iter::from_fn(move || {
        if reader.is_empty() {
            return None;
        }
        let filter = reader.string().ok()?;
        let options = if with_qos { reader.u8().ok()? } else { 0 };
        Some((filter, options))
    })
}

impl<'a> Subscribe<'a> {
    pub fn iter(&self) -> impl Iterator<Item = Subscription<'a>> + '_ {
        let (wire, list): (&[u8], &[Subscription<'a>]) = match self.filters {
            Filters::Wire(w) => (w, &[]),
            Filters::List(l) => (&[], l),
        };
        wire_filters(wire, true)
            .map(|(filter, o)| Subscription { filter, qos: QoS::from_bits(o).unwrap_or(QoS::AtMostOnce) })
            .chain(list.iter().copied())
    }
}

impl<'a> Unsubscribe<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        let (wire, list): (&[u8], &[&'a str]) = match self.filters {
            Filters::Wire(w) => (w, &[]),
            Filters::List(l) => (&[], l),
        };
        wire_filters(wire, false).map(|(f, _)| f).chain(list.iter().copied())
    }
}

impl PartialEq for Subscribe<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.pid == other.pid && self.iter().eq(other.iter())
    }
}
impl PartialEq for Unsubscribe<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.pid == other.pid && self.iter().eq(other.iter())
    }
}
impl PartialEq for Suback<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.pid == other.pid && self.codes == other.codes
    }
}
impl PartialEq for Packet<'_> {
    fn eq(&self, other: &Self) -> bool {
        use Packet::*;
        match (self, other) {
            (Connect(a), Connect(b)) => a == b,
            (Connack(a), Connack(b)) => a == b,
            (Publish(a), Publish(b)) => a == b,
            (Puback(a), Puback(b)) | (Pubrec(a), Pubrec(b)) | (Pubrel(a), Pubrel(b)) => a == b,
            (Pubcomp(a), Pubcomp(b)) | (Unsuback(a), Unsuback(b)) => a == b,
            (Subscribe(a), Subscribe(b)) => a == b,
            (Suback(a), Suback(b)) => a == b,
            (Unsubscribe(a), Unsubscribe(b)) => a == b,
            (Pingreq, Pingreq) | (Pingresp, Pingresp) | (Disconnect, Disconnect) => true,
            _ => false,
        }
    }
}
