"""The ResNet-18 builder of ``benchmarks/resnet18.py``: the full network's shape, and a small
version (32×32 input, 1/8 of the channels, every kind of block) through the compiler, the
simulator, the golden backend and onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

import systolic
from benchmarks.resnet18 import images, resnet18_onnx
from systolic.spec import golden

SMALL = {"size": 32, "width": 8, "classes": 100}


def conv_gemm_macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of the Conv and Gemm nodes at batch 1, from inferred shapes."""
    graph = model.graph
    graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    inferred = shape_inference.infer_shapes(model).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.value_info, *inferred.output]
    }
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    macs = 0
    for node in graph.node:
        if node.op_type == "Conv":
            _, cin, kh, kw = weights[node.input[1]]
            n, cout, oh, ow = shapes[node.output[0]]
            macs += n * cout * oh * ow * cin * kh * kw
        elif node.op_type == "Gemm":
            cout, cin = weights[node.input[1]]
            macs += cin * cout
    return macs


def test_full_resnet18_is_torchvisions() -> None:
    model = resnet18_onnx()
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 20  # 1 + 16 in the blocks + 3 downsamples
    assert ops.count("Add") == 8
    params = sum(numpy_helper.to_array(t).size for t in model.graph.initializer)
    # torchvision's 11,689,512 parameters less one of the two per-channel BN parameters.
    assert params == 11_689_512 - 4800
    assert conv_gemm_macs(model) == 1_814_073_344  # torchvision's 1.8 GMAC


def with_logits(model: onnx.ModelProto) -> bytes:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    classes = SMALL["classes"]
    copy.graph.output.append(
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])
    )
    data: bytes = copy.SerializeToString()
    return data


def rel_l2(a: Any, b: Any) -> float:
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


@pytest.mark.parametrize("preset", ["default", "large"])
def test_small_resnet_sim_equals_golden_and_tracks_float(preset: str) -> None:
    size = SMALL["size"]
    model = resnet18_onnx(**SMALL)
    nodes = {n.name: n for n in model.graph.node}
    pool = nodes["/maxpool/MaxPool"]
    assert [a.ints for a in pool.attribute if a.name == "pads"] == [[1, 1, 1, 1]]
    assert {"/layer2/0/downsample/0/Conv", "/layer4/0/downsample/0/Conv"} <= nodes.keys()
    assert "/avgpool/GlobalAveragePool" in nodes
    x = images(2, size, seed=3)
    program = systolic.compile(
        model, systolic.PRESETS[preset], calibration=images(4, size, seed=2), batch=1
    )
    ops = {layer["op"] for layer in program.metadata["layers"]}
    assert ops == {"conv", "maxpool", "add", "avgpool", "gemm"}
    session = ort.InferenceSession(with_logits(model), providers=["CPUExecutionProvider"])
    probs_ref, logits_ref = session.run(["probs", "logits"], {"input": x})
    (desc,) = program.outputs
    for i in range(len(x)):
        sim = systolic.run(program, x[i : i + 1], backend="sim")
        ref = systolic.run(program, x[i : i + 1], backend="golden")
        assert np.array_equal(sim.raw["probs"], ref.raw["probs"])
        assert sim.stats["counters"]["macs"] == sim.stats["macs"]
        logits = golden.dequantize(sim.raw["probs"], desc.scale)[0]
        assert rel_l2(logits, logits_ref[i]) <= 0.10
        assert rel_l2(sim.outputs["probs"][0], probs_ref[i]) <= 0.10
