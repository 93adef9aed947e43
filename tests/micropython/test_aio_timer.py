# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# umqtt.aio never blocks the scheduler: 1,000 QoS 1 messages published (sequentially, then
# pipelined by asyncio.gather, then 1,000 received) while another task blinks a timer every
# 10 ms, which never misses more than one tick (no gap of 30 ms or more between blinks). A client
# that waited for its PUBACKs in a blocking read would starve the timer for the whole run.
from mqtt_harness import HOST, PORT, client_id, topic, peer_sub, peer_pub, peer_msgs, eq, done
import asyncio
import time
from umqtt.aio import MQTTClient

N = 1000
TICK_MS = 10
gaps = []


async def blink(stop):
    last = time.ticks_ms()
    while not stop.is_set():
        await asyncio.sleep_ms(TICK_MS)
        now = time.ticks_ms()
        gaps.append(time.ticks_diff(now, last))
        last = now


async def timed(what, work):
    del gaps[:]
    stop = asyncio.Event()
    timer = asyncio.create_task(blink(stop))
    t0 = time.ticks_ms()
    await work()
    dt = time.ticks_diff(time.ticks_ms(), t0)
    stop.set()
    await timer
    worst = max(gaps)
    print("%s: %d ms, %d blinks, longest gap %d ms" % (what, dt, len(gaps), worst))
    assert worst < 3 * TICK_MS, "%s: the timer missed more than one tick (gap %d ms)" % (what, worst)
    assert len(gaps) >= dt // (2 * TICK_MS), "%s: %d blinks in %d ms" % (what, len(gaps), dt)


async def main():
    c = MQTTClient(client_id(), HOST, PORT, keepalive=30)
    await c.connect()
    peer_sub("seq", 1)
    peer_sub("pipe", 1)

    async def sequential():
        for i in range(N):
            await c.publish(topic("seq"), b"s%d" % i, qos=1)

    async def pipelined():
        async def worker(k):
            for i in range(k, N, 8):
                await c.publish(topic("pipe"), b"p%d" % i, qos=1)
        await asyncio.gather(*[worker(k) for k in range(8)])

    await timed("sequential QoS 1", sequential)
    await timed("pipelined QoS 1", pipelined)
    got = peer_msgs("seq", N, timeout=20)
    eq([bytes.fromhex(g["hex"]) for g in got], [b"s%d" % i for i in range(N)], "sequential, in order")
    got = peer_msgs("pipe", N, timeout=20)
    eq(sorted(bytes.fromhex(g["hex"]) for g in got), sorted(b"p%d" % i for i in range(N)), "pipelined, all")

    await c.subscribe(topic("in"), 1)
    peer_pub("in", b"x" * 16, qos=1)  # the peer's stream below is asynchronous to us
    it = c.messages()
    eq((await it.__anext__())[1], b"x" * 16, "first message")

    async def receive():
        n = 0
        async for t, m, retained, qos in it:
            n += 1
            if n == N:
                return

    # The peer publishes N messages before the timer starts (they wait in the broker and the
    # socket), so the client receives at full speed while the timer runs.
    for i in range(N):
        peer_pub("in", b"r%d" % i, qos=1)
    await timed("receive QoS 1", receive)
    await c.disconnect()


asyncio.run(main())
done()
