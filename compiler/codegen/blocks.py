"""Pools and residual adds: serialised blocks of loads, vector ops and one store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...spec import golden
from ...spec.config import AcceleratorConfig
from ...spec.errors import CompileError
from ...spec.isa import (
    Elem,
    LoadTarget,
    StoreTarget,
    Unit,
    VecOp,
)
from ..ir import Node
from .common import IDENTITY, MAX_COUNT, Buffer, Emitter, act_record, emit_store_config, padded


@dataclass(frozen=True)
class Block:
    """One serialised step of a pool or an add: loads into accumulator regions, vector ops on
    them, and one store of region ``src``."""

    loads: list[dict[str, Any]]
    vectors: list[dict[str, Any]]
    store: dict[str, Any]
    tile: int = 0  # column tile of a per-channel requantisation


def blocks_base(config: AcceleratorConfig, act: golden.Activation, tiles: int = 1) -> int:
    """First accumulator row of the blocks' regions (after the quantisation rows and LUT)."""
    return 2 * tiles + (config.lut_rows if act.table is not None else 0)


def emit_blocks(
    em: Emitter,
    blocks: list[Block],
    quant: tuple[Any, Any],
    act: golden.Activation,
    *,
    barrier_in: bool,
    barrier_out: bool,
) -> None:
    """Emit blocks one at a time: loads → vector ops → store → execute sync → next loads.

    Accumulator rows 0 and 1 hold the per-tensor requantisation (the same M and s in every
    lane), then the LUT if the activation has one; the blocks' region rows (``dst``, ``a``,
    ``b``, ``src``) count from :func:`blocks_base`.
    """
    C = em.config.cols
    # Per-tensor (M, s) go into every lane; per-channel arrays into one row per column tile.
    mult, shift = (np.asarray(q).reshape(-1) for q in quant)
    if mult.size == 1:
        mult, shift = np.full(C, mult[0]), np.full(C, shift[0])
    tiles = -(-mult.size // C)
    rows = em.place(np.concatenate([padded(mult, tiles * C), padded(shift, tiles * C)]), "int32")
    em.emit(
        "load",
        *(["pop_next"] if barrier_in else []),
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=0,
        len=C,
        n_inner=2 * tiles,
        addr=rows,
        stride_inner=4 * C,
    )
    base = blocks_base(em.config, act, tiles)
    if act.table is not None:
        lut = em.place(padded(act.table, em.config.lut_rows * C), "int8")
        em.emit(
            "load",
            target=LoadTarget.ACC,
            dst=2 * tiles,
            len=C,
            n_inner=em.config.lut_rows,
            addr=lut,
            stride_inner=C,
        )
    blocks = [
        Block(
            [{**f, "dst": f["dst"] + base} for f in block.loads],
            [
                {
                    **f,
                    "dst": f["dst"] + base,
                    "a": f["a"] + base,
                    "b": f.get("b", 0) + (0 if f.get("b_imm") else base),
                }
                for f in block.vectors
            ],
            {**block.store, "src": block.store["src"] + base},
            block.tile,
        )
        for block in blocks
    ]
    configured = -1
    for b, block in enumerate(blocks):
        release = b < len(blocks) - 1 or barrier_out
        for i, fields in enumerate(block.loads):
            deps = (["pop_next"] if i == 0 and b > 0 else []) + (
                ["push_next"] if i == len(block.loads) - 1 else []
            )
            em.emit("load", *deps, target=LoadTarget.ACC, **fields)
        for i, fields in enumerate(block.vectors):
            deps = (["pop_prev"] if i == 0 else []) + (
                ["push_next"] if i == len(block.vectors) - 1 else []
            )
            em.emit("vector", *deps, **fields)
        if block.tile != configured:
            first = ["pop_prev"] if b == 0 else []
            em.emit("cfg_quant", *first, mult_row=block.tile, shift_row=tiles + block.tile)
            if b == 0:
                emit_store_config(em, act, 2 * tiles)
            configured = block.tile
        em.emit(
            "store",
            *([] if b == 0 else ["pop_prev"]),
            *(["push_prev"] if release else []),
            target=StoreTarget.DRAM,
            **block.store,
        )
        if release:
            em.emit("sync", "pop_next", "push_prev", unit=Unit.EXECUTE)


def pixel_runs(y: Buffer, chunk: int, C: int) -> list[tuple[int, int, int, int, int, int]]:
    """(n, oy, ox0, nx, c0, cc) runs of output pixels: up to ``chunk`` pixels of one output row
    (or of the rows of a 2-D tensor, with oy = 0) and up to C channels."""
    if y.is_image:
        n_img, ch, oh, ow = y.shape
        return [
            (n, oy, ox0, min(chunk, ow - ox0), c0, min(C, ch - c0))
            for n in range(n_img)
            for oy in range(oh)
            for ox0 in range(0, ow, chunk)
            for c0 in range(0, ch, C)
        ]
    m, f = y.shape
    return [
        (0, 0, m0, min(chunk, m - m0), c0, min(C, f - c0))
        for m0 in range(0, m, chunk)
        for c0 in range(0, f, C)
    ]


def at_pixel(buf: Buffer, n: int, oy: int, ox: int) -> tuple[int, int]:
    """(address, bytes between consecutive pixels) of pixel (oy, ox), or row ox of a 2-D."""
    if buf.is_image:
        return buf.pixel(n, oy, ox), buf.shape[1]
    return buf.addr + ox * buf.shape[1], buf.shape[1]


def emit_pool(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, **barriers: bool
) -> dict[str, Any]:
    """Max or average pooling: window rows into accumulator regions, reduced with ``vector``
    max or add, stored with an identity (max) or a 1/count (average) requantisation."""
    cfg = em.config
    x = ins[0]
    a = node.attrs
    (kh_n, kw_n), (sh, sw) = a["kernel"], a["strides"]
    pt, pl, _, _ = a["pads"]
    ch = y.shape[1]
    windows = kh_n * kw_n
    chunk = min(y.shape[3], MAX_COUNT, (cfg.acc_depth - 2) // windows)
    if chunk < 1:
        raise CompileError(
            f"{node.name}: a {kh_n}x{kw_n} window needs more than acc_depth {cfg.acc_depth} rows"
        )
    is_max = node.op == "hw.maxpool"
    op = VecOp.MAX if is_max else VecOp.ADD
    blocks = []
    for n, oy, ox0, nx, c0, cc in pixel_runs(y, chunk, cfg.cols):
        loads = []
        for w in range(windows):
            ky, kx = divmod(w, kw_n)
            loads.append(
                {
                    "dst": w * chunk,
                    "len": cc,
                    "n_inner": nx,
                    "addr": x.pixel(n, oy * sh + ky - pt, ox0 * sw + kx - pl) + c0,
                    "stride_inner": sw * ch,
                }
            )
        vectors = [
            {"op": op, "dst": 0, "a": 0, "b": w * chunk, "n": nx} for w in range(1, windows)
        ] or [{"op": VecOp.MAX, "dst": 0, "a": 0, "b": 0, "n": nx}]
        blocks.append(
            Block(
                loads,
                vectors,
                {
                    "src": 0,
                    "len": cc,
                    "n_inner": nx,
                    "addr": y.pixel(n, oy, ox0) + c0,
                    "stride_inner": ch,
                },
            )
        )
    quant = IDENTITY if is_max else (int(a["mult"]), int(a["shift"]))
    emit_blocks(em, blocks, quant, golden.NO_ACTIVATION, **barriers)
    record: dict[str, Any] = {
        "op": "maxpool" if is_max else "avgpool",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "kernel": list(a["kernel"]),
        "stride": list(a["strides"]),
        "padding": list(a["pads"]),
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": 0,
    }
    if not is_max:
        record.update(s_x=a["s_x"], s_y=a["s_y"])
    return record


def emit_add(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, **barriers: bool
) -> dict[str, Any]:
    """Residual add: ``requant(a·m_a + b·m_b)`` with int16 multipliers on the vector unit."""
    cfg = em.config
    a_buf, b_buf = ins
    params: golden.AddParams = node.attrs["params"]
    chunk = min(MAX_COUNT, (cfg.acc_depth - 2) // 2)
    blocks = []
    for n, oy, ox0, nx, c0, cc in pixel_runs(y, chunk, cfg.cols):
        (aa, sa), (ba, sb), (ya, sy) = (
            at_pixel(a_buf, n, oy, ox0),
            at_pixel(b_buf, n, oy, ox0),
            at_pixel(y, n, oy, ox0),
        )
        loads = [
            {"dst": 0, "len": cc, "n_inner": nx, "addr": aa + c0, "stride_inner": sa},
            {"dst": chunk, "len": cc, "n_inner": nx, "addr": ba + c0, "stride_inner": sb},
        ]
        vectors = [
            {"op": VecOp.MUL, "dst": 0, "a": 0, "b_imm": 1, "imm": params.m_a, "n": nx},
            {
                "op": VecOp.MUL,
                "dst": chunk,
                "a": chunk,
                "b_imm": 1,
                "imm": params.m_b,
                "n": nx,
            },
            {"op": VecOp.ADD, "dst": 0, "a": 0, "b": chunk, "n": nx},
        ]
        blocks.append(
            Block(
                loads,
                vectors,
                {"src": 0, "len": cc, "n_inner": nx, "addr": ya + c0, "stride_inner": sy},
            )
        )
    act: golden.Activation = node.attrs["activation"]
    emit_blocks(em, blocks, (params.mult, params.shift), act, **barriers)
    return {
        "op": "add",
        "name": node.name,
        "x": a_buf.desc("a", 1.0, logical=False).to_json(),
        "b": b_buf.desc("b", 1.0, logical=False).to_json(),
        "params": [params.m_a, params.m_b, params.mult, params.shift],
        "act": act_record(act, -1),
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": 0,
    }
