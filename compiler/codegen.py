"""Allocation, tiling, scheduling and emission: the lowered IR to a Program.

Each ``hw.gemm`` becomes a weight-stationary tiled GEMM (docs/architecture.md): for every output
block (``mt`` rows × one column tile of C outputs) and every K tile of R rows, load the input and
weight tiles into one of two scratchpad buffers, preload, and matmul into one of two accumulator
blocks; the store unit requantises finished blocks. Dependency tokens let loads, compute and
stores of neighbouring tiles overlap. Layers are separated by a barrier (last store → execute
``sync`` → first load of the next layer), because the next layer reads what the last one wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..spec import golden
from ..spec.config import AcceleratorConfig
from ..spec.errors import CompileError
from ..spec.isa import ActMode, Elem, Instruction, LoadTarget, MatMode, StoreTarget, Unit, encode
from ..spec.program import Program, TensorDesc
from .ir import Graph, Node

__all__ = ["emit_program"]

ALIGN = 16  # tensors start on 16-byte boundaries: whole bus beats for every preset


@dataclass
class Emitter:
    """Instruction words and the memory image under construction."""

    config: AcceleratorConfig
    words: list[int] = field(default_factory=list)
    memory: bytearray = field(default_factory=bytearray)

    def emit(self, name: str, *deps: str, **fields: Any) -> None:
        self.words.append(encode(Instruction.make(name, deps=set(deps), **fields)))

    def alloc(self, nbytes: int) -> int:
        start = -(-len(self.memory) // ALIGN) * ALIGN
        self.memory.extend(bytes(start + nbytes - len(self.memory)))
        return start

    def place(self, values: NDArray[Any], dtype: str) -> int:
        data = np.ascontiguousarray(values.astype("<i4" if dtype == "int32" else "i1"))
        addr = self.alloc(data.nbytes)
        self.memory[addr : addr + data.nbytes] = data.tobytes()
        return addr


def _desc(name: str, shape: tuple[int, ...], dtype: str, scale: float, offset: int) -> TensorDesc:
    item = 4 if dtype == "int32" else 1
    strides = tuple(int(np.prod(shape[i + 1 :])) * item for i in range(len(shape)))
    return TensorDesc(
        name=name, shape=shape, dtype=dtype, scale=scale, offset=offset, strides=strides
    )


def _padded(v: NDArray[Any], size: int) -> NDArray[Any]:
    out = np.zeros(size, dtype=np.int64)
    out[: len(v)] = v
    return out


def _emit_gemm(
    em: Emitter,
    node: Node,
    x_addr: int,
    y_addr: int,
    M: int,
    *,
    barrier_in: bool,
    barrier_out: bool,
) -> dict[str, Any]:
    """Emit one tiled GEMM; returns its layer record for the golden backend."""
    cfg = em.config
    R, C = cfg.rows, cfg.cols
    w_q: NDArray[Any] = node.attrs["w_q"]
    K, N = w_q.shape
    nt = -(-N // C)
    act: golden.Activation = node.attrs["activation"]
    w_addr = em.place(w_q, "int8")
    bias = node.attrs["b_q"]
    bias_addr = em.place(_padded(bias, nt * C), "int32") if bias is not None else None
    quant = np.concatenate(
        [_padded(node.attrs["mult"], nt * C), _padded(node.attrs["shift"], nt * C)]
    )
    quant_addr = em.place(quant, "int32")
    lut_addr = None
    if act.kind == "lut":
        assert act.table is not None
        lut_addr = em.place(_padded(act.table, cfg.lut_rows * C), "int8")

    # Accumulator rows: constants first, then the output blocks.
    pre: list[tuple[int, int, int, Elem]] = []
    acc_rows = 0
    bias_row = quant_row = lut_row = 0
    if bias_addr is not None:
        bias_row, acc_rows = acc_rows, acc_rows + nt
        pre.append((bias_row, bias_addr, nt, Elem.I32))
    quant_row, acc_rows = acc_rows, acc_rows + 2 * nt
    pre.append((quant_row, quant_addr, 2 * nt, Elem.I32))
    if lut_addr is not None:
        lut_row, acc_rows = acc_rows, acc_rows + cfg.lut_rows
        pre.append((lut_row, lut_addr, cfg.lut_rows, Elem.I8))
    nbuf = min(2, cfg.token_depth)
    mt = min(M, 1023, (cfg.acc_depth - acc_rows) // nbuf, cfg.sp_depth // nbuf - R)
    if mt < 1:
        raise CompileError(
            f"{node.name}: a {K}x{N} layer needs {acc_rows} accumulator rows of constants and "
            f"at least {nbuf} more for outputs, but acc_depth is {cfg.acc_depth}"
        )
    for i, (row, addr, n, elem) in enumerate(pre):
        em.emit(
            "load",
            *(["pop_next"] if barrier_in and i == 0 else []),
            target=LoadTarget.ACC,
            elem=elem,
            dst=row,
            len=C,
            n_inner=n,
            addr=addr,
            stride_inner=C * 4 if elem == Elem.I32 else C,
        )

    blocks = [(m0, n0) for m0 in range(0, M, mt) for n0 in range(0, N, C)]
    k_tiles = list(range(0, K, R))
    total = len(blocks) * len(k_tiles)
    tile = 0
    configured = -1
    for bi, (m0, n0) in enumerate(blocks):
        mr, nc = min(mt, M - m0), min(C, N - n0)
        acc_base = acc_rows + (bi % nbuf) * mt
        for ki, k0 in enumerate(k_tiles):
            kr = min(R, K - k0)
            sp_base = (tile % nbuf) * (mt + R)
            em.emit(
                "load",
                *(["pop_next"] if tile >= nbuf else []),
                target=LoadTarget.SP,
                dst=sp_base,
                len=kr,
                n_inner=mr,
                addr=x_addr + m0 * K + k0,
                stride_inner=K,
            )
            em.emit(
                "load",
                "push_next",
                target=LoadTarget.SP,
                dst=sp_base + mt,
                len=nc,
                n_inner=kr,
                addr=w_addr + k0 * N + n0,
                stride_inner=N,
            )
            em.emit("preload", "pop_prev", src=sp_base + mt, rows=kr, cols=nc)
            deps = []
            if tile + nbuf < total:
                deps.append("push_prev")  # the scratchpad buffer is free again
            if ki == len(k_tiles) - 1:
                deps.append("push_next")  # the block is finished
            if ki == 0 and bi >= nbuf:
                deps.append("pop_next")  # the accumulator block was stored
            first = MatMode.BIAS if bias_addr is not None else MatMode.OVERWRITE
            em.emit(
                "matmul",
                *deps,
                src=sp_base,
                dst=acc_base,
                n=mr,
                mode=first if ki == 0 else MatMode.ACCUMULATE,
                bias=bias_row + n0 // C if bias_addr is not None else 0,
                swap=1,
            )
            tile += 1
        waits = ["pop_prev"]
        t = n0 // C
        if configured != t:
            em.emit("cfg_quant", *waits, mult_row=quant_row + t, shift_row=quant_row + nt + t)
            waits = []
            if configured < 0:
                if lut_addr is not None:
                    em.emit("cfg_lut", slot=0, src=lut_row)
                    em.emit("cfg_act", mode=ActMode.LUT, slot=0)
                elif act.kind == "clamp":
                    em.emit("cfg_act", mode=ActMode.CLAMP, lo=act.lo, hi=act.hi)
                else:
                    em.emit("cfg_act", mode=ActMode.NONE)
            configured = t
        release = bi + nbuf < len(blocks) or (barrier_out and bi == len(blocks) - 1)
        em.emit(
            "store",
            *waits,
            *(["push_prev"] if release else []),
            target=StoreTarget.DRAM,
            src=acc_base,
            len=nc,
            n_inner=mr,
            addr=y_addr + m0 * N + n0,
            stride_inner=N,
        )
    if barrier_out:
        em.emit("sync", "pop_next", "push_prev", unit=Unit.EXECUTE)

    def d(name: str, shape: tuple[int, ...], dtype: str, addr: int) -> dict[str, Any]:
        return _desc(name, shape, dtype, 1.0, addr).to_json()

    return {
        "op": "gemm",
        "name": node.name,
        "x": d("x", (M, K), "int8", x_addr),
        "w": d("w", (K, N), "int8", w_addr),
        "bias": d("bias", (N,), "int32", bias_addr) if bias_addr is not None else None,
        "mult": d("mult", (N,), "int32", quant_addr),
        "shift": d("shift", (N,), "int32", quant_addr + nt * C * 4),
        "act": {
            "kind": act.kind,
            "lo": act.lo,
            "hi": act.hi,
            "lut": d("lut", (256,), "int8", lut_addr) if lut_addr is not None else None,
        },
        "y": d("y", (M, N), "int8", y_addr),
        "macs": M * K * N,
    }


def emit_program(graph: Graph, config: AcceleratorConfig) -> Program:
    """Allocate memory for the lowered graph and emit its instruction stream."""
    em = Emitter(config)
    addr: dict[str, int] = {}
    inputs = []
    for name in graph.inputs:
        v = graph.values[name]
        assert v.scale is not None
        desc = _desc(name, v.shape, "int8", v.scale, em.alloc(int(np.prod(v.shape))))
        addr[name] = desc.offset
        inputs.append(desc)
    gemms = [n for n in graph.nodes if n.op == "hw.gemm"]
    if not gemms:
        raise CompileError("the model has no layer to run on the accelerator")
    layers = []
    for i, node in enumerate(gemms):
        x = graph.values[node.inputs[0]]
        M = x.shape[0]
        n_out = node.attrs["w_q"].shape[1]
        addr[node.outputs[0]] = em.alloc(M * n_out)
        layers.append(
            _emit_gemm(
                em,
                node,
                addr[node.inputs[0]],
                addr[node.outputs[0]],
                M,
                barrier_in=i > 0,
                barrier_out=i < len(gemms) - 1,
            )
        )
    em.emit("halt")
    outputs = []
    host_softmax = []
    for name in graph.outputs:
        source = name
        producer = graph.producer(name)
        if producer is not None and producer.op == "softmax":
            source = producer.inputs[0]
            host_softmax.append(name)
        v = graph.values[source]
        if source not in addr:
            raise CompileError(f"output {name!r} is not computed on the accelerator")
        assert v.scale is not None
        outputs.append(_desc(name, v.shape, "int8", v.scale, addr[source]))
    return Program(
        config=config,
        instructions=tuple(em.words),
        memory=bytes(em.memory),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        metadata={"name": graph.name, "layers": layers, "host_softmax": host_softmax},
    )
