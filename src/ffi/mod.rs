//! The C ABI declared in `c_glue/umqtt_native.h`.
//!
//! Each call borrows the caller's client memory and environment for its
//! duration only; nothing is kept between calls but the client itself.
//! Every failure is a negative code, never a panic.
//!
//! Safety of every `unsafe extern "C"` function here: the pointers are what
//! `c_glue/umqtt_native.h` says (a client set up by `umqtt_client_init`, a
//! valid env and options, byte strings of the given length).
#![allow(clippy::missing_safety_doc)]

#[rustfmt::skip]
mod bindings;

use core::ffi::c_char;
use core::ptr::NonNull;

use crate::codec::{self, PacketId, QoS, Will};
use crate::connection::{self, ArgError, Event, Outgoing, Part, TextArg, Transmit, PARTS};
use crate::driver::{self, Awaited, Client, ConnectOptions, Mode, Transport};
use crate::session::MessageRef;
pub use bindings::*;

/// Incoming buffer: holds any control packet and a PUBLISH's topic; payloads stream past it.
pub const RX_CAPACITY: usize = UMQTT_RX_CAPACITY as usize;
/// Outgoing buffer: a packet up to it leaves in one write (a 1 KiB payload with its topic); a
/// larger one as its header, then its payload from the caller's slice.
pub const TX_CAPACITY: usize = UMQTT_TX_CAPACITY as usize;

/// What `umqtt_client_t` really is.
pub struct FfiClient {
    client: Client<RX_CAPACITY, TX_CAPACITY>,
    error_detail: i32,
    error_message: &'static str,
    /// The sink's buffer for the message being received (it may span calls in check mode).
    sink_buf: Option<NonNull<u8>>,
    sink_len: usize,
    /// Step calls: the caller's fields that borrowed output pieces come from, by [`Part`].
    borrowed: [umqtt_bytes_t; PARTS],
}

const NO_BYTES: umqtt_bytes_t = umqtt_bytes_t { ptr: core::ptr::null(), len: 0 };

/// What `lent` (in [`part_index`]'s order) holds, as the driver's parts.
unsafe fn lent_parts<'b>(lent: &[umqtt_bytes_t; PARTS]) -> [(Part, &'b [u8]); PARTS] {
    let [topic, payload, client_id, will_message, username, password] = lent.map(|b| bytes(&b).unwrap_or(&[]));
    [(Part::Topic, topic), (Part::Payload, payload), (Part::ClientId, client_id), (Part::WillMessage, will_message), (Part::Username, username), (Part::Password, password)]
}

fn part_index(part: Part) -> usize {
    match part {
        Part::Topic => 0,
        Part::Payload => 1,
        Part::ClientId => 2,
        Part::WillMessage => 3,
        Part::Username => 4,
        Part::Password => 5,
    }
}

/// Transport errors as the callbacks report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    WouldBlock,
    Exception,
    Errno(i32),
}

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

fn io_result(ret: isize) -> Result<usize, IoError> {
    match ret {
        n if n >= 0 => Ok(n as usize),
        n if n == UMQTT_IO_CLOSED as isize => Ok(0),
        n if n == UMQTT_IO_WOULD_BLOCK as isize => Err(IoError::WouldBlock),
        n if n <= UMQTT_IO_ERRNO_BASE as isize => Err(IoError::Errno((UMQTT_IO_ERRNO_BASE as isize - n) as i32)),
        _ => Err(IoError::Exception),
    }
}

/// The environment's callbacks as a driver transport.
struct EnvIo<'e> {
    env: &'e umqtt_env_t,
}

impl embedded_io::ErrorType for EnvIo<'_> {
    type Error = IoError;
}

impl embedded_io::Read for EnvIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        let read = self.env.read.ok_or(IoError::Exception)?;
        let n = io_result(unsafe { read(self.env.ctx, buf.as_mut_ptr(), buf.len()) })?;
        Ok(n.min(buf.len()))
    }
}

impl embedded_io::Write for EnvIo<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        let write = self.env.write.ok_or(IoError::Exception)?;
        let n = io_result(unsafe { write(self.env.ctx, buf.as_ptr(), buf.len()) })?;
        Ok(n.min(buf.len()))
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl Transport for EnvIo<'_> {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, IoError> {
        let Some(wait) = self.env.wait else {
            return Ok(true);
        };
        let timeout = timeout_ms.map_or(UMQTT_WAIT_FOREVER, |t| t.min(i32::MAX as u32) as i32);
        match unsafe { wait(self.env.ctx, i32::from(writable), timeout) } {
            1 => Ok(true),
            0 => Ok(false),
            code => io_result(code as isize).map(|n| n > 0),
        }
    }
    fn now_ms(&mut self) -> u32 {
        self.env.now_ms.map_or(0, |f| unsafe { f(self.env.ctx) })
    }
    fn would_block(err: &IoError) -> bool {
        *err == IoError::WouldBlock
    }
}

/// The environment's sink callback; its buffer pointer lives in the client between calls.
struct EnvSink<'e, 'c> {
    env: &'e umqtt_env_t,
    buf: &'c mut Option<NonNull<u8>>,
    len: &'c mut usize,
}

impl driver::Sink for EnvSink<'_, '_> {
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool {
        *self.buf = None;
        let Some(sink) = self.env.sink else {
            return false;
        };
        let ptr = unsafe { sink(self.env.ctx, topic.as_ptr(), topic.len(), payload_len) };
        *self.buf = NonNull::new(ptr);
        *self.len = payload_len;
        self.buf.is_some()
    }
    fn buffer(&mut self) -> &mut [u8] {
        match *self.buf {
            // The sink promised `len` writable bytes until the message event returns.
            Some(p) if *self.len > 0 => unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), *self.len) },
            _ => &mut [],
        }
    }
}

/// The payload buffer the sink gave for the message being received, between step calls.
struct StoredSink {
    buf: Option<NonNull<u8>>,
    len: usize,
}

impl driver::Sink for StoredSink {
    fn begin(&mut self, _: &str, _: usize) -> bool {
        false
    }
    fn buffer(&mut self) -> &mut [u8] {
        match self.buf {
            // The sink promised `len` writable bytes until the message event returns.
            Some(p) if self.len > 0 => unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), self.len) },
            _ => &mut [],
        }
    }
}

/// The code, detail and text an engine error is reported with.
fn describe(err: connection::Error) -> (i32, i32, &'static str) {
    use connection::Error as C;
    let code = match err {
        C::Closed => UMQTT_ERR_CLOSED,
        C::Timeout => UMQTT_ERR_TIMEOUT,
        C::Protocol(_) => UMQTT_ERR_PROTOCOL,
        C::Refused(_) => UMQTT_ERR_REFUSED,
        C::SubscribeFailed => UMQTT_ERR_SUBSCRIBE,
        C::NotConnected => UMQTT_ERR_NOT_CONNECTED,
        C::InvalidArgument(_) => UMQTT_ERR_INVALID_ARG,
        C::TooLarge | C::TopicTooLong => UMQTT_ERR_TOO_LARGE,
        C::Busy => UMQTT_ERR_BUSY,
        C::OutputFull => UMQTT_ERR_WOULD_BLOCK,
        C::Sink => UMQTT_ERR_CALLBACK,
        C::KeepaliveTimeout => UMQTT_ERR_KEEPALIVE,
    };
    let detail = match err {
        C::Refused(code) => i32::from(code),
        C::SubscribeFailed => 0x80,
        C::TopicTooLong => RX_CAPACITY as i32,
        _ => 0,
    };
    (code, detail, err.message())
}

impl FfiClient {
    fn fail(&mut self, err: driver::Error<IoError>) -> i32 {
        let (code, detail, message) = match err.into_engine() {
            Ok(engine) => return self.fail_step(engine),
            Err(IoError::Errno(errno)) => (UMQTT_ERR_IO, errno, "transport error"),
            Err(IoError::WouldBlock) => (UMQTT_ERR_IO, 11, "transport would block"),
            Err(IoError::Exception) => (UMQTT_ERR_CALLBACK, 0, "transport callback failed"),
        };
        self.error_detail = detail;
        self.error_message = message;
        code
    }

    #[inline(never)]
    fn fail_step(&mut self, err: connection::Error) -> i32 {
        let (code, detail, message) = describe(err);
        self.error_detail = detail;
        self.error_message = message;
        code
    }

    /// The result of a call that may hand over an event: UMQTT_DONE (None), the event's code,
    /// or the error's. A message's payload buffer is the caller's once its event is out.
    fn delivered(&mut self, event: *mut umqtt_event_t, handled: Result<Option<Event>, connection::Error>) -> i32 {
        match handled {
            Ok(None) => UMQTT_DONE as i32,
            Ok(Some(e)) => {
                if let Event::Message(_) = e {
                    self.sink_buf = None;
                }
                fill_event(event, e)
            }
            Err(e) => self.fail_step(e),
        }
    }

    fn invalid(&mut self, arg: ArgError) -> i32 {
        self.fail_step(connection::Error::InvalidArgument(arg))
    }

    /// After a step operation: where the pieces it borrowed (if it did) come from, by
    /// [`part_index`].
    #[inline(never)]
    fn lend(&mut self, borrowed_before: bool, lent: &[umqtt_bytes_t; PARTS]) {
        if !borrowed_before && self.client.connection().borrows() {
            self.borrowed = *lent;
        }
    }
}

/// The bytes behind a message's handles, from the environment's message callback.
unsafe fn message_bytes<'m>(env: &umqtt_env_t, m: &MessageRef) -> Option<(&'m str, &'m [u8])> {
    let resolve = env.message?;
    let (mut topic, mut payload) = (NO_BYTES, NO_BYTES);
    if resolve(env.ctx, m.topic, m.payload, &mut topic, &mut payload) != 1 {
        return None;
    }
    let topic = codec::utf8(bytes(&topic)?).ok()?;
    Some((topic, bytes(&payload).unwrap_or(&[])))
}

/// A message of the C ABI, checked: topic, payload, QoS, retain and handles.
unsafe fn outgoing<'m>(m: &umqtt_message_t) -> Result<Outgoing<'m>, ArgError> {
    let Ok(Some(topic)) = text(&m.topic) else { return Err(ArgError::NotUtf8(TextArg::Topic)) };
    let qos = qos(m.qos).ok_or(ArgError::Qos)?;
    let handles = (m.topic_ref != 0 || m.payload_ref != 0).then_some((m.topic_ref, m.payload_ref));
    Ok(Outgoing { topic, payload: bytes(&m.payload).unwrap_or(&[]), qos, retain: m.retain != 0, handles })
}

/// Whether the bytes behind `m`'s handles are `topic` and `payload`.
#[inline(never)]
unsafe fn same_message(env: &umqtt_env_t, m: &MessageRef, topic: &str, payload: &[u8]) -> bool {
    message_bytes(env, m).is_some_and(|(t, p)| t == topic && p == payload)
}

unsafe fn client_mut<'c>(p: *mut umqtt_client_t) -> Option<&'c mut FfiClient> {
    let p = p as *mut FfiClient;
    if p.is_null() || !p.is_aligned() {
        return None;
    }
    Some(&mut *p)
}

unsafe fn bytes<'b>(b: &umqtt_bytes_t) -> Option<&'b [u8]> {
    if b.ptr.is_null() {
        None
    } else {
        Some(core::slice::from_raw_parts(b.ptr, b.len))
    }
}

unsafe fn text<'b>(b: &umqtt_bytes_t) -> Result<Option<&'b str>, ()> {
    match bytes(b) {
        None => Ok(None),
        Some(raw) => codec::utf8(raw).map(Some).map_err(|_| ()),
    }
}

fn qos(bits: u8) -> Option<QoS> {
    QoS::from_bits(bits).ok()
}

fn ticket(pid: i32) -> Option<PacketId> {
    u16::try_from(pid).ok().and_then(PacketId::new)
}

/// UMQTT_DONE for an acknowledged operation; `granted` (a SUBSCRIBE's QoS) into `event`.
fn done(event: *mut umqtt_event_t, granted: u8) -> i32 {
    if let Some(ev) = unsafe { event.as_mut() } {
        ev.granted_qos = granted;
    }
    UMQTT_DONE as i32
}

fn fill_event(event: *mut umqtt_event_t, e: Event) -> i32 {
    let mut out = umqtt_event_t { packet_type: 0, qos: 0, retain: 0, dup: 0, packet_id: 0, granted_qos: 0, session_present: 0, payload_len: 0 };
    let code = match e {
        Event::Message(m) => {
            out.packet_type = m.first_byte;
            out.qos = m.qos as u8;
            out.retain = u8::from(m.retain);
            out.dup = u8::from(m.dup);
            out.packet_id = m.pid;
            out.payload_len = m.len;
            UMQTT_MESSAGE as i32
        }
        Event::Control(first_byte) => {
            out.packet_type = first_byte;
            UMQTT_PACKET as i32
        }
        Event::Connected { session_present } => {
            out.packet_type = 0x20;
            out.session_present = u8::from(session_present);
            UMQTT_CONNECTED as i32
        }
    };
    if !event.is_null() {
        unsafe { *event = out };
    }
    code
}

/// Runs `f` on the client and the environment's transport; negative results are error codes.
macro_rules! with_client {
    ($client:expr, $env:expr, |$c:ident, $io:ident, $e:ident| $body:expr) => {{
        let Some($c) = (unsafe { client_mut($client) }) else { return UMQTT_ERR_INVALID_ARG };
        let Some($e) = (unsafe { $env.as_ref() }) else { return $c.invalid(ArgError::Null) };
        let mut $io = EnvIo { env: $e };
        $body
    }};
}

/// A blocking call: `queue` queues its packet with the step operation (its ticket, UMQTT_DONE or
/// an error code), then it is written; one whose packet does not leave whole is forgotten.
unsafe fn blocking(client: *mut umqtt_client_t, env: *const umqtt_env_t, queue: impl FnOnce(&mut FfiClient, &mut EnvIo) -> i32) -> i32 {
    with_client!(client, env, |c, io, env| {
        let _ = env;
        let queued = queue(c, &mut io);
        send_queued(c, &mut io, queued, ticket(queued))
    })
}

/// The rest of a blocking call: writes what the step operation queued (`queued`: its result);
/// the operation `forget` is forgotten when its packet does not leave whole.
#[inline(never)]
fn send_queued(c: &mut FfiClient, io: &mut EnvIo, queued: i32, forget: Option<PacketId>) -> i32 {
    if queued < 0 {
        return queued;
    }
    let sent = if c.client.connection().borrows() {
        let lent = c.borrowed;
        let sent = c.client.send(io, &unsafe { lent_parts(&lent) }, forget);
        c.borrowed = [NO_BYTES; PARTS];
        sent
    } else {
        c.client.send(io, &[], forget) // most packets: whole in the transmit buffer
    };
    match sent {
        Ok(()) => queued,
        Err(e) => c.fail(e),
    }
}

#[no_mangle]
pub extern "C" fn umqtt_abi_version() -> i32 {
    UMQTT_ABI_VERSION as i32
}

#[no_mangle]
pub extern "C" fn umqtt_client_size() -> usize {
    core::mem::size_of::<FfiClient>()
}

#[no_mangle]
pub extern "C" fn umqtt_client_align() -> usize {
    core::mem::align_of::<FfiClient>()
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_client_init(client: *mut umqtt_client_t, mem_size: usize) -> i32 {
    let p = client as *mut FfiClient;
    if p.is_null() || !p.is_aligned() || mem_size < umqtt_client_size() {
        return UMQTT_ERR_INVALID_ARG;
    }
    p.write(FfiClient { client: Client::new(), error_detail: 0, error_message: "", sink_buf: None, sink_len: 0, borrowed: [NO_BYTES; PARTS] });
    UMQTT_DONE as i32
}

/// The CONNECT parameters of the C ABI, checked.
unsafe fn connect_options<'o>(o: &'o umqtt_connect_options_t) -> Result<ConnectOptions<'o>, ArgError> {
    let Ok(Some(client_id)) = text(&o.client_id) else { return Err(ArgError::NotUtf8(TextArg::ClientId)) };
    let Ok(username) = text(&o.user) else { return Err(ArgError::NotUtf8(TextArg::User)) };
    let Ok(will_topic) = text(&o.will_topic) else { return Err(ArgError::NotUtf8(TextArg::WillTopic)) };
    let will_qos = qos(o.will_qos).ok_or(ArgError::Qos)?;
    let will = will_topic.map(|topic| Will { topic, message: bytes(&o.will_message).unwrap_or(&[]), qos: will_qos, retain: o.will_retain != 0 });
    Ok(ConnectOptions {
        client_id,
        keepalive_s: o.keepalive_s,
        clean_session: o.clean_session != 0,
        will,
        username,
        password: bytes(&o.password),
        timeout_ms: u32::try_from(o.timeout_ms).ok(),
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_connect(client: *mut umqtt_client_t, env: *const umqtt_env_t, options: *const umqtt_connect_options_t) -> i32 {
    with_client!(client, env, |c, io, env| {
        let now = io.now_ms();
        let queued = queue_connect(c, options, now);
        if queued < 0 {
            return queued;
        }
        let lent = c.borrowed;
        let connected = c.client.finish_connect(&mut io, &lent_parts(&lent), u32::try_from((*options).timeout_ms).ok());
        c.borrowed = [NO_BYTES; PARTS];
        let session_present = match connected {
            Ok(present) => i32::from(present),
            Err(e) => return c.fail(e),
        };
        // The unfinished publishes of an earlier connection, each written before the next is
        // queued. One that does not leave whole stays unfinished (the next connect sends it).
        while env.message.is_some() {
            let queued = queue_resend(c, env);
            if queued <= 0 {
                return if queued < 0 { queued } else { session_present };
            }
            let sent = send_queued(c, &mut io, queued, None);
            if sent < 0 {
                return sent;
            }
        }
        session_present
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_adopt(client: *mut umqtt_client_t, env: *const umqtt_env_t, keepalive_s: u16) -> i32 {
    with_client!(client, env, |c, io, env| {
        let _ = env;
        c.sink_buf = None;
        c.client.adopt(&mut io, keepalive_s);
        UMQTT_DONE as i32
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_publish(
    client: *mut umqtt_client_t,
    env: *const umqtt_env_t,
    topic: umqtt_bytes_t,
    payload: umqtt_bytes_t,
    qos_bits: u8,
    retain: u8,
) -> i32 {
    let message = umqtt_message_t { topic, payload, qos: qos_bits, retain, reserved: [0; 2], topic_ref: 0, payload_ref: 0 };
    umqtt_publish_message(client, env, &message)
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_publish_message(client: *mut umqtt_client_t, env: *const umqtt_env_t, message: *const umqtt_message_t) -> i32 {
    blocking(client, env, |c, _| queue_publish(c, env, message))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_subscribe(client: *mut umqtt_client_t, env: *const umqtt_env_t, filter: umqtt_bytes_t, qos_bits: u8) -> i32 {
    filter_call(client, env, filter, Some(qos_bits))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_unsubscribe(client: *mut umqtt_client_t, env: *const umqtt_env_t, filter: umqtt_bytes_t) -> i32 {
    filter_call(client, env, filter, None)
}

/// The QoS of a SUBSCRIBE (`Some` bits), or None for UNSUBSCRIBE; Err for bits other than 0-2.
fn filter_qos(qos_bits: Option<u8>) -> Result<Option<QoS>, ()> {
    qos_bits.map(|bits| qos(bits).ok_or(())).transpose()
}

/// umqtt_subscribe at `qos_bits`, or umqtt_unsubscribe (None).
unsafe fn filter_call(client: *mut umqtt_client_t, env: *const umqtt_env_t, filter: umqtt_bytes_t, qos_bits: Option<u8>) -> i32 {
    blocking(client, env, |c, _| queue_filter(c, filter, qos_bits))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_await(client: *mut umqtt_client_t, env: *const umqtt_env_t, ticket_id: i32, event: *mut umqtt_event_t) -> i32 {
    with_client!(client, env, |c, io, env| {
        let Some(pid) = ticket(ticket_id) else { return c.invalid(ArgError::UnknownTicket) };
        let FfiClient { client: inner, sink_buf, sink_len, .. } = c;
        let mut sink = EnvSink { env, buf: sink_buf, len: sink_len };
        match inner.await_ack(&mut io, &mut sink, pid) {
            Ok(Awaited::Done(granted)) => done(event, granted),
            Ok(Awaited::Message(m)) => c.delivered(event, Ok(Some(Event::Message(m)))),
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_abandon(client: *mut umqtt_client_t, ticket_id: i32) {
    if let (Some(c), Some(pid)) = (client_mut(client), ticket(ticket_id)) {
        c.client.abandon(pid);
    }
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_ping(client: *mut umqtt_client_t, env: *const umqtt_env_t) -> i32 {
    control_call(client, env, Control::Ping)
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_wait_msg(client: *mut umqtt_client_t, env: *const umqtt_env_t, timeout_ms: i32, event: *mut umqtt_event_t) -> i32 {
    with_client!(client, env, |c, io, env| {
        let mode = match timeout_ms {
            0 => Mode::Check,
            UMQTT_WAIT_BUFFERED => Mode::Buffered,
            ms => Mode::Wait(u32::try_from(ms).ok()),
        };
        let FfiClient { client: inner, sink_buf, sink_len, .. } = c;
        let mut sink = EnvSink { env, buf: sink_buf, len: sink_len };
        match inner.wait_event(&mut io, &mut sink, mode) {
            Ok(e) => c.delivered(event, Ok(e)),
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_ack(client: *mut umqtt_client_t, env: *const umqtt_env_t, packet_id: u16) -> i32 {
    control_call(client, env, Control::Ack(packet_id))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_buffered_packet(client: *const umqtt_client_t) -> i32 {
    client_mut(client as *mut _).and_then(|c| c.client.buffered_packet()).map_or(0, i32::from)
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_disconnect(client: *mut umqtt_client_t, env: *const umqtt_env_t) -> i32 {
    let sent = control_call(client, env, Control::Disconnect);
    umqtt_reset(client); // written or not, the connection is over
    sent
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_reset(client: *mut umqtt_client_t) {
    if let Some(c) = client_mut(client) {
        c.client.reset();
        c.sink_buf = None;
        c.borrowed = [NO_BYTES; PARTS];
    }
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_is_connected(client: *const umqtt_client_t) -> i32 {
    client_mut(client as *mut _).map_or(0, |c| i32::from(c.client.is_connected()))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_last_packet_id(client: *const umqtt_client_t) -> u16 {
    client_mut(client as *mut _).map_or(0, |c| c.client.last_pid())
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_error_detail(client: *const umqtt_client_t) -> i32 {
    client_mut(client as *mut _).map_or(0, |c| c.error_detail)
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_error_message(client: *const umqtt_client_t, len: *mut usize) -> *const c_char {
    let message = client_mut(client as *mut _).map_or("invalid client", |c| c.error_message);
    if let Some(len) = len.as_mut() {
        *len = message.len();
    }
    message.as_ptr() as *const c_char
}

// ---- step calls: the connection without blocking --------------------------------------------

/// Runs `f` on the client's connection; negative results are error codes.
macro_rules! with_connection {
    ($client:expr, |$c:ident| $body:expr) => {{
        let Some($c) = (unsafe { client_mut($client) }) else { return UMQTT_ERR_INVALID_ARG };
        $body
    }};
}

fn step_result(c: &mut FfiClient, result: Result<i32, connection::Error>) -> i32 {
    result.unwrap_or_else(|e| c.fail_step(e))
}

fn ticket_code(pid: Option<PacketId>) -> i32 {
    pid.map_or(0, |p| i32::from(p.get()))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_connect(client: *mut umqtt_client_t, options: *const umqtt_connect_options_t, now_ms: u32) -> i32 {
    with_connection!(client, |c| queue_connect(c, options, now_ms))
}

/// Queues CONNECT (umqtt_step_connect; umqtt_connect then writes it and awaits CONNACK).
unsafe fn queue_connect(c: &mut FfiClient, options: *const umqtt_connect_options_t, now_ms: u32) -> i32 {
    let Some(o) = options.as_ref() else { return c.invalid(ArgError::Null) };
    let options = match connect_options(o) {
        Ok(options) => options,
        Err(e) => return c.invalid(e),
    };
    c.sink_buf = None;
    let result = c.client.connection().connect(&options, now_ms);
    c.lend(false, &[o.will_topic, NO_BYTES, o.client_id, o.will_message, o.user, o.password]);
    step_result(c, result.map(|_| UMQTT_DONE as i32))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_resend(client: *mut umqtt_client_t, env: *const umqtt_env_t) -> i32 {
    with_connection!(client, |c| {
        let Some(env) = env.as_ref() else { return c.invalid(ArgError::Null) };
        queue_resend(c, env)
    })
}

/// Queues the next unfinished publish of an earlier connection: its ticket, 0 when none is left.
unsafe fn queue_resend(c: &mut FfiClient, env: &umqtt_env_t) -> i32 {
    let before = c.client.connection().borrows();
    let mut lent = (NO_BYTES, NO_BYTES);
    let result = c.client.connection().resend_next(&mut |m| {
        let found = message_bytes(env, m);
        if let Some((t, p)) = found {
            lent = (umqtt_bytes_t { ptr: t.as_ptr(), len: t.len() }, umqtt_bytes_t { ptr: p.as_ptr(), len: p.len() });
        }
        found
    });
    c.lend(before, &[lent.0, lent.1, NO_BYTES, NO_BYTES, NO_BYTES, NO_BYTES]);
    step_result(c, result.map(ticket_code))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_publish(client: *mut umqtt_client_t, env: *const umqtt_env_t, message: *const umqtt_message_t) -> i32 {
    with_connection!(client, |c| queue_publish(c, env, message))
}

/// Queues a PUBLISH (umqtt_step_publish; umqtt_publish_message then writes it).
unsafe fn queue_publish(c: &mut FfiClient, env: *const umqtt_env_t, message: *const umqtt_message_t) -> i32 {
    let (Some(env), Some(raw)) = (env.as_ref(), message.as_ref()) else { return c.invalid(ArgError::Null) };
    let m = match outgoing(raw) {
        Ok(m) => m,
        Err(e) => return c.invalid(e),
    };
    let before = c.client.connection().borrows();
    let mut same = |r: &MessageRef| same_message(env, r, m.topic, m.payload);
    let result = c.client.connection().publish(&m, &mut same);
    c.lend(before, &[raw.topic, raw.payload, NO_BYTES, NO_BYTES, NO_BYTES, NO_BYTES]);
    step_result(c, result.map(ticket_code))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_subscribe(client: *mut umqtt_client_t, filter: umqtt_bytes_t, qos_bits: u8) -> i32 {
    with_connection!(client, |c| queue_filter(c, filter, Some(qos_bits)))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_unsubscribe(client: *mut umqtt_client_t, filter: umqtt_bytes_t) -> i32 {
    with_connection!(client, |c| queue_filter(c, filter, None))
}

/// Queues SUBSCRIBE at `qos_bits`, or UNSUBSCRIBE (None).
unsafe fn queue_filter(c: &mut FfiClient, filter: umqtt_bytes_t, qos_bits: Option<u8>) -> i32 {
    let Ok(Some(text)) = text(&filter) else { return c.invalid(ArgError::NotUtf8(TextArg::Topic)) };
    let Ok(qos) = filter_qos(qos_bits) else { return c.invalid(ArgError::Qos) };
    let before = c.client.connection().borrows();
    let result = c.client.connection().filter_request(text, qos);
    c.lend(before, &[filter, NO_BYTES, NO_BYTES, NO_BYTES, NO_BYTES, NO_BYTES]);
    step_result(c, result.map(|p| ticket_code(Some(p))))
}

/// The operations whose one packet has no ticket.
#[derive(Clone, Copy)]
enum Control {
    Ping,
    Ack(u16),
    Disconnect,
}

/// Queues the packet of `op` at `now_ms`: UMQTT_DONE or the error code.
fn queue_control(c: &mut FfiClient, op: Control, now_ms: u32) -> i32 {
    let conn = c.client.connection();
    let result = match op {
        Control::Ping => conn.ping(now_ms),
        Control::Ack(pid) => conn.ack(pid),
        Control::Disconnect => conn.disconnect(),
    };
    step_result(c, result.map(|_| UMQTT_DONE as i32))
}

/// umqtt_ping, umqtt_ack, umqtt_disconnect: `op` queued, then written.
unsafe fn control_call(client: *mut umqtt_client_t, env: *const umqtt_env_t, op: Control) -> i32 {
    blocking(client, env, |c, io| {
        let now = if let Control::Ping = op { io.now_ms() } else { 0 }; // only a ping reads the clock
        queue_control(c, op, now)
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_ping(client: *mut umqtt_client_t, now_ms: u32) -> i32 {
    with_connection!(client, |c| queue_control(c, Control::Ping, now_ms))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_disconnect(client: *mut umqtt_client_t) -> i32 {
    with_connection!(client, |c| queue_control(c, Control::Disconnect, 0))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_ack(client: *mut umqtt_client_t, packet_id: u16) -> i32 {
    with_connection!(client, |c| queue_control(c, Control::Ack(packet_id), 0))
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_output(client: *mut umqtt_client_t, data: *mut *const u8, len: *mut usize) -> i32 {
    with_connection!(client, |c| {
        let (Some(data), Some(len)) = (data.as_mut(), len.as_mut()) else { return c.invalid(ArgError::Null) };
        let borrowed = c.borrowed;
        let piece: &[u8] = match c.client.connection().transmit() {
            None => &[],
            Some(Transmit::Buffered(bytes)) => bytes,
            Some(Transmit::Borrowed { part, from, to }) => {
                let lent = borrowed.get(part_index(part)).and_then(|b| bytes(b)).unwrap_or(&[]);
                lent.get(from..to).unwrap_or(&[])
            }
        };
        *data = piece.as_ptr();
        *len = piece.len();
        i32::from(!piece.is_empty())
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_written(client: *mut umqtt_client_t, n: usize, now_ms: u32) {
    if let Some(c) = client_mut(client) {
        c.client.connection().transmitted(n, now_ms);
        if !c.client.connection().borrows() {
            c.borrowed = [NO_BYTES; PARTS];
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_input(client: *mut umqtt_client_t, buf: *mut *mut u8, len: *mut usize) -> i32 {
    with_connection!(client, |c| {
        let (Some(buf), Some(len)) = (buf.as_mut(), len.as_mut()) else { return c.invalid(ArgError::Null) };
        let mut sink = StoredSink { buf: c.sink_buf, len: c.sink_len };
        let room = c.client.connection().receive_buffer(&mut sink);
        *buf = room.as_mut_ptr();
        *len = room.len();
        i32::from(!room.is_empty())
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_received(client: *mut umqtt_client_t, n: usize) {
    if let Some(c) = client_mut(client) {
        c.client.connection().received(n);
    }
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_event(client: *mut umqtt_client_t, env: *const umqtt_env_t, event: *mut umqtt_event_t) -> i32 {
    with_connection!(client, |c| {
        let Some(env) = env.as_ref() else { return c.invalid(ArgError::Null) };
        let FfiClient { client: inner, sink_buf, sink_len, .. } = c;
        let mut sink = EnvSink { env, buf: sink_buf, len: sink_len };
        let handled = inner.connection().handle(&mut sink);
        c.delivered(event, handled)
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_status(client: *mut umqtt_client_t, ticket_id: i32, event: *mut umqtt_event_t) -> i32 {
    with_connection!(client, |c| {
        let Some(pid) = ticket(ticket_id) else { return c.invalid(ArgError::UnknownTicket) };
        match c.client.connection().status(pid) {
            Ok(None) => UMQTT_PENDING as i32,
            Ok(Some(granted)) => done(event, granted),
            Err(e) => c.fail_step(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_step_tick(client: *mut umqtt_client_t, now_ms: u32) -> i32 {
    with_connection!(client, |c| {
        let result = c.client.connection().tick(now_ms);
        step_result(c, result.map(|wait| wait.map_or(UMQTT_WAIT_FOREVER, |ms| ms.min(i32::MAX as u32) as i32)))
    })
}

/// Each definition above has the type the header declares (checked at compile time).
macro_rules! same_signature {
    ($($name:ident: ($($arg:tt),*);)*) => {
        #[allow(dead_code)]
        fn _signatures_match_header() {
            $( let _ = [bindings::$name as unsafe extern "C" fn($($arg),*) -> _, $name as unsafe extern "C" fn($($arg),*) -> _]; )*
        }
    };
}

same_signature! {
    umqtt_abi_version: ();
    umqtt_client_size: ();
    umqtt_client_align: ();
    umqtt_client_init: (_, _);
    umqtt_connect: (_, _, _);
    umqtt_adopt: (_, _, _);
    umqtt_publish: (_, _, _, _, _, _);
    umqtt_publish_message: (_, _, _);
    umqtt_subscribe: (_, _, _, _);
    umqtt_unsubscribe: (_, _, _);
    umqtt_await: (_, _, _, _);
    umqtt_abandon: (_, _);
    umqtt_ping: (_, _);
    umqtt_wait_msg: (_, _, _, _);
    umqtt_ack: (_, _, _);
    umqtt_buffered_packet: (_);
    umqtt_disconnect: (_, _);
    umqtt_reset: (_);
    umqtt_is_connected: (_);
    umqtt_last_packet_id: (_);
    umqtt_step_connect: (_, _, _);
    umqtt_step_resend: (_, _);
    umqtt_step_publish: (_, _, _);
    umqtt_step_subscribe: (_, _, _);
    umqtt_step_unsubscribe: (_, _);
    umqtt_step_ping: (_, _);
    umqtt_step_disconnect: (_);
    umqtt_step_ack: (_, _);
    umqtt_step_output: (_, _, _);
    umqtt_step_written: (_, _, _);
    umqtt_step_input: (_, _, _);
    umqtt_step_received: (_, _);
    umqtt_step_event: (_, _, _);
    umqtt_step_status: (_, _, _);
    umqtt_step_tick: (_, _);
    umqtt_error_detail: (_);
    umqtt_error_message: (_, _);
}
