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

    sent_q2 = peer_dups_q2 = 0
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
            if q == 2:
                sent_q2 += len(acked[q])
                peer_dups_q2 += dups
    c.disconnect()
    if strict_qos2:
        # Exactly once is the client's part: each QoS 2 message left it once as a new PUBLISH
        # (a resumed one goes out with DUP=1 under its id), one more only where a reconnect found
        # the broker's session gone. A duplicate at the peer must be the broker's own: a PUBLISH
        # it sent the peer again after its PUBREL (its database restored the flow a step back).
        log = fault("qos2_log", client=c.client_id)
        rollbacks = log["rollbacks_to"].get(fault("peer_id")["id"], 0)
        print("QoS 2: %d acknowledged, %d new PUBLISH from the client, %d reconnect(s) without a session; "
              "peer duplicates %d, broker rollbacks to the peer %d" % (
                  sent_q2, log["new_from_client"], c.sessions.count(0), peer_dups_q2, rollbacks))
        assert log["new_from_client"] <= sent_q2 + c.sessions.count(0), "a QoS 2 message published twice as new"
        assert peer_dups_q2 <= rollbacks, "QoS 2 duplicates at the peer beyond the broker's rollbacks"
    done()
