/*
 * umqtt_errors.c - the engine's error codes as the exceptions umqtt.simple's
 * users expect: OSError with an errno for the network (umqtt.robust
 * reconnects on OSError), MQTTException with the broker's return code,
 * ValueError for arguments. The texts are the engine's (umqtt_error_message).
 */
#include "umqtt_glue.h"

#if MICROPY_PY_UMQTT

UMQTT_DEFINE_EXCEPTION(MQTTException, Exception)

static mp_obj_t error_text(umqtt_client_t *client) {
    size_t len;
    const char *msg = umqtt_error_message(client, &len);
    return mp_obj_new_str(msg, len);
}

MP_NORETURN void umqtt_glue_raise(umqtt_obj_t *self, int32_t rc) {
    umqtt_client_t *client = umqtt_glue_client(self);
    switch (rc) {
        case UMQTT_ERR_IO:
            mp_raise_OSError(umqtt_error_detail(client));
        case UMQTT_ERR_CLOSED:
            mp_raise_OSError(MP_ECONNRESET);
        case UMQTT_ERR_TIMEOUT:
        case UMQTT_ERR_KEEPALIVE:
            mp_raise_OSError(MP_ETIMEDOUT);
        case UMQTT_ERR_NOT_CONNECTED:
            mp_raise_OSError(MP_ENOTCONN);
        case UMQTT_ERR_BUSY:
            mp_raise_OSError(MP_EBUSY);
        case UMQTT_ERR_WOULD_BLOCK:
            mp_raise_OSError(MP_EAGAIN);
        case UMQTT_ERR_REFUSED:
        case UMQTT_ERR_SUBSCRIBE:
            nlr_raise(mp_obj_new_exception_arg1(&mp_type_MQTTException,
                MP_OBJ_NEW_SMALL_INT(umqtt_error_detail(client))));
        case UMQTT_ERR_PROTOCOL:
            // An OSError, so that umqtt.robust reconnects.
            nlr_raise(mp_obj_new_exception_arg1(&mp_type_OSError, error_text(client)));
        case UMQTT_ERR_INVALID_ARG:
        case UMQTT_ERR_TOO_LARGE:
            nlr_raise(mp_obj_new_exception_arg1(&mp_type_ValueError, error_text(client)));
        default:
            nlr_raise(mp_obj_new_exception_arg1(&mp_type_RuntimeError, error_text(client)));
    }
}

int32_t umqtt_glue_finish(umqtt_call_t *call, int32_t rc) {
    if (call->exc != MP_OBJ_NULL) {
        nlr_raise(call->exc);
    }
    if (rc < 0) {
        umqtt_glue_raise(call->self, rc);
    }
    return rc;
}

#endif // MICROPY_PY_UMQTT
