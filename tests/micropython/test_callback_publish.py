# The callback publishes (QoS 0 and QoS 1) from inside wait_msg/check_msg; every message
# reaches the peer, in order, and the client keeps working.
from mqtt_harness import client, topic, peer_pub, peer_sub, peer_msgs, pump, done, eq, hx

peer_sub("out", 1)
c = client()
seen = []


def cb(t, m):
    seen.append(m)
    c.publish(topic("out"), b"q0-" + m)
    c.publish(topic("out"), b"q1-" + m, qos=1)


c.set_callback(cb)
c.connect()
c.subscribe(topic("in"), qos=1)
for i in range(3):
    m = b"m%d" % i
    peer_pub("in", m, qos=i % 2)
    if i == 2:
        pump(c, lambda: len(seen) == 3, what="m2")
    else:
        op = None
        while op is None:
            op = c.wait_msg()
want = []
for i in range(3):
    want += [b"q0-m%d" % i, b"q1-m%d" % i]
got = peer_msgs("out", 6)
eq([bytes.fromhex(g["hex"]) for g in got], want, "peer got")
eq([g["qos"] for g in got], [0, 1] * 3, "qos")
c.publish(topic("out"), b"end", qos=1)
eq(peer_msgs("out", 7)[-1]["hex"], hx(b"end"), "publish afterwards")
c.disconnect()
done()
