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
use crate::driver::{self, Awaited, Client, ConnectOptions, Event, Mode, Transport};
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

impl FfiClient {
    fn fail(&mut self, err: driver::Error<IoError>) -> i32 {
        use driver::Error as E;
        let (code, detail, message) = match err {
            E::Io(IoError::Errno(errno)) => (UMQTT_ERR_IO, errno, "transport error"),
            E::Io(IoError::WouldBlock) => (UMQTT_ERR_IO, 11, "transport would block"),
            E::Io(IoError::Exception) => (UMQTT_ERR_CALLBACK, 0, "transport callback failed"),
            E::Closed => (UMQTT_ERR_CLOSED, 0, "connection closed by the broker"),
            E::Timeout => (UMQTT_ERR_TIMEOUT, 0, "timed out waiting for the broker"),
            E::Protocol(m) => (UMQTT_ERR_PROTOCOL, 0, m),
            E::Refused(code) => (UMQTT_ERR_REFUSED, i32::from(code), "connection refused by the broker"),
            E::SubscribeFailed => (UMQTT_ERR_SUBSCRIBE, 0x80, "subscription refused by the broker"),
            E::NotConnected => (UMQTT_ERR_NOT_CONNECTED, 0, "not connected"),
            E::InvalidArgument(m) => (UMQTT_ERR_INVALID_ARG, 0, m),
            E::TooLarge => (UMQTT_ERR_TOO_LARGE, 0, "packet too large for MQTT (a string over 65,535 bytes or a packet over 256 MB)"),
            E::Busy => (UMQTT_ERR_BUSY, 0, "too many operations awaiting acknowledgement"),
            E::Sink => (UMQTT_ERR_CALLBACK, 0, "message sink refused the message"),
            E::TopicTooLong => (UMQTT_ERR_TOO_LARGE, RX_CAPACITY as i32, "incoming topic longer than the receive buffer; message skipped"),
            E::KeepaliveTimeout => (UMQTT_ERR_KEEPALIVE, 0, "broker did not answer within the keepalive window"),
        };
        self.error_detail = detail;
        self.error_message = message;
        code
    }

    fn invalid(&mut self, message: &'static str) -> i32 {
        self.fail(driver::Error::InvalidArgument(message))
    }
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

fn fill_event(event: *mut umqtt_event_t, e: Event) -> i32 {
    let mut out = umqtt_event_t { packet_type: 0, qos: 0, retain: 0, dup: 0, packet_id: 0, granted_qos: 0, reserved: 0, payload_len: 0 };
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
        let Some($e) = (unsafe { $env.as_ref() }) else { return $c.invalid("env is NULL") };
        let mut $io = EnvIo { env: $e };
        $body
    }};
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
    p.write(FfiClient { client: Client::new(), error_detail: 0, error_message: "", sink_buf: None, sink_len: 0 });
    UMQTT_DONE as i32
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_connect(client: *mut umqtt_client_t, env: *const umqtt_env_t, options: *const umqtt_connect_options_t) -> i32 {
    with_client!(client, env, |c, io, env| {
        let Some(o) = options.as_ref() else { return c.invalid("options is NULL") };
        let Ok(Some(client_id)) = text(&o.client_id) else { return c.invalid("client_id must be UTF-8 text") };
        let Ok(username) = text(&o.user) else { return c.invalid("user must be UTF-8 text") };
        let Ok(will_topic) = text(&o.will_topic) else { return c.invalid("will topic must be UTF-8 text") };
        let Some(will_qos) = qos(o.will_qos) else { return c.invalid("will qos must be 0, 1 or 2") };
        let will = will_topic.map(|topic| Will { topic, message: bytes(&o.will_message).unwrap_or(&[]), qos: will_qos, retain: o.will_retain != 0 });
        let options = ConnectOptions {
            client_id,
            keepalive_s: o.keepalive_s,
            clean_session: o.clean_session != 0,
            will,
            username,
            password: bytes(&o.password),
            timeout_ms: u32::try_from(o.timeout_ms).ok(),
        };
        match c.client.connect(&mut io, &options) {
            Ok(session_present) => i32::from(session_present),
            Err(e) => c.fail(e),
        }
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
    with_client!(client, env, |c, io, env| {
        let Ok(Some(topic)) = text(&topic) else { return c.invalid("topic must be UTF-8 text") };
        let Some(qos) = qos(qos_bits) else { return c.invalid("qos must be 0, 1 or 2") };
        let payload = bytes(&payload).unwrap_or(&[]);
        match c.client.publish(&mut io, topic, payload, qos, retain != 0) {
            Ok(pid) => pid.map_or(0, |p| i32::from(p.get())),
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_resume(
    client: *mut umqtt_client_t,
    env: *const umqtt_env_t,
    ticket_id: i32,
    topic: umqtt_bytes_t,
    payload: umqtt_bytes_t,
    retain: u8,
) -> i32 {
    with_client!(client, env, |c, io, env| {
        let Some(pid) = ticket(ticket_id) else { return c.invalid("ticket is not a packet id") };
        let Ok(Some(topic)) = text(&topic) else { return c.invalid("topic must be UTF-8 text") };
        let payload = bytes(&payload).unwrap_or(&[]);
        match c.client.resume(&mut io, pid, topic, payload, retain != 0) {
            Ok(true) => ticket_id,
            Ok(false) => 0,
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_subscribe(client: *mut umqtt_client_t, env: *const umqtt_env_t, filter: umqtt_bytes_t, qos_bits: u8) -> i32 {
    with_client!(client, env, |c, io, env| {
        let Ok(Some(filter)) = text(&filter) else { return c.invalid("topic must be UTF-8 text") };
        let Some(qos) = qos(qos_bits) else { return c.invalid("qos must be 0, 1 or 2") };
        match c.client.subscribe(&mut io, filter, qos) {
            Ok(pid) => i32::from(pid.get()),
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_unsubscribe(client: *mut umqtt_client_t, env: *const umqtt_env_t, filter: umqtt_bytes_t) -> i32 {
    with_client!(client, env, |c, io, env| {
        let Ok(Some(filter)) = text(&filter) else { return c.invalid("topic must be UTF-8 text") };
        match c.client.unsubscribe(&mut io, filter) {
            Ok(pid) => i32::from(pid.get()),
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_await(client: *mut umqtt_client_t, env: *const umqtt_env_t, ticket_id: i32, event: *mut umqtt_event_t) -> i32 {
    with_client!(client, env, |c, io, env| {
        let Some(pid) = ticket(ticket_id) else { return c.invalid("ticket is not a packet id") };
        let FfiClient { client: inner, sink_buf, sink_len, .. } = c;
        let mut sink = EnvSink { env, buf: sink_buf, len: sink_len };
        match inner.await_ack(&mut io, &mut sink, pid) {
            Ok(Awaited::Done(granted)) => {
                if let Some(ev) = event.as_mut() {
                    ev.granted_qos = granted;
                }
                UMQTT_DONE as i32
            }
            Ok(Awaited::Message(m)) => {
                c.sink_buf = None;
                fill_event(event, Event::Message(m))
            }
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
    with_client!(client, env, |c, io, env| match c.client.ping(&mut io) {
        Ok(()) => UMQTT_DONE as i32,
        Err(e) => c.fail(e),
    })
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
        match inner.wait_msg(&mut io, &mut sink, mode) {
            Ok(None) => UMQTT_DONE as i32,
            Ok(Some(e)) => {
                c.sink_buf = None;
                fill_event(event, e)
            }
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_ack(client: *mut umqtt_client_t, env: *const umqtt_env_t, packet_id: u16) -> i32 {
    with_client!(client, env, |c, io, env| {
        let _ = env;
        match c.client.ack(&mut io, packet_id) {
            Ok(()) => UMQTT_DONE as i32,
            Err(e) => c.fail(e),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_buffered_packet(client: *const umqtt_client_t) -> i32 {
    client_mut(client as *mut _).and_then(|c| c.client.buffered_packet()).map_or(0, i32::from)
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_disconnect(client: *mut umqtt_client_t, env: *const umqtt_env_t) -> i32 {
    with_client!(client, env, |c, io, env| match c.client.disconnect(&mut io) {
        Ok(()) => UMQTT_DONE as i32,
        Err(e) => c.fail(e),
    })
}

#[no_mangle]
pub unsafe extern "C" fn umqtt_reset(client: *mut umqtt_client_t) {
    if let Some(c) = client_mut(client) {
        c.client.reset();
        c.sink_buf = None;
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
    umqtt_client_size: ();
    umqtt_client_align: ();
    umqtt_client_init: (_, _);
    umqtt_connect: (_, _, _);
    umqtt_adopt: (_, _, _);
    umqtt_publish: (_, _, _, _, _, _);
    umqtt_resume: (_, _, _, _, _, _);
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
    umqtt_error_detail: (_);
    umqtt_error_message: (_, _);
}
