# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# umqtt.aio, operations whose task is cancelled at every point of their life: before they run,
# waiting for a slot of the in-flight window, waiting for their acknowledgement, and after the
# acknowledgement woke them but before they ran. Cancelling frees what the operation held (its
# slot of the window: a later publish goes out), leaves no result behind for a later operation,
# and stops only the wait: a message already queued still reaches the peer.
from mqtt_harness import HOST, PORT, client_id, topic, peer_sub, peer_msgs, cancelled_after, ended_or_cancelled, \
    eq, done
import asyncio
import time
from umqtt.aio import MQTTClient

WINDOW = 8  # the engine's in-flight window: more cancelled operations than this must not jam it


started = []  # the publishes that started (a cancel may still come before they queue)
completed = []  # and those that returned


async def publish(c, name, qos=1):
    started.append(name)
    await c.publish(topic("out"), name.encode(), qos=qos)
    completed.append(name)


async def cancelled_when_woken(c, name):
    # Publishes name and cancels it right after its PUBACK woke it, before it ran (white-box: the
    # client's table of parked operations tells when): whether it ran first all the same.
    t = asyncio.create_task(publish(c, name))
    while not c._waiters.tasks and not t.done():
        await asyncio.sleep(0)  # until it parks for its PUBACK
    while c._waiters.tasks and not t.done():
        await asyncio.sleep(0)  # until the PUBACK wakes it
    return await ended_or_cancelled(t)


def peer_got_all(name):
    # What the peer got up to the message `name`, published last and acknowledged: the broker
    # forwards one client's QoS 1 messages in order, so nothing before it is still on its way.
    for _ in range(250):
        got = [bytes.fromhex(g["hex"]).decode() for g in peer_msgs("out", 1, timeout=0)]
        if name in got:
            return got
        time.sleep(0.02)
    raise AssertionError("the peer never got %r" % name)


async def main():
    c = MQTTClient(client_id(), HOST, PORT, reconnect=False)
    await c.connect()
    peer_sub("out", 1)

    # Parked for the PUBACK, then cancelled: each one's slot must come back.
    n_parked = 3 * WINDOW
    for i in range(n_parked):
        eq(await cancelled_after(publish(c, "p%d" % i), 1), False, "cancelled while parked")
    await asyncio.wait_for(publish(c, "after-parked"), 5)

    # Cancelled at every later turn too: woken by the PUBACK but not yet run, done, in between.
    ended = 0
    n_spread = 300
    for i in range(n_spread):
        ended += await cancelled_after(publish(c, "s%d" % i), 1 + i % 12)
    print("%d of %d publishes ended before their cancel" % (ended, n_spread))
    await asyncio.wait_for(publish(c, "after-spread"), 5)

    woken = 0
    for i in range(20):
        woken += not await cancelled_when_woken(c, "w%d" % i)
    eq(woken > 0, True, "publishes cancelled after the PUBACK woke them")
    await asyncio.wait_for(publish(c, "after-woken"), 5)

    # Subscribes too (their ticket waits for SUBACK).
    for i in range(2 * WINDOW):
        await cancelled_after(c.subscribe(topic("s%d" % i), 1), 1)
    eq(await asyncio.wait_for(c.subscribe(topic("sub-after"), 1), 5), 1, "subscribe after cancelled ones")

    # Cancelling stops the wait for the acknowledgement, not a message that left: the peer got
    # every publish that returned, each once, and none that never started.
    await publish(c, "end")
    got = peer_got_all("end")
    eq(len(got), len(set(got)), "no message twice")
    eq([m for m in got if m not in started], [], "messages never published")
    eq([m for m in completed if m not in got], [], "messages published and lost")
    print("the peer got %d of %d started, %d returned" % (len(got), len(started), len(completed)))
    eq(len(c._waiters.tasks) + len(c._waiters.results), 0, "nothing left waiting")
    await c.disconnect()


asyncio.run(main())
done()
