"""The machine's architectural state and the functional effect of each instruction.

The scheduler (:mod:`.schedule`) applies an instruction's whole effect when the instruction
pops, in pop order. For a program whose cross-unit accesses are ordered by dependency tokens
or by the two interlocks this equals the hardware's result (and program order); see
``sim/README.md``.

Integer semantics follow ``docs/quantisation.md`` and ``spec/golden.py`` exactly, vectorised in
int64 (golden's checking wrappers are too slow for inner loops).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from ..spec.config import AcceleratorConfig

__all__ = ["Machine", "round_shift", "row_starts", "store_beat_runs", "transfer_beats"]

I64 = npt.NDArray[np.int64]
_ACT_CLAMP, _ACT_LUT = 1, 2
_MODE_ACCUMULATE, _MODE_BIAS = 1, 2
_OP_ADD, _OP_SUB, _OP_MUL, _OP_MAX = 0, 1, 2, 3


def round_shift(v: I64, s: int | I64) -> I64:
    """``(v + 2^(s-1)) >> s`` for ``s > 0``, ``v`` for ``s = 0``, without int64 overflow.

    ``s`` is an int or an int64 array broadcast against ``v``, each in [0, 63]. Evaluated as
    ``(v >> s) + bit (s-1) of v``, the form ``docs/quantisation.md`` allows.
    """
    if isinstance(s, int):
        if s == 0:
            return v
        return np.asarray((v >> s) + ((v >> (s - 1)) & 1), dtype=np.int64)
    s_arr = np.asarray(s, dtype=np.int64)
    half = ((v >> np.maximum(s_arr - 1, 0)) & 1) * (s_arr > 0)
    return np.asarray((v >> s_arr) + half, dtype=np.int64)


def row_starts(addr: int, n_inner: int, n_outer: int, s_inner: int, s_outer: int) -> I64:
    """Start of row ``r = o·n_inner + i`` of a 2-D transfer: ``addr + o·s_outer + i·s_inner``."""
    outer = np.arange(n_outer, dtype=np.int64) * s_outer
    inner = np.arange(n_inner, dtype=np.int64) * s_inner
    return np.asarray((addr + outer[:, None] + inner[None, :]).ravel(), dtype=np.int64)


def transfer_beats(
    addr: int, n_inner: int, n_outer: int, s_inner: int, s_outer: int, nbytes: int, bus: int
) -> int:
    """``Σ_r ⌈(a_r mod B + nbytes) / B⌉``: bus beats of a 2-D transfer of ``nbytes`` per row."""
    if s_inner % bus == 0 and s_outer % bus == 0:
        # Every row starts at the same offset within a bus word.
        return n_inner * n_outer * ((addr % bus + nbytes + bus - 1) // bus)
    starts = row_starts(addr, n_inner, n_outer, s_inner, s_outer)
    return int(((starts % bus + nbytes + bus - 1) // bus).sum())


def store_beat_runs(
    addr: int,
    n_inner: int,
    n_outer: int,
    s_inner: int,
    s_outer: int,
    nbytes: int,
    bus: int,
    passes: int,
    latency: int,
) -> tuple[tuple[int, int], ...]:
    """A DRAM store's bus beats as runs ``(first cycle after P, beats)`` (docs/timing.md).

    Row r is read at ``T_r`` (``T_0 = P + 1``, ``T_{r+1} = T_r + max(nb_r, passes)``) and its
    ``nb_r`` beats issue back to back from ``T_r + latency``. They run on into the next row's
    unless a row has fewer beats than ``passes``.
    """
    first = 1 + latency
    if s_inner % bus == 0 and s_outer % bus == 0:
        nb = (addr % bus + nbytes + bus - 1) // bus
        if nb >= passes or n_inner * n_outer == 1:
            return ((first, n_inner * n_outer * nb),)
    beats = (row_starts(addr, n_inner, n_outer, s_inner, s_outer) % bus + nbytes + bus - 1) // bus
    if passes == 1 or bool((beats[:-1] >= passes).all()):
        return ((first, int(beats.sum())),)
    starts = first + np.concatenate(([0], np.cumsum(np.maximum(beats, passes))[:-1]))
    cut = np.flatnonzero(beats[:-1] < passes) + 1  # a gap before each of these rows
    bounds = np.concatenate(([0], cut, [len(beats)]))
    sums = np.add.reduceat(beats, bounds[:-1])
    return tuple((int(starts[b]), int(n)) for b, n in zip(bounds[:-1], sums, strict=True))


def _last_writes(targets: I64) -> I64:
    """Positions of the last occurrence of each distinct value (later writes win)."""
    _, first_in_reversed = np.unique(targets[::-1], return_index=True)
    return np.asarray(len(targets) - 1 - first_in_reversed, dtype=np.int64)


class Machine:
    """Scratchpad, accumulator, weight tiles, store-path registers and external memory.

    Parameters
    ----------
    config : AcceleratorConfig
        The accelerator.
    memory : bytearray
        External memory; modified in place.
    """

    def __init__(self, config: AcceleratorConfig, memory: bytearray) -> None:
        self.config = config
        self.memory = memory
        self.mem = np.frombuffer(memory, dtype=np.uint8)
        c = config
        self.sp = np.zeros((c.sp_depth, c.lanes), dtype=np.int8)
        self.acc = np.zeros((c.acc_depth, c.cols), dtype=np.int32)
        self.shadow = np.zeros((c.rows, c.cols), dtype=np.int8)
        self.shadow_dims = (0, 0)
        # The active tile in float64: products of int8 summed over at most 1023 rows stay below
        # 2^24 in magnitude, so BLAS computes them exactly, much faster than an int64 matmul.
        self.active = np.zeros((c.rows, c.cols), dtype=np.float64)
        self.active_dims = (0, 0)
        self.mult = np.zeros(c.cols, dtype=np.int64)
        self.shift = np.zeros(c.cols, dtype=np.int64)
        self.act_mode = 0
        self.act_slot = 0
        self.act_lo = -128
        self.act_hi = 127
        self.lut = np.zeros((2, 256), dtype=np.int8)

    # Load unit ------------------------------------------------------------------------------

    def _read_rows(self, v: Mapping[str, int], width: int) -> npt.NDArray[np.uint8]:
        n_i, n_o = v["n_inner"], v["n_outer"]
        # A strided view over memory (the range check keeps it inside); strides may be 0.
        view = as_strided(
            self.mem[v["addr"] :],
            shape=(n_o, n_i, width),
            strides=(v["stride_outer"], v["stride_inner"], 1),
            writeable=False,
        )
        return np.ascontiguousarray(view).reshape(n_o * n_i, width)

    def load(self, v: Mapping[str, int]) -> None:
        """``load``: rows from external memory to the scratchpad or the accumulator."""
        n = v["n_inner"] * v["n_outer"]
        ln, dst = v["len"], v["dst"]
        if v["target"] == 0:
            sp = self.sp[dst : dst + n]
            sp[:, :ln] = self._read_rows(v, ln).view(np.int8)
            sp[:, ln:] = 0
        else:
            raw = self._read_rows(v, ln * 4 if v["elem"] == 1 else ln)
            acc = self.acc[dst : dst + n]
            acc[:, :ln] = raw.view("<i4") if v["elem"] == 1 else raw.view(np.int8)
            acc[:, ln:] = 0

    # Store unit -----------------------------------------------------------------------------

    def post_process(self, acc: npt.NDArray[np.int32]) -> npt.NDArray[np.int8]:
        """Requantise (per lane), saturate and activate accumulator rows ``[n, len]``."""
        ln = acc.shape[1]
        v = acc.astype(np.int64) * self.mult[:ln]  # |acc·M| <= 2^62: exact
        q = np.clip(round_shift(v, self.shift[:ln]), -128, 127)
        if self.act_mode == _ACT_CLAMP:
            q = np.minimum(np.maximum(q, self.act_lo), self.act_hi)
        elif self.act_mode == _ACT_LUT:
            return np.asarray(self.lut[self.act_slot][q + 128], dtype=np.int8)
        return q.astype(np.int8)

    def store(self, v: Mapping[str, int]) -> None:
        """``store``: accumulator rows through the store path to memory or the scratchpad."""
        n = v["n_inner"] * v["n_outer"]
        ln, src = v["len"], v["src"]
        acc = self.acc[src : src + n, :ln]
        targets = row_starts(
            v["addr"], v["n_inner"], v["n_outer"], v["stride_inner"], v["stride_outer"]
        )
        if v["target"] == 1:
            q = self.post_process(acc)
            if n > 1 and len(np.unique(targets)) < n:
                keep = _last_writes(targets)
                targets, q = targets[keep], q[keep]
            self.sp[targets, :ln] = q
            self.sp[targets, ln:] = 0
            return
        data = acc.astype("<i4").view(np.uint8) if v["elem"] == 1 else self.post_process(acc)
        width = data.shape[1]
        index = (targets[:, None] + np.arange(width, dtype=np.int64)).ravel()
        flat = data.view(np.uint8).ravel()
        order = np.sort(targets)
        if n > 1 and np.any(np.diff(order) < width):  # rows overlap: the later row wins
            keep = _last_writes(index)
            index, flat = index[keep], flat[keep]
        self.mem[index] = flat

    def cfg_quant(self, v: Mapping[str, int]) -> None:
        """``cfg_quant``: per-lane multipliers and shifts from two accumulator rows."""
        self.mult = self.acc[v["mult_row"]].astype(np.int64)
        self.shift = self.acc[v["shift_row"]].astype(np.int64) & 63

    def cfg_act(self, v: Mapping[str, int]) -> None:
        """``cfg_act``: activation mode, LUT slot and clamp bounds."""
        self.act_mode, self.act_slot = v["mode"], v["slot"]
        self.act_lo, self.act_hi = v["lo"], v["hi"]

    def cfg_lut(self, v: Mapping[str, int]) -> None:
        """``cfg_lut``: entry e = low byte of lane e mod C of row src + e div C."""
        rows = self.acc[v["src"] : v["src"] + self.config.lut_rows]
        self.lut[v["slot"]] = rows.ravel()[:256].astype(np.int8)  # keeps the low byte

    # Execute unit ---------------------------------------------------------------------------

    def preload(self, v: Mapping[str, int]) -> None:
        """``preload``: the shadow tile from scratchpad rows (outside rows x cols: zero)."""
        r, c, src = v["rows"], v["cols"], v["src"]
        self.shadow[:] = 0
        self.shadow[:r, :c] = self.sp[src : src + r, :c]
        self.shadow_dims = (r, c)

    def matmul(self, v: Mapping[str, int]) -> int:
        """``matmul``: stream rows through the array; returns the MACs it counts."""
        if v["swap"]:
            self.active = self.shadow.astype(np.float64)
            self.active_dims = self.shadow_dims
        n, src, dst = v["n"], v["src"], v["dst"]
        x = self.sp[src : src + n, : self.config.rows].astype(np.float64)
        p = (x @ self.active).astype(np.int64)
        out = self.acc[dst : dst + n]
        mode = v["mode"]
        if mode == _MODE_ACCUMULATE:
            out[:] = (out.astype(np.int64) + p).astype(np.int32)
        elif mode == _MODE_BIAS:
            bias = v["bias"]
            b = self.acc[bias].astype(np.int64)
            k = bias - dst
            if 0 <= k < n - 1:
                # Row m reads the bias row one cycle before it writes, seeing rows < m written
                # by this same matmul: rows after k add the bias row's new value.
                out[: k + 1] = (p[: k + 1] + b).astype(np.int32)
                out[k + 1 :] = (p[k + 1 :] + out[k].astype(np.int64)).astype(np.int32)
            else:
                out[:] = (p + b).astype(np.int32)
        else:
            out[:] = p.astype(np.int32)
        rows, cols = self.active_dims
        return n * rows * cols

    def vector(self, v: Mapping[str, int]) -> None:
        """``vector``: lane-wise op on accumulator rows, in row order."""
        n = v["n"]
        idx = np.arange(n, dtype=np.int64)
        dst = v["dst"] + idx * v["dst_stride"]
        a = v["a"] + idx * v["a_stride"]
        b = None if v["b_imm"] else v["b"] + idx * v["b_stride"]
        if n > 1 and self._reads_own_writes(dst, a, b):
            for i in range(n):
                bi = None if b is None else b[i : i + 1]
                self._vector_rows(v, dst[i : i + 1], a[i : i + 1], bi)
        else:
            self._vector_rows(v, dst, a, b)

    @staticmethod
    def _reads_own_writes(dst: I64, a: I64, b: I64 | None) -> bool:
        """Whether some row reads (or rewrites) a row that an earlier row of the same op wrote."""
        if dst[1] == dst[0]:
            return True  # dst_stride 0: every row rewrites one row
        for src in (a, b):
            if src is None:
                continue
            pos = np.searchsorted(dst, src)  # dst is strictly increasing
            hit = pos < len(dst)
            hit[hit] &= dst[pos[hit]] == src[hit]
            if np.any(hit & (pos < np.arange(len(src)))):
                return True
        return False

    def _vector_rows(self, v: Mapping[str, int], dst: I64, a: I64, b: I64 | None) -> None:
        acc = self.acc
        x = acc[a].astype(np.int64)
        y: Any = np.int64(v["imm"]) if b is None else acc[b].astype(np.int64)
        op = v["op"]
        if op == _OP_ADD:
            r = x + y
        elif op == _OP_SUB:
            r = x - y
        elif op == _OP_MUL:
            r = x * np.asarray(y).astype(np.int16).astype(np.int64)  # low 16 bits, signed
        elif op == _OP_MAX:
            r = np.maximum(x, y)
        else:
            r = np.minimum(x, y)
        acc[dst] = round_shift(np.asarray(r, dtype=np.int64), int(v["shift"])).astype(np.int32)
