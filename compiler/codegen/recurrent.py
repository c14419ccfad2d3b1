"""RNN, LSTM and GRU: a GEMM per gate and time step, vector phases for the cells."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...spec import golden
from ...spec.errors import CompileError
from ...spec.isa import (
    Elem,
    VecOp,
)
from ...spec.program import TensorDesc
from ..ir import Node
from .blocks import Block, blocks_base, emit_blocks
from .common import IDENTITY, MAX_COUNT, Buffer, Emitter, KTile, MTile, desc_json
from .matmul import emit_matmul_layer


def sequence_desc(y: Buffer, t_len: int, batch: int, hidden: int) -> dict[str, Any]:
    """A recurrent layer's ``Y`` as ``[T, B, H]`` (the golden model's layout)."""
    return TensorDesc(
        name="y",
        shape=(t_len, batch, hidden),
        dtype="int8",
        scale=1.0,
        offset=y.addr,
        strides=(batch * hidden, hidden, 1),
    ).to_json()


def sequence_input(node: Node, x: Buffer) -> Buffer:
    """The input buffer as the ``[T, B, I]`` the cell reads (``x_shape``, set by ``lower``):
    an aliased input's buffer has its source's shape, over the same row-major bytes."""
    shape = tuple(node.attrs["x_shape"])
    same = int(np.prod(shape)) == int(np.prod(x.shape))
    if len(shape) != 3 or x.is_image or not same:  # pragma: no cover - lower guarantees it
        raise CompileError(f"{node.name}: input of shape {shape} is not a [T, B, I] sequence")
    return Buffer(x.addr, shape, dtype=x.dtype)


def step_tiles(
    batch: int, sources: list[tuple[int, int, int]], out: tuple[int, int, int]
) -> Callable[[int], list[MTile]]:
    """Output tiles of one recurrent GEMM over ``batch`` rows.

    ``sources[index]`` is (address of batch row 0, first weight row of that K-segment, row
    stride in bytes); ``out`` is (address of row 0, row stride in bytes, bytes per element).
    """

    def rows(mt: int) -> list[MTile]:
        tiles = []
        for m0 in range(0, batch, mt):
            mr = min(mt, batch - m0)

            def load(index: int, w_row: int, m0: int = m0, mr: int = mr) -> dict[str, int]:
                addr, first, stride = sources[index]
                return {
                    "addr": addr + m0 * stride + w_row - first,
                    "n_inner": mr,
                    "stride_inner": stride,
                }

            def store(n0: int, m0: int = m0, mr: int = mr) -> dict[str, int]:
                addr, stride, item = out
                return {
                    "addr": addr + m0 * stride + n0 * item,
                    "n_inner": mr,
                    "stride_inner": stride,
                }

            tiles.append(MTile(mr, load, store))
        return tiles

    return rows


def k_tiles_over(R: int, widths: list[int]) -> list[KTile]:
    """K tiles over consecutive K-segments (one per source) of the given widths."""
    tiles, first = [], 0
    for index, width in enumerate(widths):
        tiles += [KTile(first + k0, min(R, width - k0), index) for k0 in range(0, width, R)]
        first += width
    return tiles


def emit_rnn(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    """An Elman RNN: one GEMM per time step over [x_t, h_(t-1)] with the tanh LUT on the store
    path; each step reads the hidden state the previous step stored (a barrier apart)."""
    R = em.config.rows
    x = sequence_input(node, ins[0])
    gate: golden.QuantGate = node.attrs["gate"]
    t_len, batch, n_in = x.shape
    hidden = gate.hidden_size
    node.attrs.update(
        w2=np.concatenate([gate.wx, gate.wh]),
        b_q=gate.bias,
        mult=gate.mult,
        shift=gate.shift,
        activation=golden.Activation.lookup(golden.TANH_LUT),
    )
    h0 = node.attrs["h0_q"]
    h0_addr = em.place(np.zeros((batch, hidden)) if h0 is None else h0, "int8")
    placed = None
    for t in range(t_len):
        h_src = h0_addr if t == 0 else y.addr + (t - 1) * batch * hidden
        rows = step_tiles(
            batch,
            [(x.addr + t * batch * n_in, 0, n_in), (h_src, n_in, hidden)],
            (y.addr + t * batch * hidden, hidden, 1),
        )
        placed = emit_matmul_layer(
            em,
            node,
            tile_rows=rows,
            k_tiles=k_tiles_over(R, [n_in, hidden]),
            placed=placed,
            barrier_in=barrier_in or t > 0,
            barrier_out=barrier_out or t < t_len - 1,
        )
    assert placed is not None
    nt = placed["nt"] * em.config.cols
    w_addr = placed["w"]
    return {
        "op": "rnn",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "wx": desc_json("wx", (n_in, hidden), "int8", w_addr),
        "wh": desc_json("wh", (hidden, hidden), "int8", w_addr + n_in * hidden),
        "bias": desc_json("bias", (hidden,), "int32", placed["bias"]),
        "mult": desc_json("mult", (hidden,), "int32", placed["quant"]),
        "shift": desc_json("shift", (hidden,), "int32", placed["quant"] + nt * 4),
        "h0": desc_json("h0", (batch, hidden), "int8", h0_addr),
        "y": sequence_desc(y, t_len, batch, hidden),
        "macs": t_len * batch * (n_in + hidden) * hidden,
    }


def emit_lstm(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    """An LSTM step is four gate GEMMs (sigmoid or tanh LUT on the store path) and three
    vector phases for the cell (docs/quantisation.md): c = (f·c >> 7) + (i·g >> 3) stored as
    int32; tanh(c) through the store path's LUT; h = o·tanh(c) >> 7. Each sub-step is a
    barrier apart, since each reads what the one before wrote."""
    cfg = em.config
    R, C = cfg.rows, cfg.cols
    x = sequence_input(node, ins[0])
    weights: golden.LSTMWeights = node.attrs["weights"]
    t_len, batch, n_in = x.shape
    hidden = weights.i.hidden_size
    h0 = node.attrs["h0_q"]
    h0_addr = em.place(np.zeros((batch, hidden)) if h0 is None else h0, "int8")
    c_addr = node.attrs["c_addr"]
    gate_names = ("i", "f", "g", "o")
    gate_buf = {k: em.alloc(batch * hidden) for k in (*gate_names, "tanh_c")}
    gate_nodes = {}
    for k in gate_names:
        q: golden.QuantGate = getattr(weights, k)
        lut = golden.TANH_LUT if k == "g" else golden.SIGMOID_LUT
        gate_nodes[k] = Node(
            "hw.gemm",
            f"{node.name}.{k}",
            [],
            [],
            {
                "w2": np.concatenate([q.wx, q.wh]),
                "b_q": q.bias,
                "mult": q.mult,
                "shift": q.shift,
                "activation": golden.Activation.lookup(lut),
            },
        )
    k_tiles = k_tiles_over(R, [n_in, hidden])
    placed: dict[str, dict[str, int] | None] = dict.fromkeys(gate_names)
    tanh_act = golden.Activation.lookup(golden.TANH_LUT)
    regions = 4
    chunk = min(MAX_COUNT, batch, (cfg.acc_depth - blocks_base(cfg, tanh_act)) // regions)
    if chunk < 1:
        raise CompileError(f"{node.name}: the cell needs more than acc_depth {cfg.acc_depth}")
    runs = [
        (m0, min(chunk, batch - m0), c0, min(C, hidden - c0))
        for m0 in range(0, batch, chunk)
        for c0 in range(0, hidden, C)
    ]
    steps = 0
    last_step = t_len * 7 - 1

    def barriers() -> dict[str, bool]:
        nonlocal steps
        out = {
            "barrier_in": barrier_in or steps > 0,
            "barrier_out": barrier_out or steps < last_step,
        }
        steps += 1
        return out

    def at(buf: int, m0: int, c0: int, item: int = 1) -> dict[str, int]:
        return {"addr": buf + (m0 * hidden + c0) * item, "stride_inner": hidden * item}

    for t in range(t_len):
        h_src = h0_addr if t == 0 else y.addr + (t - 1) * batch * hidden
        for k in gate_names:
            rows = step_tiles(
                batch,
                [(x.addr + t * batch * n_in, 0, n_in), (h_src, n_in, hidden)],
                (gate_buf[k], hidden, 1),
            )
            placed[k] = emit_matmul_layer(
                em, gate_nodes[k], tile_rows=rows, k_tiles=k_tiles, placed=placed[k], **barriers()
            )
        cell, tanh, hidden_out = [], [], []
        for m0, mr, c0, cc in runs:
            rows_ = {"len": cc, "n_inner": mr}
            cell.append(
                Block(
                    [
                        {"dst": 0, "elem": Elem.I32, **rows_, **at(c_addr, m0, c0, 4)},
                        {"dst": chunk, **rows_, **at(gate_buf["f"], m0, c0)},
                        {"dst": 2 * chunk, **rows_, **at(gate_buf["i"], m0, c0)},
                        {"dst": 3 * chunk, **rows_, **at(gate_buf["g"], m0, c0)},
                    ],
                    [
                        {"op": VecOp.MUL, "dst": 0, "a": 0, "b": chunk, "n": mr, "shift": 7},
                        {
                            "op": VecOp.MUL,
                            "dst": 2 * chunk,
                            "a": 2 * chunk,
                            "b": 3 * chunk,
                            "n": mr,
                            "shift": 3,
                        },
                        {"op": VecOp.ADD, "dst": 0, "a": 0, "b": 2 * chunk, "n": mr},
                    ],
                    {"src": 0, "elem": Elem.I32, "len": cc, "n_inner": mr, **at(c_addr, m0, c0, 4)},
                )
            )
            tanh.append(
                Block(
                    [{"dst": 0, "elem": Elem.I32, **rows_, **at(c_addr, m0, c0, 4)}],
                    [{"op": VecOp.MAX, "dst": 0, "a": 0, "b": 0, "n": mr}],
                    {"src": 0, "len": cc, "n_inner": mr, **at(gate_buf["tanh_c"], m0, c0)},
                )
            )
            hidden_out.append(
                Block(
                    [
                        {"dst": 0, **rows_, **at(gate_buf["o"], m0, c0)},
                        {"dst": chunk, **rows_, **at(gate_buf["tanh_c"], m0, c0)},
                    ],
                    [{"op": VecOp.MUL, "dst": 0, "a": 0, "b": chunk, "n": mr, "shift": 7}],
                    {"src": 0, "len": cc, "n_inner": mr, **at(y.addr + t * batch * hidden, m0, c0)},
                )
            )
        emit_blocks(em, cell, IDENTITY, golden.NO_ACTIVATION, **barriers())
        # c (2^-11) to the tanh input scale (2^-5): round_shift(c, 6) = requant(c, 2^30, 36).
        emit_blocks(em, tanh, (1 << 30, 36), tanh_act, **barriers())
        emit_blocks(em, hidden_out, IDENTITY, golden.NO_ACTIVATION, **barriers())

    def gate_record(k: str) -> dict[str, Any]:
        where = placed[k]
        assert where is not None
        nt = where["nt"] * C
        return {
            "wx": desc_json("wx", (n_in, hidden), "int8", where["w"]),
            "wh": desc_json("wh", (hidden, hidden), "int8", where["w"] + n_in * hidden),
            "bias": desc_json("bias", (hidden,), "int32", where["bias"]),
            "mult": desc_json("mult", (hidden,), "int32", where["quant"]),
            "shift": desc_json("shift", (hidden,), "int32", where["quant"] + nt * 4),
        }

    return {
        "op": "lstm",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "gates": {k: gate_record(k) for k in gate_names},
        "h0": desc_json("h0", (batch, hidden), "int8", h0_addr),
        "c0": desc_json(
            "c0",
            (batch, hidden),
            "int32",
            em.place(
                np.zeros((batch, hidden)) if node.attrs["c0_q"] is None else node.attrs["c0_q"],
                "int32",
            ),
        ),
        "c_out": desc_json("c", (batch, hidden), "int32", c_addr),
        "y": sequence_desc(y, t_len, batch, hidden),
        "macs": t_len * batch * (n_in + hidden) * hidden * 4,
    }


def gate_node(
    name: str,
    w2: NDArray[Any],
    bias: NDArray[Any] | None,
    q: golden.QuantGate,
    act: golden.Activation,
) -> Node:
    return Node(
        "hw.gemm",
        name,
        [],
        [],
        {"w2": w2, "b_q": bias, "mult": q.mult, "shift": q.shift, "activation": act},
    )


def gate_record(em: Emitter, q: golden.QuantGate) -> dict[str, Any]:
    """A copy of one gate's integer parameters for the golden backend."""
    n_in, hidden = q.wx.shape
    rec = {
        "wx": desc_json("wx", (n_in, hidden), "int8", em.place(q.wx, "int8")),
        "wh": desc_json("wh", (hidden, hidden), "int8", em.place(q.wh, "int8")),
        "bias": desc_json("bias", (hidden,), "int32", em.place(q.bias, "int32")),
        "mult": desc_json("mult", (hidden,), "int32", em.place(q.mult, "int32")),
        "shift": desc_json("shift", (hidden,), "int32", em.place(q.shift, "int32")),
        "bias_h": None,
    }
    if q.bias_h is not None:
        rec["bias_h"] = desc_json("bias_h", (hidden,), "int32", em.place(q.bias_h, "int32"))
    return rec


def emit_gru(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    """A GRU step: gate GEMMs z and r (sigmoid LUT); the candidate n — with
    ``linear_before_reset = 0`` a GEMM over [x, r·h >> 7], with 1 two raw int32 GEMMs
    combined as ``acc_x + (r·acc_h >> 7)`` on the vector unit and requantised into the tanh
    LUT; then ``h = n + (z·(h - n) >> 7)`` (docs/quantisation.md). Sub-steps are barriers
    apart."""
    cfg = em.config
    R, C = cfg.rows, cfg.cols
    x = sequence_input(node, ins[0])
    weights: golden.GRUWeights = node.attrs["weights"]
    lbr = weights.linear_before_reset
    t_len, batch, n_in = x.shape
    hidden = weights.z.hidden_size
    h0 = node.attrs["h0_q"]
    h0_addr = em.place(np.zeros((batch, hidden)) if h0 is None else h0, "int8")
    buf = {k: em.alloc(batch * hidden) for k in ("z", "r", "n", "rh")}
    acc_buf = {k: em.alloc(batch * hidden * 4) for k in ("ax", "ah")} if lbr else {}
    sig = golden.Activation.lookup(golden.SIGMOID_LUT)
    tanh = golden.Activation.lookup(golden.TANH_LUT)
    n_gate = weights.n
    gates = {
        "z": gate_node(
            "z", np.concatenate([weights.z.wx, weights.z.wh]), weights.z.bias, weights.z, sig
        ),
        "r": gate_node(
            "r", np.concatenate([weights.r.wx, weights.r.wh]), weights.r.bias, weights.r, sig
        ),
    }
    if lbr:
        gates["ax"] = gate_node("ax", n_gate.wx, n_gate.bias, n_gate, golden.NO_ACTIVATION)
        gates["ah"] = gate_node("ah", n_gate.wh, n_gate.bias_h, n_gate, golden.NO_ACTIVATION)
    else:
        gates["n"] = gate_node(
            "n", np.concatenate([n_gate.wx, n_gate.wh]), n_gate.bias, n_gate, tanh
        )
    placed: dict[str, dict[str, int] | None] = dict.fromkeys(gates)
    regions = 3
    chunk = min(
        MAX_COUNT, batch, (cfg.acc_depth - blocks_base(cfg, tanh, -(-hidden // C))) // regions
    )
    if chunk < 1:
        raise CompileError(f"{node.name}: the cell needs more than acc_depth {cfg.acc_depth}")
    runs = [
        (m0, min(chunk, batch - m0), c0, min(C, hidden - c0))
        for m0 in range(0, batch, chunk)
        for c0 in range(0, hidden, C)
    ]
    sub_steps = t_len * (6 if lbr else 5)  # GEMMs and vector phases, each a barrier apart
    done = 0

    def barriers() -> dict[str, bool]:
        nonlocal done
        out = {
            "barrier_in": barrier_in or done > 0,
            "barrier_out": barrier_out or done < sub_steps - 1,
        }
        done += 1
        return out

    def at(addr: int, m0: int, c0: int, item: int = 1) -> dict[str, int]:
        return {"addr": addr + (m0 * hidden + c0) * item, "stride_inner": hidden * item}

    def gemm(
        name: str,
        sources: list[tuple[int, int, int]],
        widths: list[int],
        out: tuple[int, int, int],
        *,
        raw: bool = False,
    ) -> None:
        placed[name] = emit_matmul_layer(
            em,
            gates[name],
            tile_rows=step_tiles(batch, sources, out),
            k_tiles=k_tiles_over(R, widths),
            placed=placed[name],
            raw=raw,
            **barriers(),
        )

    for t in range(t_len):
        x_src = (x.addr + t * batch * n_in, 0, n_in)
        h_at = h0_addr if t == 0 else y.addr + (t - 1) * batch * hidden
        h_src = (h_at, n_in, hidden)
        gemm("z", [x_src, h_src], [n_in, hidden], (buf["z"], hidden, 1))
        gemm("r", [x_src, h_src], [n_in, hidden], (buf["r"], hidden, 1))
        if lbr:
            gemm("ax", [x_src], [n_in], (acc_buf["ax"], hidden * 4, 4), raw=True)
            gemm(
                "ah",
                [(h_at, 0, hidden)],
                [hidden],
                (acc_buf["ah"], hidden * 4, 4),
                raw=True,
            )
            blocks = []
            for m0, mr, c0, cc in runs:
                rows = {"len": cc, "n_inner": mr}
                blocks.append(
                    Block(
                        [
                            {"dst": 0, "elem": Elem.I32, **rows, **at(acc_buf["ax"], m0, c0, 4)},
                            {
                                "dst": chunk,
                                "elem": Elem.I32,
                                **rows,
                                **at(acc_buf["ah"], m0, c0, 4),
                            },
                            {"dst": 2 * chunk, **rows, **at(buf["r"], m0, c0)},
                        ],
                        [
                            {
                                "op": VecOp.MUL,
                                "dst": chunk,
                                "a": chunk,
                                "b": 2 * chunk,
                                "n": mr,
                                "shift": 7,
                            },
                            {"op": VecOp.ADD, "dst": 0, "a": 0, "b": chunk, "n": mr},
                        ],
                        {"src": 0, "len": cc, "n_inner": mr, **at(buf["n"], m0, c0)},
                        tile=c0 // C,
                    )
                )
            emit_blocks(em, blocks, (n_gate.mult, n_gate.shift), tanh, **barriers())
        else:
            blocks = []
            for m0, mr, c0, cc in runs:
                rows = {"len": cc, "n_inner": mr}
                blocks.append(
                    Block(
                        [
                            {"dst": 0, **rows, **at(buf["r"], m0, c0)},
                            {"dst": chunk, **rows, **at(h_at, m0, c0)},
                        ],
                        [{"op": VecOp.MUL, "dst": 0, "a": 0, "b": chunk, "n": mr, "shift": 7}],
                        {"src": 0, "len": cc, "n_inner": mr, **at(buf["rh"], m0, c0)},
                    )
                )
            emit_blocks(em, blocks, IDENTITY, golden.NO_ACTIVATION, **barriers())
            gemm(
                "n",
                [x_src, (buf["rh"], n_in, hidden)],
                [n_in, hidden],
                (buf["n"], hidden, 1),
            )
        blocks = []
        for m0, mr, c0, cc in runs:
            rows = {"len": cc, "n_inner": mr}
            blocks.append(
                Block(
                    [
                        {"dst": 0, **rows, **at(buf["n"], m0, c0)},
                        {"dst": chunk, **rows, **at(h_at, m0, c0)},
                        {"dst": 2 * chunk, **rows, **at(buf["z"], m0, c0)},
                    ],
                    [
                        {"op": VecOp.SUB, "dst": chunk, "a": chunk, "b": 0, "n": mr},
                        {
                            "op": VecOp.MUL,
                            "dst": chunk,
                            "a": chunk,
                            "b": 2 * chunk,
                            "n": mr,
                            "shift": 7,
                        },
                        {"op": VecOp.ADD, "dst": 0, "a": 0, "b": chunk, "n": mr},
                    ],
                    {"src": 0, "len": cc, "n_inner": mr, **at(y.addr + t * batch * hidden, m0, c0)},
                )
            )
        emit_blocks(em, blocks, IDENTITY, golden.NO_ACTIVATION, **barriers())

    return {
        "op": "gru",
        "name": node.name,
        "lbr": int(lbr),
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "gates": {k: gate_record(em, getattr(weights, k)) for k in ("z", "r", "n")},
        "h0": desc_json("h0", (batch, hidden), "int8", h0_addr),
        "y": sequence_desc(y, t_len, batch, hidden),
        "macs": t_len * batch * (n_in + hidden) * hidden * 3,
    }
