# @native-only: umqtt.simple 1.8.0 writes each packet in several pieces
# Project rule: one write per outgoing packet (so a packet is never interleaved or half sent
# by the client). Every sock.write() call holds exactly one whole packet.
from mqtt_harness import fake_client, publish_packet, split_packets, unhx, eq, done

c, fs, _ = fake_client(unhx("40 02 0001  90 03 0002 01  b0 02 0003") + publish_packet(b"t/in", b"m", qos=1, pid=9))
c.publish(b"t/a", b"small")
c.publish(b"t/a", b"z" * 5000)
c.publish(b"t/a", b"q1", qos=1)
c.subscribe(b"t/s", 1)
c.unsubscribe(b"t/s")
c.ping()
c.wait_msg()  # QoS 1 PUBLISH in: PUBACK out
c.disconnect()
kinds = []
for w in fs.writes:
    p = split_packets(w)
    eq(len(p), 1, "packets in one write (%r...)" % w[:8])
    kinds.append(w[0] & 0xF0)
eq(kinds, [0x30, 0x30, 0x30, 0x80, 0xA0, 0xC0, 0x40, 0xE0], "packet types written")
done()
