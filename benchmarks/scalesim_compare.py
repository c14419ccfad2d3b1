"""The same convolution layers through SCALE-Sim and through our simulator, side by side.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/scalesim_compare.py``). Writes
``benchmarks/results/scalesim.json`` and ``scalesim.md``.

SCALE-Sim (PyPI ``scalesim`` 3.0.0) is installed only in its own environment,
``build/scalesim-venv``, created on the first run: it needs NumPy < 2 (with NumPy 2 its read
buffer fails in ``int(max(...))``), a layout file even when custom layouts are off, and its
``get_total_cycles`` is broken, so the cycles are read from its ``COMPUTE_REPORT.csv``.

Both run a 16×16 weight-stationary array with a 16-byte (16 int8 words) per cycle interface.
SCALE-Sim's ifmap and filter SRAMs each get half of the preset's scratchpad and its ofmap
SRAM the accumulator (64, 64 and 128 KB for ``large``). SCALE-Sim computes timing only; ours runs
the int8 values too (one compiled Conv + ReLU per layer, batch 1, checked against the golden
model). Wall times are per layer in the same run.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import systolic  # noqa: E402
from systolic.spec.config import PRESETS, AcceleratorConfig  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
VENV = ROOT / "build" / "scalesim-venv"
SCALESIM = ("scalesim==3.0.0", "numpy<2")
# name, input size (H = W), kernel, in channels, out channels, stride, pad
LAYERS = (
    ("resnet18 conv1", 224, 7, 3, 64, 2, 3),
    ("resnet18 layer1 3x3", 56, 3, 64, 64, 1, 1),
    ("resnet18 layer3 3x3", 14, 3, 256, 256, 1, 1),
    ("seed cnn conv2", 13, 3, 32, 64, 1, 0),
)

RUNNER = r"""
import json, sys, time
from pathlib import Path
from scalesim.scale_sim import scalesim
work = Path(sys.argv[1])
t = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=str(work / "s.cfg"),
               topology=str(work / "t.csv"), layout=str(work / "l.csv"))
sim.run_scale(top_path=str(work / "out"))
wall = time.perf_counter() - t
row = (work / "out" / "systolic" / "COMPUTE_REPORT.csv").read_text().splitlines()[1].split(",")
print(json.dumps({"cycles": int(row[2]), "stall_cycles": int(row[3]), "wall_s": wall}))
"""

CONFIG = """[general]
run_name = systolic

[architecture_presets]
ArrayHeight : {n}
ArrayWidth : {n}
IfmapSramSzkB : {half_sp_kb}
FilterSramSzkB : {half_sp_kb}
OfmapSramSzkB : {acc_kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Dataflow : ws
Bandwidth : {bw}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : 10
IfmapSRAMBankNum : 10
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : 10
FilterSRAMBankNum : 10
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : USER
UseRamulatorTrace : False
"""


def scalesim_python() -> Path:
    """The benchmark environment's interpreter, created with SCALE-Sim on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *SCALESIM],
            check=True,
        )
    return python


def run_scalesim(python: Path, layer: tuple[Any, ...], config: AcceleratorConfig) -> dict[str, Any]:
    _, size, k, cin, cout, stride, pad = layer
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "s.cfg").write_text(
            CONFIG.format(
                n=config.rows,
                bw=config.bus_bytes,
                half_sp_kb=config.sp_bytes // 2048,
                acc_kb=config.acc_bytes // 1024,
            )
        )
        padded = size + 2 * pad  # SCALE-Sim takes the padded input
        (work / "t.csv").write_text(
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            f"Num Filter, Strides,\nconv, {padded}, {padded}, {k}, {k}, {cin}, {cout}, "
            f"{stride},\n"
        )
        (work / "l.csv").write_text(
            "Layer name," + ",".join(["order"] * 20) + ",\n"
            "conv, 1,1,1,1,1,1, 0,1,2, 0,1,2, 0,1,2,3, 0,1,2,3,\n"
        )
        out = subprocess.run(
            [str(python), "-c", RUNNER, str(work)], check=True, capture_output=True, text=True
        )
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def conv_model(layer: tuple[Any, ...], rng: np.random.Generator) -> onnx.ModelProto:
    _, size, k, cin, cout, stride, pad = layer
    w = rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
    b = rng.normal(0, 0.05, cout).astype(np.float32)
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "w", "b"],
            ["c"],
            kernel_shape=[k, k],
            strides=[stride] * 2,
            pads=[pad] * 4,
        ),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    out = (size + 2 * pad - k) // stride + 1
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, out, out])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run_ours(layer: tuple[Any, ...], rng: np.random.Generator) -> dict[str, Any]:
    config = PRESETS["large"]
    x = rng.normal(0, 1, (1, layer[3], layer[1], layer[1])).astype(np.float32)
    program = systolic.compile(conv_model(layer, rng), config, calibration=x)
    t = time.perf_counter()
    sim = systolic.run(program, x, backend="sim")
    wall = time.perf_counter() - t
    gold = systolic.run(program, x, backend="golden")
    macs = int(sim.stats["counters"]["macs"])
    return {
        "cycles": int(sim.stats["cycles"]),
        "macs": macs,
        "utilization": macs / (config.peak_macs_per_cycle * int(sim.stats["cycles"])),
        "wall_s": wall,
        "golden_equal": bool(np.array_equal(sim.raw["y"], gold.raw["y"])),
    }


def main() -> int:
    python = scalesim_python()
    config = PRESETS["large"]
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        ours = run_ours(layer, rng)
        theirs = run_scalesim(python, layer, config)
        rows.append({"layer": layer[0], "shape": list(layer[1:]), "ours": ours, "scalesim": theirs})
        print(
            f"{layer[0]:22s} ours {ours['cycles']:>9,} cycles {ours['wall_s']:6.2f} s   "
            f"SCALE-Sim {theirs['cycles']:>9,} cycles {theirs['wall_s']:6.1f} s",
            flush=True,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scalesim.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# The same layers through SCALE-Sim 3.0.0 and systolic's simulator",
        "",
        f"`benchmarks/scalesim_compare.py` on {platform.machine()}, Python "
        f"{platform.python_version()}. 16×16 weight-stationary, 16 bytes per cycle; batch 1. "
        "Ours computes the int8 values as well (equal to the golden model: see the last "
        "column); SCALE-Sim computes timing only.",
        "",
        "| layer (H, k, Cin, Cout, stride, pad) | our cycles | SCALE-Sim cycles (stalls) | "
        "our wall s | SCALE-Sim wall s | speed ratio | = golden |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        o, s = r["ours"], r["scalesim"]
        lines.append(
            f"| {r['layer']} {tuple(r['shape'])} | {o['cycles']:,} | {s['cycles']:,} "
            f"({s['stall_cycles']:,}) | {o['wall_s']:.2f} | {s['wall_s']:.1f} | "
            f"{s['wall_s'] / o['wall_s']:.0f}× | {o['golden_equal']} |"
        )
    (RESULTS / "scalesim.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}/scalesim.json and scalesim.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
