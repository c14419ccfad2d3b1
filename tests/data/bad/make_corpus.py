"""Write the bad-input corpus (issue #8) into this folder: ``python tests/data/bad/make_corpus.py``.

Deterministic: the same onnx and NumPy versions write the same bytes, and
tests/test_bad_inputs.py checks that the committed files are what this script writes. What each
file should make the CLI say is in ``cases.toml`` beside it.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `tests` and `systolic` importable
    sys.path.insert(0, str(ROOT))

from systolic.spec.asm import assemble  # noqa: E402
from systolic.spec.isa import to_bytes  # noqa: E402
from tests.compiler.models import mlp_onnx  # noqa: E402

OPSET = 17
# The valid model the `run` cases feed bad arrays to: x [N, 1, 8, 8] -> probs [N, 4].
GOOD_SHAPE = (2, 1, 8, 8)


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> bytes:
    graph = helper.make_graph(nodes, "bad", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _weights(shape: tuple[int, ...], name: str, seed: int) -> onnx.TensorProto:
    array = np.random.default_rng(seed).normal(0, 0.3, shape).astype(np.float32)
    return numpy_helper.from_array(array, name)


def _mlp(*, opset: int = OPSET) -> onnx.ModelProto:
    model, _ = mlp_onnx(np.random.default_rng(8), hidden=(8, 6), classes=4, opset=opset)
    return model


def onnx_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    good = bytes(_mlp().SerializeToString())
    files["mlp.onnx"] = good
    files["empty.onnx"] = b""
    files["garbage.onnx"] = np.random.default_rng(1).bytes(200)
    files["truncated.onnx"] = good[: len(good) // 2]
    files["opset9.onnx"] = bytes(_mlp(opset=9).SerializeToString())
    files["opset30.onnx"] = bytes(_mlp(opset=30).SerializeToString())

    # Two different unsupported activations in place of the MLP's two ReLUs.
    model = _mlp()
    for node in model.graph.node:
        if node.name == "/relu1/Relu":
            node.op_type, node.name = "LeakyRelu", "/act1/LeakyRelu"
        elif node.name == "/relu2/Relu":
            node.op_type, node.name = "HardSigmoid", "/act2/HardSigmoid"
    files["unsupported_ops.onnx"] = bytes(model.SerializeToString())

    # A Conv fed by a 2-D input: the wrong rank for the op.
    files["wrong_rank.onnx"] = _model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="/conv/Conv", kernel_shape=[3, 3])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6, 6])],
        [_weights((4, 1, 3, 3), "w", 2)],
    )
    # A MaxPool fed by a 2-D input.
    files["wrong_rank_pool.onnx"] = _model(
        [
            helper.make_node("Gemm", ["x", "w"], ["h"], name="/fc/Gemm", transB=1),
            helper.make_node("MaxPool", ["h"], ["y"], name="/pool/MaxPool", kernel_shape=[2, 2]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [_weights((4, 32), "w", 3)],
    )
    # A Gemm whose weights expect 64 features, fed an input of 32.
    files["wrong_shape.onnx"] = _model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="/fc/Gemm", transB=1)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [_weights((4, 64), "w", 4), _weights((4,), "b", 5)],
    )
    # A model exported for batch 1 only, run on a batch of 2.
    files["fixed_batch.onnx"] = _model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm", transB=1)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [_weights((4, 32), "w", 7)],
    )
    # A node that reads a value nothing defines: onnx's checker rejects it.
    files["invalid_graph.onnx"] = _model(
        [helper.make_node("Relu", ["missing"], ["y"], name="/Relu")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32])],
        [],
    )
    # Inputs that are not float: token ids and strings.
    files["int64_input.onnx"] = _model(
        [
            helper.make_node("Cast", ["ids"], ["x"], name="/Cast", to=TensorProto.FLOAT),
            helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm", transB=1),
        ],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [_weights((4, 16), "w", 6)],
    )
    files["string_input.onnx"] = _model(
        [helper.make_node("Identity", ["text"], ["y"], name="/Identity")],
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.STRING, ["N"])],
        [],
    )
    # Two float inputs: the command line passes one calibration array.
    files["two_inputs.onnx"] = _model(
        [helper.make_node("Add", ["a", "b"], ["y"], name="/Add")],
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 8]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [],
    )
    return files


def _npy(array: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        np.save(path, array, allow_pickle=True)

    return write


def _npz(array: Any) -> bytes:
    """An .npz archive of one array, with a fixed timestamp (np.savez writes the time)."""
    member = io.BytesIO()
    np.save(member, array)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("x.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return out.getvalue()


def npy_files() -> dict[str, Callable[[Path], None] | bytes]:
    rng = np.random.default_rng(9)
    x = np.round(rng.uniform(0, 1, GOOD_SHAPE), 3).astype(np.float32)
    nan = x.copy()
    nan[0, 0, 3, 4] = np.nan
    inf = x.copy()
    inf[1, 0, 0, 0] = -np.inf
    buf = io.BytesIO()
    np.save(buf, x)
    truncated = buf.getvalue()[: len(buf.getvalue()) // 2]  # the header promises more data
    return {
        "input.npy": _npy(x),
        "input_wrong_shape.npy": _npy(x.reshape(2, 64)),
        "features.npy": _npy(np.round(rng.uniform(-1, 1, (2, 32)), 3).astype(np.float32)),
        "input_scalar.npy": _npy(np.float32(0.5)),
        "input_no_samples.npy": _npy(np.zeros((0, 1, 8, 8), np.float32)),
        "input_strings.npy": _npy(np.full(GOOD_SHAPE, "0.5")),
        "input_object.npy": _npy(np.array([1.0, "x", None], dtype=object)),
        "input_complex.npy": _npy(x.astype(np.complex64)),
        "input_nan.npy": _npy(nan),
        "input_inf.npy": _npy(inf),
        "input_text.npy": b"0.1, 0.2, 0.3\n",
        "input_empty.npy": b"",
        "input_truncated.npy": truncated,
        "input_archive.npz": _npz(x),
        "calibration_mismatch.npy": _npy(np.zeros((4, 32), np.float32)),
        "calibration_nan.npy": _npy(np.full(GOOD_SHAPE, np.nan, np.float32)),
    }


def config_files() -> dict[str, bytes]:
    texts = {
        "not_toml.toml": "rows = = 8\n",
        "unknown_key.toml": "rows = 8\ncolumns = 8\n",
        "table.toml": "[array]\nrows = 8\n",
        "rows_zero.toml": "rows = 0\n",
        "rows_too_big.toml": "rows = 4096\n",
        "bus_bytes_3.toml": "bus_bytes = 3\n",
        "acc_depth_small.toml": "cols = 4\nacc_depth = 16\n",
        "rows_string.toml": 'rows = "eight"\n',
        "rows_float.toml": "rows = 8.5\n",
        "rows_bool.toml": "rows = true\n",
        "unknown_preset.toml": 'preset = "huge"\nrows = 8\n',
        "preset_number.toml": "preset = 3\n",
        "unknown_dataflow.toml": 'dataflow = "os"\n',
        "sp_too_small.toml": 'preset = "tiny"\nsp_depth = 8\n',
    }
    files = {name: text.encode() for name, text in texts.items()}
    files["non_utf8.toml"] = b"rows = 8 # \xff\xfe\n"
    return files


def program_files() -> dict[str, bytes]:
    source = (ROOT / "examples" / "programs" / "matmul_relu.s").read_text(encoding="utf-8")
    good = to_bytes(assemble(source))
    halt = to_bytes(assemble("halt"))
    halt_reserved = int.from_bytes(halt, "little") | 1 << 127  # a reserved bit set
    return {
        "empty.bin": b"",
        "garbage.bin": np.random.default_rng(10).bytes(37),
        "garbage_aligned.bin": np.random.default_rng(11).bytes(48),
        "truncated.bin": good[: 3 * 16 + 5],
        "illegal_opcode.bin": halt + (13).to_bytes(16, "little"),
        "zero_word.bin": bytes(16),
        "reserved_bits.bin": halt + halt_reserved.to_bytes(16, "little"),
    }


def asm_files() -> dict[str, bytes]:
    texts = {
        "field_too_wide.s": "load target=sp dst=0 len=1024 n_inner=1 addr=0\nhalt\n",
        "field_negative.s": "halt\nmatmul src=-1 dst=0 n=1\n",
        "word_too_wide.s": ".word 0x1_0000_0000_0000_0000_0000_0000_0000_0000\n",
        "unknown_mnemonic.s": "# multiply\nmul src=0 dst=0 n=1\n",
        "unknown_field.s": "matmul src=0 dst=0 n=1 rows=4\n",
        "missing_field.s": "load target=sp dst=0 len=4 addr=0x100\n",
        "bad_integer.s": "matmul src=zero dst=0 n=1\n",
        "bad_enum.s": "load target=dram dst=0 len=4 n_inner=1 addr=0\n",
        "duplicate_field.s": "matmul src=0 dst=0 n=1 n=2\n",
        "unknown_flag.s": "halt wait\n",
        "flag_not_allowed.s": "load target=sp dst=0 len=4 n_inner=1 addr=0 pop_prev\n",
    }
    files = {name: text.encode() for name, text in texts.items()}
    files["non_utf8.s"] = b"halt\n\xff\xfe garbage\n"
    return files


def write_corpus(out: Path) -> list[Path]:
    """Write every corpus file into ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, item in {
        **onnx_files(),
        **npy_files(),
        **config_files(),
        **program_files(),
        **asm_files(),
    }.items():
        path = out / name
        if isinstance(item, bytes):
            path.write_bytes(item)
        else:
            item(path)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_corpus(HERE):
        print(p.relative_to(ROOT))
