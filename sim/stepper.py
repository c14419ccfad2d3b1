"""The stepping mode: ``docs/timing.md`` read literally, one clock cycle at a time.

Where :mod:`.schedule` computes each instruction's cycles from cycles already known and jumps
between events, this model holds the state a hardware designer would draw (the decode
register, three instruction queues, each unit's in-flight instructions and its free cycle, four
token counters) and in every cycle asks each rule of the contract as written: may the queue head
pop now, does fetch dispatch, which counters change, is the machine done, deadlocked or in
error. Its timing shares no code with :mod:`.schedule` or :mod:`.stats` (it decodes with
:mod:`.checks` and applies functional effects with :class:`~.state.Machine`, both of which the
fast mode uses too), so comparing the two modes checks the scheduler's event arithmetic.

It is slower (its cost is per cycle, a few µs without a waveform) and exists for debugging: it
can dump every cycle's unit state as a VCD waveform (:func:`step`'s ``vcd``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TextIO

from ..spec.config import AcceleratorConfig
from ..spec.isa import ErrorCode
from .checks import decode_checked
from .decode import EXEC_UNIT, HALT, LOAD_UNIT, STORE_UNIT, Op
from .result import SimError, Stats, TimelineEntry, UnitStats
from .state import Machine
from .vcd import VcdWriter

__all__ = ["CYCLE_NS", "STALL_REASONS", "StepRun", "step"]

UNITS = (LOAD_UNIT, EXEC_UNIT, STORE_UNIT)
UNIT_NAMES = {LOAD_UNIT: "load", EXEC_UNIT: "execute", STORE_UNIT: "store", HALT: "fetch"}
_COUNTER_UNIT = {LOAD_UNIT: "load", EXEC_UNIT: "exec", STORE_UNIT: "store"}

# Token counters, in the order of docs/timing.md.
LE, EL, ES, SE = range(4)
TOKEN_NAMES = ("load_to_exec", "exec_to_load", "exec_to_store", "store_to_exec")
# (dependency flag, counter) a unit's instruction pops and pushes.
_POPS = {
    LOAD_UNIT: (("pop_next", EL),),
    EXEC_UNIT: (("pop_prev", LE), ("pop_next", SE)),
    STORE_UNIT: (("pop_prev", ES),),
}
_PUSHES = {
    LOAD_UNIT: (("push_next", LE),),
    EXEC_UNIT: (("push_prev", EL), ("push_next", ES)),
    STORE_UNIT: (("push_prev", SE),),
}

STALL_REASONS = ("none", "unit_busy", "tokens", "hazard", "interlock")
"""Values of a unit's ``stall_reason`` signal: the first unmet pop condition, in rule order."""
R_NONE, R_BUSY, R_TOKENS, R_HAZARD, R_INTERLOCK = range(5)

CYCLE_NS = 10
"""Cycle t spans ``[CYCLE_NS·t, CYCLE_NS·(t+1))`` ns in the VCD: the cocotb bench's clock."""


def _kind(op: Op) -> str:
    """What the rules distinguish: the mnemonic, with the target and the unit where they matter."""
    if op.name == "load":
        return "load_acc" if op.v["target"] == 1 else "load_sp"
    if op.name == "store":
        return "store_sp" if op.v["target"] == 1 else "store_dram"
    if op.name == "sync":
        return f"sync_{UNIT_NAMES[op.unit]}"
    return op.name


@dataclass(slots=True, eq=False)
class _Inst:
    """A dispatched instruction and the cycles the contract assigns it."""

    index: int
    op: Op
    kind: str
    a: int  # A, D, P, E of docs/timing.md
    d: int
    pops: tuple[int, ...]
    pushes: tuple[int, ...]
    p: int = -1  # -1 until it pops
    e: int = -1
    beats: int = 0  # bus beats of a load or DRAM store
    wr_beats: frozenset[int] = frozenset()  # a DRAM store's beat cycles, after P
    rows: int = 0  # rows a matmul issues
    macs_per_row: int = 0


@dataclass(slots=True)
class _Unit:
    """One unit: its queue, what it has in flight, and its cycle accounting."""

    queue: deque[_Inst] = field(default_factory=deque)
    flight: list[_Inst] = field(default_factory=list)  # popped, E not passed yet
    free: int = 0  # F: the first cycle it may pop again
    last_e: int | None = None  # E of its latest instruction
    pops: int = 0
    busy: int = 0
    stall: int = 0
    stall_by: list[int] = field(default_factory=lambda: [0] * 5)  # by reason
    occupied: int = 0


@dataclass(frozen=True)
class StepRun:
    """What the stepping mode reports (``simulate`` turns it into a ``SimResult``).

    Parameters
    ----------
    stop : int
        The stopping cycle (``cycles = stop + 1``).
    error : ErrorCode
        ``NONE`` after a normal halt.
    error_index : int or None
        The instruction the error names.
    error_message : str
        Human-readable reason ("" without error).
    counters : dict of str to int
        The performance counters, counted cycle by cycle.
    stats : Stats
        Derived statistics (stall reasons as the first unmet pop condition of each cycle).
    timeline : tuple of TimelineEntry
        A, D, P, E of every dispatched instruction.
    """

    stop: int
    error: ErrorCode
    error_index: int | None
    error_message: str
    counters: dict[str, int]
    stats: Stats
    timeline: tuple[TimelineEntry, ...]


def _row_beats(v: Mapping[str, int], nbytes: int, bus: int) -> list[int]:
    """``⌈(a_r mod B + nbytes) / B⌉`` for each row ``a_r`` of a 2-D transfer."""
    beats = []
    for o in range(v["n_outer"]):
        base = v["addr"] + o * v["stride_outer"]
        for i in range(v["n_inner"]):
            beats.append(((base + i * v["stride_inner"]) % bus + nbytes + bus - 1) // bus)
    return beats


def _beats(v: Mapping[str, int], nbytes: int, bus: int) -> int:
    """``Σ_r ⌈(a_r mod B + nbytes) / B⌉`` over the rows ``a_r`` of a 2-D transfer."""
    return sum(_row_beats(v, nbytes, bus))


def _store_beat_offsets(row_beats: list[int], passes: int, latency: int) -> list[int]:
    """Cycles after P of a DRAM store's beats: row r is read at ``T_r`` (``T_0 = P + 1``,
    ``T_{r+1} = T_r + max(nb_r, passes)``) and its beats follow from ``T_r + latency``."""
    offsets: list[int] = []
    t_r = 1
    for nb in row_beats:
        offsets.extend(range(t_r + latency, t_r + latency + nb))
        t_r += max(nb, passes)
    return offsets


class _Stepper:
    def __init__(
        self,
        config: AcceleratorConfig,
        words: Sequence[int],
        machine: Machine,
        dram_size: int,
        max_cycles: int | None,
        vcd: VcdWriter | None,
    ) -> None:
        self.cfg = config
        self.R, self.C = config.rows, config.cols
        self.words = words
        self.m = machine
        self.dram_size = dram_size
        self.max_cycles = max_cycles
        self.vcd = vcd
        self.units = {u: _Unit() for u in UNITS}
        self.count = [0, 0, 0, 0]
        self.swap_t: int | None = None  # first row issue of the latest matmul swap=1
        self.shadow = (0, 0)  # dimensions of the shadow and active weight tiles
        self.active = (0, 0)
        self.insts: list[_Inst] = []  # every dispatched instruction, halt included
        self.bytes_read = 0
        self.bytes_written = 0
        self.macs = self.array_busy = self.rd_beats = self.wr_beats = 0
        # Fetch: the instruction in the decode register since cycle f_A.
        self.f_idx = 0
        self.f_A = config.decode_stages
        self.f_op = self._decode(0)
        self.halted = False
        self.d_halt = -1
        self.held: _Inst | None = None  # queue_depth 0: the unit's head is the decode register
        self.held_popped = -1  # ... and the cycle it last popped (that is its dispatch)

    def _decode(self, index: int) -> Op | tuple[ErrorCode, str]:
        if index >= len(self.words):
            # The instruction port reads zero past the program: opcode 0 traps.
            return ErrorCode.ILLEGAL_OPCODE, "illegal opcode 0 (fetch ran past the program)"
        return decode_checked(self.words[index], self.cfg, self.dram_size)

    # The pop rules ---------------------------------------------------------------------------

    def _blocked(self, u: int, x: _Inst, t: int) -> int:
        """The first pop condition the head ``x`` of unit ``u`` fails at ``t`` (R_NONE: pops).

        Called in the order execute, load, store, so the interlocks see this cycle's earlier
        pops in the other unit's in-flight list (they are in flight from ``P``).
        """
        if t < self.units[u].free:
            return R_BUSY
        for c in x.pops:
            if self.count[c] < 1:
                return R_TOKENS
        k = x.kind
        if k == "preload":
            if self.swap_t is not None and t < self.swap_t + self.cfg.swap_clearance:
                return R_HAZARD
        elif k == "vector":
            drained = self.units[EXEC_UNIT].last_e
            if drained is not None and t < drained:
                return R_HAZARD
        if k == "load_acc":
            flight = self.units[EXEC_UNIT].flight
            if any(y.kind in ("matmul", "vector") for y in flight):
                return R_INTERLOCK
        elif k in ("matmul", "vector"):
            if any(y.kind == "load_acc" for y in self.units[LOAD_UNIT].flight):
                return R_INTERLOCK
        elif k == "load_sp":
            if any(y.kind == "store_sp" for y in self.units[STORE_UNIT].flight):
                return R_INTERLOCK
        elif k == "store_sp" and any(y.kind == "load_sp" for y in self.units[LOAD_UNIT].flight):
            return R_INTERLOCK
        return R_NONE

    def _pop(self, u: int, x: _Inst, t: int) -> None:
        """Pop ``x`` at ``t``: its completion, the unit's free cycle, and its effect."""
        unit = self.units[u]
        v = x.op.v
        k = x.kind
        m = self.m
        L = self.cfg.mem_latency
        free: int | None = None
        if k in ("load_sp", "load_acc"):
            eb = 4 if v["elem"] == 1 else 1
            x.beats = _beats(v, v["len"] * eb, self.cfg.bus_bytes)
            # Beats at P+1 .. P+N; the last row lands at P+N+L+1; free at the last request.
            end, free = t + x.beats + L + 1, t + x.beats
            self.bytes_read += v["n_inner"] * v["n_outer"] * v["len"] * eb
            m.load(v)
        elif k == "sync_load":
            end = t + 1 if unit.last_e is None else max(t + 1, unit.last_e + 1)
            free = end
        elif k == "preload":
            issue, done = self.cfg.execute_cycles("preload")
            end, free = t + done, t + issue
            self.shadow = (v["rows"], v["cols"])
            m.preload(v)
        elif k == "matmul":
            if v["swap"]:
                self.swap_t = t + 1
                self.active = self.shadow
            x.rows = v["n"]
            x.macs_per_row = self.active[0] * self.active[1]
            issue, done = self.cfg.execute_cycles("matmul", v["n"])
            end, free = t + done, t + issue
            m.matmul(v)
        elif k == "vector":
            issue, done = self.cfg.execute_cycles("vector", v["n"])
            end, free = t + done, t + issue
            m.vector(v)
        elif k == "sync_execute":
            issue, done = self.cfg.execute_cycles("sync")
            end, free = t + done, t + issue
        elif k == "store_dram":
            eb = 4 if v["elem"] == 1 else 1
            offsets = _store_beat_offsets(
                _row_beats(v, v["len"] * eb, self.cfg.bus_bytes),
                self.cfg.requant_passes,
                self.cfg.store_row_latency,
            )
            x.beats = len(offsets)
            x.wr_beats = frozenset(offsets)
            # The last beat is acknowledged L cycles later.
            end = t + offsets[-1] + L
            self.bytes_written += v["n_inner"] * v["n_outer"] * v["len"] * eb
            m.store(v)
        elif k == "store_sp":
            # One row per `requant_passes` cycles from P+1, each written a latency later.
            n = v["n_inner"] * v["n_outer"]
            end = t + 1 + (n - 1) * self.cfg.requant_passes + self.cfg.store_row_latency
            m.store(v)
        elif k == "cfg_quant":
            end = t + 3
            m.cfg_quant(v)
        elif k == "cfg_act":
            end = t + 1
            m.cfg_act(v)
        elif k == "cfg_lut":
            end = t + 257
            m.cfg_lut(v)
        else:  # sync_store
            end = t + 1
        if u == STORE_UNIT:
            free = end + 1  # one instruction at a time
        assert free is not None
        x.p, x.e = t, end
        unit.free = free
        unit.last_e = end
        unit.pops += 1
        unit.queue.popleft()
        unit.flight.append(x)
        if x is self.held:  # queue_depth 0: popping is dispatching; fetch moves on
            x.d = t
            self.held = None
            self.held_popped = t
            self._next(t)

    def _next(self, t: int) -> None:
        """The instruction after the dispatched one enters the decode register at t + 1."""
        self.f_idx += 1
        self.f_A = t + 1
        self.f_op = self._decode(self.f_idx)

    def _record(self, op: Op, d: int) -> _Inst:
        """The fetched instruction ``op`` (in the decode register since f_A), dispatched at d."""
        pops = tuple(c for f, c in _POPS.get(op.unit, ()) if getattr(op, f))
        pushes = tuple(c for f, c in _PUSHES.get(op.unit, ()) if getattr(op, f))
        x = _Inst(self.f_idx, op, _kind(op), self.f_A, d, pops, pushes)
        self.insts.append(x)
        return x

    def _hand_over(self, t: int) -> None:
        """queue_depth 0: from A, the instruction in the decode register is its unit's head."""
        op = self.f_op
        if self.held is not None or self.halted or t < self.f_A:
            return
        if not isinstance(op, Op) or op.unit == HALT:
            return
        # A head from d + 1 = A; d becomes the pop cycle (D = P) when it pops.
        x = self._record(op, self.f_A - 1)
        self.units[op.unit].queue.append(x)
        self.held = x

    # One cycle -------------------------------------------------------------------------------

    def _fetch(self, t: int, popped: list[bool]) -> tuple[bool, tuple[ErrorCode, str] | None]:
        """Decode and dispatch at ``t``: (dispatched, decode or range error)."""
        if self.halted or t < self.f_A or self.held is not None:  # nothing to dispatch
            return False, None
        op = self.f_op
        if isinstance(op, tuple):
            return False, op
        if op.unit != HALT:
            unit = self.units[op.unit]
            # Entries at the start of the cycle: a pop in this cycle frees its slot only at
            # the next one.
            if len(unit.queue) + popped[op.unit] >= self.cfg.queue_depth:
                return False, None
        x = self._record(op, t)
        if op.unit == HALT:
            self.halted, self.d_halt = True, t
            return True, None
        self.units[op.unit].queue.append(x)
        self._next(t)
        return True, None

    def run(self) -> StepRun:
        units = self.units
        td = self.cfg.token_depth
        t = 0
        while True:
            if self.max_cycles is not None and t >= self.max_cycles:
                if self.vcd is not None:
                    self.vcd.finish(CYCLE_NS * t)
                raise SimError(f"the machine did not stop within max_cycles = {self.max_cycles}")
            for unit in units.values():
                # An instruction is in flight from P to E inclusive.
                if unit.flight:
                    unit.flight = [y for y in unit.flight if y.e >= t]
            counts_before = list(self.count)
            if self.cfg.queue_depth == 0:
                self._hand_over(t)
            # Pops, in the contract's order (execute wins its interlock ties over load, load
            # over store).
            popped = [False, False, False]
            reason = [R_NONE, R_NONE, R_NONE]
            pops_now = [0, 0, 0, 0]
            for u in (EXEC_UNIT, LOAD_UNIT, STORE_UNIT):
                q = units[u].queue
                if not q or q[0].d >= t:  # an entry is in its queue from D + 1
                    continue
                head = q[0]
                reason[u] = self._blocked(u, head, t)
                if reason[u] == R_NONE:
                    self._pop(u, head, t)
                    popped[u] = True
                    for c in head.pops:
                        pops_now[c] += 1
            dispatched, decode_error = self._fetch(t, popped)
            dispatched = dispatched or self.held_popped == t
            # Pushes at each instruction's completion; overflow nets this cycle's pop.
            overflow: list[int] = []
            for u in UNITS:
                for y in units[u].flight:
                    if y.e == t:
                        for c in y.pushes:
                            if self.count[c] - pops_now[c] + 1 > td:
                                overflow.append(y.index)
                            self.count[c] += 1
            for c in range(4):
                self.count[c] -= pops_now[c]
            anything = self._account(t, popped, reason)
            stop: tuple[ErrorCode, int | None, str] | None = None
            if overflow:
                i = min(overflow)
                stop = (
                    ErrorCode.TOKEN_OVERFLOW,
                    i,
                    f"token overflow: instruction {i} ({self.insts[i].op.name}) pushes to a "
                    f"counter that already holds token_depth = {td} tokens",
                )
            elif decode_error is not None:
                stop = (decode_error[0], self.f_idx, decode_error[1])
            elif not anything and not any(popped) and not dispatched and t >= self.f_A:
                heads = [un.queue[0].index for un in units.values() if un.queue]
                if self.halted and not heads and t > self.d_halt:
                    stop = (ErrorCode.NONE, None, "")
                else:
                    i = min(heads)
                    stop = (
                        ErrorCode.DEADLOCK,
                        i,
                        "deadlock: nothing in flight and no queue head can pop; oldest head "
                        f"is instruction {i} ({self.insts[i].op.name})",
                    )
            if self.vcd is not None:
                self._dump(t, counts_before, popped, reason, dispatched, stop)
            if stop is not None:
                return self._finish(t, *stop)
            t += 1

    def _account(self, t: int, popped: list[bool], reason: list[int]) -> bool:
        """Count cycle ``t`` into the counters; whether anything is in flight."""
        anything = False
        for u in UNITS:
            unit = self.units[u]
            if unit.flight:
                anything = True
                unit.busy += 1
            waiting = not popped[u] and bool(unit.queue) and unit.queue[0].d < t
            if waiting:
                unit.stall += 1
                unit.stall_by[reason[u]] += 1
            if unit.flight or waiting:
                unit.occupied += 1
        for y in self.units[LOAD_UNIT].flight:
            if y.p < t <= y.p + y.beats:
                self.rd_beats += 1
        for y in self.units[EXEC_UNIT].flight:
            if y.p < t <= y.p + y.rows:
                self.array_busy += 1
                self.macs += y.macs_per_row
        for y in self.units[STORE_UNIT].flight:
            if t - y.p in y.wr_beats:
                self.wr_beats += 1
        return anything

    # Waveform --------------------------------------------------------------------------------

    def _dump(
        self,
        t: int,
        counts: list[int],
        popped: list[bool],
        reason: list[int],
        dispatched: bool,
        stop: tuple[ErrorCode, int | None, str] | None,
    ) -> None:
        assert self.vcd is not None
        values: list[int | None] = [1, t]
        if self.halted and not dispatched:
            values += [None, 0, 1]
        else:
            # After a dispatch the register already holds the next word; show this cycle's.
            pc = self.insts[-1].index if dispatched else self.f_idx
            values += [pc, int(dispatched), int(self.halted)]
        for u in UNITS:
            unit = self.units[u]
            flight = unit.flight
            q = unit.queue
            stalled = not popped[u] and bool(q) and q[0].d < t
            in_queue = sum(1 for y in q if y.d < t) + popped[u]
            values += [
                int(bool(flight)),
                int(stalled),
                reason[u] if stalled else R_NONE,
                int(popped[u]),
                flight[-1].index if flight else None,
                q[0].index if q and q[0].d < t else None,
                in_queue,
            ]
        values += counts
        rd = any(y.p < t <= y.p + y.beats for y in self.units[LOAD_UNIT].flight)
        mm = any(y.p < t <= y.p + y.rows for y in self.units[EXEC_UNIT].flight)
        wr = any(t - y.p in y.wr_beats for y in self.units[STORE_UNIT].flight)
        values += [int(mm), int(rd), int(wr)]
        values += [0, 0] if stop is None else [1, int(stop[0].value)]
        self.vcd.sample(CYCLE_NS * t, values)
        self.vcd.change(CYCLE_NS * t + CYCLE_NS // 2, 0, 0)

    # Result ----------------------------------------------------------------------------------

    def _finish(self, t: int, code: ErrorCode, index: int | None, message: str) -> StepRun:
        cycles = t + 1
        counters = {"cycles": cycles}
        for key in ("busy", "stall"):
            for u in UNITS:
                counters[f"{_COUNTER_UNIT[u]}_{key}"] = getattr(self.units[u], key)
        counters |= {
            "macs": self.macs,
            "array_busy": self.array_busy,
            "rd_beats": self.rd_beats,
            "wr_beats": self.wr_beats,
        }
        unit_stats = {
            UNIT_NAMES[u]: UnitStats(
                busy=un.busy,
                stall=un.stall,
                stall_unit_busy=un.stall_by[R_BUSY],
                stall_tokens=un.stall_by[R_TOKENS],
                stall_hazard=un.stall_by[R_HAZARD],
                stall_interlock=un.stall_by[R_INTERLOCK],
                starved=cycles - un.occupied,
                instructions=un.pops,
            )
            for u, un in self.units.items()
        }
        bus = self.cfg.bus_bytes
        stats = Stats(
            macs=self.macs,
            utilisation=self.macs / (self.cfg.peak_macs_per_cycle * cycles),
            bytes_read=self.bytes_read,
            bytes_written=self.bytes_written,
            bus_bytes_read=self.rd_beats * bus,
            bus_bytes_written=self.wr_beats * bus,
            units=MappingProxyType(unit_stats),
        )
        timeline = tuple(
            TimelineEntry(
                index=x.index,
                unit=UNIT_NAMES[x.op.unit],
                mnemonic=x.op.name,
                A=x.a,
                D=x.d,
                P=None if x.p < 0 else x.p,
                E=None if x.e < 0 else x.e,
            )
            for x in self.insts
            if x is not self.held  # queue_depth 0: offered to its unit, never dispatched
        )
        if self.vcd is not None:
            self.vcd.finish(CYCLE_NS * cycles)
        return StepRun(t, code, index, message, counters, stats, timeline)


def _signals() -> list[tuple[str, str, int]]:
    """The waveform's signals, in the order :meth:`_Stepper._dump` gives their values."""
    sig = [("systolic", "clk", 1), ("systolic", "cycle", 32)]
    sig += [("systolic.fetch", "pc", 32), ("systolic.fetch", "dispatch", 1)]
    sig += [("systolic.fetch", "halted", 1)]
    for u in UNITS:
        scope = f"systolic.{UNIT_NAMES[u]}"
        sig += [
            (scope, "busy", 1),
            (scope, "stall", 1),
            (scope, "stall_reason", 3),
            (scope, "pop", 1),
            (scope, "pc", 32),
            (scope, "head_pc", 32),
            (scope, "queue", 7),
        ]
    sig += [("systolic.tokens", name, 8) for name in TOKEN_NAMES]
    sig += [("systolic", "array_busy", 1), ("systolic", "rd_beat", 1), ("systolic", "wr_beat", 1)]
    sig += [("systolic", "stop", 1), ("systolic", "error", 4)]
    return sig


def step(
    config: AcceleratorConfig,
    words: Sequence[int],
    machine: Machine,
    dram_size: int,
    max_cycles: int | None = None,
    vcd: str | os.PathLike[str] | TextIO | None = None,
) -> StepRun:
    """Run a program one cycle at a time (effects are applied to ``machine`` as it pops).

    Parameters
    ----------
    config : AcceleratorConfig
        The accelerator.
    words : sequence of int
        Instruction words.
    machine : Machine
        Architectural state, modified in place.
    dram_size : int
        External-memory size for the range checks.
    max_cycles : int, optional
        Raise :class:`SimError` if the machine has not stopped within this many cycles.
    vcd : str, path-like or text stream, optional
        Write a waveform of every cycle there (see ``sim/README.md`` for the signals). It is
        written up to the last simulated cycle even when ``max_cycles`` stops the run.

    Returns
    -------
    StepRun
        The stop, counters, statistics and timeline.
    """
    if vcd is None:
        return _Stepper(config, words, machine, dram_size, max_cycles, None).run()
    if isinstance(vcd, str | os.PathLike):
        with open(vcd, "w", encoding="ascii", newline="\n") as stream:
            return _step_to(config, words, machine, dram_size, max_cycles, stream)
    return _step_to(config, words, machine, dram_size, max_cycles, vcd)


def _step_to(
    config: AcceleratorConfig,
    words: Sequence[int],
    machine: Machine,
    dram_size: int,
    max_cycles: int | None,
    stream: TextIO,
) -> StepRun:
    writer = VcdWriter(
        stream,
        _signals(),
        timescale="1ns",
        version=f"systolic.sim stepping mode, {config.rows}x{config.cols}, 1 cycle = {CYCLE_NS} ns",
    )
    return _Stepper(config, words, machine, dram_size, max_cycles, writer).run()
