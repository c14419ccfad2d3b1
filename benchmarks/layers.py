"""Per-layer cycles and utilisation against their limits, at 8×8, 16×16 and 32×32.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/layers.py``). Writes
``benchmarks/results/layers.json`` and ``layers.md``.

For the five seed networks (the shapes of ``make demo`` with He-initialised random weights, at
batch 50) and a ResNet-18 (``benchmarks/resnet18.py``, 224×224, batch 1), compiled for square
arrays of 8, 16 and 32, every layer of one simulated run is set beside three limits
(:func:`systolic.report.layer_table`):

- the MAC bound, MACs / (R·C): every PE busy every cycle;
- the mapping bound: the compiler's own execute instructions issued back to back with nothing
  waiting for data (preload, fill and drain included; :func:`systolic.report.execute_alone`);
- the memory bound: the larger of the layer's external-memory bytes read and written / bus
  width (loads and stores have a bus master each).

The figure is the gap: ``limit`` = max(mapping bound, memory bound) / cycles, the fraction of
the binding limit the schedule reaches, and which limit binds. Cycles do not depend on the
weight values, so random weights measure the same schedule as trained ones.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import train_cnn  # noqa: E402
import train_rnn  # noqa: E402
from demo import export_onnx as export_mlp  # noqa: E402

import systolic  # noqa: E402
from benchmarks.resnet18 import images, resnet18_onnx  # noqa: E402
from systolic.report import layer_table  # noqa: E402
from systolic.spec.config import PRESETS, AcceleratorConfig  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SIZES = (8, 16, 32)
BATCH = 50


def config_for(n: int) -> AcceleratorConfig:
    """A square array of ``n``: ``default`` at 8, ``large`` at 16, ``large`` widened at 32."""
    if n == 8:
        return PRESETS["default"]
    base = PRESETS["large"].to_dict()
    return AcceleratorConfig(**{**base, "rows": n, "cols": n, "bus_bytes": max(16, n)})


def seed_models(tmp: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """The demo's five networks with random weights, and a calibration/input batch each."""
    rng = np.random.default_rng(0)
    out = {}
    layers = [(784, 128), (128, 64), (64, 10)]
    clf = SimpleNamespace(  # what export_mlp reads of a fitted MLPClassifier
        coefs_=[rng.normal(0, 1 / np.sqrt(i), (i, o)) for i, o in layers],
        intercepts_=[np.zeros(o) for _, o in layers],
    )
    export_mlp(clf, tmp / "mlp.onnx")
    out["mlp"] = (tmp / "mlp.onnx", rng.random((BATCH, 784)))
    train_cnn.export_onnx(train_cnn.init(rng), tmp / "cnn.onnx")
    out["cnn"] = (tmp / "cnn.onnx", rng.random((BATCH, 1, 28, 28)))
    for cell in ("rnn", "lstm", "gru"):
        weights = train_rnn.init(cell, 28, 64, 10, rng)
        train_rnn.export_onnx(cell, weights, tmp / f"{cell}.onnx")
        out[cell] = (tmp / f"{cell}.onnx", rng.random((28, BATCH, 28)))
    return out


def measure(name: str, model: Path | onnx.ModelProto, x: np.ndarray, n: int) -> dict[str, Any]:
    config = config_for(n)
    batch = x.shape[1] if name in ("rnn", "lstm", "gru") else x.shape[0]
    t0 = time.perf_counter()
    program = systolic.compile(model, config, calibration=x, batch=batch)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows, result = layer_table(program, x)
    sim_s = time.perf_counter() - t0
    for r in rows:
        limit = max(r["execute_cycles"], r["memory_bound"])
        r["limit_fraction"] = limit / r["cycles"]
        r["binds"] = "mapping" if r["execute_cycles"] >= r["memory_bound"] else "memory"
    peak = config.peak_macs_per_cycle
    macs = sum(r["macs"] for r in rows)
    return {
        "network": name,
        "array": f"{n}x{n}",
        "batch": batch,
        "cycles": result.cycles,
        "macs": macs,
        "utilization": macs / (peak * result.cycles),
        "compile_s": round(compile_s, 2),
        "sim_s": round(sim_s, 2),
        "layers": rows,
    }


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Per-layer cycles against their limits",
        "",
        f"`benchmarks/layers.py` on {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}. Seed networks at batch {BATCH}, ResNet-18 (224×224) at "
        "batch 1; random weights. MAC bound = MACs / (R·C); mapping bound = the compiled "
        "execute instructions back to back (fill and drain included); memory bound = "
        "max(bytes read, bytes written) / bus width; of limit = max(mapping, memory) / "
        "cycles. A layer is credited the cycles from the previous layer's end to its own, so "
        "one whose loads start early (the 1×1 downsample convolutions) can exceed 100 %.",
        "",
        "Arrays: "
        + "; ".join(
            f"{n}×{n} with {c.bus_bytes} B/cycle bus, memory latency {c.mem_latency}, "
            f"{c.sp_depth} scratchpad rows, {c.acc_depth} accumulator rows"
            for n, c in ((n, config_for(n)) for n in SIZES)
        )
        + ".",
        "",
        "## Whole networks",
        "",
        "| network | array | cycles | MACs | utilisation |",
        "|---|---|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run['network']} | {run['array']} | {run['cycles']:,} | {run['macs']:,} | "
            f"{run['utilization']:.1%} |"
        )
    lines += [
        "",
        "## Layers",
        "",
        "| network | array | layer | cycles | utilisation | MAC bound | mapping bound | "
        "memory bound | binds | of limit |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        for r in run["layers"]:
            lines.append(
                f"| {run['network']} | {run['array']} | {r['layer']} | {r['cycles']:,} | "
                f"{r['utilization']:.1%} | {r['compute_bound']:,.0f} | "
                f"{r['execute_cycles']:,} | {r['memory_bound']:,.0f} | {r['binds']} | "
                f"{r['limit_fraction']:.0%} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    import tempfile

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[str, tuple[Any, np.ndarray]] = dict(seed_models(Path(tmp)))
        models["resnet18"] = (resnet18_onnx(), images(1, seed=2))
        for name, (model, x) in models.items():
            for n in SIZES:
                run = measure(name, model, x, n)
                print(
                    f"{name:9s} {run['array']:6s} {run['cycles']:>11,} cycles "
                    f"utilisation {run['utilization']:6.1%}  compile {run['compile_s']:5.1f} s "
                    f"sim {run['sim_s']:5.1f} s",
                    flush=True,
                )
                runs.append(run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "layers.json").write_text(json.dumps(runs, indent=1) + "\n")
    (RESULTS / "layers.md").write_text(markdown(runs))
    print(f"wrote {RESULTS.relative_to(ROOT)}/layers.json and layers.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
