"""The seed CNN trained in NumPy (no framework): conv → pool → conv → pool → dense → dense.

conv(32, 3×3, ReLU) → max-pool 2 → conv(64, 3×3, ReLU) → max-pool 2 → flatten → dense(128, ReLU)
→ dense(10, softmax), on 1×28×28 images; Adam on mini-batches, convolutions as im2col matmuls.
:func:`export_onnx` writes the trained network as the ONNX PyTorch would export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

F = NDArray[np.float64]


def _im2col(x: F, k: int) -> tuple[F, int, int]:
    """[N, C, H, W] → [N·OH·OW, C·k·k] patches (stride 1, no padding)."""
    n, c, h, w = x.shape
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # [N, C, OH, OW, k, k]
    oh, ow = h - k + 1, w - k + 1
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * k), oh, ow


def _conv_forward(x: F, w: F, b: F) -> tuple[F, tuple[Any, ...]]:
    cols, oh, ow = _im2col(x, w.shape[2])
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(x.shape[0], oh, ow, -1).transpose(0, 3, 1, 2), (x.shape, cols, oh, ow)


def _conv_backward(dy: F, w: F, cache: tuple[Any, ...], need_dx: bool) -> tuple[F | None, F, F]:
    x_shape, cols, oh, ow = cache
    n, c, _, _ = x_shape
    k = w.shape[2]
    dym = dy.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])
    dw = (dym.T @ cols).reshape(w.shape)
    db = dym.sum(axis=0)
    if not need_dx:
        return None, dw, db
    dcols = (dym @ w.reshape(w.shape[0], -1)).reshape(n, oh, ow, c, k, k)
    dx = np.zeros(x_shape)
    for i in range(k):
        for j in range(k):
            dx[:, :, i : i + oh, j : j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx, dw, db


def _pool_forward(x: F) -> tuple[F, tuple[Any, ...]]:
    n, c, h, w = x.shape
    oh, ow = h // 2, w // 2
    crop = x[:, :, : 2 * oh, : 2 * ow].reshape(n, c, oh, 2, ow, 2)
    out = crop.max(axis=(3, 5))
    mask = crop == out[:, :, :, None, :, None]
    return out, (x.shape, mask)


def _pool_backward(dy: F, cache: tuple[Any, ...]) -> F:
    shape, mask = cache
    n, c, oh, _, ow, _ = mask.shape
    dx = np.zeros(shape)
    spread = mask * dy[:, :, :, None, :, None] / mask.sum(axis=(3, 5), keepdims=True)
    dx[:, :, : 2 * oh, : 2 * ow] = spread.reshape(n, c, 2 * oh, 2 * ow)
    return dx


def init(rng: np.random.Generator) -> dict[str, F]:
    def he(shape: tuple[int, ...], fan_in: int) -> F:
        return rng.normal(0, np.sqrt(2.0 / fan_in), shape)

    return {
        "c1": he((32, 1, 3, 3), 9),
        "c1b": np.zeros(32),
        "c2": he((64, 32, 3, 3), 288),
        "c2b": np.zeros(64),
        "d1": he((64 * 5 * 5, 128), 1600),
        "d1b": np.zeros(128),
        "d2": he((128, 10), 128),
        "d2b": np.zeros(10),
    }


def forward(p: dict[str, F], x: F) -> tuple[F, list[Any]]:
    a1, k1 = _conv_forward(x, p["c1"], p["c1b"])
    r1 = np.maximum(a1, 0)
    m1, q1 = _pool_forward(r1)
    a2, k2 = _conv_forward(m1, p["c2"], p["c2b"])
    r2 = np.maximum(a2, 0)
    m2, q2 = _pool_forward(r2)
    flat = m2.reshape(len(x), -1)
    h = flat @ p["d1"] + p["d1b"]
    hr = np.maximum(h, 0)
    logits = hr @ p["d2"] + p["d2b"]
    return logits, [k1, a1, q1, k2, a2, q2, m2.shape, flat, h, hr]


def backward(p: dict[str, F], logits: F, y: NDArray[np.int64], cache: list[Any]) -> dict[str, F]:
    k1, a1, q1, k2, a2, q2, m2_shape, flat, h, hr = cache
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    dlog = prob
    dlog[np.arange(len(y)), y] -= 1.0
    dlog /= len(y)
    g = {"d2": hr.T @ dlog, "d2b": dlog.sum(axis=0)}
    dh = (dlog @ p["d2"].T) * (h > 0)
    g["d1"], g["d1b"] = flat.T @ dh, dh.sum(axis=0)
    dm2 = (dh @ p["d1"].T).reshape(m2_shape)
    da2 = _pool_backward(dm2, q2) * (a2 > 0)
    dm1, g["c2"], g["c2b"] = _conv_backward(da2, p["c2"], k2, need_dx=True)
    assert dm1 is not None
    da1 = _pool_backward(dm1, q1) * (a1 > 0)
    _, g["c1"], g["c1b"] = _conv_backward(da1, p["c1"], k1, need_dx=False)
    return g


def train(
    x: F,
    y: NDArray[np.int64],
    *,
    epochs: int = 4,
    batch: int = 50,
    lr: float = 2e-3,
    seed: int = 0,
    log: Any = None,
) -> dict[str, F]:
    """Adam on mini-batches; ``x`` is [N, 1, 28, 28] in [0, 1]."""
    rng = np.random.default_rng(seed)
    p = init(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    t = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            logits, cache = forward(p, x[idx])
            grads = backward(p, logits, y[idx], cache)
            t += 1
            for k in p:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v2[k] = 0.999 * v2[k] + 0.001 * grads[k] ** 2
                mh, vh = m[k] / (1 - 0.9**t), v2[k] / (1 - 0.999**t)
                p[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
        if log is not None:
            acc = (forward(p, x[:500])[0].argmax(1) == y[:500]).mean()
            log(f"CNN epoch {epoch + 1}/{epochs}: training accuracy {acc:.1%}")
    return p


def predict(p: dict[str, F], x: F) -> NDArray[np.int64]:
    return np.concatenate([forward(p, x[i : i + 200])[0].argmax(1) for i in range(0, len(x), 200)])


def export_onnx(p: dict[str, F], path: Path) -> None:
    """The trained CNN as ONNX (NCHW, the layout PyTorch exports)."""

    def t(name: str, a: F) -> onnx.TensorProto:
        return numpy_helper.from_array(a.astype(np.float32), name)

    inits = [
        t("c1", p["c1"]),
        t("c1b", p["c1b"]),
        t("c2", p["c2"]),
        t("c2b", p["c2b"]),
        t("d1", p["d1"].T),
        t("d1b", p["d1b"]),
        t("d2", p["d2"].T),
        t("d2b", p["d2b"]),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "c1", "c1b"], ["a1"], name="conv1", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node(
            "MaxPool", ["r1"], ["m1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Conv", ["m1", "c2", "c2b"], ["a2"], name="conv2", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["a2"], ["r2"], name="relu2"),
        helper.make_node(
            "MaxPool", ["r2"], ["m2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Flatten", ["m2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "d1", "d1b"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu3"),
        helper.make_node("Gemm", ["hr", "d2", "d2b"], ["logits"], name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
