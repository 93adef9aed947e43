/*
 * umqtt_dynruntime.h - the shims built as a native .mpy (py/dynruntime.h) instead of into a
 * firmware: the runtime API they use that a dynamic module lacks, under the runtime's own names,
 * so that the same sources build both ways.
 *
 * A native module reaches MicroPython only through mp_fun_table: its qstrs are numbered when
 * it is loaded (so no qstr can be part of a static initialiser), the exception types beyond a
 * few are looked up among the builtins, and port services (the clock, the event wait, poll() on
 * a descriptor) are reached through Python's own modules. umqtt_glue.h includes this file when
 * MICROPY_ENABLE_DYNRUNTIME is set; c_glue/umqtt_natmod.c is the module's entry point.
 */
#ifndef UMQTT_DYNRUNTIME_H
#define UMQTT_DYNRUNTIME_H

#include "py/dynruntime.h"

#define UMQTT_NATMOD (1)

// The types a dynamic module may name only by looking them up (py/dynruntime.h's pattern).
#define UMQTT_BUILTIN_TYPE(name) (*(mp_obj_type_t *)(mp_load_global(MP_QSTR_##name)))
#define mp_type_object UMQTT_BUILTIN_TYPE(object)
#define mp_type_property UMQTT_BUILTIN_TYPE(property)
#define mp_type_OSError UMQTT_BUILTIN_TYPE(OSError)
#define mp_type_MemoryError UMQTT_BUILTIN_TYPE(MemoryError)
#define mp_type_AssertionError UMQTT_BUILTIN_TYPE(AssertionError)
#define mp_type_ImportError UMQTT_BUILTIN_TYPE(ImportError)
#define mp_type_OverflowError UMQTT_BUILTIN_TYPE(OverflowError)

// Catching and re-raising: the firmware's own nlr_push. It saves as many registers as the
// firmware's nlr.h says (16 on a hard-float Arm firmware, which also loads armv6m/armv7m .mpy
// files whose own nlr.h counts 10): the buffer has room for more than any port saves, with
// ret_val where every port has it.
typedef struct {
    struct _nlr_buf_t *prev;
    void *ret_val;
    void *regs[40];
} umqtt_dyn_nlr_buf_t;
#define nlr_buf_t umqtt_dyn_nlr_buf_t
#undef nlr_push
#undef nlr_pop
#undef nlr_jump
#define nlr_push(buf) (mp_fun_table.nlr_push((struct _nlr_buf_t *)(buf)))
#define nlr_pop() (mp_fun_table.nlr_pop())
#define nlr_jump(val) (mp_raise_dyn(MP_OBJ_FROM_PTR(val)))

// py/dynruntime.h's does not say it does not return.
static inline MP_NORETURN void umqtt_dyn_raise_OSError(int errcode) {
    mp_raise_OSError_dyn(errcode);
    for (;;) {
    }
}
#undef mp_raise_OSError
#define mp_raise_OSError(errcode) (umqtt_dyn_raise_OSError(errcode))

#define mp_call_function_0(fun) (mp_call_function_n_kw((fun), 0, 0, NULL))
static inline mp_obj_t mp_call_function_1_dyn(mp_obj_t fun, mp_obj_t arg) {
    return mp_call_function_n_kw(fun, 1, 0, &arg);
}
#define mp_call_function_1(fun, a) (mp_call_function_1_dyn((fun), (a)))
static inline mp_obj_t mp_call_function_2_dyn(mp_obj_t fun, mp_obj_t a, mp_obj_t b) {
    mp_obj_t args[2] = { a, b };
    return mp_call_function_n_kw(fun, 2, 0, args);
}
#define mp_call_function_2(fun, a, b) (mp_call_function_2_dyn((fun), (a), (b)))
#define mp_call_method_n_kw(n_args, n_kw, args) (mp_fun_table.call_method_n_kw((n_args), (n_kw), (args)))

#define mp_obj_equal(a, b) (mp_obj_is_true(mp_binary_op(MP_BINARY_OP_EQUAL, (a), (b))))

#define UMQTT_EMPTY_DICT() (mp_obj_new_dict(0))
// A connection forgotten: so are the pollers of its socket.
#define UMQTT_PORT_FORGET(self) ((self)->polled = MP_OBJ_NULL, (self)->poll_rd = (self)->poll_wr = mp_const_none)
#define mp_obj_is_dict_or_ordereddict(o) (mp_obj_get_type(o) == &mp_type_dict)
#define mp_obj_dict_get_map(o) (&((mp_obj_dict_t *)MP_OBJ_TO_PTR(o))->map)
// Keyword names must be qstrs: the keys of a dict literal are, others cannot be interned here.
static inline mp_obj_t umqtt_dyn_intern_checked(mp_obj_t key) {
    if (!mp_obj_is_qstr(key)) {
        mp_raise_TypeError(MP_ERROR_TEXT("ssl_params keys must be str literals with the native .mpy"));
    }
    return key;
}
#define mp_obj_str_intern_checked(o) (umqtt_dyn_intern_checked(o))

// py/dynruntime.h's mp_obj_get_int truncates a long int: out of range is an error, as built in.
mp_int_t umqtt_dyn_get_int(mp_const_obj_t o);
#undef mp_obj_get_int
#define mp_obj_get_int(o) (umqtt_dyn_get_int(o))

// Error numbers are the firmware's (MicroPython's own on rp2 and stm32, the C library's on esp32
// and unix), not those of the toolchain that built the .mpy: read from its errno module when
// needed (error paths only), MicroPython's own number where the module lacks the name.
int umqtt_dyn_errno(qstr name, int fallback);
#undef MP_EAGAIN
#undef MP_EWOULDBLOCK
#undef MP_ETIMEDOUT
#undef MP_ENOTCONN
#undef MP_EINVAL
#undef MP_ECONNRESET
#undef MP_EBUSY
#define MP_EAGAIN (umqtt_dyn_errno(MP_QSTR_EAGAIN, 11))
#define MP_EWOULDBLOCK MP_EAGAIN
#define MP_ETIMEDOUT (umqtt_dyn_errno(MP_QSTR_ETIMEDOUT, 110))
#define MP_ENOTCONN (umqtt_dyn_errno(MP_QSTR_ENOTCONN, 107))
#define MP_EINVAL (umqtt_dyn_errno(MP_QSTR_EINVAL, 22))
#define MP_ECONNRESET (umqtt_dyn_errno(MP_QSTR_ECONNRESET, 104))
#define MP_EBUSY (umqtt_dyn_errno(MP_QSTR_EBUSY, 16))

#define m_malloc_maybe(n) (m_realloc_maybe(NULL, (n), false))

static inline void mp_obj_get_array_fixed_n_dyn(mp_obj_t o, size_t len, mp_obj_t **items) {
    size_t got;
    mp_obj_get_array(o, &got, items);
    if (got != len) {
        mp_raise_ValueError(MP_ERROR_TEXT("tuple/list has wrong length"));
    }
}
#define mp_obj_get_array_fixed_n(o, len, items) (mp_obj_get_array_fixed_n_dyn((o), (len), (items)))

// Whether type is base or derives from it through single bases (all umqtt's classes need).
static inline bool umqtt_dyn_derives(const mp_obj_type_t *type, const mp_obj_type_t *base) {
    while (type != base) {
        const void *parent = MP_OBJ_TYPE_GET_SLOT_OR_NULL(type, parent);
        if (parent == NULL || ((const mp_obj_base_t *)parent)->type != &mp_type_type) {
            return false;
        }
        type = parent;
    }
    return true;
}
#define mp_obj_is_subclass_fast(object, classinfo) \
    (umqtt_dyn_derives(MP_OBJ_TO_PTR(object), MP_OBJ_TO_PTR(classinfo)))

// py/dynruntime.h's cast takes direct subclasses only: a class derived from umqtt.robust's
// client is one level further. The native object of a Python instance is its subobj[0].
static inline mp_obj_t umqtt_dyn_cast_to_native_base(mp_obj_t self_in, mp_const_obj_t native_type) {
    const mp_obj_type_t *type = mp_obj_get_type(self_in);
    if (MP_OBJ_FROM_PTR(type) == native_type) {
        return self_in;
    }
    if (!(type->flags & MP_TYPE_FLAG_INSTANCE_TYPE) || !umqtt_dyn_derives(type, MP_OBJ_TO_PTR(native_type))) {
        return MP_OBJ_NULL;
    }
    return ((mp_obj_instance_t *)MP_OBJ_TO_PTR(self_in))->subobj[0];
}
#undef mp_obj_cast_to_native_base
#define mp_obj_cast_to_native_base(o, t) (umqtt_dyn_cast_to_native_base((o), (t)))

// A formatted message (py/dynruntime.h formats only to a printer).
MP_NORETURN void umqtt_dyn_raise_msg_varg(const mp_obj_type_t *type, const char *fmt, ...);
#define mp_raise_msg_varg(type, ...) (umqtt_dyn_raise_msg_varg((type), __VA_ARGS__))

/* ---- Definitions: types, their tables and properties ------------------- */

// Argument tables hold qstrs, so they are built on the stack at each call.
#define UMQTT_ARG_TABLE const

// A type is filled in when the module loads: umqtt_natmod.c calls NAME##_init().
#define UMQTT_DECLARE_TYPE(type) \
    extern mp_obj_full_type_t type##_full; \
    void type##_init(void)
#define UMQTT_TYPE(type) (*(const mp_obj_type_t *)&type##_full)

static inline void umqtt_dyn_type_init(mp_obj_full_type_t *type, qstr name) {
    type->base.type = &mp_type_type;
    type->flags = MP_TYPE_FLAG_NONE;
    type->name = name;
}

#define UMQTT_DEFINE_TYPE_2(type, name, s0, v0, s1, v1) \
    mp_obj_full_type_t type##_full; \
    void type##_init(void) { \
        umqtt_dyn_type_init(&type##_full, MP_QSTR_##name); \
        MP_OBJ_TYPE_SET_SLOT(&type##_full, s0, v0, 0); \
        MP_OBJ_TYPE_SET_SLOT(&type##_full, s1, v1, 1); \
    }
#define UMQTT_DEFINE_TYPE_4(type, name, s0, v0, s1, v1, s2, v2, s3, v3) \
    mp_obj_full_type_t type##_full; \
    void type##_init(void) { \
        umqtt_dyn_type_init(&type##_full, MP_QSTR_##name); \
        MP_OBJ_TYPE_SET_SLOT(&type##_full, s0, v0, 0); \
        MP_OBJ_TYPE_SET_SLOT(&type##_full, s1, v1, 1); \
        MP_OBJ_TYPE_SET_SLOT(&type##_full, s2, v2, 2); \
        MP_OBJ_TYPE_SET_SLOT(&type##_full, s3, v3, 3); \
    }

#define UMQTT_DEFINE_EXCEPTION(name, base) \
    mp_obj_full_type_t mp_type_##name##_full; \
    void mp_type_##name##_init(void) { \
        mp_obj_exception_init(&mp_type_##name##_full, MP_QSTR_##name, &mp_type_##base); \
    }

// A locals dict from a list of X(name, value) entries: its table is filled at load time
// (NAME##_filled(), called by the type's init). mpy_ld places no static .bss: the table is global.
#define UMQTT_COUNT_ENTRY(name, value) +1
#define UMQTT_FILL_ENTRY(name, value) \
    *entry++ = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_##name), (mp_obj_t)(value) };
#define UMQTT_DEFINE_LOCALS(dict, LIST) \
    mp_map_elem_t dict##_table[0 LIST(UMQTT_COUNT_ENTRY)]; \
    static MP_DEFINE_CONST_DICT(dict, dict##_table); \
    static const mp_obj_dict_t *dict##_filled(void) { \
        mp_map_elem_t *entry = dict##_table; \
        LIST(UMQTT_FILL_ENTRY) \
        return &dict; \
    }
#define UMQTT_LOCALS(dict) (dict##_filled())

// A property object (getter, setter) for a field, made when a class receives it.
#define UMQTT_DEFINE_PROPERTY(name, getter, setter)
#define UMQTT_PROPERTY(name, getter, setter) \
    (mp_call_function_2(MP_OBJ_FROM_PTR(&mp_type_property), MP_OBJ_FROM_PTR(getter), MP_OBJ_FROM_PTR(setter)))

/* ---- Port services, reached through Python modules --------------------- */

// What a client keeps for them (umqtt_obj_t's last fields).
#define UMQTT_PORT_FIELDS \
    mp_obj_t ticks_ms;   /* time.ticks_ms */ \
    mp_obj_t poll_rd;    /* select.poll objects with polled registered for reading, writing: */ \
    mp_obj_t poll_wr;    /* made at the first wait on a socket (registering costs a heap */ \
    mp_obj_t polled;     /* allocation on some ports, waiting none) */ \
    uint32_t clock_ms;   /* the engine's 32-bit clock, extended from ticks_ms's shorter period */ \
    mp_uint_t clock_ticks;

#endif // UMQTT_DYNRUNTIME_H
