"""A small Python API for users without ONNX: build a network layer by layer.

>>> net = NetworkBuilder("cnn", inputs={"x": (1, 1, 28, 28)})
>>> h = net.max_pool(net.conv2d("x", w1, b1, padding=1, act="relu"), 2)
>>> y = net.dense(net.flatten(h), w2, b2)
>>> graph = net.build(outputs=[net.softmax(y)])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..spec.errors import CompileError
from .ir import Graph, Node, Value

__all__ = ["ACTIVATIONS", "NetworkBuilder"]

ACTIVATIONS = ("none", "relu", "relu6", "sigmoid", "tanh")


class NetworkBuilder:
    """Collects layers into a :class:`~systolic.compiler.ir.Graph`.

    Parameters
    ----------
    name : str
        The network's name.
    inputs : mapping of str to shape
        Graph inputs and their shapes (first axis: batch).
    """

    def __init__(self, name: str, *, inputs: Mapping[str, tuple[int, ...]]):
        if not inputs:
            raise CompileError("NetworkBuilder: at least one input is needed")
        self.name = name
        self.values: dict[str, Value] = {}
        self.nodes: list[Node] = []
        self.inputs = list(inputs)
        for key, shape in inputs.items():
            shape = tuple(int(d) for d in shape)
            if len(shape) < 2 or any(d < 1 for d in shape):
                raise CompileError(
                    f"input {key!r}: shape {shape} must be (batch, ...) with positive sizes"
                )
            self.values[key] = Value(key, shape)

    def _shape(self, x: str) -> tuple[int, ...]:
        if x not in self.values:
            raise CompileError(f"unknown value {x!r}")
        return self.values[x].shape

    def _fresh(self, stem: str) -> str:
        n = len(self.nodes)
        return f"{stem}_{n}"

    def _add(self, op: str, inputs: list[str], shape: tuple[int, ...], **attrs: Any) -> str:
        name = self._fresh(op)
        out = f"{name}:out"
        self.values[out] = Value(out, shape)
        self.nodes.append(Node(op, name, inputs, [out], dict(attrs)))
        return out

    def _const(self, stem: str, data: ArrayLike) -> str:
        name = f"{stem}_{len(self.values)}"
        arr = np.asarray(data, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise CompileError(f"{stem}: weights must be finite numbers")
        self.values[name] = Value(name, arr.shape, data=arr)
        return name

    def dense(self, x: str, w: ArrayLike, b: ArrayLike | None = None, *, act: str = "none") -> str:
        """Fully connected layer ``act(x @ w + b)``; ``w`` is ``[K, N]`` (input × output)."""
        shape = self._shape(x)
        wa = np.asarray(w, dtype=np.float64)
        if len(shape) != 2:
            raise CompileError(f"dense: input {x!r} has shape {shape}; flatten it first")
        if wa.ndim != 2 or wa.shape[0] != shape[1]:
            raise CompileError(
                f"dense: weights of shape {wa.shape} do not fit input {shape} "
                f"(expected [{shape[1]}, N])"
            )
        if act not in ACTIVATIONS:
            raise CompileError(f"dense: act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        bias = ""
        if b is not None:
            ba = np.asarray(b, dtype=np.float64)
            if ba.shape != (wa.shape[1],):
                raise CompileError(
                    f"dense: bias of shape {ba.shape} does not fit {wa.shape[1]} outputs"
                )
            bias = self._const("b", ba)
        y = self._add("dense", [x, self._const("w", wa), bias], (shape[0], wa.shape[1]))
        return self._activation(y, act)

    def conv2d(
        self,
        x: str,
        w: ArrayLike,
        b: ArrayLike | None = None,
        *,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        act: str = "none",
    ) -> str:
        """2-D convolution on an NCHW input; ``w`` is ``[Cout, Cin / groups, KH, KW]`` as in
        PyTorch. ``stride``, ``padding`` and ``dilation`` apply to both axes."""
        shape = self._shape(x)
        wa = np.asarray(w, dtype=np.float64)
        if len(shape) != 4:
            raise CompileError(f"conv2d: input {x!r} has shape {shape}, expected NCHW")
        if wa.ndim != 4 or shape[1] != wa.shape[1] * groups or wa.shape[0] % groups:
            raise CompileError(
                f"conv2d: weights of shape {wa.shape} do not fit input {shape} with groups={groups}"
            )
        for name, v in (("stride", stride), ("dilation", dilation), ("groups", groups)):
            if not isinstance(v, int) or v < 1:
                raise CompileError(f"conv2d: {name} must be a positive integer, got {v!r}")
        if not isinstance(padding, int) or padding < 0:
            raise CompileError(f"conv2d: padding must be a non-negative integer, got {padding!r}")
        kh, kw = wa.shape[2:]
        oh = (shape[2] + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
        ow = (shape[3] + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
        if oh < 1 or ow < 1:
            raise CompileError(f"conv2d: a {kh}x{kw} kernel does not fit input {shape}")
        bias = ""
        if b is not None:
            bias = self._const("b", np.asarray(b, dtype=np.float64).reshape(wa.shape[0]))
        y = self._add(
            "conv",
            [x, self._const("w", wa), bias],
            (shape[0], wa.shape[0], oh, ow),
            strides=(stride, stride),
            pads=(padding,) * 4,
            dilations=(dilation, dilation),
            group=groups,
        )
        return self._activation(y, act)

    def max_pool(
        self,
        x: str,
        kernel: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] | None = None,
        padding: int = 0,
    ) -> str:
        """Max-pool with a ``kernel`` (an int, or ``(kh, kw)``) and a stride (default: kernel)."""
        return self._pool("maxpool", x, kernel, stride or kernel, padding)

    def avg_pool(
        self, x: str, kernel: int | tuple[int, int], *, stride: int | tuple[int, int] | None = None
    ) -> str:
        return self._pool("avgpool", x, kernel, stride or kernel, 0)

    def global_avg_pool(self, x: str) -> str:
        shape = self._shape(x)
        return self._add(
            "avgpool",
            [x],
            (shape[0], shape[1], 1, 1),
            kernel=shape[2:],
            strides=(1, 1),
            pads=(0, 0, 0, 0),
        )

    def _pool(
        self,
        op: str,
        x: str,
        kernel: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int,
    ) -> str:
        shape = self._shape(x)
        if len(shape) != 4:
            raise CompileError(f"{op}: input {x!r} has shape {shape}, expected NCHW")
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        oh = (shape[2] + 2 * padding - kh) // sh + 1
        ow = (shape[3] + 2 * padding - kw) // sw + 1
        if oh < 1 or ow < 1 or padding >= min(kh, kw):
            raise CompileError(f"{op}: kernel {kernel}, padding {padding} do not fit {shape}")
        return self._add(
            op,
            [x],
            (shape[0], shape[1], oh, ow),
            kernel=(kh, kw),
            strides=(sh, sw),
            pads=(padding,) * 4,
        )

    def add(self, a: str, b: str, *, act: str = "none") -> str:
        """Residual add of two activations of one shape (ReLU may follow, fused)."""
        if self._shape(a) != self._shape(b):
            raise CompileError(f"add: shapes {self._shape(a)} and {self._shape(b)} differ")
        if act not in ("none", "relu"):
            raise CompileError(f"add: act must be 'none' or 'relu', got {act!r}")
        return self._activation(self._add("add", [a, b], self._shape(a)), act)

    def _activation(self, y: str, act: str) -> str:
        if act not in ACTIVATIONS:
            raise CompileError(f"act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        if act == "relu":
            return self.relu(y)
        if act == "relu6":
            return self._add("clip", [y], self._shape(y), lo=0.0, hi=6.0)
        if act in ("sigmoid", "tanh"):
            return self._add(act, [y], self._shape(y))
        return y

    def relu(self, x: str) -> str:
        return self._add("relu", [x], self._shape(x))

    def flatten(self, x: str) -> str:
        shape = self._shape(x)
        return self._add("flatten", [x], (shape[0], int(np.prod(shape[1:]))))

    def softmax(self, x: str) -> str:
        """Softmax over the last axis, computed on the host in float32 (docs)."""
        return self._add("softmax", [x], self._shape(x))

    def build(self, *, outputs: list[str]) -> Graph:
        for o in outputs:
            self._shape(o)
        graph = Graph(
            self.name, list(self.inputs), list(outputs), dict(self.values), list(self.nodes)
        )
        graph.verify("builder")
        return graph
