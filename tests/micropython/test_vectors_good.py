# pytest.mark.qemu
# pytest.mark.vectors("rl-0", "rl-127", "rl-128", "rl-200", "rl-1000", "rl-16383", "rl-16384", "pingreq", "pingresp", "disconnect")
# pytest.mark.vectors("publish-q0", "publish-q0-x2", "subscribe-q0", "suback-q0", "subscribe-q1", "suback-q1", "suback-fail")
# pytest.mark.vectors("unsubscribe", "unsuback")
# The seed vectors (../shared/vectors/) through a fake socket: what the client writes equals
# the vector, and each broker vector fed in is decoded as it should be.
from mqtt_harness import fake_client, V, hx, eq, raises, done, MQTTException, NATIVE

c, fs, _ = fake_client()
rec = c.cb

# fixed two-byte packets; rl-0 is their remaining length
c.ping()
eq(fs.take(), [V("pingreq")], "pingreq")
eq(V("pingreq")[1:], V("rl-0"), "rl-0")
fs.feed(V("pingresp"))
eq(c.wait_msg(), None, "pingresp: wait_msg")
fs.feed(b"\xd0" + V("rl-0"))
eq(c.wait_msg(), None, "PINGRESP built from rl-0")

# PUBLISH QoS 0 "hello" on app_topic, both ways
c.publish(b"app_topic", b"hello")
eq(fs.take(), [V("publish-q0")], "publish-q0 written")
fs.feed(V("publish-q0"))
eq(c.wait_msg(), 0x30, "publish-q0: wait_msg")
eq(rec.msgs, [(b"app_topic", b"hello")], "publish-q0 decoded")

# two PUBLISH in one read: umqtt.simple reads one per call; the native client handles the
# second in the same call (it is already buffered, and a socket poll would not show it)
fs.feed(V("publish-q0-x2"))
eq(c.wait_msg(), 0x30, "publish-q0-x2: first")
if NATIVE:
    eq(len(rec.msgs), 3, "publish-q0-x2: both handled by one wait_msg")
else:
    eq(c.wait_msg(), 0x30, "publish-q0-x2: second")
eq(rec.msgs[1:], [(b"app_topic", b"hello")] * 2, "publish-q0-x2 decoded")

# Remaining Length vectors: a PUBLISH of exactly that remaining length, written and read
for name in ("rl-127", "rl-128", "rl-200", "rl-1000", "rl-16383", "rl-16384"):
    rl = V(name)
    n = int(name[3:])
    payload = bytes((i & 0xFF for i in range(n - 3)))
    c.publish(b"t", payload)
    pk = fs.take()
    eq(len(pk), 1, name + ": one packet")
    eq(hx(pk[0][: 1 + len(rl)]), hx(b"\x30" + rl), name + ": PUBLISH header written")
    eq(pk[0][1 + len(rl):], b"\x00\x01t" + payload, name + ": PUBLISH body written")
    fs.feed(b"\x30" + rl + b"\x00\x01t" + payload)
    eq(c.wait_msg(), 0x30, name + ": wait_msg")
    t, m = rec.msgs[-1]
    eq((t, len(m)), (b"t", n - 3), name + ": decoded")
    assert m == payload, name + ": payload differs"

c.disconnect()
eq(fs.take(), [V("disconnect")], "disconnect")

# SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK on app_topic with packet ids 0x0A..0x0C:
# nine QoS 1 publishes use ids 1..9 first (umqtt numbers packets from 1, one per operation)
c, fs, _ = fake_client()
for pid in range(1, 10):
    fs.feed(bytes((0x40, 2, 0, pid)))
    c.publish(b"t", b"x", qos=1)
eq([p[-3:-1] for p in fs.take()], [bytes((0, i)) for i in range(1, 10)], "packet ids 1..9")
fs.feed(V("suback-q0"))
c.subscribe(b"app_topic", 0)
eq(fs.take(), [V("subscribe-q0")], "subscribe-q0")
fs.feed(V("suback-q1"))
c.subscribe(b"app_topic", 1)
eq(fs.take(), [V("subscribe-q1")], "subscribe-q1")
fs.feed(V("unsuback"))
c.unsubscribe(b"app_topic")
eq(fs.take(), [V("unsubscribe")], "unsubscribe")
eq(c.pid, 0x0C, "pid")

# suback-fail: SUBACK with 0x80 for the QoS 1 subscribe (pid 0x0B) -> MQTTException(0x80)
c, fs, _ = fake_client()
for pid in range(1, 11):
    fs.feed(bytes((0x40, 2, 0, pid)))
    c.publish(b"t", b"x", qos=1)
fs.take()
fs.feed(V("suback-fail"))
e = raises(MQTTException, c.subscribe, b"app_topic", 1)
eq(e.args, (0x80,), "suback-fail")
eq(fs.take(), [V("subscribe-q1")], "subscribe-q1 before suback-fail")
done()
