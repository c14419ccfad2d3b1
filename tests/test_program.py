"""The Program format: tensor descriptors, save/load, and corruption detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from systolic.spec.asm import assemble
from systolic.spec.config import PRESETS
from systolic.spec.errors import ProgramError
from systolic.spec.program import Program, TensorDesc

HALT = assemble("halt")[0]


def _program() -> Program:
    # A logical NCHW [1, 2, 3, 3] input stored as NHWC with one pixel of zero padding around it.
    x = TensorDesc(
        name="x",
        shape=(1, 2, 3, 3),
        dtype="int8",
        scale=0.05,
        offset=64 + 5 * 2 + 2,
        strides=(0, 1, 5 * 2, 2),
    )
    y = TensorDesc(name="y", shape=(2, 4), dtype="int32", scale=1e-4, offset=200, strides=(16, 4))
    return Program(
        config=PRESETS["tiny"],
        instructions=(HALT,),
        memory=bytes(256),
        inputs=(x,),
        outputs=(y,),
        metadata={"source": "test"},
    )


def test_strided_tensor_views_write_and_read() -> None:
    p = _program()
    mem = bytearray(p.memory)
    values = np.arange(18, dtype=np.int8).reshape(1, 2, 3, 3) - 9
    p.inputs[0].write(mem, values)
    assert np.array_equal(p.inputs[0].read(mem), values)
    # NHWC with a padded border: pixel (h=0, w=0) sits after one padded row and one pixel.
    assert mem[64 + 10 + 2 : 64 + 10 + 4] == bytes(
        np.array([values[0, 0, 0, 0], values[0, 1, 0, 0]], np.int8)
    )
    assert mem[64 : 64 + 10] == bytes(10)  # top padding untouched
    out = np.array([[1, -2, 3, -4], [2**31 - 1, -(2**31), 0, 7]], dtype=np.int32)
    p.outputs[0].write(mem, out)
    assert np.array_equal(p.outputs[0].read(bytes(mem)), out)


def test_write_checks_shape_and_range() -> None:
    p = _program()
    mem = bytearray(p.memory)
    with pytest.raises(
        ProgramError,
        match=r"tensor 'x': expected shape \(1, 2, 3, 3\), got "
        r"\(2, 3, 3\)",
    ):
        p.inputs[0].write(mem, np.zeros((2, 3, 3), np.int8))
    with pytest.raises(ProgramError, match="tensor 'x': values outside the int8 range"):
        p.inputs[0].write(mem, np.full((1, 2, 3, 3), 200))


def test_save_load_round_trip(tmp_path: Path) -> None:
    p = _program()
    p.save(tmp_path / "prog")
    q = Program.load(tmp_path / "prog")
    assert q == p
    assert (tmp_path / "prog" / "program.s").read_text() == "halt\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instructions": (1 << 128,)}, "instruction 0 is not a 128-bit word"),
        ({"memory": bytes(100)}, "tensor 'x' ends at byte"),
    ],
)
def test_program_validation(kwargs: dict[str, object], message: str) -> None:
    p = _program()
    fields = {
        "config": p.config,
        "instructions": p.instructions,
        "memory": p.memory,
        "inputs": p.inputs,
        "outputs": p.outputs,
        **kwargs,
    }
    with pytest.raises(ProgramError, match=message):
        Program(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float32"}, "tensor 't': dtype must be one of int8, int32, got 'float32'"),
        ({"strides": (1,)}, "tensor 't': shape (2, 2) and strides (1,) have different ranks"),
        ({"shape": (0, 2)}, "tensor 't': every dimension must be >= 1, got (0, 2)"),
        ({"scale": 0.0}, "tensor 't': scale must be a positive number, got 0.0"),
        ({"name": ""}, "tensor name must not be empty"),
    ],
)
def test_tensor_desc_validation(kwargs: dict[str, object], message: str) -> None:
    fields = {
        "name": "t",
        "shape": (2, 2),
        "dtype": "int8",
        "scale": 1.0,
        "offset": 0,
        "strides": (2, 1),
        **kwargs,
    }
    with pytest.raises(ProgramError) as e:
        TensorDesc(**fields)  # type: ignore[arg-type]
    assert str(e.value) == message


def test_duplicate_names_rejected() -> None:
    p = _program()
    with pytest.raises(ProgramError, match="tensor name 'x' is used more than once"):
        Program(
            config=p.config,
            instructions=(),
            memory=p.memory,
            inputs=(p.inputs[0],),
            outputs=(p.inputs[0],),
        )


def test_load_detects_corruption(tmp_path: Path) -> None:
    d = _program().save(tmp_path / "prog")
    (d / "memory.bin").write_bytes(bytes(255) + b"\x01")
    with pytest.raises(ProgramError, match=r"memory\.bin: contents do not match the manifest"):
        Program.load(d)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match="not a program directory"):
        Program.load(tmp_path)
    d = _program().save(tmp_path / "prog")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ProgramError, match="cannot read manifest"):
        Program.load(d)
    manifest = json.loads((_program().save(tmp_path / "p2") / "manifest.json").read_text())
    manifest["format_version"] = 99
    (tmp_path / "p2" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ProgramError, match="format_version 99 is not supported"):
        Program.load(tmp_path / "p2")
    manifest["format_version"] = 1
    manifest["config"]["rows"] = 0
    (tmp_path / "p2" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ProgramError, match="rows must be an integer"):
        Program.load(tmp_path / "p2")
