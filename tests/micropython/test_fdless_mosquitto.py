# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ, and mosquitto drops a client silent for 1.5 keepalive periods")
# pytest.mark.script_timeout(40)
# Against mosquitto, over sockets without a file descriptor (HiddenFdSocket: a real socket seen
# only through readinto/write/ioctl, as lwIP's are): a blocking wait_msg() with keepalive=2 keeps
# the connection alive with PINGREQs for 6 s until a late message comes, an acknowledgement wait
# pings too, and QoS 1/2 messages go both ways.
from mqtt_harness import hide_fds, client, topic, peer_pub, peer_sub, peer_msgs, Recorder, done, eq, hx
import time

hide_fds()
KA = 2
peer_sub("out", 1)
c = client(keepalive=KA)
rec = Recorder()
c.set_callback(rec)
c.connect()
s = c.sock
assert not hasattr(s, "fileno"), "the stand-in has a file descriptor"
c.subscribe(topic("in"), qos=1)

peer_pub("in", b"late", qos=1, delay=6)
t0 = time.ticks_ms()
while not rec.msgs:
    c.wait_msg()
dt = time.ticks_diff(time.ticks_ms(), t0)
eq(rec.msgs, [(topic("in"), b"late")], "the late message")
assert dt >= 5000, "message after %d ms, before its delay" % dt
assert s.pings >= 3, "%d PINGREQs in %d ms of keepalive %d s" % (s.pings, dt, KA)
print("late message after", dt, "ms,", s.pings, "PINGREQs")

for qos in (1, 2):
    c.publish(topic("out"), b"q%d" % qos, qos=qos)
eq([m["hex"] for m in peer_msgs("out", 2)], [hx(b"q1"), hx(b"q2")], "published over the stand-in")
peer_pub("in", b"q2-in", qos=2)
while len(rec.msgs) < 2:
    c.wait_msg()
eq(rec.msgs[1], (topic("in"), b"q2-in"), "QoS 2 message in")
c.disconnect()
done()
