# pytest.mark.needs_tls
# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ and blocks in the read")
# pytest.mark.script_timeout(30)
# TLS polls readable as soon as its TCP socket holds bytes, but a blocking read then waits for
# the whole record. A broker (here a proxy in front of mosquitto's TLS listener) that sends half
# a record and falls silent must not hang a blocking wait_msg() or an acknowledgement wait:
# with keepalive=2 each gives OSError within 1.5 keepalive periods + 1 s.
from mqtt_harness import MQTTClient, CFG, HOST, client_id, topic, peer, peer_pub, Recorder, done
from dead_peer import ctx
import time

KA = 2
LIMIT_MS = KA * 1500 + 1000


def stalled_client():
    px = peer("stall_proxy")
    c = MQTTClient(client_id(), HOST, px["port"], keepalive=KA, ssl=ctx(CFG["ca_der"]))
    c.set_callback(Recorder())
    c.connect()
    c.subscribe(topic("in"))
    peer("stall_proxy", stall=px["id"])
    return c


for name, op in (
    ("wait_msg", lambda c: (peer_pub("in", b"x" * 300), c.wait_msg())),
    ("publish qos=1", lambda c: c.publish(topic("out"), b"y", qos=1)),
):
    c = stalled_client()
    t0 = time.ticks_ms()
    err = None
    try:
        while time.ticks_diff(time.ticks_ms(), t0) < 20000:
            op(c)
    except OSError as e:
        err = e
    dt = time.ticks_diff(time.ticks_ms(), t0)
    print(name, "over half a TLS record:", repr(err), "after", dt, "ms")
    assert err is not None, name + ": no error in 20 s"
    assert dt <= LIMIT_MS, "%s: half a TLS record hung the call for %d ms (limit %d)" % (name, dt, LIMIT_MS)
    c.sock.close()
done()
