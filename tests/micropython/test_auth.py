# A broker with a password file: the right password connects, a wrong one or none gives
# MQTTException(5) (not authorized).
from mqtt_harness import MQTTClient, MQTTException, CFG, HOST, client_id, raises, done, eq

port = CFG["auth_port"]
c = MQTTClient(client_id(), HOST, port, user=CFG["user"], password=CFG["password"])
eq(c.connect(), 0, "session present")
c.ping()
eq(c.wait_msg(), None, "PINGRESP")
c.disconnect()

c = MQTTClient(client_id(), HOST, port, user=CFG["user"], password=b"wrong-password")
e = raises(MQTTException, c.connect)
eq(e.args, (5,), "wrong password")

c = MQTTClient(client_id(), HOST, port)
e = raises(MQTTException, c.connect)
eq(e.args, (5,), "no credentials")

c = MQTTClient(client_id(), HOST, port, user=b"nobody", password=b"x")
e = raises(MQTTException, c.connect)
eq(e.args, (5,), "unknown user")
done()
