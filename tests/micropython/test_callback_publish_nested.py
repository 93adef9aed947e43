# pytest.mark.native_only("umqtt.simple 1.8.0 loses a PUBACK when a nested publish(qos=1) in the callback consumes it, then waits forever")
# A burst of messages while the callback publishes at QoS 1: the next message arrives while
# the callback's publish waits for its PUBACK, so callbacks nest. Every echo arrives once.
from mqtt_harness import client, topic, peer_pub, peer_sub, peer_msgs, pump, done, eq

N = 8
peer_sub("out", 1)
c = client()
seen = []


def cb(t, m):
    seen.append(m)
    c.publish(topic("out"), b"echo-" + m, qos=1)


c.set_callback(cb)
c.connect()
c.subscribe(topic("in"), qos=1)
for i in range(N):
    peer_pub("in", b"%d" % i, qos=1)
pump(c, lambda: len(seen) >= N, timeout=10, what="all messages")
got = peer_msgs("out", N, timeout=10)
eq(sorted(bytes.fromhex(g["hex"]) for g in got), sorted(b"echo-%d" % i for i in range(N)), "echoes")
eq(sorted(seen), sorted(b"%d" % i for i in range(N)), "delivered once each")
c.publish(topic("out"), b"end", qos=1)
eq(len(peer_msgs("out", N + 1)), N + 1, "publish afterwards")
c.disconnect()
done()
