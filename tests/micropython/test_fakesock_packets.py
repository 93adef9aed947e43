# pytest.mark.qemu
# Fake-socket tests in the style of micropython-lib's test_umqtt_simple.py: client.sock is a
# Python object with read/write/setblocking; the bytes written are compared with the expected
# packets and the broker's bytes are fed in.
from mqtt_harness import fake_client, publish_packet, unhx, eq, raises, done, MQTTException

c, fs, _ = fake_client()
rec = c.cb


def wrote(*want):
    eq(fs.take(), [unhx(w) for w in want], "written")


c.publish(b"t/a", b"hi")
wrote("30 07 0003 742f61 6869")
c.publish(b"t/a", b"hi", retain=True)
wrote("31 07 0003 742f61 6869")
c.publish(b"t/a", b"")
wrote("30 05 0003 742f61")
fs.feed(unhx("40 02 0001"))
c.publish(b"t/a", b"hi", qos=1)
wrote("32 09 0003 742f61 0001 6869")
eq(c.pid, 1, "pid")
fs.feed(unhx("40 02 0002"))
c.publish(b"t/a", b"hi", qos=1, retain=True)
wrote("33 09 0003 742f61 0002 6869")
fs.feed(unhx("90 03 0003 01"))
c.subscribe(b"t/a", qos=1)
wrote("82 08 0003 0003 742f61 01")
fs.feed(unhx("90 03 0004 00"))
c.subscribe(b"t/+")
wrote("82 08 0004 0003 742f2b 00")
fs.feed(unhx("b0 02 0005"))
c.unsubscribe(b"t/a")
wrote("a2 07 0005 0003 742f61")
eq(c.pid, 5, "pid")
# str, bytearray and memoryview topics and messages give the same bytes
fs.feed(unhx("90 03 0006 00  b0 02 0007"))
c.subscribe("t/a")
c.unsubscribe(bytearray(b"t/a"))
c.publish(memoryview(b"t/a"), "hi")
c.publish("t/a", bytearray(b"hi"))
wrote("82 08 0006 0003 742f61 00", "a2 07 0007 0003 742f61", "30 07 0003 742f61 6869", "30 07 0003 742f61 6869")

# micropython-lib's own vectors: 1- and 2-byte remaining lengths
fs.feed(unhx("90 03 0008 00"))
c.subscribe(b"abcd", qos=0)
wrote("82 09 0008 0004 61626364 00")
fs.feed(unhx("90 03 0009 00"))
c.subscribe(b"a" * 123, qos=0)
eq(fs.take(), [unhx("82 80 01 0009 007b") + b"a" * 123 + b"\x00"], "SUBSCRIBE, 123-byte topic")
fs.feed(unhx("b0 02 000a"))
c.unsubscribe(b"a" * 124)
eq(fs.take(), [unhx("a2 80 01 000a 007c") + b"a" * 124], "UNSUBSCRIBE, 124-byte topic")

# SUBACK failure
fs.feed(unhx("90 03 000b 80"))
e = raises(MQTTException, c.subscribe, b"t/denied", 1)
eq(e.args, (0x80,), "SUBACK failure")
wrote("82 0d 000b 0008 742f64656e696564 01")

c.ping()
wrote("c0 00")

# incoming PUBLISH at QoS 0 and 1: callback, return value, PUBACK
fs.feed(publish_packet(b"t/b", b"msg"))
eq(c.wait_msg(), 0x30, "wait_msg, QoS 0")
eq(rec.msgs, [(b"t/b", b"msg")], "callback")
wrote()
fs.feed(publish_packet(b"t/b", b"q1", qos=1, pid=7))
eq(c.wait_msg(), 0x32, "wait_msg, QoS 1")
wrote("40 02 0007")
fs.feed(publish_packet(b"t/c", b"", qos=1, pid=0x1234, retain=True))
eq(c.wait_msg(), 0x33, "wait_msg, QoS 1 retained")
wrote("40 02 1234")
eq(rec.msgs[1:], [(b"t/b", b"q1"), (b"t/c", b"")], "callback")
fs.feed(publish_packet(b"t/d", b"x" * 300))
eq(c.wait_msg(), 0x30, "wait_msg, 2-byte remaining length")
eq(rec.msgs[-1], (b"t/d", b"x" * 300), "callback")

c.disconnect()
wrote("e0 00")
assert fs.closed, "disconnect() closes the socket"

# check_msg on a socket with nothing to read (non-blocking read gives None)
c, fs, _ = fake_client(eof=False)
rec = c.cb
eq(c.check_msg(), None, "check_msg, nothing pending")
eq(fs.modes[:1], [False], "check_msg reads in non-blocking mode")
fs.feed(publish_packet(b"t/e", b"late"))
eq(c.check_msg(), 0x30, "check_msg, PUBLISH pending")
eq(rec.msgs, [(b"t/e", b"late")], "callback")
eq(c.check_msg(), None, "check_msg, nothing pending again")
done()
