# pytest.mark.native_only("umqtt.simple 1.8.0 raises IndexError when the socket closes before CONNACK")
# A broker that closes the connection instead of sending CONNACK gives OSError from connect();
# connect() on the same object then works.
from mqtt_harness import MQTTClient, HOST, client_id, usable_on_broker, fake_broker, raises, done, eq

fid, port = fake_broker(["accept"], ["recv"], ["close"])
c = MQTTClient(client_id(), HOST, port)
raises(OSError, c.connect)
fid, port = fake_broker(["accept"], ["recv"], ["send", "2002"], ["close"])
c2 = MQTTClient(client_id(), HOST, port)
raises(OSError, c2.connect)

usable_on_broker(c, "after the broker closed")
done()
