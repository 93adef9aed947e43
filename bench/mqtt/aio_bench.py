# MicroPython side of bench/run-mqtt's asyncio part: one scenario with one asyncio client, driven
# by the runner over stdin/stdout like bench.py (first stdin line: JSON configuration; result:
# `RESULT {json}`). Clients: `aio` (umqtt.aio, the native module's), `mqtt_as` (peterhinch's,
# pure Python, found on MICROPYPATH with the runner's stand-ins for `network` and `machine`), and
# `blocking` (the native umqtt.MQTTClient, for its sequential QoS 1 rate). Scenarios:
#   pub      QoS 0, or QoS 1 sequential (`workers` 1) or pipelined (`workers` tasks publishing at
#            once): messages published within `secs` (at most `count`), until the last was acked
#   rx       QoS 0 receive: the runner publishes `count` messages between READY and GO (the
#            broker and the socket hold them: mqtt_as refuses a resumed session's CONNACK, so the
#            client stays connected); timed from GO to the last message
#   heap     gc.mem_alloc() growth for one connected client, and per QoS 1 publish and per
#            received message (GC off)
import sys
import gc
import json
import time
import asyncio

CFG = json.loads(sys.stdin.readline())
IMPL = CFG["impl"]
HOST = "127.0.0.1"
PORT = CFG["port"]
TOPIC = CFG["topic"].encode()  # subscribed to (rx, heap)
PUB_TOPIC = TOPIC + b"/out"  # published to: never the subscription's (its echo would fill the queue)
PAYLOAD = bytes((i * 31 + 7) & 0xFF for i in range(CFG.get("size", 32)))


def result(**kw):
    sys.stdout.write("RESULT " + json.dumps(kw) + "\n")


def handshake():
    sys.stdout.write("READY\n")
    sys.stdin.readline()


class Client:
    # One interface over both asyncio clients.
    def __init__(self):
        self.n_rx = 0
        self.got = asyncio.Event()
        if IMPL == "aio":
            from umqtt.aio import MQTTClient

            self.c = MQTTClient(CFG["client_id"], HOST, PORT, keepalive=60, clean_session=True,
                                reconnect=False, queue_len=16)
        else:
            from mqtt_as import MQTTClient, config

            cfg = dict(config, client_id=CFG["client_id"], server=HOST, port=PORT, keepalive=60, clean=True,
                       clean_init=True, subs_cb=self._on_message, queue_len=0)
            MQTTClient.DEBUG = False
            self.c = MQTTClient(cfg)

    def _on_message(self, topic, msg, retained):
        self.n_rx += 1
        if self.n_rx >= self.want:
            self.got.set()

    async def connect(self):
        if IMPL == "aio":
            await self.c.connect()
        else:
            await self.c.connect(quick=True)

    async def publish(self, qos):
        if IMPL == "aio":
            await self.c.publish(PUB_TOPIC, PAYLOAD, qos=qos)
        else:
            await self.c.publish(PUB_TOPIC, PAYLOAD, False, qos)

    async def subscribe(self):
        await self.c.subscribe(TOPIC, 0)

    async def receive(self, n):
        self.want = n
        if IMPL == "aio":
            async for m in self.c.messages():
                self.n_rx += 1
                if self.n_rx >= n:
                    return
        elif self.n_rx < n:
            self.got.clear()
            await self.got.wait()

    async def close(self):
        await self.c.disconnect()


async def publish_run():
    c = Client()
    await c.connect()
    qos, workers, count, secs = CFG["qos"], CFG["workers"], CFG["count"], CFG["secs"]
    n = [0]
    t0 = time.ticks_us()
    deadline = time.ticks_add(time.ticks_ms(), int(secs * 1000))

    async def worker():
        while n[0] < count and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            n[0] += 1
            await c.publish(qos)

    await asyncio.gather(*[worker() for _ in range(workers)])
    if qos == 0:
        await c.publish(1)  # the QoS 0 messages left before this one's PUBACK came back
        n[0] += 1
    dt = time.ticks_diff(time.ticks_us(), t0) / 1e6
    await c.close()
    result(n=n[0], secs=dt)


async def receive_run():
    c = Client()
    await c.connect()
    await c.subscribe()
    handshake()  # the runner publishes the messages meanwhile: the broker and socket hold them
    t0 = time.ticks_us()
    await c.receive(CFG["count"])
    dt = time.ticks_diff(time.ticks_us(), t0) / 1e6
    await c.close()
    result(n=CFG["count"], secs=dt)


async def heap_run():
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    c = Client()
    await c.connect()
    await c.subscribe()
    a1 = gc.mem_alloc()
    gc.enable()
    n = CFG["count"]
    for _ in range(20):  # warm-up
        await c.publish(1)
    gc.collect()
    gc.disable()
    a2 = gc.mem_alloc()
    for _ in range(n):
        await c.publish(1)
    a3 = gc.mem_alloc()
    gc.enable()
    handshake()  # the runner publishes n + 20 messages meanwhile
    await c.receive(20)
    gc.collect()
    gc.disable()
    a4 = gc.mem_alloc()
    await c.receive(n + 20)
    a5 = gc.mem_alloc()
    gc.enable()
    await c.close()
    result(client=a1 - a0, per_publish=(a3 - a2) / n, per_message=(a5 - a4) / n)


if CFG["kind"] == "pub" and IMPL == "blocking":
    from umqtt import MQTTClient

    b = MQTTClient(CFG["client_id"], HOST, PORT)
    b.connect()
    n, t0 = 0, time.ticks_us()
    deadline = time.ticks_add(time.ticks_ms(), int(CFG["secs"] * 1000))
    while n < CFG["count"] and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        b.publish(PUB_TOPIC, PAYLOAD, qos=1)
        n += 1
    result(n=n, secs=time.ticks_diff(time.ticks_us(), t0) / 1e6)
    b.disconnect()
else:
    asyncio.run({"pub": publish_run, "rx": receive_run, "heap": heap_run}[CFG["kind"]]())
