"""Program builders shared by the simulator's and the RTL's tests.

Every builder returns a :class:`Case`: a :class:`~systolic.spec.program.Program`, the inputs to
write into it, and the expected result, computed independently of any executor with
``spec/golden.py`` (or, for the vector unit, a plain-integer reference written here). Error
programs expect an :class:`~systolic.spec.isa.ErrorCode` and the index it names.

Nothing here depends on the simulator, so the RTL testbench can run the same cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from systolic.spec import golden
from systolic.spec.config import AcceleratorConfig
from systolic.spec.isa import (
    FORMATS_BY_NAME,
    ActMode,
    Elem,
    ErrorCode,
    Instruction,
    LoadTarget,
    MatMode,
    StoreTarget,
    Unit,
    VecOp,
    encode,
)
from systolic.spec.program import Program, TensorDesc

__all__ = [
    "Builder",
    "Case",
    "error_cases",
    "hand_cases",
    "lut_program",
    "requant_ties_program",
    "store_sp_program",
    "tiled_matmul",
    "vector_program",
    "vector_reference",
]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Case:
    """A program with its inputs and expected outcome.

    Parameters
    ----------
    name : str
        Short identifier (used as a test id).
    program : Program
        The program.
    inputs : dict of str to numpy.ndarray
        Values for the program's input tensors.
    expected : dict of str to numpy.ndarray
        Expected output tensors (empty for error programs).
    error : ErrorCode
        Expected error (``NONE`` for a normal halt).
    error_index : int or None
        Index of the instruction the error names.
    """

    name: str
    program: Program
    inputs: dict[str, Array] = field(default_factory=dict)
    expected: dict[str, Array] = field(default_factory=dict)
    error: ErrorCode = ErrorCode.NONE
    error_index: int | None = None


class Builder:
    """Collects instruction words and lays out a memory image with named tensors."""

    def __init__(self, config: AcceleratorConfig, *, misalign: int = 0) -> None:
        self.config = config
        self.words: list[int] = []
        self.memory = bytearray()
        self.misalign = misalign
        self.inputs: list[TensorDesc] = []
        self.outputs: list[TensorDesc] = []

    def emit(self, name: str, *deps: str, **fields: Any) -> int:
        """Append one instruction (omitted fields take their defaults); returns its index."""
        fmt = FORMATS_BY_NAME[name]
        values = {f.name: fields.pop(f.name, f.default) for f in fmt.fields}
        if fields:
            raise ValueError(f"{name}: unknown fields {sorted(fields)}")
        # encode validates every field (Instruction.make would encode twice).
        self.words.append(encode(Instruction(fmt, values, frozenset(deps))))
        return len(self.words) - 1

    def word(self, word: int) -> int:
        """Append a raw (possibly illegal) word; returns its index."""
        self.words.append(word)
        return len(self.words) - 1

    def alloc(self, nbytes: int, *, pad: int = 0) -> int:
        """Reserve bytes (plus ``pad`` zero bytes after them); returns the byte address.

        Regions start ``misalign`` bytes after a 64-byte boundary, so that transfers exercise
        unaligned bus beats when ``misalign`` is not 0.
        """
        start = -(-len(self.memory) // 64) * 64 + self.misalign
        self.memory.extend(bytes(start + nbytes + pad - len(self.memory)))
        return start

    def place(self, values: npt.ArrayLike, dtype: str, *, pad: int = 0) -> int:
        """Copy an array (row-major, little-endian) into memory; returns its address."""
        data = np.ascontiguousarray(np.asarray(values).astype("<i4" if dtype == "int32" else "i1"))
        addr = self.alloc(data.nbytes, pad=pad)
        self.memory[addr : addr + data.nbytes] = data.tobytes()
        return addr

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str, *, output: bool) -> int:
        """Reserve a dense row-major tensor and describe it as an input or output."""
        item = 4 if dtype == "int32" else 1
        strides = tuple(int(math.prod(shape[i + 1 :])) * item for i in range(len(shape)))
        addr = self.alloc(int(math.prod(shape)) * item)
        desc = TensorDesc(
            name=name, shape=shape, dtype=dtype, scale=1.0, offset=addr, strides=strides
        )
        (self.outputs if output else self.inputs).append(desc)
        return addr

    def program(self, **metadata: Any) -> Program:
        return Program(
            config=self.config,
            instructions=tuple(self.words),
            memory=bytes(self.memory),
            inputs=tuple(self.inputs),
            outputs=tuple(self.outputs),
            metadata=metadata,
        )


def _activation(kind: str) -> golden.Activation:
    if kind == "none":
        return golden.NO_ACTIVATION
    if kind == "relu":
        return golden.Activation.relu()
    if kind == "clamp":
        return golden.Activation.clamp(-20, 90)
    if kind == "lut":
        return golden.Activation.lookup(golden.TANH_LUT)
    raise ValueError(f"unknown activation {kind!r}")


def _emit_act(b: Builder, act: golden.Activation, lut_row: int) -> None:
    """Store-path activation: cfg_lut (slot 1) and cfg_act."""
    if act.kind == "lut":
        b.emit("cfg_lut", slot=1, src=lut_row)
        b.emit("cfg_act", mode=ActMode.LUT, slot=1)
    elif act.kind == "clamp":
        b.emit("cfg_act", mode=ActMode.CLAMP, lo=act.lo, hi=act.hi)
    else:
        b.emit("cfg_act", mode=ActMode.NONE)


def _requant_params(rng: np.random.Generator, k: int, n: int) -> tuple[Array, Array]:
    """Per-channel (M, s) that map a typical |acc| ~ sqrt(K)·5000 to int8 magnitudes ~ 60."""
    ratios = rng.uniform(0.5, 2.0, size=n) * 60.0 / (math.sqrt(k) * 5000.0)
    return golden.quantize_multipliers(ratios)


def tiled_matmul(
    config: AcceleratorConfig,
    M: int,
    K: int,
    N: int,
    *,
    bias: bool = True,
    requant: bool = True,
    act: str = "none",
    seed: int = 0,
    misalign: int = 3,
    buffers: int = 2,
    golden_rows: int | None = None,
) -> Case:
    """``Y = act(requant(X @ W + b))`` tiled over the array, for any M, K, N.

    Weight-stationary schedule: for each output block (``mt`` rows of X by one column tile of
    ``C`` outputs), for each K tile of ``R`` rows: load the X tile and the W tile into one of two
    scratchpad buffers, preload W, and matmul with ``swap=1`` into one of two accumulator blocks
    (``bias`` mode from a bias row on the first K tile, ``accumulate`` after). The store unit
    requantises each finished block with its column tile's cfg_quant rows. Tokens: load→execute
    per tile (the W load pushes; completions are in order so it covers the X load), execute→load
    when a scratchpad buffer is free again, execute→store per finished block, store→execute when
    an accumulator block is free again. Every token is pushed by an earlier instruction, so the
    program cannot deadlock for any queue depth.

    Parameters
    ----------
    config : AcceleratorConfig
        The accelerator.
    M, K, N : int
        Problem size: X is ``[M, K]`` int8 (input ``"x"``), W ``[K, N]`` int8 (in the image).
    bias : bool
        Add a per-channel int32 bias (matmul mode ``bias``).
    requant : bool
        Store requantised int8 (output ``"y"`` ``[M, N]`` int8); otherwise raw int32.
    act : {"none", "relu", "clamp", "lut"}
        Activation (``lut`` uses golden's tanh table).
    seed : int
        Seed for the random data.
    misalign : int
        Byte offset of every tensor from a 64-byte boundary (unaligned beats when not 0).
    buffers : int
        Scratchpad and accumulator buffers (at most ``token_depth``): 2 overlaps loads, compute
        and stores; 1 serialises each tile's loads behind the previous tile's matmul.
    golden_rows : int, optional
        Compute the expectation for the first ``golden_rows`` rows of Y only (for very large
        problems, where golden's int64 matmul dominates); ``expected["y"]`` then has that many
        rows.

    Returns
    -------
    Case
        The program and ``golden.fully_connected`` (or ``golden.matmul_acc``) as expectation.
    """
    R, C = config.rows, config.cols
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    w = rng.integers(-127, 128, size=(K, N), dtype=np.int8)
    b_vals = rng.integers(-50_000, 50_000, size=N).astype(np.int32) if bias else None
    mult, shift = _requant_params(rng, K, N)
    activation = _activation(act) if requant else golden.NO_ACTIVATION
    nt = -(-N // C)

    bld = Builder(config, misalign=misalign)
    x_addr = bld.tensor("x", (M, K), "int8", output=False)
    w_addr = bld.place(w, "int8")

    def padded(v: Array) -> Array:
        out = np.zeros(nt * C, dtype=np.int64)
        out[: len(v)] = v
        return out

    # Accumulator: constant rows first, then the output blocks.
    acc_rows = 0
    bias_row = quant_row = lut_row = 0
    pre: list[tuple[int, int, int, Elem]] = []  # (acc row, address, rows, elem) to load
    if bias:
        assert b_vals is not None
        bias_row, acc_rows = acc_rows, acc_rows + nt
        pre.append((bias_row, bld.place(padded(b_vals), "int32"), nt, Elem.I32))
    if requant:
        quant_row, acc_rows = acc_rows, acc_rows + 2 * nt
        params = np.concatenate([padded(mult), padded(shift)])
        pre.append((quant_row, bld.place(params, "int32"), 2 * nt, Elem.I32))
    if activation.kind == "lut":
        assert activation.table is not None
        lut_row, acc_rows = acc_rows, acc_rows + config.lut_rows
        addr = bld.place(activation.table, "int8", pad=config.lut_rows * C - 256)
        pre.append((lut_row, addr, config.lut_rows, Elem.I8))
    y_dtype = "int8" if requant else "int32"
    eb = 1 if requant else 4
    y_addr = bld.tensor("y", (M, N), y_dtype, output=True)

    nbuf = min(buffers, config.token_depth)  # buffers in flight = tokens outstanding
    mt = min(M, 1023, (config.acc_depth - acc_rows) // nbuf, config.sp_depth // nbuf - R)
    if mt < 1:
        raise ValueError(f"{config} is too small for a {M}x{K}x{N} tiled matmul")

    for row, addr, n, elem in pre:
        width = C * 4 if elem == Elem.I32 else C
        bld.emit(
            "load",
            target=LoadTarget.ACC,
            elem=elem,
            dst=row,
            len=C,
            n_inner=n,
            addr=addr,
            stride_inner=width,
        )

    blocks = [(m0, n0) for m0 in range(0, M, mt) for n0 in range(0, N, C)]
    k_tiles = list(range(0, K, R))
    total = len(blocks) * len(k_tiles)
    tile = 0
    configured_quant = -1
    for bi, (m0, n0) in enumerate(blocks):
        mr, nc = min(mt, M - m0), min(C, N - n0)
        acc_base = acc_rows + (bi % nbuf) * mt
        for ki, k0 in enumerate(k_tiles):
            kr = min(R, K - k0)
            sp_base = (tile % nbuf) * (mt + R)
            bld.emit(
                "load",
                *(["pop_next"] if tile >= nbuf else []),
                target=LoadTarget.SP,
                dst=sp_base,
                len=kr,
                n_inner=mr,
                addr=x_addr + m0 * K + k0,
                stride_inner=K,
            )
            bld.emit(
                "load",
                "push_next",
                target=LoadTarget.SP,
                dst=sp_base + mt,
                len=nc,
                n_inner=kr,
                addr=w_addr + k0 * N + n0,
                stride_inner=N,
            )
            bld.emit("preload", "pop_prev", src=sp_base + mt, rows=kr, cols=nc)
            deps = []
            if tile + nbuf < total:
                deps.append("push_prev")
            if ki == len(k_tiles) - 1:
                deps.append("push_next")
            if ki == 0 and bi >= nbuf:
                deps.append("pop_next")
            first_k = MatMode.BIAS if bias else MatMode.OVERWRITE
            mode = first_k if ki == 0 else MatMode.ACCUMULATE
            bld.emit(
                "matmul",
                *deps,
                src=sp_base,
                dst=acc_base,
                n=mr,
                mode=mode,
                bias=bias_row + n0 // C if bias else 0,
                swap=1,
            )
            tile += 1
        # The store unit: wait for the block, configure, store, release the block.
        first = ["pop_prev"]
        if requant and configured_quant != n0 // C:
            t = n0 // C
            bld.emit("cfg_quant", *first, mult_row=quant_row + t, shift_row=quant_row + nt + t)
            first = []
            if configured_quant < 0:
                _emit_act(bld, activation, lut_row)
            configured_quant = t
        release = ["push_prev"] if bi + nbuf < len(blocks) else []
        bld.emit(
            "store",
            *first,
            *release,
            target=StoreTarget.DRAM,
            elem=Elem.I8 if requant else Elem.I32,
            src=acc_base,
            len=nc,
            n_inner=mr,
            addr=y_addr + (m0 * N + n0) * eb,
            stride_inner=N * eb,
        )
    bld.emit("halt")

    xs = x if golden_rows is None else x[:golden_rows]
    expected: Array
    if requant:
        expected = golden.fully_connected(xs, w, b_vals, mult, shift, activation)
    else:
        expected = golden.matmul_acc(xs, w, b_vals)
    name = f"matmul_{M}x{K}x{N}_{'b' if bias else 'nb'}_{act if requant else 'i32'}"
    if nbuf != 2:
        name += f"_buf{nbuf}"
    return Case(name, bld.program(M=M, K=K, N=N), {"x": x}, {"y": expected})


# --------------------------------------------------------------------------------------------
# Hand programs
# --------------------------------------------------------------------------------------------


def _round_shift(v: int, s: int) -> int:
    return v if s == 0 else (v + (1 << (s - 1))) >> s


def _wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def vector_reference(acc: list[list[int]], **f: Any) -> None:
    """Plain-integer reference of ``vector``, row by row (independent of any executor)."""
    for i in range(f["n"]):
        a = acc[f["a"] + i * f.get("a_stride", 1)]
        if f.get("b_imm", 0):
            b = [f.get("imm", 0)] * len(a)
        else:
            b = acc[f["b"] + i * f.get("b_stride", 1)]
        op = f["op"]
        out = []
        for x, y in zip(a, b, strict=True):
            if op == VecOp.ADD:
                r = x + y
            elif op == VecOp.SUB:
                r = x - y
            elif op == VecOp.MUL:
                r = x * (((y & 0xFFFF) ^ 0x8000) - 0x8000)
            elif op == VecOp.MAX:
                r = max(x, y)
            else:
                r = min(x, y)
            out.append(_wrap32(_round_shift(r, f.get("shift", 0))))
        acc[f["dst"] + i * f.get("dst_stride", 1)] = out


def vector_program(config: AcceleratorConfig, *, seed: int = 1) -> Case:
    """Every vector op: shifts, immediates, int16 multipliers, wrap-around, and reductions.

    Reductions use ``dst_stride = a_stride = 0`` so that each row reads what the previous one
    wrote. The result rows are stored raw (``elem=i32``).
    """
    C = config.cols
    rng = np.random.default_rng(seed)
    n = 6
    data = rng.integers(-(1 << 20), 1 << 20, size=(2 * n, C), dtype=np.int64)
    data[n] = rng.integers(-(1 << 31), 1 << 31, size=C)  # large: exercise wrap and int16 low bits
    data[0, 0], data[n, 0] = (1 << 31) - 1, (1 << 31) - 1  # add overflows int32
    bld = Builder(config, misalign=1)
    src = bld.tensor("a", (2 * n, C), "int32", output=False)
    A, B = 0, n  # rows of the operands
    acc: list[list[int]] = [[0] * C for _ in range(config.acc_depth)]
    for r in range(2 * n):
        acc[r] = [int(v) for v in data[r]]
    bld.emit(
        "load",
        "push_next",
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=0,
        len=C,
        n_inner=2 * n,
        addr=src,
        stride_inner=4 * C,
    )
    out = 2 * n
    ops: list[dict[str, Any]] = [
        dict(op=VecOp.ADD, dst=out, a=A, b=B, n=n),
        dict(op=VecOp.SUB, dst=out + n, a=A, b=B, n=n, shift=3),
        dict(op=VecOp.MUL, dst=out + 2 * n, a=A, b=B, n=n, shift=7),
        dict(op=VecOp.MAX, dst=out + 3 * n, a=A, b_imm=1, imm=-12345, n=n, shift=1),
        dict(op=VecOp.MIN, dst=out + 4 * n, a=A, b=B, n=3, a_stride=2, b_stride=0, dst_stride=2),
        # The odd rows too: no stored row is left unwritten (memories are not cleared by start).
        dict(
            op=VecOp.MIN,
            dst=out + 4 * n + 1,
            a=A + 1,
            b=B,
            n=3,
            a_stride=2,
            b_stride=0,
            dst_stride=2,
        ),
        dict(op=VecOp.MUL, dst=out + 5 * n, a=A, b_imm=1, imm=-300, n=n, shift=2),
        # Reductions: acc[S] = acc[S] op row i, S starting as row A + 1.
        dict(op=VecOp.ADD, dst=A + 1, a=A + 1, b=B, n=n, dst_stride=0, a_stride=0, b_stride=1),
        dict(op=VecOp.MAX, dst=A + 2, a=A + 2, b=B, n=n, dst_stride=0, a_stride=0),
        # In-place chain: row i+1 = f(row i) reads what the previous row wrote. The b field,
        # ignored with b_imm, names that row too: nothing may be forwarded into b.
        dict(op=VecOp.ADD, dst=A + 4, a=A + 3, b=A + 4, b_stride=0, b_imm=1, imm=7, n=2, shift=1),
        # The same through operand b, then through both (the result is forwarded: docs/timing.md).
        dict(op=VecOp.SUB, dst=B, a=A, b=B - 1, n=3),
        dict(op=VecOp.ADD, dst=B + 4, a=B + 3, b=B + 3, n=2, shift=1),
        # Row i+2 reads what row i wrote, row i+1 not: a is forwarded from two rows back; b is
        # read in the cycle that row is written.
        dict(op=VecOp.ADD, dst=B + 2, a=B, b_imm=1, imm=3, n=4),
        dict(op=VecOp.SUB, dst=A + 2, a=B + 5, b=A, n=4, a_stride=0, shift=1),
    ]
    for i, f in enumerate(ops):
        deps = (["pop_prev"] if i == 0 else []) + (["push_next"] if i == len(ops) - 1 else [])
        bld.emit("vector", *deps, **f)
        vector_reference(acc, **f)
    rows = 8 * n
    y = bld.tensor("y", (rows, C), "int32", output=True)
    bld.emit(
        "store",
        "pop_prev",
        target=StoreTarget.DRAM,
        elem=Elem.I32,
        src=0,
        len=C,
        n_inner=rows,
        addr=y,
        stride_inner=4 * C,
    )
    bld.emit("halt")
    expected = np.array(acc[:rows], dtype=np.int32)
    return Case("vector", bld.program(), {"a": data.astype(np.int32)}, {"y": expected})


def lut_program(config: AcceleratorConfig, *, seed: int = 2) -> Case:
    """Requantisation with each activation (none, clamp, LUT) and i8→acc sign extension.

    The LUT travels as int8 bytes loaded into accumulator rows (sign-extended; cfg_lut keeps
    the low byte); a row loaded the same way is also stored raw to check the sign extension.
    Outputs: ``none``, ``clamp``, ``lut`` ``[n, C]`` int8 and ``ext`` ``[1, C]`` int32.
    """
    C = config.cols
    rng = np.random.default_rng(seed)
    n = 5
    acc_vals = rng.integers(-(1 << 24), 1 << 24, size=(n, C), dtype=np.int64)
    acc_vals[0, 0] = -(1 << 31)
    mult = rng.integers(0, 1 << 31, size=C, dtype=np.int64)
    mult[0] = -(1 << 31)  # any int32 multiplier
    shift = rng.integers(0, 64, size=C, dtype=np.int64)
    shift[: min(3, C)] = [0, 1, 63][: min(3, C)]
    shift_word = shift + 64 * rng.integers(0, 1 << 20, size=C)  # only bits [5:0] count
    table = golden.TANH_LUT
    bld = Builder(config, misalign=2)
    acc_addr = bld.tensor("acc", (n, C), "int32", output=False)
    params = bld.place(np.stack([mult, shift_word]), "int32")
    lut_addr = bld.place(table, "int8", pad=config.lut_rows * C - 256)
    ext_addr = bld.place(table[:C] if C <= 256 else np.zeros(C), "int8")
    LUT, Q, X, EXT = 0, config.lut_rows, config.lut_rows + 2, config.lut_rows + 2 + n
    bld.emit(
        "load", target=LoadTarget.ACC, dst=LUT, len=C, n_inner=Q, addr=lut_addr, stride_inner=C
    )
    bld.emit(
        "load",
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=Q,
        len=C,
        n_inner=2,
        addr=params,
        stride_inner=4 * C,
    )
    bld.emit(
        "load",
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=X,
        len=C,
        n_inner=n,
        addr=acc_addr,
        stride_inner=4 * C,
    )
    bld.emit("load", "push_next", target=LoadTarget.ACC, dst=EXT, len=C, n_inner=1, addr=ext_addr)
    bld.emit("sync", "pop_prev", "push_next", unit=Unit.EXECUTE)
    outs: dict[str, Array] = {}
    bld.emit("cfg_quant", "pop_prev", mult_row=Q, shift_row=Q + 1)
    bld.emit("cfg_lut", slot=1, src=LUT)
    q = golden.requantize(acc_vals, mult, shift)
    for act in ("none", "clamp", "lut"):
        activation = _activation(act)
        _emit_act(bld, activation, LUT)
        y = bld.tensor(act, (n, C), "int8", output=True)
        bld.emit("store", target=StoreTarget.DRAM, src=X, len=C, n_inner=n, addr=y, stride_inner=C)
        outs[act] = activation.apply(q)
    ext = bld.tensor("ext", (1, C), "int32", output=True)
    bld.emit("store", target=StoreTarget.DRAM, elem=Elem.I32, src=EXT, len=C, n_inner=1, addr=ext)
    bld.emit("halt")
    outs["ext"] = np.frombuffer(bld.memory, dtype=np.int8, count=C, offset=ext_addr)
    outs["ext"] = outs["ext"].astype(np.int32).reshape(1, C)
    return Case("lut", bld.program(), {"acc": acc_vals.astype(np.int32)}, outs)


def requant_ties_program(config: AcceleratorConfig) -> Case:
    """Rounding ties and saturation: x / 2 (M = 2^30, s = 31) rounds every odd x half up.

    Lane j of row r holds ``r * C + j - n*C/2`` so the rows cover negative and positive odd and
    even values; the last row holds int32 extremes that saturate to -128 and 127.
    """
    C = config.cols
    n = 4
    vals = np.arange(n * C, dtype=np.int64).reshape(n, C) - (n * C) // 2
    vals[-1, :] = [(-(1 << 31)) if j % 2 else (1 << 31) - 1 for j in range(C)]
    mult = np.full(C, 1 << 30, dtype=np.int64)
    shift = np.full(C, 31, dtype=np.int64)
    bld = Builder(config, misalign=1)
    src = bld.tensor("acc", (n, C), "int32", output=False)
    params = bld.place(np.stack([mult, shift]), "int32")
    bld.emit(
        "load",
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=0,
        len=C,
        n_inner=n,
        addr=src,
        stride_inner=4 * C,
    )
    bld.emit(
        "load",
        "push_next",
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=n,
        len=C,
        n_inner=2,
        addr=params,
        stride_inner=4 * C,
    )
    bld.emit("sync", "pop_prev", "push_next", unit=Unit.EXECUTE)
    bld.emit("cfg_quant", "pop_prev", mult_row=n, shift_row=n + 1)
    y = bld.tensor("y", (n, C), "int8", output=True)
    bld.emit("store", target=StoreTarget.DRAM, src=0, len=C, n_inner=n, addr=y, stride_inner=C)
    bld.emit("halt")
    expected = golden.requantize(vals, mult, shift)
    return Case("requant_ties", bld.program(), {"acc": vals.astype(np.int32)}, {"y": expected})


def store_sp_program(config: AcceleratorConfig, *, seed: int = 3) -> Case:
    """Two chained layers: layer 1's int8 output goes to the scratchpad (store target=sp) and
    feeds layer 2's matmul directly. Sizes fit one tile: M rows, K1 <= R, N1 <= min(R, C),
    N2 <= C. The sp rows are written with stride 2 to check strided scratchpad stores.
    """
    R, C = config.rows, config.cols
    rng = np.random.default_rng(seed)
    M, K1, N1, N2 = 7, R, min(R, C), C
    x = rng.integers(-128, 128, size=(M, K1), dtype=np.int8)
    w1 = rng.integers(-127, 128, size=(K1, N1), dtype=np.int8)
    w2 = rng.integers(-127, 128, size=(N1, N2), dtype=np.int8)
    m1, s1 = _requant_params(rng, K1, N1)
    m2, s2 = _requant_params(rng, N1, N2)
    bld = Builder(config, misalign=5)
    x_addr = bld.tensor("x", (M, K1), "int8", output=False)
    w1_addr, w2_addr = bld.place(w1, "int8"), bld.place(w2, "int8")
    pad = np.zeros((4, C), dtype=np.int64)
    pad[0, :N1], pad[1, :N1], pad[2, :N2], pad[3, :N2] = m1, s1, m2, s2
    q_addr = bld.place(pad, "int32")
    y_addr = bld.tensor("y", (M, N2), "int8", output=True)
    X, W1, W2, H = 0, M, M + R, M + 2 * R  # scratchpad rows; H: layer-1 output, stride 2
    bld.emit("load", target=LoadTarget.SP, dst=X, len=K1, n_inner=M, addr=x_addr, stride_inner=K1)
    bld.emit(
        "load", target=LoadTarget.SP, dst=W1, len=N1, n_inner=K1, addr=w1_addr, stride_inner=N1
    )
    bld.emit(
        "load", target=LoadTarget.SP, dst=W2, len=N2, n_inner=N1, addr=w2_addr, stride_inner=N2
    )
    bld.emit(
        "load",
        "push_next",
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=2 * M,
        len=C,
        n_inner=4,
        addr=q_addr,
        stride_inner=4 * C,
    )
    bld.emit("preload", "pop_prev", src=W1, rows=K1, cols=N1)
    bld.emit("matmul", "push_next", src=X, dst=0, n=M, swap=1)
    bld.emit("preload", src=W2, rows=N1, cols=N2)
    bld.emit("cfg_quant", "pop_prev", mult_row=2 * M, shift_row=2 * M + 1)
    bld.emit("cfg_act", mode=ActMode.CLAMP, lo=0, hi=127)
    bld.emit(
        "store",
        "push_prev",
        target=StoreTarget.SP,
        src=0,
        len=N1,
        n_inner=M,
        addr=H,
        stride_inner=2,
    )
    # Layer 2 reads every other sp row: two matmuls of one row each would do, but a strided
    # input is not in the ISA, so copy the rows' positions through n_inner=1 matmuls.
    for r in range(M):
        deps = ["pop_next"] if r == 0 else []
        if r == M - 1:
            deps.append("push_next")
        bld.emit("matmul", *deps, src=H + 2 * r, dst=M + r, n=1, swap=1 if r == 0 else 0)
    bld.emit("cfg_quant", "pop_prev", mult_row=2 * M + 2, shift_row=2 * M + 3)
    bld.emit("cfg_act", mode=ActMode.NONE)
    bld.emit(
        "store", target=StoreTarget.DRAM, src=M, len=N2, n_inner=M, addr=y_addr, stride_inner=N2
    )
    bld.emit("halt")
    h = golden.fully_connected(x, w1, None, m1, s1, golden.Activation.relu())
    y = golden.fully_connected(h, w2, None, m2, s2)
    return Case("store_sp", bld.program(), {"x": x}, {"y": y})


def accumulate_chain_program(config: AcceleratorConfig, *, seed: int = 4) -> Case:
    """Matmuls of one and two rows that accumulate into the rows the one before just wrote.

    Back to back, a one-row matmul reads its old value one cycle before the previous one
    writes it (forwarded into the read register, docs/timing.md); a two-row matmul reads it
    in the same cycle (the memory's transparent read). With the vector unit, a matmul then
    accumulates onto the rows a vector has just written. The int32 rows are stored raw.
    """
    R, C = config.rows, config.cols
    rng = np.random.default_rng(seed)
    M = 6
    x = rng.integers(-128, 128, size=(M, R), dtype=np.int8)
    w = rng.integers(-127, 128, size=(R, C), dtype=np.int8)
    bld = Builder(config, misalign=2)
    x_addr = bld.tensor("x", (M, R), "int8", output=False)
    w_addr = bld.place(w, "int8")
    y_addr = bld.tensor("y", (4, C), "int32", output=True)
    bld.emit("load", target=LoadTarget.SP, dst=0, len=R, n_inner=M, addr=x_addr, stride_inner=R)
    bld.emit(
        "load",
        "push_next",
        target=LoadTarget.SP,
        dst=M,
        len=C,
        n_inner=R,
        addr=w_addr,
        stride_inner=C,
    )
    bld.emit("preload", "pop_prev", src=M, rows=R, cols=C)
    xw = x.astype(np.int64) @ w.astype(np.int64)
    acc = np.zeros((4, C), dtype=np.int64)
    # Row 0 = x0·w + x1·w + ... + x5·w, one row at a time.
    for r in range(M):
        mode = MatMode.OVERWRITE if r == 0 else MatMode.ACCUMULATE
        bld.emit("matmul", src=r, dst=0, n=1, swap=1 if r == 0 else 0, mode=mode)
        acc[0] = xw[r] if r == 0 else acc[0] + xw[r]
    # Rows 1, 2 = (x0, x1)·w + (x2, x3)·w + (x4, x5)·w, two rows at a time.
    for r in range(0, M, 2):
        mode = MatMode.OVERWRITE if r == 0 else MatMode.ACCUMULATE
        bld.emit("matmul", src=r, dst=1, n=2, mode=mode)
        acc[1:3] = xw[r : r + 2] if r == 0 else acc[1:3] + xw[r : r + 2]
    if config.vector_unit:
        # Row 3 = 2·row 0 by a vector, then + x5·w by a matmul right behind it.
        bld.emit("vector", op=VecOp.ADD, dst=3, a=0, b=0, n=1)
        bld.emit("matmul", src=M - 1, dst=3, n=1, mode=MatMode.ACCUMULATE)
        acc[3] = 2 * acc[0] + xw[M - 1]
    else:
        bld.emit("matmul", src=0, dst=3, n=1, mode=MatMode.OVERWRITE)
        acc[3] = xw[0]
    bld.emit("sync", "push_next", unit=Unit.EXECUTE)
    bld.emit(
        "store",
        "pop_prev",
        target=StoreTarget.DRAM,
        elem=Elem.I32,
        src=0,
        len=C,
        n_inner=4,
        addr=y_addr,
        stride_inner=4 * C,
    )
    bld.emit("halt")
    y = ((acc + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
    return Case("accumulate_chain", bld.program(), {"x": x}, {"y": y})


def hand_cases(config: AcceleratorConfig) -> list[Case]:
    """The small functional programs (each instruction class the accelerator is built with)."""
    return [
        accumulate_chain_program(config),
        *([vector_program(config)] if config.vector_unit else []),
        *([lut_program(config)] if config.act_lut else []),
        store_sp_program(config),
        requant_ties_program(config),
    ]


# --------------------------------------------------------------------------------------------
# Error programs
# --------------------------------------------------------------------------------------------


def _error_case(
    name: str, config: AcceleratorConfig, code: ErrorCode, body: Callable[[Builder], int]
) -> Case:
    bld = Builder(config)
    bld.alloc(256)
    index = body(bld)
    return Case(name, bld.program(), error=code, error_index=index)


def abort_in_flight(config: AcceleratorConfig) -> Case:
    """An error that stops the machine while matmul rows and stores are still in flight.

    The next program run on the same machine must not see any of them: only control registers
    are reset by ``start`` (operands, sums and row data carry no reset), so this checks that
    nothing stale is ever taken for valid.
    """

    def body(b: Builder) -> int:
        R, C = config.rows, config.cols
        n = min(config.sp_depth, config.acc_depth, 4 * (R + C))
        b.emit("preload", src=0, rows=R, cols=C)
        b.emit("matmul", src=0, dst=0, n=n, swap=1)
        b.emit("store", target=StoreTarget.DRAM, src=0, len=C, n_inner=n, addr=0, stride_inner=C)
        # The load unit overflows the load→execute tokens once this load is done, long before
        # the matmul and the store are: the error is found when it happens, not at decode.
        b.emit("load", target=LoadTarget.SP, dst=0, len=1, n_inner=n // 4, addr=0, stride_inner=1)
        for _ in range(config.token_depth + 1):
            last = b.emit("sync", "push_next", unit=Unit.LOAD)
        b.emit("halt")
        return last

    return _error_case("abort_in_flight", config, ErrorCode.TOKEN_OVERFLOW, body)


def error_cases(config: AcceleratorConfig) -> list[Case]:
    """One program per error the machine reports; each names the failing instruction."""
    R, C = config.rows, config.cols
    TD = config.token_depth

    def sync(b: Builder) -> None:
        b.emit("sync", unit=Unit.LOAD)

    def illegal_opcode(b: Builder) -> int:
        sync(b)
        i = b.word(0xF)
        b.emit("halt")
        return i

    def reserved_bit(b: Builder) -> int:
        sync(b)
        return b.word(encode(Instruction.make("halt")) | 1 << 127)

    def preload_too_big(b: Builder) -> int:
        sync(b)
        return b.emit("preload", src=0, rows=R + 1, cols=C)

    def load_len(b: Builder) -> int:
        return b.emit("load", target=LoadTarget.ACC, dst=0, len=C + 1, n_inner=1, addr=0)

    def sp_range(b: Builder) -> int:
        sync(b)
        return b.emit("matmul", src=config.sp_depth - 1, dst=0, n=2)

    def acc_range(b: Builder) -> int:
        if not config.vector_unit:
            return b.emit("cfg_quant", mult_row=0, shift_row=config.acc_depth)
        return b.emit("vector", op=VecOp.ADD, dst=0, a=0, b=config.acc_depth - 2, n=2, b_stride=2)

    def without_vector(b: Builder) -> int:
        sync(b)
        return b.emit("vector", op=VecOp.ADD, dst=0, a=0, b=0, n=1)

    def without_lut(b: Builder) -> int:
        sync(b)
        return b.emit("cfg_lut", slot=0, src=0)

    def act_lut_mode(b: Builder) -> int:
        sync(b)
        return b.emit("cfg_act", mode=ActMode.LUT, slot=0)

    def dram_range(b: Builder) -> int:
        size, n = len(b.memory), min(4, config.lanes)
        # The second row's last byte is the first one past the end: size - 5 - n + 6 + n - 1.
        return b.emit(
            "load", target=LoadTarget.SP, dst=0, len=n, n_inner=2, addr=size - 5 - n, stride_inner=6
        )

    def store_sp_range(b: Builder) -> int:
        return b.emit(
            "store",
            target=StoreTarget.SP,
            src=0,
            len=1,
            n_inner=2,
            addr=config.sp_depth - 1,
            stride_inner=1,
        )

    def overflow(b: Builder) -> int:
        for _ in range(TD + 1):
            last = b.emit("sync", "push_next", unit=Unit.LOAD)
        b.emit("halt")
        return last

    def deadlock(b: Builder) -> int:
        b.emit("sync", unit=Unit.STORE)
        i = b.emit("matmul", "pop_prev", src=0, dst=0, n=1)
        b.emit("halt")
        return i

    def no_halt(b: Builder) -> int:
        sync(b)
        return len(b.words)

    return [
        _error_case("illegal_opcode", config, ErrorCode.ILLEGAL_OPCODE, illegal_opcode),
        _error_case("no_halt", config, ErrorCode.ILLEGAL_OPCODE, no_halt),
        _error_case("reserved_bit", config, ErrorCode.ILLEGAL_FIELD, reserved_bit),
        _error_case("preload_too_big", config, ErrorCode.ILLEGAL_FIELD, preload_too_big),
        _error_case("load_len", config, ErrorCode.ILLEGAL_FIELD, load_len),
        _error_case("sp_range", config, ErrorCode.SP_RANGE, sp_range),
        _error_case("store_sp_range", config, ErrorCode.SP_RANGE, store_sp_range),
        _error_case("acc_range", config, ErrorCode.ACC_RANGE, acc_range),
        _error_case("dram_range", config, ErrorCode.DRAM_RANGE, dram_range),
        _error_case("token_overflow", config, ErrorCode.TOKEN_OVERFLOW, overflow),
        _error_case("deadlock", config, ErrorCode.DEADLOCK, deadlock),
        *(
            []
            if config.vector_unit
            else [_error_case("without_vector", config, ErrorCode.ILLEGAL_OPCODE, without_vector)]
        ),
        *(
            []
            if config.act_lut
            else [
                _error_case("without_lut", config, ErrorCode.ILLEGAL_OPCODE, without_lut),
                _error_case("act_lut_mode", config, ErrorCode.ILLEGAL_FIELD, act_lut_mode),
            ]
        ),
    ]
