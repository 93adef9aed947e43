//! A blocking MQTT client over any transport with `embedded_io::{Read, Write}`: a loop over a
//! sans-IO [`Connection`] that writes what it queues, waits, and feeds it what it reads.
//!
//! One read may carry several packets and each is handled in turn. A PUBLISH is streamed into
//! the caller's [`Sink`], so a message may be as large as MQTT allows whatever the buffer size.
//! A delivered QoS 1/2 message is acknowledged when the caller says it is done with it
//! ([`Client::ack`]), never before. Each packet is written as soon as it is queued: one that
//! fits the transmit buffer in one `write`, a larger one as its header and then its payload
//! straight from the caller's slice (never copied).

use crate::codec::{PacketId, QoS};
use crate::connection::{self, min_opt, remaining, Connection, Part, Transmit};
pub use crate::connection::{ArgError, ConnectOptions, Error as EngineError, Message, Outgoing, ProtocolError, Sink};
use crate::session::MessageRef;

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

/// Why a call failed: the transport's error, or the connection's (with its cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The transport failed (its error, e.g. the errno).
    Io(E),
    /// The connection refused, failed or timed out ([`EngineError`]).
    Engine(EngineError),
}

impl<E> Error<E> {
    /// The connection's error, or the transport's (`Err`).
    pub fn into_engine(self) -> Result<EngineError, E> {
        match self {
            Error::Io(e) => Err(e),
            Error::Engine(e) => Ok(e),
        }
    }

    /// The connection cannot go on after this error.
    fn is_fatal(&self) -> bool {
        match self {
            Error::Io(_) => true,
            Error::Engine(e) => e.is_fatal(),
        }
    }
}

impl<E> From<EngineError> for Error<E> {
    fn from(e: EngineError) -> Self {
        Error::Engine(e)
    }
}

/// A packet the blocking client finished handling (CONNACK is [`Client::connect`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A PUBLISH whose payload is now in the sink's buffer.
    Message(Message),
    /// Any other packet, by its first byte.
    Control(u8),
}

impl Event {
    fn from_connection(event: connection::Event) -> Self {
        match event {
            connection::Event::Message(m) => Event::Message(m),
            connection::Event::Control(first_byte) => Event::Control(first_byte),
            connection::Event::Connected { .. } => Event::Control(0x20),
        }
    }
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

/// The sink of a wait that cannot see a PUBLISH (CONNACK comes first).
struct NoSink;

impl Sink for NoSink {
    fn begin(&mut self, _: &str, _: usize) -> bool {
        false
    }
    fn buffer(&mut self) -> &mut [u8] {
        &mut []
    }
}

/// The caller's fields a queued packet may borrow pieces of.
pub type Parts<'p> = [(Part, &'p [u8])];

/// The client: a connection and the limit on its waits, `RX` bytes in and `TX` bytes out.
pub struct Client<const RX: usize, const TX: usize> {
    conn: Connection<RX, TX>,
    timeout_ms: Option<u32>,
}

impl<const RX: usize, const TX: usize> Default for Client<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RX: usize, const TX: usize> Client<RX, TX> {
    pub const fn new() -> Self {
        Client { conn: Connection::new(), timeout_ms: None }
    }

    /// The sans-IO connection underneath, for calls that step it without blocking.
    pub fn connection(&mut self) -> &mut Connection<RX, TX> {
        &mut self.conn
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    pub fn last_pid(&self) -> u16 {
        self.conn.last_pid()
    }

    /// Forgets the connection (the transport is the caller's to close).
    pub fn reset(&mut self) {
        self.conn.reset();
    }

    /// Sends CONNECT and waits for CONNACK; returns the session-present flag.
    pub fn connect<T: Transport>(&mut self, io: &mut T, options: &ConnectOptions<'_>) -> Result<bool, Error<T::Error>> {
        let now = io.now_ms();
        self.conn.connect(options, now)?; // a refused argument leaves the connection closed
        self.finish_connect(io, &options.parts(), options.timeout_ms)
    }

    /// [`Client::connect`] once CONNECT is queued on [`Client::connection`]: writes it (`parts`:
    /// the options' borrowed pieces) and waits for CONNACK, at most `timeout_ms` (None: 1.5
    /// keepalive periods), which then bounds every acknowledgement wait and write.
    pub fn finish_connect<T: Transport>(&mut self, io: &mut T, parts: &Parts<'_>, timeout_ms: Option<u32>) -> Result<bool, Error<T::Error>> {
        self.timeout_ms = timeout_ms;
        let result = self.flush(io, parts).and_then(|_| self.await_connack(io));
        if result.is_err() {
            self.reset();
        }
        result
    }

    #[inline(always)]
    fn await_connack<T: Transport>(&mut self, io: &mut T) -> Result<bool, Error<T::Error>> {
        loop {
            // Within the connect timeout (the connection's, on each tick) and `timeout_ms`.
            if let Some(connection::Event::Connected { session_present }) = self.pump(io, &mut NoSink, Mode::Ack)? {
                return Ok(session_present);
            }
        }
    }

    /// Takes over a connection opened elsewhere (its CONNECT/CONNACK are not ours to send).
    pub fn adopt<T: Transport>(&mut self, io: &mut T, keepalive_s: u16) {
        self.timeout_ms = None;
        let now = io.now_ms();
        self.conn.adopt(keepalive_s, now);
    }

    /// After a [`Client::connect`] that resumed a session (returned true), takes up
    /// the unfinished QoS 1/2 publish `pid` of an earlier connection under the same
    /// id: PUBLISH again with DUP=1 while unacknowledged, PUBREL once PUBREC came,
    /// nothing if it completed. Await it with [`Client::await_ack`] as before.
    /// `Ok(false)`: no such publish (it never left whole, or the session is new):
    /// publish it again. Unfinished publishes not resumed before the next operation
    /// that takes a packet id (publish at QoS 1/2, subscribe, unsubscribe) are forgotten.
    /// An invalid `topic` is refused first, whatever `pid`'s state.
    pub fn resume<T: Transport>(&mut self, io: &mut T, pid: PacketId, topic: &str, payload: &[u8], retain: bool) -> Result<bool, Error<T::Error>> {
        let resumed = self.conn.resume(pid, topic, payload, retain)?;
        self.flush(io, &[(Part::Topic, topic.as_bytes()), (Part::Payload, payload)])?;
        Ok(resumed)
    }

    /// Publishes a message. At QoS 0 returns None; otherwise the packet id to
    /// pass to [`Client::await_ack`].
    pub fn publish<T: Transport>(&mut self, io: &mut T, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Result<Option<PacketId>, Error<T::Error>> {
        self.publish_message(io, &Outgoing { topic, payload, qos, retain, handles: None }, &mut |_| false)
    }

    /// [`Client::publish`] of a message that may carry handles: see [`Connection::publish`]
    /// (after a reconnect, [`Connection::resend_next`] on [`Client::connection`] queues it again
    /// and [`Client::send`] writes it; a retry right after that awaits the one sent again).
    pub fn publish_message<T: Transport>(&mut self, io: &mut T, out: &Outgoing<'_>, same: &mut dyn FnMut(&MessageRef) -> bool) -> Result<Option<PacketId>, Error<T::Error>> {
        let ticket = self.conn.publish(out, same)?; // a retry taken for one sent again queues nothing
        self.send(io, &[(Part::Topic, out.topic.as_bytes()), (Part::Payload, out.payload)], ticket)?;
        Ok(ticket)
    }

    /// Sends SUBSCRIBE for one filter; returns the packet id to await.
    pub fn subscribe<T: Transport>(&mut self, io: &mut T, filter: &str, qos: QoS) -> Result<PacketId, Error<T::Error>> {
        self.filter_request(io, filter, Some(qos))
    }

    /// Sends UNSUBSCRIBE for one filter; returns the packet id to await.
    pub fn unsubscribe<T: Transport>(&mut self, io: &mut T, filter: &str) -> Result<PacketId, Error<T::Error>> {
        self.filter_request(io, filter, None)
    }

    /// SUBSCRIBE at `qos`, or UNSUBSCRIBE (None).
    pub(crate) fn filter_request<T: Transport>(&mut self, io: &mut T, filter: &str, qos: Option<QoS>) -> Result<PacketId, Error<T::Error>> {
        let ticket = self.conn.filter_request(filter, qos)?;
        self.send(io, &[(Part::Topic, filter.as_bytes())], Some(ticket))?;
        Ok(ticket)
    }

    /// Sends PINGREQ; its PINGRESP is consumed by later waits.
    pub fn ping<T: Transport>(&mut self, io: &mut T) -> Result<(), Error<T::Error>> {
        let now = io.now_ms();
        self.conn.ping(now)?;
        self.flush(io, &[])
    }

    /// Sends DISCONNECT and forgets the connection.
    pub fn disconnect<T: Transport>(&mut self, io: &mut T) -> Result<(), Error<T::Error>> {
        self.conn.disconnect()?;
        let result = self.flush(io, &[]);
        self.reset();
        result
    }

    /// Waits until the operation `pid` is acknowledged, delivering messages that arrive meanwhile.
    pub fn await_ack<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, pid: PacketId) -> Result<Awaited, Error<T::Error>> {
        loop {
            if let Some(result) = self.conn.status(pid)? {
                return Ok(Awaited::Done(result));
            }
            if let Some(connection::Event::Message(m)) = self.pump(io, sink, Mode::Ack)? {
                return Ok(Awaited::Message(m));
            }
        }
    }

    /// Gives up waiting for `pid`; its acknowledgement will still be consumed.
    pub fn abandon(&mut self, pid: PacketId) {
        self.conn.abandon(pid);
    }

    /// Handles incoming packets until one is handled (Some) or, as `mode` allows,
    /// nothing is there (None).
    pub fn wait_msg<T: Transport, S: Sink>(&mut self, io: &mut T, sink: &mut S, mode: Mode) -> Result<Option<Event>, Error<T::Error>> {
        Ok(self.wait_event(io, sink, mode)?.map(Event::from_connection))
    }

    /// [`Client::wait_msg`] with the connection's event (the C ABI's).
    pub(crate) fn wait_event<T: Transport>(&mut self, io: &mut T, sink: &mut dyn Sink, mode: Mode) -> Result<Option<connection::Event>, Error<T::Error>> {
        if !self.conn.is_connected() {
            return Err(Error::Engine(EngineError::NotConnected));
        }
        if mode == Mode::Buffered && self.conn.buffered_packet().is_none() {
            return Ok(None);
        }
        self.pump(io, sink, mode)
    }

    /// The first byte of a whole packet waiting in the receive buffer, if one does (it is
    /// handled without reading: a transport polled for readability does not show it).
    pub fn buffered_packet(&self) -> Option<u8> {
        self.conn.buffered_packet()
    }

    /// The application is done with the delivered message `pid` (its callback returned
    /// normally): sends the PUBACK or PUBREC owed for it. Nothing when none is owed (QoS 0,
    /// or the connection it came on is gone: dropping it forgets what was owed, and the
    /// broker delivers those messages again).
    pub fn ack<T: Transport>(&mut self, io: &mut T, pid: u16) -> Result<(), Error<T::Error>> {
        self.conn.ack(pid)?;
        self.flush(io, &[])
    }

    /// Reads and handles packets until one is handled; drops the connection on fatal errors.
    fn pump<T: Transport>(&mut self, io: &mut T, sink: &mut dyn Sink, mode: Mode) -> Result<Option<connection::Event>, Error<T::Error>> {
        let result = self.pump_inner(io, sink, mode);
        if let Err(e) = &result {
            if e.is_fatal() {
                self.reset();
            }
        }
        result
    }

    #[inline(always)]
    fn pump_inner<T: Transport>(&mut self, io: &mut T, sink: &mut dyn Sink, mode: Mode) -> Result<Option<connection::Event>, Error<T::Error>> {
        let start = if mode == Mode::Buffered { 0 } else { io.now_ms() };
        loop {
            let event = self.conn.handle(sink)?;
            self.flush(io, &[])?;
            if event.is_some() {
                return Ok(event);
            }
            if mode == Mode::Buffered {
                return Ok(None); // only what was buffered: no read, no tick
            }
            // Each pass, not only after a quiet wait: input trickling in (a large message on a
            // slow link) must not hold PINGREQ back.
            let now = io.now_ms();
            let keepalive_wait = self.conn.tick(now)?;
            self.flush(io, &[])?;
            let limit = match mode {
                Mode::Check | Mode::Buffered => Some(0),
                Mode::Wait(limit) => match remaining(now, start, limit) {
                    Ok(left) => min_opt(keepalive_wait, left),
                    Err(_) => return Ok(None),
                },
                Mode::Ack => min_opt(keepalive_wait, remaining(now, start, self.timeout_ms)?),
            };
            if !io.wait(false, limit).map_err(Error::Io)? {
                if mode == Mode::Check {
                    return Ok(None);
                }
                continue;
            }
            match self.read(io, sink) {
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

    /// One read, into the buffer the connection names (the sink's, for a large payload).
    #[inline(always)]
    fn read<T: Transport>(&mut self, io: &mut T, sink: &mut dyn Sink) -> Result<(), Error<T::Error>> {
        let n = io.read(self.conn.receive_buffer(sink)).map_err(Error::Io)?;
        if n == 0 {
            return Err(Error::Engine(EngineError::Closed));
        }
        self.conn.received(n);
        Ok(())
    }

    /// Writes what operations on [`Client::connection`] queued: `parts` for the pieces they
    /// borrowed. When it does not leave whole, the operation `ticket` (if any) is forgotten: its
    /// packet never reached the broker, and a retry sends it anew.
    pub fn send<T: Transport>(&mut self, io: &mut T, parts: &Parts<'_>, ticket: Option<PacketId>) -> Result<(), Error<T::Error>> {
        let sent = self.flush(io, parts);
        if let (Err(_), Some(ticket)) = (&sent, ticket) {
            self.conn.forget(ticket);
        }
        sent
    }

    /// Writes everything queued: the caller's `parts` for borrowed pieces. Part of a packet on
    /// the wire leaves the stream unusable: any failure after the first byte drops the connection.
    #[inline(never)]
    fn flush<T: Transport>(&mut self, io: &mut T, parts: &Parts<'_>) -> Result<(), Error<T::Error>> {
        if !self.conn.wants_write() {
            return Ok(()); // most passes of a wait: nothing was queued
        }
        self.flush_queued(io, parts)
    }

    #[inline(always)]
    fn flush_queued<T: Transport>(&mut self, io: &mut T, parts: &Parts<'_>) -> Result<(), Error<T::Error>> {
        let mut sent = 0;
        let result = self.write_queued(io, parts, &mut sent);
        if let Err(e) = &result {
            if e.is_fatal() || sent > 0 {
                self.reset();
            } else {
                // Nothing of it left: the call fails and the packet is not sent.
                self.conn.discard_output();
            }
        }
        result
    }

    #[inline(always)]
    fn write_queued<T: Transport>(&mut self, io: &mut T, parts: &Parts<'_>, sent: &mut usize) -> Result<(), Error<T::Error>> {
        loop {
            let piece = match self.conn.transmit() {
                None => return Ok(()),
                Some(Transmit::Buffered(bytes)) => bytes,
                Some(Transmit::Borrowed { part, from, to }) => {
                    let whole = parts.iter().find(|(p, _)| *p == part).map_or(&[][..], |(_, s)| *s);
                    whole.get(from..to).ok_or(Error::Engine(EngineError::Busy))?
                }
            };
            match io.write(piece) {
                Ok(0) => return Err(Error::Engine(EngineError::Closed)),
                Ok(n) => {
                    let n = n.min(piece.len());
                    *sent += n;
                    let now = io.now_ms();
                    self.conn.transmitted(n, now);
                }
                Err(e) if T::would_block(&e) => {
                    if !io.wait(true, self.timeout_ms).map_err(Error::Io)? {
                        return Err(Error::Engine(EngineError::Timeout));
                    }
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }
}
