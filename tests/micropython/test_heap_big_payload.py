# pytest.mark.qemu
# pytest.mark.native_only("MemBroker stands in for socket.socket(), which umqtt.simple binds when imported")
# pytest.mark.heapsize("256k")
# pytest.mark.script_timeout(60)
# Big payloads in a small heap (256 KiB, as the QEMU firmware's): a QoS 1 publish of 60% of the
# free heap goes out from the caller's buffer (no copy), a message of 40% is received straight
# into the bytes object the callback gets, and one larger than the heap gives a clear
# MemoryError with the client still usable.
import gc
from mqtt_harness import MQTTClient, HOST, client_id, mem_broker, topic, pattern_sum, raises, done, eq
from mqtt_harness import _PAT

b = mem_broker()
got = []


def cb(t, m):
    got.append((t, len(m), sum(m)))


c = MQTTClient(client_id(), HOST, 1883)
c.set_callback(cb)
c.connect()

gc.collect()
free = gc.mem_free()
n = free * 60 // 100
msg = bytearray(n)
mv = memoryview(msg)
for i in range(0, n, len(_PAT)):
    k = min(len(_PAT), n - i)
    mv[i : i + k] = _PAT[:k]
del mv
c.publish(topic("out"), msg, qos=1)
first, t, pid, length, total = b.packets[-1]
eq((first, t, length, total), (0x32, topic("out"), n, pattern_sum(n)), "PUBLISH the broker got")
print("published", n, "B of", free, "B free")
del msg
gc.collect()

free = gc.mem_free()
m = free * 40 // 100
b.serve(topic("in"), m, qos=1, pid=7)
while not got:
    c.wait_msg()
eq(got, [(topic("in"), m, pattern_sum(m))], "received")
eq(b.packets[-1], (0x40, b"\x00\x07"), "PUBACK")
print("received", m, "B of", free, "B free")
gc.collect()

free = gc.mem_free()
huge = free + 4096
b.serve(topic("in"), huge)
e = raises(MemoryError, c.wait_msg)
assert str(huge) in str(e), "MemoryError names the size: %r" % e
b.serve(topic("in"), 5)
while len(got) < 2:
    c.wait_msg()  # None while the refused payload is skipped
eq(got[1], (topic("in"), 5, pattern_sum(5)), "message after the refused one")
c.publish(topic("after"), b"ok", qos=1)
eq(b.packets[-1][:2], (0x32, topic("after")), "publish after the MemoryError")
c.disconnect()
done()
