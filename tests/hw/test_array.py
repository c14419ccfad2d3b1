"""PE, skew and the systolic core under Amaranth's simulator, against NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.sim import Simulator

from systolic.hw.array import SystolicCore
from systolic.hw.pe import PE
from systolic.hw.skew import Skew
from systolic.spec.config import AcceleratorConfig

SHAPES = [(4, 4), (3, 5), (5, 2)]


def run(dut: Any, bench: Any) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_pe_mac_and_flip() -> None:
    dut = PE()

    async def bench(ctx: Any) -> None:
        ctx.set(dut.w_in, -7)
        ctx.set(dut.w_shift, 1)
        await ctx.tick()
        ctx.set(dut.w_shift, 0)
        assert ctx.get(dut.w_out) == -7
        # The flip cycle already multiplies by the shadow weight.
        ctx.set(dut.a_in, 3)
        ctx.set(dut.psum_in, 100)
        ctx.set(dut.flip_in, 1)
        await ctx.tick()
        assert ctx.get(dut.psum_out) == 100 - 21
        assert ctx.get(dut.a_out) == 3
        assert ctx.get(dut.flip_out) == 1
        # The shadow can change now without touching the active weight.
        ctx.set(dut.flip_in, 0)
        ctx.set(dut.w_in, 5)
        ctx.set(dut.w_shift, 1)
        ctx.set(dut.a_in, -128)
        ctx.set(dut.psum_in, -(2**31))
        await ctx.tick()
        # Wraps like a 32-bit accumulator: -2^31 + 896 stays in range here.
        assert ctx.get(dut.psum_out) == -(2**31) + 896

    run(dut, bench)


@pytest.mark.parametrize("reverse", [False, True])
def test_skew_delays(reverse: bool) -> None:
    dut = Skew(shape=8, lanes=4, reverse=reverse)

    async def bench(ctx: Any) -> None:
        seen: list[list[int]] = []
        for t in range(8):
            ctx.set(dut.i, [t + 1 if t < 1 else 0] * 4)
            seen.append(list(ctx.get(dut.o)))
            await ctx.tick()
        for lane in range(4):
            column = [row[lane] for row in seen]
            assert column.index(1) == dut.delay(lane)

    run(dut, bench)


def _preload(ctx: Any, dut: SystolicCore, w: np.ndarray) -> list[list[int]]:
    """The rows to shift in, bottom PE row first, so that PE row i holds w[i]."""
    return [list(map(int, w[i])) for i in reversed(range(w.shape[0]))]


@pytest.mark.parametrize(
    ("rows", "cols", "lut_pes"), [(r, c, 0) for r, c in SHAPES] + [(3, 5, 7), (4, 4, 16)]
)
def test_core_matmul_with_double_buffered_weights(rows: int, cols: int, lut_pes: int) -> None:
    """Tile 2 shifts in while tile 1 streams; the swap wavefront keeps every row exact (also
    with some or all PEs multiplying in logic: the DSP budget changes nothing visible)."""
    config = AcceleratorConfig(rows=rows, cols=cols, lut_pes=lut_pes)
    dut = SystolicCore(config)
    rng = np.random.default_rng(rows * 10 + cols)
    w1, w2 = (rng.integers(-128, 128, (rows, cols)) for _ in range(2))
    n = rows + cols - 1  # the shortest tile that lets the next preload start right after it
    x1, x2 = (rng.integers(-128, 128, (n, rows)) for _ in range(2))
    lat = dut.latency

    async def bench(ctx: Any) -> None:
        outputs: list[list[int]] = []
        schedule: dict[int, dict[str, Any]] = {}
        t = 0
        for row in _preload(ctx, dut, w1):
            schedule[t] = {"w": row}
            t += 1
        start1 = t
        for m in range(n):
            schedule.setdefault(start1 + m, {})["x"] = (list(map(int, x1[m])), m == 0)
        # Shifting may begin in the cycle the swap wavefront reaches the last PE.
        shift2 = start1 + rows + cols - 2
        for k, row in enumerate(_preload(ctx, dut, w2)):
            schedule.setdefault(shift2 + k, {})["w"] = row
        start2 = max(start1 + n, shift2 + rows)
        for m in range(n):
            schedule.setdefault(start2 + m, {})["x"] = (list(map(int, x2[m])), m == 0)
        end = start2 + n + lat + 2
        for cycle in range(end):
            step = schedule.get(cycle, {})
            ctx.set(dut.w_shift, "w" in step)
            ctx.set(dut.w_row, step.get("w", [0] * cols))
            x, flip = step.get("x", ([0] * rows, False))
            ctx.set(dut.in_row, x)
            ctx.set(dut.in_valid, "x" in step)
            ctx.set(dut.in_flip, flip)
            if ctx.get(dut.out_valid):
                outputs.append([int(v) for v in ctx.get(dut.out_row)])
                if len(outputs) == 1:
                    assert cycle == start1 + lat
            await ctx.tick()
        got = np.array(outputs)
        want = np.concatenate([x1 @ w1, x2 @ w2])
        np.testing.assert_array_equal(got, want)

    run(dut, bench)


def test_core_preload_one_cycle_early_corrupts_last_pe() -> None:
    """The timing rule is tight: shifting one cycle before the wavefront passes is wrong."""
    config = AcceleratorConfig(rows=3, cols=3)
    dut = SystolicCore(config)
    w1 = np.arange(9).reshape(3, 3) + 1
    w2 = -np.ones((3, 3), dtype=int)
    x = np.ones((1, 3), dtype=int)

    async def bench(ctx: Any) -> None:
        for row in _preload(ctx, dut, w1):
            ctx.set(dut.w_shift, 1)
            ctx.set(dut.w_row, row)
            await ctx.tick()
        ctx.set(dut.w_shift, 0)
        ctx.set(dut.in_row, list(map(int, x[0])))
        ctx.set(dut.in_valid, 1)
        ctx.set(dut.in_flip, 1)
        out = None
        for cycle in range(12):
            if cycle == 1:
                ctx.set(dut.in_valid, 0)
                ctx.set(dut.in_flip, 0)
                ctx.set(dut.in_row, [0, 0, 0])
            early = 3 <= cycle <= 5  # rows + cols - 2 = 4 is the first legal cycle
            ctx.set(dut.w_shift, early)
            ctx.set(dut.w_row, list(map(int, w2[0])) if early else [0, 0, 0])
            if ctx.get(dut.out_valid):
                out = [int(v) for v in ctx.get(dut.out_row)]
            await ctx.tick()
        assert out is not None
        assert out[:2] == list((x @ w1)[0][:2])
        assert out[2] != (x @ w1)[0][2]

    run(dut, bench)


def _products(a_shape: Any, w_shape: Any) -> tuple[list[int], list[int]]:
    """shift_add_product over every pair of values of two shapes, and the true products."""
    from amaranth.hdl import Module, Shape, Signal

    from systolic.hw.pe import shift_add_product

    a, w = Signal(a_shape), Signal(w_shape)
    expr = shift_add_product(a, w)
    y = Signal(expr.shape())  # the full width: a truncated product would hide wrong high bits
    m = Module()
    m.d.comb += y.eq(expr)

    def values(shape: Any) -> range:
        s = Shape.cast(shape)
        return range(-(2 ** (s.width - 1)), 2 ** (s.width - 1)) if s.signed else range(2**s.width)

    got: list[int] = []
    want: list[int] = []

    async def bench(ctx: Any) -> None:
        for x in values(a_shape):
            ctx.set(a, x)
            for v in values(w_shape):
                ctx.set(w, v)
                got.append(ctx.get(y))
                want.append(x * v)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got, want


def test_shift_add_product_is_the_product_for_every_int8_pair() -> None:
    got, want = _products(signed(8), signed(8))
    assert len(got) == 65_536
    assert got == want


@pytest.mark.parametrize(
    ("a_shape", "w_shape"),
    [(signed(4), signed(5)), (signed(4), signed(3)), (unsigned(6), unsigned(4)), (signed(3), 1)],
    ids=["odd-weight", "short-odd-weight", "unsigned", "one-bit"],
)
def test_shift_add_product_for_other_shapes(a_shape: Any, w_shape: Any) -> None:
    got, want = _products(a_shape, w_shape)
    assert got == want
