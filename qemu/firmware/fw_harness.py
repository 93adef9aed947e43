# Runs on the QEMU firmware inside tests/micropython/mqtt_harness.py's namespace (run-tests
# executes it there after the harness): the firmware has no network, so the harness's TCP
# helpers are replaced by in-memory ones and `socket` is a module whose sockets are FakeSockets.
#  - fake_broker(*steps): the runner's scripted broker, played on connect(): every "send" is
#    queued for the client, "drain" (or the end of the script) leaves the socket open and
#    silent, "close" gives EOF after the queued bytes. fake_log() gives the packets written.
#  - PORT (the runner's mosquitto) is a broker played in memory: it answers CONNECT, PINGREQ,
#    SUBSCRIBE, UNSUBSCRIBE, QoS 1/2 PUBLISH and PUBREL, and echoes PUBLISHes on subscribed topics.
#  - peer(): no peer on the firmware, the test fails with that reason.
#  - FakeSocket keeps each write and each fed chunk once (a small heap).
import sys
import errno

_fakes = []  # (port, steps, socket or None) per fake_broker()


def peer(cmd, **kw):
    raise RuntimeError("peer %s: no network peer on the firmware" % cmd)


def fake_broker(*steps):
    for st in steps:
        if st[0] not in ("accept", "recv", "send", "drain", "close"):
            raise RuntimeError("fake_broker step %r not supported on the firmware" % (st,))
    port = 20000 + len(_fakes)
    _fakes.append([port, steps, None])
    return len(_fakes) - 1, port


def fake_log(fid, timeout=10):
    s = _fakes[fid][2]
    pk = [hx(p) for p in split_packets(s.tx)] if s else []
    return {"packets": pk, "events": [], "fault": None, "done": True}


class _LeanFakeSocket(FakeSocket):
    # The harness's FakeSocket keeps what the client wrote twice (tx and writes) and take()
    # copies it once more: three copies of a 16 KiB PUBLISH beside the test's own crowd
    # a microcontroller's heap. Same interface; each write and each fed chunk kept once.
    def feed(self, data):
        self.rx = self.rx + data if self.rx else data  # keeps the caller's bytes, no copy

    def _pop_rx(self, n):
        b = self.rx if n == len(self.rx) else self.rx[:n]  # all of it: no copy
        self.rx = self.rx[n:] if n < len(self.rx) else b""
        return bytes(b)

    def _record(self, b):
        self.writes.append(b)

    @property
    def tx(self):
        return b"".join(self.writes)

    @tx.setter
    def tx(self, v):
        self.writes = [bytes(v)] if v else []

    def take(self):
        p = []
        part, need = None, 0  # the pieces of a packet written as header + payload
        for w in self.writes:
            if part is None:
                need = _packet_end(w)
                if need == len(w):
                    p.append(w)  # one whole packet: no copy
                    continue
                part = [w]
            else:
                part.append(w)
            if sum(len(x) for x in part) >= need:
                p.extend(split_packets(b"".join(part)))
                part = None
        self.writes = []
        return p


def _packet_end(b):
    i, n, sh = 1, 0, 0
    while i < len(b):
        n |= (b[i] & 0x7F) << sh
        sh += 7
        i += 1
        if not b[i - 1] & 0x80:
            return i + n
    return -1


FakeSocket = _LeanFakeSocket


class NetSocket(FakeSocket):
    """What socket.socket() returns: a FakeSocket with settimeout and connect. Connected to a
    fake_broker() port it plays that script; connected to PORT it is a broker played in memory
    that answers each packet the client writes. keep=False keeps no record of the bytes written
    (long runs); n_pub / n_ack count the PUBLISHes and PUBACKs received."""

    def __init__(self):
        super().__init__(eof=False)
        self.broker = False
        self.keep = True
        self.subs = []
        self.n_pub = 0
        self.n_ack = 0

    def settimeout(self, t):
        self.blocking = t != 0

    def connect(self, addr):
        port = addr[1]
        if port == PORT:
            self.broker = True
            return
        for f in _fakes:
            if f[0] == port and f[2] is None:
                f[2] = self
                for st in f[1]:
                    if st[0] == "send":
                        self.feed(unhx(st[1]))
                    elif st[0] == "close":
                        self.eof = True
                return
        raise OSError(errno.ECONNREFUSED)

    def read(self, n=-1):
        if not self.keep:
            self.modes = []  # long runs: no record
        return super().read(n)

    def write(self, buf, length=None):
        if not self.keep:
            if self.closed:
                raise OSError(errno.EBADF)
            b = bytes(buf) if length is None else bytes(buf[:length])
        else:
            n = super().write(buf, length)
            b = self.writes[-1]
        if self.broker:
            for p in split_packets(b):
                self._answer(p)
        return len(b)

    def _answer(self, p):
        kind = p[0] & 0xF0
        i = 1
        while p[i] & 0x80:
            i += 1
        i += 1  # p[i:] is the variable header
        if kind == 0x10:  # CONNECT
            self.feed(b"\x20\x02\x00\x00")
        elif kind == 0xC0:
            self.feed(b"\xd0\x00")
        elif kind == 0x80:  # SUBSCRIBE: grant what was asked
            pid = p[i : i + 2]
            j = i + 2
            codes = bytearray()
            while j < len(p):
                n = p[j] << 8 | p[j + 1]
                self.subs.append(bytes(p[j + 2 : j + 2 + n]))
                codes.append(p[j + 2 + n])
                j += 3 + n
            self.feed(bytes((0x90, 2 + len(codes))) + pid + codes)
        elif kind == 0xA0:
            self.feed(b"\xb0\x02" + p[i : i + 2])
        elif p[0] == 0x62:  # PUBREL
            self.feed(b"\x70\x02" + p[i : i + 2])
        elif kind == 0x30:
            self.n_pub += 1
            qos = p[0] >> 1 & 3
            n = p[i] << 8 | p[i + 1]
            t = p[i + 2 : i + 2 + n]
            if qos:
                self.feed((b"\x40\x02", b"\x50\x02")[qos - 1] + p[i + 2 + n : i + 4 + n])
            if t in self.subs:  # echo at QoS 0 (topic filters are matched literally)
                body = p[i : i + 2 + n] + p[i + 2 + n + (2 if qos else 0) :]
                self.feed(b"\x30" + rl_bytes(len(body)) + body)
        elif kind == 0x40:
            self.n_ack += 1
        elif kind == 0xE0:
            self.eof = True


class _SocketModule:
    # Stands in for the `socket` module, which connect() imports (native and umqtt.simple).
    AF_INET = 2
    SOCK_STREAM = 1

    def socket(self, *args):
        return NetSocket()

    def getaddrinfo(self, host, port, *args):
        return [(2, 1, 0, "", (host, port))]


sys.modules["socket"] = _SocketModule()


def _V(name):
    return VECTORS[name]


V = _V  # VECTORS: injected by run-tests (the firmware has no filesystem with the file)
