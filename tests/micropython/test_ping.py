# ping() sends PINGREQ; the PINGRESP is consumed by wait_msg, which returns None for it as
# umqtt.simple does.
from mqtt_harness import subscribed_client, topic, peer_pub, pump, done, eq

c, rec = subscribed_client("in")
for i in range(3):
    c.ping()
    eq(c.wait_msg(), None, "wait_msg after ping")
c.ping()
c.ping()
peer_pub("in", b"after-pings")
pump(c, lambda: rec.msgs, wait=True, what="message after pings")
eq(rec.msgs, [(topic("in"), b"after-pings")], "message after pings")
c.disconnect()
done()
