# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ and would block forever on a silent broker")
# pytest.mark.script_timeout(40)
# A broker that accepts the connection, then never answers (not even PINGRESP) but keeps the
# socket open: with keepalive=2 the client sends PINGREQ and raises OSError within a few
# keepalive periods, from wait_msg and from a check_msg loop.
from mqtt_harness import MQTTClient, HOST, client_id, fake_broker, fake_log, unhx, Recorder, done, eq
import time

KA = 2


def check(c):
    c.check_msg()
    time.sleep_ms(20)


for name, fn in (("wait_msg", lambda c: c.wait_msg()), ("check_msg", check)):
    fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000"], ["drain", 12])
    c = MQTTClient(client_id(), HOST, port, keepalive=KA)
    c.set_callback(Recorder())
    c.connect()
    t0 = time.ticks_ms()
    e = None
    try:
        while time.ticks_diff(time.ticks_ms(), t0) < 4 * KA * 1000:
            fn(c)  # may return without an error: call again
    except Exception as ex:
        e = ex
    dt = time.ticks_diff(time.ticks_ms(), t0)
    assert isinstance(e, OSError), "%s: expected OSError within %d ms, got %r after %d ms" % (
        name, 4 * KA * 1000, e, dt)
    print(name, "raised", repr(e), "after", dt, "ms")
    log = fake_log(fid, timeout=1)  # PINGREQ came before the error; the socket may stay open
    pk = [unhx(p) for p in log["packets"]]
    eq(pk[0][0], 0x10, name + ": CONNECT first")
    assert unhx("c000") in pk[1:], "%s: no PINGREQ sent: %r" % (name, pk)
done()
