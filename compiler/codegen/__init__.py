"""Allocation, tiling, scheduling and emission: the lowered IR to a Program.

Activations live in external memory: 2-D values row-major, 4-D values as NHWC with a zero (or,
before a padded max-pool, -128) border as wide as their consumers' padding, so convolutions and
pools read padded windows with plain 2-D strided loads and no host-side im2col.

GEMMs and convolutions share one weight-stationary schedule (:func:`.matmul.emit_matmul_layer`): for
each output block (a tile of output rows or pixels × one column tile of C channels) and each K
tile of R rows, load the input and weight tiles into one of several scratchpad buffers (the
loads emitted ahead of the execute instructions that wait for them), preload, and
matmul into one of two accumulator blocks; the store unit requantises finished blocks. A
convolution's K tiles walk the kernel rows: for stride-1 dilation, one kernel row's KW·Cin input
bytes are contiguous in an NHWC row, so a K tile is a single strided load (implicit im2col).
Layers are separated by a barrier (last store → execute ``sync`` → first load of the next layer),
because a layer reads what the previous one wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...spec.config import AcceleratorConfig
from ...spec.errors import CompileError
from ...spec.program import Program, TensorDesc
from ..ir import Graph
from .blocks import emit_add, emit_pool
from .common import Buffer, Emitter
from .matmul import emit_conv, emit_gemm
from .recurrent import emit_gru, emit_lstm, emit_rnn

__all__ = ["emit_program"]


EMITTERS: dict[str, Callable[..., dict[str, Any]]] = {
    "hw.gru": emit_gru,
    "hw.lstm": emit_lstm,
    "hw.rnn": emit_rnn,
    "hw.gemm": lambda em, node, ins, y, **kw: emit_gemm(em, node, ins[0], y, **kw),
    "hw.conv": lambda em, node, ins, y, **kw: emit_conv(em, node, ins[0], y, **kw),
    "hw.maxpool": emit_pool,
    "hw.avgpool": emit_pool,
    "hw.add": emit_add,
}


def _allocate(em: Emitter, graph: Graph) -> dict[str, Buffer]:
    """A buffer per activation, with the border its consumers' padding needs."""
    need: dict[str, tuple[list[int], set[int]]] = {}
    for node in graph.nodes:
        if node.op in ("hw.conv", "hw.maxpool", "hw.avgpool"):
            pads, fills = need.setdefault(node.inputs[0], ([0, 0, 0, 0], set()))
            for i, p in enumerate(node.attrs["pads"]):
                pads[i] = max(pads[i], p)
            if any(node.attrs["pads"]):
                fills.add(0 if node.op == "hw.conv" else -128)
    buffers = {}
    names = list(graph.inputs) + [
        o for n in graph.nodes for o in n.outputs if n.op.startswith("hw.") and o
    ]
    for node in graph.nodes:
        if node.op in ("hw.rnn", "hw.lstm", "hw.gru"):
            # Y holds every step's hidden state; Y_h is a view of its last step.
            if node.op == "hw.rnn":
                gate = node.attrs["gate"]
            else:
                w = node.attrs["weights"]
                gate = w.i if node.op == "hw.lstm" else w.z
            # The input's own [T, B, I]: the buffer it aliases may be shaped otherwise (lower).
            t_len, batch, _ = node.attrs["x_shape"]
            hidden = gate.hidden_size
            if node.op == "hw.lstm":
                # The cell state, updated in place each step; Y_c is its final value.
                c0 = node.attrs["c0_q"]
                c_addr = em.place(np.zeros((batch, hidden)) if c0 is None else c0, "int32")
                node.attrs["c_addr"] = c_addr
                if node.outputs[2]:
                    buffers[node.outputs[2]] = Buffer(c_addr, (1, batch, hidden), dtype="int32")
            y_name = node.outputs[0] or f"{node.name}:Y"
            node.outputs[0] = y_name
            addr = em.alloc(t_len * batch * hidden)
            buffers[y_name] = Buffer(addr, (t_len, 1, batch, hidden))
            if len(node.outputs) > 1 and node.outputs[1]:
                buffers[node.outputs[1]] = Buffer(
                    addr + (t_len - 1) * batch * hidden, (1, batch, hidden)
                )
    names = [n for n in names if n not in buffers]
    for name in names:
        v = graph.values[name]
        pads, fills = need.get(name, ([0, 0, 0, 0], set()))
        if len(fills) > 1:
            raise CompileError(
                f"{name!r} feeds both a padded conv and a padded max-pool; "
                "their borders differ (0 and -128)"
            )
        fill = fills.pop() if fills else 0
        if len(v.shape) == 4:
            n, c, h, w = v.shape
            size = n * (h + pads[0] + pads[2]) * (w + pads[1] + pads[3]) * c
        else:
            size = int(np.prod(v.shape))
        buffers[name] = Buffer(
            em.alloc(size, fill),
            v.shape,
            (pads[0], pads[1], pads[2], pads[3]),
            image=len(v.shape) == 4,
        )
    return buffers


def emit_program(graph: Graph, config: AcceleratorConfig) -> Program:
    """Allocate memory for the lowered graph and emit its instruction stream."""
    em = Emitter(config)
    buffers = _allocate(em, graph)
    layers_nodes = [n for n in graph.nodes if n.op in EMITTERS]
    if not layers_nodes:
        raise CompileError("the model has no layer to run on the accelerator")
    layers = []
    for i, node in enumerate(layers_nodes):
        first = len(em.words)
        record = EMITTERS[node.op](
            em,
            node,
            [buffers[v] for v in node.inputs if v],
            buffers[node.outputs[0]],
            barrier_in=i > 0,
            barrier_out=i < len(layers_nodes) - 1,
        )
        record["instructions"] = [first, len(em.words)]  # for per-layer reports
        layers.append(record)
    em.emit("halt")
    inputs = []
    for name in graph.inputs:
        scale = graph.values[name].scale
        assert scale is not None
        desc = buffers[name].desc(name, scale, logical=True)
        if name in graph.layouts:  # the buffer holds the transposed tensor
            perm, _ = graph.layouts[name]
            shape, strides = [0] * len(perm), [0] * len(perm)
            for k, axis in enumerate(perm):
                shape[axis], strides[axis] = desc.shape[k], desc.strides[k]
            desc = TensorDesc(
                name=name,
                shape=tuple(shape),
                dtype=desc.dtype,
                scale=scale,
                offset=desc.offset,
                strides=tuple(strides),
            )
        inputs.append(desc)
    outputs = []
    host_softmax = []
    for name in graph.outputs:
        source = name
        producer = graph.producer(name)
        if producer is not None and producer.op == "softmax":
            source = producer.inputs[0]
            host_softmax.append(name)
        source = graph.aliases.get(source, source)
        if source not in buffers:
            raise CompileError(f"output {name!r} is not computed on the accelerator")
        scale = graph.values[source].scale
        assert scale is not None
        buffer = buffers[source]
        desc = buffer.desc(name, scale, logical=True)
        if name in graph.layouts:  # a transpose folded into the output's layout
            perm, before = graph.layouts[name]
            rowmajor = Buffer(buffer.addr, before, dtype=buffer.dtype)
            base = rowmajor.desc(name, scale, logical=True)
            desc = TensorDesc(
                name=name,
                shape=tuple(base.shape[p] for p in perm),
                dtype=desc.dtype,
                scale=scale,
                offset=base.offset,
                strides=tuple(base.strides[p] for p in perm),
            )
        elif graph.values[name].shape != buffer.shape and (
            not buffer.is_image or (buffer.shape[2:] == (1, 1) and not any(buffer.pads))
        ):
            # Layout-only ops (Squeeze, Flatten) changed the shape, not the bytes.
            # An unpadded [N, C, 1, 1] image is [N, C] row-major too.
            logical = graph.values[name].shape
            desc = Buffer(buffer.addr, logical, dtype=buffer.dtype).desc(name, scale, logical=True)
        outputs.append(desc)
    return Program(
        config=config,
        instructions=tuple(em.words),
        memory=bytes(em.memory),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        metadata={"name": graph.name, "layers": layers, "host_softmax": host_softmax},
    )
