"""A small Python API for users without ONNX: build a network layer by layer.

>>> net = NetworkBuilder("mlp", inputs={"x": (1, 784)})
>>> h = net.dense("x", w1, b1, act="relu")
>>> y = net.dense(h, w2, b2)
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
        if act == "relu":
            y = self.relu(y)
        elif act == "relu6":
            y = self._add("clip", [y], self._shape(y), lo=0.0, hi=6.0)
        elif act in ("sigmoid", "tanh"):
            y = self._add(act, [y], self._shape(y))
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
