"""`systolic verilog`: the generated Verilog passes Verilator's lint and Icarus' compiler."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from systolic.sim.rtl import VERILATOR_ARGS


@pytest.mark.parametrize("args", [["--preset", "tiny"], ["--rows", "3", "--cols", "5"]])
def test_verilog_lints_and_compiles(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "top.v"
    r = subprocess.run(
        [sys.executable, "-m", "systolic", "verilog", *args, "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "module systolic_top(" in text
    assert "toplevel: systolic_top" in out.with_suffix(".core").read_text()
    verilator = shutil.which("verilator")
    assert verilator, "make setup links verilator into .venv/bin"
    lint = subprocess.run(
        [verilator, "--lint-only", *VERILATOR_ARGS, "--top-module", "systolic_top", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stderr[-2000:]
    assert "%Error" not in lint.stderr
    iverilog = shutil.which("iverilog")
    assert iverilog, "make setup installs Icarus Verilog"
    comp = subprocess.run(
        [iverilog, "-g2012", "-o", str(tmp_path / "a.vvp"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert comp.returncode == 0, comp.stderr[-2000:]
