"""The compiler's one IR: a graph of named values and nodes in topological order.

Front-ends build it with float constants; ``quantize`` adds scales and integer parameters;
``lower`` rewrites nodes into accelerator ops. :meth:`Graph.verify` runs between passes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..spec.errors import CompileError

__all__ = ["OPS", "Graph", "Node", "Value"]

# Network-level ops (from front-ends) and accelerator-level ops (after ``lower``).
OPS = {
    # name: number of inputs (None = variable)
    "dense": 3,  # x [M, K], w [K, N] const, b [N] const (may be "")
    "relu": 1,
    "clip": 1,  # attrs lo, hi (float, None = unbounded)
    "sigmoid": 1,
    "tanh": 1,
    "flatten": 1,  # layout only: [N, ...] -> [N, prod]
    "softmax": 1,  # host-side, last node only
    "conv": 3,  # x [N, C, H, W] (logical NCHW), w [Cout, Cin/g, KH, KW] const, b [Cout] const
    "maxpool": 1,  # attrs kernel, strides, pads
    "avgpool": 1,  # attrs kernel, strides, pads (no padding), global
    "add": 2,  # residual: two activations of one shape
    "rnn": 5,  # X [T, B, I], W [1, H, I], R [1, H, H], B [1, 2H] or "", initial_h or ""
    "lstm": 6,  # X, W [1, 4H, I] (i, o, f, c), R [1, 4H, H], B [1, 8H] or "", h0, c0
    "gru": 5,  # X, W [1, 3H, I] (z, r, h), R [1, 3H, H], B [1, 6H] or "", h0
    "squeeze": 1,  # layout only: drop size-1 axes (attrs axes)
    "transpose": 1,  # attrs perm; only at graph inputs/outputs or moving size-1 axes
    "hw.gemm": 1,  # x; integer params in attrs
    "hw.rnn": 2,  # X, initial h (or "")
    "hw.lstm": 1,  # X
    "hw.gru": 1,  # X
    "hw.conv": 1,
    "hw.maxpool": 1,
    "hw.avgpool": 1,
    "hw.add": 2,
}


def conv2d_float(
    x: NDArray[Any], w: NDArray[Any], b: NDArray[Any] | None, attrs: dict[str, Any]
) -> NDArray[Any]:
    """Float NCHW convolution (the calibration reference), any stride/pads/dilation/groups."""
    sh, sw = attrs["strides"]
    pt, pl, pb, pr = attrs["pads"]
    dh, dw = attrs["dilations"]
    groups = attrs["group"]
    n = x.shape[0]
    cout, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, cout, oh, ow))
    og = cout // groups
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[
                    :,
                    :,
                    i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                    j * dw : j * dw + sw * (ow - 1) + 1 : sw,
                ]
                # tensordot reaches BLAS, einsum would not: [n, h, w, c] @ [c, o].
                prod = np.tensordot(patch, w[g * og : (g + 1) * og, :, i, j], axes=([1], [1]))
                out[:, g * og : (g + 1) * og] += prod.transpose(0, 3, 1, 2)
    if b is not None:
        out += b[None, :, None, None]
    return out


def pool_float(x: NDArray[Any], attrs: dict[str, Any], kind: str) -> NDArray[Any]:
    """Float NCHW max or average pooling (average without padding)."""
    kh, kw = attrs["kernel"]
    sh, sw = attrs["strides"]
    pt, pl, pb, pr = attrs.get("pads", (0, 0, 0, 0))
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    windows = [
        xp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    stack = np.stack(windows)
    return np.asarray(stack.max(axis=0) if kind == "max" else stack.mean(axis=0))


def activation(op: str, attrs: dict[str, Any], x: NDArray[Any]) -> NDArray[Any]:
    """Float reference of the activation ops."""
    if op == "relu":
        y = np.maximum(x, 0.0)
    elif op == "clip":
        lo, hi = attrs.get("lo"), attrs.get("hi")
        y = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    elif op == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-x))
    else:
        y = np.tanh(x)
    return np.asarray(y, dtype=np.float64)


def _sigmoid(v: NDArray[Any]) -> NDArray[Any]:
    return np.asarray(1.0 / (1.0 + np.exp(-v)))


def lstm_float(x: NDArray[Any], node: Any, env: dict[str, Any]) -> list[NDArray[Any]]:
    """Float ONNX LSTM (gate blocks i, o, f, c); returns Y [T, 1, B, H], Y_h, Y_c."""
    w, r = env[node.inputs[1]][0], env[node.inputs[2]][0]
    hidden = r.shape[1]
    b = env[node.inputs[3]][0] if node.inputs[3] else np.zeros(8 * hidden)
    bias = b[: 4 * hidden] + b[4 * hidden :]

    def state(index: int) -> NDArray[Any]:
        zero = np.zeros((x.shape[1], hidden))
        if not node.inputs[index]:
            return zero
        s0 = env[node.inputs[index]][0]
        return s0 if s0.shape[0] == x.shape[1] else np.broadcast_to(s0[:1], zero.shape)

    h, c = state(4), state(5)
    ys = []
    for t in range(x.shape[0]):
        z = x[t] @ w.T + h @ r.T + bias
        i, o, f, g = (z[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        ys.append(h)
    return [np.stack(ys)[:, None], h[None], c[None]]


def gru_float(x: NDArray[Any], node: Any, env: dict[str, Any]) -> list[NDArray[Any]]:
    """Float ONNX GRU (gate blocks z, r, h; either linear_before_reset); Y [T, 1, B, H], Y_h."""
    w, r = env[node.inputs[1]][0], env[node.inputs[2]][0]
    hidden = r.shape[1]
    b = env[node.inputs[3]][0] if node.inputs[3] else np.zeros(6 * hidden)
    wb, rb = b[: 3 * hidden], b[3 * hidden :]
    h = np.zeros((x.shape[1], hidden))
    if node.inputs[4]:
        h0 = env[node.inputs[4]][0]
        h = h0 if h0.shape[0] == x.shape[1] else np.broadcast_to(h0[:1], h.shape)
    span = [slice(k * hidden, (k + 1) * hidden) for k in range(3)]
    ys = []
    for t in range(x.shape[0]):
        gx = x[t] @ w.T + wb
        z = _sigmoid(gx[:, span[0]] + h @ r[span[0]].T + rb[span[0]])
        rr = _sigmoid(gx[:, span[1]] + h @ r[span[1]].T + rb[span[1]])
        if node.attrs["linear_before_reset"]:
            n = np.tanh(gx[:, span[2]] + rr * (h @ r[span[2]].T + rb[span[2]]))
        else:
            n = np.tanh(gx[:, span[2]] + (rr * h) @ r[span[2]].T + rb[span[2]])
        h = (1 - z) * n + z * h
        ys.append(h)
    return [np.stack(ys)[:, None], h[None]]


@dataclass
class Value:
    """A tensor: graph input, constant (float data) or intermediate activation."""

    name: str
    shape: tuple[int, ...]
    data: NDArray[Any] | None = None
    scale: float | None = None  # set by quantize for activations
    batch_axis: int = 0  # the axis that calibration batches may size freely (inputs)
    qdq_scale: float | None = None  # the scale a QDQ model gives this activation

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A network: ``inputs`` and ``outputs`` name values; ``nodes`` are topologically sorted."""

    name: str
    inputs: list[str]
    outputs: list[str]
    values: dict[str, Value]
    nodes: list[Node]
    # Graph inputs and outputs whose memory layout is a transposition of their logical one
    # (a Transpose folded into the tensor descriptor): name -> (permutation, pre-transpose
    # shape).
    layouts: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    # Values that share another value's buffer (layout-only ops, after ``lower``).
    aliases: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Graph:
        return copy.deepcopy(self)

    def producer(self, value: str) -> Node | None:
        for node in self.nodes:
            if value in node.outputs:
                return node
        return None

    def consumers(self, value: str) -> list[Node]:
        return [n for n in self.nodes if value in n.inputs]

    def verify(self, stage: str) -> None:
        """Check structural invariants; ``stage`` names the pass that just ran."""
        defined = set(self.inputs) | {v.name for v in self.values.values() if v.is_const}
        for name in self.inputs:
            if name not in self.values:
                raise CompileError(f"after {stage}: graph input {name!r} has no value")
        for node in self.nodes:
            if node.op not in OPS:
                raise CompileError(f"after {stage}: node {node.name!r} has unknown op {node.op}")
            want = OPS[node.op]
            if want is not None and len(node.inputs) != want:
                raise CompileError(
                    f"after {stage}: node {node.name!r} ({node.op}) has {len(node.inputs)} "
                    f"inputs, expected {want}"
                )
            for name in node.inputs:
                if name and name not in defined:
                    raise CompileError(
                        f"after {stage}: node {node.name!r} reads {name!r} before it is defined"
                    )
            for name in node.outputs:
                if not name:  # an optional output nobody asked for
                    continue
                if name not in self.values:
                    raise CompileError(
                        f"after {stage}: output {name!r} of {node.name!r} has no value"
                    )
                defined.add(name)
        for name in self.outputs:
            if self.aliases.get(name, name) not in defined and name not in defined:
                raise CompileError(f"after {stage}: graph output {name!r} is never computed")

    def float_forward(self, feeds: dict[str, NDArray[np.floating[Any]]]) -> dict[str, Any]:
        """Run the float network (NumPy); returns every value, used for calibration."""
        env: dict[str, Any] = {n: np.asarray(v, dtype=np.float64) for n, v in feeds.items()}
        for v in self.values.values():
            if v.is_const:
                env[v.name] = v.data
        for node in self.nodes:
            x = env[node.inputs[0]]
            if node.op == "dense":
                y = x @ env[node.inputs[1]]
                if node.inputs[2]:
                    y = y + env[node.inputs[2]]
                if "act" in node.attrs:  # fused by the fuse_activations pass
                    y = activation(node.attrs["act"], node.attrs["act_attrs"], y)
            elif node.op in ("relu", "clip", "sigmoid", "tanh"):
                y = activation(node.op, node.attrs, x)
            elif node.op == "conv":
                b = env[node.inputs[2]] if node.inputs[2] else None
                y = conv2d_float(x, env[node.inputs[1]], b, node.attrs)
                if "act" in node.attrs:
                    y = activation(node.attrs["act"], node.attrs["act_attrs"], y)
            elif node.op == "maxpool":
                y = pool_float(x, node.attrs, "max")
            elif node.op == "avgpool":
                y = pool_float(x, node.attrs, "avg")
            elif node.op == "add":
                y = x + env[node.inputs[1]]
                if "act" in node.attrs:
                    y = activation(node.attrs["act"], node.attrs["act_attrs"], y)
            elif node.op == "rnn":
                w, r = env[node.inputs[1]][0], env[node.inputs[2]][0]
                hidden = w.shape[0]
                bias = (
                    env[node.inputs[3]][0, :hidden] + env[node.inputs[3]][0, hidden:]
                    if node.inputs[3]
                    else np.zeros(hidden)
                )
                h = np.zeros((x.shape[1], hidden))
                if node.inputs[4]:
                    h0 = env[node.inputs[4]][0]
                    # A calibration batch may differ from the compiled one: broadcast a state
                    # that is the same for every sequence (PyTorch's zeros).
                    h = h0 if h0.shape[0] == x.shape[1] else np.broadcast_to(h0[:1], h.shape)
                ys = []
                for t in range(x.shape[0]):
                    h = np.tanh(x[t] @ w.T + h @ r.T + bias)
                    ys.append(h)
                y_all = np.stack(ys)[:, None]  # [T, 1, B, H]
                outs = [y_all, h[None]]
                for name, value in zip(node.outputs, outs, strict=True):
                    if name:
                        env[name] = value
                continue
            elif node.op == "lstm":
                for name, value in zip(node.outputs, lstm_float(x, node, env), strict=True):
                    if name:
                        env[name] = value
                continue
            elif node.op == "gru":
                for name, value in zip(node.outputs, gru_float(x, node, env), strict=True):
                    if name:
                        env[name] = value
                continue
            elif node.op == "transpose":
                y = np.transpose(x, node.attrs["perm"])
            elif node.op == "squeeze":
                y = np.squeeze(x, axis=tuple(node.attrs["axes"]))
            elif node.op == "flatten":
                y = x.reshape(x.shape[0], -1)
            elif node.op == "softmax":
                e = np.exp(x - x.max(axis=-1, keepdims=True))
                y = e / e.sum(axis=-1, keepdims=True)
            else:  # pragma: no cover - verify() rejects unknown ops
                raise CompileError(f"float_forward: op {node.op} is not executable")
            env[node.outputs[0]] = y
        return env
