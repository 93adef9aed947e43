# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# umqtt.aio's unfinished QoS 1 publishes across a reconnect (clean_session=False, scripted
# brokers that never acknowledge on the first connection):
# - the broker lost the session (session present 0): the publish goes out again as a new message
#   and its caller keeps waiting; the subscription is made again (resubscribing must not make the
#   engine forget the unfinished publish first);
# - the broker kept it (session present 1): the eight go out again (DUP), the broker acknowledges
#   each as it comes while the client still resends the others: every caller returns normally
#   (an acknowledgement handled mid-resend must not fail an operation not yet sent again).
from mqtt_harness import HOST, client_id, fake_broker, fake_log, hx, eq, done
import asyncio
from umqtt.aio import MQTTClient

CONNACK_NEW_SESSION = "20020000"
CONNACK_KEPT_SESSION = "20020100"
SUBACK_PID1_QOS1 = "9003000101"


def puback(pid):
    return "4002%04x" % pid


def connection_packets(fid):
    # The packets the client sent, one list per connection (split at each CONNECT).
    conns = []
    for p in fake_log(fid)["packets"]:
        p = bytes.fromhex(p)
        if p[0] == 0x10:
            conns.append([])
        conns[-1].append(p)
    return conns


async def session_lost():
    payload = b"unfinished"
    fid, port = fake_broker(
        ["accept"], ["recv"], ["send", CONNACK_NEW_SESSION], ["recv"], ["send", SUBACK_PID1_QOS1],
        ["recv"], ["close"],  # the PUBLISH, never acknowledged
        ["accept"], ["recv"], ["send", CONNACK_NEW_SESSION], ["drain", 1.5])
    c = MQTTClient(client_id(), HOST, port, clean_session=False)
    await c.connect()
    eq(await c.subscribe(b"t/in", 1), 1, "granted")
    pub = asyncio.create_task(c.publish(b"t/out", payload, qos=1))
    await asyncio.wait_for(c.down.wait(), 5)
    await asyncio.wait_for(c.up.wait(), 5)
    await asyncio.sleep_ms(300)
    eq(pub.done(), False, "the publish still waits for its acknowledgement (it did not fail)")
    pub.cancel()
    conns = connection_packets(fid)
    eq(len(conns), 2, "connections")
    publishes = [p for p in conns[1] if p[0] & 0xF0 == 0x30]
    eq([p[0] for p in publishes], [0x32], "one new message (QoS 1, DUP 0) on the new session")
    eq(hx(publishes[0]).endswith(hx(payload)), True, "its payload")
    eq([p[0] for p in conns[1] if p[0] == 0x82], [0x82], "SUBSCRIBE again on the new session")
    await c.disconnect()


async def session_kept():
    # Eight messages, each nearly a transmit buffer: resending them takes a write each, and the
    # broker acknowledges each one as it comes, so acknowledgements arrive while the later ones
    # are not sent again yet.
    n = 8
    payloads = [bytes([65 + i]) * 1200 for i in range(n)]
    first = [["accept"], ["recv"], ["send", CONNACK_NEW_SESSION]] + [["recv"]] * n + [["close"]]
    second = [["accept"], ["recv"], ["send", CONNACK_KEPT_SESSION]]
    for i in range(n):
        second += [["recv"], ["send", puback(i + 1)]]
    fid, port = fake_broker(*(first + second + [["drain", 1]]))
    c = MQTTClient(client_id(), HOST, port, clean_session=False)
    await c.connect()
    pubs = []
    for m in payloads:
        pubs.append(asyncio.create_task(c.publish(b"t/out", m, qos=1)))
        await asyncio.sleep(0)  # queued in this order: packet ids 1 to 8
    await asyncio.wait_for(asyncio.gather(*pubs), 10)  # raises what failed any of them
    conns = connection_packets(fid)
    eq(len(conns), 2, "connections")
    eq([p[0] for p in conns[1] if p[0] & 0xF0 == 0x30], [0x3A] * n, "resent (DUP) PUBLISHes")
    await c.disconnect()


async def main():
    await session_lost()
    await session_kept()


asyncio.run(main())
done()
