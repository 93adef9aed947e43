# uartstream: a CMSDK APB UART of QEMU's MPS2 boards as a MicroPython stream with
# socket-like methods (test-only; see qemu/net/README.md). Built into the net firmware
# variant by qemu/net/build, never into the normal firmware.
UARTSTREAM_MOD_DIR := $(USERMOD_DIR)

SRC_USERMOD_C += $(UARTSTREAM_MOD_DIR)/moduartstream.c
