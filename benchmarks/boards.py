"""Board builds: resources, Fmax and peak GOPS per board (``make boards``).

Each row is a real Yosys + nextpnr run (YoWASP wheels) of the whole SoC. A build that does not
fit or misses its clock is recorded with its numbers, not dropped. Results go to
benchmarks/results/boards.json and boards.md.

Usage: python benchmarks/boards.py [--only BOARD] [--out DIR]
       python benchmarks/boards.py --record BUILD_DIR [BUILD_DIR ...]

``--record`` adds builds made by hand with ``systolic build`` (their report.json) instead of
running the list below. They replace every earlier row of the same board and array size, so
the table does not mix builds of an older design with newer ones.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

from systolic.boards.build import BuildError, build_board
from systolic.boards.targets import TARGETS
from systolic.spec.config import PRESETS

RESULTS = Path(__file__).resolve().parent / "results"

# (board, preset (None: the board's own), overrides, clock MHz or None for the target's
# default clock, BoardTarget.soc_hz, instruction memory depth or None for the target's)
RUNS: list[tuple[str, str | None, dict[str, int], float | None, int | None]] = [
    ("ulx3s-85f", None, {}, None, None),  # the 8x8 at the board's 25 MHz
    ("ulx3s-85f", None, {}, 50.0, None),  # session 8: a bitstream at 50 MHz
    ("ulx3s-85f", None, {}, 100.0, None),  # the goal: misses it
    # The largest array; about 50 minutes. Its programs are shorter (the seed MLP: 1,750
    # instructions), and the block RAM that 8192 would take is better left to the router.
    ("ulx3s-85f", "ulx3s-85f-16x16", {}, None, 2048),
    ("icebreaker", None, {}, None, None),  # the lean 1x1 at the target's 20 MHz
    ("icebreaker", None, {}, 24.0, None),  # the goal
    # DSPs fit with shared requantisation and 3 PEs in logic; block RAM and logic do not.
    ("icebreaker", None, {"rows": 2, "cols": 2, "requant_passes": 2, "lut_pes": 3}, None, None),
]


def one(
    board: str,
    preset: str | None,
    changes: dict[str, int],
    mhz: float | None,
    imem_depth: int | None,
    out: Path,
) -> dict[str, Any]:
    target = TARGETS[board]
    config = (PRESETS[preset] if preset else target.config).replace(**changes)
    clk = round(mhz * 1e6) if mhz else None
    tag = f"{board}-{config.rows}x{config.cols}-{mhz or 'default'}"
    try:
        report = build_board(
            target,
            config,
            out=out / tag,
            clk_hz=clk,
            imem_depth=imem_depth,
            progress=lambda s: print(f"  {tag}: {s}"),
        )
        report["error"] = None
    except BuildError as e:
        if not (out / tag / "report.json").exists():
            raise  # the tools are missing: nothing was measured
        report = json.loads((out / tag / "report.json").read_text())
        report["error"] = str(e)
    return report


def recorded(build_dir: Path) -> dict[str, Any]:
    """The report.json of a ``systolic build`` run, with ``error`` as :func:`one` sets it."""
    path = build_dir / "report.json"
    if not path.exists():
        raise SystemExit(f"boards: {path} does not exist (not a `systolic build` directory)")
    try:
        report: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SystemExit(f"boards: {path} is not a `systolic build` report ({e})") from None
    missing = [k for k in ("board", "config", "target_mhz") if k not in report]
    if missing:
        raise SystemExit(f"boards: {path} is not a `systolic build` report (no {missing[0]})")
    if report.get("bitstream"):
        report["error"] = None
    elif report.get("fits") is False:
        report["error"] = "does not fit"
    else:
        report["error"] = f"reaches {report.get('fmax_mhz')} MHz, below {report['target_mhz']} MHz"
    return report


def _array(row: dict[str, Any]) -> tuple[str, int, int]:
    return row["board"], row["config"]["rows"], row["config"]["cols"]


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` without the rows of any board and array size in ``new``, then ``new``."""
    arrays = {_array(r) for r in new}
    return [r for r in old if _array(r) not in arrays] + new


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| board | array | instructions | clock asked | Fmax | LUT | FF | DSP | BRAM | peak GOPS "
        "| result | critical path |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cfg = r["config"]

        def use(k: str, r: dict[str, Any] = r) -> str:
            return f"{r[k]['used']}/{r[k]['capacity']}" if k in r else "–"

        if r["error"] is None:
            result = "bitstream"
        elif r["fits"] is False:
            result = "does not fit"
        else:
            result = "misses clock"
        fmax = f"{r['fmax_mhz']} MHz" if r.get("fmax_mhz") else "–"
        gops = r.get("peak_gops", "–") if r["error"] is None else "–"
        path = r.get("critical_path")
        limit = f"{path['from']} → {path['to']}, {path['ns']} ns" if path else "–"
        lines.append(
            f"| {r['board']} | {cfg['rows']}×{cfg['cols']} | {r.get('imem_depth', '–')} "
            f"| {r['target_mhz']:g} MHz | {fmax} "
            f"| {use('lut')} | {use('ff')} | {use('dsp')} | {use('bram')} | {gops} | {result} "
            f"| {limit} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--only", choices=tuple(TARGETS), help="build one board only")
    what.add_argument(
        "--record",
        type=Path,
        nargs="+",
        metavar="BUILD_DIR",
        help="record these `systolic build` directories instead of building",
    )
    ap.add_argument("--out", type=Path, default=Path("build/boards"), help="build directories")
    args = ap.parse_args()
    rows = []
    if args.record:
        done = RESULTS / "boards.json"
        old = json.loads(done.read_text())["builds"] if done.exists() else []
        rows = merge(old, [recorded(d) for d in args.record])
    for board, preset, changes, mhz, imem_depth in [] if args.record else RUNS:
        if args.only and board != args.only:
            continue
        print(f"{board} {preset or 'preset'} {changes} at {mhz or 'the default'} MHz", flush=True)
        rows.append(one(board, preset, changes, mhz, imem_depth, args.out))
    RESULTS.mkdir(exist_ok=True)
    if args.only and (RESULTS / "boards.json").exists():  # keep the other boards' builds
        old = json.loads((RESULTS / "boards.json").read_text())["builds"]
        rows = [r for r in old if r["board"] != args.only] + rows
    meta = {"machine": f"{platform.node()} ({platform.machine()}), Python {sys.version.split()[0]}"}
    (RESULTS / "boards.json").write_text(json.dumps({**meta, "builds": rows}, indent=2) + "\n")
    (RESULTS / "boards.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
