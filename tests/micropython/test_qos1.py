# QoS 1 both ways with a real broker. The device's PUBACK is proven by a persistent session
# that does not redeliver; packet ids count up as in umqtt.simple.
from mqtt_harness import client, topic, peer_sub, peer_pub, peer_msgs, pump, Recorder, done, eq

peer_sub("out", 1)
c = client()
rec = Recorder()
c.set_callback(rec)
eq(c.connect(clean_session=False), 0, "session present")
eq(c.pid, 0, "pid after connect")
c.subscribe(topic("in"), qos=1)
eq(c.pid, 1, "pid after subscribe")
c.publish(topic("out"), b"one", qos=1)
eq(c.pid, 2, "pid after QoS 1 publish")
c.publish(topic("out"), b"two", qos=1, retain=True)
eq(c.pid, 3, "pid after second QoS 1 publish")
c.publish(topic("out"), b"zero", qos=0)
eq(c.pid, 3, "pid after QoS 0 publish")
got = peer_msgs("out", 3)
eq([(bytes.fromhex(g["hex"]), g["qos"]) for g in got], [(b"one", 1), (b"two", 1), (b"zero", 0)], "peer got")

peer_pub("in", b"q1-in", qos=1)
op = None
while op is None:
    op = c.wait_msg()
eq(op & 0xF6, 0x32, "wait_msg return value for a QoS 1 PUBLISH")
eq(rec.msgs, [(topic("in"), b"q1-in")], "delivered")

# If the PUBACK had not been sent, the broker would redeliver the message on reconnect,
# before the marker below.
c.disconnect()
eq(c.connect(clean_session=False), 1, "session present")
peer_pub("in", b"marker", qos=1)
pump(c, lambda: len(rec.msgs) >= 2, what="marker")
eq(rec.msgs, [(topic("in"), b"q1-in"), (topic("in"), b"marker")], "no redelivery")
c.disconnect()
c.connect(clean_session=True)
c.disconnect()
done()
