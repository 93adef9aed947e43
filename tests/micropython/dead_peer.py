# Shared body of test_dead_peer_plain.py and test_tls_dead_peer.py (imported; not a test itself).
from mqtt_harness import MQTTClient, CFG, HOST, client_id, topic, fault, Recorder, pump, skip, eq, done
import time


def ctx(ca_path):
    import ssl

    x = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    x.verify_mode = ssl.CERT_REQUIRED
    x.load_verify_locations(cafile=ca_path)
    return x


def check(c):
    if c.check_msg() is None:
        time.sleep_ms(10)


KA = 2
LIMIT_MS = 2 * KA * 1000 + 1500


def main(PLAIN):
    fb = fault("start", tls=not PLAIN)
    tls_port = fb["tls_port"]
    if PLAIN:
        tls_port = fb["port"]
    print("broker on", tls_port)


    c = MQTTClient(client_id(), HOST, tls_port, keepalive=KA, ssl=None if PLAIN else ctx(CFG["ca_der"]))
    rec = Recorder()
    c.set_callback(rec)


    for mode, fn in (("wait_msg", lambda c: c.wait_msg()), ("check_msg", check)):
        eq(c.connect(), 0, mode + ": connect")
        c.subscribe(topic("t"), qos=1)
        c.publish(topic("t"), b"alive", qos=1)
        pump(c, lambda: len(rec.msgs) >= 1, what="round trip")
        rec.msgs = []
        print(mode, ": connected, freezing the broker")
        fault("signal", sig="STOP")
        print(mode, ": frozen")
        t0 = time.ticks_ms()
        err = None
        try:
            while time.ticks_diff(time.ticks_ms(), t0) < 30000:
                fn(c)
        except Exception as e:
            err = e
        dt = time.ticks_diff(time.ticks_ms(), t0)
        fault("signal", sig="CONT")
        print("%s %s, broker frozen: %r after %d ms (keepalive %d s)" % ("TCP" if PLAIN else "TLS", mode, err, dt, KA))
        assert isinstance(err, OSError), "%s: expected OSError, got %r after %d ms" % (mode, err, dt)
        assert dt <= LIMIT_MS, "%s: dead peer detected after %d ms, limit %d" % (mode, dt, LIMIT_MS)
        c.sock.close()

    # the same object after the broker is back
    eq(c.connect(), 0, "connect after SIGCONT")
    c.ping()
    pump(c, lambda: False or c.wait_msg() is None, what="PINGRESP")
    c.disconnect()

    done()
