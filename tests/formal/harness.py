"""Formal harnesses: the RTL under test, driven by free inputs, checked against a specification.

Every input port of a harness is left unconstrained by the proof (a fresh value in every cycle,
"any-seq"), and so is the ``sync`` domain's ``rst`` unless a harness ``Assume``s it low. The
array's control inputs follow a fixed schedule instead (see :class:`ArrayHarness`). Properties
are ``Assert`` in the comb domain, checked in every cycle of the bounded window; ``Cover`` shows
that the interesting cases are reachable within it (a bounded proof whose checks can never fire
would otherwise pass vacuously).

The specifications are written independently of the RTL's structure: the PE and the array are
compared with a reference model of the weight registers plus exact (unwrapped) arithmetic, the
requantiser with the addition form of ``round_shift`` from docs/quantisation.md.
"""

import random
from dataclasses import dataclass

from amaranth.hdl import (
    Assert,
    Assume,
    Cat,
    Const,
    Cover,
    Module,
    Mux,
    ResetSignal,
    Signal,
    Value,
    signed,
)
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from systolic.hw.array import SystolicCore
from systolic.hw.pe import PE
from systolic.hw.requant import RequantMultiply, RequantRound
from systolic.spec.config import AcceleratorConfig

__all__ = [
    "ArrayHarness",
    "PEHarness",
    "RequantHarness",
    "RoundHarness",
    "Schedule",
    "spec_requantise",
    "spec_round_sat",
]

I8 = signed(8)
I32 = signed(32)


class PEHarness(wiring.Component):
    """One :class:`~systolic.hw.pe.PE` against the behaviour documented in hw/pe.py.

    Reference model: ``shadow`` takes ``w_in`` in every cycle with ``w_shift``; in a cycle with
    ``flip_in`` the product uses ``shadow`` and ``active`` takes it, otherwise the product uses
    ``active``. Both start at (and reset to) 0, like every register after ``rst``. Checked in every
    cycle, for any input sequence including resets:

    * ``psum_out ≡ psum_in + a_in · weight`` of the previous cycle, modulo 2^32 (int32 wrap; the
      sum is formed exactly and only compared modulo 2^32);
    * ``w_out`` is the shadow weight; ``a_out`` and ``flip_out`` are ``a_in`` and ``flip_in``
      delayed by one cycle.

    ``bug=True`` checks ``psum_out ≡ psum_in + a_in · weight + 1`` instead, which must fail.
    """

    a_in: In(I8)
    flip_in: In(1)
    psum_in: In(I32)
    w_in: In(I8)
    w_shift: In(1)

    def __init__(self, *, bug: bool = False, lut_multiply: bool = False) -> None:
        self.bug = bug
        self.lut_multiply = lut_multiply  # the PE variant of AcceleratorConfig.lut_pes
        super().__init__()

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.pe = pe = PE(lut_multiply=self.lut_multiply)
        m.d.comb += [
            pe.a_in.eq(self.a_in),
            pe.flip_in.eq(self.flip_in),
            pe.psum_in.eq(self.psum_in),
            pe.w_in.eq(self.w_in),
            pe.w_shift.eq(self.w_shift),
        ]

        ref_shadow = Signal(I8)
        ref_active = Signal(I8)
        with m.If(self.w_shift):
            m.d.sync += ref_shadow.eq(self.w_in)
        with m.If(self.flip_in):
            m.d.sync += ref_active.eq(ref_shadow)
        weight = Mux(self.flip_in, ref_shadow, ref_active)

        # The exact sum: |psum_in + a·w| < 2^31 + 2^14, so 34 signed bits never wrap. Like the
        # PE's operand and sum registers, these take no reset (a reset cycle leaves both as
        # they were); the weights and flip are reset on both sides.
        exact = Signal(signed(34), reset_less=True)
        prev_a = Signal(I8, reset_less=True)
        prev_flip = Signal()
        m.d.sync += [
            exact.eq(self.psum_in + self.a_in * weight + (1 if self.bug else 0)),
            prev_a.eq(self.a_in),
            prev_flip.eq(self.flip_in),
        ]
        m.d.comb += [
            Assert(
                (pe.psum_out - exact)[:32] == 0, "psum_out = psum_in + a_in * weight (mod 2^32)"
            ),
            Assert(pe.w_out == ref_shadow, "w_out is the shadow weight"),
            Assert(pe.a_out == prev_a, "a_out is a_in delayed"),
            Assert(pe.flip_out == prev_flip, "flip_out is flip_in delayed"),
        ]
        # Reachability: a product with a flipped-in weight, and one that wraps.
        m.d.comb += [
            Cover(prev_flip & (pe.psum_out != 0) & (ref_active != 0), "flip product"),
            Cover((exact >= 2**31) & (pe.psum_out < 0), "wrap"),
        ]
        return m


def _tile(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(data.ArrayLayout(I8, config.cols), config.rows)


@dataclass(frozen=True)
class Schedule:
    """When the array's control inputs are high: ``w_shift`` in ``shifts``, ``in_flip`` in
    ``flips`` (cycles counted from the start of the proof)."""

    shifts: tuple[int, ...]
    flips: tuple[int, ...]

    def violation(self, config: AcceleratorConfig) -> str | None:
        """Which rule of docs/timing.md the schedule breaks, if any.

        A ``preload`` may only start once the ``swap`` wavefront has passed every PE: seen from
        the core, no ``w_shift`` in cycles ``t … t + R + C − 3`` after a flip in cycle ``t``.
        """
        last = config.rows + config.cols - 3
        for f in self.flips:
            for s in self.shifts:
                if f <= s <= f + last:
                    return f"w_shift in cycle {s}, within {s - f} cycles of the flip in cycle {f}"
        return None

    @property
    def horizon(self) -> int:
        """The first cycle after the last scheduled event."""
        return max((*self.shifts, *self.flips), default=-1) + 1

    @staticmethod
    def two_tiles(config: AcceleratorConfig, *, gap: int | None = None) -> "Schedule":
        """Preload a tile, swap it in, preload the next one while rows stream, swap again.

        Back to back with the shortest legal ``gap`` between the first flip and the second
        preload (``R + C − 2``) unless given; one shorter breaks the protocol.
        """
        rows = config.rows
        gap = rows + config.cols - 2 if gap is None else gap
        first = range(rows)
        flip1 = rows
        second = range(flip1 + gap, flip1 + gap + rows)
        flip2 = second[-1] + 1
        return Schedule((*first, *second), (flip1, flip2))

    @staticmethod
    def irregular(config: AcceleratorConfig) -> "Schedule":
        """Gaps and corner cases: a preload with a pause and one row too many (the first row
        falls out of the bottom), a late flip, a second flip of the same shadow tile, then a
        partial preload (one row) and its flip, which mixes it with the shadow rows kept."""
        rows = config.rows
        first = (0, *range(2, 2 + rows))
        flip1 = first[-1] + 2
        flip2 = flip1 + 1
        second = (flip2 + rows + config.cols - 2,)
        flip3 = second[-1] + 2
        return Schedule((*first, *second), (flip1, flip2, flip3))

    @staticmethod
    def random(config: AcceleratorConfig, seed: int, *, horizon: int = 16) -> "Schedule":
        """A seeded random legal schedule within ``horizon`` cycles: preloads of 1 … R + 1 rows
        with random pauses, flips (sometimes two in a row) at random distances after them, the
        next preload at a random legal distance after the flip."""
        rng = random.Random(seed)
        last = config.rows + config.cols - 3
        shifts: list[int] = []
        flips: list[int] = []
        cycle = 0
        while cycle < horizon:
            for _ in range(rng.randint(1, config.rows + 1)):
                cycle += rng.choice([0, 0, 1])
                shifts.append(cycle)
                cycle += 1
            cycle += rng.choice([0, 0, 1, 2])
            flips.append(cycle)
            if rng.random() < 0.3:
                cycle += 1
                flips.append(cycle)
            cycle += last + 1 + rng.choice([0, 0, 1, 2])
        return Schedule(
            tuple(c for c in shifts if c < horizon), tuple(c for c in flips if c < horizon)
        )


class ArrayHarness(wiring.Component):
    """A :class:`~systolic.hw.array.SystolicCore` (skew, R × C PEs, de-skew) against a matmul.

    Reference model of the tile registers: in a cycle with ``w_shift``, ``shadow`` row 0 takes
    ``w_row`` and row ``i`` takes row ``i - 1`` (so the row presented first ends in row R − 1);
    a row presented with ``in_flip`` uses ``shadow`` and makes it ``active``; other rows use
    ``active`` (all zero until the first flip, the reset value). For every row presented with
    ``in_valid``, exactly ``latency`` cycles later ``out_valid`` is high and
    ``out_row[j] = Σ_i in_row[i] · W[i][j]`` with ``W`` the tile that row used; ``out_valid`` is
    high in no other cycle.

    The data inputs ``in_row``, ``w_row`` and ``in_valid`` are free in every cycle: any int8 rows
    and tiles, rows in every cycle or in none. ``w_shift`` and ``in_flip`` follow a fixed
    :class:`Schedule` (with free control the solvers time out: docs/formal.md). ``rst`` is held
    low (a reset drops the rows in flight).
    """

    def __init__(self, config: AcceleratorConfig, schedule: Schedule) -> None:
        self.config = config
        self.schedule = schedule
        self.core = SystolicCore(config)
        super().__init__(
            {
                "in_row": In(data.ArrayLayout(I8, config.rows)),
                "in_valid": In(1),
                "w_row": In(data.ArrayLayout(I8, config.cols)),
            }
        )

    @property
    def depth(self) -> int:
        """BMC depth that checks the row of the last scheduled cycle and the three after it."""
        return self.schedule.horizon + self.core.latency + 3

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        rows, cols = cfg.rows, cfg.cols
        m.submodules.core = core = self.core

        horizon = self.schedule.horizon
        cyc = Signal(range(horizon + 1))
        with m.If(cyc != horizon):
            m.d.sync += cyc.eq(cyc + 1)
        in_flip = Signal()
        w_shift = Signal()
        m.d.comb += [
            in_flip.eq(Cat(*[cyc == c for c in self.schedule.flips]).any()),
            w_shift.eq(Cat(*[cyc == c for c in self.schedule.shifts]).any()),
            core.in_row.eq(self.in_row),
            core.in_valid.eq(self.in_valid),
            core.in_flip.eq(in_flip),
            core.w_row.eq(self.w_row),
            core.w_shift.eq(w_shift),
            Assume(~ResetSignal()),
        ]

        # Reference model of the shadow and active tiles.
        shadow = Signal(_tile(cfg))
        active = Signal(_tile(cfg))
        with m.If(w_shift):
            m.d.sync += shadow[0].eq(self.w_row)
            for i in range(1, rows):
                m.d.sync += shadow[i].eq(shadow[i - 1])
        with m.If(in_flip):
            m.d.sync += active.eq(shadow)
        used = data.View(_tile(cfg), Mux(in_flip, shadow.as_value(), active.as_value()))

        # The exact matmul row (|Σ| ≤ R · 2^14, no wrap) and its validity, delayed by latency.
        flips = Signal(range(4))  # flips so far, saturating at 3 (for the covers)
        with m.If(in_flip & (flips != 3)):
            m.d.sync += flips.eq(flips + 1)
        exp_layout = data.ArrayLayout(I32, cols)
        expected = Signal(exp_layout)
        for j in range(cols):
            m.d.comb += expected[j].eq(sum(self.in_row[i] * used[i][j] for i in range(rows)))
        valid: Value = self.in_valid
        value: Value = expected.as_value()
        n_flips: Value = flips + in_flip
        for stage in range(core.latency):
            v = Signal(name=f"exp_valid_d{stage}")
            r = Signal(len(value), name=f"exp_row_d{stage}")
            f = Signal(range(5), name=f"exp_flips_d{stage}")
            m.d.sync += [v.eq(valid), r.eq(value), f.eq(n_flips)]
            valid, value, n_flips = v, r, f
        row = data.View(exp_layout, value)

        m.d.comb += Assert(core.out_valid == valid, "out_valid = in_valid delayed by latency")
        with m.If(valid):
            for j in range(cols):
                m.d.comb += Assert(core.out_row[j] == row[j], f"out_row[{j}] = (a @ W)[{j}]")
        # Reachability: rows that used the first and the second tile (non-zero results).
        nonzero = row[cols - 1] != 0
        m.d.comb += [
            Cover(valid & (n_flips == 1) & nonzero, "row with the first tile"),
            Cover(valid & (n_flips == 2) & nonzero, "row with the second tile"),
        ]
        return m


def spec_round_sat(v: Value, shift: Value) -> Value:
    """docs/quantisation.md: ``sat8((v + 2^(s-1)) >> s)`` for ``s > 0``, ``sat8(v)`` for ``s = 0``.

    The addition form, formed exactly: ``2^(s-1)`` is ``(1 << s) >> 1`` (0 for ``s = 0``) and the
    sum is wide enough (about 128 bits) that nothing wraps.
    """
    r = (v.as_signed() + ((Const(1, 64) << shift) >> 1)) >> shift
    return Mux(r > 127, 127, Mux(r < -128, -128, r))


def spec_requantise(acc: Value, mult: Value, shift: Value) -> Value:
    """docs/quantisation.md: ``requant(acc, M, s) = sat8(round_shift(acc · M, s))``."""
    return spec_round_sat(acc.as_signed() * mult.as_signed(), shift)


class RequantHarness(wiring.Component):
    """The store unit's requantisation (stages 1 and 2 of hw/store.py) against the specification.

    ``RequantMultiply`` feeds ``RequantRound`` directly (the store registers in between); for
    every int32 ``acc``, int32 ``mult`` and 6-bit ``shift`` (all of [0, 63], the range
    spec/golden.py accepts) the result equals :func:`spec_requantise`.
    """

    acc: In(I32)
    mult: In(I32)
    shift: In(6)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.mul = mul = RequantMultiply()
        m.submodules.rnd = rnd = RequantRound()
        m.d.comb += [
            mul.acc.eq(self.acc),
            mul.mult.eq(self.mult),
            rnd.prod.eq(mul.prod),
            rnd.shift.eq(self.shift),
        ]
        m.d.comb += [
            Assert(
                rnd.q == spec_requantise(self.acc, self.mult, self.shift),
                "q = sat8(round_shift(acc * mult, shift))",
            ),
            Cover((self.shift == 62) & (rnd.q == 1), "the largest product, shifted by 62"),
            Cover((self.shift == 20) & (rnd.q == -128), "negative saturation"),
        ]
        return m


class RoundHarness(wiring.Component):
    """``RequantRound`` alone: for every 64-bit ``prod`` (not only products of two int32) and
    every 6-bit ``shift``, its shift of ``2·prod`` (only the low bits, and a masked test of the
    rest for sign copies) equals the addition form :func:`spec_round_sat`."""

    prod: In(signed(64))
    shift: In(6)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.rnd = rnd = RequantRound()
        m.d.comb += [rnd.prod.eq(self.prod), rnd.shift.eq(self.shift)]
        m.d.comb += [
            Assert(
                rnd.q == spec_round_sat(self.prod, self.shift), "q = sat8(round_shift(prod, s))"
            ),
            Cover((self.shift == 63) & (rnd.q == -1), "round_shift(-2^63, 63)"),
        ]
        return m
