# pytest.mark.qemu
# pytest.mark.native_only("umqtt.simple 1.8.0 writes each packet in several pieces")
# Project rule: a packet that fits the engine's 1,280-byte transmit buffer (a 1 KiB payload with
# its topic) leaves in one write (never interleaved, never half sent, no Nagle stall); a larger
# one leaves as exactly two writes, its header and then the caller's payload (never copied into
# a packet-sized buffer).
from mqtt_harness import fake_client, publish_packet, split_packets, unhx, eq, done

c, fs, _ = fake_client(unhx("40 02 0001  40 02 0002  90 03 0003 01  b0 02 0004"))
big = b"z" * 5000
c.publish(b"t/a", b"small")
c.publish(b"t/a", big)
c.publish(b"t/a", b"k" * 1024, qos=1)
c.publish(b"t/a", b"q1", qos=1)
c.subscribe(b"t/s", 1)
c.unsubscribe(b"t/s")
c.ping()
fs.feed(publish_packet(b"t/in", b"m", qos=1, pid=9))
c.wait_msg()  # QoS 1 PUBLISH in: PUBACK out
c.disconnect()
writes = list(fs.writes)
eq(writes[1], unhx("30 8d 27 0003 742f61"), "5000-byte PUBLISH: its header first")
assert writes[2] == big, "5000-byte PUBLISH: then the payload, whole (%d bytes)" % len(writes[2])
del writes[1:3]
kinds = []
for w in writes:
    p = split_packets(w)
    eq(len(p), 1, "packets in one write (%r...)" % w[:8])
    eq(len(p[0]), len(w), "a whole packet in one write (%r...)" % w[:8])
    kinds.append(w[0] & 0xF0)
eq(kinds, [0x30, 0x30, 0x30, 0x80, 0xA0, 0xC0, 0x40, 0xE0], "packet types written")
done()
