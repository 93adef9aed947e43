# Attributes a umqtt.robust client (a Python subclass) is given are the client's: the native
# methods see cb, keepalive, user, pswd and lw_* assigned on the instance, on robust's class and
# on a subclass of it; what the CONNECT carries and who gets the messages shows it.
from mqtt_harness import HOST, PORT, client_id, topic, peer_pub, fake_broker, fake_log, pump, unhx, Recorder, done, eq
from umqtt.robust import MQTTClient as RobustClient


class MyRobust(RobustClient):
    pass


for cls in (RobustClient, MyRobust):
    name = cls.__name__
    # cb assigned, not set_callback(): subscribe() accepts it and messages reach it.
    c = cls(client_id(), HOST, PORT)
    rec = Recorder()
    c.cb = rec
    eq(c.cb, rec, name + ": cb reads back")
    c.connect()
    c.subscribe(topic("in"))
    peer_pub("in", b"to-cb")
    pump(c, lambda: rec.msgs, what=name + ": message to the assigned cb")
    eq(rec.msgs, [(topic("in"), b"to-cb")], name + ": delivered")
    c.disconnect()

    # Connection parameters assigned after construction go into CONNECT.
    fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000"], ["drain", 1])
    c = cls(client_id(), HOST, port)
    c.keepalive = 77
    c.user = b"u1"
    c.pswd = b"p1"
    c.lw_topic = b"w/t"
    c.lw_msg = b"bye"
    c.lw_qos = 1
    c.lw_retain = True
    c.connect()
    connect = unhx(fake_log(fid)["packets"][0])
    # 10 <rl> 00 04 MQTT 04 <flags> <keepalive>
    eq(connect[9], 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02, name + ": CONNECT flags (user, password, will retain, QoS 1, will, clean)")
    eq(connect[10] << 8 | connect[11], 77, name + ": keepalive")
    for field in (b"w/t", b"bye", b"u1", b"p1"):
        assert len(field).to_bytes(2, "big") + field in connect, "%s: %r not in CONNECT %r" % (name, field, connect)
    c.sock.close()
done()
