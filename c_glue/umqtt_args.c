/*
 * umqtt_args.c - Python arguments converted to what the engine's C ABI takes,
 * with umqtt.simple's ranges (a ValueError names what is out of range).
 */
#include "umqtt_glue.h"

#if MICROPY_PY_UMQTT

umqtt_bytes_t umqtt_glue_bytes(mp_obj_t obj) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(obj, &bufinfo, MP_BUFFER_READ);
    return (umqtt_bytes_t) { .ptr = bufinfo.buf, .len = bufinfo.len };
}

uint8_t umqtt_glue_qos(mp_obj_t qos) {
    mp_int_t q = mp_obj_get_int(qos);
    if (q < 0 || q > 2) {
        mp_raise_ValueError(MP_ERROR_TEXT("qos must be 0, 1 or 2"));
    }
    return (uint8_t)q;
}

uint16_t umqtt_glue_keepalive(mp_obj_t keepalive) {
    mp_int_t k = mp_obj_get_int(keepalive);
    if (k < 0 || k > 65535) {
        mp_raise_ValueError(MP_ERROR_TEXT("keepalive must be 0..65535 seconds"));
    }
    return (uint16_t)k;
}

// A timeout in seconds (None: none) as the engine's milliseconds.
int32_t umqtt_glue_timeout(mp_obj_t timeout) {
    if (timeout == mp_const_none) {
        return UMQTT_WAIT_FOREVER;
    }
    #if UMQTT_NATMOD
    // Python's arithmetic: no float crosses into the firmware, whose float ABI (or whether it
    // has floats) a native .mpy cannot know.
    mp_obj_t ms_obj = mp_call_function_1(MP_OBJ_FROM_PTR(&mp_type_int),
        mp_binary_op(MP_BINARY_OP_MULTIPLY, timeout, MP_OBJ_NEW_SMALL_INT(1000)));
    if (!mp_obj_is_small_int(ms_obj)) {
        mp_raise_ValueError(MP_ERROR_TEXT("timeout out of range"));
    }
    mp_int_t ms = MP_OBJ_SMALL_INT_VALUE(ms_obj);
    #elif MICROPY_PY_BUILTINS_FLOAT
    mp_float_t ms = mp_obj_get_float(timeout) * 1000;
    #else
    mp_int_t ms = mp_obj_get_int(timeout) * 1000;
    #endif
    if (ms < 0 || ms > INT32_MAX) {
        mp_raise_ValueError(MP_ERROR_TEXT("timeout out of range"));
    }
    return (int32_t)ms;
}

#endif // MICROPY_PY_UMQTT
