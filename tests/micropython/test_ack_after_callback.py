# At-least-once delivery: PUBACK (QoS 1) and PUBREC (QoS 2) leave only after the callback
# returned normally. A callback that raises leaves its message unacknowledged; after the board
# "resets" (sock.close(), no DISCONNECT) and reconnects to its kept session, mosquitto delivers
# the message again. Once handled, a QoS 2 message is not delivered a third time.
from mqtt_harness import MQTTClient, HOST, PORT, client_id, topic, peer_pub, pump, done, eq
import time


class Boom(Exception):
    pass


for qos in (1, 2):
    cid = client_id()
    got = []
    fail = [True]

    def cb(t, m):
        got.append(m)
        if fail[0]:
            raise Boom(m)

    c = MQTTClient(cid, HOST, PORT)
    c.connect(clean_session=True)  # no earlier session of this id
    c.disconnect()
    c = MQTTClient(cid, HOST, PORT)
    c.set_callback(cb)
    eq(c.connect(clean_session=False), False, "QoS %d: new session" % qos)
    c.subscribe(topic("in%d" % qos), qos=qos)
    peer_pub("in%d" % qos, b"m%d" % qos, qos=qos)
    try:
        pump(c, lambda: False, timeout=5, wait=True, what="the message")
    except Boom as e:
        eq(e.args, (b"m%d" % qos,), "QoS %d: the callback's exception reaches the caller" % qos)
    c.sock.close()  # the board resets inside its callback: nothing more goes out

    fail[0] = False
    c = MQTTClient(cid, HOST, PORT)
    c.set_callback(cb)
    eq(c.connect(clean_session=False), True, "QoS %d: session kept" % qos)
    pump(c, lambda: len(got) >= 2, timeout=5, what="QoS %d redelivery" % qos)
    eq(got, [b"m%d" % qos] * 2, "QoS %d: delivered again after the callback raised" % qos)
    # Handled now: nothing more comes, not even after another reconnect.
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 500:
        c.check_msg()
        time.sleep_ms(10)
    c.sock.close()
    c = MQTTClient(cid, HOST, PORT)
    c.set_callback(cb)
    c.connect(clean_session=False)
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 500:
        c.check_msg()
        time.sleep_ms(10)
    eq(len(got), 2, "QoS %d: deliveries in all" % qos)
    c.disconnect()
done()
