/*
 * moduartstream.c - a UART of QEMU's MPS2 machines as a stream that stands in for a socket.
 *
 * Test-only (qemu/net/): QEMU's `-serial tcp:127.0.0.1:PORT` makes the byte stream of the
 * second UART a TCP connection to PORT, so a stream on that UART is a connected socket
 * without a network stack. The object has the stream protocol (read/write/ioctl with
 * MP_STREAM_POLL, no file descriptor) and the socket methods a client calls
 * (settimeout, setblocking, setsockopt, connect, close), so that a `socket` module in
 * Python whose socket() returns one makes umqtt.MQTTClient use it.
 *
 * The UART is ARM's CMSDK APB UART (DDI0479C), as QEMU's hw/char/cmsdk-apb-uart.c models
 * it: a one-byte holding register each way. Reading DATA clears RXFULL and lets QEMU
 * hand over the next byte; writing DATA sends the byte at once unless the chardev is
 * busy (TXFULL stays set until it drains). RX must be enabled in CTRL, or QEMU leaves
 * the bytes in the chardev; TX too, or a written byte stays in TXFULL for good (a BAUDDIV
 * below 16 only makes QEMU log a guest error; it is set to 16 as ports/qemu does for UART0).
 *
 * What a UART cannot tell: that the peer closed. QEMU's chardev drops what is written
 * after the TCP connection went away and reads simply stay empty, so a read never
 * returns 0 (EOF): a dead peer is noticed by a timeout or a keepalive, as a silent one.
 *
 *   import uartstream
 *   s = uartstream.UARTStream(1)   # UART1 at 0x40005000: QEMU's second -serial
 *   s.settimeout(2); s.connect(("127.0.0.1", 1883)); s.write(b"...")
 */
#include <stdint.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/stream.h"

#if !defined(QEMU_SOC_MPS2)
#error "uartstream: the UART addresses are those of QEMU's MPS2 machines (QEMU_SOC_MPS2)"
#endif

// Register block of one CMSDK APB UART.
typedef struct _cmsdk_uart_regs_t {
    volatile uint32_t DATA;      // +0x00 read: received byte, clears RXFULL; write: byte to send
    volatile uint32_t STATE;     // +0x04 TXFULL, RXFULL, TX/RX overrun (write 1 to clear)
    volatile uint32_t CTRL;      // +0x08 TX/RX enable, interrupt enables
    volatile uint32_t INTSTATUS; // +0x0C interrupt status (write 1 to clear)
    volatile uint32_t BAUDDIV;   // +0x10 baud rate divider, 16 or more
} cmsdk_uart_regs_t;

#define UART_STATE_TXFULL (1 << 0)
#define UART_STATE_RXFULL (1 << 1)
#define UART_STATE_TXOVERRUN (1 << 2)
#define UART_STATE_RXOVERRUN (1 << 3)
#define UART_CTRL_TX_EN (1 << 0)
#define UART_CTRL_RX_EN (1 << 1)
#define UART_BAUDDIV_MIN (16)

// UART0..UART4 of the MPS2 FPGA images QEMU models (AN385, AN386, AN500): the -serial
// options in order. UART0 is MicroPython's REPL (ports/qemu/uart.c) and is not offered.
static const uintptr_t uart_base[] = { 0x40004000, 0x40005000, 0x40006000, 0x40007000, 0x40009000 };

// Timeouts as the socket module keeps them: -1 blocks forever, 0 never blocks.
#define UARTSTREAM_FOREVER (-1)

typedef struct _uartstream_obj_t {
    mp_obj_base_t base;
    cmsdk_uart_regs_t *regs;
    int32_t timeout_ms;
    uint8_t uart_id;
    bool closed;
} uartstream_obj_t;

static void uartstream_enable(uartstream_obj_t *self) {
    if (self->regs->BAUDDIV < UART_BAUDDIV_MIN) {
        self->regs->BAUDDIV = UART_BAUDDIV_MIN;
    }
    self->regs->STATE = UART_STATE_TXOVERRUN | UART_STATE_RXOVERRUN;
    self->regs->CTRL |= UART_CTRL_TX_EN | UART_CTRL_RX_EN;
}

static bool uartstream_ready(uartstream_obj_t *self, bool for_write) {
    uint32_t state = self->regs->STATE;
    return for_write ? !(state & UART_STATE_TXFULL) : (state & UART_STATE_RXFULL) != 0;
}

// Waits until the UART can take (for_write) or give a byte; false when the timeout passed.
// A timeout of 0 does not wait; pending events (scheduled callbacks) run while waiting.
static bool uartstream_wait(uartstream_obj_t *self, bool for_write, int32_t timeout_ms) {
    mp_uint_t start = mp_hal_ticks_ms();
    while (!uartstream_ready(self, for_write)) {
        if (timeout_ms != UARTSTREAM_FOREVER && mp_hal_ticks_ms() - start >= (mp_uint_t)timeout_ms) {
            return false;
        }
        mp_event_handle_nowait();
    }
    return true;
}

static mp_obj_t uartstream_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    mp_int_t id = n_args > 0 ? mp_obj_get_int(args[0]) : 1;
    if (id < 1 || id >= (mp_int_t)MP_ARRAY_SIZE(uart_base)) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("UART(%d) doesn't exist"), (int)id);
    }
    uartstream_obj_t *self = mp_obj_malloc(uartstream_obj_t, type);
    self->regs = (cmsdk_uart_regs_t *)uart_base[id];
    self->timeout_ms = UARTSTREAM_FOREVER;
    self->uart_id = (uint8_t)id;
    self->closed = false;
    uartstream_enable(self);
    return MP_OBJ_FROM_PTR(self);
}

static void uartstream_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    (void)kind;
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "<UARTStream %u at 0x%08x%s>", self->uart_id, (unsigned)(uintptr_t)self->regs,
        self->closed ? " closed" : "");
}

/******************************************************************************/
// Stream protocol

static mp_uint_t uartstream_read(mp_obj_t self_in, void *buf_in, mp_uint_t size, int *errcode) {
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->closed) {
        *errcode = MP_EBADF;
        return MP_STREAM_ERROR;
    }
    if (size == 0) {
        return 0;
    }
    if (!uartstream_wait(self, false, self->timeout_ms)) {
        *errcode = self->timeout_ms == 0 ? MP_EAGAIN : MP_ETIMEDOUT;
        return MP_STREAM_ERROR;
    }
    // What the register holds now, without waiting for more: QEMU moves the next byte in
    // from its main loop after DATA was read, so a read mostly gives one byte. (Waiting a
    // few hundred microseconds for the rest of a burst was tried: round trips got slower.)
    uint8_t *buf = buf_in;
    mp_uint_t n = 0;
    do {
        buf[n++] = self->regs->DATA;
    } while (n < size && uartstream_ready(self, false));
    return n;
}

static mp_uint_t uartstream_write(mp_obj_t self_in, const void *buf_in, mp_uint_t size, int *errcode) {
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->closed) {
        *errcode = MP_EBADF;
        return MP_STREAM_ERROR;
    }
    const uint8_t *buf = buf_in;
    mp_uint_t start = mp_hal_ticks_ms();
    for (mp_uint_t n = 0; n < size; ++n) {
        // The timeout bounds the whole write, as SO_SNDTIMEO does.
        int32_t left = self->timeout_ms;
        if (left > 0) {
            mp_uint_t elapsed = mp_hal_ticks_ms() - start;
            left = elapsed >= (mp_uint_t)left ? 0 : left - (int32_t)elapsed;
        }
        if (!uartstream_wait(self, true, left)) {
            if (n > 0) {
                return n;
            }
            *errcode = self->timeout_ms == 0 ? MP_EAGAIN : MP_ETIMEDOUT;
            return MP_STREAM_ERROR;
        }
        self->regs->DATA = buf[n];
    }
    return size;
}

static mp_uint_t uartstream_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (request) {
        case MP_STREAM_POLL: {
            if (self->closed) {
                return MP_STREAM_POLL_NVAL;
            }
            mp_uint_t ret = 0;
            if ((arg & MP_STREAM_POLL_RD) && uartstream_ready(self, false)) {
                ret |= MP_STREAM_POLL_RD;
            }
            if ((arg & MP_STREAM_POLL_WR) && uartstream_ready(self, true)) {
                ret |= MP_STREAM_POLL_WR;
            }
            return ret;
        }
        case MP_STREAM_CLOSE:
            // The UART stays enabled: QEMU's TCP connection outlives the object.
            self->closed = true;
            return 0;
        default:
            // MP_STREAM_GET_FILENO included: there is no file descriptor.
            *errcode = MP_EINVAL;
            return MP_STREAM_ERROR;
    }
}

/******************************************************************************/
// Socket methods

// settimeout(None) blocks, settimeout(0) never blocks, settimeout(t) waits t seconds
// (the test firmware has floats; the tests give sane values).
static mp_obj_t uartstream_settimeout(mp_obj_t self_in, mp_obj_t timeout_in) {
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    self->timeout_ms = timeout_in == mp_const_none ? UARTSTREAM_FOREVER : (int32_t)(mp_obj_get_float(timeout_in) * 1000);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(uartstream_settimeout_obj, uartstream_settimeout);

static mp_obj_t uartstream_setblocking(mp_obj_t self_in, mp_obj_t flag_in) {
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    self->timeout_ms = mp_obj_is_true(flag_in) ? UARTSTREAM_FOREVER : 0;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(uartstream_setblocking_obj, uartstream_setblocking);

// TCP options belong to QEMU's end of the connection (-serial tcp:...,nodelay=on): accepted
// and ignored, so that a client setting TCP_NODELAY works unchanged.
static mp_obj_t uartstream_setsockopt(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    (void)args;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(uartstream_setsockopt_obj, 4, 4, uartstream_setsockopt);

// The address is QEMU's to know (-serial tcp:HOST:PORT): connect() only (re)opens the
// UART. Bytes still in the receive register belong to no connection and are dropped.
static mp_obj_t uartstream_connect(mp_obj_t self_in, mp_obj_t addr_in) {
    uartstream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    (void)addr_in;
    uartstream_enable(self);
    while (uartstream_ready(self, false)) {
        (void)self->regs->DATA;
    }
    self->closed = false;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(uartstream_connect_obj, uartstream_connect);

static const mp_rom_map_elem_t uartstream_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_stream_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&mp_stream_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mp_stream_close_obj) },
    { MP_ROM_QSTR(MP_QSTR_settimeout), MP_ROM_PTR(&uartstream_settimeout_obj) },
    { MP_ROM_QSTR(MP_QSTR_setblocking), MP_ROM_PTR(&uartstream_setblocking_obj) },
    { MP_ROM_QSTR(MP_QSTR_setsockopt), MP_ROM_PTR(&uartstream_setsockopt_obj) },
    { MP_ROM_QSTR(MP_QSTR_connect), MP_ROM_PTR(&uartstream_connect_obj) },
};
static MP_DEFINE_CONST_DICT(uartstream_locals_dict, uartstream_locals_dict_table);

static const mp_stream_p_t uartstream_stream_p = {
    .read = uartstream_read,
    .write = uartstream_write,
    .ioctl = uartstream_ioctl,
};

static MP_DEFINE_CONST_OBJ_TYPE(
    uartstream_type,
    MP_QSTR_UARTStream,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    make_new, uartstream_make_new,
    print, uartstream_print,
    protocol, &uartstream_stream_p,
    locals_dict, &uartstream_locals_dict
    );

/******************************************************************************/
// Module

static const mp_rom_map_elem_t uartstream_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_uartstream) },
    { MP_ROM_QSTR(MP_QSTR_UARTStream), MP_ROM_PTR(&uartstream_type) },
};
static MP_DEFINE_CONST_DICT(uartstream_module_globals, uartstream_module_globals_table);

const mp_obj_module_t uartstream_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&uartstream_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_uartstream, uartstream_user_cmodule);
