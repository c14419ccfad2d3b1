"""The compiler's passes over the IR, each a plain function from Graph to Graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..spec import golden
from ..spec.config import AcceleratorConfig
from ..spec.errors import CompileError, GoldenError
from ..spec.isa import FORMATS_BY_NAME
from .ir import Graph, Node, conv2d_float

__all__ = ["check_calibration", "fuse_activations", "lower", "quantize", "validate"]

ACTIVATION_OPS = ("relu", "clip", "sigmoid", "tanh")
FUSABLE = ("dense", "conv", "add")
LAYOUT_OPS = ("flatten", "squeeze", "transpose")
_MAX_VECTOR_STRIDE = FORMATS_BY_NAME["vector"].field("a_stride").hi
# What runs on the optional units (AcceleratorConfig.vector_unit, .act_lut).
VECTOR_OPS = ("maxpool", "avgpool", "add", "lstm", "gru")
LUT_OPS = ("sigmoid", "tanh", "rnn", "lstm", "gru")


def validate(graph: Graph, config: AcceleratorConfig) -> Graph:
    """Check what the accelerator can take; every problem is reported at once."""
    problems = []
    for node in graph.nodes:
        if node.op == "softmax" and any(o not in graph.outputs for o in node.outputs):
            problems.append(
                f"{node.name}: Softmax runs on the host, so it must produce a graph output"
            )
        if node.op == "dense":
            x = graph.values[node.inputs[0]]
            if len(x.shape) != 2:
                problems.append(f"{node.name}: dense input has shape {x.shape}, expected 2-D")
        if node.op in ACTIVATION_OPS:
            producer = graph.producer(node.inputs[0])
            if producer is None or producer.op not in FUSABLE:
                problems.append(
                    f"{node.name}: a standalone {node.op} (not after a dense or conv layer) "
                    "is not supported yet"
                )
        if node.op in ("sigmoid", "tanh"):
            producer = graph.producer(node.inputs[0])
            if producer is not None and producer.op == "add":
                problems.append(f"{node.name}: {node.op} after a residual add is not supported")
        if node.op in VECTOR_OPS and not config.vector_unit:
            problems.append(
                f"{node.name}: {node.op} runs on the vector unit, which this accelerator is "
                "built without (vector_unit = false)"
            )
        if node.op in LUT_OPS and not config.act_lut:
            problems.append(
                f"{node.name}: {node.op} needs the activation LUT, which this accelerator is "
                "built without (act_lut = false)"
            )
    for name in graph.inputs:
        if len(graph.values[name].shape) < 2:
            problems.append(f"input {name!r}: shape {graph.values[name].shape} has no batch axis")
    if problems:
        raise CompileError(f"{len(problems)} problem(s): " + "; ".join(problems))
    graph.verify("validate")
    return graph


def fuse_activations(graph: Graph) -> Graph:
    """Fold an activation into the dense layer before it (its only consumer)."""
    g = graph.copy()
    kept: list[Node] = []
    for node in g.nodes:
        producer = g.producer(node.inputs[0]) if node.op in ACTIVATION_OPS else None
        if (
            producer is not None
            and producer.op in FUSABLE
            and "act" not in producer.attrs
            and len(g.consumers(node.inputs[0])) == 1
            and node.inputs[0] not in g.outputs
        ):
            producer.attrs["act"] = node.op
            producer.attrs["act_attrs"] = dict(node.attrs)
            producer.attrs["pre_act"] = node.inputs[0]  # its scale is the LUT's input scale
            producer.outputs = list(node.outputs)
            continue
        kept.append(node)
    g.nodes = kept
    g.verify("fuse_activations")
    return g


def _scale(values: NDArray[Any], hint: float | None = None) -> float:
    """The activation scale: a QDQ model's own, else the calibration peak over 127."""
    if hint is not None:
        return hint
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    return peak / 127.0 if peak > 0.0 else 1.0 / 127.0


def check_calibration(
    graph: Graph, calibration: Mapping[str, ArrayLike], *, what: str = "calibration data"
) -> dict[str, NDArray[np.floating[Any]]]:
    """Each graph input's calibration batch as float64: present, shaped like the input (any
    size along its batch axis but 0), real numbers and finite. ``what`` starts the messages."""
    out: dict[str, NDArray[np.floating[Any]]] = {}
    for name in graph.inputs:
        if name not in calibration:
            raise CompileError(f"{what} for input {name!r} is missing")
        data = np.asarray(calibration[name])
        value = graph.values[name]
        got = data.shape
        want = list(value.shape)
        want[value.batch_axis] = -1
        if len(got) != len(want) or any(w not in (-1, d) for w, d in zip(want, got, strict=False)):
            dims = ", ".join("N" if w == -1 else str(w) for w in want)
            raise CompileError(f"{what} for {name!r} has shape {got}, expected ({dims})")
        if data.dtype.kind not in "iuf":
            raise CompileError(
                f"{what} for {name!r} has dtype {data.dtype}, expected real numbers (float or int)"
            )
        if data.size == 0:
            raise CompileError(f"{what} for {name!r} has no samples (shape {got})")
        bad = ~np.isfinite(data)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CompileError(
                f"{what} for {name!r} has {int(bad.sum())} NaN or infinite value(s), "
                f"the first at index {first}"
            )
        out[name] = data.astype(np.float64)
    return out


def quantize(graph: Graph, calibration: Mapping[str, ArrayLike]) -> Graph:
    """Post-training quantisation from a calibration batch (docs/quantisation.md).

    Activation scales are the largest magnitude seen on the calibration data over 127; weights
    are per output channel; biases int32; requantisation constants from golden.
    """
    g = graph.copy()
    env = g.float_forward(check_calibration(g, calibration))
    for name in g.inputs:
        g.values[name].scale = _scale(env[name], g.values[name].qdq_scale)
    for node in g.nodes:
        if node.op in LAYOUT_OPS:
            g.values[node.outputs[0]].scale = g.values[node.inputs[0]].scale
            continue
        if node.op == "softmax":
            continue
        if node.op == "maxpool":  # max-pooling keeps the scale: no requantisation
            g.values[node.outputs[0]].scale = g.values[node.inputs[0]].scale
            continue
        if node.op in ("avgpool", "add"):
            _quantize_elementwise(g, node, env)
            continue
        if node.op == "rnn":
            _quantize_rnn(g, node)
            continue
        if node.op == "lstm":
            _quantize_lstm(g, node)
            continue
        if node.op == "gru":
            _quantize_gru(g, node)
            continue
        if node.op not in FUSABLE:  # pragma: no cover - validate() rejects the rest
            raise CompileError(f"{node.name}: cannot quantise {node.op}")
        x, w, b = node.inputs
        s_x = g.values[x].scale
        assert s_x is not None
        w_f = g.values[w].data
        assert w_f is not None  # the front-ends make weights constant
        b_f = g.values[b].data if b else None
        act = node.attrs.get("act")
        acc_float = None
        if act in ("sigmoid", "tanh"):  # the lookup table's input scale needs the pre-activation
            if node.op == "conv":
                acc_float = conv2d_float(env[x], w_f, b_f, node.attrs)
            else:
                acc_float = env[x] @ w_f + (b_f if b_f is not None else 0.0)
        if node.op == "conv":
            w_f = w_f.transpose(2, 3, 1, 0)  # OIHW -> HWIO: output channels last
        y = env[node.outputs[0]]  # float_forward applies a fused activation
        s_y = _scale(y, g.values[node.outputs[0]].qdq_scale)
        g.values[node.outputs[0]].scale = s_y
        try:
            w_q, s_w, b_q = golden.quantize_layer(w_f, b_f, s_x)
            if act in ("sigmoid", "tanh"):
                pre = node.attrs.get("pre_act")
                assert acc_float is not None
                s_pre = _scale(acc_float, g.values[pre].qdq_scale if pre else None)
                fn = np.tanh if act == "tanh" else (lambda v: 1.0 / (1.0 + np.exp(-v)))
                table = golden.make_lut(fn, s_pre, s_y)
                activation = golden.Activation.lookup(table)
                mult, shift = golden.quantize_multipliers(s_x * s_w / s_pre)
            else:
                mult, shift = golden.quantize_multipliers(s_x * s_w / s_y)
                if act == "relu":
                    activation = golden.Activation.relu()
                elif act == "clip":
                    attrs = node.attrs["act_attrs"]
                    activation = golden.Activation.clip(attrs.get("lo"), attrs.get("hi"), s_y)
                else:
                    activation = golden.NO_ACTIVATION
        except GoldenError as e:
            raise CompileError(f"{node.name}: {e}") from None
        node.attrs.update(
            w_q=w_q, b_q=b_q, mult=mult, shift=shift, activation=activation, s_x=s_x, s_y=s_y
        )
    g.verify("quantize")
    return g


def _initial_state(g: Graph, name: str, quant: Any, scale: float) -> NDArray[Any] | None:
    """A recurrent layer's constant initial state ``[1, B, H]``, quantised, or None."""
    if not name:
        return None
    data = g.values[name].data
    assert data is not None  # the front-end accepts constant initial states only
    result: NDArray[Any] = quant(data[0], scale)
    return result


def _quantize_rnn(g: Graph, node: Node) -> None:
    """The Elman cell in the fixed-point form of docs/quantisation.md (hidden state Q0.7)."""
    x, w, r, b, h0 = node.inputs
    s_x = g.values[x].scale
    assert s_x is not None
    wd, rd = g.values[w].data, g.values[r].data
    assert wd is not None and rd is not None
    hidden = wd.shape[1]
    bias = None
    if b:
        bd = g.values[b].data
        assert bd is not None
        bias = bd[0, :hidden] + bd[0, hidden:]
    try:
        gate = golden.quantize_rnn_weights(wd[0].T, rd[0].T, bias, s_x)
    except GoldenError as e:
        raise CompileError(f"{node.name}: {e}") from None
    h0_q = _initial_state(g, h0, golden.quantize, golden.H_SCALE)
    node.attrs.update(gate=gate, h0_q=h0_q)
    for out in node.outputs:
        if out:
            g.values[out].scale = golden.H_SCALE


def _quantize_lstm(g: Graph, node: Node) -> None:
    """The LSTM cell in the fixed-point form of docs/quantisation.md (h Q0.7, c at 2^-11)."""
    x, w, r, b, h0, c0 = node.inputs
    s_x = g.values[x].scale
    assert s_x is not None
    wd, rd = g.values[w].data, g.values[r].data
    assert wd is not None and rd is not None
    hidden = rd.shape[-1]
    order = (0, 2, 3, 1)  # ONNX stacks i, o, f, c; golden takes i, f, g (= c), o

    def gates(m: NDArray[Any]) -> NDArray[Any]:
        return np.stack([m[k * hidden : (k + 1) * hidden].T for k in order])

    bias = None
    if b:
        bd = g.values[b].data
        assert bd is not None
        both = bd[0, : 4 * hidden] + bd[0, 4 * hidden :]
        bias = np.stack([both[k * hidden : (k + 1) * hidden] for k in order])
    try:
        weights = golden.quantize_lstm_weights(gates(wd[0]), gates(rd[0]), bias, s_x)
    except GoldenError as e:
        raise CompileError(f"{node.name}: {e}") from None
    h0_q = _initial_state(g, h0, golden.quantize, golden.H_SCALE)
    c0_q = _initial_state(g, c0, lambda v, _s: golden.quantize_cell_state(v), golden.CELL_SCALE)
    node.attrs.update(weights=weights, h0_q=h0_q, c0_q=c0_q)
    for out, scale in zip(
        node.outputs, (golden.H_SCALE, golden.H_SCALE, golden.CELL_SCALE), strict=True
    ):
        if out:
            g.values[out].scale = scale


def _quantize_gru(g: Graph, node: Node) -> None:
    """The GRU cell in the fixed-point form of docs/quantisation.md (h Q0.7)."""
    x, w, r, b, h0 = node.inputs
    s_x = g.values[x].scale
    assert s_x is not None
    wd, rd = g.values[w].data, g.values[r].data
    assert wd is not None and rd is not None
    hidden = rd.shape[-1]

    def gates(m: NDArray[Any]) -> NDArray[Any]:  # ONNX stacks z, r, h: golden's order
        return np.stack([m[k * hidden : (k + 1) * hidden].T for k in range(3)])

    b_x = b_h = None
    if b:
        bd = g.values[b].data
        assert bd is not None
        b_x, b_h = bd[0, : 3 * hidden].reshape(3, hidden), bd[0, 3 * hidden :].reshape(3, hidden)
    try:
        weights = golden.quantize_gru_weights(
            gates(wd[0]), gates(rd[0]), b_x, b_h, s_x, bool(node.attrs["linear_before_reset"])
        )
    except GoldenError as e:
        raise CompileError(f"{node.name}: {e}") from None
    h0_q = _initial_state(g, h0, golden.quantize, golden.H_SCALE)
    node.attrs.update(weights=weights, h0_q=h0_q)
    for out in node.outputs:
        if out:
            g.values[out].scale = golden.H_SCALE


def _quantize_elementwise(g: Graph, node: Node, env: dict[str, Any]) -> None:
    """Average pools (requantise the window sum by 1/count) and residual adds."""
    s_y = _scale(env[node.outputs[0]], g.values[node.outputs[0]].qdq_scale)
    g.values[node.outputs[0]].scale = s_y
    s_x = g.values[node.inputs[0]].scale
    assert s_x is not None
    try:
        if node.op == "avgpool":
            kh, kw = node.attrs["kernel"]
            mult, shift = golden.quantize_multiplier(s_x / (s_y * kh * kw))
            node.attrs.update(mult=mult, shift=shift, s_x=s_x, s_y=s_y)
            return
        s_b = g.values[node.inputs[1]].scale
        assert s_b is not None
        params = golden.add_params(s_x, s_b, s_y)
    except GoldenError as e:
        raise CompileError(f"{node.name}: {e}") from None
    act = node.attrs.get("act")
    if act == "relu":
        activation = golden.Activation.relu()
    elif act == "clip":
        attrs = node.attrs["act_attrs"]
        activation = golden.Activation.clip(attrs.get("lo"), attrs.get("hi"), s_y)
    else:
        activation = golden.NO_ACTIVATION
    node.attrs.update(params=params, activation=activation)


def _moves_only_unit_axes(g: Graph, node: Node) -> bool:
    """A transpose that keeps the order of the axes longer than 1 moves no bytes."""
    shape = g.values[node.inputs[0]].shape
    kept = [p for p in node.attrs["perm"] if shape[p] != 1]
    return kept == sorted(kept)


def _fold_transpose(g: Graph, node: Node, source: str, alias: dict[str, str]) -> None:
    """Fold a data-moving transpose into a graph input's or output's tensor descriptor."""
    perm = tuple(node.attrs["perm"])
    out = node.outputs[0]
    if source in g.inputs and len(g.consumers(node.inputs[0])) == 1:
        # The buffer holds the transposed tensor; the user still writes the original shape.
        g.layouts[source] = (perm, g.values[source].shape)
        g.values[source].shape = g.values[out].shape
        alias[out] = source
    elif out in g.outputs:
        g.layouts[out] = (perm, g.values[node.inputs[0]].shape)
        alias[out] = source
    else:
        raise CompileError(
            f"{node.name}: a Transpose that moves data is only supported on a graph input or "
            "output (where it folds into the tensor's layout)"
        )


def lower(graph: Graph) -> Graph:
    """Rewrite quantised dense layers into accelerator GEMMs; layout ops become aliases."""
    g = graph.copy()
    alias: dict[str, str] = {}
    lowered: list[Node] = []
    for node in g.nodes:
        ins = [alias.get(i, i) for i in node.inputs]
        keys = ("w_q", "b_q", "mult", "shift", "activation", "s_x", "s_y")
        if node.op == "dense":
            attrs = {k: node.attrs[k] for k in keys}
            source = g.values[ins[0]]
            if len(source.shape) == 4:
                # ONNX flattens NCHW; the buffer is NHWC: reorder the weight rows to match.
                _, c, h, w = source.shape
                order = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
                attrs["w2"] = attrs["w_q"][order]
            else:
                attrs["w2"] = attrs["w_q"]
            lowered.append(Node("hw.gemm", node.name, [ins[0]], list(node.outputs), attrs))
        elif node.op == "conv":
            attrs = {k: node.attrs[k] for k in keys}
            attrs.update({k: node.attrs[k] for k in ("strides", "pads", "dilations", "group")})
            lowered.append(Node("hw.conv", node.name, [ins[0]], list(node.outputs), attrs))
        elif node.op in ("rnn", "lstm", "gru"):
            # The input's own [T, B, I]: a Squeeze or a Transpose of unit axes in front of the
            # cell is an alias, so the buffer the cell reads has its source's shape (another
            # cell's Y [T, 1, B, H], or [B, T, I] with T = 1) over the same bytes.
            attrs = {**node.attrs, "x_shape": g.values[node.inputs[0]].shape}
            x = [ins[0], ""] if node.op == "rnn" else [ins[0]]
            lowered.append(Node(f"hw.{node.op}", node.name, x, list(node.outputs), attrs))
        elif node.op in ("maxpool", "avgpool", "add"):
            lowered.append(
                Node(f"hw.{node.op}", node.name, ins, list(node.outputs), dict(node.attrs))
            )
        elif node.op == "transpose" and not _moves_only_unit_axes(g, node):
            _fold_transpose(g, node, ins[0], alias)
        elif node.op in LAYOUT_OPS:
            # Row-major [N, ...] and its flattening share one buffer.
            alias[node.outputs[0]] = ins[0]
        else:
            lowered.append(Node(node.op, node.name, ins, list(node.outputs), dict(node.attrs)))
    g.nodes = lowered
    g.aliases = alias
    g.verify("lower")
    return g


def _monotone(act: golden.Activation) -> bool:
    """True when the activation never decreases: max commutes with it."""
    return act.table is None or bool(np.all(np.diff(act.table.astype(np.int64)) >= 0))


def fuse_pools(graph: Graph, config: AcceleratorConfig) -> Graph:
    """Fold a max-pool into the convolution before it, when it is the conv's only consumer.

    The pool then runs as ``vector max`` on the conv's int32 accumulator rows, before the store
    requantises them, instead of as a layer of its own that reads the conv's int8 output back
    from memory. It is exact: requantisation (a non-negative multiplier and a rounding shift,
    then saturation) and a monotone activation never decrease, so they commute with max. Fused
    when the windows tile the input (kernel = stride, no padding) and a block holds a pooled
    row's conv rows; otherwise the pool stays a layer.
    """
    from .codegen.matmul import tile_rows_limit

    g = graph.copy()
    kept: list[Node] = []
    for node in g.nodes:
        conv = g.producer(node.inputs[0]) if node.op == "hw.maxpool" else None
        if conv is not None and conv.op == "hw.conv" and "pool" not in conv.attrs:
            kernel = tuple(node.attrs["kernel"])
            conv_shape = g.values[node.inputs[0]].shape
            pooled = g.values[node.outputs[0]].shape
            fits = (
                tuple(node.attrs["strides"]) == kernel
                and not any(node.attrs["pads"])
                and kernel[0] * kernel[1] > 1
                and kernel[1] <= _MAX_VECTOR_STRIDE  # the window's columns are a vector stride
                and pooled[2:] == (conv_shape[2] // kernel[0], conv_shape[3] // kernel[1])
                and len(g.consumers(node.inputs[0])) == 1
                and node.inputs[0] not in g.outputs
                and node.inputs[0] not in g.aliases.values()
                and _monotone(conv.attrs["activation"])
                and bool(np.all(np.asarray(conv.attrs["mult"]) >= 0))
            )
            if fits:
                trial = Node(conv.op, conv.name, conv.inputs, conv.outputs, dict(conv.attrs))
                trial.attrs["pool"] = kernel
                try:
                    mt = tile_rows_limit(config, trial)
                except CompileError:  # the conv fits, but not with its pooled rows: no fusion
                    mt = 0
                fits = mt // (pooled[3] * kernel[1]) >= kernel[0]
            if fits:
                conv.attrs["pool"] = kernel
                conv.outputs = list(node.outputs)
                continue
        kept.append(node)
    g.nodes = kept
    g.verify("fuse_pools")
    return g
