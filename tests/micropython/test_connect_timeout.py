# connect(timeout=...) against a broker that accepts but never sends CONNACK raises OSError;
# a later connect() on the same object to a working broker succeeds.
from mqtt_harness import MQTTClient, HOST, client_id, usable_on_broker, fake_broker, fake_log, unhx, raises, done, eq
import time

fid, port = fake_broker(["accept"], ["recv"], ["drain", 8])
c = MQTTClient(client_id(), HOST, port)
t0 = time.ticks_ms()
e = raises(OSError, c.connect, True, 1)
dt = time.ticks_diff(time.ticks_ms(), t0)
assert dt < 5000, "connect(timeout=1) took %d ms" % dt
log = fake_log(fid, timeout=0)  # the CONNECT is logged already
eq(unhx(log["packets"][0])[0], 0x10, "CONNECT was sent")

usable_on_broker(c, "after the timeout", timeout=5)
done()
