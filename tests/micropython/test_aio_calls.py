# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# umqtt.aio, every call against mosquitto and the paho peer: connect (session flag), subscribe
# (granted QoS), publish at QoS 0/1/2 (what the peer got), messages() at QoS 0/1/2 with the
# retained flag, unsubscribe, isconnected and the up/down events, the Last Will, a message whose
# loop body raised is delivered again on the kept session, disconnect, and the errors of calls
# made without a connection or with bad arguments; the heap a QoS 1 publish and a received
# message cost.
from mqtt_harness import HOST, PORT, client_id, topic, peer_sub, peer_pub, peer_pub_burst, peer_msgs, \
    eq, hx, raises, done
import asyncio
import errno
import gc
import sys
import umqtt
from umqtt.aio import MQTTClient

assert umqtt.aio.MQTTClient is MQTTClient, "umqtt.aio is an attribute of umqtt once imported"


async def next_message(it, timeout=5):
    # The next message of a messages() iterator, within timeout seconds.
    return await asyncio.wait_for(it.__anext__(), timeout)


async def main():
    cid = client_id()
    c = MQTTClient(cid, HOST, PORT, keepalive=30, clean_session=False)
    eq(c.isconnected(), False, "isconnected before connect")
    e = await expect(OSError, c.publish(topic("out"), b"x"))
    eq(e.args[0], errno.ENOTCONN, "publish before connect")

    eq(await c.connect(), False, "session present on a new session")
    eq((c.isconnected(), c.up.is_set(), c.down.is_set()), (True, True, False), "up after connect")
    eq(await c.subscribe(topic("in"), 1), 1, "granted QoS 1")
    eq(await c.subscribe(topic("in0"), 0), 0, "granted QoS 0")

    peer_sub("out", 2)
    await c.publish(topic("out"), b"q0")
    await c.publish(topic("out"), b"q1", qos=1)
    await c.publish(topic("out"), b"q2", qos=2, retain=True)
    got = peer_msgs("out", 3)
    eq([(bytes.fromhex(g["hex"]), g["qos"]) for g in got], [(b"q0", 0), (b"q1", 1), (b"q2", 2)], "peer got")

    it = c.messages()
    peer_pub("in", b"first", qos=1)
    eq(await next_message(it), (topic("in"), b"first", False, 1), "QoS 1 message")
    peer_pub("in0", b"zero", qos=0)
    eq(await next_message(it), (topic("in0"), b"zero", False, 0), "QoS 0 message")
    peer_pub("in", b"exactly", qos=2)
    eq(await next_message(it), (topic("in"), b"exactly", False, 1), "QoS 2 message at the granted QoS 1")
    peer_pub("ret", b"kept", qos=1, retain=True)
    eq(await c.subscribe(topic("ret"), 2), 2, "granted QoS 2")
    eq(await next_message(it), (topic("ret"), b"kept", True, 1), "retained message")

    # The loop body that got "raises" raised: no PUBACK, so the broker delivers it again on the
    # kept session; the one before it was acknowledged by asking for this one.
    peer_pub("in", b"raises", qos=1)
    eq(await next_message(it), (topic("in"), b"raises", False, 1), "message whose handling fails")
    await c.unsubscribe(topic("in0"))
    peer_pub("in0", b"unsubscribed", qos=0)
    c._sock.close()  # an abrupt end of the connection (no DISCONNECT): the reader fails
    await asyncio.wait_for(c.down.wait(), 5)
    eq(c.isconnected(), False, "isconnected after the connection dropped")
    await asyncio.wait_for(c.up.wait(), 5)  # reconnect=True: back after the back-off
    eq(await next_message(it), (topic("in"), b"raises", False, 1), "delivered again after the reconnect")
    peer_pub("in", b"after", qos=1)
    eq(await next_message(it), (topic("in"), b"after", False, 1), "next message")
    await c.disconnect()
    eq((c.isconnected(), c.up.is_set(), c.down.is_set()), (False, False, True), "down after disconnect")
    e = await expect(OSError, c.publish(topic("out"), b"x", qos=1))
    eq(e.args[0], errno.ENOTCONN, "publish after disconnect")
    e = await expect(OSError, it.__anext__())
    eq(e.args[0], errno.ENOTCONN, "messages() after disconnect")

    # disconnect() acknowledged "after", the last message handed out (no redelivery of it);
    # "unsubscribed" never came.
    c = MQTTClient(cid, HOST, PORT, clean_session=False, reconnect=False)
    eq(await c.connect(), True, "session present on the kept session")
    await c.subscribe(topic("marker"), 1)
    peer_pub("marker", b"m", qos=1)
    eq(await next_message(c.messages()), (topic("marker"), b"m", False, 1), "only the marker")
    await c.disconnect()

    # Last Will: an abrupt close publishes it; reconnect=False leaves the client down.
    peer_sub("will", 1)
    w = MQTTClient(client_id(), HOST, PORT, will=(topic("will"), b"gone", False, 1), reconnect=False)
    await w.connect()
    w._sock.close()
    await asyncio.wait_for(w.down.wait(), 5)
    got = peer_msgs("will", 1)
    eq([(g["hex"], g["qos"]) for g in got], [(hx(b"gone"), 1)], "will seen by the peer")
    e = await expect(OSError, w.publish(topic("out"), b"x"))
    eq(e.args[0] in (errno.EBADF, errno.ENOTCONN, errno.ECONNRESET), True, "publish after the drop: %r" % (e,))

    # Arguments the engine refuses, before anything is sent.
    b = MQTTClient(client_id(), HOST, PORT, reconnect=False)
    await b.connect()
    await expect(ValueError, b.publish(topic("out"), b"x", qos=3))
    await expect(ValueError, b.publish(b"", b"x"))
    await expect(ValueError, b.publish(b"a/+", b"x"))
    await expect(ValueError, b.subscribe(b"", 0))
    await b.ping()
    await b.publish(topic("out"), b"still-up", qos=1)
    await b.disconnect()
    raises(ValueError, MQTTClient, "x", HOST, queue_len=0)
    raises(ValueError, MQTTClient, "x", HOST, will=(b"t", b"m"))
    await heap_per_call()


async def heap_per_call():
    # What a QoS 1 publish and a received QoS 1 message allocate (GC off), in machine words: the
    # publish's coroutine (and the message's objects), no coroutine per wait of the client's
    # tasks. Counted in words so that 32- and 64-bit builds share the bound.
    word = 8 if sys.maxsize > 1 << 32 else 4
    c = MQTTClient(client_id(), HOST, PORT, reconnect=False)
    await c.connect()
    await c.subscribe(topic("heap"), 1)
    it = c.messages()
    n = 100

    async def allocated(work, prepare=None):
        for k in (10, n):  # the first round (a warm-up) grows the client's tables to their size
            if prepare:
                prepare(k)
            gc.collect()
            gc.disable()
            a = gc.mem_alloc()
            await work(k)
            words = (gc.mem_alloc() - a) / k / word
            gc.enable()
        return words

    t_out = topic("heap-out")

    async def publishes(k):
        for i in range(k):
            await c.publish(t_out, b"h", qos=1)

    async def receives(k):
        for i in range(k):
            await it.__anext__()

    pub = await allocated(publishes)
    rx = await allocated(receives, lambda k: peer_pub_burst("heap", b"r", k, qos=1))
    print("heap: %.1f words per QoS 1 publish, %.1f per received QoS 1 message" % (pub, rx))
    assert pub <= 40, "a QoS 1 publish allocates %.1f words" % pub
    assert rx <= 72, "a received QoS 1 message allocates %.1f words" % rx
    await c.disconnect()


async def expect(excs, coro):
    try:
        r = await coro
    except excs as e:
        return e
    raise AssertionError("expected %r, returned %r" % (excs, r))


asyncio.run(main())
done()
