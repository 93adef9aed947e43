# A 100 KiB message both ways (QoS 1 and QoS 0), byte-exact.
from mqtt_harness import subscribed_client, topic, peer_sub, peer_msgs, peer, topic_s, gen, sha256hex, pump, done, eq

N = 100 * 1024
big = gen(N)
peer_sub("out", 1)
c, rec = subscribed_client("in", qos=1)
c.publish(topic("out"), big, qos=1)
c.publish(topic("out"), memoryview(big)[1:], qos=0)
got = peer_msgs("out", 2, timeout=10)
eq([(g["len"], g["sha256"]) for g in got], [(N, sha256hex(big)), (N - 1, sha256hex(big[1:]))], "peer got")

peer("pub", topic=topic_s("in"), gen=N, qos=1)
peer("pub", topic=topic_s("in"), gen=N, qos=0)
pump(c, lambda: len(rec.msgs) >= 2, timeout=10, what="big messages")
for t, m in rec.msgs:
    eq(t, topic("in"), "topic")
    eq(len(m), N, "length")
    assert m == big, "payload differs"
c.disconnect()
done()
