/*
 * modumqtt.c - the built-in `umqtt` module: micropython-lib's umqtt.simple
 * (1.8.0) API on top of the umqtt-native engine (c_glue/umqtt_native.h).
 *
 * `umqtt` holds MQTTClient and MQTTException; `umqtt.simple` is the same
 * pair as a built-in submodule; `umqtt.robust`, when frozen into the firmware
 * (micropython_port/manifest.py), is found through the module's __path__.
 */
#include <string.h>

#include "umqtt_glue.h"
#include "py/objstr.h"

#if MICROPY_PY_UMQTT

#define PINGRESP (0xd0)

// publish() gives the engine its topic and message objects as uintptr_t handles.
MP_STATIC_ASSERT(sizeof(mp_obj_t) <= sizeof(uintptr_t));

// The client behind self_in, which may be an instance of a Python subclass.
static umqtt_obj_t *native_self(mp_obj_t self_in) {
    return MP_OBJ_TO_PTR(mp_obj_cast_to_native_base(self_in, MP_OBJ_FROM_PTR(&umqtt_type_MQTTClient)));
}

umqtt_client_t *umqtt_glue_client(umqtt_obj_t *self) {
    uintptr_t align = umqtt_client_align();
    return (umqtt_client_t *)(((uintptr_t)self->mem + align - 1) & ~(align - 1));
}

static const umqtt_bytes_t absent = { .ptr = NULL, .len = 0 };

// The env for a call that talks to the broker through self->sock.
static umqtt_client_t *begin(umqtt_call_t *call, umqtt_env_t *env, umqtt_obj_t *self, umqtt_glue_kind_t kind) {
    if (self->sock == mp_const_none) {
        mp_raise_ValueError(MP_ERROR_TEXT("sock is None: call connect() first"));
    }
    umqtt_glue_env(call, env, self, kind);
    return umqtt_glue_client(self);
}

/******************************************************************************/
// Connections

// The engine drops its connection and a new one begins: a message half
// received is gone, acknowledgements owed on the old one are not sent, and
// output the Engine queued no longer borrows its objects.
void umqtt_glue_forget_connection(umqtt_obj_t *self) {
    umqtt_reset(umqtt_glue_client(self));
    self->connection += 1;
    self->rx_topic = mp_const_none;
    self->rx_buf = NULL;
    self->lent_topic = mp_const_none;
    self->lent_msg = mp_const_none;
    UMQTT_PORT_FORGET(self);
}

/******************************************************************************/
// Incoming messages and acknowledgements

// Hands the message the sink received to the callback, as umqtt does:
// cb(topic, msg). Only once it returned normally does the broker get its
// PUBACK/PUBREC: a callback that raises (or a board reset inside it) leaves
// the message to be delivered again after a reconnect.
static void deliver(umqtt_obj_t *self, const umqtt_event_t *event) {
    mp_obj_t topic = self->rx_topic;
    mp_obj_t msg = umqtt_glue_take_payload(self, event->payload_len);
    // Cleared first: the callback may receive messages of its own.
    self->rx_topic = mp_const_none;
    uint16_t connection = self->connection;
    self->delivering += 1;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_call_function_2(self->cb, topic, msg);
        nlr_pop();
        self->delivering -= 1;
    } else {
        self->delivering -= 1;
        nlr_jump(nlr.ret_val);
    }
    if (event->qos > 0 && self->connection == connection) {
        umqtt_call_t call;
        umqtt_env_t env;
        umqtt_glue_env(&call, &env, self, UMQTT_GLUE_OTHER);
        umqtt_glue_finish(&call, umqtt_ack(umqtt_glue_client(self), &env, event->packet_id));
    }
}

// What wait_msg/check_msg return: the packet type byte, None for nothing or PINGRESP.
static mp_obj_t wait_result(umqtt_obj_t *self, int32_t rc, const umqtt_event_t *event) {
    if (rc == UMQTT_MESSAGE) {
        deliver(self, event);
    } else if (rc != UMQTT_PACKET || event->packet_type == PINGRESP) {
        return mp_const_none;
    }
    return MP_OBJ_NEW_SMALL_INT(event->packet_type);
}

// Handles the packets already whole in the engine's buffer, reading nothing:
// a loop that polls the socket before each check_msg() would not see them
// (several packets may come in one read). After an acknowledgement wait only
// the messages that follow it (publish() and subscribe() deliver what arrives
// while they wait; a packet of another kind is left for wait_msg/check_msg).
// Not inside a callback: the call it runs under drains once it returns, so
// nesting stays shallow.
static void handle_buffered(umqtt_obj_t *self, bool messages_only) {
    umqtt_client_t *client = umqtt_glue_client(self);
    for (;;) {
        int32_t first = umqtt_buffered_packet(client);
        if (self->delivering > 0 || first == 0 || (messages_only && (first & 0xf0) != 0x30)) {
            return;
        }
        umqtt_call_t call;
        umqtt_env_t env;
        umqtt_event_t event;
        umqtt_glue_env(&call, &env, self, UMQTT_GLUE_OTHER);
        int32_t rc = umqtt_glue_finish(&call, umqtt_wait_msg(client, &env, UMQTT_WAIT_BUFFERED, &event));
        if (rc == UMQTT_DONE) {
            return;
        }
        wait_result(self, rc, &event);
    }
}

// Waits for the acknowledgement of ticket, delivering messages meanwhile. A
// callback may reconnect under it: the engine sent the publish again and
// keeps its ticket, or (a clean session) forgot it.
static void await_ticket(umqtt_obj_t *self, int32_t ticket) {
    umqtt_client_t *client = umqtt_glue_client(self);
    uint16_t connection = self->connection;
    for (;;) {
        umqtt_call_t call;
        umqtt_env_t env;
        umqtt_event_t event;
        umqtt_glue_env(&call, &env, self, UMQTT_GLUE_OTHER);
        bool switched = umqtt_glue_tls_nonblocking(self);
        int32_t rc = umqtt_await(client, &env, ticket, &event);
        umqtt_glue_blocking_again(self, switched);
        if (rc == UMQTT_ERR_INVALID_ARG && self->connection != connection) {
            mp_raise_OSError(MP_ENOTCONN); // forgotten with the session it belonged to
        }
        nlr_buf_t nlr;
        if (nlr_push(&nlr) == 0) {
            umqtt_glue_finish(&call, rc);
            if (rc == UMQTT_MESSAGE) {
                deliver(self, &event);
            }
            nlr_pop();
        } else {
            // Nobody waits any more; the engine still consumes the acknowledgement,
            // and sends an unfinished publish again after a reconnect.
            umqtt_abandon(client, ticket);
            nlr_jump(nlr.ret_val);
        }
        if (rc == UMQTT_DONE) {
            handle_buffered(self, true);
            return;
        }
    }
}

/******************************************************************************/
// MQTTClient

// A client object of type (MQTTClient, umqtt.Engine or a subclass) with no
// socket, umqtt.simple's defaults and a fresh engine.
umqtt_obj_t *umqtt_glue_new_client(const mp_obj_type_t *type) {
    size_t mem_size = umqtt_client_size() + umqtt_client_align() - 1;
    umqtt_obj_t *self = mp_obj_malloc_var(umqtt_obj_t, mem, byte, mem_size, type);
    self->sock = mp_const_none;
    self->tcp_sock = mp_const_none;
    self->server = mp_const_none;
    self->port = MP_OBJ_NEW_SMALL_INT(0);
    self->client_id = mp_const_empty_bytes;
    self->user = mp_const_none;
    self->pswd = mp_const_none;
    self->keepalive = MP_OBJ_NEW_SMALL_INT(0);
    self->ssl = mp_const_none;
    self->ssl_params = UMQTT_EMPTY_DICT();
    self->cb = mp_const_none;
    self->lw_topic = mp_const_none;
    self->lw_msg = mp_const_none;
    self->lw_qos = MP_OBJ_NEW_SMALL_INT(0);
    self->lw_retain = mp_const_false;
    self->rx_topic = mp_const_none;
    self->rx_buf = NULL;
    self->lent_topic = mp_const_none;
    self->lent_msg = mp_const_none;
    self->sock_mode = UMQTT_SOCK_UNKNOWN;
    self->delivering = 0;
    self->connection = 0;
    UMQTT_PORT_INIT(self);
    if (umqtt_client_init(umqtt_glue_client(self), umqtt_client_size()) != UMQTT_DONE) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("umqtt client init failed"));
    }
    return self;
}

static mp_obj_t umqtt_client_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_client_id, ARG_server, ARG_port, ARG_user, ARG_password, ARG_keepalive, ARG_ssl, ARG_ssl_params };
    UMQTT_ARG_TABLE mp_arg_t allowed_args[] = {
        { MP_QSTR_client_id, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_server, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_port, MP_ARG_OBJ, {.u_obj = MP_OBJ_NEW_SMALL_INT(0)} },
        { MP_QSTR_user, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_password, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_keepalive, MP_ARG_OBJ, {.u_obj = MP_OBJ_NEW_SMALL_INT(0)} },
        { MP_QSTR_ssl, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_ssl_params, MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    umqtt_obj_t *self = umqtt_glue_new_client(type);
    mp_obj_t port = args[ARG_port].u_obj;
    if (mp_obj_equal(port, MP_OBJ_NEW_SMALL_INT(0))) {
        port = MP_OBJ_NEW_SMALL_INT(mp_obj_is_true(args[ARG_ssl].u_obj) ? 8883 : 1883);
    }
    self->server = args[ARG_server].u_obj;
    self->port = port;
    self->client_id = args[ARG_client_id].u_obj;
    self->user = args[ARG_user].u_obj;
    self->pswd = args[ARG_password].u_obj;
    self->keepalive = args[ARG_keepalive].u_obj;
    self->ssl = args[ARG_ssl].u_obj;
    if (args[ARG_ssl_params].u_obj != MP_OBJ_NULL) {
        self->ssl_params = args[ARG_ssl_params].u_obj;
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t umqtt_client_set_callback(mp_obj_t self_in, mp_obj_t f) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    self->cb = f;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(umqtt_client_set_callback_obj, umqtt_client_set_callback);

// set_last_will and publish take the same arguments: (topic, msg, retain=False, qos=0).
enum { MSG_ARG_topic, MSG_ARG_msg, MSG_ARG_retain, MSG_ARG_qos };
#define MESSAGE_ARGS(name) \
    UMQTT_ARG_TABLE mp_arg_t name[] = { \
        { MP_QSTR_topic, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} }, \
        { MP_QSTR_msg, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} }, \
        { MP_QSTR_retain, MP_ARG_OBJ, {.u_obj = mp_const_false} }, \
        { MP_QSTR_qos, MP_ARG_OBJ, {.u_obj = MP_OBJ_NEW_SMALL_INT(0)} }, \
    }

static mp_obj_t umqtt_client_set_last_will(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    MESSAGE_ARGS(message_args);
    mp_arg_val_t args[MP_ARRAY_SIZE(message_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(message_args), message_args, args);
    umqtt_glue_qos(args[MSG_ARG_qos].u_obj);
    if (!mp_obj_is_true(args[MSG_ARG_topic].u_obj)) {
        mp_raise_ValueError(MP_ERROR_TEXT("topic must not be empty"));
    }
    self->lw_topic = args[MSG_ARG_topic].u_obj;
    self->lw_msg = args[MSG_ARG_msg].u_obj;
    self->lw_qos = args[MSG_ARG_qos].u_obj;
    self->lw_retain = args[MSG_ARG_retain].u_obj;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(umqtt_client_set_last_will_obj, 3, umqtt_client_set_last_will);

static mp_obj_t umqtt_client_connect(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_clean_session, ARG_timeout };
    UMQTT_ARG_TABLE mp_arg_t allowed_args[] = {
        { MP_QSTR_clean_session, MP_ARG_OBJ, {.u_obj = mp_const_true} },
        { MP_QSTR_timeout, MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    umqtt_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    umqtt_connect_options_t options = {
        .client_id = umqtt_glue_bytes(self->client_id),
        .user = absent,
        .password = absent,
        .will_topic = absent,
        .will_message = absent,
        .clean_session = mp_obj_is_true(args[ARG_clean_session].u_obj),
        .keepalive_s = umqtt_glue_keepalive(self->keepalive),
        .timeout_ms = umqtt_glue_timeout(args[ARG_timeout].u_obj),
    };
    if (mp_obj_is_true(self->user)) {
        options.user = umqtt_glue_bytes(self->user);
        if (self->pswd != mp_const_none) {
            options.password = umqtt_glue_bytes(self->pswd);
        }
    }
    if (mp_obj_is_true(self->lw_topic)) {
        options.will_topic = umqtt_glue_bytes(self->lw_topic);
        options.will_message = umqtt_glue_bytes(self->lw_msg);
        options.will_qos = umqtt_glue_qos(self->lw_qos);
        options.will_retain = mp_obj_is_true(self->lw_retain);
    }

    umqtt_client_t *client = umqtt_glue_client(self);
    umqtt_glue_forget_connection(self);
    if (self->sock != mp_const_none) {
        umqtt_glue_call_method(self->sock, MP_QSTR_close, 0, NULL);
    }
    umqtt_glue_open_socket(self, args[ARG_timeout].u_obj, options.timeout_ms);

    umqtt_call_t call;
    umqtt_env_t env;
    begin(&call, &env, self, UMQTT_GLUE_OTHER);
    bool switched = umqtt_glue_tls_nonblocking(self);
    int32_t connected = umqtt_connect(client, &env, &options);
    umqtt_glue_blocking_again(self, switched);
    return MP_OBJ_NEW_SMALL_INT(umqtt_glue_finish(&call, connected));
}
static MP_DEFINE_CONST_FUN_OBJ_KW(umqtt_client_connect_obj, 1, umqtt_client_connect);

static mp_obj_t umqtt_client_disconnect(mp_obj_t self_in) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = begin(&call, &env, self, UMQTT_GLUE_OTHER);
    int32_t rc = umqtt_disconnect(client, &env);
    umqtt_glue_call_method(self->sock, MP_QSTR_close, 0, NULL);
    // Disconnecting a connection that already dropped is not an error.
    umqtt_glue_finish(&call, rc == UMQTT_ERR_NOT_CONNECTED ? UMQTT_DONE : rc);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(umqtt_client_disconnect_obj, umqtt_client_disconnect);

static mp_obj_t umqtt_client_ping(mp_obj_t self_in) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = begin(&call, &env, self, UMQTT_GLUE_OTHER);
    umqtt_glue_finish(&call, umqtt_ping(client, &env));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(umqtt_client_ping_obj, umqtt_client_ping);

static mp_obj_t umqtt_client_publish(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    MESSAGE_ARGS(message_args);
    mp_arg_val_t args[MP_ARRAY_SIZE(message_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(message_args), message_args, args);
    mp_obj_t topic = args[MSG_ARG_topic].u_obj;
    mp_obj_t msg = args[MSG_ARG_msg].u_obj;
    // The objects are the message's handles: the engine keeps them while the
    // publish is unfinished and sends it again after a reconnect itself.
    umqtt_message_t message = {
        .topic = umqtt_glue_bytes(topic),
        .payload = umqtt_glue_bytes(msg),
        .qos = umqtt_glue_qos(args[MSG_ARG_qos].u_obj),
        .retain = mp_obj_is_true(args[MSG_ARG_retain].u_obj),
        .topic_ref = (uintptr_t)topic,
        .payload_ref = (uintptr_t)msg,
    };
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = begin(&call, &env, self, UMQTT_GLUE_OTHER);
    int32_t ticket = umqtt_glue_finish(&call, umqtt_publish_message(client, &env, &message));
    if (ticket > 0) {
        await_ticket(self, ticket);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(umqtt_client_publish_obj, 3, umqtt_client_publish);

static mp_obj_t umqtt_client_subscribe(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_topic, ARG_qos };
    UMQTT_ARG_TABLE mp_arg_t allowed_args[] = {
        { MP_QSTR_topic, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_qos, MP_ARG_OBJ, {.u_obj = MP_OBJ_NEW_SMALL_INT(0)} },
    };
    umqtt_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (self->cb == mp_const_none) {
        // umqtt.simple asserts the same, with the same words.
        mp_raise_msg(&mp_type_AssertionError, MP_ERROR_TEXT("Subscribe callback is not set"));
    }
    uint8_t qos = umqtt_glue_qos(args[ARG_qos].u_obj);
    umqtt_bytes_t topic = umqtt_glue_bytes(args[ARG_topic].u_obj);

    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = begin(&call, &env, self, UMQTT_GLUE_OTHER);
    int32_t ticket = umqtt_glue_finish(&call, umqtt_subscribe(client, &env, topic, qos));
    await_ticket(self, ticket);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(umqtt_client_subscribe_obj, 2, umqtt_client_subscribe);

static mp_obj_t umqtt_client_unsubscribe(mp_obj_t self_in, mp_obj_t topic_in) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    umqtt_bytes_t topic = umqtt_glue_bytes(topic_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = begin(&call, &env, self, UMQTT_GLUE_OTHER);
    int32_t ticket = umqtt_glue_finish(&call, umqtt_unsubscribe(client, &env, topic));
    await_ticket(self, ticket);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(umqtt_client_unsubscribe_obj, umqtt_client_unsubscribe);

// How wait_msg waits for its first packet. With keepalive on a socket in a
// mode the module set (blocking, or a timeout connect() gave it), waits are
// bounded through MP_STREAM_POLL so that PINGREQ goes out on time and a silent
// broker is noticed. Otherwise, as umqtt.simple, the read waits as the socket
// does: a socket the script may have set non-blocking (umqtt.robust's
// check_msg does) gives None at once.
static umqtt_glue_kind_t wait_msg_kind(umqtt_obj_t *self, int32_t *timeout_ms) {
    *timeout_ms = UMQTT_WAIT_FOREVER;
    if (umqtt_glue_keepalive(self->keepalive) == 0 || self->sock_mode == UMQTT_SOCK_UNKNOWN || self->sock_mode == 0) {
        return UMQTT_GLUE_DIRECT;
    }
    if (self->sock_mode > 0) {
        *timeout_ms = self->sock_mode;
    }
    return UMQTT_GLUE_OTHER;
}

static mp_obj_t umqtt_client_wait_msg(mp_obj_t self_in) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_event_t event;
    int32_t timeout_ms;
    umqtt_glue_kind_t kind = wait_msg_kind(self, &timeout_ms);
    umqtt_client_t *client = begin(&call, &env, self, kind);
    bool switched = kind == UMQTT_GLUE_OTHER && umqtt_glue_tls_nonblocking(self);
    int32_t raw = umqtt_wait_msg(client, &env, timeout_ms, &event);
    umqtt_glue_blocking_again(self, switched);
    int32_t rc = umqtt_glue_finish(&call, raw);
    // As umqtt.simple: whatever mode the socket was in, it leaves blocking.
    umqtt_glue_setblocking(self, true);
    mp_obj_t result = wait_result(self, rc, &event);
    handle_buffered(self, false);
    return result;
}
static MP_DEFINE_CONST_FUN_OBJ_1(umqtt_client_wait_msg_obj, umqtt_client_wait_msg);

static mp_obj_t umqtt_client_check_msg(mp_obj_t self_in) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_event_t event;
    umqtt_client_t *client = begin(&call, &env, self, UMQTT_GLUE_OTHER);
    // A plain socket of known mode is read only once polled readable, so no
    // read can block. Otherwise non-blocking as umqtt.simple makes it: a TLS
    // record may be readable only in part, and a fake socket is read at once.
    bool plain = self->sock_mode != UMQTT_SOCK_UNKNOWN && self->tcp_sock == mp_const_none && call.stream != NULL;
    if (!plain) {
        umqtt_glue_setblocking(self, false);
    }
    int32_t raw = umqtt_wait_msg(client, &env, 0, &event);
    umqtt_glue_blocking_again(self, !plain); // as umqtt.simple leaves it
    int32_t rc = umqtt_glue_finish(&call, raw);
    mp_obj_t result = wait_result(self, rc, &event);
    handle_buffered(self, false);
    return result;
}
static MP_DEFINE_CONST_FUN_OBJ_1(umqtt_client_check_msg_obj, umqtt_client_check_msg);

// Attributes umqtt.simple's instances have: each is a field of umqtt_obj_t of
// the same name (one list for the attribute slot and the properties below).
#define UMQTT_CLIENT_FIELDS(X) \
    X(sock) X(server) X(port) X(client_id) X(user) X(pswd) X(keepalive) X(ssl) X(ssl_params) \
    X(cb) X(lw_topic) X(lw_msg) X(lw_qos) X(lw_retain)

// The field named attr, or NULL.
#define UMQTT_FIELD_CASE(name) \
    if (attr == MP_QSTR_##name) { \
        return &self->name; \
    }
static mp_obj_t *field_named(umqtt_obj_t *self, qstr attr) {
    UMQTT_CLIENT_FIELDS(UMQTT_FIELD_CASE)
    return NULL;
}

// Assigning sock, as umqtt.simple allows, hands the engine a connection that
// is already open (its CONNECT was someone else's business): the engine is
// put in the connected state without sending anything.
static void connect_as_adopted(umqtt_obj_t *self) {
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_glue_env(&call, &env, self, UMQTT_GLUE_OTHER);
    umqtt_glue_finish(&call, umqtt_adopt(umqtt_glue_client(self), &env, umqtt_glue_keepalive(self->keepalive)));
}

static void umqtt_client_set_sock(umqtt_obj_t *self, mp_obj_t sock) {
    umqtt_client_t *client = umqtt_glue_client(self);
    if (sock == self->sock && umqtt_is_connected(client)) {
        return;
    }
    self->sock = sock;
    self->tcp_sock = mp_const_none;
    self->sock_mode = UMQTT_SOCK_UNKNOWN;
    umqtt_glue_forget_connection(self);
    if (sock != mp_const_none) {
        connect_as_adopted(self);
    }
}

// Loads (value == MP_OBJ_NULL) or stores the field named attr; false if there is none.
// from_subclass: the access comes from a Python subclass's code (the properties
// below), such as umqtt.robust's check_msg, which sets the socket non-blocking
// itself before calling wait_msg; the module then no longer knows the socket's
// mode. A plain client handing out its socket (to register it with a poller,
// say) keeps the mode the module set.
static bool field_access(umqtt_obj_t *self, qstr attr, mp_obj_t value, mp_obj_t *loaded, bool from_subclass) {
    mp_obj_t *field = field_named(self, attr);
    if (field == NULL) {
        return false;
    }
    if (value == MP_OBJ_NULL) {
        if (attr == MP_QSTR_sock && from_subclass) {
            self->sock_mode = UMQTT_SOCK_UNKNOWN;
        }
        *loaded = *field;
    } else if (attr == MP_QSTR_sock) {
        umqtt_client_set_sock(self, value);
    } else {
        *field = value;
    }
    return true;
}

static void umqtt_client_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    umqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (dest[0] == MP_OBJ_NULL && attr == MP_QSTR_pid) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(umqtt_last_packet_id(umqtt_glue_client(self)));
        return;
    }
    if (dest[0] == MP_OBJ_NULL) {
        if (!field_access(self, attr, MP_OBJ_NULL, dest, false)) {
            dest[1] = MP_OBJ_SENTINEL; // not a field: look for a method
        }
    } else if (dest[1] != MP_OBJ_NULL && field_access(self, attr, dest[1], NULL, false)) {
        dest[0] = MP_OBJ_NULL;
    }
}

#if MICROPY_PY_BUILTINS_PROPERTY
// On an instance of a Python subclass (every umqtt.robust client) a store goes
// to the instance's own dict, where the native methods never look, unless the
// class has a property of that name. MicroPython honours properties only when
// they are in a Python class's own dict (or a Python base's), not in a native
// base's locals: each field is a property that umqtt_glue_add_properties()
// puts on the Python classes built on MQTTClient that come with the module.
#define UMQTT_FIELD_PROPERTY(name) \
    static mp_obj_t get_##name(mp_obj_t self_in) { \
        mp_obj_t value; \
        field_access(native_self(self_in), MP_QSTR_##name, MP_OBJ_NULL, &value, true); \
        return value; \
    } \
    static MP_DEFINE_CONST_FUN_OBJ_1(get_##name##_obj, get_##name); \
    static mp_obj_t set_##name(mp_obj_t self_in, mp_obj_t value) { \
        field_access(native_self(self_in), MP_QSTR_##name, value, NULL, true); \
        return mp_const_none; \
    } \
    static MP_DEFINE_CONST_FUN_OBJ_2(set_##name##_obj, set_##name); \
    UMQTT_DEFINE_PROPERTY(name, &get_##name##_obj, &set_##name##_obj)

UMQTT_CLIENT_FIELDS(UMQTT_FIELD_PROPERTY)

#define UMQTT_STORE_PROPERTY(name) \
    mp_store_attr(cls, MP_QSTR_##name, UMQTT_PROPERTY(name, &get_##name##_obj, &set_##name##_obj));

// Gives cls, a Python class derived from MQTTClient and not subclassed yet,
// the fields as properties (storing one makes MicroPython mark the class as
// having special accessors, so its subclasses inherit them too).
void umqtt_glue_add_properties(mp_obj_t cls) {
    if (!mp_obj_is_type(cls, &mp_type_type) || !mp_obj_is_subclass_fast(cls, MP_OBJ_FROM_PTR(&umqtt_type_MQTTClient))) {
        return;
    }
    const mp_obj_type_t *type = MP_OBJ_TO_PTR(cls);
    if (!(type->flags & MP_TYPE_FLAG_INSTANCE_TYPE) || (type->flags & MP_TYPE_FLAG_IS_SUBCLASSED)) {
        return;
    }
    UMQTT_CLIENT_FIELDS(UMQTT_STORE_PROPERTY)
}
#endif

// select.poll on the client itself: readable while a whole packet waits in the
// engine's buffer (its socket does not show it) or while the socket is.
static mp_uint_t umqtt_client_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    if (request != MP_STREAM_POLL) {
        *errcode = MP_EINVAL;
        return MP_STREAM_ERROR;
    }
    umqtt_obj_t *self = native_self(self_in);
    mp_uint_t ready = 0;
    if ((arg & MP_STREAM_POLL_RD) && umqtt_buffered_packet(umqtt_glue_client(self)) != 0) {
        ready = MP_STREAM_POLL_RD;
    }
    if (self->sock == mp_const_none) {
        return ready;
    }
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_glue_env(&call, &env, self, UMQTT_GLUE_OTHER);
    if (call.stream == NULL || call.stream->ioctl == NULL) {
        return ready; // a Python object: nothing to ask
    }
    intptr_t polled = umqtt_glue_poll(&call, arg);
    if (polled < 0) {
        *errcode = UMQTT_IO_ERRNO_BASE - polled;
        return MP_STREAM_ERROR;
    }
    return ready | (mp_uint_t)polled;
}

static const mp_stream_p_t umqtt_client_stream = {
    .ioctl = umqtt_client_ioctl,
};

#define UMQTT_CLIENT_LOCALS(X) \
    X(set_callback, MP_ROM_PTR(&umqtt_client_set_callback_obj)) \
    X(set_last_will, MP_ROM_PTR(&umqtt_client_set_last_will_obj)) \
    X(connect, MP_ROM_PTR(&umqtt_client_connect_obj)) \
    X(disconnect, MP_ROM_PTR(&umqtt_client_disconnect_obj)) \
    X(ping, MP_ROM_PTR(&umqtt_client_ping_obj)) \
    X(publish, MP_ROM_PTR(&umqtt_client_publish_obj)) \
    X(subscribe, MP_ROM_PTR(&umqtt_client_subscribe_obj)) \
    X(unsubscribe, MP_ROM_PTR(&umqtt_client_unsubscribe_obj)) \
    X(wait_msg, MP_ROM_PTR(&umqtt_client_wait_msg_obj)) \
    X(check_msg, MP_ROM_PTR(&umqtt_client_check_msg_obj))
UMQTT_DEFINE_LOCALS(umqtt_client_locals_dict, UMQTT_CLIENT_LOCALS)

UMQTT_DEFINE_TYPE_4(
    umqtt_type_MQTTClient,
    MQTTClient,
    make_new, umqtt_client_make_new,
    attr, umqtt_client_attr,
    protocol, &umqtt_client_stream,
    locals_dict, UMQTT_LOCALS(umqtt_client_locals_dict)
    );

#if !UMQTT_NATMOD
/******************************************************************************/
// Modules: umqtt, and umqtt.simple with the same contents

// A dotted name cannot be a qstr written in C source: a str object instead.
static const MP_DEFINE_STR_OBJ(umqtt_simple_name_obj, "umqtt.simple");

static const mp_rom_map_elem_t umqtt_simple_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_PTR(&umqtt_simple_name_obj) },
    { MP_ROM_QSTR(MP_QSTR_MQTTClient), MP_ROM_PTR(&umqtt_type_MQTTClient) },
    { MP_ROM_QSTR(MP_QSTR_MQTTException), MP_ROM_PTR(&mp_type_MQTTException) },
};
static MP_DEFINE_CONST_DICT(umqtt_simple_module_globals, umqtt_simple_module_globals_table);

static const mp_obj_module_t umqtt_simple_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&umqtt_simple_module_globals,
};

#if MICROPY_MODULE_FROZEN
// Where `import umqtt.robust` looks: the frozen package directory.
static const MP_DEFINE_STR_OBJ(umqtt_path_obj, ".frozen/umqtt");
#endif

static const mp_rom_map_elem_t umqtt_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_umqtt) },
    #if MICROPY_MODULE_FROZEN
    { MP_ROM_QSTR(MP_QSTR___path__), MP_ROM_PTR(&umqtt_path_obj) },
    #endif
    { MP_ROM_QSTR(MP_QSTR_MQTTClient), MP_ROM_PTR(&umqtt_type_MQTTClient) },
    { MP_ROM_QSTR(MP_QSTR_MQTTException), MP_ROM_PTR(&mp_type_MQTTException) },
    { MP_ROM_QSTR(MP_QSTR_Engine), MP_ROM_PTR(&umqtt_type_Engine) },
    { MP_ROM_QSTR(MP_QSTR_simple), MP_ROM_PTR(&umqtt_simple_module) },
};
static MP_DEFINE_CONST_DICT(umqtt_module_globals, umqtt_module_globals_table);

const mp_obj_module_t umqtt_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&umqtt_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_umqtt, umqtt_module);

// A built-in module's globals are read-only, yet importing a frozen submodule
// (umqtt.robust) stores it on its package: accept that store, since
// sys.modules holds the submodule, and answer `umqtt.robust` from there.
// (Used when MICROPY_MODULE_ATTR_DELEGATION is enabled, as micropython.mk does.)
void umqtt_module_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    (void)self_in;
    if (dest[0] == MP_OBJ_NULL) {
        // A frozen submodule (umqtt.robust, umqtt.aio) once imported: sys.modules
        // has it under its dotted name. (No qstr the sources can name: the cmake
        // ports take no qstr definitions file.)
        char full[24] = "umqtt.";
        size_t len;
        const byte *name = qstr_data(attr, &len);
        qstr dotted = MP_QSTRnull;
        if (len <= sizeof(full) - 7) {
            memcpy(full + 6, name, len);
            dotted = qstr_find_strn(full, 6 + len);
        }
        if (dotted != MP_QSTRnull) {
            mp_map_elem_t *elem = mp_map_lookup(&MP_STATE_VM(mp_loaded_modules_dict).map,
                MP_OBJ_NEW_QSTR(dotted), MP_MAP_LOOKUP);
            if (elem != NULL) {
                dest[0] = elem->value;
            }
        }
    } else if (dest[1] != MP_OBJ_NULL && mp_obj_is_type(dest[1], &mp_type_module)) {
        #if MICROPY_PY_BUILTINS_PROPERTY
        // umqtt.robust, just imported: its client's attributes become properties.
        mp_obj_module_t *module = MP_OBJ_TO_PTR(dest[1]);
        mp_map_elem_t *cls = mp_map_lookup(&module->globals->map, MP_OBJ_NEW_QSTR(MP_QSTR_MQTTClient), MP_MAP_LOOKUP);
        if (cls != NULL) {
            umqtt_glue_add_properties(cls->value);
        }
        #endif
        dest[0] = MP_OBJ_NULL;
    }
}
MP_REGISTER_MODULE_DELEGATION(umqtt_module, umqtt_module_attr);
#endif // !UMQTT_NATMOD: the native .mpy's module is umqtt_natmod.c's

#endif // MICROPY_PY_UMQTT
