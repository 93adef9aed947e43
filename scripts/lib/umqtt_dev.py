"""Helpers the project's host-side runners share (CPython 3), each written once here:

- where things are: the repository, MPY_DIR / MPY_LIB_DIR and their defaults, micropython-lib's
  umqtt sources, the seed vectors;
- mpy_version(): the MicroPython version of a source tree;
- free_port() and Mosquitto: a mosquitto of a runner's own on 127.0.0.1;
- script_marks(): the pytest marks a MicroPython test script declares in its header comment, read
  without importing it (tests/micropython/conftest.py and qemu/firmware/run-tests).

Users: tests/micropython (conftest.py, peers.py, host/), qemu/firmware/run-tests, qemu/net/run-tests,
bench/run-mqtt, bench/run-board, scripts/footprint. They find this file with
sys.path.insert(0, os.path.join(REPO, "scripts", "lib")).
"""

import ast
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_VECTORS = os.path.normpath(os.path.join(REPO, "..", "shared", "vectors", "mqtt311-seed-vectors.txt"))


# ---------------------------------------------------------------- MicroPython trees


def mpy_dir():
    """The MicroPython source tree the runners build against (MPY_DIR)."""
    return os.environ.get("MPY_DIR") or "/opt/micropython"


def mpy_lib_dir(tree=None):
    """micropython-lib's checkout (the reference umqtt.simple / umqtt.robust), found as
    scripts/lib/mpy.sh finds it for the builds: MPY_LIB_DIR, else the MicroPython tree's
    lib/micropython-lib submodule when checked out, else /opt/micropython-lib."""
    if os.environ.get("MPY_LIB_DIR"):
        return os.environ["MPY_LIB_DIR"]
    submodule = os.path.join(tree or mpy_dir(), "lib", "micropython-lib")
    if os.path.isfile(os.path.join(submodule, "README.md")):
        return submodule
    return "/opt/micropython-lib"


def is_mpy_tree(path):
    return os.path.isfile(os.path.join(path, "py", "mpconfig.h"))


def mpy_version(tree):
    """"1.28.0", or "1.29.0-preview" for a tree between releases, from py/mpconfig.h."""
    with open(os.path.join(tree, "py", "mpconfig.h")) as f:
        src = f.read()

    def part(key):
        return re.search(r"#define MICROPY_VERSION_%s (\d+)" % key, src).group(1)

    version = "%s.%s.%s" % (part("MAJOR"), part("MINOR"), part("MICRO"))
    return version + ("-preview" if part("PRERELEASE") == "1" else "")


def reference_umqtt_source(lib_dir, module):
    """micropython-lib's pure-Python umqtt.<module> ("simple" or "robust")."""
    return os.path.join(lib_dir, "micropython", "umqtt." + module, "umqtt", module + ".py")


def load_vectors(path=DEFAULT_VECTORS):
    """The seed vectors, name -> bytes, in the file's order (lines `name | meaning | hex`)."""
    vectors = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _meaning, hexs = [p.strip() for p in line.split("|")]
                vectors[name] = bytes.fromhex(hexs.replace(" ", ""))
    return vectors


def heap_bytes(size):
    """A MicroPython heap size as `-X heapsize=` takes it ("256k", "24M", "4096") in bytes."""
    unit = {"K": 1 << 10, "M": 1 << 20}.get(size[-1].upper(), 1)
    return int(size.rstrip("kKmM")) * unit


# ---------------------------------------------------------------- test scripts' marks

# A header line `# pytest.mark.NAME` or `# pytest.mark.NAME(literal, ..., key=literal)`; an
# argument list may go on over the next comment lines. The header ends at the first line that
# is not a comment.
_MARK_START = re.compile(r"#\s*(pytest\.mark\.\w+.*)$")


def script_marks(path):
    """The marks a test script's header declares: [(name, args, kwargs)], in order."""
    marks, pending = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("#"):
                if line:
                    break
                continue
            start = _MARK_START.match(line)
            if pending is None and not start:
                continue
            pending = start.group(1) if pending is None else pending + " " + line.lstrip("# ")
            try:
                call = ast.parse(pending, mode="eval").body
            except SyntaxError:
                continue  # an argument list going on over the next line
            marks.append(_mark_of(call, path))
            pending = None
    if pending is not None:
        raise ValueError("%s: unfinished mark %r" % (path, pending))
    return marks


def _mark_of(node, path):
    args, kwargs = [], {}
    if isinstance(node, ast.Call):
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        node = node.func
    if not (isinstance(node, ast.Attribute) and ast.unparse(node.value) == "pytest.mark"):
        raise ValueError("%s: %s is no pytest.mark" % (path, ast.unparse(node)))
    return node.attr, tuple(args), kwargs


def mark_args(marks, name):
    """The arguments of every `name` mark in marks, one tuple each."""
    return [args for n, args, _ in marks if n == name]


def script_vector_params(marks, vectors):
    """The seed vectors a `vector_params(WORD)` mark runs the script once for: those with WORD
    among the dash-separated words of their name. [] when the script declares none."""
    words = [args[0] for args in mark_args(marks, "vector_params")]
    return [n for n in vectors for w in words if w in n.split("-")]


def script_timeout(marks, default=20.0):
    found = mark_args(marks, "script_timeout")
    return float(found[-1][0]) if found else default


# ---------------------------------------------------------------- mosquitto


def free_port():
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_mosquitto():
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """A mosquitto of the caller's own, configured by the caller (listeners on 127.0.0.1 ports it
    picked with free_port()). start() returns once every port in `ports` accepts; stop() and
    start() again give the same broker on the same ports (the fault tests restart it under a
    client). Its stdout and stderr go to `out_path`; log()/log_tail() read `log_path`, which is
    the same file unless the configuration names a `log_dest file` of its own."""

    def __init__(self, workdir, config, ports, binary=None, log_path=None, who="a umqtt-native runner"):
        self.workdir = workdir
        self.ports = list(ports)
        self.binary = binary or find_mosquitto()
        self.conf_path = os.path.join(workdir, "mosquitto.conf")
        self.out_path = os.path.join(workdir, "mosquitto.log" if log_path is None else "mosquitto.out")
        self.log_path = log_path or self.out_path
        # `user`: mosquitto started as root drops to the user "mosquitto" unless told otherwise
        with open(self.conf_path, "w") as f:
            f.write("# written by %s\nuser %s\n%s" % (who, getpass.getuser(), config))
        self.proc = None

    def start(self, wait=10):
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf_path], stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + wait
        for port in self.ports:
            while not self._accepts(port):
                if self.proc.poll() is not None:
                    raise RuntimeError("mosquitto exited: " + self.log_tail())
                if time.time() > deadline:
                    raise RuntimeError("mosquitto does not listen on %d: %s" % (port, self.log_tail()))
                time.sleep(0.05)
        return self

    @staticmethod
    def _accepts(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def freeze(self):
        """SIGSTOP: the broker stops answering with its sockets left open (a dead peer)."""
        self.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.send_signal(signal.SIGCONT)

    def cpu_seconds(self):
        """The CPU time the broker has used so far (user + system, from /proc), or None where
        there is no /proc: a benchmark tells by it whether the broker bounded a rate."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read().splitlines()

    def log_tail(self, n=20):
        try:
            return "\n".join(self.log()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            if sig != signal.SIGKILL:
                self.thaw()  # a frozen broker would not act on SIGTERM
            self.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._out.close()
            self.proc = None
