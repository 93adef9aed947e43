# pytest.mark.qemu
# The native .mpy reads the port's clock through time.ticks_ms(), which wraps at its small-int
# range (2^30 ms, 12.4 days, on a 32-bit board), where the engine's millisecond clock wraps at
# 2^32: each client extends one into the other. Across the wrap, keepalive keeps its period: no
# PINGREQ (or silent-broker timeout) when ticks_ms jumps back to 0, one once it is due (after
# half the keepalive idle, the engine's rule). The
# clock here is a time.ticks_ms stand-in the client is made with (in sys.modules, where the
# module looks), 10 s before its wrap, advanced by hand.
import sys
import time
from mqtt_harness import MQTTClient, HOST, IMPL, client_id, mem_broker, done, eq, skip

if IMPL != "natmod":
    skip("only the native .mpy reads time.ticks_ms (the built-in module reads the port's clock in C)")

PERIOD = time.ticks_add(0, -1) + 1
now = [PERIOD - 10000]


class Clock:
    @staticmethod
    def ticks_ms():
        return now[0] & (PERIOD - 1)


b = mem_broker()
sys.modules["time"] = Clock
try:
    c = MQTTClient(client_id(), HOST, 1883, keepalive=60)
finally:
    del sys.modules["time"]
c.connect()


def pings():
    return sum(1 for p in b.packets if p[0] == 0xC0)


for s in range(1, 26):  # 25 s of the port's clock, ticks_ms wrapping to 0 at 10 s
    now[0] += 1000
    eq(c.check_msg(), None, "check_msg at %d s" % s)
eq(pings(), 0, "PINGREQ in the first 25 s of a 60 s keepalive (due at 30 s idle)")
for s in range(26, 41):
    now[0] += 1000
    c.check_msg()
eq(pings(), 1, "PINGREQ by 40 s")
c.disconnect()
done()
