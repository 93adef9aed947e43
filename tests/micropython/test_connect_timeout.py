# connect(timeout=...) against a broker that accepts but never sends CONNACK raises OSError;
# a later connect() on the same object to a working broker succeeds.
from mqtt_harness import MQTTClient, HOST, PORT, client_id, fake_broker, fake_log, unhx, raises, done, eq
import time

fid, port = fake_broker(["accept"], ["recv"], ["drain", 8])
c = MQTTClient(client_id(), HOST, port)
t0 = time.ticks_ms()
e = raises(OSError, c.connect, True, 1)
dt = time.ticks_diff(time.ticks_ms(), t0)
assert dt < 5000, "connect(timeout=1) took %d ms" % dt
log = fake_log(fid, timeout=0)  # the CONNECT is logged already
eq(unhx(log["packets"][0])[0], 0x10, "CONNECT was sent")

c.server, c.port = HOST, PORT
eq(c.connect(timeout=5), 0, "connect after the timeout")
c.ping()
eq(c.wait_msg(), None, "PINGRESP")
c.disconnect()
done()
