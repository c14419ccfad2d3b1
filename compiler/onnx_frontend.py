"""ONNX front-end: a float ONNX model (as PyTorch or onnx.helper write it) to the IR.

Shape arithmetic (Shape, Gather, Concat, Unsqueeze, ...) whose inputs are known is evaluated
at import with onnx's reference evaluator, so exporters' wrappers around the real layers fold
away. Every node that remains and is not supported is reported at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from ..spec.errors import CompileError
from .ir import Graph, Node, Value

__all__ = ["OPSET_RANGE", "SUPPORTED_OPS", "load_onnx", "onnx_to_graph"]

OPSET_RANGE = (11, 22)
SUPPORTED_OPS = (
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Softmax",
    "Identity",
    "Dropout",
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "RNN",
    "LSTM",
    "GRU",
    "Transpose",
    "ReduceMean",
)
# Evaluated at import when every input is known.
FOLDABLE = {
    "Constant",
    "Shape",
    "Gather",
    "Concat",
    "Unsqueeze",
    "Squeeze",
    "Cast",
    "ConstantOfShape",
    "Slice",
    "Mul",
    "Add",
    "Sub",
    "Div",
    "Reshape",
    "Identity",
    "Range",
    "Expand",
    "Transpose",
    "DequantizeLinear",
    "QuantizeLinear",
}


def _pads(pads: Any) -> tuple[int, int, int, int]:
    """ONNX [top, left, bottom, right] for 2-D."""
    p = tuple(int(v) for v in pads)
    if len(p) != 4:
        raise CompileError(f"pads {p} are not 2-D")
    return (p[0], p[1], p[2], p[3])


def _import_rnn(
    node: onnx.NodeProto,
    attrs: dict[str, Any],
    consts: dict[str, Any],
    shape_of: Any,
    const_value: Any,
    shapes: dict[str, tuple[int, ...]],
    values: dict[str, Value],
    nodes: list[Node],
    unsupported: list[str],
) -> None:
    """ONNX RNN (forward, tanh) or LSTM (forward, default activations, no peepholes), with
    optional B, sequence_lens (all full), initial_h and initial_c."""
    kind = node.op_type
    name = node.name or kind
    ins = list(node.input) + [""] * (8 - len(node.input))
    x, w, r, b, seq_lens, h0, c0, peep = ins[:8]
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    problems = []
    if direction != "forward":
        problems.append(f"direction {direction}")
    default = {"RNN": ["tanh"], "LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}[
        kind
    ]
    if acts and [a.lower() for a in acts] != default:
        problems.append(f"activations {acts}")
    if kind == "LSTM" and (peep or attrs.get("input_forget", 0)):
        problems.append("peepholes or input_forget")
    if attrs.get("clip") is not None:
        problems.append("clip")
    if attrs.get("layout", 0):
        problems.append("layout 1")
    if w not in consts or r not in consts or (b and b not in consts):
        problems.append("non-constant weights")
    if (h0 and h0 not in consts) or (c0 and c0 not in consts):
        problems.append("a computed initial state")
    shape = shape_of(x)
    if seq_lens and (seq_lens not in consts or (consts[seq_lens] != shape[0]).any()):
        problems.append("sequence_lens shorter than the sequence")
    if problems:
        unsupported.append(f"{name} ({kind} with {', '.join(problems)})")
        return
    hidden = int(consts[r].shape[-1])
    t_len, batch = shape[0], shape[1]
    n_out = 3 if kind == "LSTM" else 2
    outs = (list(node.output) + [""] * n_out)[:n_out]
    out_shapes = [(t_len, 1, batch, hidden), (1, batch, hidden), (1, batch, hidden)]
    for out, out_shape in zip(outs, out_shapes, strict=False):
        if out:
            shapes[out] = out_shape
            values[out] = Value(out, out_shape)
    inputs = [
        x,
        const_value(w).name,
        const_value(r).name,
        const_value(b).name if b else "",
        const_value(h0).name if h0 else "",
    ]
    if kind == "LSTM":
        inputs.append(const_value(c0).name if c0 else "")
    extra = {"linear_before_reset": int(attrs.get("linear_before_reset", 0))}
    nodes.append(Node(kind.lower(), name, inputs, outs, {"hidden": hidden, **extra}))


def load_onnx(model: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """Read a model from a path, bytes or a ModelProto, with one-line errors."""
    where = ""
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        if isinstance(model, bytes):
            data, where = model, "model bytes"
        else:
            path = Path(model)
            where = str(path)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise CompileError(f"{where}: file not found") from None
            except OSError as e:
                raise CompileError(f"{where}: cannot read: {e.strerror}") from None
        if not data:
            raise CompileError(f"{where}: empty file, not an ONNX model")
        try:
            proto = onnx.load_from_string(data)
        except Exception as e:  # protobuf raises DecodeError and friends
            raise CompileError(f"{where}: not an ONNX model ({type(e).__name__})") from None
        if not proto.graph.node and not proto.graph.output:
            raise CompileError(f"{where}: not an ONNX model (no graph)")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        reason = " ".join(str(e).split()) or "invalid"  # the checker's message spans lines
        prefix = f"{where}: " if where else ""
        raise CompileError(f"{prefix}invalid ONNX model: {reason}") from None
    return proto


def _opset(proto: onnx.ModelProto) -> int:
    for op in proto.opset_import:
        if op.domain in ("", "ai.onnx"):
            return int(op.version)
    raise CompileError("the model imports no default-domain opset")


def _dequantize(node: onnx.NodeProto, consts: dict[str, NDArray[Any]]) -> NDArray[Any]:
    """DequantizeLinear of a constant (QDQ weights and biases): ``(q - zp) · scale``."""
    q = consts[node.input[0]].astype(np.float64)
    scale = consts[node.input[1]].astype(np.float64)
    zero = (
        consts[node.input[2]].astype(np.float64)
        if len(node.input) > 2 and node.input[2]
        else np.zeros_like(scale)
    )
    if scale.ndim == 1 and scale.size > 1:
        axis = (
            next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
            % q.ndim
        )
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return np.asarray((q - zero) * scale, dtype=np.float32)


def _fold(node: onnx.NodeProto, consts: dict[str, NDArray[Any]]) -> list[NDArray[Any]]:
    sub = helper.make_graph(
        [node],
        "fold",
        [
            helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None)
            for n in node.input
            if n
        ],
        [helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in node.output],
    )
    model = helper.make_model(sub, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {n: consts[n] for n in node.input if n}
    return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]


def onnx_to_graph(model: str | Path | bytes | onnx.ModelProto, *, batch: int = 1) -> Graph:
    """Import a float ONNX model; dynamic (named) dimensions of the inputs become ``batch``.

    Errors about a model read from a file start with its path.
    """
    proto = load_onnx(model)
    if not isinstance(model, str | Path):
        return _import(proto, batch=batch)
    try:
        return _import(proto, batch=batch)
    except CompileError as e:
        raise CompileError(f"{model}: {e}") from None


def _import(proto: onnx.ModelProto, *, batch: int) -> Graph:
    opset = _opset(proto)
    lo, hi = OPSET_RANGE
    if not lo <= opset <= hi:
        raise CompileError(f"opset {opset} is not supported (supported: {lo} to {hi})")
    g = proto.graph
    consts: dict[str, NDArray[Any]] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    values: dict[str, Value] = {}
    inputs = []
    for inp in g.input:
        if inp.name in consts:
            continue
        ttype = inp.type.tensor_type
        if ttype.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            raise CompileError(
                f"input {inp.name!r}: element type "
                f"{onnx.TensorProto.DataType.Name(ttype.elem_type)} is not "
                "supported (float models only)"
            )
        fixed = [d.HasField("dim_value") and d.dim_value > 0 for d in ttype.shape.dim]
        dims = tuple(
            d.dim_value if ok else batch for d, ok in zip(ttype.shape.dim, fixed, strict=True)
        )
        shapes[inp.name] = dims
        axis = fixed.index(False) if False in fixed else 0
        values[inp.name] = Value(inp.name, dims, batch_axis=axis)
        inputs.append(inp.name)

    nodes: list[Node] = []
    unsupported: list[str] = []

    def shape_of(name: str) -> tuple[int, ...]:
        if name in shapes:
            return shapes[name]
        if name in consts:
            return tuple(consts[name].shape)
        raise CompileError(f"the shape of {name!r} is unknown")

    def const_value(name: str) -> Value:
        if name not in values:
            values[name] = Value(
                name, tuple(consts[name].shape), data=consts[name].astype(np.float64)
            )
        return values[name]

    def emit(
        op: str, node: onnx.NodeProto, ins: list[str], shape: tuple[int, ...], **attrs: Any
    ) -> None:
        out = node.output[0]
        shapes[out] = shape
        values[out] = Value(out, shape)
        nodes.append(Node(op, node.name or out, ins, [out], attrs))

    alias: dict[str, str] = {}
    # QDQ models (onnxruntime's quantizer): an activation's QuantizeLinear → DequantizeLinear
    # pair is an identity whose scale the quantize pass uses instead of calibration.
    pending_q: dict[str, tuple[str, str, str]] = {}
    hints: dict[str, float] = {}

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for original in g.node:
        node = onnx.NodeProto()
        node.CopyFrom(original)
        node.input[:] = [resolve(n) for n in node.input]
        kind = node.op_type
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        known = all((n in consts) or not n for n in node.input)
        if any(
            n and n not in shapes and n not in consts and n not in pending_q for n in node.input
        ):
            # Fed by a node that was not imported: report this node only if its op is
            # unsupported anyway, not once per node downstream of the first problem.
            if kind not in SUPPORTED_OPS and kind not in FOLDABLE:
                unsupported.append(f"{node.name or kind} ({kind})")
            continue
        if kind == "Shape" and (node.input[0] in shapes or node.input[0] in consts):
            consts[node.output[0]] = np.array(shape_of(node.input[0]), dtype=np.int64)
            continue
        if kind == "QuantizeLinear" and not known:
            pending_q[node.output[0]] = (
                node.input[0],
                node.input[1],
                node.input[2] if len(node.input) > 2 else "",
            )
            continue
        if kind == "DequantizeLinear" and node.input[0] in pending_q:
            source, scale, zero = pending_q[node.input[0]]
            if zero and zero in consts and np.any(consts[zero] != 0):
                unsupported.append(
                    f"{node.name or kind} (asymmetric activation quantisation, "
                    f"zero point {int(consts[zero].flat[0])}; quantise with "
                    "ActivationSymmetric=True)"
                )
                continue
            if scale not in consts or consts[scale].size != 1:
                unsupported.append(f"{node.name or kind} (per-axis activation quantisation)")
                continue
            alias[node.output[0]] = source
            hints[source] = float(consts[scale].reshape(-1)[0])
            continue
        if kind == "DequantizeLinear" and known:
            consts[node.output[0]] = _dequantize(node, consts)
            continue
        if kind in FOLDABLE and known:
            for name, v in zip(node.output, _fold(node, consts), strict=False):
                consts[name] = v
            continue
        try:
            if kind in ("Identity", "Dropout"):
                alias[node.output[0]] = resolve(node.input[0])
                continue
            if kind == "Gemm":
                a, b = node.input[0], node.input[1]
                c = node.input[2] if len(node.input) > 2 else ""
                if b not in consts or (c and c not in consts) or attrs.get("transA", 0):
                    unsupported.append(
                        f"{node.name or kind} (Gemm with a non-constant B or C, or transA)"
                    )
                    continue
                w = consts[b].astype(np.float64) * float(attrs.get("alpha", 1.0))
                if attrs.get("transB", 0):
                    w = w.T
                if w.ndim != 2 or w.shape[0] != shape_of(a)[-1]:
                    raise CompileError(
                        f"weights of shape {consts[b].shape} (transB={attrs.get('transB', 0)}) "
                        f"do not fit an input of shape {shape_of(a)}"
                    )
                bias = ""
                if c:
                    vec = np.broadcast_to(
                        consts[c].astype(np.float64) * attrs.get("beta", 1.0), (w.shape[1],)
                    ).copy()
                    consts[c + ":bias"] = vec
                    bias = const_value(c + ":bias").name
                consts[b + ":w"] = w
                emit(
                    "dense",
                    node,
                    [a, const_value(b + ":w").name, bias],
                    (shape_of(a)[0], w.shape[1]),
                )
            elif kind == "MatMul":
                a, b = node.input
                if b not in consts or len(shape_of(a)) != 2:
                    unsupported.append(
                        f"{node.name or kind} (MatMul needs a 2-D input and constant weights)"
                    )
                    continue
                if consts[b].ndim != 2 or consts[b].shape[0] != shape_of(a)[1]:
                    raise CompileError(
                        f"weights of shape {consts[b].shape} do not fit an input "
                        f"of shape {shape_of(a)}"
                    )
                emit(
                    "dense",
                    node,
                    [a, const_value(b).name, ""],
                    (shape_of(a)[0], consts[b].shape[1]),
                )
            elif kind == "Conv":
                x, w = node.input[0], node.input[1]
                b = node.input[2] if len(node.input) > 2 else ""
                shape = shape_of(x)
                if len(shape) != 4:
                    unsupported.append(
                        f"{node.name or kind} (Conv needs a 4-D input, got shape {shape})"
                    )
                    continue
                if w not in consts or (b and b not in consts):
                    unsupported.append(f"{node.name or kind} (Conv needs constant weights)")
                    continue
                if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
                    unsupported.append(f"{node.name or kind} (Conv auto_pad {attrs['auto_pad']!r})")
                    continue
                wt = consts[w]
                sh, sw = (int(v) for v in attrs.get("strides", (1, 1)))
                dh, dw = (int(v) for v in attrs.get("dilations", (1, 1)))
                pt, pl, pb, pr = _pads(attrs.get("pads", (0, 0, 0, 0)))
                cattrs: dict[str, Any] = {
                    "strides": (sh, sw),
                    "pads": (pt, pl, pb, pr),
                    "dilations": (dh, dw),
                    "group": int(attrs.get("group", 1)),
                }
                kh, kw = wt.shape[2], wt.shape[3]
                oh = (shape[2] + pt + pb - dh * (kh - 1) - 1) // sh + 1
                ow = (shape[3] + pl + pr - dw * (kw - 1) - 1) // sw + 1
                emit(
                    "conv",
                    node,
                    [x, const_value(w).name, const_value(b).name if b else ""],
                    (shape[0], wt.shape[0], oh, ow),
                    **cattrs,
                )
            elif kind in ("MaxPool", "AveragePool", "GlobalAveragePool") and (
                len(shape_of(node.input[0])) != 4
            ):
                unsupported.append(
                    f"{node.name or kind} ({kind} needs a 4-D input, "
                    f"got shape {shape_of(node.input[0])})"
                )
            elif kind in ("MaxPool", "AveragePool"):
                shape = shape_of(node.input[0])
                kernel = tuple(attrs["kernel_shape"])
                pattrs = {
                    "kernel": kernel,
                    "strides": tuple(attrs.get("strides", (1, 1))),
                    "pads": _pads(attrs.get("pads", (0, 0, 0, 0))),
                }
                if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", ())):
                    unsupported.append(f"{node.name or kind} ({kind} with ceil_mode or dilations)")
                    continue
                if kind == "AveragePool" and any(pattrs["pads"]):
                    unsupported.append(f"{node.name or kind} (AveragePool with padding)")
                    continue
                (kh, kw), (sh, sw), (pt, pl, pb, pr) = (kernel, pattrs["strides"], pattrs["pads"])
                oh = (shape[2] + pt + pb - kh) // sh + 1
                ow = (shape[3] + pl + pr - kw) // sw + 1
                emit(
                    "maxpool" if kind == "MaxPool" else "avgpool",
                    node,
                    [node.input[0]],
                    (shape[0], shape[1], oh, ow),
                    **pattrs,
                )
            elif kind == "GlobalAveragePool":
                shape = shape_of(node.input[0])
                emit(
                    "avgpool",
                    node,
                    [node.input[0]],
                    (shape[0], shape[1], 1, 1),
                    kernel=(shape[2], shape[3]),
                    strides=(1, 1),
                    pads=(0, 0, 0, 0),
                )
            elif kind == "ReduceMean":
                shape = shape_of(node.input[0])
                axes = attrs.get("axes")
                if axes is None and len(node.input) > 1 and node.input[1]:
                    axes = consts.get(node.input[1])
                spatial = (
                    len(shape) == 4
                    and axes is not None
                    and sorted(int(a) % 4 for a in axes) == [2, 3]
                )
                if not spatial:
                    unsupported.append(f"{node.name or kind} (ReduceMean other than over H, W)")
                    continue
                pooled = (shape[0], shape[1], 1, 1)
                keep = int(attrs.get("keepdims", 1))
                out = node.output[0] if keep else f"{node.output[0]}:pooled"
                shapes[out] = pooled
                values[out] = Value(out, pooled)
                nodes.append(
                    Node(
                        "avgpool",
                        node.name or out,
                        [node.input[0]],
                        [out],
                        {"kernel": (shape[2], shape[3]), "strides": (1, 1), "pads": (0, 0, 0, 0)},
                    )
                )
                if not keep:  # the [N, C] result is the same bytes: a layout-only squeeze
                    emit("squeeze", node, [out], (shape[0], shape[1]), axes=[2, 3])
            elif kind in ("RNN", "LSTM", "GRU"):
                _import_rnn(
                    node, attrs, consts, shape_of, const_value, shapes, values, nodes, unsupported
                )
            elif kind == "Transpose":
                shape = shape_of(node.input[0])
                perm = [int(p) for p in attrs.get("perm", range(len(shape) - 1, -1, -1))]
                emit("transpose", node, [node.input[0]], tuple(shape[p] for p in perm), perm=perm)
            elif kind == "Squeeze":
                shape = shape_of(node.input[0])
                axes = attrs.get("axes")
                if axes is None and len(node.input) > 1 and node.input[1]:
                    axes = consts.get(node.input[1])
                if axes is None:
                    axes = [i for i, d in enumerate(shape) if d == 1]
                axes = [int(a) % len(shape) for a in axes]
                if any(shape[a] != 1 for a in axes):
                    unsupported.append(f"{node.name or kind} (Squeeze of a non-unit axis)")
                    continue
                out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
                emit("squeeze", node, [node.input[0]], out_shape, axes=axes)
            elif kind == "Add" and not any(n in consts for n in node.input):
                a, b = node.input
                if shape_of(a) != shape_of(b):
                    unsupported.append(
                        f"{node.name or kind} (Add of shapes {shape_of(a)} and "
                        f"{shape_of(b)}: no broadcasting)"
                    )
                    continue
                emit("add", node, [a, b], shape_of(a))
            elif kind == "Add":
                a, b = node.input
                if a in consts:
                    a, b = b, a
                producer = nodes[-1] if nodes and nodes[-1].outputs[0] == a else None
                if (
                    b in consts
                    and producer is not None
                    and producer.op == "dense"
                    and not producer.inputs[2]
                ):
                    vec = (
                        np.broadcast_to(consts[b].astype(np.float64), shape_of(a)[1:])
                        .reshape(-1)
                        .copy()
                    )
                    consts[b + ":bias"] = vec
                    producer.inputs[2] = const_value(b + ":bias").name
                    shapes[node.output[0]] = shape_of(a)
                    values[node.output[0]] = values.pop(a)
                    values[node.output[0]].name = node.output[0]
                    producer.outputs[0] = node.output[0]
                else:
                    unsupported.append(f"{node.name or kind} (Add other than a bias after MatMul)")
            elif kind in ("Relu", "Sigmoid", "Tanh"):
                emit(kind.lower(), node, [node.input[0]], shape_of(node.input[0]))
            elif kind == "Clip":
                bounds = [
                    float(consts[n]) if n and n in consts else None
                    for n in list(node.input[1:3]) + [""] * (3 - len(node.input))
                ][:2]
                lo_b = attrs.get("min", bounds[0])
                hi_b = attrs.get("max", bounds[1])
                emit("clip", node, [node.input[0]], shape_of(node.input[0]), lo=lo_b, hi=hi_b)
            elif kind == "Flatten":
                shape = shape_of(node.input[0])
                axis = int(attrs.get("axis", 1))
                if axis != 1:
                    unsupported.append(f"{node.name or kind} (Flatten with axis {axis})")
                    continue
                emit("flatten", node, [node.input[0]], (shape[0], int(np.prod(shape[1:]))))
            elif kind == "Reshape":
                shape = shape_of(node.input[0])
                target = consts.get(node.input[1])
                flat = (shape[0], int(np.prod(shape[1:])))
                if target is None or len(target) != 2 or int(target[1]) not in (-1, flat[1]):
                    unsupported.append(f"{node.name or kind} (Reshape other than a flatten)")
                    continue
                emit("flatten", node, [node.input[0]], flat)
            elif kind == "Softmax":
                shape = shape_of(node.input[0])
                axis = int(attrs.get("axis", -1))
                if axis not in (-1, len(shape) - 1):
                    unsupported.append(f"{node.name or kind} (Softmax over axis {axis})")
                    continue
                emit("softmax", node, [node.input[0]], shape)
            else:
                unsupported.append(f"{node.name or kind} ({kind})")
        except CompileError as e:
            unsupported.append(f"{node.name or kind} ({kind}: {e})")
    if unsupported:
        raise CompileError(f"{len(unsupported)} unsupported node(s): {', '.join(unsupported)}")
    for name, hint in hints.items():
        if name in values:
            values[name].qdq_scale = hint
    outputs = []
    for o in g.output:
        source = resolve(o.name)
        if source != o.name:  # an Identity feeds the output: give its producer the output name
            producer = next((n for n in nodes if source in n.outputs), None)
            if producer is None:
                raise CompileError(f"output {o.name!r} is a copy of an input; nothing to compute")
            producer.outputs[producer.outputs.index(source)] = o.name
            values[o.name] = Value(o.name, values.pop(source).shape)
            for n in nodes:
                n.inputs = [o.name if i == source else i for i in n.inputs]
        outputs.append(o.name)
    graph = Graph(g.name or "model", inputs, outputs, values, nodes)
    graph.verify("import")
    return graph
