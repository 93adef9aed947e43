# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# pytest.mark.script_timeout(60)
# umqtt.aio never blocks the scheduler: 1,000 QoS 1 messages published (sequentially, then
# pipelined by asyncio.gather, then 1,000 received) while another task blinks a timer every
# 10 ms, which never misses more than one tick (no gap of 30 ms or more between blinks, nor before
# the first or after the last while the work runs). A client
# that waited for its PUBACKs in a blocking read would starve the timer for the whole run. A
# phase whose timer missed a tick runs again, up to three times: a loaded machine can deschedule
# the whole process for longer than a tick, a client that blocks misses one every time.
from mqtt_harness import HOST, PORT, client_id, topic, peer_sub, peer_pub, peer_pub_burst, \
    peer_msgs, eq, done
import asyncio
import time
from umqtt.aio import MQTTClient

N = 1000
TICK_MS = 10
blinks = []  # when the timer ran


async def blink(stop):
    while not stop.is_set():
        await asyncio.sleep_ms(TICK_MS)
        blinks.append(time.ticks_ms())


async def timed(what, work, attempts=3):
    for attempt in range(1, attempts + 1):
        worst = await timed_once(what, work)
        if worst < 3 * TICK_MS:
            return
    raise AssertionError("%s: the timer missed more than one tick in %d runs (gap %d ms)"
                         % (what, attempts, worst))


async def timed_once(what, work):
    # The longest time the timer did not run while the work did: from the start to the first
    # blink, between blinks and from the last one to the end (a work that never yields shows as
    # one long gap, however few blinks there were).
    del blinks[:]
    stop = asyncio.Event()
    timer = asyncio.create_task(blink(stop))
    t0 = time.ticks_ms()
    await work()
    t1 = time.ticks_ms()
    stop.set()
    await timer
    stamps = [t0] + [b for b in blinks if time.ticks_diff(b, t1) <= 0] + [t1]
    worst = max(time.ticks_diff(b, a) for a, b in zip(stamps, stamps[1:]))
    print("%s: %d ms, %d blinks, longest gap %d ms" % (what, time.ticks_diff(t1, t0), len(stamps) - 2, worst))
    return worst


async def main():
    c = MQTTClient(client_id(), HOST, PORT, keepalive=30)
    await c.connect()
    peer_sub("seq", 1)
    peer_sub("pipe", 1)

    sent = {"seq": 0, "pipe": 0}  # a phase that runs again goes on numbering

    async def sequential():
        for i in range(N):
            await c.publish(topic("seq"), b"s%d" % sent["seq"], qos=1)
            sent["seq"] += 1

    async def pipelined():
        async def worker():
            for i in range(N // 8):
                m = b"p%d" % sent["pipe"]
                sent["pipe"] += 1
                await c.publish(topic("pipe"), m, qos=1)
        await asyncio.gather(*[worker() for k in range(8)])

    await timed("sequential QoS 1", sequential)
    await timed("pipelined QoS 1", pipelined)
    n = sent["seq"]
    got = peer_msgs("seq", n, timeout=30)
    eq([bytes.fromhex(g["hex"]) for g in got], [b"s%d" % i for i in range(n)], "sequential, in order")
    n = sent["pipe"]
    got = peer_msgs("pipe", n, timeout=30)
    missing = set(b"p%d" % i for i in range(n)) - set(bytes.fromhex(g["hex"]) for g in got)
    eq((len(got), sorted(missing)[:5]), (n, []), "pipelined, all once (count, first missing)")

    await c.subscribe(topic("in"), 1)
    peer_pub("in", b"x" * 16, qos=1)
    it = c.messages()
    eq((await it.__anext__())[1], b"x" * 16, "first message")
    rounds = [0]

    async def receive():
        # The peer publishes while the client receives (a thread of paho's publishes); each
        # message arrives once (QoS 1 on a connection that stays up).
        prefix = b"r%d-" % rounds[0]
        rounds[0] += 1
        peer_pub_burst("in", prefix, N, qos=1)
        seen = bytearray(N)
        for k in range(N):
            t, m, retained, qos = await it.__anext__()
            assert m.startswith(prefix) and not seen[int(m[len(prefix):])], m
            seen[int(m[len(prefix):])] = 1

    await timed("receive QoS 1", receive)
    await c.disconnect()


asyncio.run(main())
done()
