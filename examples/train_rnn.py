"""The seed recurrent networks trained in NumPy with backpropagation through time.

Each reads a 28×28 image row by row (28 steps of 28 features) and classifies it from the last
hidden state: ``logits = W_hy · h_T + b_y``. Cells: Elman RNN (tanh), LSTM (gates i, f, g, o)
and GRU (PyTorch's form, ``linear_before_reset = 1``). :func:`export_onnx` writes them as ONNX
RNN/LSTM/GRU nodes (the gate orders ONNX uses) followed by Squeeze and Gemm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

F = NDArray[np.float64]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sig(v: F) -> F:
    return np.asarray(1.0 / (1.0 + np.exp(-v)))


def init(cell: str, n_in: int, hidden: int, classes: int, rng: np.random.Generator) -> dict[str, F]:
    g = GATES[cell]
    p = {
        "wx": rng.normal(0, 1 / np.sqrt(n_in), (g, n_in, hidden)),
        "wh": rng.normal(0, 1 / np.sqrt(hidden), (g, hidden, hidden)),
        "bx": np.zeros((g, hidden)),
        "bh": np.zeros((g, hidden)),
        "wy": rng.normal(0, 1 / np.sqrt(hidden), (hidden, classes)),
        "by": np.zeros(classes),
    }
    if cell == "lstm":
        p["bx"][1] = 1.0  # forget gate open at the start
    return p


def forward(cell: str, p: dict[str, F], xs: F) -> tuple[F, list[Any]]:
    """``xs`` is [T, B, I]; returns the logits and the per-step caches."""
    batch, hidden = xs.shape[1], p["wh"].shape[1]
    h = np.zeros((batch, hidden))
    c = np.zeros((batch, hidden))
    caches = []
    for x in xs:
        ax = np.einsum("bi,gih->gbh", x, p["wx"]) + p["bx"][:, None]
        ah = np.einsum("bi,gih->gbh", h, p["wh"]) + p["bh"][:, None]
        if cell == "rnn":
            h_new = np.tanh(ax[0] + ah[0])
            caches.append((x, h, h_new))
        elif cell == "lstm":
            a = ax + ah
            i, f, g, o = _sig(a[0]), _sig(a[1]), np.tanh(a[2]), _sig(a[3])
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
            caches.append((x, h, c, i, f, g, o, c_new))
            c = c_new
        else:
            z, r = _sig(ax[0] + ah[0]), _sig(ax[1] + ah[1])
            n = np.tanh(ax[2] + r * ah[2])
            h_new = (1 - z) * n + z * h
            caches.append((x, h, z, r, n, ah[2]))
        h = h_new
    return h @ p["wy"] + p["by"], [caches, h]


def backward(
    cell: str, p: dict[str, F], logits: F, y: NDArray[np.int64], cache: list[Any]
) -> dict[str, F]:
    caches, h_last = cache
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    dlog = e / e.sum(axis=1, keepdims=True)
    dlog[np.arange(len(y)), y] -= 1.0
    dlog /= len(y)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    g["wy"], g["by"] = h_last.T @ dlog, dlog.sum(axis=0)
    dh = dlog @ p["wy"].T
    dc = np.zeros_like(dh)
    for step in reversed(caches):
        x, h_prev = step[0], step[1]
        dax = np.zeros((GATES[cell], *dh.shape))
        if cell == "rnn":
            h_new = step[2]
            dax[0] = dh * (1 - h_new**2)
            dah = dax.copy()
        elif cell == "lstm":
            _, _, c_prev, i, f, gg, o, c_new = step
            tc = np.tanh(c_new)
            do = dh * tc
            dc = dc + dh * o * (1 - tc**2)
            di, df, dg = dc * gg, dc * c_prev, dc * i
            dax[0], dax[1] = di * i * (1 - i), df * f * (1 - f)
            dax[2], dax[3] = dg * (1 - gg**2), do * o * (1 - o)
            dah = dax.copy()
            dc = dc * f
        else:
            _, _, z, r, n, ahn = step
            dn = dh * (1 - z)
            dz = dh * (h_prev - n)
            dan = dn * (1 - n**2)
            dr = dan * ahn
            dax[0], dax[1], dax[2] = dz * z * (1 - z), dr * r * (1 - r), dan
            dah = dax.copy()
            dah[2] = dan * r
        g["wx"] += np.einsum("bi,gbh->gih", x, dax)
        g["bx"] += dax.sum(axis=1)
        g["wh"] += np.einsum("bi,gbh->gih", h_prev, dah)
        g["bh"] += dah.sum(axis=1)
        dh_prev = np.einsum("gbh,gih->bi", dah, p["wh"])
        if cell == "gru":
            dh_prev += dh * step[2]
        dh = dh_prev
    return g


def train(
    cell: str,
    xs: F,
    y: NDArray[np.int64],
    *,
    hidden: int = 64,
    epochs: int = 8,
    batch: int = 50,
    lr: float = 5e-3,
    seed: int = 0,
    log: Any = None,
) -> dict[str, F]:
    """Adam on mini-batches; ``xs`` is [T, N, I]."""
    rng = np.random.default_rng(seed)
    p = init(cell, xs.shape[2], hidden, 10, rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    t = 0
    for epoch in range(epochs):
        order = rng.permutation(xs.shape[1])
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            logits, cache = forward(cell, p, xs[:, idx])
            grads = backward(cell, p, logits, y[idx], cache)
            t += 1
            for k in p:
                gk = np.clip(grads[k], -1.0, 1.0)  # keeps early BPTT steps tame
                m[k] = 0.9 * m[k] + 0.1 * gk
                v2[k] = 0.999 * v2[k] + 0.001 * gk**2
                p[k] -= lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v2[k] / (1 - 0.999**t)) + 1e-8)
        if log is not None and (epoch + 1) % 2 == 0:
            acc = (forward(cell, p, xs[:, :500])[0].argmax(1) == y[:500]).mean()
            log(f"{cell} epoch {epoch + 1}/{epochs}: training accuracy {acc:.1%}")
    return p


def predict(cell: str, p: dict[str, F], xs: F) -> NDArray[np.int64]:
    return np.asarray(forward(cell, p, xs)[0].argmax(1))


def export_onnx(cell: str, p: dict[str, F], path: Path, *, steps: int = 28) -> None:
    """The trained network as ONNX: X [T, N, I] → RNN/LSTM/GRU → Y_h → Squeeze → Gemm."""
    order = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [0, 1, 2]}[cell]  # ONNX: iofc, zrh

    def stack(key: str) -> NDArray[np.float32]:
        return np.concatenate([p[key][k].T for k in order])[None].astype(np.float32)

    bias = np.concatenate(
        [np.concatenate([p["bx"][k] for k in order]), np.concatenate([p["bh"][k] for k in order])]
    )[None]
    hidden, n_in = p["wh"].shape[1], p["wx"].shape[1]
    inits = [
        numpy_helper.from_array(stack("wx"), "W"),
        numpy_helper.from_array(stack("wh"), "R"),
        numpy_helper.from_array(bias.astype(np.float32), "B"),
        numpy_helper.from_array(p["wy"].T.astype(np.float32), "fc.weight"),
        numpy_helper.from_array(p["by"].astype(np.float32), "fc.bias"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
    ]
    attrs: dict[str, Any] = {"hidden_size": hidden}
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    outputs = ["", "h_last"] + ([""] if cell == "lstm" else [])
    nodes = [
        helper.make_node(cell.upper(), ["x", "W", "R", "B"], outputs, name=cell, **attrs),
        helper.make_node("Squeeze", ["h_last", "axis0"], ["h"], name="squeeze"),
        helper.make_node("Gemm", ["h", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        cell,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, "N", n_in])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
