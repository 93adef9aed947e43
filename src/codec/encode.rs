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
    /// Appends `piece`, the whole of the packet's field `part` (bytes of the sender's memory,
    /// e.g. a payload). By default it is put like any piece.
    fn put_part(&mut self, piece: &[u8], part: Part) -> Result<(), Self::Error> {
        let _ = part;
        self.put(piece)
    }
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

/// The encoder's side of an output, object-safe so that one body of each packet's layout serves
/// every output and the count of its length: `false` means the output failed (the output
/// keeps why).
trait Put {
    /// Appends `piece`; `part` names the packet's field it is the whole of, if it is one.
    fn put(&mut self, piece: &[u8], part: Option<Part>) -> bool;
}

/// Counts the bytes instead of writing them: the first pass, which gives Remaining Length.
struct Count(usize);

impl Put for Count {
    fn put(&mut self, piece: &[u8], _: Option<Part>) -> bool {
        self.0 = self.0.saturating_add(piece.len());
        true
    }
}

/// An [`Output`] for the second pass, keeping its error.
struct Forward<'o, O: Output> {
    out: &'o mut O,
    error: Option<O::Error>,
}

impl<O: Output> Put for Forward<'_, O> {
    fn put(&mut self, piece: &[u8], part: Option<Part>) -> bool {
        let put = match part {
            Some(part) => self.out.put_part(piece, part),
            None => self.out.put(piece),
        };
        match put {
            Ok(()) => true,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

/// Why a pass over a packet's layout stopped.
enum Stop {
    /// A length breaks MQTT's limits (only the counting pass meets this: nothing was written).
    Invalid(Error),
    /// The output failed.
    Output,
}

/// Big-endian fields and length-prefixed strings on top of a [`Put`].
struct Fields<'o>(&'o mut dyn Put);

impl Fields<'_> {
    fn bytes(&mut self, data: &[u8]) -> Result<(), Stop> {
        self.piece(data, None)
    }
    /// `data`, the packet's field `part` (None: bytes the encoder made, or a decoded list).
    fn piece(&mut self, data: &[u8], part: Option<Part>) -> Result<(), Stop> {
        if self.0.put(data, part) {
            Ok(())
        } else {
            Err(Stop::Output)
        }
    }
    fn u8(&mut self, v: u8) -> Result<(), Stop> {
        self.bytes(&[v])
    }
    #[inline(never)]
    fn u16(&mut self, v: u16) -> Result<(), Stop> {
        self.bytes(&v.to_be_bytes())
    }
    /// The field `part` (if it is one), length-prefixed: at most 65,535 bytes.
    fn binary(&mut self, data: &[u8], part: Option<Part>) -> Result<(), Stop> {
        let len = u16::try_from(data.len()).map_err(|_| Stop::Invalid(Error::StringTooLong))?;
        self.u16(len)?;
        self.piece(data, part)
    }
}

/// The filter of a one-filter list is the packet's [`Part::Topic`]; those of a longer list are
/// no one field.
fn one_filter(filters: usize) -> Option<Part> {
    (filters == 1).then_some(Part::Topic)
}

impl Publish<'_> {
    /// Remaining Length, the counting pass's figure without the pass: PUBLISH is the packet a
    /// client sends most (a test checks the two agree).
    fn remaining_len(&self) -> Result<usize, Error> {
        if self.topic.len() > usize::from(u16::MAX) {
            return Err(Error::StringTooLong);
        }
        let pid = if self.pid.is_some() { 2 } else { 0 };
        match (2 + self.topic.len() + pid).checked_add(self.payload.len()) {
            Some(len) if len <= MAX_REMAINING_LENGTH => Ok(len),
            _ => Err(Error::PacketTooLarge),
        }
    }
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
    /// filters or codes not empty, a packet of at most 256 MB); no other rule is checked. It is
    /// the body's layout counted ([`Packet::write_body`] into [`Count`]): one description of
    /// each packet's bytes, so that length and bytes cannot disagree.
    fn lengths(&self) -> Result<usize, Error> {
        if let Packet::Publish(p) = self {
            return p.remaining_len();
        }
        self.counted()
    }

    /// [`Packet::lengths`] by the counting pass over the body's layout.
    fn counted(&self) -> Result<usize, Error> {
        let mut count = Count(0);
        match self.write_body(&mut Fields(&mut count)) {
            Err(Stop::Invalid(e)) => Err(e),
            _ if count.0 > MAX_REMAINING_LENGTH => Err(Error::PacketTooLarge),
            _ => Ok(count.0),
        }
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
        let mut forward = Forward { out, error: None };
        let mut w = Fields(&mut forward);
        match w.bytes(&header[..n]).and_then(|_| self.write_body(&mut w)) {
            Ok(()) => Ok(n + rl),
            // The counting pass has checked every length, so only the output can stop this one.
            Err(Stop::Invalid(e)) => Err(WriteError::Invalid(e)),
            // Only a failed put stops with Output, and it kept its error.
            Err(Stop::Output) => Err(forward.error.map_or(WriteError::Invalid(Error::BufferTooSmall), WriteError::Output)),
        }
    }

    /// The packet's body, piece by piece, in order: the one description of its layout.
    fn write_body(&self, w: &mut Fields<'_>) -> Result<(), Stop> {
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
                w.binary(c.client_id.as_bytes(), Some(Part::ClientId))?;
                if let Some(will) = &c.will {
                    w.binary(will.topic.as_bytes(), Some(Part::Topic))?;
                    w.binary(will.message, Some(Part::WillMessage))?;
                }
                if let Some(u) = c.username {
                    w.binary(u.as_bytes(), Some(Part::Username))?;
                }
                if let Some(p) = c.password {
                    w.binary(p, Some(Part::Password))?;
                }
            }
            Packet::Connack(c) => {
                w.u8(u8::from(c.session_present))?;
                w.u8(c.code as u8)?;
            }
            Packet::Publish(p) => {
                w.binary(p.topic.as_bytes(), Some(Part::Topic))?;
                if let Some(pid) = p.pid {
                    w.u16(pid.get())?;
                }
                w.piece(p.payload, Some(Part::Payload))?;
            }
            Packet::Puback(pid) | Packet::Pubrec(pid) | Packet::Pubrel(pid) | Packet::Pubcomp(pid) | Packet::Unsuback(pid) => {
                w.u16(pid.get())?
            }
            Packet::Subscribe(s) => {
                if s.filters.is_empty() {
                    return Err(Stop::Invalid(Error::NoTopicFilters));
                }
                w.u16(s.pid.get())?;
                match s.filters {
                    // Decoded bytes, validated then: they are the list's encoding.
                    Filters::Wire(wire) => w.bytes(wire)?,
                    Filters::List(list) => {
                        let part = one_filter(list.len());
                        for sub in list {
                            w.binary(sub.filter.as_bytes(), part)?;
                            w.u8(sub.qos as u8)?;
                        }
                    }
                }
            }
            Packet::Unsubscribe(u) => {
                if u.filters.is_empty() {
                    return Err(Stop::Invalid(Error::NoTopicFilters));
                }
                w.u16(u.pid.get())?;
                match u.filters {
                    Filters::Wire(wire) => w.bytes(wire)?,
                    Filters::List(list) => {
                        let part = one_filter(list.len());
                        for filter in list {
                            w.binary(filter.as_bytes(), part)?;
                        }
                    }
                }
            }
            Packet::Suback(s) => {
                if s.codes.is_empty() {
                    return Err(Stop::Invalid(Error::LengthMismatch));
                }
                w.u16(s.pid.get())?;
                w.bytes(s.codes)?;
            }
            Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records which pieces come named as a field.
    struct Parts(std::vec::Vec<(Part, usize)>);

    impl Output for Parts {
        type Error = ();
        fn put(&mut self, _: &[u8]) -> Result<(), ()> {
            Ok(())
        }
        fn put_part(&mut self, piece: &[u8], part: Part) -> Result<(), ()> {
            self.0.push((part, piece.len()));
            Ok(())
        }
    }

    fn named_parts(packet: &Packet<'_>) -> std::vec::Vec<(Part, usize)> {
        let mut out = Parts(std::vec::Vec::new());
        packet.write(&mut out).unwrap();
        out.0
    }

    /// Each field of the sender's comes named, once; the filters of a longer list are no one field.
    #[test]
    fn the_fields_of_the_senders_memory_come_named() {
        let pid = PacketId::new(1).unwrap();
        let publish = Publish { dup: false, qos: QoS::AtLeastOnce, retain: false, topic: "a/b", pid: Some(pid), payload: b"12345" };
        assert_eq!(named_parts(&Packet::Publish(publish)), [(Part::Topic, 3), (Part::Payload, 5)]);
        let one = [Subscription { filter: "x/#", qos: QoS::AtMostOnce }];
        assert_eq!(named_parts(&Packet::Subscribe(Subscribe { pid, filters: Filters::List(&one) })), [(Part::Topic, 3)]);
        let two = [one[0], Subscription { filter: "y", qos: QoS::AtLeastOnce }];
        assert_eq!(named_parts(&Packet::Subscribe(Subscribe { pid, filters: Filters::List(&two) })), []);
        let will = Will { topic: "w", message: b"gone", qos: QoS::AtMostOnce, retain: false };
        let connect = Connect { client_id: "id", keepalive: 0, clean_session: true, will: Some(will), username: Some("u"), password: Some(b"pw") };
        assert_eq!(
            named_parts(&Packet::Connect(connect)),
            [(Part::ClientId, 2), (Part::Topic, 1), (Part::WillMessage, 4), (Part::Username, 1), (Part::Password, 2)]
        );
    }

    /// PUBLISH's Remaining Length without the counting pass is the pass's, errors included.
    #[test]
    fn publish_length_agrees_with_the_counting_pass() {
        static BIG: [u8; 70_000] = [b'a'; 70_000];
        let long_topic = core::str::from_utf8(&BIG).unwrap();
        for topic in ["t", "a/b/c", &long_topic[..65_535], long_topic] {
            for pid in [None, PacketId::new(7)] {
                for payload in [&[][..], &BIG[..3], &BIG[..]] {
                    let qos = if pid.is_some() { QoS::AtLeastOnce } else { QoS::AtMostOnce };
                    let packet = Packet::Publish(Publish { dup: false, qos, retain: false, topic, pid, payload });
                    assert_eq!(packet.lengths(), packet.counted(), "topic {} B, pid {pid:?}, payload {} B", topic.len(), payload.len());
                }
            }
        }
    }
}
