# MicroPython side of the test suite (host side: conftest.py, peers.py): configuration, peer requests,
# a fake socket in the style of micropython-lib's test_umqtt_simple.py, packet helpers.
import sys
import json
import time
import errno
from binascii import hexlify, unhexlify

CFG = json.loads(sys.stdin.readline())
IMPL = CFG["impl"]
# The engine under test: the firmware's built-in module, or the same as a native .mpy (natmod).
NATIVE = IMPL in ("native", "natmod")
HOST = CFG["host"]
PORT = CFG["port"]
PARAM = CFG["param"]

from umqtt.simple import MQTTClient, MQTTException  # noqa: E402

if NATIVE:
    # Guard: the firmware's umqtt.simple must be the native module, not a frozen pure-Python copy.
    import umqtt

    assert umqtt.MQTTClient is MQTTClient, "umqtt.simple.MQTTClient is not umqtt.MQTTClient"
    assert not hasattr(MQTTClient, "_recv_len"), "umqtt.simple is the pure-Python reference"
    # ...and the natmod's package, not a built-in module the firmware has after all.
    assert (IMPL == "natmod") == hasattr(umqtt, "__file__"), "umqtt is not the %s module" % IMPL


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


def usable_on_broker(c, what, **connect_kw):
    # After a failure: the same client object connects to the test broker and works.
    c.server, c.port = HOST, PORT
    eq(c.connect(**connect_kw), 0, "connect " + what)
    c.ping()
    eq(c.wait_msg(), None, "PINGRESP " + what)
    c.disconnect()


def subscribed_client(name="in", qos=0):
    # A client connected to the broker with a Recorder callback, subscribed to topic(name).
    c = client()
    rec = Recorder()
    c.set_callback(rec)
    c.connect()
    c.subscribe(topic(name), qos=qos)
    return c, rec


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


def peer_pub_burst(name, prefix, n, qos=0):
    """The peer publishes prefix0 .. prefix(n-1) in the background (returns at once)."""
    return peer("pub", topic=topic_s(name), hex=hx(prefix), qos=qos, burst=n)


def peer_msgs(name, n=1, timeout=5):
    return peer("msgs", topic=topic_s(name), n=n, timeout=timeout)["msgs"]


def check_case(name, got, dt, want, limit_ms):
    """One hostile-broker case's verdict: got (the outcome as a string) equals want (a string, or
    a predicate on it) and came within limit_ms; prints the `CASE name | outcome | ms` line."""
    print("CASE %s | %s | %d ms" % (name, got, dt))
    if callable(want):
        assert want(got), "%s: unexpected outcome %s" % (name, got)
    else:
        eq(got, want, name + ": outcome")
    assert dt <= limit_ms, "%s: took %d ms, limit %d ms" % (name, dt, limit_ms)


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
        return self._pop_rx(min(len(self.rx) if n < 0 else n, self.chunk, len(self.rx)))

    def _pop_rx(self, n):
        # The first n fed bytes, gone from rx (a subclass may keep them another way).
        b = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return b

    def write(self, buf, length=None):
        if self.closed:
            raise OSError(errno.EBADF)
        if isinstance(buf, str):
            buf = buf.encode()  # as a socket's write() takes it
        b = bytes(buf) if length is None else bytes(buf[:length])
        self._record(b)
        return len(b)

    def _record(self, b):
        self.tx.extend(b)
        self.writes.append(b)

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


# ---- streams without a file descriptor, as lwIP's sockets are (ESP32, Hi3861)

import io  # noqa: E402

MP_STREAM_POLL, MP_STREAM_CLOSE = 3, 4
POLL_RD, POLL_WR = 1, 4
_PAT = gen(1024)  # gen()'s pattern repeats every 256 bytes


def pattern_sum(n):
    # sum(gen(n)) without making it: each period of 256 is a permutation of 0..255.
    return (n >> 8) * 32640 + sum(_PAT[: n & 255])


class HiddenFdSocket(io.IOBase):
    """A real socket seen only through the stream protocol: readinto/write, and ioctl answering
    MP_STREAM_POLL (from select.poll on the socket it hides); no fileno(), no fd for the module.
    Counts the PINGREQs written."""

    def __init__(self, sock):
        import select

        self.real = sock
        self.poller = select.poll()
        self.poller.register(sock, 0)
        self.pings = 0

    def readinto(self, buf):
        # One recv (a socket's readinto would wait until buf is full).
        try:
            data = self.real.recv(len(buf))
        except OSError as e:
            return -e.errno
        buf[: len(data)] = data
        return len(data)

    def read(self, n):
        # As a socket's read(n): bytes, b"" at the end, None when it would block.
        buf = bytearray(n)
        got = self.readinto(buf)
        if got is None or got >= 0:
            return got if got is None else bytes(buf[:got])
        raise OSError(-got)

    def write(self, buf):
        if len(buf) == 2 and buf[0] == 0xC0:
            self.pings += 1
        try:
            return self.real.write(buf)
        except OSError as e:
            return -e.errno

    def ioctl(self, req, arg):
        if req == MP_STREAM_POLL:
            self.poller.modify(self.real, arg & (POLL_RD | POLL_WR))
            r = self.poller.poll(0)
            return r[0][1] if r else 0
        if req == MP_STREAM_CLOSE:
            self.real.close()
            return 0
        return -errno.EINVAL  # MP_STREAM_GET_FILENO among them

    def settimeout(self, t):
        self.real.settimeout(t)

    def setblocking(self, flag):
        self.real.setblocking(flag)

    def setsockopt(self, *args):
        self.real.setsockopt(*args)

    def connect(self, addr):
        self.real.connect(addr)

    def close(self):
        self.real.close()


class _SocketStandIn:
    # What connect() imports as `socket` (it does so at each call).
    AF_INET = 2
    SOCK_STREAM = 1

    def __init__(self, make, getaddrinfo):
        self.socket = make
        self.getaddrinfo = getaddrinfo


def hide_fds():
    """connect() from now on gets its sockets wrapped in HiddenFdSocket."""
    import socket as real

    sys.modules["socket"] = _SocketStandIn(lambda *a: HiddenFdSocket(real.socket(*a)), real.getaddrinfo)


class MemBroker(io.IOBase):
    """A broker in memory behind a stream without a file descriptor: the socket that connect()
    gets after mem_broker(). What the client writes is parsed piece by piece and no payload is
    kept (a PUBLISH is logged as (first byte, topic, packet id, length, sum of payload)); it
    answers CONNECT and, unless silent, PINGREQ, SUBSCRIBE, UNSUBSCRIBE, PUBLISH at QoS 1/2 and
    PUBREL. serve() queues a PUBLISH whose payload (gen()'s pattern) is made as it is read.
    Reads honour the blocking mode set with settimeout/setblocking: a blocking read with nothing
    to read sleeps (at most `hang` s, then fails with ETIMEDOUT) as a board's socket would."""

    def __init__(self, silent=False, connack=b"\x20\x02\x00\x00", hang=8):
        self.silent = silent
        self.connack = connack
        self.hang = hang
        self.timeout = None  # as settimeout: None blocks, 0 never blocks
        self.out = []  # for the client: bytes, or an int: that many bytes of the pattern
        self.off = 0
        self.eof = False
        self.closed = False
        self.packets = []  # (first byte, body) or, for PUBLISH, (first, topic, pid, len, sum)
        self.log_publish = True  # False: PUBLISH packets are only counted (a long run's log
        self.publishes = 0  # would crowd a small heap)
        self.blocked_ms = 0  # time reads spent blocked
        self._hdr = bytearray()
        self._left = None  # bytes of the current packet still to come (None: in its header)

    # -- the client's side
    def settimeout(self, t):
        self.timeout = t

    def setblocking(self, flag):
        self.timeout = None if flag else 0

    def setsockopt(self, *args):
        pass

    def connect(self, addr):
        pass

    def close(self):
        self.closed = True

    def ioctl(self, req, arg):
        if req == MP_STREAM_POLL:
            r = POLL_WR & arg
            if arg & POLL_RD and (self.out or self.eof or self.closed):
                r |= POLL_RD
            return r
        if req == MP_STREAM_CLOSE:
            self.closed = True
            return 0
        return -errno.EINVAL

    def readinto(self, buf):
        if self.closed:
            return -errno.EBADF
        if not self.out:
            if self.eof:
                return 0
            if self.timeout == 0:
                return None
            # Nothing will come while the client blocks here: a board's read would hang.
            wait = self.hang if self.timeout is None else min(self.timeout, self.hang)
            time.sleep_ms(int(wait * 1000))
            self.blocked_ms += int(wait * 1000)
            return -errno.ETIMEDOUT
        mv = memoryview(buf)
        head = self.out[0]
        if isinstance(head, int):
            n = min(head, len(mv))
            done = 0
            while done < n:
                p = self.off & 255
                k = min(n - done, len(_PAT) - p)
                mv[done : done + k] = _PAT[p : p + k]
                done += k
                self.off += k
            if n == head:
                self.out.pop(0)
                self.off = 0
            else:
                self.out[0] = head - n
            return n
        n = min(len(head), len(mv))
        mv[:n] = head[:n]
        if n == len(head):
            self.out.pop(0)
        else:
            self.out[0] = head[n:]
        return n

    read = HiddenFdSocket.read

    def write(self, buf):
        if self.closed:
            return -errno.EBADF
        mv = memoryview(buf)
        i, n = 0, len(mv)
        while i < n:
            if self._left is None:
                self._hdr.append(mv[i])
                i += 1
                if len(self._hdr) > 1 and not self._hdr[-1] & 0x80:
                    rl, sh = 0, 0
                    for b in self._hdr[1:]:
                        rl |= (b & 0x7F) << sh
                        sh += 7
                    self._left, self._body, self._len, self._sum = rl, bytearray(), 0, 0
                    if rl == 0:
                        self._done()
                continue
            k = min(self._left, n - i)
            keep = self._keep() - len(self._body)
            if keep > 0:
                k = min(k, keep)
                self._body.extend(mv[i : i + k])
            else:
                self._sum += sum(mv[i : i + k])
                self._len += k
            i += k
            self._left -= k
            if self._left == 0:
                self._done()
        return n

    # -- the broker's side
    def serve(self, t, n, qos=0, pid=1):
        """Queues a PUBLISH on topic t with n bytes of gen()'s pattern."""
        vh = bytes((len(t) >> 8, len(t) & 0xFF)) + t + (bytes((pid >> 8, pid & 0xFF)) if qos else b"")
        self.out.append(bytes((0x30 | qos << 1,)) + rl_bytes(len(vh) + n) + vh)
        if n:
            self.out.append(n)

    def feed(self, data):
        self.out.append(bytes(data))

    def kinds(self):
        return [p[0] for p in self.packets]

    def _keep(self):
        # Bytes of the body to keep: all of a control packet, a PUBLISH's topic and packet id.
        if self._hdr[0] & 0xF0 != 0x30:
            return 1 << 30
        b = self._body
        if len(b) < 2:
            return 2
        return 2 + (b[0] << 8 | b[1]) + (2 if self._hdr[0] & 6 else 0)

    def _done(self):
        first, body = self._hdr[0], bytes(self._body)
        self._hdr, self._left = bytearray(), None
        kind = first & 0xF0
        if kind == 0x30:
            tl = body[0] << 8 | body[1]
            qos = first >> 1 & 3
            pid = body[2 + tl : 4 + tl]
            self.publishes += 1
            if self.log_publish:
                self.packets.append((first, body[2 : 2 + tl], pid, self._len, self._sum))
            if qos and not self.silent:
                self.feed((b"\x40\x02", b"\x50\x02")[qos - 1] + pid)
            return
        self.packets.append((first, body))
        if kind == 0x10:
            self.feed(self.connack)
        elif self.silent:
            return
        elif kind == 0xC0:
            self.feed(b"\xd0\x00")
        elif kind == 0x80:  # grant what was asked
            j, codes = 2, bytearray()
            while j < len(body):
                j += 2 + (body[j] << 8 | body[j + 1])
                codes.append(body[j])
                j += 1
            self.feed(bytes((0x90, 2 + len(codes))) + body[:2] + codes)
        elif kind == 0xA0:
            self.feed(b"\xb0\x02" + body[:2])
        elif first == 0x62:
            self.feed(b"\x70\x02" + body[:2])
        elif kind == 0xE0:
            self.eof = True


def mem_broker(**kw):
    """The socket of the next connect() is a new MemBroker(**kw), which is returned."""
    b = MemBroker(**kw)
    sys.modules["socket"] = _SocketStandIn(lambda *a: b, lambda host, port, *a: [(2, 1, 0, "", (host, port))])
    return b


async def cancelled_after(coro, turns):
    """Runs coro as a task for `turns` turns of the asyncio scheduler, then cancels it: True if it
    ended by itself first, False if the cancel ended it."""
    import asyncio

    t = asyncio.create_task(coro)
    for _ in range(turns):
        await asyncio.sleep(0)
    return await ended_or_cancelled(t)


async def ended_or_cancelled(t):
    """Cancels the task t unless it is done, and waits for its end: True if it ended by itself."""
    import asyncio

    if not t.done():
        t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        return False
    return True
