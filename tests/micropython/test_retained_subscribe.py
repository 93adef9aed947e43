# Retained messages arrive around SUBACK: the broker sends them right after subscribing, so
# the ones for a first subscription reach the client while its second subscribe() waits for
# its SUBACK; the callback must get them there, in order, with nothing lost.
from mqtt_harness import client, topic, peer_pub, pump, Recorder, done, eq

peer_pub("r1", b"retained-1", qos=1, retain=True)
peer_pub("r2", b"retained-2", qos=1, retain=True)
c = client()
rec = Recorder()
c.set_callback(rec)
c.connect()
c.subscribe(topic("r1"), qos=1)
c.subscribe(topic("r2"), qos=0)
eq(rec.msgs[:1], [(topic("r1"), b"retained-1")], "delivered by the time the second subscribe returned")
pump(c, lambda: len(rec.msgs) >= 2, what="second retained message")
eq(rec.msgs, [(topic("r1"), b"retained-1"), (topic("r2"), b"retained-2")], "retained messages")
# clear the retained messages
c.publish(topic("r1"), b"", retain=True)
c.publish(topic("r2"), b"", retain=True, qos=1)
c.disconnect()
done()
