"""pytest for the MicroPython suite: every tests/micropython/test_*.py is a script that runs on a
MicroPython binary, not in CPython, and becomes one pytest test per firmware and implementation
(and per seed vector where it asks for that).

    python3 -m pytest tests/micropython --micropython BIN [--micropython BIN2] [--impl reference]

A script declares its marks in its header comment, as pytest code read without importing it
(umqtt_dev.script_marks): `# pytest.mark.native_only("reason")`, `# pytest.mark.slow`, ... (see
MARKERS). The fixtures give it the session's mosquitto (plain, password and TLS listeners), the
firmware, the implementation under test (the firmware's native module, or micropython-lib's
pure-Python umqtt.simple/umqtt.robust) and the answers to its `@@peer` requests (peers.py).
"""

import os
import re
import shutil
import subprocess
import sys
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts", "lib"))
import umqtt_dev  # noqa: E402
import peers  # noqa: E402

NO_FIRMWARE = "no MicroPython binary: give --micropython BIN (or MICROPYTHON=BIN)"
DEFAULT_TIMEOUT = 20.0  # seconds a script may run unless it declares script_timeout
SOAK_DEFAULT = 0  # 0: the soak test exchanges its own short default

# The marks a script header may declare; registered, so --strict-markers holds.
MARKERS = [
    "native_only(reason): umqtt.simple lacks the feature or accepts the bad input; skipped on --impl reference",
    "native_only_vector(vector, reason): as native_only, for one vector of a vector_params script",
    "needs_tls: talks to the broker's TLS listener (the firmware needs ssl)",
    "slow: takes several seconds (broker restarts, keepalive periods, many brokers); -m 'not slow' leaves it out",
    "qemu: needs no network peer (fake sockets, MemBroker, scripted brokers), so qemu/firmware/run-tests "
    "runs it on the QEMU firmwares too",
    "script_timeout(seconds): the script is killed after this long (default 20)",
    "heapsize(size): MicroPython heap for the script (-X heapsize=size); the QEMU runner skips it above its firmware's heap",
    "vectors(*names): seed vectors the script uses (every vector must be used by some script)",
    "vector_params(word): one run per seed vector with word in its dash-separated name",
    "soak: the soak test; --soak N runs only these, with N messages",
]
# Marks that only say how to collect a script, not what to do with a collected test.
COLLECTION_ONLY = {"vector_params", "native_only_vector"}


def pytest_addoption(parser):
    group = parser.getgroup("umqtt", "umqtt MicroPython suite (tests/micropython)")
    group.addoption("--micropython", action="append", default=[], metavar="BIN",
                    help="MicroPython unix binary to run the scripts on; more than once for several "
                         "(default: $MICROPYTHON)")
    group.addoption("--impl", action="append", choices=("native", "natmod", "reference"), default=[],
                    help="umqtt under test: native (the firmware's module, default), natmod (the native "
                         ".mpy package of --natmod on a stock firmware) and/or reference (micropython-lib's "
                         "umqtt.simple/umqtt.robust); more than once for several")
    group.addoption("--natmod", default=os.environ.get("UMQTT_NATMOD"), metavar="DIR",
                    help="for --impl natmod: the directory holding the umqtt/ package scripts/build-natmod "
                         "made (default $UMQTT_NATMOD)")
    group.addoption("--mpy-lib-dir", default=umqtt_dev.mpy_lib_dir(),
                    help="micropython-lib checkout for --impl reference (default $MPY_LIB_DIR or %(default)s)")
    group.addoption("--vectors", default=umqtt_dev.DEFAULT_VECTORS, help="seed vectors file (default %(default)s)")
    group.addoption("--run-native-only", action="store_true",
                    help="run native_only scripts on the reference too (to see how it fails)")
    group.addoption("--soak", type=int, default=SOAK_DEFAULT, metavar="N",
                    help="run only the soak test, exchanging N messages (e.g. 1000000)")


def pytest_configure(config):
    for line in MARKERS:
        config.addinivalue_line("markers", line)


# ---------------------------------------------------------------- collection


class Firmware:
    """A MicroPython binary and the id its tests carry: its version (v1.28.0, v1.29.0-preview)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        if not os.access(self.path, os.X_OK):
            raise pytest.UsageError("--micropython %s: no such executable" % path)
        version = subprocess.run([self.path, "-c", "import sys; print(sys.version)"], capture_output=True,
                                 text=True, timeout=10).stdout
        match = re.search(r"MicroPython (v\S+)", version)
        self.id = match.group(1) if match else os.path.basename(self.path)


FIRMWARES = pytest.StashKey()
VECTORS = pytest.StashKey()


def firmwares(config):
    """The --micropython binaries (or $MICROPYTHON), looked at once per session; two of one
    version are told apart by their position. []: none given."""
    if FIRMWARES not in config.stash:
        paths = config.getoption("micropython") or [p for p in [os.environ.get("MICROPYTHON")] if p]
        found = [Firmware(p) for p in paths]
        ids = [f.id for f in found]
        for i, f in enumerate(found):
            if ids.count(f.id) > 1:
                f.id += "-%d" % (i + 1)
        config.stash[FIRMWARES] = found
    return config.stash[FIRMWARES]


def seed_vectors(config):
    if VECTORS not in config.stash:
        config.stash[VECTORS] = umqtt_dev.load_vectors(config.getoption("vectors"))
    return config.stash[VECTORS]


def is_micropython_script(path):
    return os.path.dirname(str(path)) == HERE and path.name.startswith("test_")


def pytest_pycollect_makemodule(module_path, parent):
    # Claims the scripts before the python plugin would import them under CPython.
    if is_micropython_script(module_path):
        return MicroPythonScript.from_parent(parent, path=module_path)
    return None


class MicroPythonScript(pytest.Module):
    """A script, collected as a module of one test function named after the file, carrying the
    marks its header declares (vector_params turned into a parametrisation over the vectors)."""

    def _getobj(self):
        declared = umqtt_dev.script_marks(str(self.path))
        marks = [getattr(pytest.mark, name)(*args, **kwargs)
                 for name, args, kwargs in declared if name not in COLLECTION_ONLY]
        vectors = umqtt_dev.script_vector_params(declared, seed_vectors(self.config))
        if vectors:
            native_only = {args[0]: args[1] for args in umqtt_dev.mark_args(declared, "native_only_vector")}
            params = [pytest.param(v, id=v, marks=[pytest.mark.native_only(native_only[v])] if v in native_only else [])
                      for v in vectors]
            marks.append(pytest.mark.parametrize("vector", params, indirect=True))

        def run_on_micropython(micropython_script):
            micropython_script.run_and_check()

        test = run_on_micropython
        test.__name__ = self.path.stem
        # pytest reports a test where its function's code is: the script, not this file
        test.__code__ = test.__code__.replace(co_filename=str(self.path), co_firstlineno=1)
        test.pytestmark = marks
        module = types.ModuleType(self.path.stem)
        module.__file__ = str(self.path)
        setattr(module, test.__name__, test)
        return module


def pytest_generate_tests(metafunc):
    # Every script runs once per firmware and implementation: session-wide parameters, so the
    # reference's umqtt package is made once and pytest groups the tests by them.
    if "impl" in metafunc.fixturenames:
        impls = metafunc.config.getoption("impl") or ["native"]
        metafunc.parametrize("impl", sorted(set(impls), key=impls.index), indirect=True, scope="session")
    if "firmware" in metafunc.fixturenames:
        fws = firmwares(metafunc.config)
        params = [pytest.param(f, id=f.id) for f in fws] or [
            pytest.param(None, id="no-firmware", marks=pytest.mark.skip(reason=NO_FIRMWARE))]
        metafunc.parametrize("firmware", params, indirect=True, scope="session")


def pytest_collection_modifyitems(config, items):
    soak = config.getoption("soak")
    if soak:
        keep = [it for it in items if it.get_closest_marker("soak")]
        config.hook.pytest_deselected(items=[it for it in items if it not in keep])
        items[:] = keep
    if config.getoption("run_native_only"):
        return
    for item in items:
        native_only = item.get_closest_marker("native_only")
        callspec = getattr(item, "callspec", None)
        if native_only and callspec and callspec.params.get("impl") == "reference":
            item.add_marker(pytest.mark.skip(reason="native-only: " + native_only.args[0]))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def firmware(request):
    return request.param


@pytest.fixture(scope="session")
def impl(request):
    return request.param


@pytest.fixture
def vector(request):
    """The seed vector's name a vector_params script runs for (None for the others)."""
    return getattr(request, "param", None)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """The session's mosquitto: plain, password and TLS listeners on fresh 127.0.0.1 ports."""
    missing = [t for t in (umqtt_dev.find_mosquitto(), "mosquitto_passwd", "openssl") if not shutil.which(t)]
    if missing:
        pytest.fail("missing " + ", ".join(missing), pytrace=False)
    session = peers.SessionBroker(str(tmp_path_factory.mktemp("broker"))).start()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def micropython_path(impl, request, tmp_path_factory):
    """MICROPYPATH for the implementation: the firmware alone (built-in and frozen modules) for
    native; the natmod package first for natmod; for reference, micropython-lib's umqtt/simple.py and umqtt/robust.py linked into one
    umqtt/ package (MicroPython does not merge a package across path entries)."""
    if impl == "native":
        return ".frozen"
    if impl == "natmod":
        natmod = request.config.getoption("natmod")
        if not natmod or not os.path.exists(os.path.join(natmod, "umqtt", "__init__.mpy")):
            pytest.fail("--impl natmod: no umqtt/__init__.mpy in --natmod %s (scripts/build-natmod x64)" % natmod,
                        pytrace=False)
        return "%s:.frozen" % os.path.abspath(natmod)
    lib_dir = request.config.getoption("mpy_lib_dir")
    package = tmp_path_factory.mktemp("reference") / "umqtt"
    package.mkdir()
    for module in ("simple", "robust"):
        src = umqtt_dev.reference_umqtt_source(lib_dir, module)
        if not os.path.exists(src):
            pytest.fail("reference module not found: %s (--mpy-lib-dir / MPY_LIB_DIR)" % src, pytrace=False)
        os.symlink(os.path.abspath(src), package / (module + ".py"))
    return "%s:.frozen" % package.parent


@pytest.fixture
def micropython_script(request, firmware, impl, micropython_path, broker, vector):
    """The collected script, ready to run on the firmware with its peer requests answered."""
    pytest.importorskip("paho.mqtt.client", reason="the peer is paho-mqtt (pip install paho-mqtt)")
    return ScriptUnderTest(request, firmware, impl, micropython_path, broker, vector)


class ScriptUnderTest:
    def __init__(self, request, firmware, impl, micropython_path, broker, vector):
        node = request.node
        self.path = str(request.path)
        self.name = node.name
        self.slug = re.sub(r"[^A-Za-z0-9_-]", "_", node.name)
        self.firmware, self.impl, self.vector, self.broker = firmware, impl, vector, broker
        self.env = dict(os.environ, MICROPYPATH=micropython_path)
        self.timeout = float(_mark_arg(node, "script_timeout", DEFAULT_TIMEOUT))
        self.heapsize = _mark_arg(node, "heapsize", None)
        self.vectors_path = os.path.abspath(request.config.getoption("vectors"))
        self.soak = request.config.getoption("soak")
        if self.soak:
            self.timeout = max(self.timeout, 60 + self.soak / 500.0)  # generous: a hang still ends

    def config(self):
        # run_id keeps topics and client ids apart from other runs on the same broker
        cfg = self.broker.config()
        test_id = os.path.basename(self.path)[5:-3] + ("[%s]" % self.vector if self.vector else "")
        cfg.update(impl=self.impl, test=test_id, param=self.vector, vectors=self.vectors_path,
                   prefix="umqtt-test/%d/%s/" % (os.getpid(), self.slug), soak=self.soak,
                   soak_nagle=bool(os.environ.get("UMQTT_SOAK_NAGLE")))
        return cfg

    def run_and_check(self):
        cmd = [self.firmware.path] + (["-X", "heapsize=" + self.heapsize] if self.heapsize else []) + [self.path]
        requests = peers.PeerRequests(self.broker, self.slug, str(os.getpid()))
        result = peers.run_script(cmd, self.config(), requests, self.timeout, self.env, HERE)
        # pytest shows what was captured when the test fails (all of it with -rA or -s)
        if result.out:
            print("\n".join(result.out))
        if result.err:
            print("\n".join(result.err), file=sys.stderr)
        reason = result.skip_reason()
        if reason is not None:
            pytest.skip(reason)
        if not result.passed():
            tail = "\n".join("    | " + ln[:300] for ln in (result.out + result.err)[-25:])
            pytest.fail("%s\n%s" % (result.failure(), tail), pytrace=False)


def _mark_arg(node, name, default):
    mark = node.get_closest_marker(name)
    return mark.args[0] if mark else default
