# shellcheck shell=bash
# MicroPython helpers for the build scripts (scripts/build-unix, scripts/test-cmake,
# qemu/firmware/build): sourced, not run.
#
#   . "$root/scripts/lib/mpy.sh"
#   version=$(mpy_version "$mpy_dir")                  # 1.28.0, or 1.29.0-preview for master
#   mpy_lib_dir=$(mpy_lib_dir "$mpy_dir") || { echo "...: set MPY_LIB_DIR" >&2; exit 1; }

# The version of the MicroPython tree at $1, from py/mpconfig.h: MAJOR.MINOR.MICRO, with
# "-preview" for a tree between releases (what the build directories are named after).
mpy_version() {
    local header=$1/py/mpconfig.h version
    _mpy_version_part() { sed -n "s/^#define MICROPY_VERSION_$1 \([0-9]*\).*/\1/p" "$header"; }
    version="$(_mpy_version_part MAJOR).$(_mpy_version_part MINOR).$(_mpy_version_part MICRO)"
    [ "$(_mpy_version_part PRERELEASE)" = 1 ] && version="$version-preview"
    echo "$version"
}

# The absolute path of micropython-lib for the MicroPython tree at $1: MPY_LIB_DIR when set,
# else the tree's lib/micropython-lib submodule when checked out, else /opt/micropython-lib.
# Fails (status 1, prints nothing) when that directory holds no umqtt.robust to freeze.
mpy_lib_dir() {
    local dir=${MPY_LIB_DIR:-} candidate
    if [ -z "$dir" ]; then
        for candidate in "$1/lib/micropython-lib" /opt/micropython-lib; do
            if [ -f "$candidate/README.md" ]; then dir=$candidate; break; fi
        done
    fi
    [ -f "${dir:-/nonexistent}/micropython/umqtt.robust/umqtt/robust.py" ] || return 1
    (cd "$dir" && pwd)
}
