# pytest.mark.native_only("umqtt.simple 1.8.0 has no QoS 2")
# pytest.mark.soak
# pytest.mark.script_timeout(120)
# Soak: one client exchanges N messages (default 20000; `run --soak N` for long runs) through
# mosquitto, mixed QoS 0/1/2 in turn, payloads of 1..300 bytes: it publishes each to a topic it is
# subscribed to at QoS 2 itself, and a paho peer counts the same topic. Asserts: every message
# received exactly once by the client (checked by sequence number and length) and by
# the peer (kept at most WINDOW messages behind); gc.mem_free() flat (sampled after gc.collect() every N/20 messages). Prints the run
# time, the rate and the heap samples.
from mqtt_harness import CFG, client, topic, topic_s, peer, eq, done
import gc
import time

N = CFG.get("soak") or 20000
PEER_QOS = 0  # the peer only counts, in Python: QoS 0 is its cheapest path
WINDOW = 1000  # at most this many messages ahead of the peer
T = topic("soak")
peer("count_start", topic=topic_s("soak"), n=N, qos=PEER_QOS)

got = bytearray(N)
state = {"n": 0, "dup": 0, "bad": 0}
pad = b"x" * 300


def payload(i):
    # "<i> " then padding up to 1 + i % 300 bytes (never shorter than the sequence number)
    s = b"%d " % i
    return s + pad[: max(0, 1 + i % 300 - len(s))]


def payload_len(i):
    return max(1 + i % 300, len(b"%d " % i))


def cb(t, m):
    seq = int(m.split(b" ", 1)[0])
    if t != T or seq >= N or len(m) != payload_len(seq):
        state["bad"] += 1
    elif got[seq]:
        state["dup"] += 1
    else:
        got[seq] = 1
    state["n"] += 1


c = client(keepalive=30)
c.set_callback(cb)
c.connect()
# TCP_NODELAY (IPPROTO_TCP=6, TCP_NODELAY=1): the module does not set it, and a QoS 0 publish
# followed by a QoS 1 one then waits for a delayed ACK (5000 messages: 21 s instead of 0.6 s)
if not CFG.get("soak_nagle"):
    c.sock.setsockopt(6, 1, 1)
c.subscribe(T, qos=2)
step = max(1, N // 20)
samples = []
gc.collect()
t0 = time.ticks_ms()
for i in range(N):
    c.publish(T, payload(i), qos=i % 3)
    while c.check_msg() is not None:  # take what arrived meanwhile
        pass
    if i % WINDOW == WINDOW - 1:  # let the paho peer catch up (mosquitto drops QoS 0 for a slow reader)
        peer("count", topic=topic_s("soak"), want=i + 1, timeout=30)
    if i % step == step - 1:
        gc.collect()
        samples.append(gc.mem_free())
deadline = time.ticks_add(time.ticks_ms(), 10000)
while state["n"] < N and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    c.wait_msg()
dt = time.ticks_diff(time.ticks_ms(), t0)
pc = peer("count", topic=topic_s("soak"), want=N, timeout=30)
c.disconnect()
gc.collect()
samples.append(gc.mem_free())
missing = [i for i in range(N) if not got[i]][:10]
print("soak: %d messages (QoS 0/1/2 in turn) in %.1f s, %d msg/s" % (N, dt / 1000, N * 1000 // max(dt, 1)))
print("client received %d (unique %d, dup %d, bad %d, missing %r)" % (
    state["n"], sum(got), state["dup"], state["bad"], missing))
print("peer received %d (unique %d, other %d, missing %r)" % (pc["n"], pc["unique"], pc["other"], pc["missing"]))
print("gc.mem_free() samples: %r" % samples)
print("gc.mem_free() spread after warm-up: %d bytes" % (max(samples[1:]) - min(samples[1:])))
eq(missing, [], "client: lost")
eq((state["dup"], state["bad"]), (0, 0), "client: dup, bad")
eq((pc["unique"], pc["missing"], pc["other"]), (N, [], 0), "peer")
assert max(samples[1:]) - min(samples[1:]) <= 2048, "gc.mem_free() not flat: %r" % samples
done()
