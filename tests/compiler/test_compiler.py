"""Compiler: ONNX and builder MLPs → Program; golden, sim and RTL agree; bad input is clear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from systolic.compiler import NetworkBuilder, compile_model
from systolic.runtime import RunError, run
from systolic.spec.config import PRESETS, AcceleratorConfig
from systolic.spec.errors import CompileError

from .models import (
    batch_first_lstm_onnx,
    cnn_onnx,
    depthwise_onnx,
    gru_onnx,
    lstm_onnx,
    mlp_onnx,
    residual_onnx,
    rnn_onnx,
)

TINY = PRESETS["tiny"]
RECT = AcceleratorConfig(
    rows=3,
    cols=5,
    sp_depth=128,
    acc_depth=128,
    bus_bytes=4,
    mem_latency=3,
    queue_depth=2,
    token_depth=3,
)


def _rel_l2(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


@pytest.mark.parametrize("config", [TINY, RECT, PRESETS["default"]], ids=["tiny", "rect", "8x8"])
def test_onnx_mlp_matches_onnxruntime_and_golden(config: AcceleratorConfig) -> None:
    model, x = mlp_onnx(np.random.default_rng(1))
    batch = x[:16]
    program = compile_model(model, config, calibration=x, batch=len(batch))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": batch})[0]
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    assert np.array_equal(sim.raw["probs"], gold.raw["probs"])  # bit-exact
    got = sim.outputs["probs"]
    # int8 through three layers: a few percent of the probabilities' norm (docs/quantisation.md).
    assert _rel_l2(got, want) <= 0.05
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
    assert sim.stats["macs"] == 16 * (64 * 20 + 20 * 13 + 13 * 10)
    assert sim.stats["counters"]["macs"] == sim.stats["macs"]


@pytest.mark.parametrize("pool_pad", [0, 1])
@pytest.mark.parametrize("config", [TINY, RECT, PRESETS["default"]], ids=["tiny", "rect", "8x8"])
def test_onnx_cnn_matches_onnxruntime_and_golden(config: AcceleratorConfig, pool_pad: int) -> None:
    """Conv (padding, stride 2) + ReLU + max-pool (with and without padding) + Flatten + Gemm."""
    model, x = cnn_onnx(np.random.default_rng(7), pool_pad=pool_pad)
    batch = x[:6]
    program = compile_model(model, config, calibration=x, batch=len(batch))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": batch})[0]
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    assert np.array_equal(sim.raw["probs"], gold.raw["probs"])
    assert _rel_l2(sim.outputs["probs"], want) <= 0.05
    assert (sim.outputs["probs"].argmax(1) == want.argmax(1)).mean() >= 0.9
    assert sim.stats["counters"]["macs"] == sim.stats["macs"]


@pytest.mark.parametrize("config", [TINY, RECT, PRESETS["default"]], ids=["tiny", "rect", "8x8"])
def test_residual_block_with_average_pools(config: AcceleratorConfig) -> None:
    """Conv → Relu → Conv → Add(skip) → Relu → AveragePool → GlobalAveragePool → Gemm."""
    model, x = residual_onnx(np.random.default_rng(9))
    batch = x[:4]
    program = compile_model(model, config, calibration=x, batch=len(batch))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": batch})[0]
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    assert np.array_equal(sim.raw["probs"], gold.raw["probs"])
    assert _rel_l2(sim.outputs["probs"], want) <= 0.05
    assert (sim.outputs["probs"].argmax(1) == want.argmax(1)).all()


def test_residual_block_on_the_rtl() -> None:
    model, x = residual_onnx(np.random.default_rng(10), channels=3, size=4)
    program = compile_model(model, TINY, calibration=x, batch=1)
    rtl = run(program, x[:1], backend="rtl", simulator="icarus")
    sim = run(program, x[:1], backend="sim")
    assert np.array_equal(rtl.raw["probs"], sim.raw["probs"])
    assert rtl.stats["counters"] == sim.stats["counters"]


@pytest.mark.parametrize("config", [TINY, RECT], ids=["tiny", "rect"])
def test_rnn_as_pytorch_exports_it(config: AcceleratorConfig) -> None:
    """ONNX RNN with the exporter's Shape/Gather/Concat/ConstantOfShape initial state, Y and
    the squeezed Y_h into a Linear; the batch is axis 1 of the input."""
    model, x = rnn_onnx(np.random.default_rng(11))
    batch = x[:, :4]
    program = compile_model(model, config, calibration=x, batch=4)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want_logits, want_y = sess.run(None, {"x": batch})
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    for name in ("logits", "y"):
        assert np.array_equal(sim.raw[name], gold.raw[name])
    # Hidden states are Q0.7 and the tanh LUT input 2^-5: a few percent over 6 steps.
    assert _rel_l2(sim.outputs["y"], want_y) <= 0.05
    assert _rel_l2(sim.outputs["logits"], want_logits) <= 0.05


def test_rnn_on_the_rtl() -> None:
    model, x = rnn_onnx(np.random.default_rng(12), seq=3, n_in=3, hidden=5)
    program = compile_model(model, TINY, calibration=x, batch=2)
    rtl = run(program, x[:, :2], backend="rtl", simulator="icarus")
    sim = run(program, x[:, :2], backend="sim")
    assert np.array_equal(rtl.raw["y"], sim.raw["y"])
    assert rtl.stats["counters"] == sim.stats["counters"]


@pytest.mark.parametrize("config", [TINY, RECT], ids=["tiny", "rect"])
def test_lstm_sequence_and_last_states(config: AcceleratorConfig) -> None:
    """ONNX LSTM (i, o, f, c blocks) with exporter-built zero states; Y, Y_h and Y_c."""
    model, x = lstm_onnx(np.random.default_rng(13))
    batch = x[:, :3]
    program = compile_model(model, config, calibration=x, batch=3)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip(("y", "y_h", "y_c"), sess.run(None, {"x": batch}), strict=True))
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    for name in want:
        assert np.array_equal(sim.raw[name], gold.raw[name])
        # Gates through int8 LUTs and a Q0.7 hidden state, five steps: a few percent.
        assert _rel_l2(sim.outputs[name], want[name]) <= 0.06, name


def test_batch_first_lstm_transposes_fold_into_the_layouts() -> None:
    """nn.LSTM(batch_first=True): the exporter's Transposes cost nothing; the input and output
    descriptors keep [B, T, ...] while the buffers are [T, B, ...]."""
    model, x = batch_first_lstm_onnx(np.random.default_rng(20))
    batch = x[:3]
    program = compile_model(model, TINY, calibration=x, batch=3)
    assert program.inputs[0].shape == (3, 4, 3)
    assert program.outputs[0].shape == (3, 4, 5)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": batch})[0]
    sim = run(program, batch, backend="sim")
    assert np.array_equal(sim.raw["out"], run(program, batch, backend="golden").raw["out"])
    assert _rel_l2(sim.outputs["out"], want) <= 0.06


def test_transpose_inside_the_network_is_reported() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])
    w = onnx.numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
    w2 = onnx.numpy_helper.from_array(np.ones((3, 3), np.float32), "w2")
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="t", perm=[1, 0]),
        helper.make_node("MatMul", ["t", "w"], ["m"], name="mm"),
        helper.make_node("Relu", ["m"], ["r"], name="relu"),
        helper.make_node("Transpose", ["r"], ["r2"], name="t2", perm=[1, 0]),
        helper.make_node("MatMul", ["r2", "w2"], ["y"], name="mm2"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [w, w2]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(CompileError, match="t2: a Transpose that moves data is only supported"):
        compile_model(model, TINY, calibration=np.ones((2, 3)), batch=2)


@pytest.mark.parametrize("maker", [rnn_onnx, lstm_onnx, gru_onnx], ids=["rnn", "lstm", "gru"])
def test_recurrent_layers_without_initial_states(maker) -> None:
    """No initial_h / initial_c inputs at all (zero states), as onnx.helper users write them."""
    model, x = maker(np.random.default_rng(23))
    cell = next(n for n in model.graph.node if n.op_type in ("RNN", "LSTM", "GRU"))
    del cell.input[4:]  # drop sequence_lens, initial_h, initial_c
    program = compile_model(model, TINY, calibration=x, batch=2)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x[:, :2]})
    sim = run(program, x[:, :2], backend="sim")
    name = program.outputs[0].name
    assert np.array_equal(sim.raw[name], run(program, x[:, :2], backend="golden").raw[name])
    assert _rel_l2(sim.outputs[name], want[0]) <= 0.06


def test_lstm_on_the_rtl() -> None:
    model, x = lstm_onnx(np.random.default_rng(14), seq=2, n_in=3, hidden=4)
    program = compile_model(model, TINY, calibration=x, batch=1)
    rtl = run(program, x[:, :1], backend="rtl", simulator="icarus")
    sim = run(program, x[:, :1], backend="sim")
    for name in ("y", "y_c"):
        assert np.array_equal(rtl.raw[name], sim.raw[name])
    assert rtl.stats["counters"] == sim.stats["counters"]


@pytest.mark.parametrize("linear_before_reset", [0, 1])
@pytest.mark.parametrize("config", [TINY, RECT], ids=["tiny", "rect"])
def test_gru_both_reset_forms(config: AcceleratorConfig, linear_before_reset: int) -> None:
    """ONNX GRU (z, r, h blocks), the ONNX default and PyTorch's linear_before_reset = 1."""
    model, x = gru_onnx(np.random.default_rng(15), linear_before_reset=linear_before_reset)
    batch = x[:, :3]
    program = compile_model(model, config, calibration=x, batch=3)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip(("y", "y_h"), sess.run(None, {"x": batch}), strict=True))
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    for name in want:
        assert np.array_equal(sim.raw[name], gold.raw[name])
        assert _rel_l2(sim.outputs[name], want[name]) <= 0.05, name


@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru_on_the_rtl(linear_before_reset: int) -> None:
    model, x = gru_onnx(
        np.random.default_rng(16), seq=2, n_in=3, hidden=4, linear_before_reset=linear_before_reset
    )
    program = compile_model(model, TINY, calibration=x, batch=1)
    rtl = run(program, x[:, :1], backend="rtl", simulator="icarus")
    sim = run(program, x[:, :1], backend="sim")
    assert np.array_equal(rtl.raw["y"], sim.raw["y"])
    assert rtl.stats["counters"] == sim.stats["counters"]


@pytest.mark.parametrize("config", [TINY, RECT, PRESETS["default"]], ids=["tiny", "rect", "8x8"])
def test_depthwise_residual_block(config: AcceleratorConfig) -> None:
    """Depthwise 3×3 (group = C) → Relu → grouped 1×1 (group 2) → Add(skip) → GAP → Gemm."""
    model, x = depthwise_onnx(np.random.default_rng(17))
    batch = x[:4]
    program = compile_model(model, config, calibration=x, batch=4)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": batch})[0]
    sim = run(program, batch, backend="sim")
    gold = run(program, batch, backend="golden")
    assert np.array_equal(sim.raw["y"], gold.raw["y"])
    assert _rel_l2(sim.outputs["y"], want) <= 0.05


def test_depthwise_on_the_rtl() -> None:
    model, x = depthwise_onnx(np.random.default_rng(18), channels=4, size=3)
    program = compile_model(model, TINY, calibration=x, batch=1)
    rtl = run(program, x[:1], backend="rtl", simulator="icarus")
    sim = run(program, x[:1], backend="sim")
    assert np.array_equal(rtl.raw["y"], sim.raw["y"])
    assert rtl.stats["counters"] == sim.stats["counters"]


def test_qdq_model_from_onnxruntime_quantizer(tmp_path: Path) -> None:
    """A QDQ model keeps its own activation scales; weights are the same symmetric int8."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model, x = cnn_onnx(np.random.default_rng(19))
    onnx.save(model, tmp_path / "f.onnx")

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter([{"x": x[i : i + 1]} for i in range(16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(
        str(tmp_path / "f.onnx"),
        str(tmp_path / "q.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    batch = x[:6]
    program = compile_model(tmp_path / "q.onnx", TINY, calibration=x, batch=6)
    qdq = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    want = qdq.run(None, {"x": batch})[0]
    sim = run(program, batch, backend="sim")
    assert np.array_equal(sim.raw["probs"], run(program, batch, backend="golden").raw["probs"])
    # The input's QDQ scale is used as is (not recalibrated).
    scale = next(i for i in onnx.load(tmp_path / "q.onnx").graph.initializer if i.name == "x_scale")
    assert program.inputs[0].scale == pytest.approx(float(onnx.numpy_helper.to_array(scale)))
    # onnxruntime rounds twice (requantise, then each op); we round once: close, not equal.
    assert _rel_l2(sim.outputs["probs"], want) <= 0.05


def test_qdq_asymmetric_activations_are_reported() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    inits = [
        onnx.numpy_helper.from_array(np.array(0.1, np.float32), "s"),
        onnx.numpy_helper.from_array(np.array(3, np.int8), "z"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)]
    )
    with pytest.raises(CompileError, match="asymmetric activation quantisation, zero point 3"):
        compile_model(model, TINY, calibration=np.zeros((1, 4)))


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_over_space_is_global_average_pooling(keepdims: int) -> None:
    rng = np.random.default_rng(21)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    w = onnx.numpy_helper.from_array(rng.normal(0, 1, (2, 3)).astype(np.float32), "w")
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], name="mean", axes=[2, 3], keepdims=keepdims)
    ]
    if keepdims:
        nodes.append(helper.make_node("Flatten", ["m"], ["f"], name="flatten"))
    nodes.append(
        helper.make_node("Gemm", ["f" if keepdims else "m", "w"], ["y"], name="fc", transB=1)
    )
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8  # what onnxruntime reads
    data = rng.normal(0, 1, (8, 3, 4, 5)).astype(np.float32)
    program = compile_model(model, TINY, calibration=data, batch=4)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": data[:4]})[0]
    sim = run(program, data[:4], backend="sim")
    assert np.array_equal(sim.raw["y"], run(program, data[:4], backend="golden").raw["y"])
    assert _rel_l2(sim.outputs["y"], want) <= 0.05


def test_cnn_on_the_rtl() -> None:
    model, x = cnn_onnx(np.random.default_rng(8), size=8, pool_pad=1)
    program = compile_model(model, TINY, calibration=x, batch=1)
    # The first pool is fused into its conv (vector max on the accumulator); the padded
    # second one is a layer of its own: the RTL runs both kinds.
    pools = [(layer["op"], layer.get("pool")) for layer in program.metadata["layers"]]
    assert pools[:3] == [("conv", [2, 2]), ("conv", None), ("maxpool", None)]
    rtl = run(program, x[:1], backend="rtl", simulator="icarus")
    sim = run(program, x[:1], backend="sim")
    assert np.array_equal(rtl.raw["probs"], sim.raw["probs"])
    assert rtl.stats["counters"] == sim.stats["counters"]


def test_builder_mlp_with_every_activation() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (32, 12))
    net = NetworkBuilder("acts", inputs={"x": (8, 12)})
    h = "x"
    for act in ("relu", "relu6", "sigmoid", "tanh", "none"):
        h = net.dense(
            h, rng.normal(0, 0.5, (net.values[h].shape[1], 9)), rng.normal(0, 0.1, 9), act=act
        )
    graph = net.build(outputs=[h])
    env = graph.float_forward({"x": x[:8]})
    program = compile_model(graph, TINY, calibration=x)
    sim = run(program, x[:8], backend="sim")
    gold = run(program, x[:8], backend="golden")
    name = program.outputs[0].name
    assert np.array_equal(sim.raw[name], gold.raw[name])
    assert _rel_l2(sim.outputs[name], env[h]) <= 0.1  # five int8 layers incl. two LUTs


def test_builder_cnn_matches_its_float_network() -> None:
    rng = np.random.default_rng(22)
    x = rng.normal(0, 1, (16, 2, 9, 9))
    net = NetworkBuilder("cnn", inputs={"x": (4, 2, 9, 9)})
    a = net.conv2d(
        "x", rng.normal(0, 0.3, (4, 2, 3, 3)), rng.normal(0, 0.1, 4), padding=1, act="relu"
    )
    b = net.conv2d(a, rng.normal(0, 0.3, (4, 1, 3, 3)), None, padding=1, groups=4)
    c = net.add(a, b, act="relu")
    d = net.max_pool(c, 2, padding=1)
    e = net.avg_pool(d, 2)
    f = net.global_avg_pool(e)
    y = net.dense(net.flatten(f), rng.normal(0, 0.5, (4, 3)), rng.normal(0, 0.1, 3))
    graph = net.build(outputs=[y])
    want = graph.float_forward({"x": x[:4]})[y]
    program = compile_model(graph, TINY, calibration=x)
    name = program.outputs[0].name
    sim = run(program, x[:4], backend="sim")
    assert np.array_equal(sim.raw[name], run(program, x[:4], backend="golden").raw[name])
    assert _rel_l2(sim.outputs[name], want) <= 0.05


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda n: n.conv2d("x", np.ones((2, 3, 3, 3))),
            "weights of shape (2, 3, 3, 3) do not fit input (1, 2, 5, 5) with groups=1",
        ),
        (lambda n: n.conv2d("x", np.ones((2, 2, 7, 7))), "a 7x7 kernel does not fit"),
        (lambda n: n.conv2d("x", np.ones((2, 2, 3, 3)), stride=0), "stride must be a positive"),
        (lambda n: n.max_pool("x", 2, padding=2), "kernel 2, padding 2 do not fit"),
        (lambda n: n.add("x", n.max_pool("x", 2)), "shapes (1, 2, 5, 5) and (1, 2, 2, 2) differ"),
        (lambda n: n.dense("x", np.ones((3, 3))), "flatten it first"),
        (lambda n: n.conv2d("x", np.ones((2, 2, 3, 3)), act="gelu"), "act must be one of"),
    ],
)
def test_builder_errors(call, message: str) -> None:
    net = NetworkBuilder("bad", inputs={"x": (1, 2, 5, 5)})
    with pytest.raises(CompileError) as e:
        call(net)
    assert message in str(e.value)


def test_rtl_backend_agrees_with_simulator() -> None:
    model, x = mlp_onnx(np.random.default_rng(3), hidden=(9, 6), classes=4)
    program = compile_model(model, TINY, calibration=x, batch=2)
    rtl = run(program, x[:2], backend="rtl", simulator="icarus")
    sim = run(program, x[:2], backend="sim")
    assert np.array_equal(rtl.raw["probs"], sim.raw["probs"])
    assert rtl.stats["cycles"] == sim.stats["cycles"]
    assert rtl.stats["counters"] == sim.stats["counters"]


def _model(nodes: list, inputs: list, outputs: list, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_every_unsupported_node_is_listed_at_once() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    model = _model(
        [
            helper.make_node("Neg", ["x"], ["a"], name="neg1"),
            helper.make_node("Exp", ["a"], ["y"], name="exp1"),
        ],
        [x],
        [y],
    )
    with pytest.raises(CompileError) as e:
        compile_model(model, TINY, calibration=np.zeros((1, 3, 8, 8)))
    assert str(e.value) == "2 unsupported node(s): neg1 (Neg), exp1 (Exp)"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "file not found"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty file, not an ONNX model"),
        (lambda p: (p.write_bytes(b"\x08\x07garbage\xff\xff"), p)[1], "not an ONNX model"),
    ],
)
def test_bad_files(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "m.onnx")
    with pytest.raises(CompileError, match=message):
        compile_model(path, TINY, calibration=np.zeros((1, 64)))


def test_truncated_model_and_opset(tmp_path: Path) -> None:
    model, x = mlp_onnx(np.random.default_rng(4))
    data = model.SerializeToString()
    with pytest.raises(CompileError, match=r"not an ONNX model|invalid ONNX model"):
        compile_model(data[: len(data) // 2], TINY, calibration=x)
    old, _ = mlp_onnx(np.random.default_rng(4), opset=9)
    with pytest.raises(CompileError, match=r"opset 9 is not supported \(supported: 11 to 22\)"):
        compile_model(old, TINY, calibration=x)


def test_shape_errors() -> None:
    model, x = mlp_onnx(np.random.default_rng(5))
    with pytest.raises(
        CompileError,
        match=r"calibration data for 'x' has shape \(4, 64\), "
        r"expected \(N, 1, 8, 8\)",
    ):
        compile_model(model, TINY, calibration=np.zeros((4, 64)))
    program = compile_model(model, TINY, calibration=x, batch=2)
    with pytest.raises(
        RunError,
        match=r"input 'x': expected shape \(2, 1, 8, 8\), got \(3, 1, 8, "
        r"8\)",
    ):
        run(program, x[:3])
    with pytest.raises(RunError, match="backend must be one of golden, sim, rtl"):
        run(program, x[:2], backend="fpga")


def test_weights_that_do_not_fit_the_input() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    w = onnx.numpy_helper.from_array(np.ones((5, 3), np.float32), "w")
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g", [x], [y], [w]
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(CompileError, match=r"mm \(MatMul: weights of shape \(5, 3\) do not fit"):
        compile_model(model, TINY, calibration=np.ones((2, 4)))


def test_layer_too_big_for_the_accumulator() -> None:
    small = AcceleratorConfig(rows=4, cols=4, sp_depth=64, acc_depth=64)
    net = NetworkBuilder("wide", inputs={"x": (1, 8)})
    y = net.dense("x", np.ones((8, 200)), np.ones(200))
    with pytest.raises(CompileError, match="needs 150 accumulator rows of constants"):
        compile_model(net.build(outputs=[y]), small, calibration=np.ones((2, 8)))


def test_cli_compile_and_run(tmp_path: Path) -> None:
    model, x = mlp_onnx(np.random.default_rng(6))
    onnx.save(model, tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", x[:3])
    np.save(tmp_path / "c.npy", x)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "systolic", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    r = cli(
        "compile",
        str(tmp_path / "m.onnx"),
        "--calibration",
        str(tmp_path / "c.npy"),
        "--preset",
        "tiny",
        "-o",
        str(tmp_path / "prog"),
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "prog" / "manifest.json").exists()
    r = cli(
        "run",
        str(tmp_path / "m.onnx"),
        "--input",
        str(tmp_path / "x.npy"),
        "--preset",
        "tiny",
        "--output",
        str(tmp_path / "y.npy"),
        "--stats",
        str(tmp_path / "s.json"),
    )
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "y.npy").shape == (3, 10)
    import json

    stats = json.loads((tmp_path / "s.json").read_text())
    assert {
        "cycles",
        "macs",
        "utilization",
        "instructions",
        "dram_bytes_read",
        "dram_bytes_written",
    } <= set(stats)
    r = cli("run", str(tmp_path / "nope.onnx"), "--input", str(tmp_path / "x.npy"))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"systolic: error: {tmp_path / 'nope.onnx'}: file not found"
    ]


def _conv_pool(
    shape: tuple[int, ...],
    kernel: int | tuple[int, int],
    act: str,
    *,
    stride: int | None = None,
    pad: int = 0,
    cout: int = 6,
    k: int = 3,
) -> tuple[Any, np.ndarray, list[str]]:
    rng = np.random.default_rng(shape[3] + cout)
    b = NetworkBuilder("conv_pool", inputs={"x": shape})
    w = rng.normal(0, 0.3, (cout, shape[1], k, k)).astype(np.float32)
    h = b.conv2d("x", w, rng.normal(0, 0.1, cout).astype(np.float32), padding=k // 2, act=act)
    y = b.max_pool(h, kernel, stride=stride, padding=pad)
    x = rng.normal(0, 1, shape).astype(np.float32)
    return b, x, [h, y]


@pytest.mark.parametrize(
    ("shape", "kernel", "act"),
    [((2, 3, 11, 11), 2, "relu"), ((1, 4, 9, 10), 3, "none"), ((1, 2, 8, 8), 2, "sigmoid")],
)
def test_max_pool_fuses_into_the_conv_before_it(
    shape: tuple[int, ...], kernel: int, act: str
) -> None:
    # The pool runs on the int32 accumulator rows before requantisation; golden pools the
    # requantised int8 output. They agree because requantisation and a monotone activation
    # never decrease. Odd sizes: a floor-mode pool drops the last conv row and column.
    b, x, (_, y) = _conv_pool(shape, kernel, act)
    program = compile_model(b.build(outputs=[y]), TINY, calibration=x, batch=shape[0])
    assert "fuse_pools" in program.metadata["passes"]
    assert [(layer["op"], layer["pool"]) for layer in program.metadata["layers"]] == [
        ("conv", [kernel, kernel])
    ]
    sim = run(program, x, backend="sim")
    assert np.array_equal(sim.raw[y], run(program, x, backend="golden").raw[y])
    h, w = shape[2] // kernel, shape[3] // kernel
    assert sim.raw[y].shape == (shape[0], 6, h, w)
    # Only the conv outputs the pool reads are computed (and counted).
    assert sim.stats["macs"] == shape[0] * (h * kernel) * (w * kernel) * 9 * shape[1] * 6
    assert sim.stats["counters"]["macs"] == sim.stats["macs"]


@pytest.mark.parametrize(
    ("stride", "pad", "conv_out"),
    [(1, 0, False), (2, 1, False), (2, 0, True)],
    ids=["overlapping", "padded", "conv-is-an-output"],
)
def test_max_pool_stays_a_layer_when_it_cannot_fuse(stride: int, pad: int, conv_out: bool) -> None:
    b, x, (h, y) = _conv_pool((1, 3, 8, 8), 2, "relu", stride=stride, pad=pad)
    outputs = [h, y] if conv_out else [y]
    program = compile_model(b.build(outputs=outputs), TINY, calibration=x)
    assert [(layer["op"], layer.get("pool")) for layer in program.metadata["layers"]] == [
        ("conv", None),
        ("maxpool", None),
    ]
    sim = run(program, x, backend="sim")
    gold = run(program, x, backend="golden")
    for name in outputs:
        assert np.array_equal(sim.raw[name], gold.raw[name])


LEAN = TINY.replace(vector_unit=False, act_lut=False, acc_depth=64, counter_bits=32)


def test_a_lean_accelerator_runs_an_mlp() -> None:
    # Built without the vector unit and the LUT (the iCE40 build): dense layers and ReLU need
    # neither, and the program is the same as on the full accelerator.
    model, x = mlp_onnx(np.random.default_rng(3))
    program = compile_model(model, LEAN, calibration=x, batch=4)
    sim = run(program, x[:4], backend="sim")
    assert np.array_equal(sim.raw["probs"], run(program, x[:4], backend="golden").raw["probs"])
    full = compile_model(model, TINY.replace(acc_depth=64), calibration=x, batch=4)
    assert program.instructions == full.instructions


def test_the_icebreaker_preset_runs_a_small_mlp_without_queues() -> None:
    # queue_depth 0, 9-bit pcs: bit-exact, and loads run ahead by one tile only (further would
    # hold up fetch while they wait for their buffer).
    model, x = mlp_onnx(np.random.default_rng(3))
    ice = PRESETS["icebreaker"]
    with pytest.raises(CompileError) as e:
        compile_model(model, ice, calibration=x, batch=4)
    assert str(e.value).startswith("the program has ")
    assert str(e.value).endswith(
        " instructions; pc_bits = 9 counts at most 511 (a smaller batch or a larger array gives "
        "fewer)"
    )
    rng = np.random.default_rng(1)
    small = NetworkBuilder("small", inputs={"x": (4, 8)})
    y = small.dense("x", rng.normal(0, 0.5, (8, 6)), rng.normal(0, 0.1, 6), act="relu")
    xs = rng.normal(0, 1, (4, 8)).astype(np.float32)
    program = compile_model(small.build(outputs=[y]), ice, calibration=xs)
    name = program.outputs[0].name
    sim = run(program, xs, backend="sim")
    assert np.array_equal(sim.raw[name], run(program, xs, backend="golden").raw[name])
    # Loads one tile ahead: 438 cycles. Six ahead (the buffers the scratchpad holds) took 669:
    # each early load held fetch, and the preload behind it, until its buffer was free.
    assert sim.stats["cycles"] == 438


def test_a_lean_accelerator_names_every_layer_it_cannot_run() -> None:
    model, x = cnn_onnx(np.random.default_rng(7))
    with pytest.raises(CompileError) as e:
        compile_model(model, LEAN, calibration=x)
    assert str(e.value) == (
        "2 problem(s): /pool1/MaxPool: maxpool runs on the vector unit, which this accelerator "
        "is built without (vector_unit = false); /pool2/MaxPool: maxpool runs on the vector "
        "unit, which this accelerator is built without (vector_unit = false)"
    )
    model, x = lstm_onnx(np.random.default_rng(7))
    with pytest.raises(CompileError) as e:
        compile_model(model, LEAN, calibration=x)
    assert (
        "needs the activation LUT, which this accelerator is built without (act_lut = false)"
        in str(e.value)
    )


@pytest.mark.parametrize(
    ("shape", "kernel", "cout", "k", "config", "fused"),
    [
        # Non-square windows, more channels than columns, batch 2.
        ((2, 3, 7, 9), (2, 3), 9, 3, TINY, [2, 3]),
        # The conv alone fits the accumulator, but not with its pooled rows: the pool stays a
        # layer (168 outputs: 126 rows of constants on the 4x4 preset leave one per buffer).
        ((1, 2, 4, 4), (2, 2), 168, 3, TINY, None),
        # A window 256 columns wide is wider than a vector stride (8 bits): not fused.
        ((1, 2, 1, 256), (1, 256), 4, 1, PRESETS["default"], None),
    ],
    ids=["non-square", "acc-too-small-to-fuse", "window-wider-than-a-stride"],
)
def test_max_pool_fusion_limits(
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    cout: int,
    k: int,
    config: AcceleratorConfig,
    fused: list[int] | None,
) -> None:
    b, x, (_, y) = _conv_pool(shape, kernel, "relu", cout=cout, k=k)
    program = compile_model(b.build(outputs=[y]), config, calibration=x, batch=shape[0])
    assert program.metadata["layers"][0]["pool"] == fused
    sim = run(program, x, backend="sim")
    assert np.array_equal(sim.raw[y], run(program, x, backend="golden").raw[y])
