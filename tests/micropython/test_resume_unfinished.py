# pytest.mark.native_only("umqtt.simple 1.8.0 does not send an unfinished publish again on a resumed session")
# A QoS 1/2 publish cut by a broken connection is finished by the next connect(clean_session=False)
# (MQTT 3.1.1 4.4), and umqtt.robust's retry of it sends nothing more. A scripted broker breaks
# the connection at each point of the flow and logs what the client writes:
#   QoS 2 after PUBREC, session kept  -> PUBREL again for the same id, no second PUBLISH
#   QoS 1 before PUBACK, session kept -> PUBLISH again with DUP=1, same id
#   QoS 2 before PUBREC, session lost -> PUBLISH as a new message (new id), exactly once
#   QoS 2 after PUBREC, session lost  -> nothing again (the broker had it)
#   a publish() from a callback under an outer publish() -> both again under their ids
# and a plain umqtt.simple-style client (no retry) gets the same from connect() alone; only the
# publish() right after connect() is taken for the retry.
from mqtt_harness import MQTTClient, HOST, client_id, robust_client, fake_broker, fake_log, Recorder, raises, done, eq

CONNACK_NEW = "20020000"
CONNACK_KEPT = "20020100"


def kind(p):
    # Packet type and flags (first byte), and the packet id where the packet has one.
    b = bytes.fromhex(p)
    t = b[0] >> 4
    if t == 3 and b[0] & 6:
        tlen = (b[2] << 8) | b[3]
        return "%02x:%d" % (b[0], (b[4 + tlen] << 8) | b[5 + tlen])
    if t in (4, 5, 6, 7):
        return "%02x:%d" % (b[0], (b[2] << 8) | b[3])
    return "%02x" % b[0]


def clean_flag(connect_hex):
    # CONNECT: 10 RL 00 04 'MQTT' 04 FLAGS ... (RL < 128 here)
    return bytes.fromhex(connect_hex)[9] & 2


def run(first, second, make_client):
    fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK_NEW], *first, ["close"],
                            ["accept"], ["recv"], *second, ["recv"], ["send", "40020002"], ["recv"], ["drain", 0.3])
    c = make_client(port)
    c.set_callback(Recorder())
    c.connect(clean_session=False)
    return c, fid


def log(fid):
    r = fake_log(fid)
    eq(r["fault"], None, "fake broker")
    return r["packets"]


# --- umqtt.robust: the retry after reconnecting sends nothing twice

robust = lambda port: robust_client(port)

# QoS 2, the connection breaks after PUBREC: the resumed session gets PUBREL only.
c, fid = run([["recv"], ["send", "50020001"], ["recv"]],
             [["send", CONNACK_KEPT], ["recv"], ["send", "70020001"]], robust)
c.publish(b"t/q2", b"m", qos=2)
eq(c.reconnects, 1, "reconnects")
c.publish(b"t/next", b"n", qos=1)
c.disconnect()
p = log(fid)
eq([kind(x) for x in p], ["10", "34:1", "62:1", "10", "62:1", "32:2", "e0"], "QoS 2 cut after PUBREC")
eq(clean_flag(p[3]), 0, "reconnect keeps the session")

# QoS 1, the connection breaks before PUBACK: PUBLISH again with DUP=1 under the same id.
c, fid = run([["recv"]], [["send", CONNACK_KEPT], ["recv"], ["send", "40020001"]], robust)
c.publish(b"t/q1", b"m1", qos=1, retain=True)
c.publish(b"t/next", b"n", qos=1)
c.disconnect()
p = log(fid)
eq([kind(x) for x in p], ["10", "33:1", "10", "3b:1", "32:2", "e0"], "QoS 1 cut before PUBACK")
eq(p[3][2:], p[1][2:], "the same PUBLISH but for DUP")

# QoS 2 before PUBREC, and the broker lost the session: the message goes out once, as a new one.
fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["close"],
                        ["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["send", "50020002"], ["recv"],
                        ["send", "70020002"], ["recv"], ["send", "40020003"], ["recv"], ["drain", 0.3])
c = robust_client(port)
c.connect(clean_session=False)
c.publish(b"t/q2", b"m", qos=2)
c.publish(b"t/next", b"n", qos=1)
c.disconnect()
eq([kind(x) for x in log(fid)], ["10", "34:1", "10", "34:2", "62:2", "32:3", "e0"], "session lost")

# QoS 2 after PUBREC, and the broker lost the session: it had the message, so nothing goes out
# again (a second PUBLISH would deliver it twice) and umqtt.robust's retry sends nothing either.
fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["send", "50020001"], ["recv"],
                        ["close"],
                        ["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["send", "40020002"], ["recv"],
                        ["drain", 0.3])
c = robust_client(port)
c.connect(clean_session=False)
c.publish(b"t/q2", b"m", qos=2)
eq(c.reconnects, 1, "reconnects")
c.publish(b"t/next", b"n", qos=1)
c.disconnect()
eq([kind(x) for x in log(fid)], ["10", "34:1", "62:1", "10", "32:2", "e0"], "session lost after PUBREC")

# A callback publishes while an outer publish() waits, and the connection breaks under the inner
# one: umqtt.robust reconnects inside the callback; both go out again under their ids, and the
# outer publish() then completes on the new connection.
fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["send", "300500026e6978"],
                        ["recv"], ["close"],
                        ["accept"], ["recv"], ["send", CONNACK_KEPT], ["recv"], ["recv"], ["send", "40020002"],
                        ["send", "40020001"], ["recv"], ["send", "40020003"], ["recv"], ["drain", 0.3])
c = robust_client(port)
inner = []


def publish_from_callback(t, m):
    inner.append(m)
    c.publish(b"t/inner", b"i", qos=1)


c.set_callback(publish_from_callback)
c.connect(clean_session=False)
c.publish(b"t/outer", b"o", qos=1)
eq((inner, c.reconnects), ([b"x"], 1), "callback ran once, one reconnect")
c.publish(b"t/next", b"n", qos=1)
c.disconnect()
eq([kind(x) for x in log(fid)], ["10", "32:1", "32:2", "10", "3a:1", "3a:2", "32:3", "e0"], "nested publish")

# --- a plain client: publish() raises, connect() alone finishes the message

plain = lambda port: MQTTClient(client_id(), HOST, port)
c, fid = run([["recv"], ["send", "50020001"], ["recv"]],
             [["send", CONNACK_KEPT], ["recv"], ["send", "70020001"]], plain)
raises(OSError, c.publish, b"t/q2", b"m", False, 2)
eq(c.connect(clean_session=False), 1, "session present")
c.publish(b"t/next", b"n", qos=1)  # another message: sent as usual
c.disconnect()
eq([kind(x) for x in log(fid)], ["10", "34:1", "62:1", "10", "62:1", "32:2", "e0"], "plain client")

# Only the publish() right after connect() counts as the retry: after any other call the same
# message is a new one and goes out.
fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["close"],
                        ["accept"], ["recv"], ["send", CONNACK_KEPT], ["recv"], ["send", "40020001"],
                        ["recv"], ["send", "d000"], ["recv"], ["send", "40020002"], ["recv"], ["drain", 0.3])
c = plain(port)
c.connect(clean_session=False)
raises(OSError, c.publish, b"t/a", b"m", False, 1)
eq(c.connect(clean_session=False), 1, "session present")
c.ping()
c.publish(b"t/a", b"m", qos=1)
c.disconnect()
eq([kind(x) for x in log(fid)], ["10", "32:1", "10", "3a:1", "c0", "32:2", "e0"], "same message after another call")

# A clean session drops what was unfinished: nothing is sent again.
fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["close"],
                        ["accept"], ["recv"], ["send", CONNACK_NEW], ["recv"], ["send", "40020002"], ["recv"], ["drain", 0.3])
c = plain(port)
c.connect(clean_session=False)
raises(OSError, c.publish, b"t/q1", b"m", False, 1)
eq(c.connect(clean_session=True), 0, "clean session")
c.publish(b"t/q1", b"m", qos=1)
c.disconnect()
eq([kind(x) for x in log(fid)], ["10", "32:1", "10", "32:2", "e0"], "clean session")
done()
