"""The host side of the MicroPython tests (CPython): what a test script's `@@peer {json}`
requests drive, and the run of one script under a MicroPython binary.

- `SessionBroker`: the mosquitto every test shares (plain, password and TLS listeners) with the
  certificates made for it; `FaultBroker`: one a test restarts under its client.
- `Peer`: a paho-mqtt client, the device's counterpart; `FakeBroker`: a scripted TCP server;
  `StallProxy`: a proxy that stops in the middle of a TLS record.
- `PeerRequests`: one test's answers to its requests (and what they started, stopped after it);
  `run_script()`: runs a script, answering its requests, until it exits or its time is up.
conftest.py makes pytest fixtures of these; tests/micropython/mqtt_harness.py is the other end.
"""

import hashlib
import json
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "scripts", "lib"))
from umqtt_dev import Mosquitto, free_port  # noqa: E402

USER, PASSWORD = "device", "s3cret-pw"

TLS_LISTENER = """listener {port} 127.0.0.1
allow_anonymous true
cafile {d}/ca.crt
certfile {d}/server.crt
keyfile {d}/server.key
"""

SESSION_CONFIG = """per_listener_settings true
persistence false
max_queued_messages 100000
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
set_tcp_nodelay true
listener {plain} 127.0.0.1
allow_anonymous true
listener {auth} 127.0.0.1
allow_anonymous false
password_file {passwd}
""" + TLS_LISTENER.replace("{port}", "{tls}")

# No inflight quota by default: with one mosquitto stalls a restored session's queue
# (UMQTT_FAULT_INFLIGHT); the debug log is what qos2_log() reads (UMQTT_FAULT_LOG).
FAULT_CONFIG = """persistence true
persistence_location {dir}/
autosave_interval 1
max_queued_messages 100000
max_inflight_messages {inflight}
log_type {log}
log_type error
log_type warning
log_type notice
connection_messages true
listener {port} 127.0.0.1
allow_anonymous true
"""


class SessionBroker:
    """The tests' shared mosquitto on three fresh ports: `plain` (anonymous), `auth` (USER and
    PASSWORD from a mosquitto_passwd file) and `tls` (a server certificate for 127.0.0.1 signed
    by the CA made in workdir, which also holds an unrelated CA for the wrong-CA test)."""

    def __init__(self, workdir):
        self.workdir = workdir
        make_certs(workdir)
        passwd = os.path.join(workdir, "passwd")
        run_quiet(["mosquitto_passwd", "-c", "-b", passwd, USER, PASSWORD])
        os.chmod(passwd, 0o600)
        self.ports = {"plain": free_port(), "auth": free_port(), "tls": free_port()}
        config = SESSION_CONFIG.format(passwd=passwd, d=workdir, **self.ports)
        self.mosquitto = Mosquitto(workdir, config, self.ports.values(), who="tests/micropython/conftest.py")

    def start(self):
        self.mosquitto.start()
        return self

    def stop(self):
        self.mosquitto.stop()

    def config(self):
        """What a test script reads on its first stdin line (mqtt_harness.CFG), test-specific
        keys (test, param, prefix, impl) aside."""
        return {"host": "127.0.0.1", "port": self.ports["plain"], "auth_port": self.ports["auth"],
                "tls_port": self.ports["tls"], "user": USER, "password": PASSWORD,
                "ca_der": os.path.join(self.workdir, "ca.der"),
                "wrong_ca_der": os.path.join(self.workdir, "wrongca.der")}


def gen_payload(n):
    # Same pattern as mqtt_harness.gen() on the MicroPython side.
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


def run_quiet(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if r.returncode:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stdout.decode(errors="replace")))


def make_certs(d):
    """CA + server certificate for 127.0.0.1/localhost, and an unrelated CA. DER copies for
    MicroPython (its mbedtls build takes DER for cadata and cafile)."""
    def ca(name):
        run_quiet(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                   "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.crt", "-subj", f"/CN=umqtt {name}",
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run_quiet(["openssl", "x509", "-in", f"{d}/{name}.crt", "-outform", "DER", "-out", f"{d}/{name}.der"])
    ca("ca")
    ca("wrongca")
    run_quiet(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/server.key",
               "-out", f"{d}/server.csr", "-subj", "/CN=127.0.0.1"])
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run_quiet(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt",
               "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-out", f"{d}/server.crt",
               "-extfile", f"{d}/ext.cnf"])


_PUB_RE = re.compile(r"^\d+: (Received PUBLISH from|Sending PUBLISH to) (\S+) \(d([01]), q2, r[01], m(\d+),")
_PUBREL_RE = re.compile(r"^\d+: Sending PUBREL to (\S+) \(m(\d+)\)")


def qos2_log(path, client):
    """What the fault broker's debug log says of QoS 2 flows with `client`, across restarts:
    new_from_client: QoS 2 PUBLISH with DUP=0 it received from the client (one per message the
    client sent; a resumed one comes with DUP=1); rollbacks_to: for each receiver, PUBLISH with
    DUP=1 the broker sent again for a packet id whose PUBREL it had already sent. A receiver that
    released the message on that PUBREL (as MQTT 3.1.1 allows) delivers it twice: that duplicate
    is the broker's (it restored the flow from its database one step back), not the receiver's."""
    new_from_client = 0
    released = {}
    rollbacks = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = _PUB_RE.match(line)
            if m:
                way, who, dup, mid = m.group(1), m.group(2), m.group(3) == "1", int(m.group(4))
                if way.startswith("Received"):
                    new_from_client += who == client and not dup
                elif dup and mid in released.get(who, ()):
                    rollbacks[who] = rollbacks.get(who, 0) + 1
                elif not dup:
                    released.get(who, set()).discard(mid)
                continue
            m = _PUBREL_RE.match(line)
            if m:
                released.setdefault(m.group(1), set()).add(int(m.group(2)))
    return {"new_from_client": new_from_client, "rollbacks_to": rollbacks}


class FaultBroker:
    """A mosquitto of its own with persistence on one port, stopped (SIGTERM: saves its
    database; SIGKILL: loses what was not autosaved) and restarted on the same port while a
    test's client is busy; with a persistent paho peer (clean_session=False) on it."""

    def __init__(self, workdir, certs=None):
        os.makedirs(workdir)
        self.port = free_port()
        config = FAULT_CONFIG.format(dir=workdir, port=self.port,
                                     inflight=os.environ.get("UMQTT_FAULT_INFLIGHT", "0"),
                                     log=os.environ.get("UMQTT_FAULT_LOG", "debug"))
        ports = [self.port]
        self.tls_port = None
        if certs:  # the session's CA and server certificate
            self.tls_port = free_port()
            config += TLS_LISTENER.format(port=self.tls_port, d=certs)
            ports.append(self.tls_port)
        self.m = Mosquitto(workdir, config, ports, who="tests/micropython (fault tests: restarted under the clients)")
        self.m.start()
        self.bounces = 0
        self.lock = threading.Lock()
        self.thread = None
        self.peer = None
        self.streams = []

    def bounce(self, sig="TERM", down=1.0):
        with self.lock:
            self.m.stop(getattr(signal, "SIG" + sig))
            time.sleep(down)
            self.m.start()
            self.bounces += 1

    def bounce_later(self, delay, sig, down, times=1, every=0):
        def run():
            time.sleep(delay)
            for i in range(times):
                if i:
                    time.sleep(every)
                self.bounce(sig, down)
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def get_peer(self, client_id):
        if self.peer is None:
            self.peer = Peer(self.port, client_id, clean_session=False)
        return self.peer

    def stream(self, topic, n, qos, interval, tag):
        """Publish n messages `tag-i` from the peer in a thread; each one's acknowledgement is
        waited for afterwards (paho resends unacknowledged ones after reconnecting)."""
        st = {"done": False, "acked": [], "unacked": []}
        peer = self.peer

        def run():
            sent = []
            for i in range(n):
                payload = ("%s-%d" % (tag, i)).encode()
                sent.append((payload.decode(), peer.c.publish(topic, payload, qos).mid))
                time.sleep(interval)
            with peer.cond:  # paho resends what is unacknowledged after reconnecting
                peer.cond.wait_for(lambda: all(mid in peer.published for p, mid in sent), 15)
                for p, mid in sent:
                    (st["acked"] if mid in peer.published else st["unacked"]).append(p)
            st["done"] = True
        th = threading.Thread(target=run, daemon=True)
        th.start()
        self.streams.append(st)
        return len(self.streams) - 1

    def stop(self):
        if self.m.running():
            self.m.thaw()  # if a test left it stopped
        if self.peer:
            self.peer.stop()
        if self.thread:
            self.thread.join(15)
        self.m.stop()


# ---------------------------------------------------------------- peer: paho-mqtt client


class Peer:
    """A paho-mqtt client on the plain listener, the device's counterpart."""

    def __init__(self, port, client_id, clean_session=True):
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.cond = threading.Condition()
        self.msgs = []
        self.acks = {}
        self.connected = False
        self.client_id = client_id
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311, clean_session=clean_session)
        self.c.reconnect_delay_set(0.1, 0.5)  # the fault tests restart the broker under it
        self.c.max_queued_messages_set(0)
        self.c.max_inflight_messages_set(100)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_ack
        self.c.on_publish = self._on_publish
        self.counted = {}  # topic -> counters, for soak streams too long to keep
        self.published = set()  # mids acknowledged by the broker (QoS 1/2)
        self.c.on_unsubscribe = self._on_ack
        self.c.connect("127.0.0.1", port, keepalive=60)
        self.c.loop_start()
        self._wait(lambda: self.connected, 10, "peer connect")
        self.timers = []

    def _on_connect(self, client, userdata, flags, rc, props=None):
        with self.cond:
            self.connected = True
            self.cond.notify_all()

    def _on_message(self, client, userdata, m):
        cnt = self.counted.get(m.topic)
        if cnt is not None:  # payload "<seq> ...": count, keep only a bitmap of seen seqs
            seq = int(bytes(m.payload).split(b" ", 1)[0])
            with self.cond:
                cnt["n"] += 1
                if seq < len(cnt["seen"]) and not cnt["seen"][seq]:
                    cnt["seen"][seq] = 1
                    cnt["unique"] += 1
                else:
                    cnt["other"] += 1
                self.cond.notify_all()
            return
        with self.cond:
            self.msgs.append({"topic": m.topic, "payload": bytes(m.payload), "qos": m.qos,
                              "retain": bool(m.retain), "dup": bool(m.dup), "t": time.time()})
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid, rc=None, props=None):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    def _on_ack(self, client, userdata, mid, rcs, props=None):
        with self.cond:
            self.acks[mid] = [getattr(r, "value", r) for r in rcs]
            self.cond.notify_all()

    def _wait(self, pred, timeout, what):
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise RuntimeError("peer: timeout waiting for " + what)

    def subscribe(self, topic, qos):
        rc, mid = self.c.subscribe(topic, qos)
        self._wait(lambda: mid in self.acks, 10, "SUBACK")
        return self.acks[mid]

    def unsubscribe(self, topic):
        rc, mid = self.c.unsubscribe(topic)
        self._wait(lambda: mid in self.acks, 10, "UNSUBACK")

    def publish(self, topic, payload, qos, retain):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(10)
        if not info.is_published():
            raise RuntimeError("peer: publish not completed")

    def publish_burst(self, topic, prefix, n, qos):
        """Publish `prefix`0 .. `prefix`n-1 from a thread without waiting for each one: the device
        receives them while they arrive."""
        def run():
            for i in range(n):
                self.c.publish(topic, prefix + str(i).encode(), qos)
        t = threading.Thread(target=run, daemon=True)
        t.start()

    def publish_later(self, delay, *args):
        t = threading.Timer(delay, self.publish, args)
        t.daemon = True
        t.start()
        self.timers.append(t)

    def matching(self, topic):
        return [m for m in self.msgs if topic is None or m["topic"] == topic]

    def wait_msgs(self, topic, n, timeout):
        with self.cond:
            self.cond.wait_for(lambda: len(self.matching(topic)) >= n, timeout)
            return list(self.matching(topic))

    def stop(self):
        for t in self.timers:
            t.cancel()
        try:
            self.c.disconnect()  # before loop_stop: the network thread then ends at once
        except Exception:
            pass
        self.c.loop_stop()


def msg_json(m):
    p = m["payload"]
    d = {"topic": m["topic"], "qos": m["qos"], "retain": m["retain"], "dup": m["dup"],
         "len": len(p), "sha256": hashlib.sha256(p).hexdigest()}
    if len(p) <= 4096:
        d["hex"] = p.hex()
    return d


# ---------------------------------------------------------------- fake broker: scripted TCP server


def read_packet(conn, deadline, stop):
    """One MQTT packet from conn, or None at EOF; raises TimeoutError at deadline."""
    buf = bytearray()

    def need(n):
        while len(buf) < n:
            if stop.is_set():
                raise TimeoutError("stopped")
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("timeout")
            conn.settimeout(min(left, 0.2))
            try:
                chunk = conn.recv(n - len(buf))
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                return False
            buf.extend(chunk)
        return True

    if not need(1):
        return None
    i, rl, mul = 1, 0, 1
    while True:
        if not need(i + 1):
            return bytes(buf) if buf else None
        b = buf[i]
        rl += (b & 0x7F) * mul
        mul <<= 7
        i += 1
        if not b & 0x80 or i > 4:
            break
    if not need(i + rl):
        return bytes(buf)
    return bytes(buf)


def listening_socket(backlog):
    """A TCP socket listening on a fresh 127.0.0.1 port, and that port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock, sock.getsockname()[1]


def close_all(socks):
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


class FakeBroker(threading.Thread):
    """Plays a list of steps on one listening port:
      ["accept", timeout]          wait for the next client connection
      ["recv", timeout]            read one packet and log it (EOF/timeout: logged, script stops)
      ["send", hex]                send bytes at once
      ["send_chunks", hex, n, s]   send n bytes at a time, sleeping s between writes
      ["sleep", s]
      ["wait_signal", name, timeout]  wait until the test sends signal NAME
      ["drain", s]                 log packets for s seconds without answering (or until EOF)
      ["close"]                    close the current connection
    The log holds every packet received (hex) and events (eof, timeout, ...)."""

    def __init__(self, steps):
        super().__init__(daemon=True)
        self.steps = steps
        self.lsock, self.port = listening_socket(4)
        self.conn = None
        self.conns = []
        self.packets = []
        self.events = []
        self.error = None
        self.signals = set()
        self.cond = threading.Condition()
        self.stop_ev = threading.Event()

    def signal(self, name):
        with self.cond:
            self.signals.add(name)
            self.cond.notify_all()

    def _log_packet(self, p):
        self.packets.append(p.hex())

    def _receive(self, deadline):
        """Reads and logs one packet; returns None, or what ended the reading: "timeout", "eof"."""
        try:
            packet = read_packet(self.conn, deadline, self.stop_ev)
        except TimeoutError:
            return "timeout"
        if packet is None:
            return "eof"
        self._log_packet(packet)
        return None

    def run(self):
        try:
            for st in self.steps:
                if self.stop_ev.is_set():
                    break
                op = st[0]
                if op == "accept":
                    self.lsock.settimeout(st[1] if len(st) > 1 else 10)
                    self.conn, _ = self.lsock.accept()
                    self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.conns.append(self.conn)
                    self.events.append("accept")
                elif op == "recv":
                    ended = self._receive(time.time() + (st[1] if len(st) > 1 else 10))
                    if ended:
                        self.events.append(ended)
                        break
                elif op == "send":
                    self.conn.sendall(bytes.fromhex(st[1]))
                elif op == "send_chunks":
                    data, n, delay = bytes.fromhex(st[1]), st[2], st[3]
                    for i in range(0, len(data), n):
                        self.conn.sendall(data[i:i + n])
                        time.sleep(delay)
                elif op == "sleep":
                    self.stop_ev.wait(st[1])
                elif op == "wait_signal":
                    with self.cond:
                        if not self.cond.wait_for(lambda: st[1] in self.signals or self.stop_ev.is_set(),
                                                  st[2] if len(st) > 2 else 10):
                            self.events.append("signal-timeout:" + st[1])
                elif op == "drain":
                    deadline = time.time() + st[1]
                    ended = None
                    while not ended:
                        ended = self._receive(deadline)
                    if ended == "eof":  # the end of the drain time is no event
                        self.events.append(ended)
                elif op == "close":
                    self.conn.close()
                    self.events.append("closed")
                else:
                    raise ValueError("unknown step %r" % (st,))
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.lsock.close()

    def result(self):
        return {"packets": self.packets, "events": self.events, "fault": self.error,
                "done": not self.is_alive()}

    def stop(self):
        self.stop_ev.set()
        with self.cond:
            self.cond.notify_all()
        close_all(self.conns + [self.lsock])


class StallProxy(threading.Thread):
    """A TCP proxy to an upstream port for one connection. Told to stall, it forwards only the
    first bytes of the next TLS record from upstream and nothing after it (the client is left
    with part of a record, its socket open); what the client sends still goes up."""

    def __init__(self, upstream):
        super().__init__(daemon=True)
        self.upstream = upstream
        self.lsock, self.port = listening_socket(1)
        self.stall = threading.Event()
        self.stop_ev = threading.Event()
        self.socks = []

    def run(self):
        try:
            self.lsock.settimeout(10)
            down, _ = self.lsock.accept()
            up = socket.create_connection(("127.0.0.1", self.upstream))
            self.socks = [down, up]
            threading.Thread(target=self._pump_up, args=(down, up), daemon=True).start()
            pending = b""
            stalled = False
            while not self.stop_ev.is_set():
                r, _, _ = select.select([up], [], [], 0.1)
                if not r:
                    continue
                data = up.recv(65536)
                if not data:
                    break
                if stalled:
                    continue  # withheld
                pending += data
                # Forward whole TLS records (5-byte header + length) until told to stall.
                while len(pending) >= 5:
                    n = 5 + (pending[3] << 8 | pending[4])
                    if len(pending) < n:
                        break
                    if self.stall.is_set():
                        down.sendall(pending[: n // 2])
                        stalled = True
                        break
                    down.sendall(pending[:n])
                    pending = pending[n:]
        except OSError:
            pass

    def _pump_up(self, down, up):
        try:
            while not self.stop_ev.is_set():
                data = down.recv(65536)
                if not data:
                    break
                up.sendall(data)
        except OSError:
            pass

    def stop(self):
        self.stop_ev.set()
        close_all(self.socks + [self.lsock])


# ---------------------------------------------------------------- one test's requests


class PeerRequests:
    """Answers one test's `@@peer` requests. `slug` names its peers and fault broker; close()
    stops all the test started."""

    def __init__(self, broker, slug, run_id):
        self.broker = broker
        self.slug = slug
        self.run_id = run_id
        self.peer = None
        self.fakes = []
        self.fault = None

    def get_peer(self):
        if self.peer is None:
            self.peer = Peer(self.broker.ports["plain"], "peer-%s-%s" % (self.run_id, self.slug))
        return self.peer

    def answer(self, req):
        cmd = req.pop("cmd")
        if cmd.startswith("fault_"):
            return self.fault_cmd(cmd[6:], req)
        handler = getattr(self, "cmd_" + cmd, None)
        if handler is None:
            raise ValueError("unknown peer command " + cmd)
        return handler(req)

    def cmd_sub(self, req):
        return {"granted": self.get_peer().subscribe(req["topic"], req.get("qos", 0))}

    def cmd_unsub(self, req):
        self.get_peer().unsubscribe(req["topic"])
        return {}

    def cmd_pub(self, req):
        if "hex" in req:
            payload = bytes.fromhex(req["hex"])
        elif "gen" in req:
            payload = gen_payload(req["gen"])
        else:
            payload = req.get("text", "").encode()
        args = (req["topic"], payload, req.get("qos", 0), req.get("retain", False))
        if req.get("burst"):
            self.get_peer().publish_burst(req["topic"], payload, req["burst"], args[2])
        elif req.get("delay"):
            self.get_peer().publish_later(req["delay"], *args)
        else:
            self.get_peer().publish(*args)
        return {}

    def cmd_count_start(self, req):
        p = self.get_peer()
        p.counted[req["topic"]] = {"n": 0, "unique": 0, "other": 0, "seen": bytearray(req["n"])}
        return {"granted": p.subscribe(req["topic"], req.get("qos", 0))}

    def cmd_count(self, req):
        p = self.get_peer()
        cnt = p.counted[req["topic"]]
        with p.cond:
            p.cond.wait_for(lambda: cnt["unique"] >= req.get("want", 0), req.get("timeout", 0))
            return {"n": cnt["n"], "unique": cnt["unique"], "other": cnt["other"],
                    "missing": [i for i, v in enumerate(cnt["seen"]) if not v][:10]}

    def cmd_msgs(self, req):
        ms = self.get_peer().wait_msgs(req.get("topic"), req.get("n", 1), req.get("timeout", 5))
        return {"msgs": [msg_json(m) for m in ms]}

    def cmd_fake(self, req):
        fb = FakeBroker(req["steps"])
        fb.start()
        self.fakes.append(fb)
        return {"id": len(self.fakes) - 1, "port": fb.port}

    def cmd_fake_log(self, req):
        fb = self.fakes[req["id"]]
        fb.join(req.get("timeout", 10))
        return fb.result()

    def cmd_signal(self, req):
        self.fakes[req["id"]].signal(req["name"])
        return {}

    def cmd_stall_proxy(self, req):  # to the TLS listener; {"stall": id} stalls it
        if "stall" in req:
            self.fakes[req["stall"]].stall.set()
            return {}
        px = StallProxy(self.broker.ports["tls"])
        px.start()
        self.fakes.append(px)
        return {"id": len(self.fakes) - 1, "port": px.port}

    def cmd_sleep(self, req):
        time.sleep(req["s"])
        return {}

    def fault_cmd(self, op, req):
        # The fault broker (FaultBroker) and its persistent peer.
        if op == "start":
            certs = self.broker.workdir if req.get("tls") else None
            self.fault = FaultBroker(os.path.join(self.broker.workdir, "fault-" + self.slug), certs)
            return {"port": self.fault.port, "tls_port": self.fault.tls_port}
        f = self.fault
        if op == "signal":  # STOP: the broker freezes with its sockets open (a dead peer); CONT
            f.m.send_signal(getattr(signal, "SIG" + req["sig"]))
            return {}
        if op == "bounce":  # asynchronous: the client is busy meanwhile
            f.bounce_later(req.get("delay", 0), req.get("sig", "TERM"), req.get("down", 1.0),
                           req.get("times", 1), req.get("every", 0))
            return {}
        if op == "bounces":
            if req.get("wait"):
                f.thread.join(30)
            return {"bounces": f.bounces}
        peer_id = "fpeer-%s-%s" % (self.run_id, self.slug)
        if op == "peer_id":
            return {"id": f.get_peer(peer_id).client_id}
        if op == "peer_sub":
            return {"granted": f.get_peer(peer_id).subscribe(req["topic"], req["qos"])}
        if op == "stream":
            return {"id": f.stream(req["topic"], req["n"], req["qos"], req.get("interval", 0.005), req["tag"])}
        if op == "stream_status":
            st = f.streams[req["id"]]
            r = {"done": st["done"], "n_acked": len(st["acked"])}
            if st["done"] and req.get("full"):
                r.update(acked=st["acked"], unacked=st["unacked"])
            return r
        if op == "peer_msgs":
            # payloads (text) the peer received on topic, waiting until `want` are there
            want = set(req.get("want", []))
            with f.peer.cond:
                f.peer.cond.wait_for(lambda: want <= {m["payload"].decode() for m in f.peer.matching(req["topic"])},
                                     req.get("timeout", 10))
                return {"msgs": [m["payload"].decode() for m in f.peer.matching(req["topic"])],
                        "dups": sum(1 for m in f.peer.matching(req["topic"]) if m["dup"])}
        if op == "qos2_log":
            return qos2_log(f.m.log_path, req["client"])
        raise ValueError("unknown fault command " + op)

    def close(self):
        if self.peer:
            self.peer.stop()
        for fb in self.fakes:
            fb.stop()
        if self.fault:
            self.fault.stop()


# ---------------------------------------------------------------- one script's run


class ScriptRun:
    """What a script did: exit status (negative: killed by that signal), its stdout lines
    (requests left out), its stderr lines, and whether its time ran out."""

    def __init__(self, returncode, out, err, timed_out, timeout):
        self.returncode, self.out, self.err = returncode, out, err
        self.timed_out, self.timeout = timed_out, timeout

    def skip_reason(self):
        """A script that cannot run here says so on a line `SKIP reason` and exits 0."""
        if self.returncode == 0 and not self.timed_out:
            line = next((ln for ln in self.out if ln.startswith("SKIP")), None)
            if line is not None:
                return line[4:].strip(" :")
        return None

    def passed(self):
        return self.returncode == 0 and not self.timed_out and self.out[-1:] == ["OK"]

    def failure(self):
        if self.timed_out:
            return "timeout after %gs (hang)" % self.timeout
        if self.returncode < 0:
            return "crashed with signal %d" % -self.returncode
        if self.returncode:
            # the exception line of a traceback (stderr, or stdout for some builds)
            for ln in reversed(self.err + self.out):
                if ln.strip() and not ln.startswith(" "):
                    return "exit %d: %s" % (self.returncode, ln.strip())
            return "exit %d" % self.returncode
        return "no OK line (last output: %r)" % (self.out[-1] if self.out else "")


def run_script(cmd, cfg, requests, timeout, env, cwd):
    """Runs cmd (a MicroPython binary on a script), feeds it cfg as its first stdin line and
    answers each `@@peer {json}` line with requests.answer()'s JSON; kills its process group
    once timeout seconds have passed. Returns a ScriptRun."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=cwd, env=env, start_new_session=True)
    lines = queue.Queue()
    err = []

    def pump_out():
        for ln in p.stdout:
            lines.put(ln.decode(errors="replace").rstrip("\n"))
        lines.put(None)

    def pump_err():
        for ln in p.stderr:
            err.append(ln.decode(errors="replace").rstrip("\n"))

    pumps = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
    for th in pumps:
        th.start()

    def send(obj):
        try:
            p.stdin.write((json.dumps(obj) + "\n").encode())
            p.stdin.flush()
        except OSError:
            pass  # the script died: its stderr says why

    out = []
    timed_out = False
    deadline = time.time() + timeout
    try:
        send(cfg)
        while True:
            try:
                ln = lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                timed_out = True
                break
            if ln is None:
                break
            if not ln.startswith("@@peer "):
                out.append(ln)
                continue
            try:
                resp = requests.answer(json.loads(ln[7:]))
            except Exception as e:
                resp = {"error": "%s: %s" % (type(e).__name__, e)}
                out.append("[runner] peer command failed: " + resp["error"])
            send(resp)
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        rc = p.wait()
        for th in pumps:
            th.join(2)
        requests.close()
    return ScriptRun(rc, out, err, timed_out, timeout)
