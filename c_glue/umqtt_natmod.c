/*
 * umqtt_natmod.c - the native .mpy's module (built by scripts/build-natmod): the
 * types of the other shims filled in and stored as the module's globals when it is
 * imported, and the port services a dynamic module reaches through Python modules,
 * the millisecond clock (time.ticks_ms) and the event wait (select.poll).
 *
 * The module is the package `umqtt` (umqtt/__init__.mpy); its simple, robust and
 * aio submodules are Python files beside it (micropython_port/natmod/).
 */
#include <stdarg.h>

#include "py/smallint.h"
#include "umqtt_glue.h"

#if UMQTT_NATMOD

/******************************************************************************/
// What py/dynruntime.h lacks (umqtt_dynruntime.h declares these)

mp_int_t umqtt_dyn_get_int(mp_const_obj_t o) {
    if (mp_obj_is_small_int(o)) {
        return MP_OBJ_SMALL_INT_VALUE(o);
    }
    if (mp_obj_get_type(o) == &mp_type_int) {
        mp_raise_msg(&mp_type_OverflowError, MP_ERROR_TEXT("overflow converting long int to machine word"));
    }
    return mp_fun_table.native_from_obj((mp_obj_t)o, MP_NATIVE_TYPE_INT);
}

int umqtt_dyn_errno(qstr name, int fallback) {
    mp_obj_t dest[2];
    mp_load_method_maybe(mp_import_name(MP_QSTR_errno, mp_const_none, MP_OBJ_NEW_SMALL_INT(0)), name, dest);
    return dest[0] == MP_OBJ_NULL ? fallback : (int)mp_obj_get_int(dest[0]);
}

typedef struct {
    char text[96];
    size_t len;
} text_t;

static void text_strn(void *data, const char *str, size_t len) {
    text_t *t = data;
    while (len-- > 0 && t->len < sizeof(t->text)) {
        t->text[t->len++] = *str++;
    }
}

MP_NORETURN void umqtt_dyn_raise_msg_varg(const mp_obj_type_t *type, const char *fmt, ...) {
    text_t t = { .len = 0 };
    mp_print_t print = { .data = &t, .print_strn = text_strn };
    va_list args;
    va_start(args, fmt);
    mp_vprintf(&print, fmt, args);
    va_end(args);
    nlr_raise(mp_obj_new_exception_arg1(type, mp_obj_new_str(t.text, t.len)));
}

/******************************************************************************/
// Port services

void umqtt_natmod_port_init(umqtt_obj_t *self) {
    mp_obj_t time = mp_import_name(MP_QSTR_time, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
    self->ticks_ms = mp_load_attr(time, MP_QSTR_ticks_ms);
    UMQTT_PORT_FORGET(self);
    self->clock_ms = 0;
    self->clock_ticks = mp_obj_get_int_truncated(mp_call_function_0(self->ticks_ms));
}

// time.ticks_ms() wraps at its small-int range (2^30 ms on a 32-bit port), the engine's
// clock at 2^32 as mp_hal_ticks_ms does: each client extends one into the other.
uint32_t umqtt_glue_ticks_ms(umqtt_obj_t *self) {
    mp_uint_t now = mp_obj_get_int_truncated(mp_call_function_0(self->ticks_ms));
    self->clock_ms += (uint32_t)((now - self->clock_ticks) & (MICROPY_PY_TIME_TICKS_PERIOD - 1));
    self->clock_ticks = now;
    return self->clock_ms;
}

static mp_obj_t new_poller(mp_obj_t poll, mp_obj_t sock, mp_uint_t flags) {
    mp_obj_t poller = mp_call_function_0(poll);
    // select's POLLIN/POLLOUT are the stream protocol's flags on every port.
    mp_obj_t registration[2] = { sock, MP_OBJ_NEW_SMALL_INT(flags) };
    umqtt_glue_call_method(poller, MP_QSTR_register, 2, registration);
    return poller;
}

// Waits as select.poll does on this port (poll() where there is a descriptor, the stream's
// MP_STREAM_POLL and the port's event wait where not), on pollers kept for the socket.
void umqtt_glue_event_wait(umqtt_call_t *call, bool for_write, int32_t timeout_ms) {
    umqtt_obj_t *self = call->self;
    if (self->polled != call->sock) {
        mp_obj_t select = mp_import_name(MP_QSTR_select, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
        mp_obj_t poll = mp_load_attr(select, MP_QSTR_poll);
        self->poll_rd = new_poller(poll, call->sock, MP_STREAM_POLL_RD);
        self->poll_wr = new_poller(poll, call->sock, MP_STREAM_POLL_WR);
        self->polled = call->sock;
    }
    mp_obj_t timeout = MP_OBJ_NEW_SMALL_INT(timeout_ms);
    umqtt_glue_call_method(for_write ? self->poll_wr : self->poll_rd, MP_QSTR_ipoll, 1, &timeout);
}

// umqtt.robust's client class (micropython_port/natmod/robust.py passes it): its
// attributes become the native client's, as the built-in module does on import.
static mp_obj_t natmod_properties(mp_obj_t cls) {
    #if MICROPY_PY_BUILTINS_PROPERTY
    umqtt_glue_add_properties(cls);
    #endif
    return cls;
}
static MP_DEFINE_CONST_FUN_OBJ_1(natmod_properties_obj, natmod_properties);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    // The shims catch exceptions with the firmware's nlr_push (umqtt_dynruntime.h): a firmware
    // built with MICROPY_NLR_SETJMP hands out only its tail, which cannot stand for it.
    if (mp_fun_table.setjmp_ != NULL) {
        mp_raise_msg(&mp_type_ImportError,
            MP_ERROR_TEXT("umqtt .mpy needs a firmware without MICROPY_NLR_SETJMP; use the built-in module"));
    }
    mp_type_MQTTException_init();
    umqtt_type_MQTTClient_init();
    umqtt_type_Engine_init();
    mp_store_global(MP_QSTR_MQTTClient, MP_OBJ_FROM_PTR(&umqtt_type_MQTTClient));
    mp_store_global(MP_QSTR_MQTTException, MP_OBJ_FROM_PTR(&mp_type_MQTTException));
    mp_store_global(MP_QSTR_Engine, MP_OBJ_FROM_PTR(&umqtt_type_Engine));
    mp_store_global(MP_QSTR__properties, MP_OBJ_FROM_PTR(&natmod_properties_obj));

    MP_DYNRUNTIME_INIT_EXIT
}

#endif // UMQTT_NATMOD
