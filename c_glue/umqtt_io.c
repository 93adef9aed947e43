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
 * A native socket (the port's socket or ssl object) is driven through its
 * stream protocol; any other object through its read/write methods, as
 * umqtt.simple would (that is how its tests feed a fake socket).
 */
#include <string.h>

#include "py/gc.h"
#include "py/runtime.h"
#include "py/mphal.h"
#include "py/objtype.h"
#include "py/stream.h"
#include "umqtt_glue.h"

// poll() on the socket's file descriptor where the port has one; the other
// ports wait through the stream's MP_STREAM_POLL and MicroPython's event loop.
#ifndef UMQTT_GLUE_POSIX
#if defined(__unix__) || defined(__APPLE__)
#define UMQTT_GLUE_POSIX (1)
#else
#define UMQTT_GLUE_POSIX (0)
#endif
#endif

#if UMQTT_GLUE_POSIX
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#endif

// Keeps the first exception a callback caught (later ones are consequences).
static void keep(umqtt_call_t *call, void *exc) {
    if (call->exc == MP_OBJ_NULL) {
        call->exc = MP_OBJ_FROM_PTR(exc);
    }
}

static intptr_t io_result(mp_uint_t n, int errcode) {
    if (n == MP_STREAM_ERROR) {
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
// Reading and writing

static intptr_t do_read(umqtt_call_t *call, uint8_t *buf, size_t len) {
    if (call->stream != NULL) {
        int errcode = MP_EINVAL;
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
        int errcode = MP_EINVAL;
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

#if UMQTT_GLUE_POSIX
static int stream_fd(mp_obj_t obj) {
    const mp_obj_type_t *type = mp_obj_get_type(obj);
    if (mp_obj_is_instance_type(type) || !MP_OBJ_TYPE_HAS_SLOT(type, protocol)) {
        return -1;
    }
    const mp_stream_p_t *stream = mp_get_stream(obj);
    int errcode;
    mp_uint_t fd = stream->ioctl ? stream->ioctl(obj, MP_STREAM_GET_FILENO, 0, &errcode) : MP_STREAM_ERROR;
    return fd == MP_STREAM_ERROR ? -1 : (int)fd;
}

// The socket's descriptor, or that of the TCP socket under our TLS wrapper
// (setblocking on the wrapper reaches it, and its readiness bounds the wait).
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

// wait_msg must return None at once on a non-blocking socket, as umqtt.simple's
// does (umqtt.robust's check_msg relies on it), and can only wait with a bound
// (to send PINGREQ on time) on a socket known to be blocking: that takes a file
// descriptor. Elsewhere wait_msg reads straight from the socket, as umqtt.simple.
static bool wait_msg_reads_directly(umqtt_call_t *call) {
    #if UMQTT_GLUE_POSIX
    int fd = call_fd(call);
    return fd < 0 || (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
    #else
    (void)call;
    return true;
    #endif
}

static int32_t do_wait(umqtt_call_t *call, int32_t for_write, int32_t timeout_ms) {
    const mp_stream_p_t *stream = call->stream;
    if (stream == NULL || stream->ioctl == NULL) {
        // Nothing to poll: the read or write itself blocks (or says it would).
        return 1;
    }
    if (!for_write && call->kind == UMQTT_GLUE_WAIT_MSG && wait_msg_reads_directly(call)) {
        return 1;
    }
    mp_uint_t want = for_write ? MP_STREAM_POLL_WR : MP_STREAM_POLL_RD;
    mp_uint_t start = mp_hal_ticks_ms();
    for (;;) {
        int errcode;
        mp_uint_t ret = stream->ioctl(call->sock, MP_STREAM_POLL, want, &errcode);
        if (ret == MP_STREAM_ERROR) {
            return UMQTT_IO_ERRNO_BASE - errcode;
        }
        if (ret & (want | MP_STREAM_POLL_ERR | MP_STREAM_POLL_HUP | MP_STREAM_POLL_NVAL)) {
            // Ready, or broken: the next read or write tells which.
            return 1;
        }
        int32_t left = UMQTT_WAIT_FOREVER;
        if (timeout_ms != UMQTT_WAIT_FOREVER) {
            mp_uint_t elapsed = mp_hal_ticks_ms() - start;
            if (elapsed >= (mp_uint_t)timeout_ms) {
                return 0;
            }
            left = timeout_ms - (int32_t)elapsed;
        }
        #if UMQTT_GLUE_POSIX
        int fd = call_fd(call);
        if (fd >= 0) {
            poll_fd(fd, for_write, left);
            continue;
        }
        #endif
        if (left == UMQTT_WAIT_FOREVER) {
            mp_event_wait_indefinite();
        } else {
            mp_event_wait_ms(left);
        }
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
    (void)ctx;
    return mp_hal_ticks_ms();
}

/******************************************************************************/
// Memory for messages and large packets

// An incoming message: its topic becomes bytes now, its payload is written by
// the engine straight into a vstr that becomes the callback's bytes object.
static uint8_t *env_sink(void *ctx, const uint8_t *topic, size_t topic_len, size_t payload_len) {
    umqtt_call_t *call = ctx;
    umqtt_obj_t *self = call->self;
    if (call->exc != MP_OBJ_NULL) {
        return NULL;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        self->rx_topic = mp_const_none;
        memset(&self->rx_msg, 0, sizeof(self->rx_msg));
        uint8_t *buf = (uint8_t *)self; // any non-NULL pointer for an empty payload
        if (payload_len > 0) {
            // A length the heap cannot hold (broken or hostile) is an OSError,
            // not a MemoryError: the connection is what went wrong.
            char *p = m_new_maybe(char, payload_len + 1);
            if (p == NULL) {
                mp_raise_OSError(MP_ENOMEM);
            }
            self->rx_msg = (vstr_t) { .alloc = payload_len + 1, .len = payload_len, .buf = p, .fixed_buf = false };
            buf = (uint8_t *)p;
        }
        self->rx_topic = mp_obj_new_bytes(topic, topic_len);
        nlr_pop();
        return buf;
    }
    self->rx_topic = mp_const_none;
    keep(call, nlr.ret_val);
    return NULL;
}

static uint8_t *env_scratch(void *ctx, size_t len) {
    umqtt_call_t *call = ctx;
    umqtt_obj_t *self = call->self;
    if (call->exc != MP_OBJ_NULL) {
        return NULL;
    }
    if (self->scratch_len >= len) {
        return self->scratch;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        byte *buf = m_new(byte, len);
        m_del(byte, self->scratch, self->scratch_len);
        self->scratch = buf;
        self->scratch_len = len;
        nlr_pop();
        return buf;
    }
    keep(call, nlr.ret_val);
    return NULL;
}

/******************************************************************************/
// Environments

static void call_init(umqtt_call_t *call, umqtt_obj_t *self, umqtt_glue_kind_t kind) {
    call->self = self;
    call->sock = self->sock;
    call->stream = NULL;
    call->exc = MP_OBJ_NULL;
    call->kind = kind;
    call->fd = -2;
}

void umqtt_glue_env(umqtt_call_t *call, umqtt_env_t *env, umqtt_obj_t *self, umqtt_glue_kind_t kind) {
    call_init(call, self, kind);
    // Only a native type's object is the struct its stream protocol expects
    // (a Python subclass of a native stream is handled through its methods).
    const mp_obj_type_t *type = mp_obj_get_type(self->sock);
    if (!mp_obj_is_instance_type(type) && MP_OBJ_TYPE_HAS_SLOT(type, protocol)) {
        call->stream = mp_get_stream(self->sock);
    }
    env->ctx = call;
    env->read = env_read;
    env->write = env_write;
    env->wait = env_wait;
    env->now_ms = env_now_ms;
    env->sink = env_sink;
    env->scratch = env_scratch;
}
