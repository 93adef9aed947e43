/// Why bytes are not a valid MQTT 3.1.1 packet (or cannot be encoded as one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    ReservedPacketType,
    NotFromBroker,
    InvalidHeaderFlags,
    InvalidQos,
    DupWithQos0,
    RemainingLengthTooLong,
    LengthMismatch,
    StringPastEnd,
    InvalidUtf8,
    NullCharacter,
    EmptyTopic,
    WildcardInTopicName,
    InvalidTopicFilter,
    ZeroPacketId,
    NoTopicFilters,
    InvalidSubscribeOptions,
    InvalidSubackCode,
    InvalidConnackFlags,
    InvalidConnackCode,
    SessionPresentOnRefusal,
    InvalidProtocolName,
    UnsupportedProtocolLevel,
    InvalidConnectFlags,
    StringTooLong,
    PacketTooLarge,
    BufferTooSmall,
    /// A PUBLISH handed to the decoder of the other packets (the caller's mistake).
    PublishNotControl,
}

impl Error {
    /// A short English text for error messages shown to users.
    #[inline(always)]
    pub const fn message(self) -> &'static str {
        match self {
            Error::ReservedPacketType => "reserved packet type",
            Error::NotFromBroker => "packet a broker never sends to a client",
            Error::InvalidHeaderFlags => "invalid fixed header flags for packet type",
            Error::InvalidQos => "invalid QoS (3)",
            Error::DupWithQos0 => "DUP flag set on a QoS 0 PUBLISH",
            Error::RemainingLengthTooLong => "remaining length longer than 4 bytes",
            Error::LengthMismatch => "remaining length does not match packet contents",
            Error::StringPastEnd => "string length runs past the end of the packet",
            Error::InvalidUtf8 => "string is not valid UTF-8",
            Error::NullCharacter => "string contains U+0000",
            Error::EmptyTopic => "empty topic",
            Error::WildcardInTopicName => "wildcard in a PUBLISH topic",
            Error::InvalidTopicFilter => "malformed topic filter",
            Error::ZeroPacketId => "packet id 0",
            Error::NoTopicFilters => "no topic filters",
            Error::InvalidSubscribeOptions => "invalid requested QoS byte",
            Error::InvalidSubackCode => "invalid SUBACK return code",
            Error::InvalidConnackFlags => "reserved CONNACK flags set",
            Error::InvalidConnackCode => "invalid CONNACK return code",
            Error::SessionPresentOnRefusal => "session present set on a refused CONNACK",
            Error::InvalidProtocolName => "protocol name is not MQTT",
            Error::UnsupportedProtocolLevel => "protocol level is not 4 (MQTT 3.1.1)",
            Error::InvalidConnectFlags => "invalid CONNECT flags",
            Error::StringTooLong => "string longer than 65535 bytes",
            Error::PacketTooLarge => "packet larger than MQTT's 256 MB limit",
            Error::BufferTooSmall => "output buffer too small",
            Error::PublishNotControl => "PUBLISH handed to the control packet decoder",
        }
    }
}
