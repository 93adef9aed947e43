# pytest.mark.slow
# pytest.mark.native_only("umqtt.aio is the native module's asyncio client")
# pytest.mark.script_timeout(120)
# umqtt.aio against the hostile brokers of the blocking suite (test_hostile_broker.py,
# docs/hostile-broker.md): scripted brokers that lie about lengths, stop mid-packet, send
# garbage or packets a broker never sends, refuse, or claim 200 MB. With reconnect=False each
# case ends in the exact error the blocking client gives, raised where the caller awaits
# (connect, subscribe, publish, the messages() loop), within its bound (connect timeout or
# keepalive), and no task of the client is left behind; with reconnect=True the client comes
# back up on the script's next connection and delivers what it sends. Prints one
# `CASE name | outcome | ms` line per case.
from mqtt_harness import HOST, client_id, check_case, fake_broker, fake_log, hx, unhx, publish_packet, eq, done
import asyncio
import errno
import gc
import time
from asyncio import core
from umqtt.aio import MQTTClient

T = 1  # connect(timeout=T)
KA = 1  # keepalive: bounds every wait once connected
SLACK = 1500
TMO = T * 1000 + SLACK
KA_MS = 2 * KA * 1000 + SLACK
CONNACK = "20020000"
ETIMEDOUT = "OSError(%d,)" % errno.ETIMEDOUT
ECONNRESET = "OSError(%d,)" % errno.ECONNRESET


def PROTO(msg):
    return "OSError(%r,)" % msg


def TOO_BIG(got):
    return got.startswith("MemoryError('incoming message of ") and got.endswith(" bytes does not fit in the heap; skipped',)")


def then_silence(hexs):
    return [["accept"], ["recv"], ["send", CONNACK], ["send", hexs], ["drain", 8]]


def then_answer(hexs):
    return [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", hexs], ["drain", 8]]


async def connect(c):
    return await c.connect(timeout=T)


async def messages(c):
    got = []
    async for m in c.messages():
        got.append(m)
    return got


async def subscribe(c):
    return await c.subscribe(b"t/s", 1)


async def publish1(c):
    return await c.publish(b"t/p", b"payload", qos=1)


async def publish2(c):
    return await c.publish(b"t/p", b"payload", qos=2)


async def case(name, steps, action, want, limit_ms, connect_first=True, stays_up=False):
    fid, port = fake_broker(*steps)
    if not steps:
        fake_log(fid)  # its listener closed (connecting while it closes gives ECONNRESET)
    c = MQTTClient(client_id(), HOST, port, keepalive=KA, reconnect=False)
    gc.collect()
    t0 = time.ticks_ms()
    try:
        if connect_first:
            eq(await c.connect(timeout=T), False, name + ": connect")
        r = await asyncio.wait_for_ms(action(c), limit_ms + 2000)
        got = "returned %r" % (r,)
    except asyncio.TimeoutError:
        got = "hung"
    except Exception as e:
        got = "%s%r" % (type(e).__name__, e.args)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    check_case(name, got, dt, want, limit_ms)
    await asyncio.sleep_ms(0)
    eq(c.isconnected(), stays_up, name + ": up afterwards")
    if stays_up:
        await c.disconnect()
    eq(len(core._io_queue.map), 0, name + ": a task of the client still waits on its socket")
    fake_log(fid, timeout=3)


async def main():
    # connect: CONNACK never sent, cut, lying, garbage, refused
    await case("connack-never-sent", [["accept"], ["recv"], ["drain", 6]], connect, ETIMEDOUT, TMO, False)
    await case("connack-cut-after-1-byte", [["accept"], ["recv"], ["send", "20"], ["drain", 6]], connect,
               ETIMEDOUT, TMO, False)
    await case("connack-rl-claims-5-sends-2", [["accept"], ["recv"], ["send", "20050000"], ["drain", 6]],
               connect, PROTO("CONNACK remaining length is not 2"), TMO, False)
    await case("connack-then-close-mid-packet", [["accept"], ["recv"], ["send", "2002"], ["close"]], connect,
               ECONNRESET, TMO, False)
    await case("connack-http-garbage", [["accept"], ["recv"], ["send", hx(b"HTTP/1.1 400 Bad Request\r\n\r\n")],
                                        ["drain", 6]], connect,
               PROTO("invalid fixed header flags for packet type"), TMO, False)
    await case("connack-refused-rc5", [["accept"], ["recv"], ["send", "20020005"], ["drain", 6]], connect,
               "MQTTException(5,)", TMO, False)
    await case("nobody-listens", [], connect, "OSError(%d,)" % errno.ECONNREFUSED, TMO, False)

    # once connected: lying lengths, streams that stop, closes, silence (keepalive bounds them)
    lies = "3064" + "0003742f78" + "00" * 10
    await case("publish-rl-lies", then_silence(lies), messages, ETIMEDOUT, KA_MS)
    await case("stops-mid-header", then_silence("30"), messages, ETIMEDOUT, KA_MS)
    await case("stops-mid-rl", then_silence("3080"), messages, ETIMEDOUT, KA_MS)
    await case("closes-mid-packet", [["accept"], ["recv"], ["send", CONNACK], ["send", "300a0008742f"], ["close"]],
               messages, ECONNRESET, TMO)
    await case("suback-cut", then_answer("900300"), subscribe, ETIMEDOUT, KA_MS)
    await case("puback-never-sent", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["drain", 8]], publish1,
               ETIMEDOUT, KA_MS)
    await case("pubrec-then-silence", then_answer("50020001"), publish2, ETIMEDOUT, KA_MS)

    # 200 MB claims: the message is skipped (MemoryError naming its size), no allocation of it
    big = "30" + "8084af5f" + "0003742f78" + "00" * 200
    await case("publish-200MB-claim", then_silence(big), messages, TOO_BIG, KA_MS, stays_up=True)
    await case("suback-200MB-claim", then_answer("90" + "8084af5f"), subscribe,
               PROTO("control packet larger than the receive buffer"), TMO)

    # packets a broker never sends, invalid fields, refusals
    await case("broker-sends-CONNECT", then_silence("100c00044d5154540402003c0000"), messages,
               PROTO("packet a broker never sends to a client"), KA_MS)
    await case("second-CONNACK", then_silence(CONNACK), messages, PROTO("CONNACK on an open connection"), KA_MS)
    await case("publish-qos1-pid0", then_silence("32060001740000" + "78"), messages, PROTO("packet id 0"), TMO)
    await case("publish-topic-wildcard", then_silence("300400012b78"), messages,
               PROTO("wildcard in a PUBLISH topic"), KA_MS)
    await case("suback-failure-0x80", then_answer("9003000180"), subscribe, "MQTTException(128,)", TMO,
               stays_up=True)
    await case("suback-invalid-code-3", then_answer("9003000103"), subscribe, PROTO("invalid SUBACK return code"),
               TMO)

    # reconnect=True: a broker that sends garbage, then (its next connection) behaves: the client
    # is back up without the caller seeing more than a delay, and the message arrives.
    msg = hx(publish_packet(b"t/m", b"after-garbage"))
    # (The pause lets connect() return first: garbage in the same read as CONNACK fails connect.)
    fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK], ["sleep", 0.3], ["send", "0000"], ["drain", 2],
                            ["accept"], ["recv"], ["send", CONNACK + msg], ["drain", 4])
    c = MQTTClient(client_id(), HOST, port, keepalive=KA)
    t0 = time.ticks_ms()
    await c.connect(timeout=T)
    m = await asyncio.wait_for_ms(c.messages().__anext__(), 5000)
    eq(m, (b"t/m", b"after-garbage", False, 0), "delivered after the reconnect")
    print("CASE reconnect-after-garbage | %r | %d ms" % (m, time.ticks_diff(time.ticks_ms(), t0)))
    await c.disconnect()
    log = fake_log(fid)
    eq([unhx(p)[0] for p in log["packets"]], [0x10, 0x10, 0xE0], "CONNECT, CONNECT again, DISCONNECT")


asyncio.run(main())
done()
