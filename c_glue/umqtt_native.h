/*
 * umqtt_native.h - the C ABI of the umqtt-native MQTT 3.1.1 engine.
 *
 * This header is the one source of truth for the Rust/C boundary: the Rust
 * side (src/ffi/bindings.rs) is generated from it with bindgen and committed;
 * `cargo test` regenerates it and fails when the two drift apart.
 *
 * Ownership: the caller owns every byte. A client is umqtt_client_size()
 * bytes aligned to umqtt_client_align(), allocated wherever the caller likes
 * (MicroPython: inside the client object on the GC heap) and set up with
 * umqtt_client_init(). The library keeps no global state; any number of
 * clients may live at once.
 *
 * Callbacks: every call that does I/O takes a umqtt_env_t. Callbacks must not
 * unwind (no longjmp, no C++ exception) through the library: a callback that
 * catches an error of its own returns UMQTT_IO_EXCEPTION (or NULL for the
 * buffer callbacks), the call returns UMQTT_ERR_CALLBACK, and the caller
 * re-raises what it caught. Callbacks must not call into the same client.
 */
#ifndef UMQTT_NATIVE_H
#define UMQTT_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this ABI. A change that breaks a caller built against an
 * earlier header (a signature, a struct layout, a code's meaning) bumps it;
 * umqtt_abi_version() tells what the linked engine implements. */
#define UMQTT_ABI_VERSION (2)

/* Opaque client state. */
typedef struct umqtt_client umqtt_client_t;

/* ---- transport and callback return conventions ------------------------ */

/* read/write return the number of bytes moved (> 0) or one of these. */
#define UMQTT_IO_WOULD_BLOCK (-1)  /* nothing can move now (EAGAIN) */
#define UMQTT_IO_CLOSED (-2)       /* the peer closed the connection */
#define UMQTT_IO_EXCEPTION (-3)    /* the callback caught an error it keeps */
#define UMQTT_IO_ERRNO_BASE (-1000) /* UMQTT_IO_ERRNO_BASE - errno: OS error */

/* wait() timeout meaning "no limit". */
#define UMQTT_WAIT_FOREVER (-1)

/* Read up to len bytes. Called after wait() reported readable (a transport
 * that cannot wait reports readable at once; its read then blocks as it does
 * or returns UMQTT_IO_WOULD_BLOCK). */
typedef intptr_t (*umqtt_read_fn)(void *ctx, uint8_t *buf, size_t len);
/* Write up to len bytes. A packet up to UMQTT_TX_CAPACITY bytes is offered in
 * one call; a larger one as its header, then its payload from the caller's
 * memory; the rest of a partly taken offer is offered next. */
typedef intptr_t (*umqtt_write_fn)(void *ctx, const uint8_t *buf, size_t len);
/* Wait until the transport is readable (for_write == 0) or writable, at most
 * timeout_ms (UMQTT_WAIT_FOREVER: no limit). Returns 1 when ready, 0 on
 * timeout, or a UMQTT_IO_* code. */
typedef int32_t (*umqtt_wait_fn)(void *ctx, int32_t for_write, int32_t timeout_ms);
/* A monotonic millisecond clock; it may wrap around. */
typedef uint32_t (*umqtt_clock_fn)(void *ctx);
/* Message sink: an incoming PUBLISH with this topic and payload_len bytes of
 * payload begins. Return where the payload goes (payload_len writable bytes,
 * kept valid until the message event is returned; the engine reads straight
 * into it), or NULL on failure (the payload is then skipped, the message is
 * not acknowledged, and the call returns UMQTT_ERR_CALLBACK; the connection
 * stays). When payload_len is 0 any non-NULL pointer will do. */
typedef uint8_t *(*umqtt_sink_fn)(void *ctx, const uint8_t *topic, size_t topic_len,
    size_t payload_len);

/* A borrowed byte string. ptr == NULL means "absent" (no user, no will...). */
typedef struct umqtt_bytes {
    const uint8_t *ptr;
    size_t len;
} umqtt_bytes_t;

/* The bytes behind the handles a message was published with (see
 * umqtt_message_t): set *topic and *payload and return 1, or return 0 when
 * they are gone (the engine then forgets that publish). May be NULL. */
typedef int32_t (*umqtt_message_fn)(void *ctx, uintptr_t topic_ref, uintptr_t payload_ref,
    umqtt_bytes_t *topic, umqtt_bytes_t *payload);

/* Everything a call needs from its surroundings, passed to each call. */
typedef struct umqtt_env {
    void *ctx; /* handed to every callback below */
    umqtt_read_fn read;
    umqtt_write_fn write;
    umqtt_wait_fn wait;
    umqtt_clock_fn now_ms;
    umqtt_sink_fn sink;
    umqtt_message_fn message;
} umqtt_env_t;

/* ---- results ---------------------------------------------------------- */

/* Non-negative results of umqtt_await and umqtt_wait_msg. */
#define UMQTT_DONE (0)    /* await: the operation completed; wait_msg: nothing delivered */
#define UMQTT_MESSAGE (1) /* a message went to the sink; see the event; call again */
#define UMQTT_PACKET (2)  /* wait_msg: a packet other than PUBLISH was handled */
#define UMQTT_CONNECTED (3) /* umqtt_step_event: CONNACK accepted (see event.session_present) */
#define UMQTT_PENDING (4) /* umqtt_step_status: still awaiting acknowledgement */

/* Errors (negative). umqtt_error_detail() and umqtt_error_message() tell more. */
#define UMQTT_ERR_IO (-1)           /* transport error; detail: errno */
#define UMQTT_ERR_CLOSED (-2)       /* the broker closed the connection */
#define UMQTT_ERR_TIMEOUT (-3)      /* no answer within the connect timeout */
#define UMQTT_ERR_PROTOCOL (-4)     /* malformed or unexpected packet; connection dropped */
#define UMQTT_ERR_REFUSED (-5)      /* CONNACK refused; detail: return code 1..5 */
#define UMQTT_ERR_SUBSCRIBE (-6)    /* SUBACK failure; detail: 0x80 */
#define UMQTT_ERR_NOT_CONNECTED (-7)
#define UMQTT_ERR_INVALID_ARG (-8)  /* message names the argument */
#define UMQTT_ERR_TOO_LARGE (-9)    /* packet over MQTT's limits; incoming topic over the buffer */
#define UMQTT_ERR_BUSY (-10)        /* too many operations awaiting acknowledgement */
#define UMQTT_ERR_CALLBACK (-11)    /* a callback returned UMQTT_IO_EXCEPTION / NULL */
#define UMQTT_ERR_KEEPALIVE (-12)   /* the broker fell silent past the keepalive window */
#define UMQTT_ERR_WOULD_BLOCK (-13) /* step calls: write the queued output first */

/* What umqtt_await / umqtt_wait_msg handled. */
typedef struct umqtt_event {
    uint8_t packet_type; /* first byte of the packet handled (umqtt.simple's return value) */
    uint8_t qos;         /* MESSAGE: QoS of the PUBLISH */
    uint8_t retain;      /* MESSAGE: retain flag */
    uint8_t dup;         /* MESSAGE: dup flag */
    uint16_t packet_id;  /* MESSAGE: packet id (0 at QoS 0) */
    uint8_t granted_qos; /* await of a subscribe: the QoS the broker granted */
    uint8_t session_present; /* CONNECTED: the broker kept the session */
    size_t payload_len;  /* MESSAGE: bytes written to the sink's buffer */
} umqtt_event_t;

/* An outgoing message. topic_ref and payload_ref are the caller's handles on
 * its topic and payload (MicroPython: the objects), kept by the engine while
 * a QoS 1/2 publish is unfinished, so that it can send it again after a
 * reconnect (env->message gives the bytes back); 0 and 0: no handles (such
 * a publish is not sent again, but a PUBREL still owed for it is). The
 * engine's memory holds them, so a garbage collector that scans the client
 * sees them (and slots it frees are overwritten). */
typedef struct umqtt_message {
    umqtt_bytes_t topic;
    umqtt_bytes_t payload;
    uint8_t qos;
    uint8_t retain;
    uint8_t reserved[2];
    uintptr_t topic_ref;
    uintptr_t payload_ref;
} umqtt_message_t;

typedef struct umqtt_connect_options {
    umqtt_bytes_t client_id;
    umqtt_bytes_t user;         /* NULL: no user name (and no password) */
    umqtt_bytes_t password;     /* NULL: no password */
    umqtt_bytes_t will_topic;   /* NULL: no Last Will */
    umqtt_bytes_t will_message;
    uint8_t will_qos;
    uint8_t will_retain;
    uint8_t clean_session;
    uint8_t reserved;
    uint16_t keepalive_s;       /* 0: no keepalive */
    int32_t timeout_ms;         /* limit on every wait for the broker; UMQTT_WAIT_FOREVER: none */
} umqtt_connect_options_t;

/* umqtt_wait_msg timeouts besides a number of ms (0: never block) and
 * UMQTT_WAIT_FOREVER: handle only a packet already whole in the receive
 * buffer, reading nothing. */
#define UMQTT_WAIT_BUFFERED (-2)

/* Buffer sizes of a client. The receive buffer holds any control packet and a
 * PUBLISH's topic (payloads stream past it); a packet up to the transmit
 * buffer's size (a 1 KiB payload with its topic) leaves in one write, a larger
 * one as its header, then its payload straight from the caller's memory. */
#define UMQTT_RX_CAPACITY 512
#define UMQTT_TX_CAPACITY 1280

/* ---- calls ------------------------------------------------------------ */

int32_t umqtt_abi_version(void);
size_t umqtt_client_size(void);
size_t umqtt_client_align(void);
/* Set up a client in mem (mem_size bytes, aligned). UMQTT_DONE or
 * UMQTT_ERR_INVALID_ARG when mem is too small or misaligned. */
int32_t umqtt_client_init(umqtt_client_t *client, size_t mem_size);

/* Send CONNECT, wait for CONNACK. Returns the session-present flag (0 or 1).
 * Then, with env->message set, every unfinished QoS 1/2 publish of an earlier
 * connection that carried handles goes out again, as MQTT 3.1.1 4.4 asks: on a
 * kept session under its packet id (PUBLISH with DUP=1, or PUBREL once PUBREC
 * came), on a new one as a new message. Its ticket stays valid for umqtt_await. */
int32_t umqtt_connect(umqtt_client_t *client, const umqtt_env_t *env,
    const umqtt_connect_options_t *options);
/* Take over a connection whose CONNECT and CONNACK happened elsewhere
 * (umqtt.simple lets a script assign its socket): from now on the client is
 * connected with this keepalive. Nothing is sent. */
int32_t umqtt_adopt(umqtt_client_t *client, const umqtt_env_t *env, uint16_t keepalive_s);
/* Send PUBLISH. Returns 0 at QoS 0, else a ticket (> 0) for umqtt_await.
 * A packet that fits the client's transmit buffer leaves in one write; a
 * larger one as its header, then the payload straight from payload.ptr. */
int32_t umqtt_publish(umqtt_client_t *client, const umqtt_env_t *env, umqtt_bytes_t topic,
    umqtt_bytes_t payload, uint8_t qos, uint8_t retain);
/* umqtt_publish with handles on the message (see umqtt_message_t). Right
 * after umqtt_connect sent unfinished publishes again (before any other call
 * or wait), a QoS 1/2 publish whose topic, payload, qos and retain are those
 * of one whose caller gave up (umqtt_abandon: its await failed) sends nothing
 * and returns that publish's ticket: a retry (umqtt.robust's) is awaited
 * instead of delivered twice. */
int32_t umqtt_publish_message(umqtt_client_t *client, const umqtt_env_t *env,
    const umqtt_message_t *message);
/* Send SUBSCRIBE for one filter. Returns a ticket for umqtt_await. */
int32_t umqtt_subscribe(umqtt_client_t *client, const umqtt_env_t *env, umqtt_bytes_t filter,
    uint8_t qos);
/* Send UNSUBSCRIBE for one filter. Returns a ticket for umqtt_await. */
int32_t umqtt_unsubscribe(umqtt_client_t *client, const umqtt_env_t *env, umqtt_bytes_t filter);
/* Wait for the acknowledgement of ticket. Returns UMQTT_DONE when it is
 * complete, UMQTT_MESSAGE when a message arrived meanwhile (deliver it, then
 * call again: other operations may run in between), or an error. */
int32_t umqtt_await(umqtt_client_t *client, const umqtt_env_t *env, int32_t ticket,
    umqtt_event_t *event);
/* Forget a ticket whose caller gave up (its acknowledgement is still consumed). */
void umqtt_abandon(umqtt_client_t *client, int32_t ticket);
/* Send PINGREQ; the PINGRESP is consumed by later waits. */
int32_t umqtt_ping(umqtt_client_t *client, const umqtt_env_t *env);
/* Handle incoming packets until one is delivered or handled, waiting at most
 * timeout_ms (UMQTT_WAIT_FOREVER: no limit; 0: never block; UMQTT_WAIT_BUFFERED:
 * see there); UMQTT_DONE when none came. Waits are bounded by keepalive so
 * PINGREQ goes out on time, and a silent broker gives UMQTT_ERR_KEEPALIVE. A
 * read that would block gives UMQTT_DONE (a non-blocking socket, as
 * umqtt.simple). A partial packet is kept for the next call. PINGRESP gives
 * UMQTT_PACKET too. A QoS 1/2 message (UMQTT_MESSAGE) is acknowledged only
 * by umqtt_ack. */
int32_t umqtt_wait_msg(umqtt_client_t *client, const umqtt_env_t *env, int32_t timeout_ms,
    umqtt_event_t *event);
/* The application is done with the message whose event had packet_id (its
 * callback returned normally): send the PUBACK (QoS 1) or PUBREC (QoS 2)
 * owed for it. Never called (the callback failed): the message stays
 * unacknowledged and the broker delivers it again after a reconnect to the
 * kept session. Nothing is sent for QoS 0 or for an id not owed; a reconnect
 * forgets what was owed. Call it only while the connection the message came
 * on is open: on a later one the same id may be owed for another message. */
int32_t umqtt_ack(umqtt_client_t *client, const umqtt_env_t *env, uint16_t packet_id);
/* The first byte of a whole packet waiting in the receive buffer (0: none):
 * umqtt_wait_msg handles it without reading, and a poll on the transport does
 * not show it. */
int32_t umqtt_buffered_packet(const umqtt_client_t *client);
/* Send DISCONNECT and forget the connection. */
int32_t umqtt_disconnect(umqtt_client_t *client, const umqtt_env_t *env);
/* Forget the connection without sending anything (after an error). */
void umqtt_reset(umqtt_client_t *client);
int32_t umqtt_is_connected(const umqtt_client_t *client);
/* The last packet id used (umqtt.simple's `pid`). */
uint16_t umqtt_last_packet_id(const umqtt_client_t *client);

/* ---- step calls: the engine without blocking --------------------------- *
 *
 * The same engine for an event loop (asyncio): nothing here reads, writes or
 * waits. Operations queue their packets; the caller writes what
 * umqtt_step_output gives, reads into what umqtt_step_input gives, handles
 * input with umqtt_step_event, and calls umqtt_step_tick by the deadline it
 * returns. The env's read/write/wait/now_ms are not used (NULL will do); its
 * sink receives messages, its message callback gives back resent bytes. A
 * large payload is not copied: it stays the caller's and must stay valid and
 * unchanged until umqtt_step_output has given all of it. After an error the
 * caller closes the transport and calls umqtt_reset. */

/* Queue CONNECT at now_ms. UMQTT_CONNECTED from umqtt_step_event follows; a
 * CONNACK later than options->timeout_ms (or 1.5 keepalive) fails the tick. */
int32_t umqtt_step_connect(umqtt_client_t *client, const umqtt_connect_options_t *options,
    uint32_t now_ms);
/* After UMQTT_CONNECTED: queue the next unfinished publish of an earlier
 * connection (see umqtt_connect). Returns its ticket, 0 when none is left. */
int32_t umqtt_step_resend(umqtt_client_t *client, const umqtt_env_t *env);
/* Queue a PUBLISH: 0 at QoS 0, else a ticket (umqtt_step_status). Packets of
 * small messages queue behind each other (several publishes in flight);
 * UMQTT_ERR_WOULD_BLOCK: the queue is full or holds a large payload, write
 * it first. */
int32_t umqtt_step_publish(umqtt_client_t *client, const umqtt_env_t *env,
    const umqtt_message_t *message);
/* Queue SUBSCRIBE / UNSUBSCRIBE for one filter; returns a ticket. */
int32_t umqtt_step_subscribe(umqtt_client_t *client, umqtt_bytes_t filter, uint8_t qos);
int32_t umqtt_step_unsubscribe(umqtt_client_t *client, umqtt_bytes_t filter);
/* Queue PINGREQ / DISCONNECT (write it, then close and umqtt_reset). */
int32_t umqtt_step_ping(umqtt_client_t *client, uint32_t now_ms);
int32_t umqtt_step_disconnect(umqtt_client_t *client);
/* Queue the PUBACK/PUBREC owed for a delivered message (see umqtt_ack). */
int32_t umqtt_step_ack(umqtt_client_t *client, uint16_t packet_id);
/* The next piece of output: 1 with *data and *len set, 0 when nothing waits.
 * The piece stays valid until the next call on the client (a queued
 * operation may move the buffered bytes): write it, then umqtt_step_written. */
int32_t umqtt_step_output(umqtt_client_t *client, const uint8_t **data, size_t *len);
/* n bytes of the piece umqtt_step_output gave were written at now_ms. */
void umqtt_step_written(umqtt_client_t *client, size_t n, uint32_t now_ms);
/* Where the next read goes (1 and *buf, *len > 0): the receive buffer, or
 * straight the payload buffer the sink gave for the message being received;
 * 0 when the receive buffer is full (handle events first). */
int32_t umqtt_step_input(umqtt_client_t *client, uint8_t **buf, size_t *len);
/* n > 0 bytes were read into it (a closed transport is the caller's error). */
void umqtt_step_received(umqtt_client_t *client, size_t n);
/* Handle the next whole packet in the input: UMQTT_DONE (none; read more, or
 * write the output first), UMQTT_MESSAGE (in the sink's buffer; acknowledge
 * with umqtt_step_ack once handled), UMQTT_PACKET, UMQTT_CONNECTED, or an
 * error. Replies (PUBREL, PUBCOMP...) are queued. */
int32_t umqtt_step_event(umqtt_client_t *client, const umqtt_env_t *env, umqtt_event_t *event);
/* Where ticket stands: UMQTT_PENDING, UMQTT_DONE (event->granted_qos for a
 * subscribe; the ticket is then forgotten), or an error (SUBACK failure...). */
int32_t umqtt_step_status(umqtt_client_t *client, int32_t ticket, umqtt_event_t *event);
/* Keepalive and the connect timeout at now_ms (PINGREQ is queued when due):
 * the ms until the next call is needed, UMQTT_WAIT_FOREVER for none, or an
 * error (UMQTT_ERR_KEEPALIVE, UMQTT_ERR_TIMEOUT). */
int32_t umqtt_step_tick(umqtt_client_t *client, uint32_t now_ms);

/* About the last error: a number (errno, CONNACK code, SUBACK code) and a
 * static text of *len bytes (not NUL-terminated), e.g. which argument was bad. */
int32_t umqtt_error_detail(const umqtt_client_t *client);
const char *umqtt_error_message(const umqtt_client_t *client, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* UMQTT_NATIVE_H */
