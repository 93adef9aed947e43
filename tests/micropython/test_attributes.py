# Constructor defaults and the instance attributes umqtt.simple 1.8.0 has.
from mqtt_harness import MQTTClient, done, eq

c = MQTTClient(b"cid", "127.0.0.1")
eq(c.port, 1883, "default port")
eq(c.client_id, b"cid", "client_id")
eq(c.server, "127.0.0.1", "server")
eq(c.sock, None, "sock before connect")
eq(c.keepalive, 0, "keepalive")
eq(c.cb, None, "cb")
eq(c.pid, 0, "pid")
eq(c.user, None, "user")
eq(c.pswd, None, "pswd")
eq(c.ssl, None, "ssl")
eq(c.ssl_params, {}, "ssl_params")
eq(c.lw_topic, None, "lw_topic")
eq(c.lw_msg, None, "lw_msg")
eq(c.lw_qos, 0, "lw_qos")
eq(c.lw_retain, False, "lw_retain")

eq(MQTTClient(b"cid", "h", ssl=True).port, 8883, "default port with ssl")
eq(MQTTClient(b"cid", "h", 0, ssl=True).port, 8883, "port 0 with ssl")
eq(MQTTClient(b"cid", "h", 1234, ssl=True).port, 1234, "explicit port with ssl")

c = MQTTClient(b"id2", "example", 1884, b"u", b"p", 30, None, {"x": 1})
eq((c.port, c.user, c.pswd, c.keepalive, c.ssl_params), (1884, b"u", b"p", 30, {"x": 1}), "positional")
c = MQTTClient(client_id=b"id3", server="s", port=7, user=b"u", password=b"pw", keepalive=9)
eq((c.client_id, c.server, c.port, c.user, c.pswd, c.keepalive), (b"id3", "s", 7, b"u", b"pw", 9), "keywords")


def f(t, m):
    pass


c.set_callback(f)
assert c.cb is f
c.set_last_will(b"w/t", b"bye", retain=True, qos=2)
eq((c.lw_topic, c.lw_msg, c.lw_retain, c.lw_qos), (b"w/t", b"bye", True, 2), "last will")
c.set_last_will(b"w/u", b"m")
eq((c.lw_topic, c.lw_msg, c.lw_retain, c.lw_qos), (b"w/u", b"m", False, 0), "last will defaults")
done()
