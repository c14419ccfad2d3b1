"""Random programs for differential testing of the simulator against the RTL (riscv-dv style).

:func:`random_program` turns ``(config, seed)`` into an instruction stream and a memory image,
deterministically, so a failing seed replays exactly. Three kinds of stream:

``legal``
    Encodable, in-range instructions of every class with random dependency tokens (some
    programs deadlock or overflow a token counter, which is legal input that must stop the same
    way everywhere), random memory contents.
``boundary``
    The edges: the largest tiles and transfers (``len`` = lanes, many rows), the last rows of
    the scratchpad and accumulator and the last bytes of memory, long runs for one unit that
    fill its queue, extreme data (``-128``, ``127``, ``INT32_MIN``/``MAX``), requantisation
    constants that land on rounding ties and saturate.
``illegal``
    A legal prefix, then one bad word: an unassigned opcode, a reserved bit, a field past a
    limit (rows past the scratchpad, bytes past memory, ``len`` past the lanes), or garbage.

Every program starts by zeroing the scratchpad, accumulator and LUTs (:func:`_scrub`), so that
its result does not depend on what ran before it on the same RTL simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec.config import AcceleratorConfig
from ..spec.isa import (
    ActMode,
    Elem,
    ErrorCode,
    Instruction,
    LoadTarget,
    MatMode,
    StoreTarget,
    Unit,
    VecOp,
    decode,
    encode,
)

__all__ = ["KINDS", "FuzzProgram", "differences", "random_program"]

KINDS = ("legal", "boundary", "illegal")

# Token counter fed by each flag (0 load→exec, 1 exec→load, 2 exec→store, 3 store→exec).
_FLAGS: dict[Unit, dict[str, int]] = {
    Unit.LOAD: {"pop_next": 1, "push_next": 0},
    Unit.EXECUTE: {"pop_prev": 0, "pop_next": 3, "push_prev": 1, "push_next": 2},
    Unit.STORE: {"pop_prev": 2, "push_prev": 3},
}


@dataclass(frozen=True)
class FuzzProgram:
    """One random program: ``words`` run on ``memory``; ``seed`` and ``kind`` replay it."""

    seed: int
    kind: str
    words: list[int]
    memory: bytes


class _Gen:
    """Draws instructions for one program; ``edge`` pushes values to their limits."""

    def __init__(self, config: AcceleratorConfig, rng: np.random.Generator, edge: bool):
        self.cfg = config
        self.rng = rng
        self.edge = edge
        self.owed = [0, 0, 0, 0]

    def pick(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi]; at an edge half the time when ``edge``."""
        if hi <= lo:
            return lo
        if self.edge and self.rng.random() < 0.5:
            return hi if self.rng.random() < 0.7 else lo
        return int(self.rng.integers(lo, hi + 1))

    def start(self, depth: int, rows: int) -> int:
        """A first row such that ``rows`` rows fit in ``depth``."""
        return self.pick(0, max(0, depth - rows))

    def deps(self, unit: Unit) -> set[str]:
        # Pops mostly take a token an earlier instruction pushed; rarely one nobody pushed.
        out = set()
        for flag, c in _FLAGS[unit].items():
            if flag.startswith("pop") and (
                (self.owed[c] > 0 and self.rng.random() < 0.6) or self.rng.random() < 0.02
            ):
                out.add(flag)
                self.owed[c] -= 1
        for flag, c in _FLAGS[unit].items():
            if flag.startswith("push") and self.rng.random() < 0.4:
                out.add(flag)
                self.owed[c] += 1
        return out

    def transfer(self, dram: int, elem: Elem, length: int) -> dict[str, int]:
        """n_inner, n_outer, strides and a DRAM address whose last byte is inside ``dram``."""
        eb = 4 if elem == Elem.I32 else 1
        n_inner, n_outer = self.pick(1, 4), self.pick(1, 3)
        si, so = self.pick(0, 3 * length * eb), self.pick(0, 8 * length * eb)
        span = (n_outer - 1) * so + (n_inner - 1) * si + length * eb
        while span > dram:  # shrink until it fits
            n_inner, n_outer, si, so = 1, 1, 0, 0
            length = max(1, min(length, dram // eb))
            span = length * eb
        addr = self.pick(0, dram - span)
        return dict(
            n_inner=n_inner,
            n_outer=n_outer,
            stride_inner=si,
            stride_outer=so,
            addr=addr,
            len=length,
        )

    def instruction(self, dram: int) -> int:
        cfg, rng = self.cfg, self.rng
        R, C, lanes = cfg.rows, cfg.cols, cfg.lanes
        kind = rng.choice(
            ["load", "store", "preload", "matmul", "vector", "sync", "cfg", "halt"],
            p=[0.22, 0.16, 0.1, 0.18, 0.12, 0.08, 0.12, 0.02],
        )
        if kind == "vector" and not cfg.vector_unit and rng.random() < 0.9:
            kind = "matmul"  # mostly runnable programs; the rest stop at ILLEGAL_OPCODE
        if kind == "halt":
            return encode(Instruction.make("halt"))
        fields: dict[str, Any]
        if kind == "load":
            acc = rng.random() < 0.4
            elem = Elem.I32 if acc and rng.random() < 0.5 else Elem.I8
            t = self.transfer(dram, elem, self.pick(1, C if acc else lanes))
            rows = t["n_inner"] * t["n_outer"]
            depth = cfg.acc_depth if acc else cfg.sp_depth
            if rows > depth:
                t.update(n_inner=1, n_outer=1, stride_inner=0, stride_outer=0)
                rows = 1
            fields = dict(
                target=LoadTarget.ACC if acc else LoadTarget.SP,
                elem=elem,
                dst=self.start(depth, rows),
                **t,
            )
            name, unit = "load", Unit.LOAD
        elif kind == "store":
            sp = rng.random() < 0.3
            elem = Elem.I32 if not sp and rng.random() < 0.3 else Elem.I8
            length = self.pick(1, C)
            if sp:
                n_inner, n_outer = self.pick(1, 4), self.pick(1, 2)
                si, so = self.pick(0, 2), self.pick(0, 4)
                last = (n_outer - 1) * so + (n_inner - 1) * si
                if last >= cfg.sp_depth:
                    n_inner, n_outer, si, so, last = 1, 1, 0, 0, 0
                t = dict(
                    n_inner=n_inner,
                    n_outer=n_outer,
                    stride_inner=si,
                    stride_outer=so,
                    addr=self.pick(0, cfg.sp_depth - 1 - last),
                    len=length,
                )
            else:
                t = self.transfer(dram, elem, length)
            rows = t["n_inner"] * t["n_outer"]
            if rows > cfg.acc_depth:
                t.update(n_inner=1, n_outer=1, stride_inner=0, stride_outer=0)
                rows = 1
            fields = dict(
                target=StoreTarget.SP if sp else StoreTarget.DRAM,
                elem=elem,
                src=self.start(cfg.acc_depth, rows),
                **t,
            )
            name, unit = "store", Unit.STORE
        elif kind == "preload":
            rows = self.pick(1, R)
            fields = dict(src=self.start(cfg.sp_depth, rows), rows=rows, cols=self.pick(1, C))
            name, unit = "preload", Unit.EXECUTE
        elif kind == "matmul":
            n = self.pick(1, min(16, cfg.sp_depth, cfg.acc_depth))
            fields = dict(
                src=self.start(cfg.sp_depth, n),
                dst=self.start(cfg.acc_depth, n),
                n=n,
                mode=MatMode(int(rng.integers(0, 3))),
                bias=self.pick(0, cfg.acc_depth - 1),
                swap=int(rng.integers(0, 2)),
            )
            name, unit = "matmul", Unit.EXECUTE
        elif kind == "vector":
            n = self.pick(1, 6)
            strides = [self.pick(0, 3) for _ in range(3)]

            def row(stride: int) -> int:
                return self.pick(0, max(0, cfg.acc_depth - 1 - (n - 1) * stride))

            if any((n - 1) * s >= cfg.acc_depth for s in strides):
                strides = [0, 0, 0]
            fields = dict(
                op=VecOp(int(rng.integers(0, 5))),
                dst=row(strides[0]),
                a=row(strides[1]),
                b=row(strides[2]),
                n=n,
                dst_stride=strides[0],
                a_stride=strides[1],
                b_stride=strides[2],
                b_imm=int(rng.integers(0, 2)),
                imm=self.pick(-(2**15), 2**15 - 1),
                shift=self.pick(0, 63),
            )
            name, unit = "vector", Unit.EXECUTE
        elif kind == "sync":
            unit = Unit(int(rng.integers(0, 3)))
            name, fields = "sync", dict(unit=unit)
        else:
            name = str(
                rng.choice(
                    ["cfg_quant", "cfg_act", "cfg_lut"] if cfg.act_lut else ["cfg_quant", "cfg_act"]
                )
            )
            unit = Unit.STORE
            if name == "cfg_quant":
                fields = dict(
                    mult_row=self.pick(0, cfg.acc_depth - 1),
                    shift_row=self.pick(0, cfg.acc_depth - 1),
                )
            elif name == "cfg_act":
                lo, hi = sorted((self.pick(-128, 127), self.pick(-128, 127)))
                fields = dict(
                    mode=ActMode(int(rng.integers(0, 3 if cfg.act_lut else 2))),
                    slot=int(rng.integers(0, 2)),
                    lo=lo,
                    hi=hi,
                )
            else:
                fields = dict(
                    slot=int(rng.integers(0, 2)),
                    src=self.start(cfg.acc_depth, cfg.lut_rows),
                )
        return encode(Instruction.make(name, deps=self.deps(unit), **fields))

    def runs(self, dram: int, count: int) -> list[int]:
        """``count`` instructions; in edge mode, stretches of one unit that fill its queue."""
        words: list[int] = []
        while len(words) < count:
            if self.edge and self.rng.random() < 0.15:
                # Many syncs for one unit with no tokens: the queue fills and fetch stalls.
                unit = Unit(int(self.rng.integers(0, 3)))
                burst = self.cfg.queue_depth + int(self.rng.integers(1, 4))
                words += [encode(Instruction.make("sync", unit=unit))] * burst
            else:
                words.append(self.instruction(dram))
        return words[:count]


def _memory(rng: np.random.Generator, size: int, edge: bool) -> bytes:
    if not edge:
        return rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    # Extreme int8 and int32 values, and small ones that make rounding ties.
    int8 = np.array([0x80, 0x7F, 0xFF, 0x00, 0x01, 0x81], dtype=np.uint8)
    int32 = np.array(
        [-(2**31), 2**31 - 1, 2**30, -(2**30), 1, -1, 3, 0x40000000, 31, 32, 63],
        dtype="<i4",
    ).view(np.uint8)
    out = np.concatenate(
        [int8[rng.integers(0, len(int8), size)], np.tile(int32, size // len(int32) + 1)]
    )
    blocks = [out[:size], rng.permutation(out[:size])]
    return blocks[int(rng.integers(0, 2))].tobytes()


_BAD: list[Callable[[AcceleratorConfig, np.random.Generator, int], int]] = [
    lambda cfg, rng, dram: int(rng.choice([0, 0xB, 0xC, 0xD, 0xE, 0xF])),  # unassigned opcodes
    lambda cfg, rng, dram: int.from_bytes(rng.bytes(16), "little"),  # garbage
    lambda cfg, rng, dram: encode(Instruction.make("halt")) | 1 << int(rng.integers(8, 128)),
    lambda cfg, rng, dram: (
        encode(Instruction.make("preload", src=cfg.sp_depth - 1, rows=min(2, cfg.rows), cols=1))
        if cfg.rows > 1
        else encode(Instruction.make("preload", src=0, rows=cfg.rows + 1, cols=1))
    ),
    lambda cfg, rng, dram: encode(
        Instruction.make(
            "load",
            target=LoadTarget.SP,
            dst=0,
            len=1,
            n_inner=1,
            addr=dram - 1 + int(rng.integers(1, 9)),
        )
    ),
    lambda cfg, rng, dram: encode(
        Instruction.make(
            "load", target=LoadTarget.SP, dst=0, len=min(cfg.lanes + 1, 1023), n_inner=1, addr=0
        )
    ),
    lambda cfg, rng, dram: encode(Instruction.make("matmul", src=0, dst=cfg.acc_depth - 1, n=2)),
    lambda cfg, rng, dram: encode(
        Instruction.make("vector", op=VecOp.ADD, dst=0, a=cfg.acc_depth - 2, n=2, a_stride=2)
    ),
    lambda cfg, rng, dram: encode(
        Instruction.make("cfg_lut", slot=0, src=max(0, cfg.acc_depth - cfg.lut_rows + 1))
    ),
    lambda cfg, rng, dram: encode(
        Instruction.make(
            "store", target=StoreTarget.DRAM, src=0, len=1, n_inner=1, n_outer=1, addr=dram
        )
    ),
]


def _scrub(config: AcceleratorConfig) -> list[int]:
    """Zero the scratchpad, the accumulator and both LUTs (if built) from the zero bytes at 0.

    The RTL keeps these memories across programs (docs/timing.md, "State at start") and Icarus
    starts them as x; the simulator starts from zeros. Scrubbing first makes every program
    independent of what ran before it. Tokens order it before all later execute and store
    work: load → execute ``sync`` → store.
    """
    words = []
    for target, depth, length, elem in (
        (LoadTarget.SP, config.sp_depth, config.lanes, Elem.I8),
        (LoadTarget.ACC, config.acc_depth, config.cols, Elem.I32),
    ):
        for dst in range(0, depth, 1023):
            n = min(1023, depth - dst)
            last = target == LoadTarget.ACC and dst + n == depth
            words.append(
                encode(
                    Instruction.make(
                        "load",
                        deps={"push_next"} if last else set(),
                        target=target,
                        elem=elem,
                        dst=dst,
                        len=length,
                        n_inner=n,
                        addr=0,
                        stride_inner=0,
                    )
                )
            )
    words.append(
        encode(Instruction.make("sync", deps={"pop_prev", "push_next"}, unit=Unit.EXECUTE))
    )
    if not config.act_lut:  # no LUT to clear: the store unit still takes the token
        words.append(encode(Instruction.make("sync", deps={"pop_prev"}, unit=Unit.STORE)))
        return words
    for slot in (0, 1):
        deps = {"pop_prev"} if slot == 0 else set()
        words.append(encode(Instruction.make("cfg_lut", deps=deps, slot=slot, src=0)))
    return words


def random_program(config: AcceleratorConfig, *, seed: int, kind: str | None = None) -> FuzzProgram:
    """The program for ``seed`` (its kind drawn from the seed unless ``kind`` is given)."""
    rng = np.random.default_rng(seed)
    if kind is None:
        kind = KINDS[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    edge = kind == "boundary"
    dram = int(rng.integers(max(64, 4 * config.cols), 1025))
    gen = _Gen(config, rng, edge)
    words = gen.runs(dram, int(rng.integers(1, 40)))
    if kind == "illegal":
        bad = _BAD[int(rng.integers(0, len(_BAD)))](config, rng, dram)
        words.insert(int(rng.integers(0, len(words) + 1)), bad)
    if rng.random() < 0.9:
        words.append(encode(Instruction.make("halt")))
    memory = bytearray(_memory(rng, dram, edge))
    memory[: 4 * config.cols] = bytes(4 * config.cols)  # the zeros _scrub loads
    return FuzzProgram(seed, kind, _scrub(config) + words, bytes(memory))


def _footprint(config: AcceleratorConfig, word: int) -> list[tuple[str, int, int, bool]]:
    """Storage one instruction touches: ``(space, first, end, writes)`` ranges.

    Spaces are ``sp`` and ``acc`` (rows) and ``dram`` (bytes).
    """
    ins = decode(word)
    v = ins.values
    out: list[tuple[str, int, int, bool]] = []

    def rows(space: str, first: int, n: int, stride: int, writes: bool) -> None:
        for i in range(n):
            out.append((space, first + i * stride, first + i * stride + 1, writes))

    def dram(writes: bool) -> None:
        eb = 4 if v["elem"] == Elem.I32 else 1
        for o in range(v["n_outer"]):
            for i in range(v["n_inner"]):
                a = v["addr"] + o * v["stride_outer"] + i * v["stride_inner"]
                out.append(("dram", a, a + v["len"] * eb, writes))

    name = ins.format.name
    if name == "load":
        space = "acc" if v["target"] == LoadTarget.ACC else "sp"
        rows(space, v["dst"], v["n_inner"] * v["n_outer"], 1, True)
        dram(False)
    elif name == "store":
        rows("acc", v["src"], v["n_inner"] * v["n_outer"], 1, False)
        if v["target"] == StoreTarget.SP:
            for o in range(v["n_outer"]):
                for i in range(v["n_inner"]):
                    r = v["addr"] + o * v["stride_outer"] + i * v["stride_inner"]
                    out.append(("sp", r, r + 1, True))
        else:
            dram(True)
    elif name == "preload":
        rows("sp", v["src"], v["rows"], 1, False)
    elif name == "matmul":
        rows("sp", v["src"], v["n"], 1, False)
        rows("acc", v["dst"], v["n"], 1, True)
        if v["mode"] == MatMode.BIAS:
            rows("acc", v["bias"], 1, 1, False)
    elif name == "vector":
        rows("acc", v["dst"], v["n"], v["dst_stride"], True)
        rows("acc", v["a"], v["n"], v["a_stride"], False)
        if not v["b_imm"]:
            rows("acc", v["b"], v["n"], v["b_stride"], False)
    elif name == "cfg_quant":
        rows("acc", v["mult_row"], 1, 1, False)
        rows("acc", v["shift_row"], 1, 1, False)
    elif name == "cfg_lut":
        rows("acc", v["src"], config.lut_rows, 1, False)
    return out


def races(config: AcceleratorConfig, words: list[int], sim: Any) -> list[tuple[int, int]]:
    """Pairs of instructions of different units whose accesses conflict while both are in
    flight: one writes storage the other reads or writes, and no token orders them.

    The simulator applies an instruction's effects when it pops; the RTL spreads them over its
    cycles. Only race-free programs have one defined final memory (docs/timing.md).
    """
    spans = []
    for e in sim.timeline:
        if e.P is None or e.E is None or e.unit == "fetch":
            continue
        fp = _footprint(config, words[e.index])
        if fp:
            spans.append((e.P, e.E, e.unit, e.index, fp))
    spans.sort()
    found = []
    for n, (_, e1, u1, i1, f1) in enumerate(spans):
        for p2, _, u2, i2, f2 in spans[n + 1 :]:
            if p2 >= e1:  # the later one's effects start at p2 + 1
                break
            if u1 == u2:
                continue
            if any(
                s1 == s2 and a1 < b2 and a2 < b1 and (w1 or w2)
                for s1, a1, b1, w1 in f1
                for s2, a2, b2, w2 in f2
            ):
                found.append((min(i1, i2), max(i1, i2)))
    return found


def differences(
    config: AcceleratorConfig, program: FuzzProgram, sim: Any, rtl: Any, *, simulator: str = "rtl"
) -> list[str]:
    """What differs between a simulator result and an RTL result of ``program`` (empty: none).

    Compared: error code, failing instruction, cycle count, every counter, and the final
    memory when the program halted without a data race between units (after an error, or
    after a race, it is unspecified: docs/timing.md). ``sim`` needs a timeline (``trace=True``).
    """
    out = []
    if (sim.error, sim.error_index) != (rtl.error, rtl.error_index):
        out.append(
            f"error: sim {sim.error.name} at {sim.error_index}, "
            f"{simulator} {rtl.error.name} at {rtl.error_index}"
        )
    if sim.cycles != rtl.cycles:
        out.append(f"cycles: sim {sim.cycles}, {simulator} {rtl.cycles}")
    counters = dict(sim.counters)
    for name, value in rtl.counters.items():
        if counters.get(name) != value:
            out.append(f"counter {name}: sim {counters.get(name)}, {simulator} {value}")
    if sim.timeline is None:
        raise ValueError("differences needs the simulator's timeline: simulate(..., trace=True)")
    racy = sim.error == ErrorCode.NONE and races(config, program.words, sim)
    if sim.error == ErrorCode.NONE and not racy and bytes(sim.memory) != bytes(rtl.memory):
        pairs = zip(sim.memory, rtl.memory, strict=False)
        first = next((i for i, (a, b) in enumerate(pairs) if a != b), len(sim.memory))
        out.append(f"memory differs from byte {first}")
    return out
