# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 has no timeouts on reads and asserts on unexpected packets")
# pytest.mark.script_timeout(120)
# The hostile-broker catalogue (docs/hostile-broker.md): scripted brokers that misbehave against
# one client object. Each case asserts the exact outcome (exception and its args, or what was
# delivered and written), that no call blocks past the configured timeout (connect(timeout=T) or
# keepalive), that the heap is not eaten; and that afterwards connect() on the SAME object works
# against a well-behaved script. Prints one `CASE name | outcome | ms` line per case.
from mqtt_harness import (MQTTClient, MQTTException, HOST, client_id, check_case, fake_broker,
                          fake_log, hx, unhx, Recorder, publish_packet, rl_bytes, split_packets,
                          eq, done)
import errno
import gc
import time

T = 1  # connect(timeout=T): bound for every blocking read
SLACK = 1500  # ms allowed past a timeout (scheduling, the fake broker's poll period)
CONNACK = "20020000"

c = MQTTClient(client_id(), HOST, 0)  # one object for the whole catalogue
rec = Recorder()
c.set_callback(rec)


def outcome(fn):
    try:
        r = fn()
    except Exception as e:
        return "%s%r" % (type(e).__name__, e.args)
    return "returned %r" % (r,)


def connect_to(port, keepalive=0, timeout=T):
    c.port = port
    c.keepalive = keepalive
    return c.connect(timeout=timeout)


def reconnect_ok(name):
    # A well-behaved broker: CONNACK, PINGRESP, then DISCONNECT is read.
    fid, port = fake_broker(["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "d000"], ["recv"],
                            ["drain", 2])
    eq(connect_to(port), 0, name + ": reconnect")
    c.ping()
    eq(c.wait_msg(), None, name + ": PINGRESP after reconnect")
    c.disconnect()
    log = fake_log(fid)
    eq([unhx(p)[0] for p in log["packets"]], [0x10, 0xC0, 0xE0], name + ": packets after reconnect")


def case(name, steps, action, want, limit_ms, keepalive=0, check=None, connect=True):
    """Run one hostile script. action(c) is timed; its outcome must equal want (a string or a
    predicate); check(log) inspects the broker's log."""
    rec.msgs = []
    fid, port = fake_broker(*steps)
    gc.collect()
    free0 = gc.mem_free()
    t0 = time.ticks_ms()
    if connect:
        eq(connect_to(port, keepalive), 0, name + ": connect")
    else:
        c.port, c.keepalive = port, keepalive
    got = outcome(lambda: action(c))
    dt = time.ticks_diff(time.ticks_ms(), t0)
    check_case(name, got, dt, want, limit_ms)
    try:
        c.sock.close()
    except Exception:
        pass
    log = fake_log(fid, timeout=3)
    if check:
        check(log)
    log = None
    rec.msgs = []
    gc.collect()
    free1 = gc.mem_free()
    # the heap is back where it was (a 200 MB claim must not have grown anything that stays)
    assert free0 - free1 < 4096, "%s: heap shrank by %d bytes" % (name, free0 - free1)
    print("HEAP %s | %d -> %d" % (name, free0, free1))
    reconnect_ok(name)


LOOP_MS = 8000  # loops give up (and the case fails) after this


def wait_loop(c):
    t0 = time.ticks_ms()
    rs = []
    while time.ticks_diff(time.ticks_ms(), t0) < LOOP_MS:
        rs.append(c.wait_msg())
    return "no error in %d ms, wait_msg returned %r" % (LOOP_MS, rs[:5])


def check_loop(c):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < LOOP_MS:
        if c.check_msg() is None:
            time.sleep_ms(5)
    return "no error in %d ms" % LOOP_MS


def sent_types(log):
    return [unhx(p)[0] for p in log["packets"]]


ETIMEDOUT = "OSError(%d,)" % errno.ETIMEDOUT
ECONNRESET = "OSError(%d,)" % errno.ECONNRESET


def TOO_BIG(got):
    # A message the heap cannot hold: MemoryError naming its size, the connection kept
    # (the payload is skipped as it arrives).
    return got.startswith("MemoryError('incoming message of ") and got.endswith(" bytes does not fit in the heap; skipped',)")

TMO = T * 1000 + SLACK


def PROTO(msg):
    # A protocol error: OSError with a message (not an errno), so that umqtt.robust reconnects.
    return "OSError(%r,)" % msg




def connect(c):
    return c.connect(timeout=T)


def subscribe(c):
    return c.subscribe(b"t/s", 1)


def publish1(c):
    return c.publish(b"t/p", b"payload", qos=1)


def publish2(c):
    return c.publish(b"t/p", b"payload", qos=2)


def delivered(*msgs):
    def chk(log):
        eq(rec.msgs, list(msgs), "delivered")
    return chk


def then_silence(hexs):
    # a script that connects, sends hexs after the client's first packet, then goes silent
    return [["accept"], ["recv"], ["send", CONNACK], ["send", hexs], ["drain", 8]]


# --- connect: CONNACK never sent, cut, lying, garbage
case("connack-never-sent", [["accept"], ["recv"], ["drain", 6]], connect, ETIMEDOUT, TMO, connect=False)
case("connack-cut-after-1-byte", [["accept"], ["recv"], ["send", "20"], ["drain", 6]], connect, ETIMEDOUT,
     TMO, connect=False)
case("connack-rl-claims-5-sends-2", [["accept"], ["recv"], ["send", "20050000"], ["drain", 6]], connect,
     PROTO("CONNACK remaining length is not 2"), TMO, connect=False)
case("connack-then-close-mid-packet", [["accept"], ["recv"], ["send", "2002"], ["close"]], connect,
     ECONNRESET, TMO, connect=False)
case("connack-http-garbage", [["accept"], ["recv"], ["send", hx(b"HTTP/1.1 400 Bad Request\r\n\r\n")],
                              ["drain", 6]], connect, PROTO("invalid fixed header flags for packet type"), TMO, connect=False)
case("connack-200MB-claim", [["accept"], ["recv"], ["send", "20" + "8084af5f" + "00" * 64], ["drain", 6]],
     connect, PROTO("CONNACK remaining length is not 2"), TMO, connect=False)
case("connack-refused-rc5", [["accept"], ["recv"], ["send", "20020005"], ["drain", 6]], connect,
     "MQTTException(5,)", TMO, connect=False)

# --- a PUBLISH whose Remaining Length lies, then silence / the stream stops mid-packet
def bounded_waits(c):
    # keepalive=0: wait_msg reads as umqtt.simple does; each call must return within the
    # socket timeout T (None), never block for ever
    rs = []
    for i in range(2):
        t0 = time.ticks_ms()
        rs.append(c.wait_msg())
        dt = time.ticks_diff(time.ticks_ms(), t0)
        assert dt <= TMO, "wait_msg blocked %d ms" % dt
    return rs


KA = 1
KA_MS = 2 * KA * 1000 + SLACK  # PINGREQ after KA, no PINGRESP within another KA
case("publish-rl-lies-keepalive0-wait_msg", then_silence("3064" + "0003742f78" + "00" * 10), bounded_waits,
     "returned [None, None]", 2 * TMO, check=delivered())
case("publish-rl-lies-wait_msg", then_silence("3064" + "0003742f78" + "00" * 10), wait_loop, ETIMEDOUT, KA_MS,
     keepalive=KA, check=delivered())
case("publish-rl-lies-check_msg", then_silence("3064" + "0003742f78" + "00" * 10), check_loop,
     ETIMEDOUT, KA_MS, keepalive=KA, check=delivered())
case("stops-mid-header", then_silence("30"), wait_loop, ETIMEDOUT, KA_MS, keepalive=KA)
case("stops-mid-rl", then_silence("3080"), check_loop, ETIMEDOUT, KA_MS, keepalive=KA)
case("stops-mid-topic", then_silence("300a0008742f"), wait_loop, ETIMEDOUT, KA_MS, keepalive=KA)
case("closes-mid-packet", [["accept"], ["recv"], ["send", CONNACK], ["send", "300a0008742f"], ["close"]],
     wait_loop, ECONNRESET, TMO, check=delivered())
case("suback-cut", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "900300"], ["drain", 8]],
     subscribe, ETIMEDOUT, TMO)
case("puback-cut", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "4002"], ["drain", 8]],
     publish1, ETIMEDOUT, TMO)
case("puback-never-sent", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["drain", 8]], publish1,
     ETIMEDOUT, TMO)

# --- 200 MB length claims: an error, no allocation of the claimed size (heap checked in case())
BIG = "30" + "8084af5f" + "0003742f78" + "00" * 200
case("publish-200MB-claim-wait_msg", then_silence(BIG), wait_loop, TOO_BIG, KA_MS, keepalive=KA, check=delivered())
case("publish-200MB-claim-then-close", [["accept"], ["recv"], ["send", CONNACK + BIG], ["close"]], wait_loop,
     TOO_BIG, TMO, check=delivered())
case("suback-200MB-claim", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "90" + "8084af5f"],
                            ["drain", 8]], subscribe, PROTO("control packet larger than the receive buffer"), TMO)


# --- unexpected packets from the broker
def type_error(first):
    return then_silence(first)


case("broker-sends-CONNECT", then_silence("100c00044d5154540402003c0000"), wait_loop, PROTO("packet a broker never sends to a client"), KA_MS, keepalive=KA)
case("broker-sends-SUBSCRIBE", then_silence("8206000100017400"), wait_loop, PROTO("packet a broker never sends to a client"), KA_MS, keepalive=KA)
case("broker-sends-PINGREQ", then_silence("c000"), wait_loop, PROTO("packet a broker never sends to a client"), KA_MS, keepalive=KA)
case("second-CONNACK", then_silence(CONNACK), wait_loop, PROTO("CONNACK on an open connection"), KA_MS, keepalive=KA)
case("bad-vector-reserved-type0", then_silence("0000"), wait_loop, PROTO("reserved packet type"), KA_MS, keepalive=KA)
case("publish-qos1-pid0", then_silence("32060001740000" + "78"), wait_loop, PROTO("packet id 0"), TMO, check=delivered())
case("publish-empty-topic", then_silence("3003000078"), wait_loop, PROTO("empty topic"), TMO, check=delivered())
case("publish-topic-wildcard", then_silence("300400012b78"), wait_loop,
     PROTO("wildcard in a PUBLISH topic"), KA_MS, keepalive=KA)


def P(k=1):
    # the packet id of the object's k-th next operation (the counter lives on across connects)
    return "%04x" % ((c.pid + k - 1) % 65535 + 1)


# --- acknowledgements that do not match
def puback_unknown(c):
    c.publish(b"t/p", b"one", qos=1)
    return "published"


# the broker answers PUBACK 0x0999 (nothing in flight has it), then the right PUBACK
case("puback-unknown-pid-ignored",
     [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "40020999"], ["sleep", 0.3],
      ["send", "4002" + P()], ["drain", 3]],
     puback_unknown, "returned 'published'", TMO)
case("pubrec-unknown-pid",
     [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "50020999"], ["sleep", 0.3],
      ["send", "5002" + P()], ["recv"], ["send", "7002" + P()], ["drain", 3]],
     publish2, "returned None", TMO,
     check=lambda log: eq([unhx(p)[0] for p in log["packets"]][:3], [0x10, 0x34, 0x62], "PUBLISH, PUBREL"))
case("suback-unknown-pid-ignored",
     [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "90030999" + "01"], ["sleep", 0.3],
      ["send", "9003" + P() + "01"], ["drain", 3]],
     subscribe, "returned None", TMO)
case("suback-0-codes", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "9002" + P()], ["drain", 8]],
     subscribe, PROTO("remaining length does not match packet contents"), TMO)
case("suback-2-codes", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "9004" + P() + "01" + "01"],
                        ["drain", 8]],
     subscribe, PROTO("SUBACK with a return code count other than the filters sent"), TMO)
case("suback-failure-0x80", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "9003" + P() + "80"],
                             ["drain", 8]],
     subscribe, "MQTTException(128,)", TMO)
case("suback-invalid-code-3", [["accept"], ["recv"], ["send", CONNACK], ["recv"], ["send", "9003" + P() + "03"],
                               ["drain", 8]],
     subscribe, PROTO("invalid SUBACK return code"), TMO)




# --- a burst of QoS 2 PUBLISH before any PUBREL (what mosquitto 2.0 resends on a resumed session):
# the client keeps up to 32 unreleased ids; the 33rd is refused (see docs/hostile-broker.md)
def qos2_burst(n):
    return b"".join(publish_packet(b"q2/%d" % i, b"m", qos=2, pid=i + 1) for i in range(n))


def burst_wait(n):
    def act(c):
        while len(rec.msgs) < n:
            c.wait_msg()
        return len(rec.msgs)
    return act


case("qos2-burst-32-unreleased", then_silence(hx(qos2_burst(32))), burst_wait(32), "returned 32", TMO,
     check=lambda log: eq(len([p for p in log["packets"] if p[:2] == "50"]), 32, "32 PUBREC"))
# Beyond the 32 ids the engine remembers, the oldest is forgotten: all delivered, all PUBREC'd.
case("qos2-burst-33-unreleased", then_silence(hx(qos2_burst(33))), burst_wait(33), "returned 33", TMO,
     check=lambda log: eq(len([p for p in log["packets"] if p[:2] == "50"]), 33, "33 PUBREC"))


# --- 1-byte writes with delays: everything arrives intact
def slow_exchange(c):
    c.subscribe(b"t/s", 1)
    c.publish(b"t/p", b"q1", qos=1)
    n = 0
    while len(rec.msgs) < 2:
        c.wait_msg()
        n += 1
        assert n < 10
    return "done"


PUB_A = hx(publish_packet(b"t/s", b"slow-qos0"))
PUB_B = hx(publish_packet(b"t/s", b"slow-qos1-" + b"z" * 40, qos=1, pid=0x0203))
case("one-byte-writes-20ms",
     [["accept"], ["recv"], ["send_chunks", CONNACK, 1, 0.02], ["recv"], ["send_chunks", "9003" + P() + "01", 1, 0.02],
      ["recv"], ["send_chunks", "4002" + P(2), 1, 0.02], ["send_chunks", PUB_A + PUB_B, 1, 0.02], ["recv"],
      ["drain", 2]],
     slow_exchange, "returned 'done'", 8000, connect=True,
     check=lambda log: (delivered((b"t/s", b"slow-qos0"), (b"t/s", b"slow-qos1-" + b"z" * 40)))(log) or
     eq(unhx(log["packets"][-1]), unhx("40020203"), "PUBACK for the slow QoS 1 message"))

# --- a flood of PUBLISH while the client publishes at QoS 1
FLOOD_N = 300
flood = b"".join(publish_packet(b"f/%d" % i, b"m%d" % i, qos=i % 2, pid=(i + 100) if i % 2 else 0)
                 for i in range(FLOOD_N))


def flood_publish(c):
    c.publish(b"t/p", b"during-flood", qos=1)
    # what the client had not read yet while publishing
    n = 0
    while len(rec.msgs) < FLOOD_N:
        c.wait_msg()
        n += 1
        assert n <= FLOOD_N
    return len(rec.msgs)


def flood_check(log):
    eq(rec.msgs, [(b"f/%d" % i, b"m%d" % i) for i in range(FLOOD_N)], "flood delivered in order")
    acks = [unhx(p) for p in log["packets"] if unhx(p)[0] == 0x40]
    eq(acks, [b"\x40\x02" + bytes(((i + 100) >> 8, (i + 100) & 0xFF)) for i in range(1, FLOOD_N, 2)],
       "one PUBACK per QoS 1 message")
    pubs = [unhx(p) for p in log["packets"] if unhx(p)[0] & 0xF0 == 0x30]
    eq(len(pubs), 1, "the client's PUBLISH sent once")


half = len(flood) // 2
case("publish-flood-during-qos1",
     [["accept"], ["recv"], ["send", CONNACK], ["send", hx(flood[:half])], ["recv"],
      ["send", hx(flood[half:]) + "4002" + P()], ["drain", 4]],
     flood_publish, "returned %d" % FLOOD_N, 10000, check=flood_check)
done()
