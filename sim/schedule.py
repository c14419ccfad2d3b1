"""The cycle-level schedule of ``docs/timing.md``, event-driven at instruction granularity.

Every cycle of interest is computed, never stepped: for the head of each unit's queue the
earliest cycle at which all its pop conditions hold is a function of cycles already known
(dispatch ``D``, the unit's free cycle ``F``, the push cycle of the token it needs, the swap and
drain rules, and the in-flight intervals of the interlocking unit). The loop advances to the
smallest such candidate over the three units and fetch, and resolves that cycle in the fixed
order of the contract: execute pops before load (execute wins its interlock ties), load before
store (load wins its ties), and pops before dispatch (a pop frees queue space only from the next
cycle). Nothing can happen between two candidates, because every other unit's action in that
gap would itself have been an earlier candidate.

Pushes that could overflow a token counter are events too, checked once the cycle's pops are
known. When no candidate is left the machine is done or deadlocked at the first cycle in which
nothing is in flight.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ..spec.config import AcceleratorConfig
from ..spec.isa import ErrorCode, Opcode
from .checks import decode_checked
from .decode import EXEC_UNIT, HALT, LOAD_UNIT, STORE_UNIT, Op
from .result import SimError
from .state import Machine, store_beat_runs, transfer_beats

__all__ = ["Schedule", "run_schedule"]

INF = 1 << 62
NEG = -(1 << 62)

# Token counters: load→execute, execute→load, execute→store, store→execute.
LE, EL, ES, SE = 0, 1, 2, 3

# Scheduling kinds.
(
    K_LOAD_SP,
    K_LOAD_ACC,
    K_LSYNC,
    K_PRELOAD,
    K_MATMUL,
    K_VECTOR,
    K_ESYNC,
    K_STORE_DRAM,
    K_STORE_SP,
    K_CFG_QUANT,
    K_CFG_ACT,
    K_CFG_LUT,
    K_SSYNC,
) = range(13)

_OPC = {int(o.value): o for o in Opcode}


def _kind(op: Op) -> int:
    o = _OPC[op.opcode]
    v = op.v
    if o == Opcode.LOAD:
        return K_LOAD_ACC if v["target"] == 1 else K_LOAD_SP
    if o == Opcode.STORE:
        return K_STORE_SP if v["target"] == 1 else K_STORE_DRAM
    if o == Opcode.SYNC:
        return (K_LSYNC, K_ESYNC, K_SSYNC)[op.unit]
    return {
        Opcode.PRELOAD: K_PRELOAD,
        Opcode.MATMUL: K_MATMUL,
        Opcode.VECTOR: K_VECTOR,
        Opcode.CFG_QUANT: K_CFG_QUANT,
        Opcode.CFG_ACT: K_CFG_ACT,
        Opcode.CFG_LUT: K_CFG_LUT,
    }[o]


def _tokens(op: Op) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Counters the instruction pops and pushes."""
    if op.unit == LOAD_UNIT:
        return ((EL,) if op.pop_next else ()), ((LE,) if op.push_next else ())
    if op.unit == EXEC_UNIT:
        pops = ((LE,) if op.pop_prev else ()) + ((SE,) if op.pop_next else ())
        pushes = ((EL,) if op.push_prev else ()) + ((ES,) if op.push_next else ())
        return pops, pushes
    return ((ES,) if op.pop_prev else ()), ((SE,) if op.push_prev else ())


@dataclass(slots=True)
class _Entry:
    """An instruction in a unit's queue."""

    index: int
    op: Op
    kind: int
    D: int
    pops: tuple[int, ...]
    pushes: tuple[int, ...]


class _Counter:
    """One token counter: push cycles (known once the producer pops) and pops so far."""

    __slots__ = ("npops", "push_idx", "push_t")

    def __init__(self) -> None:
        self.push_t: list[int] = []
        self.push_idx: list[int] = []
        self.npops = 0

    def ready(self) -> int:
        """First cycle at which the next pop sees a token (``INF``: its push is not known)."""
        k = self.npops
        return self.push_t[k] + 1 if k < len(self.push_t) else INF


@dataclass
class Schedule:
    """Everything the schedule decided; :mod:`.stats` turns it into counters.

    ``A`` ... ``macs_per_row`` are per dispatched instruction (``P``/``E`` are ``None`` if it
    never popped; ``beats`` are a load's or DRAM store's bus beats, ``mm_rows`` a matmul's
    rows; ``wr_runs`` a DRAM store's beats as runs ``(first cycle after P, beats)``).
    ``busy`` ... ``pops`` are per unit (load, execute, store), already clipped at the stopping
    cycle.
    """

    stop: int
    error: ErrorCode
    error_index: int | None
    error_message: str
    A: list[int]
    D: list[int]
    P: list[int | None]
    E: list[int | None]
    unit: list[int]
    name: list[str]
    beats: list[int]
    wr_runs: dict[int, tuple[tuple[int, int], ...]]
    mm_rows: list[int]
    macs_per_row: list[int]
    busy: list[int]
    stall: list[int]
    stall_busy: list[int]
    stall_tokens: list[int]
    stall_hazard: list[int]
    stall_interlock: list[int]
    occupied: list[int]
    pops: list[int]
    bytes_read: int
    bytes_written: int


class _Engine:
    """One run: fetch, three queues, four token counters and the interlock intervals."""

    def __init__(
        self,
        config: AcceleratorConfig,
        words: Sequence[int],
        machine: Machine,
        dram_size: int,
        max_cycles: int | None,
    ) -> None:
        self.cfg = config
        self.words = words
        self.m = machine
        self.dram_size = dram_size
        self.max_cycles = max_cycles
        self.R, self.C = config.rows, config.cols
        self.swap_clearance = config.swap_clearance
        self.Q = config.queue_depth
        self.TD = config.token_depth
        self.queues: list[deque[_Entry]] = [deque(), deque(), deque()]
        self.pop_times: list[list[int]] = [[], [], []]
        self.sent = [0, 0, 0]
        self.free = [0, 0, 0]
        self.last_e = [NEG, NEG, NEG]
        self.last_pop = [NEG, NEG, NEG]
        self.ctr = [_Counter() for _ in range(4)]
        self.overflow: list[tuple[int, int, int]] = []  # (cycle, counter, push number)
        self.swap_t = NEG  # issue cycle of the first row of the latest matmul with swap=1
        # In-flight intervals (P, E) that interlocks look at, oldest first.
        self.exec_mv: deque[tuple[int, int]] = deque()
        self.load_acc: deque[tuple[int, int]] = deque()
        self.load_sp: deque[tuple[int, int]] = deque()
        self.store_sp: deque[tuple[int, int]] = deque()
        self.max_e = NEG
        # Per fetched instruction.
        self.A: list[int] = []
        self.D: list[int] = []
        self.P: list[int | None] = []
        self.E: list[int | None] = []
        self.unit: list[int] = []
        self.name: list[str] = []
        self.beats: list[int] = []
        self.wr_runs: dict[int, tuple[tuple[int, int], ...]] = {}
        self.mm_rows: list[int] = []
        self.macs_per_row: list[int] = []
        # Per unit.
        self.busy = [0, 0, 0]
        self.stall = [0, 0, 0]
        self.st_busy = [0, 0, 0]
        self.st_tok = [0, 0, 0]
        self.st_haz = [0, 0, 0]
        self.st_il = [0, 0, 0]
        self.occ = [0, 0, 0]
        self.occ_end = [NEG, NEG, NEG]
        self.bytes_read = 0
        self.bytes_written = 0
        # Fetch.
        self.halted = False
        self.f_idx = 0
        self.f_A = config.decode_stages
        self.f_op: Op | tuple[ErrorCode, str] = self._decode(0)
        self.held = -1  # queue_depth 0: index of the unit head that is the decode register
        self._hand_over()

    # Fetch ----------------------------------------------------------------------------------

    def _decode(self, index: int) -> Op | tuple[ErrorCode, str]:
        if index >= len(self.words):
            # Instruction memory beyond the program reads as zero: opcode 0 traps.
            return ErrorCode.ILLEGAL_OPCODE, "illegal opcode 0 (fetch ran past the program)"
        return decode_checked(self.words[index], self.cfg, self.dram_size)

    def _hand_over(self) -> None:
        """queue_depth 0: from A, the instruction in the decode register is its unit's head.

        Its D is the cycle before A until it pops; then D = P and fetch moves on.
        """
        op = self.f_op
        if self.Q == 0 and isinstance(op, Op) and op.unit != HALT:
            self.held = self.f_idx
            self._dispatch(self.f_A - 1)

    def _next(self, t: int) -> None:
        """The instruction after the one dispatched at t enters the decode register at t + 1."""
        self.f_idx += 1
        self.f_A = t + 1
        self.f_op = self._decode(self.f_idx)
        self._hand_over()

    def _fetch_cand(self) -> int:
        if self.halted or self.held >= 0:
            return INF
        op = self.f_op
        if isinstance(op, tuple) or op.unit == HALT:
            return self.f_A
        u = op.unit
        k = self.sent[u] - self.Q
        if k < 0:
            return self.f_A
        pops = self.pop_times[u]
        return max(self.f_A, pops[k] + 1) if k < len(pops) else INF

    def _dispatch(self, t: int) -> None:
        op = self.f_op
        assert isinstance(op, Op)
        self.A.append(self.f_A)
        self.D.append(t)
        self.P.append(None)
        self.E.append(None)
        self.unit.append(op.unit)
        self.name.append(op.name)
        self.beats.append(0)
        self.mm_rows.append(0)
        self.macs_per_row.append(0)
        if op.unit == HALT:
            self.halted = True
            return
        pops, pushes = _tokens(op)
        self.queues[op.unit].append(_Entry(self.f_idx, op, _kind(op), t, pops, pushes))
        self.sent[op.unit] += 1
        if self.held < 0:
            self._next(t)

    # Pop conditions -------------------------------------------------------------------------

    @staticmethod
    def _skip(c: int, intervals: deque[tuple[int, int]]) -> int:
        """First cycle >= c outside every interval (sorted by start, ends increasing)."""
        for p, e in intervals:
            if c < p:
                break
            if c <= e:
                c = e + 1
        return c

    def _conditions(self, u: int, t: int) -> tuple[int, int, int, int]:
        """For the head of unit u: (free, tokens, hazard, candidate) lower bounds from t."""
        e = self.queues[u][0]
        free = max(t, e.D + 1, self.free[u])
        tok = free
        for k in e.pops:
            tok = max(tok, self.ctr[k].ready())
        kind = e.kind
        haz = tok
        if kind == K_PRELOAD:
            haz = max(haz, self.swap_t + self.swap_clearance)
        elif kind == K_VECTOR:
            haz = max(haz, self.last_e[EXEC_UNIT])
        c = haz
        if c >= INF:
            return free, tok, haz, INF
        if kind == K_LOAD_ACC:
            c = self._skip(c, self.exec_mv)
        elif kind == K_LOAD_SP:
            c = self._skip(c, self.store_sp)
        elif kind in (K_MATMUL, K_VECTOR):
            c = self._skip(c, self.load_acc)
        elif kind == K_STORE_SP:
            c = self._skip(c, self.load_sp)
        return free, tok, haz, c

    def _cand(self, u: int, t: int) -> int:
        if not self.queues[u]:
            return INF
        return self._conditions(u, t)[3]

    # Pops -----------------------------------------------------------------------------------

    def _account_wait(self, u: int, e: _Entry, end: int) -> None:
        """Stall cycles of a head that waited until ``end`` (exclusive), split by reason."""
        start = max(e.D + 1, self.last_pop[u] + 1)
        if end <= start:
            return
        free, tok, haz, _ = self._conditions(u, start)
        b1 = min(free, end)
        b2 = min(max(tok, b1), end)
        b3 = min(max(haz, b2), end)
        self.stall[u] += end - start
        self.st_busy[u] += b1 - start
        self.st_tok[u] += b2 - b1
        self.st_haz[u] += b3 - b2
        self.st_il[u] += end - b3

    def _pop(self, u: int, t: int) -> None:
        e = self.queues[u][0]
        self._account_wait(u, e, t)
        self.queues[u].popleft()
        for k in e.pops:
            self.ctr[k].npops += 1
        v = e.op.v
        kind = e.kind
        m = self.m
        cfg = self.cfg
        i = e.index
        if u == LOAD_UNIT:
            if kind == K_LSYNC:
                end = max(t + 1, self.last_e[u] + 1)
                free = end
            else:
                eb = 4 if v["elem"] == 1 else 1
                n = v["n_inner"] * v["n_outer"]
                beats = transfer_beats(
                    v["addr"],
                    v["n_inner"],
                    v["n_outer"],
                    v["stride_inner"],
                    v["stride_outer"],
                    v["len"] * eb,
                    cfg.bus_bytes,
                )
                self.beats[i] = beats
                self.bytes_read += n * v["len"] * eb
                end = t + beats + cfg.mem_latency + 1
                free = t + beats
                (self.load_acc if kind == K_LOAD_ACC else self.load_sp).append((t, end))
                m.load(v)
        elif u == EXEC_UNIT:
            if kind == K_MATMUL:
                n = v["n"]
                issue, done = cfg.execute_cycles("matmul", n)
                end, free = t + done, t + issue
                if v["swap"]:
                    self.swap_t = t + 1
                macs = m.matmul(v)
                self.mm_rows[i] = n
                self.macs_per_row[i] = macs // n
                self.exec_mv.append((t, end))
            elif kind == K_PRELOAD:
                issue, done = cfg.execute_cycles("preload")
                end, free = t + done, t + issue
                m.preload(v)
            elif kind == K_VECTOR:
                n = v["n"]
                issue, done = cfg.execute_cycles("vector", n)
                end, free = t + done, t + issue
                self.exec_mv.append((t, end))
                m.vector(v)
            else:
                issue, done = cfg.execute_cycles("sync")
                end, free = t + done, t + issue
        else:
            if kind == K_STORE_DRAM:
                eb = 4 if v["elem"] == 1 else 1
                runs = store_beat_runs(
                    v["addr"],
                    v["n_inner"],
                    v["n_outer"],
                    v["stride_inner"],
                    v["stride_outer"],
                    v["len"] * eb,
                    cfg.bus_bytes,
                    cfg.requant_passes,
                    cfg.store_row_latency,
                )
                self.beats[i] = sum(n for _, n in runs)
                self.wr_runs[i] = runs
                self.bytes_written += v["n_inner"] * v["n_outer"] * v["len"] * eb
                end = t + runs[-1][0] + runs[-1][1] - 1 + cfg.mem_latency  # last beat + L
                m.store(v)
            elif kind == K_STORE_SP:
                # One row per `requant_passes` cycles from P+1, each written a latency later.
                n = v["n_inner"] * v["n_outer"]
                end = t + 1 + (n - 1) * cfg.requant_passes + cfg.store_row_latency
                self.store_sp.append((t, end))
                m.store(v)
            elif kind == K_CFG_QUANT:
                end = t + 3
                m.cfg_quant(v)
            elif kind == K_CFG_ACT:
                end = t + 1
                m.cfg_act(v)
            elif kind == K_CFG_LUT:
                end = t + 257
                m.cfg_lut(v)
            else:
                end = t + 1
            free = end + 1
        self.P[i] = t
        self.E[i] = end
        self.free[u] = free
        self.last_pop[u] = t
        self.busy[u] += end - max(t, self.last_e[u] + 1) + 1
        self.occ[u] += end - max(e.D + 1, self.occ_end[u] + 1) + 1
        self.occ_end[u] = end
        self.last_e[u] = end
        self.max_e = max(self.max_e, end)
        self.pop_times[u].append(t)
        for k in e.pushes:
            c = self.ctr[k]
            c.push_t.append(end)
            c.push_idx.append(i)
            if len(c.push_t) - c.npops > self.TD:  # may overflow unless pops come first
                heapq.heappush(self.overflow, (end, k, len(c.push_t) - 1))
        if i == self.held:  # queue_depth 0: popping is dispatching; fetch moves on
            self.D[i] = t
            self.held = -1
            self._next(t)

    # Main loop ------------------------------------------------------------------------------

    def run(self) -> Schedule:
        t = 0
        stop: tuple[int, ErrorCode, int | None, str] | None = None
        queues = self.queues
        while True:
            for dq in (self.exec_mv, self.load_acc, self.load_sp, self.store_sp):
                while dq and dq[0][1] < t:
                    dq.popleft()
            ce = self._cand(EXEC_UNIT, t)
            cl = self._cand(LOAD_UNIT, t)
            cs = self._cand(STORE_UNIT, t)
            cf = self._fetch_cand()
            co = self.overflow[0][0] if self.overflow else INF
            tn = min(ce, cl, cs, cf, co)
            if tn >= INF:
                break
            if self.max_cycles is not None and tn >= self.max_cycles:
                raise SimError(f"the machine did not stop within max_cycles = {self.max_cycles}")
            # A pop in this cycle can only block a later unit's pop in the same cycle (the
            # same-cycle interlock rules), so re-check the later units after one.
            popped = False
            if ce == tn:
                self._pop(EXEC_UNIT, tn)
                popped = True
            if cl == tn and (not popped or self._cand(LOAD_UNIT, tn) == tn):
                self._pop(LOAD_UNIT, tn)
                popped = True
            if cs == tn and (not popped or self._cand(STORE_UNIT, tn) == tn):
                self._pop(STORE_UNIT, tn)
            decode_error = None
            if cf == tn:
                if isinstance(self.f_op, tuple):
                    decode_error = self.f_op
                else:
                    self._dispatch(tn)
            # Reading: an overflow (by an older instruction) beats a decode error in one cycle.
            stop = self._check_overflow(tn)
            if stop is None and decode_error is not None:
                stop = (tn, decode_error[0], self.f_idx, decode_error[1])
            if stop is not None:
                break
            t = tn + 1
        if stop is None:
            # No unit or fetch can act again: the stop is the first cycle after the last event
            # with nothing in flight (a cycle with nothing in flight, no pop and no dispatch
            # cannot be followed by any pop, so no earlier cycle qualifies).
            # Not before the decode register is filled: a queue_depth 0 head held there from A
            # may be the only instruction.
            tf = max(t, self.max_e + 1, self.f_A)
            if self.max_cycles is not None and tf >= self.max_cycles:
                raise SimError(f"the machine did not stop within max_cycles = {self.max_cycles}")
            heads = [q[0].index for q in queues if q]
            if self.halted and not heads:
                stop = (tf, ErrorCode.NONE, None, "")
            else:
                idx = min(heads)
                stop = (
                    tf,
                    ErrorCode.DEADLOCK,
                    idx,
                    f"deadlock: nothing in flight and no queue head can pop; oldest head is "
                    f"instruction {idx} ({self.name[idx]})",
                )
        return self._finish(*stop)

    def _check_overflow(self, t: int) -> tuple[int, ErrorCode, int | None, str] | None:
        bad: list[int] = []
        while self.overflow and self.overflow[0][0] == t:
            _, k, j = heapq.heappop(self.overflow)
            c = self.ctr[k]
            if j + 1 - c.npops > self.TD:
                bad.append(c.push_idx[j])
        if not bad:
            return None
        i = min(bad)
        return (
            t,
            ErrorCode.TOKEN_OVERFLOW,
            i,
            f"token overflow: instruction {i} ({self.name[i]}) pushes to a counter that "
            f"already holds token_depth = {self.TD} tokens",
        )

    def _finish(self, stop: int, code: ErrorCode, index: int | None, message: str) -> Schedule:
        for u in range(3):
            q = self.queues[u]
            if q:
                # The head waited through the stopping cycle; entries behind it add no cycles.
                e = q[0]
                self._account_wait(u, e, stop + 1)
                start = max(e.D + 1, self.occ_end[u] + 1)
                self.occ[u] += max(0, stop - start + 1)
            # Clip the in-flight and occupied intervals at the stopping cycle.
            self.busy[u] -= max(0, self.last_e[u] - stop)
            self.occ[u] -= max(0, self.occ_end[u] - stop)
        if self.held >= 0:
            # queue_depth 0: offered to its unit (the last one fetched) but never dispatched,
            # so not part of the timeline.
            for column in (self.A, self.D, self.P, self.E, self.unit, self.name):
                del column[self.held :]
            for column in (self.beats, self.mm_rows, self.macs_per_row):
                del column[self.held :]
        return Schedule(
            stop=stop,
            error=code,
            error_index=index,
            error_message=message,
            A=self.A,
            D=self.D,
            P=self.P,
            E=self.E,
            unit=self.unit,
            name=self.name,
            beats=self.beats,
            wr_runs=self.wr_runs,
            mm_rows=self.mm_rows,
            macs_per_row=self.macs_per_row,
            busy=self.busy,
            stall=self.stall,
            stall_busy=self.st_busy,
            stall_tokens=self.st_tok,
            stall_hazard=self.st_haz,
            stall_interlock=self.st_il,
            occupied=self.occ,
            pops=[len(p) for p in self.pop_times],
            bytes_read=self.bytes_read,
            bytes_written=self.bytes_written,
        )


def run_schedule(
    config: AcceleratorConfig,
    words: Sequence[int],
    machine: Machine,
    dram_size: int,
    max_cycles: int | None = None,
) -> Schedule:
    """Run a program on ``machine`` (its effects are applied as instructions pop).

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

    Returns
    -------
    Schedule
        The cycles of every instruction, the stop and the raw accounting.
    """
    return _Engine(config, words, machine, dram_size, max_cycles).run()
