"""Small float ONNX models written with onnx.helper, as PyTorch's exporter shapes them."""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper


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
