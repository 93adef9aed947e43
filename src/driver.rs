//! A blocking MQTT client over any transport with `embedded_io::{Read, Write}`.
//!
//! Incoming bytes are buffered: one read may carry several packets and each is
//! handled in turn. A PUBLISH is streamed into the caller's [`Sink`], so a
//! message may be as large as MQTT allows whatever the buffer size. A delivered
//! QoS 1/2 message is acknowledged when the caller says it is done with it
//! ([`Client::ack`]), never before. An outgoing packet that fits the transmit
//! buffer is offered to the transport in one `write`; a larger one as its header
//! and then its payload straight from the caller's slice (never copied).

use crate::codec::{self, Connect, Error as CodecError, Filters, Output, Packet, PacketId, PacketType, Publish, QoS, Subscribe, Subscription, Unsubscribe, WriteError};
use crate::session::{self, Keepalive, Pending, Reply, Session, SessionError};

/// The received bytes not yet handled (a macro so that only the `rx` field is borrowed).
macro_rules! buffered {
    ($client:ident) => {
        $client.rx.get($client.rx_start..$client.rx_end).unwrap_or(&[])
    };
}

/// What the driver needs from a connection beyond `Read` and `Write`.
pub trait Transport: embedded_io::Read + embedded_io::Write {
    /// Waits until readable (or writable), at most `timeout_ms` (None: no limit).
    /// `Ok(false)`: the time ran out. A transport that cannot wait may answer `Ok(true)`
    /// at once; its `read` then blocks as it does (or reports would-block).
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, Self::Error>;
    /// A monotonic millisecond clock; it may wrap.
    fn now_ms(&mut self) -> u32;
    /// Whether `err` only means "nothing can move now" (a non-blocking socket).
    fn would_block(err: &Self::Error) -> bool;
}

/// Where incoming messages go: `begin` announces one, `buffer` is where its payload is written.
pub trait Sink {
    /// A message on `topic` with `payload_len` bytes begins. `false` refuses it
    /// (its payload is skipped and the call fails with [`Error::Sink`]).
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool;
    /// The payload buffer of the message begun last: at least `payload_len` bytes.
    fn buffer(&mut self) -> &mut [u8];
}

/// Why a call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Error<E> {
    Io(E),
    /// The broker closed the connection.
    Closed,
    /// No answer within the connect timeout.
    Timeout,
    /// The broker sent bytes that break MQTT 3.1.1; the connection was dropped.
    Protocol(&'static str),
    /// The broker refused the connection with this CONNACK code (1..5).
    Refused(u8),
    /// The broker answered a SUBSCRIBE with failure (0x80).
    SubscribeFailed,
    NotConnected,
    /// An argument the protocol does not allow; the text names it.
    InvalidArgument(&'static str),
    /// The packet is larger than MQTT allows (a string over 65,535 bytes, a packet over 256 MB).
    TooLarge,
    /// Too many operations await acknowledgement.
    Busy,
    /// The sink refused a message.
    Sink,
    /// An incoming message's topic is longer than the receive buffer; it was skipped.
    TopicTooLong,
    /// The broker did not answer PINGREQ within the keepalive window.
    KeepaliveTimeout,
}

impl<E> Error<E> {
    /// The connection cannot go on after this error.
    fn is_fatal(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Closed | Error::Protocol(_) | Error::KeepaliveTimeout | Error::Refused(_))
    }
}

impl<E> From<CodecError> for Error<E> {
    fn from(e: CodecError) -> Self {
        Error::Protocol(e.message())
    }
}

impl<E> From<SessionError> for Error<E> {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Busy => Error::Busy,
            other => Error::Protocol(other.message()),
        }
    }
}

/// A message handed to the sink. At QoS 1/2 pass its `pid` to [`Client::ack`] once
/// the application is done with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub first_byte: u8,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub pid: u16,
    pub len: usize,
}

/// A packet the driver finished handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A PUBLISH whose payload is now in the sink's buffer.
    Message(Message),
    /// Any other packet, by its first byte.
    Control(u8),
}

/// How long a wait for input may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Never block: handle what is buffered or readable now.
    Check,
    /// Handle only a packet already whole in the receive buffer; read nothing.
    Buffered,
    /// umqtt.simple's wait_msg: wait for a packet, at most this many ms (None: no
    /// limit); waits are bounded by keepalive so PINGREQ goes out on time. A read
    /// that would block (a non-blocking transport) gives "nothing".
    Wait(Option<u32>),
    /// Waiting for an acknowledgement: bounded by keepalive and the timeout.
    Ack,
}

/// Outcome of [`Client::await_ack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// The operation is acknowledged; for SUBSCRIBE, the granted QoS.
    Done(u8),
    /// A message arrived meanwhile (in the sink); call again after handling it.
    Message(Message),
}

/// A PUBLISH whose payload is being streamed into the sink.
#[derive(Clone, Copy, Debug)]
struct Inflow {
    message: Message,
    filled: usize,
    fate: Fate,
    ack: Option<Reply>,
}

/// What becomes of an incoming PUBLISH; all but `Deliver` skip the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Deliver,
    /// A QoS 2 message delivered before: acknowledged again, not delivered.
    Duplicate,
    /// The sink refused it: not acknowledged; the call that began it failed with
    /// [`Error::Sink`], later calls skip the payload.
    Refused,
    /// Its topic does not fit the receive buffer: skipped whole, the call fails.
    TopicTooLong,
}

/// Parameters of a CONNECT.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOptions<'a> {
    pub client_id: &'a str,
    pub keepalive_s: u16,
    pub clean_session: bool,
    pub will: Option<codec::Will<'a>>,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    /// Limit on every wait for the broker (None: none; the CONNACK is then awaited
    /// for 1.5 keepalive periods when keepalive is set).
    pub timeout_ms: Option<u32>,
}

/// The client: session state and its buffers, `RX` bytes in and `TX` bytes out.
pub struct Client<const RX: usize, const TX: usize> {
    session: Session,
    timeout_ms: Option<u32>,
    inflow: Option<Inflow>,
    rx_start: usize,
    rx_end: usize,
    rx: [u8; RX],
    tx: [u8; TX],
}

impl<const RX: usize, const TX: usize> Default for Client<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RX: usize, const TX: usize> Client<RX, TX> {
    pub const fn new() -> Self {
        Client { session: Session::new(), timeout_ms: None, inflow: None, rx_start: 0, rx_end: 0, rx: [0; RX], tx: [0; TX] }
    }

    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    pub fn last_pid(&self) -> u16 {
        self.session.last_pid()
    }

    /// Forgets the connection (the transport is the caller's to close).
    pub fn reset(&mut self) {
        self.session.disconnected();
        self.inflow = None;
        self.rx_start = 0;
        self.rx_end = 0;
    }

    /// Sends CONNECT and waits for CONNACK; returns the session-present flag.
    pub fn connect<T: Transport>(&mut self, io: &mut T, options: &ConnectOptions<'_>) -> Result<bool, Error<T::Error>> {
        self.reset();
        self.timeout_ms = options.timeout_ms;
        if let Some(will) = &options.will {
            codec::topic::check_name(will.topic).map_err(|_| Error::InvalidArgument("will topic must be a non-empty topic without wildcards"))?;
        }
        if codec::has_nul(options.client_id.as_bytes()) || options.username.is_some_and(|u| codec::has_nul(u.as_bytes())) {
            return Err(Error::InvalidArgument("client_id and user must not contain U+0000"));
        }
        if options.password.is_some() && options.username.is_none() {
            return Err(Error::InvalidArgument("password needs a user name"));
        }
        let now = io.now_ms();
        self.session.begin_connect(options.keepalive_s, options.clean_session, now);
        let packet = Packet::Connect(Connect {
            client_id: options.client_id,
            keepalive: options.keepalive_s,
            clean_session: options.clean_session,
            will: options.will,
            username: options.username,
            password: options.password,
        });
        let result = self.send(io, &packet).and_then(|_| self.await_connack(io, options));
        if result.is_err() {
            self.reset();
        }
        result
    }

    /// Takes over a connection opened elsewhere (its CONNECT/CONNACK are not ours to send).
    pub fn adopt<T: Transport>(&mut self, io: &mut T, keepalive_s: u16) {
        self.reset();
        self.timeout_ms = None;
        let now = io.now_ms();
        self.session.begin_connect(keepalive_s, true, now);
        self.session.on_connack(codec::ConnectReturnCode::Accepted, false);
    }

    fn await_connack<T: Transport>(&mut self, io: &mut T, options: &ConnectOptions<'_>) -> Result<bool, Error<T::Error>> {
        let start = io.now_ms();
        // Without a timeout of the caller's, a broker that never answers is given 1.5
        // keepalive periods, as it would be once connected.
        let limit = options.timeout_ms.or((options.keepalive_s > 0).then(|| u32::from(options.keepalive_s) * 1500));
        loop {
            if let Some(header) = codec::parse_fixed_header(buffered!(self))? {
                if header.kind != PacketType::Connack {
                    return Err(Error::Protocol("first packet from the broker is not CONNACK"));
                }
                if header.remaining_len != 2 {
                    return Err(Error::Protocol("CONNACK remaining length is not 2"));
                }
            }
            let ready = codec::parse_fixed_header(buffered!(self))?.and_then(|h| Some((h, buffered!(self).get(h.header_len..h.packet_len())?)));
            if let Some((header, body)) = ready {
                let packet = codec::decode_from_broker(header, body)?;
                self.rx_start += header.packet_len();
                let Packet::Connack(ack) = packet else {
                    return Err(Error::Protocol("first packet from the broker is not CONNACK"));
                };
                self.session.on_connack(ack.code, ack.session_present);
                if ack.code != codec::ConnectReturnCode::Accepted {
                    return Err(Error::Refused(ack.code as u8));
                }
                return Ok(ack.session_present);
            }
            let wait = remaining(io, start, limit)?;
            if io.wait(false, wait).map_err(Error::Io)? {
                match self.read_into_buffer(io) {
                    // Readable, yet nothing for us (part of a TLS record, say): wait on.
                    Err(Error::Io(e)) if T::would_block(&e) => {}
                    other => other?,
                }
            }
        }
    }

    /// After a [`Client::connect`] that resumed a session (returned true), takes up
    /// the unfinished QoS 1/2 publish `pid` of an earlier connection under the same
    /// id: PUBLISH again with DUP=1 while unacknowledged, PUBREL once PUBREC came,
    /// nothing if it completed. Await it with [`Client::await_ack`] as before.
    /// `Ok(false)`: no such publish (it never left whole, or the session is new):
    /// publish it again. Unfinished publishes not resumed before the next operation
    /// that takes a packet id (publish at QoS 1/2, subscribe, unsubscribe) are forgotten.
    pub fn resume<T: Transport>(
        &mut self,
        io: &mut T,
        pid: PacketId,
        topic: &str,
        payload: &[u8],
        retain: bool,
    ) -> Result<bool, Error<T::Error>> {
        self.check_connected()?;
        let qos = match self.session.resume(pid) {
            None => return Ok(false),
            Some(Pending::Done(_)) => return Ok(true),
            Some(Pending::Pubcomp) => return self.send(io, &Packet::Pubrel(pid)).map(|_| true),
            Some(Pending::Puback) => QoS::AtLeastOnce,
            Some(_) => QoS::ExactlyOnce,
        };
        let packet = Packet::Publish(Publish { dup: true, qos, retain, topic, pid: Some(pid), payload });
        self.send(io, &packet).map(|_| true)
    }

    /// Publishes a message. At QoS 0 returns None; otherwise the packet id to
    /// pass to [`Client::await_ack`].
    pub fn publish<T: Transport>(&mut self, io: &mut T, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Result<Option<PacketId>, Error<T::Error>> {
        self.check_connected()?;
        codec::topic::check_name(topic).map_err(|e| match e {
            CodecError::EmptyTopic => Error::InvalidArgument("topic must not be empty"),
            CodecError::NullCharacter => Error::InvalidArgument("topic must not contain U+0000"),
            _ => Error::InvalidArgument("topic must not contain wildcards (+ or #)"),
        })?;
        let pid = match session::first_ack(qos) {
            None => None,
            Some(state) => Some(self.session.start(state)?),
        };
        let packet = Packet::Publish(Publish { dup: false, qos, retain, topic, pid, payload });
        self.send_tracked(io, &packet, pid)?;
        Ok(pid)
    }

    /// Sends SUBSCRIBE for one filter; returns the packet id to await.
    pub fn subscribe<T: Transport>(&mut self, io: &mut T, filter: &str, qos: QoS) -> Result<PacketId, Error<T::Error>> {
        self.check_connected()?;
        check_filter_arg(filter)?;
        let pid = self.session.start(Pending::Suback)?;
        let subs = [Subscription { filter, qos }];
        let packet = Packet::Subscribe(Subscribe { pid, filters: Filters::List(&subs) });
        self.send_tracked(io, &packet, Some(pid))?;
        Ok(pid)
    }

    /// Sends UNSUBSCRIBE for one filter; returns the packet id to await.
    pub fn unsubscribe<T: Transport>(&mut self, io: &mut T, filter: &str) -> Result<PacketId, Error<T::Error>> {
        self.check_connected()?;
        check_filter_arg(filter)?;
        let pid = self.session.start(Pending::Unsuback)?;
        let filters = [filter];
        let packet = Packet::Unsubscribe(Unsubscribe { pid, filters: Filters::List(&filters) });
        self.send_tracked(io, &packet, Some(pid))?;
        Ok(pid)
    }

    /// Sends PINGREQ; its PINGRESP is consumed by later waits.
    pub fn ping<T: Transport>(&mut self, io: &mut T) -> Result<(), Error<T::Error>> {
        self.check_connected()?;
        self.send(io, &Packet::Pingreq)?;
        let now = io.now_ms();
        self.session.on_ping_sent(now);
        Ok(())
    }

    /// Sends DISCONNECT and forgets the connection.
    pub fn disconnect<T: Transport>(&mut self, io: &mut T) -> Result<(), Error<T::Error>> {
        self.check_connected()?;
        let result = self.send(io, &Packet::Disconnect);
        self.reset();
        result
    }

    /// Waits until the operation `pid` is acknowledged, delivering messages that arrive meanwhile.
    pub fn await_ack<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, pid: PacketId) -> Result<Awaited, Error<T::Error>> {
        loop {
            match self.session.take_done(pid) {
                Some(0x80) => return Err(Error::SubscribeFailed),
                Some(result) => return Ok(Awaited::Done(result)),
                None if self.session.pending(pid).is_none() => {
                    return Err(if self.is_connected() { Error::InvalidArgument("no operation with this ticket awaits acknowledgement") } else { Error::NotConnected })
                }
                None => {}
            }
            if let Some(Event::Message(m)) = self.pump(io, sink, Mode::Ack)? {
                return Ok(Awaited::Message(m));
            }
        }
    }

    /// Gives up waiting for `pid`; its acknowledgement will still be consumed.
    pub fn abandon(&mut self, pid: PacketId) {
        self.session.abandon(pid);
    }

    /// Handles incoming packets until one is handled (Some) or, as `mode` allows,
    /// nothing is there (None).
    pub fn wait_msg<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, mode: Mode) -> Result<Option<Event>, Error<T::Error>> {
        self.check_connected()?;
        if mode == Mode::Buffered && self.buffered_packet().is_none() {
            return Ok(None);
        }
        self.pump(io, sink, mode)
    }

    /// The first byte of a whole packet waiting in the receive buffer, if one does (it is
    /// handled without reading: a transport polled for readability does not show it).
    pub fn buffered_packet(&self) -> Option<u8> {
        match codec::parse_fixed_header(buffered!(self)) {
            Ok(Some(h)) if self.inflow.is_none() && h.packet_len() <= self.rx_end - self.rx_start => Some(h.first_byte),
            _ => None,
        }
    }

    /// The application is done with the delivered message `pid` (its callback returned
    /// normally): sends the PUBACK or PUBREC owed for it. Nothing when none is owed (QoS 0,
    /// or the connection it came on is gone: dropping it forgets what was owed, and the
    /// broker delivers those messages again).
    pub fn ack<T: Transport>(&mut self, io: &mut T, pid: u16) -> Result<(), Error<T::Error>> {
        match PacketId::new(pid).and_then(|p| self.session.acknowledge(p)) {
            Some(reply) => self.send(io, &reply.packet()),
            None => Ok(()),
        }
    }

    fn check_connected<E>(&self) -> Result<(), Error<E>> {
        if self.session.is_connected() {
            Ok(())
        } else {
            Err(Error::NotConnected)
        }
    }

    /// Reads and handles packets until one is handled; drops the connection on fatal errors.
    fn pump<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, mode: Mode) -> Result<Option<Event>, Error<T::Error>> {
        let result = self.pump_inner(io, sink, mode);
        if let Err(e) = &result {
            if e.is_fatal() {
                self.reset();
            }
        }
        result
    }

    fn pump_inner<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, mode: Mode) -> Result<Option<Event>, Error<T::Error>> {
        if mode == Mode::Buffered {
            return self.step(io, sink);
        }
        let start = io.now_ms();
        loop {
            if let Some(event) = self.step(io, sink)? {
                return Ok(Some(event));
            }
            // Each pass, not only after a quiet wait: input trickling in (a large message on a
            // slow link) must not hold PINGREQ back.
            let keepalive_wait = self.keepalive_tick(io)?;
            let limit = match mode {
                Mode::Check | Mode::Buffered => Some(0),
                Mode::Wait(limit) => match remaining(io, start, limit) {
                    Ok(left) => min_opt(keepalive_wait, left),
                    Err(_) => return Ok(None),
                },
                Mode::Ack => min_opt(keepalive_wait, remaining(io, start, self.timeout_ms)?),
            };
            if !io.wait(false, limit).map_err(Error::Io)? {
                if mode == Mode::Check {
                    return Ok(None);
                }
                continue;
            }
            match self.read_input(io, sink) {
                Ok(()) => {}
                Err(Error::Io(e)) if T::would_block(&e) => {
                    if mode != Mode::Ack {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends PINGREQ when due; returns how long waits may last before the next check.
    fn keepalive_tick<T: Transport>(&mut self, io: &mut T) -> Result<Option<u32>, Error<T::Error>> {
        let now = io.now_ms();
        match self.session.keepalive(now) {
            Keepalive::Idle(wait) => Ok(wait),
            Keepalive::Lost => Err(Error::KeepaliveTimeout),
            Keepalive::SendPing => {
                self.send(io, &Packet::Pingreq)?;
                self.session.on_ping_sent(now);
                match self.session.keepalive(now) {
                    Keepalive::Idle(wait) => Ok(wait),
                    _ => Ok(Some(0)),
                }
            }
        }
    }

    /// Handles what is buffered: Some(event) when a packet was completed, None when more input is needed.
    fn step<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S) -> Result<Option<Event>, Error<T::Error>> {
        if self.inflow.is_some() {
            let event = self.continue_inflow(io, sink)?;
            if event.is_some() || self.inflow.is_some() {
                return Ok(event);
            }
            // A refused message was skipped to its end: on to what follows it.
        }
        let buffered = buffered!(self);
        let Some(header) = codec::parse_fixed_header(buffered)? else {
            return Ok(None);
        };
        if header.kind == PacketType::Publish {
            return self.begin_inflow(io, sink, header);
        }
        if header.packet_len() > RX {
            return Err(Error::Protocol("control packet larger than the receive buffer"));
        }
        let Some(body) = buffered.get(header.header_len..header.packet_len()) else {
            return Ok(None);
        };
        let packet = codec::decode_from_broker(header, body)?;
        self.session.on_received();
        // A CONNACK here (the connection is open) is refused by the session.
        let reply = self.session.on_control(&packet)?;
        self.rx_start += header.packet_len();
        if let Some(reply) = reply {
            self.send(io, &reply.packet())?;
        }
        Ok(Some(Event::Control(header.first_byte)))
    }

    /// A PUBLISH header is buffered: once its topic is in, announce it to the sink.
    fn begin_inflow<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, header: codec::FixedHeader) -> Result<Option<Event>, Error<T::Error>> {
        let body = buffered!(self).get(header.header_len..).unwrap_or(&[]);
        if header.remaining_len < 2 {
            return Err(CodecError::StringPastEnd.into());
        }
        let [hi, lo, ..] = *body else {
            return Ok(None);
        };
        let qos = QoS::from_bits((header.first_byte >> 1) & 3)?;
        let topic_len = usize::from(u16::from_be_bytes([hi, lo]));
        let var_len = 2 + topic_len + if qos == QoS::AtMostOnce { 0 } else { 2 };
        if var_len > header.remaining_len {
            return Err(CodecError::StringPastEnd.into());
        }
        if header.header_len + var_len > RX {
            // Skip the whole packet rather than drop a connection that is otherwise fine.
            self.rx_start += header.header_len;
            self.inflow = Some(Inflow {
                message: Message { first_byte: header.first_byte, qos, retain: false, dup: false, pid: 0, len: header.remaining_len },
                filled: 0,
                fate: Fate::TopicTooLong,
                ack: None,
            });
            return self.continue_inflow(io, sink);
        }
        let Some(var_header) = body.get(..var_len) else {
            return Ok(None);
        };
        let (topic, pid, _) = codec::decode::publish_header(header.first_byte, var_header)?;
        self.session.on_received();
        let inbound = self.session.on_publish(qos, pid, header.first_byte & 8 != 0)?;
        let payload_len = header.remaining_len - var_len;
        let fate = match (inbound.deliver, inbound.deliver && sink.begin(topic, payload_len)) {
            (false, _) => Fate::Duplicate,
            (true, true) => Fate::Deliver,
            (true, false) => Fate::Refused,
        };
        self.inflow = Some(Inflow {
            message: Message {
                first_byte: header.first_byte,
                qos,
                retain: header.first_byte & 1 != 0,
                dup: header.first_byte & 8 != 0,
                pid: pid.map_or(0, PacketId::get),
                len: payload_len,
            },
            filled: 0,
            fate,
            ack: inbound.ack,
        });
        self.rx_start += header.header_len + var_len;
        if fate == Fate::Refused {
            // Said at once (a payload that cannot be held may be huge, or never come whole);
            // later calls skip it as it arrives, and the connection goes on.
            return Err(Error::Sink);
        }
        self.continue_inflow(io, sink)
    }

    /// Moves buffered payload bytes into the sink; finishes the message when all are in.
    fn continue_inflow<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S) -> Result<Option<Event>, Error<T::Error>> {
        let Some(mut inflow) = self.inflow else {
            return Ok(None);
        };
        let want = inflow.message.len - inflow.filled;
        let take = want.min(self.rx_end - self.rx_start);
        if take > 0 {
            if inflow.fate == Fate::Deliver {
                let dest = sink.buffer().get_mut(inflow.filled..inflow.filled + take).ok_or(Error::Sink)?;
                dest.copy_from_slice(buffered!(self).get(..take).ok_or(Error::Sink)?);
            }
            inflow.filled += take;
            self.rx_start += take;
        }
        self.inflow = Some(inflow);
        if inflow.filled < inflow.message.len {
            return Ok(None);
        }
        self.inflow = None;
        match (inflow.fate, inflow.ack) {
            (Fate::TopicTooLong, _) => Err(Error::TopicTooLong),
            // Reported when it began; not acknowledged: the broker delivers it again after a reconnect.
            (Fate::Refused, _) => Ok(None),
            (Fate::Deliver, ack) => {
                // Acknowledged once the application has it (ack()).
                if let Some(ack) = ack {
                    self.session.owe(ack);
                }
                Ok(Some(Event::Message(inflow.message)))
            }
            (Fate::Duplicate, ack) => {
                if let Some(ack) = ack {
                    self.send(io, &ack.packet())?;
                }
                Ok(Some(Event::Control(inflow.message.first_byte)))
            }
        }
    }

    /// One read: straight into the sink while a large payload streams and nothing is buffered, else into the buffer.
    fn read_input<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S) -> Result<(), Error<T::Error>> {
        if let Some(mut inflow) = self.inflow {
            if inflow.fate == Fate::Deliver && self.rx_start == self.rx_end && inflow.message.len - inflow.filled >= RX {
                let dest = sink.buffer().get_mut(inflow.filled..inflow.message.len).ok_or(Error::Sink)?;
                let n = io.read(dest).map_err(Error::Io)?;
                if n == 0 {
                    return Err(Error::Closed);
                }
                self.session.on_received();
                inflow.filled += n;
                self.inflow = Some(inflow);
                return Ok(());
            }
        }
        self.read_into_buffer(io)
    }

    fn read_into_buffer<T: Transport>(&mut self, io: &mut T) -> Result<(), Error<T::Error>> {
        if self.rx_start == self.rx_end {
            self.rx_start = 0;
            self.rx_end = 0;
        } else if self.rx_end == RX {
            // Move the unhandled tail to the front (indices hold start <= end <= RX).
            let len = self.rx_end - self.rx_start;
            if let Some(tail) = self.rx.get(self.rx_start..self.rx_end) {
                // SAFETY: both ranges lie within rx; ptr::copy allows overlap.
                unsafe { core::ptr::copy(tail.as_ptr(), self.rx.as_mut_ptr(), len) };
            }
            self.rx_end -= self.rx_start;
            self.rx_start = 0;
        }
        let n = io.read(self.rx.get_mut(self.rx_end..).unwrap_or(&mut [])).map_err(Error::Io)?;
        if n == 0 {
            return Err(Error::Closed);
        }
        // Any bytes show the broker alive, a part of a long message too.
        self.session.on_received();
        self.rx_end += n;
        Ok(())
    }

    /// Sends a packet whose ack is tracked under `pid`; untracks it if sending fails.
    fn send_tracked<T: Transport>(&mut self, io: &mut T, packet: &Packet<'_>, pid: Option<PacketId>) -> Result<(), Error<T::Error>> {
        let result = self.send(io, packet);
        if let (Err(_), Some(pid)) = (&result, pid) {
            self.session.untrack(pid);
        }
        result
    }

    /// Writes a packet: in one `write` when it fits the transmit buffer (more only if the
    /// transport takes part of it), else what gathered before each piece larger than the
    /// buffer (the header, for a PUBLISH), then that piece straight from where it lies.
    fn send<T: Transport>(&mut self, io: &mut T, packet: &Packet<'_>) -> Result<(), Error<T::Error>> {
        let mut out = TxOutput { io, buf: &mut self.tx, len: 0, sent: 0, timeout_ms: self.timeout_ms };
        let result = match packet.write(&mut out) {
            Ok(_) => out.flush(),
            Err(WriteError::Output(e)) => Err(e),
            Err(WriteError::Invalid(CodecError::PacketTooLarge | CodecError::StringTooLong)) => Err(Error::TooLarge),
            Err(WriteError::Invalid(e)) => Err(Error::Protocol(e.message())),
        };
        let sent = out.sent;
        match result {
            Ok(()) => {
                let now = io.now_ms();
                self.session.on_sent(now);
                Ok(())
            }
            Err(e) => {
                // Part of a packet on the wire leaves the stream unusable, whatever the error.
                if e.is_fatal() || sent > 0 {
                    self.reset();
                }
                Err(e)
            }
        }
    }
}

/// The transmit buffer as the encoder's output: pieces gather there and leave in one
/// write. A piece that does not fit beside what gathered sends that first; a piece larger
/// than the whole buffer then follows from where it lies, a smaller one gathers anew.
struct TxOutput<'a, T> {
    io: &'a mut T,
    buf: &'a mut [u8],
    len: usize,
    /// Bytes the transport took so far.
    sent: usize,
    timeout_ms: Option<u32>,
}

impl<T: Transport> TxOutput<'_, T> {
    fn flush(&mut self) -> Result<(), Error<T::Error>> {
        let gathered = self.buf.get(..self.len).unwrap_or(&[]);
        self.len = 0;
        write_all(self.io, gathered, self.timeout_ms, &mut self.sent)
    }
}

impl<T: Transport> Output for TxOutput<'_, T> {
    type Error = Error<T::Error>;
    fn put(&mut self, piece: &[u8]) -> Result<(), Self::Error> {
        if piece.len() > self.buf.len() - self.len {
            self.flush()?;
            if piece.len() > self.buf.len() {
                return write_all(self.io, piece, self.timeout_ms, &mut self.sent);
            }
        }
        let end = self.len + piece.len();
        if let Some(room) = self.buf.get_mut(self.len..end) {
            room.copy_from_slice(piece);
            self.len = end;
        }
        Ok(())
    }
}

fn write_all<T: Transport>(io: &mut T, mut data: &[u8], timeout_ms: Option<u32>, sent: &mut usize) -> Result<(), Error<T::Error>> {
    while !data.is_empty() {
        match io.write(data) {
            Ok(0) => return Err(Error::Closed),
            Ok(n) => {
                let n = n.min(data.len());
                *sent += n;
                data = data.get(n..).unwrap_or(&[]);
            }
            Err(e) if T::would_block(&e) => {
                if !io.wait(true, timeout_ms).map_err(Error::Io)? {
                    return Err(Error::Timeout);
                }
            }
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(())
}

/// How long is left of `limit` ms since `start` (None: no limit); `Error::Timeout` once it is spent.
fn remaining<T: Transport>(io: &mut T, start: u32, limit: Option<u32>) -> Result<Option<u32>, Error<T::Error>> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    let spent = io.now_ms().wrapping_sub(start);
    if spent >= limit {
        return Err(Error::Timeout);
    }
    Ok(Some(limit - spent))
}

fn check_filter_arg<E>(filter: &str) -> Result<(), Error<E>> {
    codec::topic::check_filter(filter).map_err(|e| match e {
        CodecError::EmptyTopic => Error::InvalidArgument("topic filter must not be empty"),
        CodecError::NullCharacter => Error::InvalidArgument("topic filter must not contain U+0000"),
        _ => Error::InvalidArgument("topic filter: '#' must be the whole last level and '+' a whole level"),
    })
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
