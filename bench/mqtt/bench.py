# MicroPython side of bench/run-mqtt: one scenario with one client implementation, driven by the
# runner (CPython) over stdin/stdout. The first stdin line is the JSON configuration; the result is
# printed as `RESULT {json}`. The same script runs the built-in (native) umqtt.simple and
# micropython-lib's pure-Python one (imported as `umqttref.simple`: a built-in module cannot be
# shadowed from the filesystem, so the runner links simple.py into a package of another name).
#
# Each run first measures GC allocation over `gc_n` operations with the GC off (gc.mem_alloc()
# delta), then times the rest with the GC on.
import sys
import gc
import json
import time

CFG = json.loads(sys.stdin.readline())
if CFG["impl"] == "native":
    from umqtt.simple import MQTTClient

    assert not hasattr(MQTTClient, "_recv_len"), "umqtt.simple is not the native module"
else:
    from umqttref.simple import MQTTClient

    assert hasattr(MQTTClient, "_recv_len"), "umqttref.simple is not micropython-lib's"

HOST = "127.0.0.1"
PORT = CFG["port"]
n_rx = 0


def result(**kw):
    sys.stdout.write("RESULT " + json.dumps(kw) + "\n")


def payload(size):
    return bytes((i * 31 + 7) & 0xFF for i in range(size))


def publish():
    c = MQTTClient(CFG["client_id"], HOST, PORT)
    c.connect()
    topic = CFG["topic"].encode()
    msg = payload(CFG["size"])
    qos = CFG["qos"]
    # GC bytes per publish: a while loop with small ints allocates nothing of its own.
    k = CFG["gc_n"]
    gc.collect()
    gc.disable()
    i = 0
    a = gc.mem_alloc()
    while i < k:
        c.publish(topic, msg, False, qos)
        i += 1
    alloc = gc.mem_alloc() - a
    gc.enable()
    gc.collect()
    # Timed: up to `count` publishes or `secs` (the clock is read every 64th QoS 0 publish).
    count = CFG["count"]
    limit = int(CFG["secs"] * 1_000_000)
    mask = 63 if qos == 0 else 0
    n = 0
    t0 = time.ticks_us()
    while n < count:
        c.publish(topic, msg, False, qos)
        n += 1
        if not n & mask and time.ticks_diff(time.ticks_us(), t0) >= limit:
            break
    dt = time.ticks_diff(time.ticks_us(), t0)
    c.disconnect()
    result(n=n, secs=dt / 1e6, gc_bytes=alloc, gc_n=k)


def on_msg(topic, msg):
    global n_rx
    n_rx += 1


def receive():
    # Phase 1: a persistent session subscribed to the topic, then offline while the runner queues
    # `count` messages at the broker. Phase 2: reconnect and drain them as fast as we can.
    cid = CFG["client_id"]
    c = MQTTClient(cid, HOST, PORT)
    c.connect(True)
    c.disconnect()
    c = MQTTClient(cid, HOST, PORT)
    c.connect(False)
    c.set_callback(on_msg)
    c.subscribe(CFG["topic"].encode(), CFG["qos"])
    c.disconnect()
    sys.stdout.write("READY\n")
    assert sys.stdin.readline().strip() == "GO"
    c = MQTTClient(cid, HOST, PORT)
    c.set_callback(on_msg)
    count = CFG["count"]
    k = CFG["gc_n"]
    c.connect(False)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    while n_rx < k:
        c.wait_msg()
    alloc = gc.mem_alloc() - a
    gc.enable()
    gc.collect()
    t0 = time.ticks_us()
    while n_rx < count:
        c.wait_msg()
    dt = time.ticks_diff(time.ticks_us(), t0)
    c.disconnect()
    result(n=count - k, secs=dt / 1e6, gc_bytes=alloc, gc_n=k)


if CFG["kind"] == "pub":
    publish()
else:
    receive()
