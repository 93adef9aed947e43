# Frozen part of the QEMU test firmware: what a board gets (umqtt.robust, umqtt.aio) and the
# asyncio that umqtt.aio runs on. The qemu port builds no _asyncio C module
# (MICROPY_PY_ASYNCIO is 0 there), so asyncio's pure-Python task.py comes along.
include("../../micropython_port/manifest.py")
include("$(MPY_DIR)/extmod/asyncio")
package("asyncio", files=["task.py"], base_path="$(MPY_DIR)/extmod")
