# The garbage collector runs at every step: in the fake socket's read/write, in the callback,
# and with a low GC threshold against the real broker. Messages stay intact (no pointer into
# the heap held where the GC cannot see it).
from mqtt_harness import (FakeSocket, fake_client, subscribed_client, topic, gen, publish_packet, pump, done, eq,
                          unhx, peer_sub, peer_msgs, sha256hex)
import gc


class GcSocket(FakeSocket):
    def read(self, n=-1):
        junk = [bytearray(64) for i in range(20)]
        gc.collect()
        return super().read(n)

    def write(self, buf, length=None):
        junk = [bytearray(64) for i in range(20)]
        gc.collect()
        return super().write(buf, length)


got = []


def cb(t, m):
    junk = [bytes(100) for i in range(20)]
    gc.collect()
    got.append((t, m))


c, fs, _ = fake_client()
gs = GcSocket()
c.sock = gs
c.set_callback(cb)
want = []
for i in range(40):
    t = b"t/%d" % i
    m = gen(i * 97)
    want.append((t, m))
    gs.feed(publish_packet(t, m, qos=i % 2, pid=i + 1))
    c.wait_msg()
    gs.feed(unhx("40 02 00") + bytes((i + 1,)))
    c.publish(b"out", gen(i * 50), qos=1)
eq(len(got), 40, "messages")
pk = gs.take()
eq(len(pk), 60, "packets written")  # 20 PUBACK + 40 PUBLISH
for (t, m), (wt, wm) in zip(got, want):
    eq(t, wt, "topic")
    assert m == wm, "payload of %r differs" % t
gc.collect()

# real broker, GC forced often
gc.threshold(2048)
peer_sub("loop", 1)
c, rec = subscribed_client("loop", qos=1)
N = 60
for i in range(N):
    c.publish(topic("loop"), gen(100 + i * 53), qos=i % 2)
pump(c, lambda: len(rec.msgs) >= N, timeout=10, what="looped messages")
for i, (t, m) in enumerate(rec.msgs):
    assert m == gen(100 + i * 53), "looped payload %d differs" % i
got = peer_msgs("loop", N)
eq([g["sha256"] for g in got], [sha256hex(gen(100 + i * 53)) for i in range(N)], "peer got")
c.disconnect()
gc.threshold(-1)
done()
