# connect(timeout=1), then an idle wait_msg loop: umqtt.simple's socket timeout outlives
# connect() on the unix port, so wait_msg may raise OSError(ETIMEDOUT) while nothing arrives.
# Such a timeout, at a packet boundary, must not cost the connection: a message published
# 2.5 s later is still delivered by a following wait_msg, and publish/ping still work.
from mqtt_harness import client, topic, peer_pub, peer_sub, peer_msgs, Recorder, done, eq, hx
import time
import errno

peer_sub("out", 1)
c = client()
rec = Recorder()
c.set_callback(rec)
c.connect(timeout=1)
c.subscribe(topic("in"))
peer_pub("in", b"late", delay=2.5)
timeouts = []
t0 = time.ticks_ms()
while not rec.msgs and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    try:
        c.wait_msg()
    except OSError as e:
        timeouts.append(e)
        if e.args[0] != errno.ETIMEDOUT:
            raise AssertionError("wait_msg after %d idle timeout(s): %r" % (len(timeouts) - 1, e))
print("idle timeouts:", timeouts)
eq(rec.msgs, [(topic("in"), b"late")], "delivered after idle timeouts")
c.publish(topic("out"), b"still-connected", qos=1)
eq([g["hex"] for g in peer_msgs("out", 1)], [hx(b"still-connected")], "peer got")
c.disconnect()
done()
