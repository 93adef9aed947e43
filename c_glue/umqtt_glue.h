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
 *
 * The same files build a native .mpy (scripts/build-natmod): there
 * umqtt_dynruntime.h stands in for what py/dynruntime.h lacks and makes the
 * definitions below (types, their tables, argument tables) at load time, and
 * umqtt_natmod.c is the module's entry and its clock and event wait.
 */
#ifndef UMQTT_GLUE_H
#define UMQTT_GLUE_H

#if MICROPY_ENABLE_DYNRUNTIME
#include "umqtt_dynruntime.h"
#else
#include "py/runtime.h"
#endif
#include "py/stream.h"
#include "umqtt_native.h"

#if !MICROPY_ENABLE_DYNRUNTIME
// Built into a firmware: the definitions umqtt_dynruntime.h makes at load time are static.
#define UMQTT_NATMOD (0)
#define UMQTT_ARG_TABLE static const
#define UMQTT_DECLARE_TYPE(type) extern const mp_obj_type_t type
#define UMQTT_DEFINE_TYPE_2(type, name, s0, v0, s1, v1) \
    MP_DEFINE_CONST_OBJ_TYPE(type, MP_QSTR_##name, MP_TYPE_FLAG_NONE, s0, v0, s1, v1)
#define UMQTT_DEFINE_TYPE_4(type, name, s0, v0, s1, v1, s2, v2, s3, v3) \
    MP_DEFINE_CONST_OBJ_TYPE(type, MP_QSTR_##name, MP_TYPE_FLAG_NONE, s0, v0, s1, v1, s2, v2, s3, v3)
#define UMQTT_DEFINE_EXCEPTION(name, base) MP_DEFINE_EXCEPTION(name, base)
#define UMQTT_ROM_ENTRY(name, value) { MP_ROM_QSTR(MP_QSTR_##name), value },
#define UMQTT_DEFINE_LOCALS(dict, LIST) \
    static const mp_rom_map_elem_t dict##_table[] = { LIST(UMQTT_ROM_ENTRY) }; \
    static MP_DEFINE_CONST_DICT(dict, dict##_table);
#define UMQTT_LOCALS(dict) (&dict)
// getter, setter, deleter: py/objproperty.c's layout
typedef struct {
    mp_obj_base_t base;
    mp_rom_obj_t proxy[3];
} umqtt_property_t;
#define UMQTT_DEFINE_PROPERTY(name, getter, setter) \
    static const umqtt_property_t name##_property = { \
        { &mp_type_property }, { MP_ROM_PTR(getter), MP_ROM_PTR(setter), MP_ROM_NONE } \
    };
#define UMQTT_PROPERTY(name, getter, setter) (MP_OBJ_FROM_PTR(&name##_property))
#define UMQTT_PORT_FIELDS
#define UMQTT_EMPTY_DICT() (MP_OBJ_FROM_PTR(&mp_const_empty_dict_obj))
#define UMQTT_PORT_INIT(self) ((void)(self))
#define UMQTT_PORT_FORGET(self) ((void)(self))
#endif

// The module is built in unless a port's config says otherwise.
#ifndef MICROPY_PY_UMQTT
#define MICROPY_PY_UMQTT (1)
#endif

// Where sockets have file descriptors, poll() on one replaces the MP_STREAM_POLL
// loop of other ports (a shortcut only: every stream is waited on without it).
#ifndef UMQTT_GLUE_POSIX
#if (defined(__unix__) || defined(__APPLE__)) && !UMQTT_NATMOD
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
    // What a native .mpy keeps for the port services it reaches through Python.
    UMQTT_PORT_FIELDS
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

// The module's types: the blocking client (modumqtt.c), the engine umqtt.aio drives
// (umqtt_engine.c), the broker's refusals (umqtt_errors.c).
UMQTT_DECLARE_TYPE(umqtt_type_MQTTClient);
UMQTT_DECLARE_TYPE(umqtt_type_Engine);
UMQTT_DECLARE_TYPE(mp_type_MQTTException);
#if UMQTT_NATMOD
#define umqtt_type_MQTTClient UMQTT_TYPE(umqtt_type_MQTTClient)
#define umqtt_type_Engine UMQTT_TYPE(umqtt_type_Engine)
#define mp_type_MQTTException UMQTT_TYPE(mp_type_MQTTException)
#endif

umqtt_obj_t *umqtt_glue_new_client(const mp_obj_type_t *type);

// The fields of MQTTClient as properties of cls, a Python class derived from it.
void umqtt_glue_add_properties(mp_obj_t cls);

#if UMQTT_NATMOD
void umqtt_natmod_port_init(umqtt_obj_t *self);
#define UMQTT_PORT_INIT(self) (umqtt_natmod_port_init(self))
#endif

// The port's millisecond clock and event wait (mp_hal_ticks_ms, mp_event_wait_ms; in a
// native .mpy time.ticks_ms and select.poll: umqtt_natmod.c).
uint32_t umqtt_glue_ticks_ms(umqtt_obj_t *self);
void umqtt_glue_event_wait(umqtt_call_t *call, bool for_write, int32_t timeout_ms);

// umqtt_errors.c: after each engine call, raise what a callback caught or the engine's error.
int32_t umqtt_glue_finish(umqtt_call_t *call, int32_t rc);
MP_NORETURN void umqtt_glue_raise(umqtt_obj_t *self, int32_t rc);

// umqtt_args.c: Python arguments as the engine takes them (ValueError when out of range).
umqtt_bytes_t umqtt_glue_bytes(mp_obj_t obj);
uint8_t umqtt_glue_qos(mp_obj_t qos);
uint16_t umqtt_glue_keepalive(mp_obj_t keepalive);
int32_t umqtt_glue_timeout(mp_obj_t timeout);

#endif // UMQTT_GLUE_H
