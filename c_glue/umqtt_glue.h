/*
 * umqtt_glue.h - private header of the MicroPython shims around the umqtt C ABI.
 *
 * modumqtt.c holds the Python-facing module and class; umqtt_io.c the
 * umqtt_env_t callbacks that move bytes between the Rust engine and a socket.
 */
#ifndef UMQTT_GLUE_H
#define UMQTT_GLUE_H

#include "py/obj.h"
#include "py/stream.h"
#include "umqtt_native.h"

// A QoS 1/2 publish not acknowledged yet: what connect() sends again (same
// packet id) when the broker resumes the session, or afresh when it does not.
typedef struct _umqtt_unfinished_t {
    mp_obj_t topic; // MP_OBJ_NULL: no such publish
    mp_obj_t msg;
    int32_t ticket; // the engine's; 0: none there (it never left whole)
    uint8_t qos;
    bool retain;
    bool done; // connect() completed it after its publish() had failed
    struct _umqtt_unfinished_t *outer; // the publish() further down the C stack
} umqtt_unfinished_t;

// An MQTTClient. Everything the engine touches between calls is in here, so
// the GC sees it: the engine's own state lives in mem[], and the message being
// received (whose payload may arrive over several check_msg calls) is rx_*.
typedef struct _umqtt_obj_t {
    mp_obj_base_t base;
    // umqtt.simple's instance attributes, kept as the objects the user gave.
    mp_obj_t sock;
    // The TCP socket under a TLS wrapper that connect() made (None otherwise):
    // its descriptor tells whether sock is blocking and is what poll() waits on.
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
    // Topic and payload of the incoming message the sink callback started.
    mp_obj_t rx_topic;
    vstr_t rx_msg;
    // The publish() calls awaiting acknowledgement, innermost first (on the C
    // stack: a callback may publish while an outer publish waits).
    umqtt_unfinished_t *publishing;
    // The last publish() that failed with the connection: connect() finishes it.
    umqtt_unfinished_t failed;
    // Room for an outgoing packet larger than the engine's transmit buffer.
    byte *scratch;
    size_t scratch_len;
    // umqtt_client_size() bytes at the first umqtt_client_align() boundary.
    byte mem[];
} umqtt_obj_t;

// How a call may wait for input (see umqtt_io.c's env_wait).
typedef enum {
    UMQTT_GLUE_OTHER,
    UMQTT_GLUE_WAIT_MSG, // wait_msg: may read without waiting (see umqtt_io.c)
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
    // File descriptor for poll(): -2 not asked yet, -1 none.
    int fd;
} umqtt_call_t;

umqtt_client_t *umqtt_glue_client(umqtt_obj_t *self);

// Prepares call and env for a call on self->sock.
void umqtt_glue_env(umqtt_call_t *call, umqtt_env_t *env, umqtt_obj_t *self, umqtt_glue_kind_t kind);

#endif // UMQTT_GLUE_H
