# pytest.mark.slow
# pytest.mark.qemu
# pytest.mark.native_only("umqtt.simple 1.8.0 reads whatever length is claimed (read(100000000))")
# pytest.mark.vectors("rl-100000000", "rl-268435455")
# pytest.mark.script_timeout(40)
# A PUBLISH claiming 100,000,000 or 268,435,455 bytes (legal MQTT lengths a device cannot hold),
# followed by 100 bytes and silence: at once a MemoryError that names the size (nothing of that
# size is allocated, the heap stays as it was), never a hang, and the client stays usable (the
# payload is skipped as it arrives): through a fake socket (wait_msg), and over TCP with the
# connection left open, in a check_msg loop and in wait_msg bounded by connect(timeout=2), after
# which a publish still reaches the broker.
from mqtt_harness import (fake_client, fake_broker, fake_log, MQTTClient, HOST, client_id, V, hx, unhx,
                          eq, done, Recorder)
import gc
import time


def expect_error(what, fn, size):
    gc.collect()
    free0 = gc.mem_free()
    t0 = time.ticks_ms()
    try:
        fn()
    except MemoryError as e:
        dt = time.ticks_diff(time.ticks_ms(), t0)
        print(what, "->", repr(e), "after", dt, "ms")
        eq(str(e), "incoming message of %d bytes does not fit in the heap; skipped" % size, what)
        assert dt < 1000, "%s: %d ms" % (what, dt)
        gc.collect()
        assert abs(gc.mem_free() - free0) < 4096, "%s: heap %d -> %d" % (what, free0, gc.mem_free())
        return
    except Exception as e:
        raise AssertionError("%s: expected MemoryError, got %r" % (what, e))
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
    size = int(name[3:]) - 3  # the payload: Remaining Length minus the topic's 3 bytes
    c, fs, _ = fake_client()
    fs.feed(pkt)
    expect_error(name + ", fake socket, wait_msg", c.wait_msg, size)
    eq(c.cb.msgs, [], name + ": nothing delivered")

    for mode, fn, timeout in (("check_msg", check_loop, None), ("wait_msg", wait_loop, 2)):
        fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000" + hx(pkt)], ["drain", 3])
        c = MQTTClient(client_id(), HOST, port)
        c.set_callback(Recorder())
        c.connect(timeout=timeout)
        expect_error(name + ", tcp, " + mode, lambda: fn(c), size)
        eq(c.cb.msgs, [], name + ": nothing delivered")
        c.publish(b"t/after", b"still connected")  # the connection was kept
        sent = [unhx(p) for p in fake_log(fid)["packets"]]
        eq(sent[-1][:1], b"\x30", name + ", " + mode + ": PUBLISH after the error")
done()
