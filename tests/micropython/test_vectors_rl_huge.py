# @native-only: umqtt.simple 1.8.0 reads whatever length is claimed (read(100000000))
# @vectors: rl-100000000 rl-268435455
# @timeout: 40
# A PUBLISH claiming 100,000,000 or 268,435,455 bytes (legal MQTT lengths a device cannot hold),
# followed by 100 bytes and silence: OSError or MQTTException, never MemoryError (the claimed size
# is not allocated) and never a hang: through a fake socket (wait_msg), and over TCP with the
# connection left open, in a check_msg loop and in wait_msg bounded by connect(timeout=2).
from mqtt_harness import (fake_client, fake_broker, MQTTClient, HOST, client_id, V, hx, eq, done,
                          tcp_client_error, Recorder)
import time


def expect_error(what, fn):
    t0 = time.ticks_ms()
    try:
        fn()
    except tcp_client_error() as e:
        print(what, "->", repr(e), "after", time.ticks_diff(time.ticks_ms(), t0), "ms")
        return
    except Exception as e:
        raise AssertionError("%s: expected OSError or MQTTException, got %r" % (what, e))
    raise AssertionError(what + ": no exception")


def check_loop(c):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 10000:
        c.check_msg()
        time.sleep_ms(5)


def wait_loop(c):
    for i in range(100):  # wait_msg may return None; it must not block past the timeout
        c.wait_msg()


for name in ("rl-100000000", "rl-268435455"):
    pkt = b"\x30" + V(name) + b"\x00\x01t" + b"x" * 100
    c, fs, _ = fake_client()
    fs.feed(pkt)
    expect_error(name + ", fake socket, wait_msg", c.wait_msg)
    eq(c.cb.msgs, [], name + ": nothing delivered")

    for mode, fn, timeout in (("check_msg", check_loop, None), ("wait_msg", wait_loop, 2)):
        fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000" + hx(pkt)], ["drain", 30])
        c = MQTTClient(client_id(), HOST, port)
        c.set_callback(Recorder())
        c.connect(timeout=timeout)
        expect_error(name + ", tcp, " + mode, lambda: fn(c))
        eq(c.cb.msgs, [], name + ": nothing delivered")
done()
