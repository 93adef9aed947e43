# A broker that closes the connection gives OSError: in wait_msg, in check_msg, while
# publish(qos=1) waits for PUBACK, while subscribe waits for SUBACK. A fresh connect() on the
# same object then works. (Closed before CONNACK: test_connect_closed.py.)
from mqtt_harness import MQTTClient, HOST, client_id, usable_on_broker, fake_broker, Recorder, raises, done, eq
import time


def closing_broker(*extra):
    fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000"], *extra, ["close"])
    c = MQTTClient(client_id(), HOST, port)
    c.set_callback(Recorder())
    c.connect()
    return c


def check_loop(c):
    for i in range(500):
        c.check_msg()
        time.sleep_ms(10)


c = closing_broker()
raises(OSError, c.wait_msg)
c = closing_broker()
raises(OSError, check_loop, c)
c = closing_broker(["recv"])
raises(OSError, c.publish, b"t", b"m", False, 1)
c = closing_broker(["recv"])
raises(OSError, c.subscribe, b"t", 1)

usable_on_broker(c, "after the broker closed")
done()
