# pytest.mark.slow
# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# pytest.mark.script_timeout(120)
# umqtt.aio under broker restarts: the test's own mosquitto (persistence on) is stopped with
# SIGTERM and started again on the same port while (1) four tasks publish QoS 1 and QoS 2
# messages (pipelined) and (2) the client receives a QoS 1 and a QoS 2 stream from the
# persistent paho peer. reconnect=True and clean_session=False: the caller sees only a delay.
# Every publish that returned (acknowledged) reaches the peer; no QoS 2 message left the client
# twice as a new PUBLISH (the broker's log says); every message the peer's broker acknowledged
# reaches the loop, and QoS 2 ones once (beyond the broker's own rollbacks).
from mqtt_harness import client_id, topic_s, topic, fault, eq, done
import asyncio
import time
from umqtt.aio import MQTTClient

N = 300


def count_drops(c, downs):
    # A task counting the connections that ended (c.down set, until c.up again).
    async def watch():
        while True:
            await c.down.wait()
            downs[0] += 1
            await c.up.wait()
    return asyncio.create_task(watch())


async def publish_through_bounce(c):
    fault("peer_sub", topic=topic_s("q1"), qos=1)
    fault("peer_sub", topic=topic_s("q2"), qos=2)
    acked = {1: [], 2: []}
    downs = [0]
    watcher = count_drops(c, downs)
    fault("bounce", delay=0.3, sig="TERM", down=0.7)

    async def worker(k):
        i = k
        while i < N or fault("bounces")["bounces"] < 1:  # at least N, and until the broker is back
            q = 1 + i % 2
            m = "pub-%d" % i
            await c.publish(topic_s("q%d" % q), m.encode(), qos=q)  # returns once acknowledged
            acked[q].append(m)
            i += 4
            await asyncio.sleep_ms(3)

    t0 = time.ticks_ms()
    await asyncio.gather(*[worker(k) for k in range(4)])
    fault("bounces", wait=True)
    watcher.cancel()
    print("publish: %d reconnect(s), %d ms" % (downs[0], time.ticks_diff(time.ticks_ms(), t0)))
    assert downs[0] >= 1, "the restart did not hit the publishing tasks"
    sent_q2 = 0
    for q in (1, 2):
        r = fault("peer_msgs", topic=topic_s("q%d" % q), want=acked[q], timeout=15)
        got = [m for m in r["msgs"] if m.startswith("pub-")]
        lost = [m for m in acked[q] if m not in got]
        print("publish QoS %d: acknowledged %d, the peer got %d (unique %d), lost %d" % (
            q, len(acked[q]), len(got), len(set(got)), len(lost)))
        eq(lost, [], "QoS %d acknowledged but lost" % q)
    log = fault("qos2_log", client=c.client_id)
    print("QoS 2: %d acknowledged, %d new PUBLISH from the client" % (len(acked[2]), log["new_from_client"]))
    assert log["new_from_client"] <= len(acked[2]) + 1, "a QoS 2 message published twice as new"


async def receive_through_bounce(c):
    for q in (1, 2):
        await c.subscribe(topic("in%d" % q), q)
    ids = {q: fault("stream", topic=topic_s("in%d" % q), n=200, qos=q, interval=0.008, tag="rx")["id"]
           for q in (1, 2)}
    fault("bounce", delay=0.5, sig="TERM", down=1.0)
    got = {1: [], 2: []}

    async def loop():
        async for t, m, retained, qos in c.messages():
            got[1 if t == topic("in1") else 2].append(m.decode())

    reader = asyncio.create_task(loop())
    downs = [0]
    watcher = count_drops(c, downs)
    t0 = time.ticks_ms()
    acked = None
    while time.ticks_diff(time.ticks_ms(), t0) < 15000:
        await asyncio.sleep_ms(500)
        st = [fault("stream_status", id=ids[q], full=True) for q in (1, 2)]
        if all(s["done"] for s in st) and fault("bounces")["bounces"]:
            acked = {1: st[0]["acked"], 2: st[1]["acked"]}
            if all(set(acked[q]) <= set(got[q]) for q in (1, 2)):
                break
    reader.cancel()
    watcher.cancel()
    assert acked is not None, "the peer's streams did not finish"
    print("receive: %d reconnect(s)" % downs[0])
    assert downs[0] >= 1, "the restart did not hit the receiving loop"
    rollbacks = fault("qos2_log", client=c.client_id)["rollbacks_to"].get(c.client_id, 0)
    for q in (1, 2):
        lost = [m for m in acked[q] if m not in got[q]]
        dups = len(got[q]) - len(set(got[q]))
        print("receive QoS %d: the peer's broker acknowledged %d, the loop got %d (unique %d), lost %d, dup %d" % (
            q, len(acked[q]), len(got[q]), len(set(got[q])), len(lost), dups))
        eq(lost, [], "QoS %d acknowledged by the broker but lost" % q)
        if q == 2:
            assert dups <= rollbacks, "QoS 2 duplicates beyond the broker's rollbacks (%d)" % rollbacks


async def main():
    port = fault("start")["port"]
    c = MQTTClient(client_id(), "127.0.0.1", port, keepalive=2, clean_session=False)
    eq(await c.connect(), False, "session present")
    await publish_through_bounce(c)
    await receive_through_bounce(c)
    await c.disconnect()


asyncio.run(main())
done()
