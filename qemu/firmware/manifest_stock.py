# The stock firmware the native .mpy is tested on (UMQTT_QEMU_STOCK=1 qemu/firmware/build): no
# umqtt module, but micropython-lib's umqtt.simple and umqtt.robust frozen in, as the stock ESP32
# and RP2 images have them. The natmod package installed at the filesystem's root must shadow
# them (sys.path is ["", ".frozen", ...]); the tests' harness checks that it did.
require("umqtt.simple")
require("umqtt.robust")
