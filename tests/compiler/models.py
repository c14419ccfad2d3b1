"""Small float ONNX models written with onnx.helper, as PyTorch's exporter shapes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper


def _zero_state(hidden: int, states: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
    """The exporter's zero initial state: Shape → Gather(batch) → Unsqueeze → Concat →
    ConstantOfShape [1, batch, hidden], one per name in ``states``; (initialisers, nodes)."""
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (np.array([1], np.int64), "one"),
            (np.array([hidden], np.int64), "hid"),
            (np.array(1, np.int64), "batch_axis"),
            (np.array([0], np.int64), "axis0"),
        ]
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "batch_axis"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axis0"], ["batch1"]),
        helper.make_node("Concat", ["one", "batch1", "hid"], ["s0_shape"], axis=0),
    ] + [
        helper.make_node(
            "ConstantOfShape",
            ["s0_shape"],
            [name],
            value=numpy_helper.from_array(np.array([0.0], np.float32)),
        )
        for name in states
    ]
    return inits, nodes


def mlp_onnx(
    rng: np.random.Generator,
    *,
    hidden: tuple[int, int] = (20, 13),
    classes: int = 10,
    opset: int = 17,
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """x [N, 1, 8, 8] → Flatten → Gemm(transB) → Relu → MatMul + Add → Relu → Gemm → Softmax.

    Returns the model and a float input batch that looks like image data.
    """
    d0 = 64
    w1 = rng.normal(0, 1 / np.sqrt(d0), (hidden[0], d0)).astype(np.float32)  # [out, in]
    b1 = rng.normal(0, 0.1, hidden[0]).astype(np.float32)
    w2 = rng.normal(0, 1 / np.sqrt(hidden[0]), (hidden[0], hidden[1])).astype(np.float32)
    b2 = rng.normal(0, 0.1, hidden[1]).astype(np.float32)
    w3 = rng.normal(0, 1 / np.sqrt(hidden[1]), (classes, hidden[1])).astype(np.float32)
    b3 = rng.normal(0, 0.1, classes).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (w1, "fc1.weight"),
            (b1, "fc1.bias"),
            (w2, "fc2.weight"),
            (b2, "fc2.bias"),
            (w3, "fc3.weight"),
            (b3, "fc3.bias"),
        ]
    ]
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], name="/Flatten", axis=1),
        helper.make_node(
            "Gemm", ["flat", "fc1.weight", "fc1.bias"], ["h1"], name="/fc1/Gemm", transB=1
        ),
        helper.make_node("Relu", ["h1"], ["r1"], name="/relu1/Relu"),
        helper.make_node("MatMul", ["r1", "fc2.weight"], ["m2"], name="/fc2/MatMul"),
        helper.make_node("Add", ["m2", "fc2.bias"], ["h2"], name="/fc2/Add"),
        helper.make_node("Relu", ["h2"], ["r2"], name="/relu2/Relu"),
        helper.make_node(
            "Gemm", ["r2", "fc3.weight", "fc3.bias"], ["logits"], name="/fc3/Gemm", transB=1
        ),
        helper.make_node("Softmax", ["logits"], ["probs"], name="/Softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = np.clip(rng.normal(0.3, 0.35, (64, 1, 8, 8)), 0, 1).astype(np.float32)
    return model, x


def cnn_onnx(
    rng: np.random.Generator, *, size: int = 12, opset: int = 17, pool_pad: int = 0
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """x [N, 1, s, s] → Conv(6, 3×3, pad 1) → Relu → MaxPool(2) → Conv(10, 3×3, stride 2)
    → Relu → MaxPool(2, pad) → Flatten → Gemm(10) → Softmax: PyTorch's export shape."""
    c1 = rng.normal(0, 0.4, (6, 1, 3, 3)).astype(np.float32)
    c1b = rng.normal(0, 0.1, 6).astype(np.float32)
    c2 = rng.normal(0, 0.2, (10, 6, 3, 3)).astype(np.float32)
    c2b = rng.normal(0, 0.1, 10).astype(np.float32)
    s1 = size // 2
    s2 = (s1 - 3) // 2 + 1
    s3 = (s2 + 2 * pool_pad - 2) // 2 + 1
    feat = 10 * s3 * s3
    fc = rng.normal(0, 1 / np.sqrt(feat), (10, feat)).astype(np.float32)
    fcb = rng.normal(0, 0.1, 10).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (c1, "conv1.weight"),
            (c1b, "conv1.bias"),
            (c2, "conv2.weight"),
            (c2b, "conv2.bias"),
            (fc, "fc.weight"),
            (fcb, "fc.bias"),
        ]
    ]
    p = pool_pad
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "conv1.weight", "conv1.bias"],
            ["a1"],
            name="/conv1/Conv",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["a1"], ["r1"], name="/relu1/Relu"),
        helper.make_node(
            "MaxPool", ["r1"], ["p1"], name="/pool1/MaxPool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node(
            "Conv",
            ["p1", "conv2.weight", "conv2.bias"],
            ["a2"],
            name="/conv2/Conv",
            kernel_shape=[3, 3],
            strides=[2, 2],
        ),
        helper.make_node("Relu", ["a2"], ["r2"], name="/relu2/Relu"),
        helper.make_node(
            "MaxPool",
            ["r2"],
            ["p2"],
            name="/pool2/MaxPool",
            kernel_shape=[2, 2],
            strides=[2, 2],
            pads=[p, p, p, p],
        ),
        helper.make_node("Flatten", ["p2"], ["flat"], name="/Flatten", axis=1),
        helper.make_node(
            "Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1
        ),
        helper.make_node("Softmax", ["logits"], ["probs"], name="/Softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = np.clip(rng.normal(0.3, 0.35, (32, 1, size, size)), 0, 1).astype(np.float32)
    return model, x


def residual_onnx(
    rng: np.random.Generator, *, channels: int = 6, size: int = 8, opset: int = 17
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """A ResNet basic block and its head: Conv → Relu → Conv → Add(skip) → Relu →
    AveragePool(2) → GlobalAveragePool → Flatten → Gemm → Softmax."""
    c = channels
    w1 = rng.normal(0, 0.3, (c, c, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (c, c, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, c).astype(np.float32)
    b2 = rng.normal(0, 0.1, c).astype(np.float32)
    fc = rng.normal(0, 0.5, (5, c)).astype(np.float32)
    fcb = rng.normal(0, 0.1, 5).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (w1, "c1.w"),
            (b1, "c1.b"),
            (w2, "c2.w"),
            (b2, "c2.b"),
            (fc, "fc.w"),
            (fcb, "fc.b"),
        ]
    ]
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "c1.w", "c1.b"],
            ["a1"],
            name="conv1",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node(
            "Conv",
            ["r1", "c2.w", "c2.b"],
            ["a2"],
            name="conv2",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Add", ["a2", "x"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
        helper.make_node(
            "AveragePool", ["r2"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "resblock",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = rng.normal(0, 1, (32, c, size, size)).astype(np.float32)
    return model, x


def rnn_onnx(
    rng: np.random.Generator,
    *,
    seq: int = 6,
    n_in: int = 5,
    hidden: int = 7,
    classes: int = 4,
    opset: int = 17,
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """An Elman RNN as PyTorch's legacy exporter writes it: the zero initial state built from
    Shape/Gather/Unsqueeze/Concat/ConstantOfShape, Y_h squeezed and fed to a Linear."""
    w = rng.normal(0, 0.5, (1, hidden, n_in)).astype(np.float32)
    r = rng.normal(0, 0.4, (1, hidden, hidden)).astype(np.float32)
    b = rng.normal(0, 0.1, (1, 2 * hidden)).astype(np.float32)
    fc = rng.normal(0, 0.5, (classes, hidden)).astype(np.float32)
    fcb = rng.normal(0, 0.1, classes).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [(w, "W"), (r, "R"), (b, "B"), (fc, "fc.weight"), (fcb, "fc.bias")]
    ]
    state_inits, state_nodes = _zero_state(hidden, ("h0",))
    inits += state_inits
    nodes = [
        *state_nodes,
        helper.make_node(
            "RNN", ["x", "W", "R", "B", "", "h0"], ["y", "y_h"], name="/rnn/RNN", hidden_size=hidden
        ),
        helper.make_node("Squeeze", ["y_h", "axis0"], ["h_last"], name="/Squeeze"),
        helper.make_node(
            "Gemm", ["h_last", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "rnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, "N", n_in])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, 1, "N", hidden]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = rng.normal(0, 1, (seq, 16, n_in)).astype(np.float32)
    return model, x


def lstm_onnx(
    rng: np.random.Generator, *, seq: int = 5, n_in: int = 4, hidden: int = 6, opset: int = 17
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """An ONNX LSTM (gate blocks i, o, f, c) with zero initial states built the way PyTorch's
    exporter does, returning Y, Y_h and Y_c."""
    w = rng.normal(0, 0.5, (1, 4 * hidden, n_in)).astype(np.float32)
    r = rng.normal(0, 0.4, (1, 4 * hidden, hidden)).astype(np.float32)
    b = rng.normal(0, 0.2, (1, 8 * hidden)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [(w, "W"), (r, "R"), (b, "B")]]
    state_inits, state_nodes = _zero_state(hidden, ("h0", "c0"))
    inits += state_inits
    nodes = [
        *state_nodes,
        helper.make_node(
            "LSTM",
            ["x", "W", "R", "B", "", "h0", "c0"],
            ["y", "y_h", "y_c"],
            name="/lstm/LSTM",
            hidden_size=hidden,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, "N", n_in])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, 1, "N", hidden]),
            helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [1, "N", hidden]),
            helper.make_tensor_value_info("y_c", TensorProto.FLOAT, [1, "N", hidden]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = rng.normal(0, 1, (seq, 16, n_in)).astype(np.float32)
    return model, x


def gru_onnx(
    rng: np.random.Generator,
    *,
    seq: int = 5,
    n_in: int = 4,
    hidden: int = 6,
    linear_before_reset: int = 1,
    opset: int = 17,
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """An ONNX GRU (gate blocks z, r, h), PyTorch's linear_before_reset=1 by default, with an
    exporter-built zero initial state; returns Y and Y_h."""
    w = rng.normal(0, 0.5, (1, 3 * hidden, n_in)).astype(np.float32)
    r = rng.normal(0, 0.4, (1, 3 * hidden, hidden)).astype(np.float32)
    b = rng.normal(0, 0.2, (1, 6 * hidden)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [(w, "W"), (r, "R"), (b, "B")]]
    state_inits, state_nodes = _zero_state(hidden, ("h0",))
    inits += state_inits
    nodes = [
        *state_nodes,
        helper.make_node(
            "GRU",
            ["x", "W", "R", "B", "", "h0"],
            ["y", "y_h"],
            name="/gru/GRU",
            hidden_size=hidden,
            linear_before_reset=linear_before_reset,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "gru",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, "N", n_in])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, 1, "N", hidden]),
            helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [1, "N", hidden]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = rng.normal(0, 1, (seq, 16, n_in)).astype(np.float32)
    return model, x


def depthwise_onnx(
    rng: np.random.Generator, *, channels: int = 8, size: int = 7, opset: int = 17
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """A depthwise-separable residual block (MobileNetV2 style): depthwise 3×3 (group = C,
    stride 1, pad 1) → Relu → grouped 1×1 (group 2) → Add(skip) → GlobalAveragePool → Gemm."""
    c = channels
    dw = rng.normal(0, 0.5, (c, 1, 3, 3)).astype(np.float32)
    dwb = rng.normal(0, 0.1, c).astype(np.float32)
    pw = rng.normal(0, 0.4, (c, c // 2, 1, 1)).astype(np.float32)
    pwb = rng.normal(0, 0.1, c).astype(np.float32)
    fc = rng.normal(0, 0.5, (3, c)).astype(np.float32)
    fcb = rng.normal(0, 0.1, 3).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (dw, "dw.w"),
            (dwb, "dw.b"),
            (pw, "pw.w"),
            (pwb, "pw.b"),
            (fc, "fc.w"),
            (fcb, "fc.b"),
        ]
    ]
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "dw.w", "dw.b"],
            ["a"],
            name="depthwise",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            group=c,
        ),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node(
            "Conv", ["r", "pw.w", "pw.b"], ["p"], name="pointwise", kernel_shape=[1, 1], group=2
        ),
        helper.make_node("Add", ["p", "x"], ["s"], name="add"),
        helper.make_node("GlobalAveragePool", ["s"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "depthwise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = rng.normal(0, 1, (32, c, size, size)).astype(np.float32)
    return model, x


def batch_first_lstm_onnx(
    rng: np.random.Generator, *, seq: int = 4, n_in: int = 3, hidden: int = 5
) -> tuple[onnx.ModelProto, NDArray[np.float32]]:
    """nn.LSTM(batch_first=True) as exported: Transpose in, LSTM, Squeeze + Transpose out."""
    base, _ = lstm_onnx(rng, seq=seq, n_in=n_in, hidden=hidden)
    g = base.graph
    lstm = next(n for n in g.node if n.op_type == "LSTM")
    lstm.input[0] = "x_tbi"
    lstm.output[:] = ["y", "", ""]
    shape_node = next(n for n in g.node if n.op_type == "Shape")
    shape_node.input[0] = "x_tbi"
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_tbi"], name="/Transpose", perm=[1, 0, 2]),
        *g.node,
        helper.make_node("Squeeze", ["y", "one"], ["y_tbh"], name="/Squeeze"),
        helper.make_node("Transpose", ["y_tbh"], ["out"], name="/Transpose_1", perm=[1, 0, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "lstm_batch_first",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", seq, n_in])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", seq, hidden])],
        list(g.initializer),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.normal(0, 1, (16, seq, n_in)).astype(np.float32)
    return model, x
