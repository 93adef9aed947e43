"""Reading a GNU ld link map (`-Wl,-Map=FILE`): the input sections a link kept, by kind.

Shared by scripts/size-report (the staticlib linked alone) and scripts/footprint (whole
firmwares); each groups the sections by where they came from in its own way.
"""

import re

# What a firmware's flash and static RAM are made of, in report order.
KINDS = ("text", "rodata", "data", "bss")

# Input section name prefixes and the kind each counts as. Thread-local sections and the small
# data/bss variants (RISC-V's .s*) count with their ordinary kind.
_PREFIXES = (
    (".text", "text"), (".rodata", "rodata"), (".srodata", "rodata"),
    (".data", "data"), (".sdata", "data"), (".tdata", "data"),
    (".bss", "bss"), (".sbss", "bss"), (".tbss", "bss"), ("COMMON", "bss"), (".scommon", "bss"),
)

_MAP_START = "Linker script and memory map"


def kind_of(section):
    """The kind ("text", "rodata", "data", "bss") of an input or output section name, or None."""
    for prefix, kind in _PREFIXES:
        if section == prefix or section.startswith(prefix + "."):
            return kind
    return None


def input_sections(path):
    """Yields (output section, input section, size, object) for every input section of nonzero
    size in the memory map, in map order. `object` is the file the section came from as the map
    names it (`lib.a(member.o)` for an archive member). The output section is the first word of
    the last line that started in column 0 (an output section, or a linker script statement)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    try:
        start = lines.index(_MAP_START)
    except ValueError:
        raise ValueError(f"not a GNU ld map (no '{_MAP_START}' line): {path}") from None
    out_sec = None
    pending = None  # an input section name long enough that its address, size, file follow below
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            out_sec = line.split()[0]
            pending = None
            continue
        parts = line.split()
        if not line.startswith("  "):
            if parts[0].startswith("*"):  # *fill* or an input pattern such as *(.text*)
                pending = None
                continue
            if len(parts) == 1:
                pending = parts[0]
                continue
            name, rest = parts[0], parts[1:]
        elif pending is not None:
            name, rest = pending, parts
        else:
            continue  # a symbol or an assignment inside a section
        pending = None
        if len(rest) >= 3 and rest[0].startswith("0x") and rest[1].startswith("0x"):
            size = int(rest[1], 16)
            if size:
                yield out_sec, name, size, " ".join(rest[2:])


def archive_member(obj):
    """The member name of `lib.a(member.o)`, or None for a plain object file."""
    m = re.search(r"\(([^()]*)\)$", obj)
    return m.group(1) if m else None
