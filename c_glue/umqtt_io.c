/*
 * umqtt_io.c - the umqtt_env_t callbacks: the engine's window on a MicroPython socket.
 *
 * The engine is Rust: no MicroPython exception (nlr jump) may cross its
 * frames. Every callback that can reach MicroPython code runs it under
 * nlr_push, keeps what it caught in the call and returns UMQTT_IO_EXCEPTION
 * (or NULL); modumqtt.c raises it once the engine has returned. Once one
 * callback caught an exception, the others of the same call fail at once, so
 * that it reaches Python promptly (the engine then drops the connection).
 *
 * A stream (the port's socket or ssl object, or a Python io.IOBase subclass)
 * is driven through its stream protocol and waited on with MP_STREAM_POLL and
 * the port's event wait, as select.poll does on ports whose sockets have no
 * file descriptor; poll() on a descriptor is only a shortcut where there is
 * one. Any other object is driven through its read/write methods, as
 * umqtt.simple would (that is how its tests feed a fake socket).
 */
#include <string.h>

#include "umqtt_glue.h"
#include "py/objstr.h"
#if !UMQTT_NATMOD
#include "py/mphal.h"
#endif

#if MICROPY_PY_UMQTT

#if UMQTT_GLUE_POSIX
#include <errno.h>
#include <poll.h>
#endif

// Keeps the first exception a callback caught (later ones are consequences).
static void keep(umqtt_call_t *call, void *exc) {
    if (call->exc == MP_OBJ_NULL) {
        call->exc = MP_OBJ_FROM_PTR(exc);
    }
}

// errcode 0: the stream gave none (it has no such method).
static intptr_t io_result(mp_uint_t n, int errcode) {
    if (n == MP_STREAM_ERROR) {
        if (errcode == 0) {
            errcode = MP_EINVAL;
        }
        // A socket timeout (connect(timeout=...) leaves one, as umqtt.simple
        // does) only means nothing moved in time, not a broken connection.
        if (mp_is_nonblocking_error(errcode) || errcode == MP_ETIMEDOUT) {
            return UMQTT_IO_WOULD_BLOCK;
        }
        return UMQTT_IO_ERRNO_BASE - errcode;
    }
    return n == 0 ? UMQTT_IO_CLOSED : (intptr_t)n;
}

static mp_obj_t call_method_1(mp_obj_t obj, qstr name, mp_obj_t arg) {
    mp_obj_t dest[3];
    mp_load_method(obj, name, dest);
    dest[2] = arg;
    return mp_call_method_n_kw(1, 0, dest);
}

/******************************************************************************/
// Streams

// The native type a Python class derives from (NULL for a pure Python class).
static const mp_obj_type_t *native_base(const mp_obj_type_t *type) {
    while (type->flags & MP_TYPE_FLAG_INSTANCE_TYPE) {
        if (!MP_OBJ_TYPE_HAS_SLOT(type, parent)) {
            return NULL;
        }
        const void *parent = MP_OBJ_TYPE_GET_SLOT(type, parent);
        if (((mp_obj_base_t *)parent)->type != &mp_type_type) {
            return NULL; // several bases: leave it to the Python methods
        }
        type = parent;
    }
    return type == &mp_type_object ? NULL : type;
}

const mp_stream_p_t *umqtt_glue_stream(mp_obj_t obj) {
    const mp_obj_type_t *type = mp_obj_get_type(obj);
    if (!MP_OBJ_TYPE_HAS_SLOT(type, protocol)) {
        return NULL;
    }
    if (type->flags & MP_TYPE_FLAG_INSTANCE_TYPE) {
        // A Python class inherits its native base's protocol. io.IOBase's calls
        // the instance's readinto/write/ioctl, so it takes the instance; any
        // other native base (a subclassed socket) expects its own struct, so
        // such objects go through their methods instead.
        const mp_obj_type_t *base = native_base(type);
        if (base == NULL || base->name != MP_QSTR_IOBase) {
            return NULL;
        }
    }
    return mp_get_stream(obj);
}

/******************************************************************************/
// Reading and writing

static intptr_t do_read(umqtt_call_t *call, uint8_t *buf, size_t len) {
    if (call->stream != NULL) {
        int errcode = 0;
        mp_uint_t n = MP_STREAM_ERROR;
        if (call->stream->read != NULL) {
            n = call->stream->read(call->sock, buf, len, &errcode);
        }
        return io_result(n, errcode);
    }
    // A Python object: read(n) gives bytes, b"" at the end, None when it would block.
    mp_obj_t got = call_method_1(call->sock, MP_QSTR_read, mp_obj_new_int_from_uint(len));
    if (got == mp_const_none) {
        return UMQTT_IO_WOULD_BLOCK;
    }
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(got, &bufinfo, MP_BUFFER_READ);
    if (bufinfo.len == 0) {
        return UMQTT_IO_CLOSED;
    }
    size_t n = MIN(bufinfo.len, len);
    memcpy(buf, bufinfo.buf, n);
    return n;
}

static intptr_t do_write(umqtt_call_t *call, const uint8_t *buf, size_t len) {
    if (call->stream != NULL) {
        int errcode = 0;
        mp_uint_t n = MP_STREAM_ERROR;
        if (call->stream->write != NULL) {
            n = call->stream->write(call->sock, buf, len, &errcode);
        }
        return io_result(n, errcode);
    }
    // A Python object gets its own copy; write() returning None means "all of it".
    mp_obj_t ret = call_method_1(call->sock, MP_QSTR_write, mp_obj_new_bytes(buf, len));
    if (ret == mp_const_none) {
        return len;
    }
    mp_int_t n = mp_obj_get_int(ret);
    return n <= 0 ? UMQTT_IO_CLOSED : (intptr_t)MIN((size_t)n, len);
}

static intptr_t env_read(void *ctx, uint8_t *buf, size_t len) {
    umqtt_call_t *call = ctx;
    if (call->exc != MP_OBJ_NULL) {
        return UMQTT_IO_EXCEPTION;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        intptr_t ret = do_read(call, buf, len);
        nlr_pop();
        return ret;
    }
    keep(call, nlr.ret_val);
    return UMQTT_IO_EXCEPTION;
}

static intptr_t env_write(void *ctx, const uint8_t *buf, size_t len) {
    umqtt_call_t *call = ctx;
    if (call->exc != MP_OBJ_NULL) {
        return UMQTT_IO_EXCEPTION;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        intptr_t ret = do_write(call, buf, len);
        nlr_pop();
        return ret;
    }
    keep(call, nlr.ret_val);
    return UMQTT_IO_EXCEPTION;
}

/******************************************************************************/
// Waiting

intptr_t umqtt_glue_poll(umqtt_call_t *call, mp_uint_t want) {
    int errcode;
    mp_uint_t ret = call->stream->ioctl(call->sock, MP_STREAM_POLL, want, &errcode);
    if (ret == MP_STREAM_ERROR) {
        return UMQTT_IO_ERRNO_BASE - errcode;
    }
    return ret & (want | MP_STREAM_POLL_ERR | MP_STREAM_POLL_HUP | MP_STREAM_POLL_NVAL);
}

#if UMQTT_GLUE_POSIX
static int stream_fd(mp_obj_t obj) {
    const mp_stream_p_t *stream = umqtt_glue_stream(obj);
    int errcode;
    mp_uint_t fd = stream && stream->ioctl ? stream->ioctl(obj, MP_STREAM_GET_FILENO, 0, &errcode) : MP_STREAM_ERROR;
    return fd == MP_STREAM_ERROR ? -1 : (int)fd;
}

// The socket's descriptor, or that of the TCP socket under our TLS wrapper
// (its readiness bounds the wait).
static int call_fd(umqtt_call_t *call) {
    if (call->fd == -2) {
        call->fd = stream_fd(call->sock);
        if (call->fd < 0 && call->self->tcp_sock != mp_const_none) {
            call->fd = stream_fd(call->self->tcp_sock);
        }
    }
    return call->fd;
}

static void poll_fd(int fd, bool for_write, int32_t timeout_ms) {
    struct pollfd pfd = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
    MP_THREAD_GIL_EXIT();
    int n = poll(&pfd, 1, timeout_ms);
    int err = errno;
    MP_THREAD_GIL_ENTER();
    if (n < 0 && err == EINTR) {
        // A signal (Ctrl-C): let MicroPython raise what it scheduled.
        mp_handle_pending(true);
    }
}
#endif

#if !UMQTT_NATMOD
uint32_t umqtt_glue_ticks_ms(umqtt_obj_t *self) {
    (void)self;
    return mp_hal_ticks_ms();
}

// Sleeps until the stream may be ready or about timeout_ms pass, as the port waits for events.
void umqtt_glue_event_wait(umqtt_call_t *call, bool for_write, int32_t timeout_ms) {
    #if UMQTT_GLUE_POSIX
    int fd = call_fd(call);
    if (fd >= 0) {
        poll_fd(fd, for_write, timeout_ms);
        return;
    }
    #else
    (void)call;
    (void)for_write;
    #endif
    if (timeout_ms == UMQTT_WAIT_FOREVER) {
        mp_event_wait_indefinite();
    } else {
        mp_event_wait_ms(timeout_ms);
    }
}
#endif

static int32_t do_wait(umqtt_call_t *call, int32_t for_write, int32_t timeout_ms) {
    if (call->stream == NULL || call->stream->ioctl == NULL) {
        // Nothing to poll: the read or write itself blocks (or says it would).
        return 1;
    }
    if (!for_write && call->kind == UMQTT_GLUE_DIRECT) {
        return 1;
    }
    mp_uint_t want = for_write ? MP_STREAM_POLL_WR : MP_STREAM_POLL_RD;
    uint32_t start = umqtt_glue_ticks_ms(call->self);
    for (;;) {
        intptr_t ready = umqtt_glue_poll(call, want);
        if (ready != 0) {
            // Ready or broken (the next read or write tells which), or a poll error.
            return ready < 0 ? (int32_t)ready : 1;
        }
        int32_t left = UMQTT_WAIT_FOREVER;
        if (timeout_ms != UMQTT_WAIT_FOREVER) {
            uint32_t elapsed = umqtt_glue_ticks_ms(call->self) - start;
            if (elapsed >= (uint32_t)timeout_ms) {
                return 0;
            }
            left = timeout_ms - (int32_t)elapsed;
        }
        umqtt_glue_event_wait(call, for_write, left);
    }
}

static int32_t env_wait(void *ctx, int32_t for_write, int32_t timeout_ms) {
    umqtt_call_t *call = ctx;
    if (call->exc != MP_OBJ_NULL) {
        return UMQTT_IO_EXCEPTION;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        int32_t ret = do_wait(call, for_write, timeout_ms);
        nlr_pop();
        return ret;
    }
    keep(call, nlr.ret_val);
    return UMQTT_IO_EXCEPTION;
}

static uint32_t env_now_ms(void *ctx) {
    umqtt_call_t *call = ctx;
    #if UMQTT_NATMOD
    // The clock is time.ticks_ms here, Python that may raise (Ctrl-C, a stand-in): kept, as
    // the other callbacks keep theirs, and the time stands still for the rest of the call.
    nlr_buf_t nlr;
    if (call->exc == MP_OBJ_NULL && nlr_push(&nlr) == 0) {
        uint32_t now = umqtt_glue_ticks_ms(call->self);
        nlr_pop();
        return now;
    }
    if (call->exc == MP_OBJ_NULL) {
        keep(call, nlr.ret_val);
    }
    return call->self->clock_ms;
    #else
    return umqtt_glue_ticks_ms(call->self);
    #endif
}

/******************************************************************************/
// Memory for incoming messages

// An incoming message: its topic becomes bytes now, its payload is written by
// the engine straight into a buffer that becomes the callback's bytes object.
static uint8_t *env_sink(void *ctx, const uint8_t *topic, size_t topic_len, size_t payload_len) {
    umqtt_call_t *call = ctx;
    umqtt_obj_t *self = call->self;
    if (call->exc != MP_OBJ_NULL) {
        return NULL;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        self->rx_buf = NULL;
        // The topic first: if it cannot be made, no payload buffer is left behind.
        self->rx_topic = mp_obj_new_bytes(topic, topic_len);
        uint8_t *buf = (uint8_t *)self; // any non-NULL pointer for an empty payload
        if (payload_len > 0) {
            // m_new_maybe: a length the heap cannot hold (too big, broken or
            // hostile) gives NULL, once the GC tried to make room, not an exception
            // without the size in it.
            buf = m_new_maybe(byte, payload_len + 1);
            if (buf == NULL) {
                mp_raise_msg_varg(&mp_type_MemoryError,
                    MP_ERROR_TEXT("incoming message of %u bytes does not fit in the heap; skipped"),
                    (unsigned)payload_len);
            }
            self->rx_buf = buf;
            self->rx_len = payload_len;
        }
        nlr_pop();
        return buf;
    }
    self->rx_topic = mp_const_none;
    self->rx_buf = NULL;
    keep(call, nlr.ret_val);
    return NULL;
}

// The payload the engine read into rx_buf, as a bytes object that takes the
// buffer over (no copy). Its hash is left for when it is needed (0: not yet
// computed, as py/objstr.c allows): hashing a large payload here would cost
// more than receiving it.
mp_obj_t umqtt_glue_take_payload(umqtt_obj_t *self, size_t len) {
    byte *data = self->rx_buf;
    self->rx_buf = NULL;
    if (len == 0 || data == NULL) {
        return mp_const_empty_bytes;
    }
    data[len] = '\0';
    mp_obj_str_t *o = mp_obj_malloc(mp_obj_str_t, &mp_type_bytes);
    o->len = len;
    o->hash = 0;
    o->data = data;
    return MP_OBJ_FROM_PTR(o);
}

/******************************************************************************/
// Unfinished publishes

// The bytes of an unfinished publish's topic and message objects (the handles
// publish() gave the engine), which it sends again after a reconnect.
static int32_t env_message(void *ctx, uintptr_t topic_ref, uintptr_t payload_ref,
    umqtt_bytes_t *topic, umqtt_bytes_t *payload) {
    (void)ctx;
    mp_buffer_info_t t, p;
    if (!mp_get_buffer((mp_obj_t)topic_ref, &t, MP_BUFFER_READ) || !mp_get_buffer((mp_obj_t)payload_ref, &p, MP_BUFFER_READ)) {
        return 0;
    }
    *topic = (umqtt_bytes_t) { .ptr = t.buf, .len = t.len };
    *payload = (umqtt_bytes_t) { .ptr = p.buf, .len = p.len };
    return 1;
}

/******************************************************************************/
// Environments

void umqtt_glue_env(umqtt_call_t *call, umqtt_env_t *env, umqtt_obj_t *self, umqtt_glue_kind_t kind) {
    call->self = self;
    call->sock = self->sock;
    call->stream = umqtt_glue_stream(self->sock);
    call->exc = MP_OBJ_NULL;
    call->kind = kind;
    #if UMQTT_GLUE_POSIX
    call->fd = -2;
    #endif
    env->ctx = call;
    env->read = env_read;
    env->write = env_write;
    env->wait = env_wait;
    env->now_ms = env_now_ms;
    env->sink = env_sink;
    env->message = env_message;
}

#endif // MICROPY_PY_UMQTT
