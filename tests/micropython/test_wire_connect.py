# pytest.mark.vectors("connect-onenet", "connack-ok", "connack-sp", "connack-rc5", "disconnect")
# CONNECT as written on the wire (scripted broker over TCP), for each option: clean session,
# keepalive, user/password, Last Will (QoS, retain); the tutorial's OneNET CONNECT vector;
# CONNACK session-present and refusal vectors; DISCONNECT.
from mqtt_harness import MQTTClient, MQTTException, HOST, fake_broker, fake_log, unhx, hx, V, raises, done, eq


def session(connack, make, clean=True, expect_ok=True):
    """Run one connect against a scripted broker; return (connect result or exception, packets)."""
    fid, port = fake_broker(["accept"], ["recv"], ["send", hx(connack)], ["drain", 5])
    c = make(port)
    if expect_ok:
        r = c.connect(clean)
        c.disconnect()
    else:
        r = raises(MQTTException, c.connect, clean)
    log = fake_log(fid, timeout=5 if expect_ok else 0)  # after a refusal the socket may stay open
    eq(log["fault"], None, "fake broker")
    return r, [unhx(p) for p in log["packets"]]


def connect_bytes(want_hex, make, clean=True):
    r, pk = session(V("connack-ok"), make, clean)
    eq(r, 0, "session present")
    eq(hx(pk[0]), want_hex.replace(" ", ""), "CONNECT")
    eq(pk[1:], [V("disconnect")], "DISCONNECT")


# minimal: client id only, clean session, keepalive 0
connect_bytes("10 0f 0004 4d515454 04 02 0000 0003 636964", lambda p: MQTTClient(b"cid", HOST, p))
# clean_session=False
connect_bytes("10 0f 0004 4d515454 04 00 0000 0003 636964", lambda p: MQTTClient(b"cid", HOST, p), clean=False)
# keepalive 60, str client id
connect_bytes("10 0f 0004 4d515454 04 02 003c 0003 636964", lambda p: MQTTClient("cid", HOST, p, keepalive=60))
# user and password
connect_bytes("10 16 0004 4d515454 04 c2 0000 0003 636964 0001 75 0002 7077",
              lambda p: MQTTClient(b"cid", HOST, p, user=b"u", password=b"pw"))


# Last Will QoS 1 retained
def will1(p):
    c = MQTTClient(b"cid", HOST, p)
    c.set_last_will(b"w/t", b"bye", retain=True, qos=1)
    return c


connect_bytes("10 19 0004 4d515454 04 2e 0000 0003 636964 0003 772f74 0003 627965", will1)


# Last Will QoS 2, user/password, keepalive 300, persistent session: payload order is
# client id, will topic, will message, user, password
def will2(p):
    c = MQTTClient(b"cid", HOST, p, user=b"u", password=b"pw", keepalive=300)
    c.set_last_will(b"w/t", b"bye", qos=2)
    return c


connect_bytes("10 20 0004 4d515454 04 d4 012c 0003 636964 0003 772f74 0003 627965 0001 75 0002 7077",
              will2, clean=False)

# the tutorial's OneNET CONNECT
connect_bytes(hx(V("connect-onenet")),
              lambda p: MQTTClient(b"692128707", HOST, p, user=b"406707", password=b"123455", keepalive=120))

# CONNACK vectors
r, pk = session(V("connack-sp"), lambda p: MQTTClient(b"cid", HOST, p), clean=False)
eq(r, 1, "connack-sp: session present")
r, pk = session(V("connack-ok"), lambda p: MQTTClient(b"cid", HOST, p), clean=False)
eq(r, 0, "connack-ok: session present")
e, pk = session(V("connack-rc5"), lambda p: MQTTClient(b"cid", HOST, p), expect_ok=False)
eq(e.args, (5,), "connack-rc5: MQTTException args")
for rc in (1, 2, 3, 4):
    e, pk = session(bytes((0x20, 2, 0, rc)), lambda p: MQTTClient(b"cid", HOST, p), expect_ok=False)
    eq(e.args, (rc,), "refused with %d: MQTTException args" % rc)
done()
