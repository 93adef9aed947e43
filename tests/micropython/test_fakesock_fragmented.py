# pytest.mark.qemu
# pytest.mark.native_only("umqtt.simple 1.8.0 assumes sock.read(n) returns n bytes")
# A sock whose read() returns one byte at a time (as a non-blocking socket or a TLS layer may):
# packets are reassembled, the same messages arrive; in check_msg mode each call takes what is
# there and returns None until a packet is complete.
from mqtt_harness import fake_client, publish_packet, unhx, eq, done

msgs = [(b"t/a", b"one"), (b"t/b", b"x" * 300), (b"t/c", b"")]
stream = b"".join(publish_packet(t, m) for t, m in msgs) + unhx("d000")
stream += publish_packet(b"t/q1", b"ack me", qos=1, pid=0x0102)

c, fs, _ = fake_client(stream, chunk=1)
ops = [c.wait_msg() for i in range(5)]
eq(ops, [0x30, 0x30, 0x30, None, 0x32], "wait_msg results")
eq(c.cb.msgs, msgs + [(b"t/q1", b"ack me")], "delivered")
eq(fs.take(), [unhx("40 02 0102")], "PUBACK")

# check_msg: a partial packet gives None; calls repeated until the packet is complete
c, fs, _ = fake_client(eof=False, chunk=1)
p = publish_packet(b"t/d", b"abc")
fs.feed(p[:4])
nones = 0
for i in range(10):
    if c.check_msg() is None:
        nones += 1
eq(c.cb.msgs, [], "nothing delivered from a partial packet")
assert nones == 10, "check_msg returned non-None on a partial packet"
fs.feed(p[4:])
for i in range(50):
    if c.check_msg() is not None:
        break
eq(c.cb.msgs, [(b"t/d", b"abc")], "delivered once complete")

# acknowledgements split too: SUBACK and PUBACK one byte per read
c, fs, _ = fake_client(unhx("90 03 0001 01  40 02 0002"), chunk=1)
c.subscribe(b"t/x", 1)
c.publish(b"t/x", b"y", qos=1)
eq(fs.take(), [unhx("82 08 0001 0003 742f78 01"), unhx("32 08 0003 742f78 0002 79")], "written")
done()
