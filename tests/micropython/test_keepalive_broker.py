# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no automatic PINGREQ; mosquitto drops it after 1.5 x keepalive")
# keepalive=2 against mosquitto (which disconnects a client silent for 3 s): a client idling
# ~4.5 s in a check_msg loop, then in a wait_msg loop, stays connected because PINGREQs go out.
from mqtt_harness import client, topic, peer_pub, peer_sub, peer_msgs, Recorder, done, eq, hx
import time

peer_sub("out", 1)
c = client(keepalive=2)
rec = Recorder()
c.set_callback(rec)
c.connect()
c.subscribe(topic("in"), qos=1)

t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 4500:
    c.check_msg()
    time.sleep_ms(20)
c.publish(topic("out"), b"alive-after-check_msg", qos=1)
eq([g["hex"] for g in peer_msgs("out", 1)], [hx(b"alive-after-check_msg")], "peer got")

# wait_msg: the message comes 4.5 s later; meanwhile wait_msg must ping (it may return None
# for each PINGRESP).
peer_pub("in", b"late", qos=1, delay=4.5)
t0 = time.ticks_ms()
while not rec.msgs:
    c.wait_msg()
eq(rec.msgs, [(topic("in"), b"late")], "delivered after idling in wait_msg")
assert time.ticks_diff(time.ticks_ms(), t0) > 4000, "message came early"
c.publish(topic("out"), b"alive-after-wait_msg", qos=1)
eq(len(peer_msgs("out", 2)), 2, "peer got the second")
c.disconnect()
done()
