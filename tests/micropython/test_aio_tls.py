# pytest.mark.needs_tls
# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# umqtt.aio over TLS against mosquitto's TLS listener: ssl=True with ssl_params (the legacy
# wrap_socket) and an SSLContext. The handshake runs on the non-blocking socket through asyncio's
# poller: against a server that never answers, a timer task keeps ticking until connect's
# timeout. QoS 1 both ways, pipelined publishes, a message larger than one TLS record; a
# certificate from another CA fails connect() at once with the TLS error and no task left
# waiting; a dropped TLS connection comes back by itself.
from mqtt_harness import CFG, HOST, client_id, topic, peer_sub, peer_pub, peer_msgs, fake_broker, \
    eq, skip, done
import asyncio
import binascii
import errno
import hashlib
import time

try:
    import ssl
except ImportError:
    skip("no ssl module in this firmware")
from umqtt.aio import MQTTClient

PORT = CFG["tls_port"]
CA = open(CFG["ca_der"], "rb").read()
TICK_MS = 10
big = bytes(range(256)) * 80  # 20 KiB: more than one 16 KiB TLS record
BIG_SHA256 = binascii.hexlify(hashlib.sha256(big).digest()).decode()


def context(cadata):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=cadata)
    return ctx


async def blink(ticks, stop):
    while not stop.is_set():
        await asyncio.sleep_ms(TICK_MS)
        ticks.append(time.ticks_ms())


async def ticking(work):
    # Runs work while a timer task ticks every TICK_MS; returns (its result or exception, ms,
    # ticks).
    ticks = []
    stop = asyncio.Event()
    timer = asyncio.create_task(blink(ticks, stop))
    t0 = time.ticks_ms()
    try:
        r = await work
    except Exception as e:
        r = e
    dt = time.ticks_diff(time.ticks_ms(), t0)
    stop.set()
    await timer
    return r, dt, len(ticks)


async def round_trip(c, tag):
    eq(await c.connect(timeout=10), False, tag + ": session present")

    eq(await c.subscribe(topic(tag), 1), 1, tag + ": granted QoS 1")
    peer_sub(tag + "-out", 1)
    await asyncio.gather(*[c.publish(topic(tag + "-out"), b"%s-%d" % (tag, i), qos=1) for i in range(8)])
    await c.publish(topic(tag + "-out"), big, qos=1)
    got = peer_msgs(tag + "-out", 9)
    eq(sorted(bytes.fromhex(g["hex"]) for g in got[:8]), sorted(b"%s-%d" % (tag, i) for i in range(8)),
       tag + ": pipelined publishes the peer got")
    eq((got[8]["len"], got[8]["sha256"]), (len(big), BIG_SHA256), tag + ": the 20 KiB publish")

    it = c.messages()
    peer_pub(tag, b"hello " + tag.encode(), qos=1)
    eq(await asyncio.wait_for(it.__anext__(), 5), (topic(tag), b"hello " + tag.encode(), False, 1),
       tag + ": QoS 1 message")
    peer_pub(tag, big, qos=1)
    eq(await asyncio.wait_for(it.__anext__(), 5), (topic(tag), big, False, 1), tag + ": 20 KiB message")
    return it


async def silent_server():
    # A TCP server that accepts and says nothing: the handshake waits for a ServerHello that never
    # comes, through the poller (the timer keeps ticking), until connect's timeout.
    fid, port = fake_broker(["accept"], ["sleep", 3], ["close"])
    c = MQTTClient(client_id(), HOST, port, ssl=context(CA), reconnect=False)
    r, dt, ticks = await ticking(c.connect(timeout=1))
    print("silent server: %r after %d ms, %d ticks" % (r, dt, ticks))
    assert isinstance(r, OSError) and r.args[0] == errno.ETIMEDOUT, "silent server: %r" % r
    assert 900 <= dt < 2500, "silent server: connect ended after %d ms (timeout 1 s)" % dt
    assert ticks >= dt // (3 * TICK_MS), "silent server: %d ticks in %d ms" % (ticks, dt)
    eq(len(asyncio.core._io_queue.map), 0, "silent server: a task of the client still waits on its socket")


async def main():
    await silent_server()
    params = {"cadata": CA, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "127.0.0.1"}
    c = MQTTClient(client_id(), HOST, PORT, ssl=True, ssl_params=params, keepalive=30)
    await round_trip(c, "legacy")
    await c.disconnect()
    eq(c.isconnected(), False, "legacy: isconnected after disconnect")

    c = MQTTClient(client_id(), HOST, PORT, ssl=context(CA), keepalive=30)
    it = await round_trip(c, "context")
    # The TLS connection drops (no DISCONNECT): reconnect=True brings it back, subscription too.
    c._sock.close()
    await asyncio.wait_for(c.down.wait(), 5)
    await asyncio.wait_for(c.up.wait(), 10)
    peer_pub("context", b"after reconnect", qos=1)
    eq(await asyncio.wait_for(it.__anext__(), 5), (topic("context"), b"after reconnect", False, 1),
       "context: message after the reconnect")
    await c.disconnect()

    wrong = MQTTClient(client_id(), HOST, PORT, ssl=context(open(CFG["wrong_ca_der"], "rb").read()))
    t0 = time.ticks_ms()
    try:
        await wrong.connect(timeout=5)
        raise AssertionError("connect with a certificate from another CA succeeded")
    except (OSError, ValueError) as e:
        print("wrong CA:", repr(e))
        refused = e
    assert time.ticks_diff(time.ticks_ms(), t0) < 5000, "wrong CA: refused at once, not at the timeout"
    eq(wrong.isconnected(), False, "wrong CA: not connected")
    eq(len(asyncio.core._io_queue.map), 0, "wrong CA: a task of the client still waits on its socket")
    try:  # a call with no connection open and none coming raises why the last one ended
        await wrong.publish(topic("x"), b"x")
        raise AssertionError("publish after a refused connect succeeded")
    except (OSError, ValueError) as e:
        eq(e, refused, "wrong CA: publish raises what refused the connection")


asyncio.run(main())
done()
