"""CPython check of what the MicroPython scripts declare (no firmware needed): every seed vector
is used by some script, here or in qemu/firmware/, and none they name is missing from the file."""

import glob
import os

import umqtt_dev  # on sys.path by tests/micropython/conftest.py

SCRIPT_DIRS = [os.path.join(umqtt_dev.REPO, "tests", "micropython"), os.path.join(umqtt_dev.REPO, "qemu", "firmware")]


def test_every_seed_vector_is_used(pytestconfig):
    vectors = umqtt_dev.load_vectors(pytestconfig.getoption("vectors"))
    used = set()
    for path in sorted(p for d in SCRIPT_DIRS for p in glob.glob(os.path.join(d, "test_*.py"))):
        marks = umqtt_dev.script_marks(path)
        used.update(name for args in umqtt_dev.mark_args(marks, "vectors") for name in args)
        used.update(umqtt_dev.script_vector_params(marks, vectors))
    assert [n for n in vectors if n not in used] == [], "seed vectors no script uses"
    assert sorted(used - set(vectors)) == [], "vectors the scripts name that the seed file lacks"
