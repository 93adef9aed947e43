# Shared body of test_fault_publish*.py (imported; not a test itself).
from mqtt_harness import topic_s, fault, robust_client, eq, done
import time

N = 300


def main(strict_qos2):
    port = fault("start")["port"]
    for q in (1, 2):
        fault("peer_sub", topic=topic_s("q%d" % q), qos=q)

    c = robust_client(port, keepalive=5)
    eq(c.connect(clean_session=False), 0, "session present")

    for rnd, sig in enumerate(("TERM", "KILL", "TERM")):
        fault("bounce", delay=0.3, sig=sig, down=0.7)
        acked = {1: [], 2: []}
        rc0 = c.reconnects
        t0 = time.ticks_ms()
        i = 0
        tag = "r%d%s" % (rnd, sig)
        while i < N or fault("bounces")["bounces"] <= rnd:  # at least N, and until the broker is back
            q = 1 + i % 2
            m = "%s-%d" % (tag, i)
            c.publish(topic_s("q%d" % q), m.encode(), qos=q)  # returns once acknowledged (robust retries)
            acked[q].append(m)
            i += 1
            time.sleep_ms(3)
        fault("bounces", wait=True)
        dt = time.ticks_diff(time.ticks_ms(), t0)
        print("SIG%s: %d reconnect(s) under publish()" % (sig, c.reconnects - rc0))
        assert c.reconnects > rc0, "the restart did not hit publish()"
        for q in (1, 2):
            r = fault("peer_msgs", topic=topic_s("q%d" % q), want=acked[q], timeout=15 if sig == "TERM" else 3)
            got = [m for m in r["msgs"] if m.startswith(tag + "-")]
            lost = [m for m in acked[q] if m not in got]
            dups = len(got) - len(set(got))
            print("SIG%s QoS %d: acknowledged %d received %d (unique %d) lost %d dup %d in %d ms" % (
                sig, q, len(acked[q]), len(got), len(set(got)), len(lost), dups, dt))
            if sig == "TERM":
                eq(lost, [], "SIG%s QoS %d acknowledged but lost" % (sig, q))
            if q == 2 and strict_qos2:
                eq(dups, 0, "SIG%s QoS 2 duplicates" % sig)
    c.disconnect()
    done()
