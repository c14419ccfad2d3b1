"""What sharing the store's requantisation multipliers costs: the seed networks' cycles against
``requant_passes`` (AcceleratorConfig), at 8×8 and 16×16.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/requant_passes.py``). Writes
``benchmarks/results/requant_passes.{json,md}``.

``requant_passes = G`` builds ``C / G`` requantisation multipliers (32×32 products, four DSP
blocks each on ECP5 and iCE40) and a stored row then takes ``max(beats, G)`` cycles. The seed
networks (those of ``benchmarks/layers.py``, batch 50) are compiled for each G and simulated; the
table gives cycles and the slowdown against ``G = 1``, beside the multipliers' DSP blocks.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import systolic  # noqa: E402
from benchmarks.layers import config_for, seed_models  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SIZES = (8, 16)
DSP_PER_MULTIPLIER = 4  # a 32×32 product: four 18×18 (ECP5) or 16×16 (iCE40) blocks


def passes_for(n: int) -> list[int]:
    return [g for g in (1, 2, 4, 8, 16) if g <= n]


def measure(name: str, model: Path, x: Any, n: int) -> dict[str, Any]:
    batch = x.shape[1] if name in ("rnn", "lstm", "gru") else x.shape[0]
    cycles = {}
    for g in passes_for(n):
        config = config_for(n).replace(requant_passes=g)
        program = systolic.compile(model, config, calibration=x, batch=batch)
        cycles[g] = int(systolic.run(program, x).stats["cycles"])
    return {"network": name, "array": f"{n}x{n}", "batch": batch, "cycles": cycles}


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Requantisation passes against cycles",
        "",
        f"`benchmarks/requant_passes.py` on {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}. Seed networks at batch 50, random weights; "
        "simulated cycles, and the slowdown against one pass. The store's multipliers take "
        f"{DSP_PER_MULTIPLIER} DSP blocks each.",
        "",
    ]
    for n in SIZES:
        gs = passes_for(n)
        lines += [
            f"## {n}×{n}",
            "",
            "| network | "
            + " | ".join(f"G = {g} ({n // g * DSP_PER_MULTIPLIER} DSP)" for g in gs)
            + " |",
            "|---|" + "---:|" * len(gs),
        ]
        for run in runs:
            if run["array"] != f"{n}x{n}":
                continue
            base = run["cycles"][1]
            cells = [
                f"{run['cycles'][g]:,} ({run['cycles'][g] / base - 1:+.1%})"
                if g > 1
                else f"{base:,}"
                for g in gs
            ]
            lines.append(f"| {run['network']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, x) in seed_models(Path(tmp)).items():
            for n in SIZES:
                run = measure(name, model, x, n)
                print(f"{name:5s} {run['array']:6s} {run['cycles']}", flush=True)
                runs.append(run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "requant_passes.json").write_text(json.dumps(runs, indent=1) + "\n")
    (RESULTS / "requant_passes.md").write_text(markdown(runs))
    print(f"wrote {RESULTS.relative_to(ROOT)}/requant_passes.json and requant_passes.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
