# MicroPython side of the test runner (tests/micropython/run): configuration, peer requests,
# a fake socket in the style of micropython-lib's test_umqtt_simple.py, packet helpers.
import sys
import json
import time
import errno
from binascii import hexlify, unhexlify

CFG = json.loads(sys.stdin.readline())
IMPL = CFG["impl"]
NATIVE = IMPL == "native"
HOST = CFG["host"]
PORT = CFG["port"]
PARAM = CFG["param"]

from umqtt.simple import MQTTClient, MQTTException  # noqa: E402

if NATIVE:
    # Guard: the firmware's umqtt.simple must be the native module, not a frozen pure-Python copy.
    import umqtt

    assert umqtt.MQTTClient is MQTTClient, "umqtt.simple.MQTTClient is not umqtt.MQTTClient"
    assert not hasattr(MQTTClient, "_recv_len"), "umqtt.simple is the pure-Python reference"


def hx(b):
    return hexlify(bytes(b)).decode()


def unhx(s):
    return unhexlify(s.replace(" ", ""))


def topic(name):
    # A topic private to this test run and test.
    return (CFG["prefix"] + name).encode()


def topic_s(name):
    return CFG["prefix"] + name


_n = 0


def client_id(tag=""):
    global _n
    _n += 1
    return ("mpy-%s-%s%d" % (CFG["prefix"].split("/")[1], CFG["test"], _n) + tag)[:60]


def client(port=None, **kw):
    return MQTTClient(client_id(), HOST, port or PORT, **kw)


def peer(cmd, **kw):
    kw["cmd"] = cmd
    sys.stdout.write("@@peer " + json.dumps(kw) + "\n")
    r = json.loads(sys.stdin.readline())
    if "error" in r:
        raise RuntimeError("peer %s: %s" % (cmd, r["error"]))
    return r


def peer_sub(name, qos=0):
    return peer("sub", topic=topic_s(name), qos=qos)


def peer_pub(name, payload=b"", qos=0, retain=False, delay=0):
    return peer("pub", topic=topic_s(name), hex=hx(payload), qos=qos, retain=retain, delay=delay)


def peer_msgs(name, n=1, timeout=5):
    return peer("msgs", topic=topic_s(name), n=n, timeout=timeout)["msgs"]


def fake_broker(*steps):
    r = peer("fake", steps=list(steps))
    return r["id"], r["port"]


def fake_log(fid, timeout=10):
    return peer("fake_log", id=fid, timeout=timeout)


def gen(n):
    # Same pattern as gen_payload() in the runner.
    b = bytearray(n)
    for i in range(n):
        b[i] = (i * 31 + 7) & 0xFF
    return bytes(b)


def sha256hex(b):
    import hashlib

    return hx(hashlib.sha256(b).digest())


def done():
    print("OK")


def skip(reason):
    print("SKIP " + reason)
    sys.exit(0)


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: expected %r, got %r" % (what, want, got))


def raises(excs, fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except excs as e:
        return e
    except Exception as e:
        raise AssertionError("expected %r, got %s: %r" % (excs, type(e).__name__, e))
    raise AssertionError("expected %r, call returned %r" % (excs, r))


class Recorder:
    # A callback that records (topic, msg) and can raise on demand.
    def __init__(self):
        self.msgs = []

    def __call__(self, t, m):
        self.msgs.append((t, m))

    def topics(self):
        return [t for t, m in self.msgs]


def pump(c, cond, timeout=5, wait=False, what="condition"):
    # Call check_msg (or wait_msg) until cond() holds.
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > timeout * 1000:
            raise AssertionError("timeout waiting for " + what)
        if wait:
            c.wait_msg()
        elif c.check_msg() is None:
            time.sleep_ms(5)


# ---- seed vectors (../shared/vectors/, path from the runner)

_vectors = None


def V(name):
    global _vectors
    if _vectors is None:
        _vectors = {}
        with open(CFG["vectors"]) as f:
            for line in f:
                line = line.strip()
                if not line or line[0] == "#":
                    continue
                parts = [p.strip() for p in line.split("|")]
                _vectors[parts[0]] = unhx(parts[2])
    return _vectors[name]


# ---- packets


def split_packets(data):
    # Split a byte stream into MQTT packets (fixed header + remaining length).
    out = []
    i = 0
    while i < len(data):
        j = i + 1
        n = 0
        sh = 0
        while True:
            b = data[j]
            j += 1
            n |= (b & 0x7F) << sh
            sh += 7
            if not b & 0x80:
                break
        out.append(bytes(data[i : j + n]))
        i = j + n
    return out


class FakeSocket:
    """Stands in for client.sock: read/write/setblocking/close. Broker bytes are fed with feed();
    read(n) returns at most `chunk` bytes. When the fed bytes are used up: eof=True gives b""
    (peer closed); eof=False gives None when non-blocking and OSError(ETIMEDOUT) when blocking
    (what a socket with a timeout does, so a client bug cannot hang the test)."""

    def __init__(self, data=b"", eof=True, chunk=1 << 30):
        self.rx = bytearray(data)
        self.tx = bytearray()
        self.writes = []
        self.eof = eof
        self.chunk = chunk
        self.blocking = True
        self.closed = False
        self.modes = []  # blocking flag at each read

    def feed(self, data):
        self.rx.extend(data)

    def read(self, n=-1):
        self.modes.append(self.blocking)
        if self.closed:
            raise OSError(errno.EBADF)
        if not self.rx:
            if self.eof:
                return b""
            if not self.blocking:
                return None
            raise OSError(errno.ETIMEDOUT)
        if n < 0:
            n = len(self.rx)
        n = min(n, self.chunk, len(self.rx))
        b = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return b

    def write(self, buf, length=None):
        if self.closed:
            raise OSError(errno.EBADF)
        if isinstance(buf, str):
            buf = buf.encode()  # as a socket's write() takes it
        b = bytes(buf) if length is None else bytes(buf[:length])
        self.tx.extend(b)
        self.writes.append(b)
        return len(b)

    def setblocking(self, flag):
        self.blocking = bool(flag)

    def close(self):
        self.closed = True

    def take(self):
        # Packets written since the last take().
        p = split_packets(self.tx)
        self.tx = bytearray()
        self.writes = []
        return p


def connack_steps(connack="20020000", after=("drain", 30)):
    return [["accept"], ["recv"], ["send", connack], list(after)]


def fake_client(data=b"", eof=True, chunk=1 << 30, **kw):
    """A client connected to a scripted broker over TCP (so connect() runs for real), whose sock is
    then swapped for a FakeSocket. Returns (client, fake socket, CONNECT bytes seen by the broker)."""
    fid, port = fake_broker(*connack_steps())
    c = MQTTClient(client_id(), HOST, port, **kw)
    c.set_callback(Recorder())
    eq(c.connect(), 0, "session present")
    real = c.sock
    fs = FakeSocket(data, eof=eof, chunk=chunk)
    c.sock = fs
    real.close()
    log = fake_log(fid)
    return c, fs, unhx(log["packets"][0])


def tcp_client_error():
    # The exception types a client may raise for a broker fault.
    return (OSError, MQTTException)


def rl_bytes(n):
    # MQTT Remaining Length encoding, for building broker-side packets in tests.
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(t, payload, qos=0, pid=0, retain=False, dup=False):
    # A PUBLISH as a broker would send it.
    vh = bytes((len(t) >> 8, len(t) & 0xFF)) + t
    if qos:
        vh += bytes((pid >> 8, pid & 0xFF))
    first = 0x30 | qos << 1 | (1 if retain else 0) | (8 if dup else 0)
    return bytes((first,)) + rl_bytes(len(vh) + len(payload)) + vh + payload


# ---- fault tests: a mosquitto of the test's own, restarted under the client (run: FaultBroker)


def fault(op, **kw):
    return peer("fault_" + op, **kw)


def robust_client(port, **kw):
    # umqtt.robust's client counting its reconnects
    from umqtt.robust import MQTTClient as Robust

    class Counting(Robust):
        DELAY = 0.2
        reconnects = 0
        errors = []

        def log(self, in_reconnect, e):
            if len(self.errors) < 400:
                self.errors.append((in_reconnect, repr(e)))

        sessions = []  # connect()'s session-present flag at each reconnect

        def reconnect(self):
            self.reconnects += 1
            r = super().reconnect()
            self.sessions.append(r)
            return r

    return Counting(client_id(), HOST, port, **kw)
