# pytest.mark.slow
# pytest.mark.qemu
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ and blocks for ever on a silent broker")
# pytest.mark.script_timeout(60)
# On a stream without a file descriptor (lwIP's sockets on ESP32/Hi3861; here MemBroker, an
# io.IOBase whose blocking reads hang as a board's would), keepalive still works: PINGREQ goes out
# on time during a blocking wait_msg(), an acknowledgement wait, and after connect(timeout=...),
# and a broker that falls silent gives OSError(ETIMEDOUT) within 1.5 keepalive periods + 1 s.
from mqtt_harness import MQTTClient, HOST, client_id, mem_broker, topic, Recorder, done, eq
import errno
import time

KA = 2
LIMIT_MS = KA * 1500 + 1000


def silent_case(name, op, connect_timeout=None):
    b = mem_broker(silent=True)
    c = MQTTClient(client_id(), HOST, 1883, keepalive=KA)
    c.set_callback(Recorder())
    c.connect(timeout=connect_timeout)
    assert not hasattr(b, "fileno"), name + ": the stream has a file descriptor"
    t0 = time.ticks_ms()
    e = None
    try:
        op(c)
    except OSError as ex:
        e = ex
    dt = time.ticks_diff(time.ticks_ms(), t0)
    print(name, "raised", repr(e), "after", dt, "ms; broker saw", [hex(k) for k in b.kinds()])
    assert e is not None, name + ": no error from a silent broker"
    eq(e.errno, errno.ETIMEDOUT, name + ": errno")
    assert dt <= LIMIT_MS, "%s: silent broker noticed after %d ms (limit %d)" % (name, dt, LIMIT_MS)
    assert 0xC0 in b.kinds(), name + ": no PINGREQ"
    eq(b.blocked_ms, 0, name + ": a read blocked on the stream")


silent_case("wait_msg", lambda c: c.wait_msg())
silent_case("publish qos=1", lambda c: c.publish(topic("t"), b"x", qos=1))
silent_case("wait_msg after connect(timeout=5)", lambda c: c.wait_msg(), connect_timeout=5)

# A broker that answers: PINGREQ goes out within the keepalive period of a blocking wait_msg(),
# which returns None once PINGRESP came (as umqtt.simple's does).
b = mem_broker()
c = MQTTClient(client_id(), HOST, 1883, keepalive=1)
c.set_callback(Recorder())
c.connect()
t0 = time.ticks_ms()
r = c.wait_msg()
dt = time.ticks_diff(time.ticks_ms(), t0)
eq(r, None, "wait_msg result")
eq(b.kinds(), [0x10, 0xC0], "packets")
assert dt <= 1000 + 500, "PINGREQ after %d ms of a 1 s keepalive" % dt
eq(b.blocked_ms, 0, "a read blocked on the stream")
c.disconnect()
done()
