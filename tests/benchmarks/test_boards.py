"""benchmarks/boards.py: recording builds made with `systolic build`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import boards


def _report(board: str, rows: int, mhz: float, **fields: Any) -> dict[str, Any]:
    return {"board": board, "config": {"rows": rows, "cols": rows}, "target_mhz": mhz, **fields}


def test_recorded_builds_say_what_happened(tmp_path: Path) -> None:
    cases = {
        "ok": _report("ulx3s-85f", 8, 25.0, fmax_mhz=43.5, fits=True, bitstream="top.bit"),
        "slow": _report("ulx3s-85f", 8, 50.0, fmax_mhz=43.5, fits=True, meets_timing=False),
        "big": _report("icebreaker", 2, 17.0, fits=False),
    }
    for name, report in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(report))
    assert boards.recorded(tmp_path / "ok")["error"] is None
    assert boards.recorded(tmp_path / "slow")["error"] == "reaches 43.5 MHz, below 50.0 MHz"
    assert boards.recorded(tmp_path / "big")["error"] == "does not fit"
    with pytest.raises(SystemExit, match="does not exist"):
        boards.recorded(tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "report.json").write_text("{not json")
    with pytest.raises(SystemExit, match="is not a `systolic build` report"):
        boards.recorded(tmp_path / "junk")


def test_a_recorded_array_replaces_every_older_build_of_it() -> None:
    old = [
        _report("ulx3s-85f", 8, 25.0, fmax_mhz=30.6),
        _report("ulx3s-85f", 8, 40.0, fmax_mhz=38.6),
        _report("icebreaker", 1, 17.0, fmax_mhz=19.2),
    ]
    new = [_report("ulx3s-85f", 8, 50.0, fmax_mhz=43.5)]
    merged = boards.merge(old, new)
    assert [(r["board"], r["target_mhz"]) for r in merged] == [
        ("icebreaker", 17.0),
        ("ulx3s-85f", 50.0),
    ]
