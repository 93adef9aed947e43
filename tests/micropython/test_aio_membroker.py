# pytest.mark.qemu
# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# pytest.mark.script_timeout(60)
# umqtt.aio over a stream without a file descriptor (MemBroker, an io.IOBase whose ioctl answers
# MP_STREAM_POLL, as lwIP's sockets do on ESP32/Hi3861), so that it runs on the QEMU firmwares
# too: connect, subscribe, QoS 0/1/2 publishes pipelined (the packets on the wire, and every
# one acknowledged), QoS 0/1/2 messages received (each acknowledged once the loop asked for the
# next), keepalive pings while idle, a silent broker noticed within 1.5 keepalive + 1 s, and the
# heap flat over 1,000 pipelined QoS 1 publishes. No read ever blocks (blocked_ms stays 0).
from mqtt_harness import HOST, client_id, mem_broker, cancelled_after, eq, done
import asyncio
import errno
import gc
import time
from umqtt.aio import MQTTClient


async def main():
    b = mem_broker()
    c = MQTTClient(client_id(), HOST, 1883, keepalive=1, reconnect=False)
    eq(await c.connect(), False, "session present")
    assert not hasattr(b, "fileno"), "the stream has a file descriptor"
    eq(await c.subscribe(b"t/in", 2), 2, "granted")

    await asyncio.gather(*[c.publish(b"t/out", b"m%d" % i, qos=i % 3) for i in range(30)])
    pubs = [p for p in b.packets if p[0] & 0xF0 == 0x30]
    eq(sorted((p[0] >> 1 & 3, p[3]) for p in pubs), sorted((i % 3, len(b"m%d" % i)) for i in range(30)),
       "QoS and length of each PUBLISH")
    eq(len([p for p in b.packets if p[0] == 0x62]), 10, "a PUBREL for each QoS 2 publish")

    b.serve(b"t/in", 5, qos=0)
    b.serve(b"t/in", 6, qos=1, pid=7)
    b.serve(b"t/in", 7, qos=2, pid=8)
    got = []
    async for t, m, retained, qos in c.messages():
        got.append((t, len(m), qos))
        if len(got) == 3:
            break
    eq(got, [(b"t/in", 5, 0), (b"t/in", 6, 1), (b"t/in", 7, 2)], "messages")
    await asyncio.sleep_ms(20)  # the writer's turn
    acks = [p for p in b.packets if p[0] in (0x40, 0x50)]
    eq(acks, [(0x40, b"\x00\x07")], "PUBACK for the first acknowledged message; the last one's waits")

    # idle: the keepalive task pings within the keepalive period
    before = b.kinds().count(0xC0)
    await asyncio.sleep_ms(1600)
    assert b.kinds().count(0xC0) > before, "no PINGREQ while idle"

    # rounds of 1,000 pipelined QoS 1 publishes: the heap is where the round before left it
    # (the first round grows the client's bookkeeping once)
    async def worker(k):
        for i in range(k, 1000, 8):
            await c.publish(b"t/out", b"x", qos=1)
    ends = []
    b.packets = []
    b.log_publish = False  # (the broker's own log is no part of the client's memory)
    for rnd in range(3):
        gc.collect()
        free0 = gc.mem_free()
        n0 = b.publishes
        await asyncio.gather(*[worker(k) for k in range(8)])
        eq(b.publishes - n0, 1000, "round %d: PUBLISH packets" % rnd)
        b.packets = []  # (PUBACKs' log)
        b.out = list(b.out)  # (its queue's capacity follows how many PUBACKs the timing let pile up)
        gc.collect()
        free1 = gc.mem_free()
        print("round %d: heap free %d -> %d" % (rnd, free0, free1))
        ends.append(free1)
    # A leak per publish would be a 16-byte block or more each, 32 KB over 2,000; what moves by a
    # few hundred bytes between runs is timing (how many operations were parked at once sizes the
    # tables asyncio and the client keep them in).
    assert ends[0] - ends[2] < 1024, "the heap shrank by %d bytes over 2,000 publishes" % (ends[0] - ends[2])
    eq(b.blocked_ms, 0, "a read blocked on the stream")

    # QoS 1 publishes cancelled while they wait for their PUBACK, more than the in-flight window
    # holds: each frees its slot, so the next publish goes out and returns
    cancelled = 0
    for i in range(24):
        cancelled += not await cancelled_after(c.publish(b"t/out", b"c", qos=1), 1)
    assert cancelled > 8, "only %d of 24 publishes were still waiting when cancelled" % cancelled
    await asyncio.wait_for(c.publish(b"t/out", b"after", qos=1), 5)
    await c.disconnect()
    eq(b.kinds()[-1], 0xE0, "DISCONNECT last")

    # a broker that falls silent: OSError(ETIMEDOUT) where the caller waits, in time
    b = mem_broker(silent=True)
    c = MQTTClient(client_id(), HOST, 1883, keepalive=1, reconnect=False)
    await c.connect()
    t0 = time.ticks_ms()
    try:
        await c.publish(b"t/out", b"x", qos=1)
        raise AssertionError("a silent broker acknowledged")
    except OSError as e:
        eq(e.args[0], errno.ETIMEDOUT, "errno")
    dt = time.ticks_diff(time.ticks_ms(), t0)
    print("silent broker noticed after %d ms" % dt)
    assert dt <= 1500 + 1000, "noticed after %d ms" % dt
    assert 0xC0 in b.kinds(), "no PINGREQ to the silent broker"
    eq(b.blocked_ms, 0, "a read blocked on the stream")


asyncio.run(main())
done()
