"""Bounded proofs of the PE, the systolic core and the requantiser (docs/formal.md).

Each proof writes the harness's RTLIL and a ``.sby`` file into a temporary directory and runs
``yowasp-sby`` on it. The proofs are marked ``formal`` and skip, naming what is missing, when the
YoWASP tools or the solver are not installed (``make formal`` installs them). ``test_spec_*``
need no solver and are not marked: they tie the specification circuits of the harnesses to
spec/golden.py by simulation, in every ``make test``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from systolic.spec import golden
from systolic.spec.config import PRESETS, AcceleratorConfig

from .harness import (
    ArrayHarness,
    PEHarness,
    RequantHarness,
    RoundHarness,
    Schedule,
    spec_requantise,
    spec_round_sat,
)
from .sby import SbyResult, missing_tools, run_sby

PE_DEPTH = 24


def prove(
    make: Callable[[], Any],
    tmp_path: Path,
    *,
    solver: str,
    depth: int | None = None,
    mode: str = "bmc",
) -> SbyResult:
    """Build the harness (only once the tools are known to be there) and run sby on it.

    ``depth`` defaults to the harness's own ``depth``.
    """
    missing = missing_tools(solver)
    if missing:
        pytest.skip(f"formal tools not installed: {', '.join(missing)} (run `make formal`)")
    harness = make()
    depth = harness.depth if depth is None else depth
    result = run_sby(harness, tmp_path, mode=mode, depth=depth, solver=solver)
    print(f"{mode} depth {depth} {solver}: {result.status} in {result.seconds:.1f} s")
    return result


def expect(result: SbyResult, status: str) -> None:
    assert result.status == status, result.log[-4000:]


# ---- the PE ------------------------------------------------------------------------------------


@pytest.mark.formal
@pytest.mark.parametrize("solver", ["z3", "boolector"])
def test_pe(tmp_path: Path, solver: str) -> None:
    expect(prove(PEHarness, tmp_path, depth=PE_DEPTH, solver=solver), "PASS")


@pytest.mark.formal
def test_pe_with_the_multiplier_in_logic(tmp_path: Path) -> None:
    """The Booth PE (AcceleratorConfig.lut_pes) meets the same property."""
    harness = lambda: PEHarness(lut_multiply=True)  # noqa: E731
    # Depth 3: the weights start at zero, so it takes a shift (cycle 0) and a flip (cycle 1)
    # before a free weight meets a free input (cycle 2); deeper unrollings only repeat the
    # multiplier and take minutes (depth 4: 82 s, 24: 8.6 min). A product wrong for a single
    # int8 pair fails at depth 3 in 6 s.
    expect(prove(harness, tmp_path, depth=3, solver="boolector"), "PASS")


@pytest.mark.formal
def test_pe_cover(tmp_path: Path) -> None:
    expect(prove(PEHarness, tmp_path, depth=PE_DEPTH, solver="z3", mode="cover"), "PASS")


@pytest.mark.formal
def test_pe_deliberate_bug_fails(tmp_path: Path) -> None:
    """The PE property with an off-by-one must fail: the harness can catch a wrong sum."""
    result = prove(lambda: PEHarness(bug=True), tmp_path, depth=PE_DEPTH, solver="z3")
    expect(result, "FAIL")
    assert "failed assertion" in result.log
    assert (tmp_path / "top" / "engine_0" / "trace.vcd").exists()


# ---- the systolic core -------------------------------------------------------------------------

DEFAULT = (PRESETS["default"].rows, PRESETS["default"].cols)  # 8x8
# The default shape runs one schedule only (a minute each); the small ones run both.
ARRAY_CASES = [
    pytest.param(rows, cols, kind, id=f"{rows}x{cols}-{kind}")
    for rows, cols in [(2, 2), (3, 3), (2, 4), (4, 4)]
    for kind in ["two_tiles", "irregular"]
] + [
    pytest.param(
        *DEFAULT, "two_tiles", id=f"{DEFAULT[0]}x{DEFAULT[1]}-two_tiles", marks=pytest.mark.slow
    )
]


@pytest.mark.formal
@pytest.mark.parametrize(("rows", "cols", "kind"), ARRAY_CASES)
def test_array(tmp_path: Path, rows: int, cols: int, kind: str) -> None:
    config = AcceleratorConfig(rows=rows, cols=cols)
    schedule = getattr(Schedule, kind)(config)
    assert schedule.violation(config) is None
    expect(prove(lambda: ArrayHarness(config, schedule), tmp_path, solver="boolector"), "PASS")


@pytest.mark.formal
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("rows", "cols"), [(2, 2), (3, 3)], ids=["2x2", "3x3"])
def test_array_random_schedule(tmp_path: Path, rows: int, cols: int, seed: int) -> None:
    config = AcceleratorConfig(rows=rows, cols=cols)
    schedule = Schedule.random(config, seed)
    assert schedule.violation(config) is None
    expect(prove(lambda: ArrayHarness(config, schedule), tmp_path, solver="boolector"), "PASS")


@pytest.mark.formal
@pytest.mark.parametrize("kind", ["two_tiles", "irregular"])
def test_array_cover(tmp_path: Path, kind: str) -> None:
    config = AcceleratorConfig(rows=2, cols=2)
    schedule = getattr(Schedule, kind)(config)
    result = prove(
        lambda: ArrayHarness(config, schedule), tmp_path, solver="boolector", mode="cover"
    )
    expect(result, "PASS")


@pytest.mark.formal
@pytest.mark.parametrize(("rows", "cols"), [(2, 2), (3, 3)])
def test_array_protocol_violation_fails(tmp_path: Path, rows: int, cols: int) -> None:
    """A preload one cycle earlier than docs/timing.md allows corrupts a row: the rule is tight."""
    config = AcceleratorConfig(rows=rows, cols=cols)
    schedule = Schedule.two_tiles(config, gap=rows + cols - 3)
    assert schedule.violation(config) is not None
    expect(prove(lambda: ArrayHarness(config, schedule), tmp_path, solver="boolector"), "FAIL")


# ---- requantisation ----------------------------------------------------------------------------


@pytest.mark.formal
def test_requant(tmp_path: Path) -> None:
    expect(prove(RequantHarness, tmp_path, depth=1, solver="boolector"), "PASS")


@pytest.mark.formal
def test_round(tmp_path: Path) -> None:
    expect(prove(RoundHarness, tmp_path, depth=1, solver="boolector"), "PASS")


@pytest.mark.formal
@pytest.mark.parametrize("harness", [RequantHarness, RoundHarness])
def test_requant_cover(tmp_path: Path, harness: Any) -> None:
    expect(prove(harness, tmp_path, depth=1, solver="boolector", mode="cover"), "PASS")


# ---- the specifications against spec/golden.py (no solver) -------------------------------------

EDGE32 = [-(2**31), -(2**31) + 1, -(2**30), -65536, -129, -128, -2, -1, 0, 1, 2, 127, 128]
EDGE32 += [65535, 2**30, 2**31 - 1]
SHIFTS = [0, 1, 2, 7, 8, 30, 31, 32, 33, 40, 61, 62, 63]


def test_spec_requantise_matches_golden() -> None:
    rng = random.Random(8)
    vectors = [(a, mul, s) for a in EDGE32 for mul in EDGE32[::3] for s in SHIFTS[::2]]
    vectors += [
        (rng.randint(-(2**31), 2**31 - 1), rng.randint(-(2**31), 2**31 - 1), rng.randint(0, 63))
        for _ in range(1500)
    ]
    acc, mult, shift = Signal(signed(32)), Signal(signed(32)), Signal(6)
    out = Signal(signed(8))
    m = Module()
    m.d.comb += out.eq(spec_requantise(acc, mult, shift))
    got = _run_comb(m, [acc, mult, shift], out, vectors)
    a, b, s = (np.array(col, dtype=np.int64) for col in zip(*vectors, strict=True))
    assert got == golden.requantize(a, b, s).tolist()


def test_spec_round_sat_matches_golden() -> None:
    rng = random.Random(9)
    edge64 = [-(2**63), -(2**63) + 1, -(2**62), -(2**32), -1, 0, 1, 2**32, 2**62, 2**63 - 1]
    vectors = [(v, s) for v in edge64 + EDGE32 for s in SHIFTS]
    vectors += [(rng.randint(-(2**63), 2**63 - 1), rng.randint(0, 63)) for _ in range(1500)]
    prod, shift = Signal(signed(64)), Signal(6)
    out = Signal(signed(8))
    m = Module()
    m.d.comb += out.eq(spec_round_sat(prod, shift))
    got = _run_comb(m, [prod, shift], out, vectors)
    v, s = (np.array(col, dtype=np.int64) for col in zip(*vectors, strict=True))
    assert got == golden.sat8(golden.round_shift(v, s)).tolist()


def _run_comb(
    m: Module, inputs: list[Signal], output: Signal, vectors: list[tuple[int, ...]]
) -> list[int]:
    results: list[int] = []

    async def bench(ctx: Any) -> None:
        for vec in vectors:
            for sig, val in zip(inputs, vec, strict=True):
                ctx.set(sig, val)
            results.append(ctx.get(output))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return results
