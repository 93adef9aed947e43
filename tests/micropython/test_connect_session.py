# connect() returns the session-present flag; clean_session=False keeps subscriptions and queues
# QoS 1 messages while offline; clean_session=True discards the session.
from mqtt_harness import client, topic, peer_pub, pump, Recorder, done, eq

c = client()
rec = Recorder()
c.set_callback(rec)
eq(c.connect(clean_session=False), 0, "first persistent connect: session present")
c.subscribe(topic("q"), qos=1)
c.disconnect()

peer_pub("q", b"while-offline", qos=1)

eq(c.connect(clean_session=False), 1, "second persistent connect: session present")
pump(c, lambda: rec.msgs, what="queued message")
eq(rec.msgs, [(topic("q"), b"while-offline")], "queued message")
c.disconnect()

eq(c.connect(clean_session=True), 0, "clean connect: session present")
c.disconnect()
eq(c.connect(False), 0, "persistent connect after a clean one: session present")
c.disconnect()
# default is clean_session=True; connect() again without disconnect() replaces the connection
eq(c.connect(), 0, "default connect")
eq(c.connect(), 0, "second connect")
c.subscribe(topic("q"))
peer_pub("q", b"on-new-connection")
pump(c, lambda: len(rec.msgs) >= 2, what="message on the new connection")
eq(rec.msgs[1], (topic("q"), b"on-new-connection"), "message on the new connection")
c.disconnect()
done()
