#!/usr/bin/env python3
"""Tests of linkmap.py on a hand-written GNU ld map: `python3 scripts/lib/test_linkmap.py`."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linkmap  # noqa: E402

MAP = """\
Archive member included to satisfy reference by file (symbol)

Discarded input sections

 .text.unused   0x0000000000000000       0x40 lib.a(gone.o)

Memory Configuration

Linker script and memory map

.text           0x0000000000010000      0x120
 *(.text .text.*)
 .text.umqtt_connect
                0x0000000000010000       0x80 /tmp/libumqtt_native.a(umqtt_native-1a2b.o)
                0x0000000000010000                umqtt_connect
 .text          0x0000000000010080       0x20 refs.o
 *fill*         0x00000000000100a0        0x4
 .text.memcpy   0x00000000000100a4       0x7c /tmp/libumqtt_native.a(compiler_builtins-9f.o)
 .text.empty    0x0000000000010120        0x0 refs.o

.srodata        0x0000000000010120        0x8
 .srodata.cst8  0x0000000000010120        0x8 /tmp/libumqtt_native.a(core-77.o)

.debug_info     0x0000000000000000      0x300
 .debug_info    0x0000000000000000      0x300 refs.o
"""


class LinkMapTest(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".map")
        with os.fdopen(fd, "w") as f:
            f.write(MAP)

    def tearDown(self):
        os.unlink(self.path)

    def test_input_sections_after_the_memory_map_line_with_their_output_section(self):
        got = list(linkmap.input_sections(self.path))
        self.assertEqual(got, [
            (".text", ".text.umqtt_connect", 0x80, "/tmp/libumqtt_native.a(umqtt_native-1a2b.o)"),
            (".text", ".text", 0x20, "refs.o"),
            (".text", ".text.memcpy", 0x7C, "/tmp/libumqtt_native.a(compiler_builtins-9f.o)"),
            (".srodata", ".srodata.cst8", 8, "/tmp/libumqtt_native.a(core-77.o)"),
            (".debug_info", ".debug_info", 0x300, "refs.o"),
        ])

    def test_kinds(self):
        self.assertEqual([linkmap.kind_of(s) for s in (".text.x", ".srodata", ".sbss.y", "COMMON", ".tdata", ".debug_info",
                                                       ".textual")],
                         ["text", "rodata", "bss", "bss", "data", None, None])

    def test_archive_member(self):
        self.assertEqual(linkmap.archive_member("/a/lib.a(core-77.o)"), "core-77.o")
        self.assertIsNone(linkmap.archive_member("refs.o"))

    def test_a_file_that_is_no_map_is_refused(self):
        with open(self.path, "w") as f:
            f.write("not a map\n")
        with self.assertRaises(ValueError):
            list(linkmap.input_sections(self.path))


if __name__ == "__main__":
    unittest.main()
