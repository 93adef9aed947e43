# micropython-lib's umqtt.robust, unchanged, on top of umqtt.simple: it reconnects after the
# socket dies under publish() and under wait_msg(), and check_msg() works.
from mqtt_harness import HOST, PORT, client_id, topic, peer_sub, peer_pub, peer_msgs, Recorder, done, eq, hx
from umqtt.robust import MQTTClient

peer_sub("out", 1)
c = MQTTClient(client_id(), HOST, PORT)
c.DELAY = 0
rec = Recorder()
c.set_callback(rec)
eq(c.connect(clean_session=False), 0, "session present")
c.subscribe(topic("in"), qos=1)
c.publish(topic("out"), b"first", qos=1)
eq(c.check_msg(), None, "check_msg with nothing pending")

c.sock.close()  # the connection dies under the client
c.publish(topic("out"), b"after-reconnect", qos=1)
eq([g["hex"] for g in peer_msgs("out", 2)], [hx(b"first"), hx(b"after-reconnect")], "peer got")

c.sock.close()
peer_pub("in", b"to-robust", qos=1, delay=0.5)
op = None
while op is None:
    op = c.wait_msg()  # reconnects (the session keeps the subscription), then waits
eq(rec.msgs, [(topic("in"), b"to-robust")], "delivered after reconnect")

peer_pub("in", b"checked", qos=1)
for i in range(500):
    if c.check_msg() is not None:
        break
    import time

    time.sleep_ms(10)
eq(rec.msgs[-1], (topic("in"), b"checked"), "check_msg delivery")
c.disconnect()
c.connect()
c.disconnect()
done()
