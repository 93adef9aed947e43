# pytest.mark.native_only("umqtt.simple 1.8.0 raises IndexError when the socket closes before CONNACK")
# A broker that closes the connection instead of sending CONNACK gives OSError from connect();
# connect() on the same object then works.
from mqtt_harness import MQTTClient, HOST, PORT, client_id, fake_broker, raises, done, eq

fid, port = fake_broker(["accept"], ["recv"], ["close"])
c = MQTTClient(client_id(), HOST, port)
raises(OSError, c.connect)
fid, port = fake_broker(["accept"], ["recv"], ["send", "2002"], ["close"])
c2 = MQTTClient(client_id(), HOST, port)
raises(OSError, c2.connect)

c.server, c.port = HOST, PORT
eq(c.connect(), 0, "connect after the broker closed")
c.ping()
eq(c.wait_msg(), None, "PINGRESP")
c.disconnect()
done()
