# pytest.mark.native_only("micropython-lib's umqtt is a namespace package without umqtt.MQTTClient")
# `from umqtt import MQTTClient` gives the same class as umqtt.simple, and umqtt.robust builds on it.
from mqtt_harness import done
import umqtt
import umqtt.simple
import umqtt.robust
from umqtt import MQTTClient, MQTTException

assert MQTTClient is umqtt.simple.MQTTClient
assert MQTTException is umqtt.simple.MQTTException
assert issubclass(umqtt.robust.MQTTClient, MQTTClient)
done()
