//! One MQTT connection as a sans-IO state machine: operations queue their packets, input is
//! fed in, events come out, and the caller is told when it next needs the time. It never calls
//! a transport; [`crate::driver`] is the blocking loop over it, the C ABI's step calls
//! (`umqtt_step_*`) expose it to an event loop.
//!
//! Output leaves as a queue of pieces ([`Connection::transmit`]): bytes from the transmit
//! buffer, or a piece of the caller's own memory ([`Transmit::Borrowed`]) that did not fit
//! beside them (a large payload is never copied). Input is read straight into the slice
//! [`Connection::receive_buffer`] names: the receive buffer, or the payload buffer of the
//! message being streamed into the caller's [`Sink`].

pub use crate::codec::Part;
use crate::codec::{self, Connect, Error as CodecError, Filters, Output, Packet, PacketId, PacketType, Publish, QoS, Subscribe, Subscription, Unsubscribe, WriteError};
use crate::session::{self, Keepalive, MessageRef, Pending, Reply, Session, SessionError};
use heapless::Vec;

/// The received bytes not yet handled (a macro so that only the `rx` field is borrowed).
macro_rules! buffered {
    ($c:ident) => {
        $c.rx.get($c.rx_start..$c.rx_end).unwrap_or(&[])
    };
}

/// Where incoming messages go: `begin` announces one, `buffer` is where its payload is written.
pub trait Sink {
    /// A message on `topic` with `payload_len` bytes begins. `false` refuses it
    /// (its payload is skipped and the call fails with [`Error::Sink`]).
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool;
    /// The payload buffer of the message begun last: at least `payload_len` bytes.
    fn buffer(&mut self) -> &mut [u8];
}

/// Why the broker's bytes were refused (the connection is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not a valid MQTT 3.1.1 packet.
    Codec(CodecError),
    /// A packet the session did not expect, or an acknowledgement of the wrong kind.
    Session(SessionError),
    /// The first packet after CONNECT is not CONNACK.
    FirstPacketNotConnack,
    /// CONNACK's remaining length is not 2.
    ConnackLength,
    /// A control packet does not fit the receive buffer.
    ControlPacketTooLarge,
}

impl ProtocolError {
    /// A short English text for error messages.
    #[inline(always)]
    pub const fn message(self) -> &'static str {
        match self {
            ProtocolError::Codec(e) => e.message(),
            ProtocolError::Session(e) => e.message(),
            ProtocolError::FirstPacketNotConnack => "first packet from the broker is not CONNACK",
            ProtocolError::ConnackLength => "CONNACK remaining length is not 2",
            ProtocolError::ControlPacketTooLarge => "control packet larger than the receive buffer",
        }
    }
}

/// An argument the protocol does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// An empty topic name.
    TopicEmpty,
    /// A topic name with U+0000.
    TopicNul,
    /// A topic name with `+` or `#`.
    TopicWildcard,
    /// An empty topic filter.
    FilterEmpty,
    /// A topic filter with U+0000.
    FilterNul,
    /// A topic filter whose wildcards break MQTT's rules.
    FilterMalformed,
    /// A will topic that is no valid topic name.
    WillTopic,
    /// client_id or user holds U+0000.
    IdNul,
    PasswordWithoutUser,
    /// No operation with this ticket awaits acknowledgement.
    UnknownTicket,
    /// A text argument of the C ABI is not UTF-8 (which one: [`TextArg`]).
    NotUtf8(TextArg),
    /// A QoS other than 0, 1, 2.
    Qos,
    /// A NULL pointer where the C ABI needs one.
    Null,
}

/// The text arguments of the C ABI, for [`ArgError::NotUtf8`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextArg {
    /// CONNECT's client identifier.
    ClientId,
    /// CONNECT's user name.
    User,
    /// CONNECT's will topic.
    WillTopic,
    /// A PUBLISH topic or a topic filter.
    Topic,
}

impl ArgError {
    /// A short English text naming the argument.
    pub const fn message(self) -> &'static str {
        match self {
            ArgError::TopicEmpty => "topic must not be empty",
            ArgError::TopicNul => "topic must not contain U+0000",
            ArgError::TopicWildcard => "topic must not contain wildcards (+ or #)",
            ArgError::FilterEmpty => "topic filter must not be empty",
            ArgError::FilterNul => "topic filter must not contain U+0000",
            ArgError::FilterMalformed => "topic filter: '#' must be the whole last level and '+' a whole level",
            ArgError::WillTopic => "will topic must be a non-empty topic without wildcards",
            ArgError::IdNul => "client_id and user must not contain U+0000",
            ArgError::PasswordWithoutUser => "password needs a user name",
            ArgError::UnknownTicket => "no operation with this ticket awaits acknowledgement",
            ArgError::NotUtf8(TextArg::ClientId) => "client_id must be UTF-8 text",
            ArgError::NotUtf8(TextArg::User) => "user must be UTF-8 text",
            ArgError::NotUtf8(TextArg::WillTopic) => "will topic must be UTF-8 text",
            ArgError::NotUtf8(TextArg::Topic) => "topic must be UTF-8 text",
            ArgError::Qos => "qos must be 0, 1 or 2",
            ArgError::Null => "a required pointer is NULL",
        }
    }
}

/// Why an operation or a step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The broker closed the connection.
    Closed,
    /// No answer within the connect timeout.
    Timeout,
    /// The broker sent bytes that break MQTT 3.1.1; the connection was dropped.
    Protocol(ProtocolError),
    /// The broker refused the connection with this CONNACK code (1..5).
    Refused(u8),
    /// The broker answered a SUBSCRIBE with failure (0x80).
    SubscribeFailed,
    NotConnected,
    /// An argument the protocol does not allow.
    InvalidArgument(ArgError),
    /// The packet is larger than MQTT allows (a string over 65,535 bytes, a packet over 256 MB).
    TooLarge,
    /// Too many operations await acknowledgement.
    Busy,
    /// The transmit queue cannot take the packet now: send what it holds first.
    OutputFull,
    /// The sink refused a message.
    Sink,
    /// An incoming message's topic is longer than the receive buffer; it was skipped.
    TopicTooLong,
    /// The broker did not answer PINGREQ within the keepalive window.
    KeepaliveTimeout,
}

impl Error {
    /// The connection cannot go on after this error.
    #[inline(never)]
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Closed | Error::Protocol(_) | Error::KeepaliveTimeout | Error::Refused(_))
    }

    /// A short English text for error messages.
    #[inline(always)]
    pub const fn message(&self) -> &'static str {
        match self {
            Error::Closed => "connection closed by the broker",
            Error::Timeout => "timed out waiting for the broker",
            Error::Protocol(p) => p.message(),
            Error::Refused(_) => "connection refused by the broker",
            Error::SubscribeFailed => "subscription refused by the broker",
            Error::NotConnected => "not connected",
            Error::InvalidArgument(a) => a.message(),
            Error::TooLarge => "packet too large for MQTT (a string over 65,535 bytes or a packet over 256 MB)",
            Error::Busy => "too many operations awaiting acknowledgement",
            Error::OutputFull => "transmit queue full: send its bytes first",
            Error::Sink => "message sink refused the message",
            Error::TopicTooLong => "incoming topic longer than the receive buffer; message skipped",
            Error::KeepaliveTimeout => "broker did not answer within the keepalive window",
        }
    }
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Self {
        Error::Protocol(ProtocolError::Codec(e))
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Busy => Error::Busy,
            other => Error::Protocol(ProtocolError::Session(other)),
        }
    }
}

/// A message handed to the sink. At QoS 1/2 pass its `pid` to [`Connection::ack`] once
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

/// A packet the connection finished handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The broker accepted the connection; whether it kept the session.
    Connected { session_present: bool },
    /// A PUBLISH whose payload is now in the sink's buffer.
    Message(Message),
    /// Any other packet, by its first byte.
    Control(u8),
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

/// A message to publish: with `handles` (the caller's on its topic and payload, e.g. their
/// MicroPython objects) an unfinished QoS 1/2 publish of it is sent again after a reconnect.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'m> {
    /// The topic name (no wildcards).
    pub topic: &'m str,
    /// The payload, written from where it lies when it does not fit the transmit buffer.
    pub payload: &'m [u8],
    /// The QoS it is published at.
    pub qos: QoS,
    /// The retain flag.
    pub retain: bool,
    /// The caller's handles on topic and payload (see [`MessageRef`]).
    pub handles: Option<(usize, usize)>,
}

/// Gives the topic and payload behind a message's handles (None: they are gone).
pub type MessageBytes<'f, 'm> = dyn FnMut(&MessageRef) -> Option<(&'m str, &'m [u8])> + 'f;

/// How many [`Part`]s there are (the C ABI keeps a pointer for each).
pub const PARTS: usize = 6;

impl ConnectOptions<'_> {
    /// The fields of the CONNECT that may be borrowed, as [`Part`]s.
    pub fn parts(&self) -> [(Part, &[u8]); 5] {
        [
            (Part::ClientId, self.client_id.as_bytes()),
            (Part::Topic, self.will.map_or(&[][..], |w| w.topic.as_bytes())),
            (Part::WillMessage, self.will.map_or(&[][..], |w| w.message)),
            (Part::Username, self.username.map_or(&[][..], str::as_bytes)),
            (Part::Password, self.password.unwrap_or(&[])),
        ]
    }
}

/// The next piece to write.
#[derive(Debug, PartialEq, Eq)]
pub enum Transmit<'a> {
    /// Bytes from the transmit buffer.
    Buffered(&'a [u8]),
    /// The caller's `part` of the operation that queued it, from byte `from` to its end `to`.
    Borrowed { part: Part, from: usize, to: usize },
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    /// CONNECT queued at `since`; CONNACK is awaited at most `limit` ms.
    AwaitingConnack { since: u32, limit: Option<u32> },
    Open,
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

/// A borrowed piece in the transmit queue: `len` bytes of `part`, after buffer byte `at`.
#[derive(Clone, Copy, Debug)]
struct Mark {
    at: usize,
    part: Part,
    len: usize,
}

/// Borrowed pieces a packet may have at most (CONNECT: each of its five strings).
const MAX_MARKS: usize = 5;

/// Outgoing bytes not yet written: `buf[start..end]` with borrowed pieces among them.
struct TxQueue<const TX: usize> {
    buf: [u8; TX],
    start: usize,
    end: usize,
    marks: Vec<Mark, MAX_MARKS>,
    /// Bytes of the first mark already written.
    mark_sent: usize,
}

impl<const TX: usize> TxQueue<TX> {
    const fn new() -> Self {
        TxQueue { buf: [0; TX], start: 0, end: 0, marks: Vec::new(), mark_sent: 0 }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.start == self.end && self.marks.is_empty()
    }

    #[inline(never)]
    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.marks.clear();
        self.mark_sent = 0;
    }

    fn next(&self) -> Option<Transmit<'_>> {
        match self.marks.first() {
            Some(m) if m.at == self.start => Some(Transmit::Borrowed { part: m.part, from: self.mark_sent, to: m.len }),
            first => {
                let stop = first.map_or(self.end, |m| m.at);
                let bytes = self.buf.get(self.start..stop).unwrap_or(&[]);
                (!bytes.is_empty()).then_some(Transmit::Buffered(bytes))
            }
        }
    }

    /// `n` bytes of the piece [`TxQueue::next`] gave were written.
    #[inline(always)]
    fn consumed(&mut self, n: usize) {
        match self.marks.first() {
            Some(m) if m.at == self.start => {
                self.mark_sent = self.mark_sent.saturating_add(n).min(m.len);
                if self.mark_sent == m.len {
                    self.drop_first_mark();
                }
            }
            first => {
                let stop = first.map_or(self.end, |m| m.at);
                self.start = self.start.saturating_add(n).min(stop);
            }
        }
        if self.is_empty() {
            self.clear();
        }
    }

    fn drop_first_mark(&mut self) {
        session::remove_at(&mut self.marks, 0); // the others stay, in order (a CONNECT may have five)
        self.mark_sent = 0;
    }

    /// Moves what is unsent to the front, so that the room at the end is all there is.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        let len = self.end - self.start;
        move_to_front(&mut self.buf, self.start, self.end);
        for m in self.marks.iter_mut() {
            m.at -= self.start;
        }
        self.start = 0;
        self.end = len;
    }
}

/// The transmit queue as the encoder's output for one packet: a field of the caller's (a
/// [`Part`]) that does not fit beside what is queued becomes a borrowed piece; anything else is
/// copied.
struct Enqueue<'q, const TX: usize> {
    queue: &'q mut TxQueue<TX>,
    /// Marks queued before this packet: a packet may borrow only when none is (their parts are
    /// another operation's).
    marks_before: usize,
}

impl<const TX: usize> Enqueue<'_, TX> {
    /// Copies `piece` to the end of the queue: false when it does not fit.
    fn copy(&mut self, piece: &[u8]) -> bool {
        let Some(room) = self.queue.buf.get_mut(self.queue.end..self.queue.end + piece.len()) else {
            return false;
        };
        room.copy_from_slice(piece);
        self.queue.end += piece.len();
        true
    }
}

impl<const TX: usize> Output for Enqueue<'_, TX> {
    type Error = Error;
    fn put(&mut self, piece: &[u8]) -> Result<(), Error> {
        if self.copy(piece) {
            Ok(())
        } else {
            Err(Error::OutputFull)
        }
    }
    fn put_part(&mut self, piece: &[u8], part: Part) -> Result<(), Error> {
        if piece.is_empty() || self.copy(piece) {
            return Ok(());
        }
        if self.marks_before > 0 {
            return Err(Error::OutputFull);
        }
        self.queue.marks.push(Mark { at: self.queue.end, part, len: piece.len() }).map_err(|_| Error::OutputFull)
    }
}

/// One MQTT connection: session state and its buffers, `RX` bytes in and `TX` bytes out.
pub struct Connection<const RX: usize, const TX: usize> {
    session: Session,
    phase: Phase,
    inflow: Option<Inflow>,
    /// The next publish may be a retry of one whose caller gave up ([`Connection::publish`]).
    retry_window: bool,
    /// The last receive buffer named was the sink's payload buffer.
    direct: bool,
    rx_start: usize,
    rx_end: usize,
    rx: [u8; RX],
    tx: TxQueue<TX>,
}

impl<const RX: usize, const TX: usize> Default for Connection<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

/// How long is left of `limit` ms since `since` at `now` (None: no limit); `Error::Timeout` once spent.
#[inline(never)]
pub fn remaining(now: u32, since: u32, limit: Option<u32>) -> Result<Option<u32>, Error> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    let spent = now.wrapping_sub(since);
    if spent >= limit {
        return Err(Error::Timeout);
    }
    Ok(Some(limit - spent))
}

/// The smaller of two optional limits (None: no limit).
pub fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl<const RX: usize, const TX: usize> Connection<RX, TX> {
    /// A connection not yet opened ([`Connection::connect`] or [`Connection::adopt`]).
    pub const fn new() -> Self {
        Connection {
            session: Session::new(),
            phase: Phase::Closed,
            inflow: None,
            retry_window: false,
            direct: false,
            rx_start: 0,
            rx_end: 0,
            rx: [0; RX],
            tx: TxQueue::new(),
        }
    }

    /// CONNACK came and the connection is open.
    #[inline(never)]
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Open && self.session.is_connected()
    }

    /// The last packet id used (umqtt.simple's `pid`).
    pub fn last_pid(&self) -> u16 {
        self.session.last_pid()
    }

    /// Forgets the connection (the transport is the caller's to close); unfinished publishes
    /// are kept for a resumed session.
    #[inline(never)]
    pub fn reset(&mut self) {
        self.session.disconnected();
        self.phase = Phase::Closed;
        self.inflow = None;
        self.retry_window = false;
        self.direct = false;
        self.rx_start = 0;
        self.rx_end = 0;
        self.tx.clear();
    }

    /// Drops the connection when `result` is an error it cannot survive.
    fn check<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            self.drop_if_fatal(e);
        }
        result
    }

    #[inline(never)]
    fn drop_if_fatal(&mut self, e: &Error) {
        if e.is_fatal() {
            self.reset();
        }
    }

    fn check_connected(&self) -> Result<(), Error> {
        if self.is_connected() {
            Ok(())
        } else {
            Err(Error::NotConnected)
        }
    }

    // ---- operations: each queues its packet ------------------------------------------------

    /// Queues CONNECT at `now` (a new connection: everything of the last one is forgotten but its
    /// unfinished publishes); [`Event::Connected`] follows from [`Connection::handle`].
    pub fn connect(&mut self, options: &ConnectOptions<'_>, now: u32) -> Result<(), Error> {
        self.reset();
        if let Some(will) = &options.will {
            codec::topic::check_name(will.topic).map_err(|_| Error::InvalidArgument(ArgError::WillTopic))?;
        }
        if codec::has_nul(options.client_id.as_bytes()) || options.username.is_some_and(|u| codec::has_nul(u.as_bytes())) {
            return Err(Error::InvalidArgument(ArgError::IdNul));
        }
        if options.password.is_some() && options.username.is_none() {
            return Err(Error::InvalidArgument(ArgError::PasswordWithoutUser));
        }
        self.session.begin_connect(options.keepalive_s, options.clean_session, now);
        let packet = Packet::Connect(Connect {
            client_id: options.client_id,
            keepalive: options.keepalive_s,
            clean_session: options.clean_session,
            will: options.will,
            username: options.username,
            password: options.password,
        });
        self.enqueue(&packet)?;
        // Without a timeout of the caller's, a broker that never answers is given 1.5
        // keepalive periods, as it would be once connected.
        let limit = options.timeout_ms.or((options.keepalive_s > 0).then(|| u32::from(options.keepalive_s) * 1500));
        self.phase = Phase::AwaitingConnack { since: now, limit };
        Ok(())
    }

    /// Takes over a connection opened elsewhere (its CONNECT/CONNACK are not ours to send).
    pub fn adopt(&mut self, keepalive_s: u16, now: u32) {
        self.reset();
        self.session.begin_connect(keepalive_s, true, now);
        self.session.on_connack(codec::ConnectReturnCode::Accepted, false);
        self.phase = Phase::Open;
    }

    /// Queues a PUBLISH. At QoS 0 returns None; otherwise the ticket its acknowledgement is
    /// awaited by ([`Connection::status`]). With `message` (the caller's handles on topic and
    /// payload) the connection sends it again itself after a reconnect
    /// ([`Connection::resend_next`]), and the first publish after a reconnect that carries the
    /// same bytes as one whose caller gave up (umqtt.robust's retry) awaits that one instead of
    /// sending the message twice: `same` compares the bytes behind a handle with this message's.
    pub fn publish(&mut self, out: &Outgoing<'_>, same: &mut dyn FnMut(&MessageRef) -> bool) -> Result<Option<PacketId>, Error> {
        let Outgoing { topic, payload, qos, retain, handles: message } = *out;
        self.check_connected()?;
        let retry = core::mem::take(&mut self.retry_window);
        check_topic_arg(topic)?;
        if retry && qos != QoS::AtMostOnce {
            if let Some(ticket) = self.session.adopt_retry(qos, retain, same) {
                return Ok(Some(ticket));
            }
        }
        if retry {
            self.session.forget_abandoned_done(); // not a retry: what completed unseen is over
        }
        let message = message.map(|(topic, payload)| MessageRef { topic, payload, qos, retain });
        let pid = match session::first_ack(qos) {
            None => None,
            Some(state) => {
                let pid = self.session.next_pid()?;
                self.session.track_message(pid, state, message)?;
                Some(pid)
            }
        };
        let packet = Packet::Publish(Publish { dup: false, qos, retain, topic, pid, payload });
        let result = self.enqueue(&packet);
        if let (Err(_), Some(pid)) = (&result, pid) {
            self.session.untrack(pid);
        }
        result.map(|_| pid)
    }

    /// After a CONNACK that resumed a session, takes up the unfinished QoS 1/2 publish `pid`
    /// of an earlier connection (one tracked without handles): PUBLISH again with DUP=1 while
    /// unacknowledged, PUBREL once PUBREC came, nothing if it completed. `Ok(false)`: no such
    /// publish (it never left whole, or the session is new): publish it again. Unfinished
    /// publishes not resumed before the next operation that takes a packet id are forgotten.
    /// A `topic` that is no valid topic name is refused first, whatever `pid`'s state, and
    /// changes nothing.
    pub fn resume(&mut self, pid: PacketId, topic: &str, payload: &[u8], retain: bool) -> Result<bool, Error> {
        self.check_connected()?;
        check_topic_arg(topic)?; // before the session takes it up: a refused call changes nothing
        let qos = match self.session.resume(pid) {
            None => return Ok(false),
            Some(Pending::Done(_)) => return Ok(true),
            Some(Pending::Pubcomp) => return self.enqueue(&Packet::Pubrel(pid)).map(|_| true),
            Some(Pending::Puback) => QoS::AtLeastOnce,
            Some(_) => QoS::ExactlyOnce,
        };
        let packet = Packet::Publish(Publish { dup: true, qos, retain, topic, pid: Some(pid), payload });
        self.enqueue(&packet).map(|_| true)
    }

    /// After [`Event::Connected`], sends the next unfinished publish of an earlier connection
    /// that carries handles, as MQTT 3.1.1 4.4 asks: under its own packet id on a kept session
    /// (PUBLISH with DUP=1, or PUBREL once PUBREC came), as a new message on a new one. `bytes`
    /// gives the topic and payload behind its handles (None: they are gone; it is forgotten).
    /// `Ok(None)`: none is left. The ticket stays what the caller awaits.
    pub fn resend_next<'m>(&mut self, bytes: &mut MessageBytes<'_, 'm>) -> Result<Option<PacketId>, Error> {
        self.check_connected()?;
        let Some(unsent) = self.session.next_unsent_message() else {
            return Ok(None);
        };
        let kept = self.session.resume_kept();
        if unsent.state == Pending::Pubcomp {
            // PUBREC came: the broker has the message. A kept session finishes it with PUBREL;
            // a new one has nothing to finish, and sending it again would deliver it twice.
            if kept {
                self.enqueue(&Packet::Pubrel(unsent.pid))?;
                self.session.resent(unsent.ticket, None);
            } else {
                self.session.complete(unsent.ticket);
            }
            self.retry_window = true;
            return Ok(Some(unsent.ticket));
        }
        let Some(m) = unsent.message else {
            return Ok(None); // next_unsent_message gives those without handles only past PUBREC
        };
        // Gone, or a topic no longer valid (the bytes behind the handles are the caller's: a
        // mutable topic may have changed): it cannot be sent, so it is forgotten and the next
        // one goes out. Refusing it instead would stop every reconnect at it.
        let Some((topic, payload)) = bytes(&m).filter(|(topic, _)| check_topic_arg(topic).is_ok()) else {
            self.session.untrack(unsent.ticket);
            return Ok(Some(unsent.ticket));
        };
        let pid = if kept { unsent.pid } else { self.session.free_pid() };
        let packet = Packet::Publish(Publish { dup: kept, qos: m.qos, retain: m.retain, topic, pid: Some(pid), payload });
        self.enqueue(&packet)?;
        self.session.resent(unsent.ticket, (!kept).then_some(pid));
        self.retry_window = true;
        Ok(Some(unsent.ticket))
    }

    /// Queues SUBSCRIBE for one filter; returns the ticket to await.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<PacketId, Error> {
        self.filter_request(filter, Some(qos))
    }

    /// Queues UNSUBSCRIBE for one filter; returns the ticket to await.
    pub fn unsubscribe(&mut self, filter: &str) -> Result<PacketId, Error> {
        self.filter_request(filter, None)
    }

    /// SUBSCRIBE at `qos`, or UNSUBSCRIBE (None): one body for both, their steps are the same.
    #[inline(never)]
    pub(crate) fn filter_request(&mut self, filter: &str, qos: Option<QoS>) -> Result<PacketId, Error> {
        self.check_connected()?;
        self.close_retry_window();
        check_filter_arg(filter)?;
        let pid = self.session.start(if qos.is_some() { Pending::Suback } else { Pending::Unsuback })?;
        let (subs, filters);
        let packet = match qos {
            Some(qos) => {
                subs = [Subscription { filter, qos }];
                Packet::Subscribe(Subscribe { pid, filters: Filters::List(&subs) })
            }
            None => {
                filters = [filter];
                Packet::Unsubscribe(Unsubscribe { pid, filters: Filters::List(&filters) })
            }
        };
        let result = self.enqueue(&packet);
        if result.is_err() {
            self.session.untrack(pid);
        }
        result.map(|_| pid)
    }

    /// Queues PINGREQ; the PINGRESP is consumed by later steps.
    pub fn ping(&mut self, now: u32) -> Result<(), Error> {
        self.check_connected()?;
        self.close_retry_window();
        self.enqueue(&Packet::Pingreq)?;
        self.session.on_ping_sent(now);
        Ok(())
    }

    /// Queues DISCONNECT; the connection is over once it is written (call [`Connection::reset`]).
    pub fn disconnect(&mut self) -> Result<(), Error> {
        self.check_connected()?;
        self.close_retry_window();
        self.enqueue(&Packet::Disconnect)
    }

    /// The application is done with the delivered message `pid` (its callback returned
    /// normally): queues the PUBACK or PUBREC owed for it. Nothing when none is owed (QoS 0,
    /// or the connection it came on is gone: dropping it forgets what was owed, and the
    /// broker delivers those messages again).
    pub fn ack(&mut self, pid: u16) -> Result<(), Error> {
        self.close_retry_window();
        let Some(pid) = PacketId::new(pid) else { return Ok(()) };
        let Some(reply) = self.session.owed_for(pid) else { return Ok(()) };
        // Owed until it is queued: a full queue (step calls) leaves it for the next try.
        self.enqueue(&reply.packet())?;
        self.session.acknowledge(pid);
        Ok(())
    }

    /// The retry of a publish whose caller gave up comes right after the reconnect, before any
    /// other call: after one, an equal message is a new one. What completed unseen is forgotten.
    #[inline(never)]
    fn close_retry_window(&mut self) {
        if core::mem::take(&mut self.retry_window) {
            self.session.forget_abandoned_done();
        }
    }

    /// Where the operation `ticket` stands: None while it awaits acknowledgement, Some(result)
    /// once done (for SUBSCRIBE the granted QoS; it is then forgotten).
    pub fn status(&mut self, ticket: PacketId) -> Result<Option<u8>, Error> {
        match self.session.take_done(ticket) {
            Some(0x80) => Err(Error::SubscribeFailed),
            Some(result) => Ok(Some(result)),
            None if self.session.pending(ticket).is_none() => {
                Err(if self.is_connected() { Error::InvalidArgument(ArgError::UnknownTicket) } else { Error::NotConnected })
            }
            None => Ok(None),
        }
    }

    /// Forgets the operation `ticket` (its packet never left whole).
    pub fn forget(&mut self, ticket: PacketId) {
        self.session.untrack(ticket);
    }

    /// Gives up waiting for `ticket`; its acknowledgement will still be consumed.
    pub fn abandon(&mut self, ticket: PacketId) {
        self.session.abandon(ticket);
    }

    /// Encodes `packet` at the end of the transmit queue (nothing of it on failure). Every
    /// operation has checked its arguments against the codec's rules (with errors that name
    /// them) or built the packet so that they hold: the encoder checks only lengths.
    fn enqueue(&mut self, packet: &Packet<'_>) -> Result<(), Error> {
        self.tx.compact();
        let (end, marks) = (self.tx.end, self.tx.marks.len());
        let mut out = Enqueue { queue: &mut self.tx, marks_before: marks };
        let result = match packet.write_checked(&mut out) {
            Ok(_) => Ok(()),
            Err(WriteError::Output(e)) => Err(e),
            Err(WriteError::Invalid(CodecError::PacketTooLarge | CodecError::StringTooLong)) => Err(Error::TooLarge),
            Err(WriteError::Invalid(e)) => Err(e.into()),
        };
        if result.is_err() {
            self.tx.marks.truncate(marks);
            self.tx.end = end;
            if self.tx.is_empty() {
                self.tx.clear();
            }
        }
        result
    }

    // ---- output ------------------------------------------------------------------------------

    /// The next piece to write, None when everything queued is written.
    pub fn transmit(&self) -> Option<Transmit<'_>> {
        self.tx.next()
    }

    /// `n` bytes of the piece [`Connection::transmit`] gave were written at `now`.
    #[inline(never)]
    pub fn transmitted(&mut self, n: usize, now: u32) {
        self.tx.consumed(n);
        if self.tx.is_empty() {
            self.session.on_sent(now);
        }
    }

    /// Whether output waits to be written.
    #[inline]
    pub fn wants_write(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Drops the output not yet written (the caller gave up on sending it; nothing of it left).
    pub fn discard_output(&mut self) {
        self.tx.clear();
    }

    /// Whether queued output borrows pieces of the caller's memory (which must stay as it is
    /// until they are written).
    pub fn borrows(&self) -> bool {
        !self.tx.marks.is_empty()
    }

    // ---- time --------------------------------------------------------------------------------

    /// Keepalive and the connect timeout at `now`: queues PINGREQ when due, fails when the
    /// broker fell silent or CONNACK is late. Returns how long until it needs calling again
    /// (None: not before other input or output).
    pub fn tick(&mut self, now: u32) -> Result<Option<u32>, Error> {
        if self.retry_window && self.is_connected() {
            self.close_retry_window(); // a wait: the retry did not come first
        }
        let result = self.tick_inner(now);
        if result.is_err() && self.is_connecting() {
            self.reset(); // CONNACK is late: this connection never opened
        }
        self.check(result)
    }

    #[inline(always)]
    fn tick_inner(&mut self, now: u32) -> Result<Option<u32>, Error> {
        match self.phase {
            Phase::Closed => Ok(None),
            Phase::AwaitingConnack { since, limit } => remaining(now, since, limit),
            Phase::Open => match self.session.keepalive(now) {
                Keepalive::Idle(wait) => Ok(wait),
                Keepalive::Lost => Err(Error::KeepaliveTimeout),
                Keepalive::SendPing => {
                    if self.tx.end + 2 > TX {
                        return Ok(Some(0)); // after what is queued
                    }
                    self.enqueue(&Packet::Pingreq)?;
                    self.session.on_ping_sent(now);
                    match self.session.keepalive(now) {
                        Keepalive::Idle(wait) => Ok(wait),
                        _ => Ok(Some(0)),
                    }
                }
            },
        }
    }

    /// The connection is waiting for CONNACK.
    pub fn is_connecting(&self) -> bool {
        matches!(self.phase, Phase::AwaitingConnack { .. })
    }

    // ---- input -------------------------------------------------------------------------------

    /// Where the next read should go: straight into the sink's buffer while a large payload
    /// streams and nothing is buffered, else the free end of the receive buffer.
    pub fn receive_buffer<'a>(&'a mut self, sink: &'a mut dyn Sink) -> &'a mut [u8] {
        self.direct = false;
        if let Some(inflow) = self.inflow {
            if inflow.fate == Fate::Deliver && self.rx_start == self.rx_end && inflow.message.len - inflow.filled >= RX {
                self.direct = true;
                return sink.buffer().get_mut(inflow.filled..inflow.message.len).unwrap_or(&mut []);
            }
        }
        if self.rx_start == self.rx_end {
            self.rx_start = 0;
            self.rx_end = 0;
        } else if self.rx_end == RX {
            // Move the unhandled tail to the front.
            move_to_front(&mut self.rx, self.rx_start, self.rx_end);
            self.rx_end -= self.rx_start;
            self.rx_start = 0;
        }
        self.rx.get_mut(self.rx_end..).unwrap_or(&mut [])
    }

    /// `n` bytes were read into the buffer [`Connection::receive_buffer`] named last.
    pub fn received(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // Any bytes show the broker alive, a part of a long message too.
        self.session.on_received();
        match (self.direct, self.inflow.as_mut()) {
            (true, Some(inflow)) => inflow.filled = inflow.filled.saturating_add(n).min(inflow.message.len),
            _ => self.rx_end = self.rx_end.saturating_add(n).min(RX),
        }
        self.direct = false;
    }

    /// The first byte of a whole packet waiting in the receive buffer, if one does (it is
    /// handled without reading: a transport polled for readability does not show it).
    pub fn buffered_packet(&self) -> Option<u8> {
        match codec::parse_fixed_header(self.buffered()) {
            Ok(Some(h)) if self.inflow.is_none() && h.packet_len() <= self.rx_end - self.rx_start => Some(h.first_byte),
            _ => None,
        }
    }

    fn buffered(&self) -> &[u8] {
        self.rx.get(self.rx_start..self.rx_end).unwrap_or(&[])
    }

    /// Handles what is buffered: Some(event) when a packet was completed, None when more input
    /// is needed (or the transmit queue must be written first). Replies are queued.
    pub fn handle(&mut self, sink: &mut dyn Sink) -> Result<Option<Event>, Error> {
        let result = self.handle_inner(sink);
        if let Ok(Some(Event::Message(_) | Event::Control(_))) = result {
            self.close_retry_window();
        }
        self.check(result)
    }

    #[inline(always)]
    fn handle_inner(&mut self, sink: &mut dyn Sink) -> Result<Option<Event>, Error> {
        // Room for any reply (4 bytes) or the step waits for the queue to drain (an empty
        // queue is all room: it starts at 0).
        if TX - self.tx.end < 4 {
            self.tx.compact();
            if TX - self.tx.end < 4 {
                return Ok(None);
            }
        }
        let connecting = self.is_connecting();
        if self.phase == Phase::Closed {
            return Err(Error::NotConnected);
        }
        if self.inflow.is_some() {
            let event = self.continue_inflow(sink)?;
            if event.is_some() || self.inflow.is_some() {
                return Ok(event);
            }
            // A refused message was skipped to its end: on to what follows it.
        }
        let buffered = buffered!(self);
        let Some(header) = codec::parse_fixed_header(buffered)? else {
            return Ok(None);
        };
        if connecting && header.kind != PacketType::Connack {
            return Err(Error::Protocol(ProtocolError::FirstPacketNotConnack));
        }
        if connecting && header.remaining_len != 2 {
            return Err(Error::Protocol(ProtocolError::ConnackLength));
        }
        if header.kind == PacketType::Publish {
            return self.begin_inflow(sink, header);
        }
        if header.packet_len() > RX {
            return Err(Error::Protocol(ProtocolError::ControlPacketTooLarge));
        }
        let Some(body) = buffered.get(header.header_len..header.packet_len()) else {
            return Ok(None);
        };
        let packet = codec::decode_control_from_broker(header, body)?; // PUBLISH streams (begin_inflow)
        self.rx_start += header.packet_len();
        if let (true, Packet::Connack(ack)) = (connecting, &packet) {
            self.session.on_connack(ack.code, ack.session_present);
            if ack.code != codec::ConnectReturnCode::Accepted {
                return Err(Error::Refused(ack.code as u8));
            }
            self.phase = Phase::Open;
            return Ok(Some(Event::Connected { session_present: ack.session_present }));
        }
        // A CONNACK here (the connection is open) is refused by the session.
        if let Some(reply) = self.session.on_control(&packet)? {
            self.enqueue(&reply.packet())?;
        }
        Ok(Some(Event::Control(header.first_byte)))
    }

    /// A PUBLISH header is buffered: once its topic is in, announce it to the sink.
    #[inline(always)]
    fn begin_inflow(&mut self, sink: &mut dyn Sink, header: codec::FixedHeader) -> Result<Option<Event>, Error> {
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
            return self.continue_inflow(sink);
        }
        let Some(var_header) = body.get(..var_len) else {
            return Ok(None);
        };
        let (topic, pid, _) = codec::decode::publish_header(header.first_byte, var_header)?;
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
            // later steps skip it as it arrives, and the connection goes on.
            return Err(Error::Sink);
        }
        self.continue_inflow(sink)
    }

    /// Moves buffered payload bytes into the sink; finishes the message when all are in.
    fn continue_inflow(&mut self, sink: &mut dyn Sink) -> Result<Option<Event>, Error> {
        let Some(mut inflow) = self.inflow else {
            return Ok(None);
        };
        let want = inflow.message.len - inflow.filled;
        let take = want.min(self.rx_end - self.rx_start);
        if take > 0 {
            if inflow.fate == Fate::Deliver {
                let dest = sink.buffer().get_mut(inflow.filled..inflow.filled + take).ok_or(Error::Sink)?;
                dest.copy_from_slice(self.buffered().get(..take).ok_or(Error::Sink)?);
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
                    self.enqueue(&ack.packet())?;
                }
                Ok(Some(Event::Control(inflow.message.first_byte)))
            }
        }
    }
}

/// Moves `buf[start..end]` to the front of `buf` (no panic path: the range is checked).
fn move_to_front(buf: &mut [u8], start: usize, end: usize) {
    if let Some(tail) = buf.get(start..end) {
        // SAFETY: both ranges lie within buf; ptr::copy allows overlap.
        unsafe { core::ptr::copy(tail.as_ptr(), buf.as_mut_ptr(), end - start) };
    }
}

/// A topic name or filter the codec refused, as the argument error that says why: `names`
/// are the errors for an empty one, one with U+0000, and one breaking the wildcard rules.
#[inline(never)]
fn topic_arg(checked: Result<(), CodecError>, names: [ArgError; 3]) -> Result<(), Error> {
    let [empty, nul, wildcards] = names;
    checked.map_err(|e| {
        Error::InvalidArgument(match e {
            CodecError::EmptyTopic => empty,
            CodecError::NullCharacter => nul,
            _ => wildcards,
        })
    })
}

fn check_topic_arg(topic: &str) -> Result<(), Error> {
    topic_arg(codec::topic::check_name(topic), [ArgError::TopicEmpty, ArgError::TopicNul, ArgError::TopicWildcard])
}

#[inline(always)]
fn check_filter_arg(filter: &str) -> Result<(), Error> {
    topic_arg(codec::topic::check_filter(filter), [ArgError::FilterEmpty, ArgError::FilterNul, ArgError::FilterMalformed])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Buf([u8; 64], bool);
    impl Sink for Buf {
        fn begin(&mut self, _: &str, len: usize) -> bool {
            self.1 = true;
            len <= self.0.len()
        }
        fn buffer(&mut self) -> &mut [u8] {
            &mut self.0
        }
    }

    fn msg<'m>(topic: &'m str, payload: &'m [u8], qos: QoS, handles: Option<(usize, usize)>) -> Outgoing<'m> {
        Outgoing { topic, payload, qos, retain: false, handles }
    }

    fn options() -> ConnectOptions<'static> {
        ConnectOptions { client_id: "c", keepalive_s: 10, clean_session: true, will: None, username: None, password: None, timeout_ms: None }
    }

    fn written<const RX: usize, const TX: usize>(c: &mut Connection<RX, TX>) -> heapless::Vec<u8, 256> {
        let mut out = heapless::Vec::new();
        while let Some(Transmit::Buffered(b)) = c.transmit() {
            let n = b.len();
            let _ = out.extend_from_slice(b);
            c.transmitted(n, 0);
        }
        out
    }

    fn feed<const RX: usize, const TX: usize>(c: &mut Connection<RX, TX>, sink: &mut Buf, bytes: &[u8]) {
        let room = c.receive_buffer(sink);
        room[..bytes.len()].copy_from_slice(bytes);
        c.received(bytes.len());
    }

    /// Drops the connection and opens it again with clean_session=False; the broker says whether it kept the session.
    fn reconnect(c: &mut Connection<64, 32>, sink: &mut Buf, session_present: bool) {
        c.reset();
        c.connect(&ConnectOptions { clean_session: false, ..options() }, 0).unwrap();
        written(c);
        feed(c, sink, &[0x20, 2, u8::from(session_present), 0]);
        assert_eq!(c.handle(sink), Ok(Some(Event::Connected { session_present })));
    }

    /// A QoS 1 publish with handles whose caller gave up, then a reconnect.
    fn abandoned_across_a_reconnect(session_present: bool) -> (Connection<64, 32>, Buf, PacketId) {
        let (mut c, mut sink) = open();
        let t = c.publish(&msg("t", b"m", QoS::AtLeastOnce, Some((1, 2))), &mut |_| false).unwrap().unwrap();
        written(&mut c);
        c.abandon(t);
        reconnect(&mut c, &mut sink, session_present);
        (c, sink, t)
    }

    fn open() -> (Connection<64, 32>, Buf) {
        let mut c = Connection::<64, 32>::new();
        let mut sink = Buf([0; 64], false);
        c.connect(&options(), 0).unwrap();
        assert_eq!(written(&mut c)[0], 0x10);
        feed(&mut c, &mut sink, &[0x20, 2, 0, 0]);
        assert_eq!(c.handle(&mut sink), Ok(Some(Event::Connected { session_present: false })));
        (c, sink)
    }

    /// Writes everything queued, taking borrowed pieces from `parts`; returns the bytes.
    fn drain<const RX: usize, const TX: usize>(c: &mut Connection<RX, TX>, parts: &[(Part, &[u8])]) -> std::vec::Vec<u8> {
        let mut out = std::vec::Vec::new();
        while let Some(piece) = c.transmit() {
            let bytes: std::vec::Vec<u8> = match piece {
                Transmit::Buffered(b) => b.to_vec(),
                Transmit::Borrowed { part, from, to } => parts.iter().find(|(p, _)| *p == part).unwrap().1[from..to].to_vec(),
            };
            out.extend_from_slice(&bytes);
            c.transmitted(bytes.len(), 0);
        }
        out
    }

    #[test]
    fn a_resumed_publish_checks_its_topic_and_keeps_the_connection() {
        let (mut c, mut sink) = open();
        let t = c.publish(&msg("t", b"m", QoS::AtLeastOnce, None), &mut |_| false).unwrap().unwrap();
        written(&mut c);
        reconnect(&mut c, &mut sink, true);
        // The encoder no longer checks rules the connection checks: resume() says what is wrong.
        assert_eq!(c.resume(t, "t/+", b"m", false), Err(Error::InvalidArgument(ArgError::TopicWildcard)));
        assert!(c.is_connected() && !c.wants_write());
        assert_eq!(c.resume(t, "t", b"m", false), Ok(true));
        assert_eq!(written(&mut c)[0], 0x3A, "PUBLISH, DUP=1, QoS 1");
    }

    #[test]
    fn a_topic_changed_behind_its_handle_is_forgotten_and_the_next_goes_out() {
        let (mut c, mut sink) = open();
        let bad = c.publish(&msg("t", b"m", QoS::AtLeastOnce, Some((1, 2))), &mut |_| false).unwrap().unwrap();
        let good = c.publish(&msg("u", b"n", QoS::AtLeastOnce, Some((3, 4))), &mut |_| false).unwrap().unwrap();
        written(&mut c);
        reconnect(&mut c, &mut sink, true);
        let mut bytes = |m: &MessageRef| Some(if m.topic == 1 { ("t/#", &b"m"[..]) } else { ("u", &b"n"[..]) });
        // The one whose topic became a filter cannot be sent: forgotten, nothing queued.
        assert_eq!(c.resend_next(&mut bytes), Ok(Some(bad)));
        assert!(c.is_connected() && !c.wants_write());
        assert_eq!(c.status(bad), Err(Error::InvalidArgument(ArgError::UnknownTicket)));
        assert_eq!(c.resend_next(&mut bytes), Ok(Some(good)));
        assert_eq!(written(&mut c)[0], 0x3A, "PUBLISH, DUP=1, QoS 1");
        assert_eq!(c.resend_next(&mut bytes), Ok(None));
    }

    #[test]
    fn a_client_id_past_the_transmit_buffer_is_borrowed() {
        let mut c = Connection::<64, 32>::new();
        let id = "i".repeat(100);
        let o = ConnectOptions { client_id: &id, ..options() };
        c.connect(&o, 0).unwrap();
        let wire = drain(&mut c, &o.parts());
        assert_eq!((wire[0], wire.len()), (0x10, 2 + 10 + 2 + 100));
        assert_eq!(&wire[wire.len() - 100..], id.as_bytes());
    }

    #[test]
    fn a_connect_with_every_field_past_the_transmit_buffer_leaves_whole() {
        let mut c = Connection::<64, 32>::new();
        let [id, topic, message, user, password] = ["i", "t", "m", "u", "p"].map(|f| f.repeat(100));
        let will = codec::Will { topic: &topic, message: message.as_bytes(), qos: QoS::AtLeastOnce, retain: false };
        let o = ConnectOptions { client_id: &id, will: Some(will), username: Some(&user), password: Some(password.as_bytes()), ..options() };
        c.connect(&o, 0).unwrap();
        let wire = drain(&mut c, &o.parts());
        let Ok(Some((Packet::Connect(got), used))) = codec::decode(&wire) else { panic!("not one CONNECT: {wire:02x?}") };
        assert_eq!(used, wire.len());
        assert_eq!((got.client_id, got.username, got.password), (&id[..], Some(&user[..]), Some(password.as_bytes())));
        assert_eq!(got.will.map(|w| (w.topic, w.message)), Some((&topic[..], message.as_bytes())));
    }

    #[test]
    fn an_ack_the_full_queue_refused_stays_owed() {
        let (mut c, mut sink) = open();
        feed(&mut c, &mut sink, &[0x32, 5, 0, 1, b't', 0, 9]);
        assert!(matches!(c.handle(&mut sink), Ok(Some(Event::Message(_)))));
        let payload = [1u8; 100];
        c.publish(&msg("t", &payload, QoS::AtMostOnce, None), &mut |_| false).unwrap();
        c.tx.end = 32; // the queue as full as a pipelining caller may leave it
        assert_eq!(c.ack(9), Err(Error::OutputFull));
        c.discard_output();
        assert_eq!(c.ack(9), Ok(()));
        assert_eq!(&written(&mut c)[..], &[0x40, 2, 0, 9]);
    }

    #[test]
    fn the_retry_window_closes_at_the_first_wait() {
        let (mut c, _sink, t) = abandoned_across_a_reconnect(true);
        assert_eq!(c.resend_next(&mut |_| Some(("t", &b"m"[..]))), Ok(Some(t)));
        written(&mut c);
        c.tick(1).unwrap(); // wait_msg() before any publish
        let again = c.publish(&msg("t", b"m", QoS::AtLeastOnce, Some((1, 2))), &mut |_| true).unwrap();
        assert_ne!(again, Some(t), "an equal message after a wait is a new one");
        assert!(c.wants_write());
    }

    #[test]
    fn a_publish_without_handles_does_not_hold_back_the_resend_of_the_others() {
        let (mut c, mut sink) = open();
        let plain = c.publish(&msg("t", b"a", QoS::AtLeastOnce, None), &mut |_| false).unwrap().unwrap();
        let kept = c.publish(&msg("t", b"b", QoS::AtLeastOnce, Some((1, 2))), &mut |_| false).unwrap().unwrap();
        written(&mut c);
        reconnect(&mut c, &mut sink, true);
        assert_eq!(c.resend_next(&mut |_| Some(("t", &b"b"[..]))), Ok(Some(kept)));
        assert_eq!(&written(&mut c)[..], &[0x3a, 6, 0, 1, b't', 0, 2, b'b']);
        assert_eq!(c.resend_next(&mut |_| None), Ok(None));
        assert_ne!(plain, kept);
    }

    #[test]
    fn connack_opens_and_publish_queues_one_piece() {
        let (mut c, _) = open();
        assert!(c.is_connected());
        assert_eq!(c.publish(&msg("t", b"hi", QoS::AtLeastOnce, None), &mut |_| false), Ok(PacketId::new(1)));
        assert_eq!(&written(&mut c)[..], &[0x32, 7, 0, 1, b't', 0, 1, b'h', b'i']);
    }

    #[test]
    fn a_payload_past_the_buffer_is_borrowed_not_copied() {
        let (mut c, _) = open();
        let payload = [7u8; 100];
        c.publish(&msg("t", &payload, QoS::AtMostOnce, None), &mut |_| false).unwrap();
        assert!(matches!(c.transmit(), Some(Transmit::Buffered(h)) if h == [0x30, 103, 0, 1, b't']));
        c.transmitted(5, 0);
        assert_eq!(c.transmit(), Some(Transmit::Borrowed { part: Part::Payload, from: 0, to: 100 }));
        c.transmitted(60, 0);
        assert_eq!(c.transmit(), Some(Transmit::Borrowed { part: Part::Payload, from: 60, to: 100 }));
        // Another borrowing packet must wait for this one.
        assert_eq!(c.publish(&msg("t", &payload, QoS::AtMostOnce, None), &mut |_| false), Err(Error::OutputFull));
        c.transmitted(40, 0);
        assert_eq!(c.transmit(), None);
    }

    #[test]
    fn pubrec_is_answered_in_the_queue_and_the_ticket_completes() {
        let (mut c, mut sink) = open();
        let t = c.publish(&msg("t", b"", QoS::ExactlyOnce, None), &mut |_| false).unwrap().unwrap();
        written(&mut c);
        assert_eq!(c.status(t), Ok(None));
        feed(&mut c, &mut sink, &[0x50, 2, 0, 1, 0x70, 2, 0, 1]);
        assert_eq!(c.handle(&mut sink), Ok(Some(Event::Control(0x50))));
        assert_eq!(&written(&mut c)[..], &[0x62, 2, 0, 1]);
        assert_eq!(c.handle(&mut sink), Ok(Some(Event::Control(0x70))));
        assert_eq!(c.status(t), Ok(Some(0)));
    }

    #[test]
    fn keepalive_deadline_queues_pingreq_then_declares_the_broker_lost() {
        let (mut c, _) = open();
        assert_eq!(c.tick(1_000), Ok(Some(4_000)));
        assert_eq!(c.tick(5_000), Ok(Some(5_000)));
        assert_eq!(&written(&mut c)[..], &[0xc0, 0]);
        assert_eq!(c.tick(10_000), Err(Error::KeepaliveTimeout));
        assert!(!c.is_connected());
    }

    #[test]
    fn a_late_connack_times_out() {
        let mut c = Connection::<64, 32>::new();
        c.connect(&ConnectOptions { timeout_ms: Some(500), ..options() }, 100).unwrap();
        assert_eq!(c.tick(400), Ok(Some(200)));
        assert_eq!(c.tick(600), Err(Error::Timeout));
    }

    #[test]
    fn a_qos2_publish_past_pubrec_is_not_sent_again_to_a_new_session() {
        let (mut c, mut sink) = open();
        let t = c.publish(&msg("t", b"m", QoS::ExactlyOnce, Some((1, 2))), &mut |_| false).unwrap().unwrap();
        written(&mut c);
        feed(&mut c, &mut sink, &[0x50, 2, 0, 1]);
        assert_eq!(c.handle(&mut sink), Ok(Some(Event::Control(0x50))));
        assert_eq!(&written(&mut c)[..], &[0x62, 2, 0, 1]);
        reconnect(&mut c, &mut sink, false);
        assert_eq!(c.resend_next(&mut |_| Some(("t", &b"m"[..]))), Ok(Some(t)));
        assert!(!c.wants_write(), "the broker had it (PUBREC): nothing goes out again");
        assert_eq!(c.status(t), Ok(Some(0)));
    }

    #[test]
    fn unfinished_publish_with_handles_goes_out_again_as_new_on_a_new_session() {
        let (mut c, mut sink, t) = abandoned_across_a_reconnect(false);
        assert_eq!(c.resend_next(&mut |m| (m.topic == 1).then_some(("t", &b"m"[..]))), Ok(Some(t)));
        assert_eq!(&written(&mut c)[..], &[0x32, 6, 0, 1, b't', 0, 2, b'm']);
        assert_eq!(c.resend_next(&mut |_| None), Ok(None));
        // The retry of the same message awaits the one sent again (same ticket), sends nothing.
        assert_eq!(c.publish(&msg("t", b"m", QoS::AtLeastOnce, Some((1, 2))), &mut |m| m.payload == 2), Ok(Some(t)));
        assert!(!c.wants_write());
        feed(&mut c, &mut sink, &[0x40, 2, 0, 2]);
        assert_eq!(c.handle(&mut sink), Ok(Some(Event::Control(0x40))));
        assert_eq!(c.status(t), Ok(Some(0)));
    }
}
