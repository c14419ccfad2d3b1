"""Running the `systolic` command line in a subprocess, and checking its one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TIMEOUT = 60  # seconds; a bad input must fail fast, never hang


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m systolic ARGS`` with its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "systolic", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=cwd,
    )


def assert_one_line_error(r: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    """Exit ``status``, and stderr is exactly one ``systolic: error:`` line containing ``text``."""
    assert r.returncode == status, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("systolic: error: ")
    assert text in lines[0]
    assert "Traceback" not in r.stderr
