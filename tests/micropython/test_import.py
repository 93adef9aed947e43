# `from umqtt.simple import ...` and `from umqtt.robust import ...` work; robust subclasses simple.
from mqtt_harness import done, eq
import umqtt.simple
import umqtt.robust
from umqtt.simple import MQTTClient, MQTTException
from umqtt.robust import MQTTClient as RobustClient

assert issubclass(RobustClient, MQTTClient)
assert issubclass(MQTTException, Exception)
e = MQTTException(5)
eq(e.args, (5,), "MQTTException args")
c = RobustClient(b"cid", "127.0.0.1")
assert isinstance(c, MQTTClient)
done()
