# pytest.mark.native_only("umqtt.simple sets no TCP_NODELAY; its split writes stall on Nagle + delayed ACK")
# A packet larger than the engine's transmit buffer leaves as header + payload, two writes: that
# is only fast with TCP_NODELAY on the socket. Without it each QoS 1 publish of 2 KiB waits for
# the broker's delayed ACK (40 ms on Linux); with it, a few ms on loopback. The bound (20 ms on
# average) is half the stall, so only a missing TCP_NODELAY can fail it.
from mqtt_harness import client, topic, done
import time

N = 20
c = client()
c.connect()
msg = bytes(2048)
c.publish(topic("warm-up"), msg, qos=1)
t0 = time.ticks_ms()
for _ in range(N):
    c.publish(topic("nodelay"), msg, qos=1)
dt = time.ticks_diff(time.ticks_ms(), t0)
print("%d QoS 1 publishes of 2 KiB in %d ms" % (N, dt))
assert dt < N * 20, "%.1f ms per QoS 1 publish of 2 KiB: a Nagle + delayed-ACK stall (no TCP_NODELAY?)" % (dt / N)
c.disconnect()
done()
