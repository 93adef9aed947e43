# MQTTClient subclassed from Python: __init__/connect/publish/wait_msg overridden with super()
# calls, extra attributes, class attributes, a bound-method callback.
from mqtt_harness import MQTTClient, HOST, PORT, client_id, topic, peer_sub, peer_msgs, done, eq, hx


class Client(MQTTClient):
    GREETING = b"hello"

    def __init__(self, cid, server, port, **kw):
        super().__init__(cid, server, port, **kw)
        self.published = 0
        self.received = []
        self.connects = 0
        self.set_callback(self.on_message)

    def connect(self, clean_session=True):
        r = super().connect(clean_session)
        self.connects += 1
        return r

    def publish(self, topic, msg, retain=False, qos=0):
        self.published += 1
        return super().publish(topic, msg, retain, qos)

    def wait_msg(self):
        op = super().wait_msg()
        return op

    def on_message(self, t, m):
        self.received.append((t, m))


peer_sub("out", 1)
c = Client(client_id(), HOST, PORT, keepalive=60)
assert isinstance(c, MQTTClient)
eq((c.port, c.keepalive, c.published), (PORT, 60, 0), "attributes")
eq(c.connect(), 0, "session present")
eq(c.connects, 1, "connect override ran")
c.subscribe(topic("out"), qos=1)
c.publish(topic("out"), c.GREETING, qos=1)
c.publish(topic("out"), b"two")
eq(c.published, 2, "publish override ran")
while len(c.received) < 2:
    c.wait_msg()
eq(c.received, [(topic("out"), b"hello"), (topic("out"), b"two")], "bound-method callback")
eq([g["hex"] for g in peer_msgs("out", 2)], [hx(b"hello"), hx(b"two")], "peer got")
c.extra = 42
eq(c.extra, 42, "instance attribute")
c.disconnect()
eq(c.connect(False), 0, "reconnect through the override")
eq(c.connects, 2, "connect override ran again")
c.disconnect()
done()
