# pytest.mark.native_only("umqtt.simple 1.8.0 has no QoS 2 (assert 0)")
# QoS 2 both ways with a real broker: exactly one delivery each way, handshakes completed
# (a persistent session does not resend after reconnect).
from mqtt_harness import client, topic, peer_sub, peer_pub, peer_msgs, pump, Recorder, done, eq

peer_sub("out", 2)
c = client()
rec = Recorder()
c.set_callback(rec)
eq(c.connect(clean_session=False), 0, "session present")
c.subscribe(topic("in"), qos=2)
c.publish(topic("out"), b"exactly-once", qos=2)
c.publish(topic("out"), b"second", qos=2)
got = peer_msgs("out", 2)
eq([(bytes.fromhex(g["hex"]), g["qos"]) for g in got], [(b"exactly-once", 2), (b"second", 2)], "peer got")

peer_pub("in", b"q2-in", qos=2)
op = None
while op is None:
    op = c.wait_msg()
eq(op & 0xF6, 0x34, "wait_msg return value for a QoS 2 PUBLISH")
peer_pub("in", b"q2-in-b", qos=2)
pump(c, lambda: len(rec.msgs) >= 2, what="second QoS 2 message")
# keep serving the flow (PUBREL) before leaving
peer_pub("in", b"q1-marker", qos=1)
pump(c, lambda: len(rec.msgs) >= 3, what="marker")
c.disconnect()

eq(c.connect(clean_session=False), 1, "session present")
peer_pub("in", b"marker2", qos=1)
pump(c, lambda: len(rec.msgs) >= 4, what="marker2")
eq(rec.msgs, [(topic("in"), m) for m in (b"q2-in", b"q2-in-b", b"q1-marker", b"marker2")], "delivered once each")
c.publish(topic("out"), b"third", qos=2)
got = peer_msgs("out", 3)
eq(len(got), 3, "peer count")
c.disconnect()
c.connect()
c.disconnect()
got = peer_msgs("out", 4, timeout=0.5)
eq(len(got), 3, "no duplicate at the peer")
done()
