# An exception raised by the callback propagates out of wait_msg/check_msg unchanged, and the
# client stays usable: the next messages arrive, publish and subscribe work.
from mqtt_harness import client, topic, peer_pub, peer_sub, peer_msgs, pump, done, eq, hx

got = []


class Boom(Exception):
    pass


def cb(t, m):
    got.append(m)
    if m.startswith(b"raise"):
        raise Boom(m)


peer_sub("out", 1)
c = client()
c.set_callback(cb)
c.connect()
c.subscribe(topic("in"))
peer_pub("in", b"raise-1")
peer_pub("in", b"fine-1")
try:
    while True:
        c.wait_msg()
except Boom as e:
    eq(e.args, (b"raise-1",), "exception from wait_msg")
op = None
while op is None:
    op = c.wait_msg()
eq(got, [b"raise-1", b"fine-1"], "after the exception")

peer_pub("in", b"raise-2")
peer_pub("in", b"fine-2")
try:
    pump(c, lambda: False, timeout=5)
except Boom as e:
    eq(e.args, (b"raise-2",), "exception from check_msg")
pump(c, lambda: len(got) >= 4, what="fine-2")
eq(got, [b"raise-1", b"fine-1", b"raise-2", b"fine-2"], "after the second exception")

c.publish(topic("out"), b"still-works", qos=1)
eq([g["hex"] for g in peer_msgs("out", 1)], [hx(b"still-works")], "publish after exceptions")
c.subscribe(topic("in2"), qos=1)
peer_pub("in2", b"fine-3", qos=1)
pump(c, lambda: len(got) >= 5, what="fine-3")
eq(got[-1], b"fine-3", "subscribe after exceptions")
c.disconnect()
done()
