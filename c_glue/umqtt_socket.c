/*
 * umqtt_socket.c - the socket connect() opens (as umqtt.simple 1.8 does) and
 * the blocking mode the module keeps it in.
 *
 * Ports have no portable way to ask a socket for its mode, so the module
 * knows it only from what it applied itself (UMQTT_SOCK_* in umqtt_glue.h).
 */
#include "umqtt_glue.h"

#if MICROPY_PY_UMQTT

#define CALL_METHOD_MAX_ARGS (3) // setsockopt(level, option, value)

mp_obj_t umqtt_glue_call_method(mp_obj_t obj, qstr name, size_t n_args, const mp_obj_t *args) {
    mp_obj_t dest[2 + CALL_METHOD_MAX_ARGS];
    assert(n_args <= CALL_METHOD_MAX_ARGS);
    mp_load_method(obj, name, dest);
    for (size_t i = 0; i < n_args; ++i) {
        dest[2 + i] = args[i];
    }
    return mp_call_method_n_kw(n_args, 0, dest);
}

// A mode already in force is not set again (each call costs the port a system
// call or two per wait_msg/check_msg).
void umqtt_glue_setblocking(umqtt_obj_t *self, bool blocking) {
    int32_t mode = blocking ? UMQTT_SOCK_BLOCKING : 0;
    if (self->sock_mode == mode) {
        return;
    }
    mp_obj_t arg = mp_obj_new_bool(blocking);
    umqtt_glue_call_method(self->sock, MP_QSTR_setblocking, 1, &arg);
    self->sock_mode = mode;
}

// Puts back the blocking mode an engine call ran without (switched), before an
// error of that call is raised: a socket the failure closed may refuse, and its
// error is not the one to report.
void umqtt_glue_blocking_again(umqtt_obj_t *self, bool switched) {
    if (!switched) {
        return;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        umqtt_glue_setblocking(self, true);
        nlr_pop();
    }
}

// A TLS stream polls readable as soon as its TCP socket holds bytes, but a
// blocking read then waits for the whole record, past every bound the engine
// keeps (keepalive, timeouts). So during an engine call that waits, a blocking
// TLS socket is read non-blocking (umqtt_glue_blocking_again() after). A
// timeout mode bounds reads by itself.
bool umqtt_glue_tls_nonblocking(umqtt_obj_t *self) {
    if (self->tcp_sock == mp_const_none || self->sock_mode != UMQTT_SOCK_BLOCKING) {
        return false;
    }
    umqtt_glue_setblocking(self, false);
    return true;
}

// A packet leaves in one write, or as header + payload past the transmit
// buffer: Nagle's algorithm would hold that payload (or a QoS 1 publish right
// after a QoS 0 one) until the broker's delayed ACK. Ports without the option
// keep the default (IPPROTO_TCP = 6 and TCP_NODELAY = 1 on POSIX and lwIP
// alike, for ports that name neither).
static void set_nodelay(mp_obj_t sock) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t args[3] = { MP_OBJ_NEW_SMALL_INT(6), MP_OBJ_NEW_SMALL_INT(1), MP_OBJ_NEW_SMALL_INT(1) };
        umqtt_glue_call_method(sock, MP_QSTR_setsockopt, 3, args);
        nlr_pop();
    }
}

// ssl=True: ssl.wrap_socket(sock, **ssl_params), umqtt.simple's legacy path.
static mp_obj_t wrap_legacy(umqtt_obj_t *self) {
    mp_obj_t ssl_mod = mp_import_name(MP_QSTR_ssl, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
    if (!mp_obj_is_dict_or_ordereddict(self->ssl_params)) {
        mp_raise_TypeError(MP_ERROR_TEXT("ssl_params must be a dict"));
    }
    mp_map_t *params = mp_obj_dict_get_map(self->ssl_params);
    size_t n_kw = params->used;
    mp_obj_t *args = m_new(mp_obj_t, 1 + 2 * n_kw);
    args[0] = self->sock;
    size_t k = 1;
    for (size_t i = 0; i < params->alloc; ++i) {
        if (mp_map_slot_is_filled(params, i)) {
            mp_obj_t key = params->table[i].key;
            args[k++] = mp_obj_is_qstr(key) ? key : mp_obj_str_intern_checked(key);
            args[k++] = params->table[i].value;
        }
    }
    mp_obj_t wrapped = mp_call_function_n_kw(mp_load_attr(ssl_mod, MP_QSTR_wrap_socket), 1, n_kw, args);
    m_del(mp_obj_t, args, 1 + 2 * n_kw);
    return wrapped;
}

// socket.socket(), settimeout, getaddrinfo, connect, then ssl=True ->
// ssl.wrap_socket(sock, **ssl_params) or an SSLContext ->
// ctx.wrap_socket(sock, server_hostname=server).
void umqtt_glue_open_socket(umqtt_obj_t *self, mp_obj_t timeout, int32_t timeout_ms) {
    mp_obj_t socket_mod = mp_import_name(MP_QSTR_socket, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
    self->sock = mp_call_function_0(mp_load_attr(socket_mod, MP_QSTR_socket));
    self->sock_mode = UMQTT_SOCK_UNKNOWN;
    umqtt_glue_call_method(self->sock, MP_QSTR_settimeout, 1, &timeout);
    self->sock_mode = timeout_ms == UMQTT_WAIT_FOREVER ? UMQTT_SOCK_BLOCKING : timeout_ms;
    mp_obj_t ai = mp_call_function_2(mp_load_attr(socket_mod, MP_QSTR_getaddrinfo), self->server, self->port);
    mp_obj_t addr = mp_obj_subscr(mp_obj_subscr(ai, MP_OBJ_NEW_SMALL_INT(0), MP_OBJ_SENTINEL),
        MP_OBJ_NEW_SMALL_INT(-1), MP_OBJ_SENTINEL);
    umqtt_glue_call_method(self->sock, MP_QSTR_connect, 1, &addr);
    set_nodelay(self->sock);
    self->tcp_sock = self->sock;

    if (self->ssl == mp_const_true) {
        self->sock = wrap_legacy(self);
    } else if (mp_obj_is_true(self->ssl)) {
        mp_obj_t dest[5];
        mp_load_method(self->ssl, MP_QSTR_wrap_socket, dest);
        dest[2] = self->sock;
        dest[3] = MP_OBJ_NEW_QSTR(MP_QSTR_server_hostname);
        dest[4] = self->server;
        self->sock = mp_call_method_n_kw(1, 1, dest);
    }
    if (self->sock == self->tcp_sock) {
        self->tcp_sock = mp_const_none;
    }
}

#endif // MICROPY_PY_UMQTT
