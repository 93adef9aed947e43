# QoS 0 both ways with a real broker: device -> peer, peer -> device, device -> itself.
# Topics and messages may be bytes, bytearray, memoryview or str; the callback gets bytes.
from mqtt_harness import client, topic, topic_s, peer_sub, peer_pub, peer_msgs, pump, Recorder, done, eq, hx

c = client()
rec = Recorder()
c.set_callback(rec)
eq(c.connect(), 0, "session present")
peer_sub("out", 0)
c.subscribe(topic("in"))
c.subscribe(topic("loop"), 0)

sent = [
    (topic("out"), b"bytes"),
    (bytearray(topic("out")), bytearray(b"bytearray")),
    (memoryview(topic("out")), memoryview(b"memoryview")),
    (topic_s("out"), "str"),
    (topic("out"), b""),
]
for t, m in sent:
    c.publish(t, m)
got = peer_msgs("out", len(sent))
eq([bytes.fromhex(g["hex"]) for g in got], [b"bytes", b"bytearray", b"memoryview", b"str", b""], "peer got")
eq([(g["qos"], g["retain"]) for g in got], [(0, False)] * len(sent), "qos/retain seen by peer")

c.publish(topic("out"), b"kept", retain=True)
got = peer_msgs("out", len(sent) + 1)
eq((got[-1]["hex"], got[-1]["qos"]), (hx(b"kept"), 0), "retained publish")

peer_pub("in", b"from-peer")
pump(c, lambda: rec.msgs, wait=True, what="peer message")
t, m = rec.msgs[0]
eq(type(t), bytes, "callback topic type")
eq(type(m), bytes, "callback msg type")
eq((t, m), (topic("in"), b"from-peer"), "delivered")

# wait_msg returns the PUBLISH's first byte
c.publish(topic("loop"), b"to-self")
op = None
while op is None:
    op = c.wait_msg()
eq(op, 0x30, "wait_msg return value for a QoS 0 PUBLISH")
eq(rec.msgs[-1], (topic("loop"), b"to-self"), "own message")
c.disconnect()
done()
