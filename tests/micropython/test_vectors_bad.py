# pytest.mark.qemu
# pytest.mark.vector_params("bad")
# pytest.mark.native_only_vector("bad-type0", "umqtt.simple 1.8.0 returns 0x00 from wait_msg")
# pytest.mark.native_only_vector("bad-type15", "umqtt.simple 1.8.0 returns 0xF0 from wait_msg")
# pytest.mark.native_only_vector("bad-pubrel", "umqtt.simple 1.8.0 returns 0x60 from wait_msg")
# pytest.mark.native_only_vector("bad-qos3", "umqtt.simple 1.8.0 delivers the message")
# pytest.mark.native_only_vector("bad-pingresp", "umqtt.simple 1.8.0 raises AssertionError")
# pytest.mark.native_only_vector("bad-connack", "umqtt.simple 1.8.0 raises AssertionError in connect")
# pytest.mark.native_only_vector("bad-topic-len", "umqtt.simple 1.8.0 reads the topic past the packet end and delivers it")
# pytest.mark.native_only_vector("rl-bad-5byte", "umqtt.simple 1.8.0 accepts a 5-byte remaining length")
# pytest.mark.script_timeout(30)
# A malformed packet from the seed vectors (one run per vector) must give OSError or
# MQTTException, never a crash, another exception, a delivery or a hang: through a fake socket
# (wait_msg), and over TCP with the connection left open (wait_msg, then a check_msg loop).
# Afterwards connect() on the same object works again.
from mqtt_harness import (PARAM, V, fake_client, fake_broker, MQTTClient, HOST, client_id, usable_on_broker,
                          hx, tcp_client_error, Recorder, eq, done)
import time

name = PARAM
vec = V(name)
if name.startswith("rl-"):
    vec = b"\x30" + vec + b"\x00\x01t" + b"x" * 16  # a PUBLISH with that length field


def expect_error(what, fn):
    try:
        r = fn()
    except tcp_client_error() as e:
        print(what, "->", repr(e))
        return e
    except Exception as e:
        raise AssertionError("%s: expected OSError or MQTTException, got %r" % (what, e))
    raise AssertionError("%s: no exception (returned %r)" % (what, r))


def loop(c, check):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 10000:
        if check:
            c.check_msg()
            time.sleep_ms(5)
        else:
            c.wait_msg()
    return "still running after 10 s"


if name == "bad-connack":
    fid, port = fake_broker(["accept"], ["recv"], ["send", hx(vec)], ["drain", 20])
    c = MQTTClient(client_id(), HOST, port)
    expect_error("connect", c.connect)
else:
    c, fs, _ = fake_client()
    fs.feed(vec)
    expect_error("fake socket, wait_msg", c.wait_msg)
    eq(c.cb.msgs, [], "nothing delivered")

    for check in (False, True):
        fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000" + hx(vec)], ["drain", 20])
        c = MQTTClient(client_id(), HOST, port)
        c.set_callback(Recorder())
        c.connect()
        expect_error("tcp, " + ("check_msg" if check else "wait_msg"), lambda: loop(c, check))
        eq(c.cb.msgs, [], "nothing delivered")

# the same object connects again (to the real broker)
c.set_callback(Recorder())
usable_on_broker(c, "after the error")
done()
