# unsubscribe() stops delivery; other subscriptions keep working.
from mqtt_harness import client, topic, peer_pub, pump, Recorder, done, eq

c = client()
rec = Recorder()
c.set_callback(rec)
c.connect()
c.subscribe(topic("a"), qos=1)
c.subscribe(topic("b"))
peer_pub("a", b"a1", qos=1)
pump(c, lambda: rec.msgs, what="a1")
pid = c.pid
c.unsubscribe(topic("a"))
eq(c.pid, pid + 1, "unsubscribe uses a packet id")
peer_pub("a", b"a2-must-not-arrive", qos=1)
peer_pub("b", b"marker", qos=1)
pump(c, lambda: len(rec.msgs) >= 2, what="marker")
eq(rec.msgs, [(topic("a"), b"a1"), (topic("b"), b"marker")], "delivered")
c.unsubscribe(topic("never-subscribed"))
c.disconnect()
done()
