# The frozen part of the umqtt module: micropython-lib's umqtt.robust, unchanged, as
# umqtt/robust.py, and the asyncio client umqtt/aio.py (which needs the port's asyncio). The
# built-in `umqtt` finds them through its __path__ (".frozen/umqtt"); robust's
# `from . import simple` gets the built-in umqtt.simple.
# Include this file from a board's manifest; needs MPY_LIB_DIR (micropython-lib).
package("umqtt", files=["robust.py"], base_path="$(MPY_LIB_DIR)/micropython/umqtt.robust")
package("umqtt", files=["aio.py"], base_path=".")
