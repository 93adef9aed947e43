/*
 * umqtt_engine.c - umqtt.Engine: the engine's step calls for an event loop.
 *
 * umqtt.aio (an asyncio client, frozen Python) drives one Engine per
 * connection: operations queue packets and return at once, write(sock) and
 * read(sock) move bytes on a non-blocking stream without ever waiting (the
 * event loop's poller does that), event() hands over what was read, tick()
 * runs keepalive. Every call returns at once; nothing here blocks.
 *
 * An Engine is the client object of modumqtt.c (umqtt_obj_t) under another
 * type: the same sink reads payloads straight into the bytes a message gets,
 * and the objects whose bytes queued output borrows are kept in its fields
 * (client_id... by connect, lent_* by publish/subscribe) until written.
 */
#include "umqtt_glue.h"

#if MICROPY_PY_UMQTT

static umqtt_obj_t *engine(mp_obj_t self_in) {
    return MP_OBJ_TO_PTR(mp_obj_cast_to_native_base(self_in, MP_OBJ_FROM_PTR(&umqtt_type_Engine)));
}

static umqtt_client_t *engine_env(umqtt_call_t *call, umqtt_env_t *env, umqtt_obj_t *self, mp_obj_t sock) {
    self->sock = sock;
    umqtt_glue_env(call, env, self, UMQTT_GLUE_OTHER);
    return umqtt_glue_client(self);
}

// An operation's result: its ticket (0: none), or, when it cannot queue now
// (no error for an event loop), Engine.WOULD_BLOCK (write the output first) or
// Engine.BUSY (wait for an acknowledgement) as they are.
static mp_obj_t queued(umqtt_call_t *call, int32_t rc) {
    if (rc == UMQTT_ERR_WOULD_BLOCK || rc == UMQTT_ERR_BUSY) {
        return MP_OBJ_NEW_SMALL_INT(rc);
    }
    return MP_OBJ_NEW_SMALL_INT(umqtt_glue_finish(call, rc));
}

static mp_obj_t engine_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    (void)args;
    return MP_OBJ_FROM_PTR(umqtt_glue_new_client(type));
}

// connect(client_id, keepalive=0, clean_session=True, timeout=None, user=None,
// password=None, will=None): queue CONNECT. will: (topic, msg, retain, qos).
static mp_obj_t engine_connect(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_client_id, ARG_keepalive, ARG_clean_session, ARG_timeout, ARG_user, ARG_password, ARG_will };
    UMQTT_ARG_TABLE mp_arg_t allowed_args[] = {
        { MP_QSTR_client_id, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_keepalive, MP_ARG_OBJ, {.u_obj = MP_OBJ_NEW_SMALL_INT(0)} },
        { MP_QSTR_clean_session, MP_ARG_OBJ, {.u_obj = mp_const_true} },
        { MP_QSTR_timeout, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_user, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_password, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_will, MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    umqtt_obj_t *self = engine(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    static const umqtt_bytes_t absent = { .ptr = NULL, .len = 0 };
    umqtt_connect_options_t options = {
        .client_id = umqtt_glue_bytes(args[ARG_client_id].u_obj),
        .user = absent,
        .password = absent,
        .will_topic = absent,
        .will_message = absent,
        .clean_session = mp_obj_is_true(args[ARG_clean_session].u_obj),
        .keepalive_s = umqtt_glue_keepalive(args[ARG_keepalive].u_obj),
        .timeout_ms = umqtt_glue_timeout(args[ARG_timeout].u_obj),
    };
    self->client_id = args[ARG_client_id].u_obj;
    self->user = args[ARG_user].u_obj;
    self->pswd = args[ARG_password].u_obj;
    if (mp_obj_is_true(self->user)) {
        options.user = umqtt_glue_bytes(self->user);
        if (self->pswd != mp_const_none) {
            options.password = umqtt_glue_bytes(self->pswd);
        }
    }
    self->lw_topic = mp_const_none;
    self->lw_msg = mp_const_none;
    if (args[ARG_will].u_obj != mp_const_none) {
        mp_obj_t *will;
        mp_obj_get_array_fixed_n(args[ARG_will].u_obj, 4, &will);
        self->lw_topic = will[0];
        self->lw_msg = will[1];
        options.will_topic = umqtt_glue_bytes(will[0]);
        options.will_message = umqtt_glue_bytes(will[1]);
        options.will_retain = mp_obj_is_true(will[2]);
        options.will_qos = umqtt_glue_qos(will[3]);
    }
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = engine_env(&call, &env, self, mp_const_none);
    umqtt_glue_finish(&call, umqtt_step_connect(client, &options, umqtt_glue_ticks_ms(self)));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(engine_connect_obj, 2, engine_connect);

// publish(topic, msg, qos, retain): the ticket (0 at QoS 0), WOULD_BLOCK or BUSY.
// The objects are the message's handles, as the blocking publish gives them.
static mp_obj_t engine_publish(size_t n_args, const mp_obj_t *args) {
    umqtt_obj_t *self = engine(args[0]);
    mp_obj_t topic = args[1];
    mp_obj_t msg = args[2];
    umqtt_message_t message = {
        .topic = umqtt_glue_bytes(topic),
        .payload = umqtt_glue_bytes(msg),
        .qos = umqtt_glue_qos(args[3]),
        .retain = mp_obj_is_true(args[4]),
        .topic_ref = (uintptr_t)topic,
        .payload_ref = (uintptr_t)msg,
    };
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = engine_env(&call, &env, self, mp_const_none);
    int32_t rc = umqtt_step_publish(client, &env, &message);
    if (rc >= 0) {
        self->lent_topic = topic;
        self->lent_msg = msg;
    }
    return queued(&call, rc);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(engine_publish_obj, 5, 5, engine_publish);

// subscribe(topic, qos) / unsubscribe(topic): a ticket, WOULD_BLOCK or BUSY.
static mp_obj_t engine_subscribe(size_t n_args, const mp_obj_t *args) {
    umqtt_obj_t *self = engine(args[0]);
    umqtt_bytes_t filter = umqtt_glue_bytes(args[1]);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = engine_env(&call, &env, self, mp_const_none);
    int32_t rc = n_args == 3
        ? umqtt_step_subscribe(client, filter, umqtt_glue_qos(args[2]))
        : umqtt_step_unsubscribe(client, filter);
    if (rc >= 0) {
        self->lent_topic = args[1];
    }
    return queued(&call, rc);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(engine_subscribe_obj, 3, 3, engine_subscribe);
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(engine_unsubscribe_obj, 2, 2, engine_subscribe);

// resend(): after a CONNACK, queue the next unfinished publish of an earlier
// connection: its ticket, 0 when none is left, or WOULD_BLOCK.
static mp_obj_t engine_resend(mp_obj_t self_in) {
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = engine_env(&call, &env, engine(self_in), mp_const_none);
    return queued(&call, umqtt_step_resend(client, &env));
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_resend_obj, engine_resend);

// ping(), disconnect(), ack(packet_id): 0, or WOULD_BLOCK.
static mp_obj_t engine_control(mp_obj_t self_in, int32_t rc) {
    umqtt_call_t call;
    umqtt_env_t env;
    engine_env(&call, &env, engine(self_in), mp_const_none);
    return queued(&call, rc);
}

static mp_obj_t engine_ping(mp_obj_t self_in) {
    umqtt_obj_t *self = engine(self_in);
    return engine_control(self_in, umqtt_step_ping(umqtt_glue_client(self), umqtt_glue_ticks_ms(self)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_ping_obj, engine_ping);

static mp_obj_t engine_disconnect(mp_obj_t self_in) {
    return engine_control(self_in, umqtt_step_disconnect(umqtt_glue_client(engine(self_in))));
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_disconnect_obj, engine_disconnect);

static mp_obj_t engine_ack(mp_obj_t self_in, mp_obj_t pid) {
    mp_int_t id = mp_obj_get_int(pid);
    if (id < 0 || id > 65535) {
        mp_raise_ValueError(MP_ERROR_TEXT("packet id must be 0..65535"));
    }
    return engine_control(self_in, umqtt_step_ack(umqtt_glue_client(engine(self_in)), (uint16_t)id));
}
static MP_DEFINE_CONST_FUN_OBJ_2(engine_ack_obj, engine_ack);

// status(ticket): None while unacknowledged; once done the granted QoS of a
// subscribe (0 otherwise). Raises for a refused subscribe or a ticket the
// engine no longer knows (OSError ENOTCONN after a new session).
static mp_obj_t engine_status(mp_obj_t self_in, mp_obj_t ticket) {
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_event_t event = { 0 };
    umqtt_client_t *client = engine_env(&call, &env, engine(self_in), mp_const_none);
    int32_t rc = umqtt_glue_finish(&call, umqtt_step_status(client, mp_obj_get_int(ticket), &event));
    return rc == UMQTT_PENDING ? mp_const_none : MP_OBJ_NEW_SMALL_INT(event.granted_qos);
}
static MP_DEFINE_CONST_FUN_OBJ_2(engine_status_obj, engine_status);

// abandon(ticket): nobody waits for ticket any more (its task was cancelled):
// the engine frees its slot of the in-flight window once it is acknowledged.
// A queued publish still goes out and is resent on a kept session.
static mp_obj_t engine_abandon(mp_obj_t self_in, mp_obj_t ticket) {
    umqtt_abandon(umqtt_glue_client(engine(self_in)), mp_obj_get_int(ticket));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(engine_abandon_obj, engine_abandon);

// An I/O result of the env's read/write that is no count of bytes, raised.
static MP_NORETURN void raise_io(umqtt_call_t *call, intptr_t n) {
    if (call->exc != MP_OBJ_NULL) {
        nlr_raise(call->exc);
    }
    mp_raise_OSError(n == UMQTT_IO_CLOSED ? MP_ECONNRESET : (int)(UMQTT_IO_ERRNO_BASE - n));
}

// write(sock): writes queued output to a non-blocking stream until all of it
// left (True) or the stream would block (False: wait until it is writable).
static mp_obj_t engine_write(mp_obj_t self_in, mp_obj_t sock) {
    umqtt_obj_t *self = engine(self_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = engine_env(&call, &env, self, sock);
    for (;;) {
        const uint8_t *data;
        size_t len;
        if (umqtt_step_output(client, &data, &len) <= 0) {
            self->lent_topic = mp_const_none;
            self->lent_msg = mp_const_none;
            return mp_const_true;
        }
        intptr_t n = env.write(env.ctx, data, len);
        if (n == UMQTT_IO_WOULD_BLOCK) {
            return mp_const_false;
        }
        if (n <= 0) {
            raise_io(&call, n);
        }
        umqtt_step_written(client, (size_t)n, umqtt_glue_ticks_ms(self));
    }
}
static MP_DEFINE_CONST_FUN_OBJ_2(engine_write_obj, engine_write);

// pending(): whether output waits to be written.
static mp_obj_t engine_pending(mp_obj_t self_in) {
    const uint8_t *data;
    size_t len;
    return mp_obj_new_bool(umqtt_step_output(umqtt_glue_client(engine(self_in)), &data, &len) > 0);
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_pending_obj, engine_pending);

// read(sock): one read from a non-blocking stream into the engine (a large
// payload straight into its message's bytes): the count, None when the stream
// would block, 0 when the input is full (handle events first). A closed
// stream raises OSError(ECONNRESET).
static mp_obj_t engine_read(mp_obj_t self_in, mp_obj_t sock) {
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_client_t *client = engine_env(&call, &env, engine(self_in), sock);
    uint8_t *buf;
    size_t len;
    if (umqtt_step_input(client, &buf, &len) <= 0) {
        return MP_OBJ_NEW_SMALL_INT(0);
    }
    intptr_t n = env.read(env.ctx, buf, len);
    if (n == UMQTT_IO_WOULD_BLOCK) {
        return mp_const_none;
    }
    if (n <= 0) {
        raise_io(&call, n);
    }
    umqtt_step_received(client, (size_t)n);
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_2(engine_read_obj, engine_read);

// event(): handles the next whole packet read. None: nothing whole (read more,
// or write the output first); (topic, msg, retained, qos, packet_id): a
// message, to ack(packet_id) once handled; an int otherwise: the packet's
// first byte (0x40 PUBACK...), for CONNACK 0x20 | session_present.
static mp_obj_t engine_event(mp_obj_t self_in) {
    umqtt_obj_t *self = engine(self_in);
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_event_t event;
    umqtt_client_t *client = engine_env(&call, &env, self, mp_const_none);
    int32_t rc = umqtt_glue_finish(&call, umqtt_step_event(client, &env, &event));
    switch (rc) {
        case UMQTT_MESSAGE: {
            mp_obj_t items[5] = {
                self->rx_topic,
                umqtt_glue_take_payload(self, event.payload_len),
                mp_obj_new_bool(event.retain),
                MP_OBJ_NEW_SMALL_INT(event.qos),
                MP_OBJ_NEW_SMALL_INT(event.packet_id),
            };
            self->rx_topic = mp_const_none;
            return mp_obj_new_tuple(5, items);
        }
        case UMQTT_CONNECTED:
            return MP_OBJ_NEW_SMALL_INT(0x20 | (event.session_present ? 1 : 0));
        case UMQTT_PACKET:
            return MP_OBJ_NEW_SMALL_INT(event.packet_type);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_event_obj, engine_event);

// tick(): keepalive and the connect timeout now (PINGREQ queued when due): the
// ms until the next tick is needed, -1 for none. A silent broker or a late
// CONNACK raises OSError(ETIMEDOUT).
static mp_obj_t engine_tick(mp_obj_t self_in) {
    umqtt_call_t call;
    umqtt_env_t env;
    umqtt_obj_t *self = engine(self_in);
    umqtt_client_t *client = engine_env(&call, &env, self, mp_const_none);
    return MP_OBJ_NEW_SMALL_INT(umqtt_glue_finish(&call, umqtt_step_tick(client, umqtt_glue_ticks_ms(self))));
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_tick_obj, engine_tick);

// reset(): forget the connection (after an error or a written DISCONNECT);
// unfinished publishes stay for resend() on the next one.
static mp_obj_t engine_reset(mp_obj_t self_in) {
    umqtt_obj_t *self = engine(self_in);
    umqtt_glue_forget_connection(self);
    self->sock = mp_const_none;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_reset_obj, engine_reset);

static mp_obj_t engine_isconnected(mp_obj_t self_in) {
    return mp_obj_new_bool(umqtt_is_connected(umqtt_glue_client(engine(self_in))));
}
static MP_DEFINE_CONST_FUN_OBJ_1(engine_isconnected_obj, engine_isconnected);

#define ENGINE_LOCALS(X) \
    X(connect, MP_ROM_PTR(&engine_connect_obj)) \
    X(publish, MP_ROM_PTR(&engine_publish_obj)) \
    X(subscribe, MP_ROM_PTR(&engine_subscribe_obj)) \
    X(unsubscribe, MP_ROM_PTR(&engine_unsubscribe_obj)) \
    X(resend, MP_ROM_PTR(&engine_resend_obj)) \
    X(ping, MP_ROM_PTR(&engine_ping_obj)) \
    X(disconnect, MP_ROM_PTR(&engine_disconnect_obj)) \
    X(ack, MP_ROM_PTR(&engine_ack_obj)) \
    X(status, MP_ROM_PTR(&engine_status_obj)) \
    X(abandon, MP_ROM_PTR(&engine_abandon_obj)) \
    X(write, MP_ROM_PTR(&engine_write_obj)) \
    X(pending, MP_ROM_PTR(&engine_pending_obj)) \
    X(read, MP_ROM_PTR(&engine_read_obj)) \
    X(event, MP_ROM_PTR(&engine_event_obj)) \
    X(tick, MP_ROM_PTR(&engine_tick_obj)) \
    X(reset, MP_ROM_PTR(&engine_reset_obj)) \
    X(isconnected, MP_ROM_PTR(&engine_isconnected_obj)) \
    X(WOULD_BLOCK, MP_ROM_INT(UMQTT_ERR_WOULD_BLOCK)) \
    X(BUSY, MP_ROM_INT(UMQTT_ERR_BUSY))
UMQTT_DEFINE_LOCALS(engine_locals_dict, ENGINE_LOCALS)

UMQTT_DEFINE_TYPE_2(
    umqtt_type_Engine,
    Engine,
    make_new, engine_make_new,
    locals_dict, UMQTT_LOCALS(engine_locals_dict)
    );

#endif // MICROPY_PY_UMQTT
