# A PUBLISH that reaches the client while publish(qos=1) waits for its PUBACK is delivered to
# the callback, and publish() still returns once its PUBACK arrives.
from mqtt_harness import subscribed_client, topic, peer_pub, peer_sub, peer_msgs, pump, done, eq

peer_sub("out", 1)
c, rec = subscribed_client("in", qos=1)
# The broker has sent these to our socket before it even sees our PUBLISH below,
# so they are ahead of its PUBACK.
peer_pub("in", b"early-1", qos=1)
peer_pub("in", b"early-0", qos=0)
eq(rec.msgs, [], "nothing delivered before publish")
c.publish(topic("out"), b"mine", qos=1)
eq(rec.msgs, [(topic("in"), b"early-1"), (topic("in"), b"early-0")], "delivered during publish(qos=1)")
eq(len(peer_msgs("out", 1)), 1, "peer got the publish")

# Own subscription: the broker forwards our QoS 1 message to us around its PUBACK.
c.subscribe(topic("out"), qos=1)
c.publish(topic("out"), b"loop", qos=1)
pump(c, lambda: len(rec.msgs) >= 3, what="looped message")
eq(rec.msgs[2], (topic("out"), b"loop"), "looped message")
c.publish(topic("out"), b"after", qos=1)
pump(c, lambda: len(rec.msgs) >= 4, what="second looped message")
eq(rec.msgs[3], (topic("out"), b"after"), "second looped message")
c.disconnect()
done()
