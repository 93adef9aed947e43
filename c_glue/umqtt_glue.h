/*
 * umqtt_glue.h - private header of the MicroPython shims around the umqtt C ABI.
 *
 * One concern a file: modumqtt.c the Python-facing module and class;
 * umqtt_io.c the umqtt_env_t callbacks that move bytes between the Rust
 * engine and a stream and wait on it; umqtt_engine.c the step calls for event
 * loops (umqtt.Engine, under umqtt.aio); umqtt_socket.c opening the socket and
 * the blocking mode the module keeps; umqtt_errors.c engine codes as Python
 * exceptions; umqtt_args.c argument conversion. Protocol rules are the
 * engine's: these files pass calls and results.
 */
#ifndef UMQTT_GLUE_H
#define UMQTT_GLUE_H

#include "py/obj.h"
#include "py/stream.h"
#include "umqtt_native.h"

// The module is built in unless a port's config says otherwise.
#ifndef MICROPY_PY_UMQTT
#define MICROPY_PY_UMQTT (1)
#endif

// Where sockets have file descriptors, poll() on one replaces the MP_STREAM_POLL
// loop of other ports (a shortcut only: every stream is waited on without it).
#ifndef UMQTT_GLUE_POSIX
#if defined(__unix__) || defined(__APPLE__)
#define UMQTT_GLUE_POSIX (1)
#else
#define UMQTT_GLUE_POSIX (0)
#endif
#endif

// What the module knows of its socket's mode (settimeout/setblocking it applied).
#define UMQTT_SOCK_UNKNOWN (-2)  // handed to the script since: it may have changed it
#define UMQTT_SOCK_BLOCKING (-1) // 0: non-blocking; > 0: a timeout of that many ms

// An MQTTClient. Everything the engine touches between calls is in here, so
// the GC sees it: the engine's own state lives in mem[] (the topic and message
// objects of unfinished publishes among it, as their handles), and the message
// being received (whose payload may arrive over several check_msg calls) is rx_*.
typedef struct _umqtt_obj_t {
    mp_obj_base_t base;
    // umqtt.simple's instance attributes, kept as the objects the user gave.
    mp_obj_t sock;
    // The TCP socket under a TLS wrapper that connect() made (None otherwise):
    // where it has a file descriptor, that is what poll() waits on.
    mp_obj_t tcp_sock;
    mp_obj_t server;
    mp_obj_t port;
    mp_obj_t client_id;
    mp_obj_t user;
    mp_obj_t pswd;
    mp_obj_t keepalive;
    mp_obj_t ssl;
    mp_obj_t ssl_params;
    mp_obj_t cb;
    mp_obj_t lw_topic;
    mp_obj_t lw_msg;
    mp_obj_t lw_qos;
    mp_obj_t lw_retain;
    // Topic and payload buffer (rx_len + 1 bytes) of the incoming message the
    // sink callback started; the payload becomes the callback's bytes object.
    mp_obj_t rx_topic;
    byte *rx_buf;
    size_t rx_len;
    // umqtt.Engine only: the topic and message of its last publish or
    // subscribe, which queued output may borrow until it is written.
    mp_obj_t lent_topic;
    mp_obj_t lent_msg;
    // The socket's mode as the module left it: UMQTT_SOCK_* or a timeout in ms.
    int32_t sock_mode;
    // Callbacks running (nested): buffered packets are handled once none is.
    uint16_t delivering;
    // Counts the connections the engine was given (connect, an assigned sock): a
    // callback's message is acknowledged only on the connection it came on (the
    // same packet id may be owed for another message on a later one).
    uint16_t connection;
    // umqtt_client_size() bytes at the first umqtt_client_align() boundary.
    byte mem[];
} umqtt_obj_t;

// How a call may wait for input (see umqtt_io.c's env_wait).
typedef enum {
    UMQTT_GLUE_OTHER,
    UMQTT_GLUE_DIRECT, // reads go straight to the socket, in the socket's own mode
} umqtt_glue_kind_t;

// One call into the engine: the env's ctx. Lives on the C stack (scanned by
// the GC) for the duration of the call only.
typedef struct _umqtt_call_t {
    umqtt_obj_t *self;
    mp_obj_t sock;
    // The socket's stream protocol, or NULL when sock is a Python object whose
    // read/write/setblocking methods are called instead.
    const mp_stream_p_t *stream;
    // The first exception a callback caught; raised once the engine returned.
    mp_obj_t exc;
    umqtt_glue_kind_t kind;
    #if UMQTT_GLUE_POSIX
    // File descriptor for poll(), a shortcut where there is one: -2 not asked yet, -1 none.
    int fd;
    #endif
} umqtt_call_t;

umqtt_client_t *umqtt_glue_client(umqtt_obj_t *self);

// The engine forgets its connection (a new one begins, or none).
void umqtt_glue_forget_connection(umqtt_obj_t *self);

// Prepares call and env for a call on self->sock.
void umqtt_glue_env(umqtt_call_t *call, umqtt_env_t *env, umqtt_obj_t *self, umqtt_glue_kind_t kind);

// The payload the sink received (len bytes in rx_buf) as a bytes object, no copy.
mp_obj_t umqtt_glue_take_payload(umqtt_obj_t *self, size_t len);

// The stream protocol to drive obj through, or NULL when its Python methods
// are to be called instead.
const mp_stream_p_t *umqtt_glue_stream(mp_obj_t obj);

// MP_STREAM_POLL on the call's socket for the flags in want: the flags that
// are ready (error and hang-up included), or a UMQTT_IO_* code.
intptr_t umqtt_glue_poll(umqtt_call_t *call, mp_uint_t want);

// umqtt_socket.c: the socket connect() opens, and the mode the module keeps it in.
void umqtt_glue_open_socket(umqtt_obj_t *self, mp_obj_t timeout, int32_t timeout_ms);
void umqtt_glue_setblocking(umqtt_obj_t *self, bool blocking);
bool umqtt_glue_tls_nonblocking(umqtt_obj_t *self);
void umqtt_glue_blocking_again(umqtt_obj_t *self, bool switched);
mp_obj_t umqtt_glue_call_method(mp_obj_t obj, qstr name, size_t n_args, const mp_obj_t *args);

// umqtt_engine.c: the type umqtt.aio drives.
extern const mp_obj_type_t umqtt_type_Engine;
umqtt_obj_t *umqtt_glue_new_client(const mp_obj_type_t *type);

// umqtt_errors.c: after each engine call, raise what a callback caught or the engine's error.
extern const mp_obj_type_t mp_type_MQTTException;
int32_t umqtt_glue_finish(umqtt_call_t *call, int32_t rc);
MP_NORETURN void umqtt_glue_raise(umqtt_obj_t *self, int32_t rc);

// umqtt_args.c: Python arguments as the engine takes them (ValueError when out of range).
umqtt_bytes_t umqtt_glue_bytes(mp_obj_t obj);
uint8_t umqtt_glue_qos(mp_obj_t qos);
uint16_t umqtt_glue_keepalive(mp_obj_t keepalive);
int32_t umqtt_glue_timeout(mp_obj_t timeout);

#endif // UMQTT_GLUE_H
