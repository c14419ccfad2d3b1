"""The ISA definition: layout sanity, encode/decode round trips, illegal words, docs/isa.md."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.spec.asm import assemble
from systolic.spec.config import AcceleratorConfig
from systolic.spec.errors import DecodeError, EncodeError
from systolic.spec.isa import (
    ALLOWED_DEPS,
    DEP_FLAGS,
    FORMATS,
    FORMATS_BY_NAME,
    INSTR_BITS,
    INSTR_LAYOUT,
    Elem,
    ErrorCode,
    Format,
    Instruction,
    LoadTarget,
    MatMode,
    Opcode,
    Unit,
    decode,
    decode_error_code,
    encode,
    render_markdown,
)

ROOT = Path(__file__).resolve().parents[1]


def test_docs_isa_md_is_current() -> None:
    doc = ROOT / "docs" / "isa.md"
    assert doc.read_text(encoding="utf-8") == render_markdown(), (
        "docs/isa.md is stale: run `make docs`"
    )


def test_opcodes_unique_and_zero_illegal() -> None:
    opcodes = [f.opcode for f in FORMATS]
    assert len(set(opcodes)) == len(opcodes)
    assert Opcode.ILLEGAL not in opcodes
    assert {f.opcode for f in FORMATS} | {Opcode.ILLEGAL} == set(Opcode)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_fields_do_not_overlap_and_fit(fmt: Format) -> None:
    layout = fmt.layout
    assert layout.size == INSTR_BITS
    spans = sorted((m.offset, m.offset + m.width, name) for name, m in layout)
    assert spans[0][:2] == (0, 4) and spans[0][2] == "opcode"
    assert spans[1][:2] == (4, 8) and spans[1][2] == "deps"
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        assert end == start, f"{fmt.name}: {a} and {b} overlap or leave a gap"
    assert spans[-1][1] == INSTR_BITS


def test_union_layout_is_one_word() -> None:
    assert INSTR_LAYOUT.size == INSTR_BITS
    for fmt in FORMATS:
        assert INSTR_LAYOUT[fmt.name].shape == fmt.layout


def test_fields_address_the_largest_config() -> None:
    big = AcceleratorConfig(rows=1023, cols=1023, sp_depth=65536, acc_depth=65536)
    for fmt in FORMATS:
        for f in fmt.fields:
            if f.name in ("dst", "src", "a", "b", "bias", "mult_row", "shift_row"):
                assert f.hi >= max(big.sp_depth, big.acc_depth) - 1, (fmt.name, f.name)
    assert FORMATS_BY_NAME["load"].field("len").hi >= big.lanes
    assert FORMATS_BY_NAME["store"].field("len").hi >= big.cols
    assert FORMATS_BY_NAME["preload"].field("rows").hi >= big.rows


def _field_strategy(f: Any) -> st.SearchStrategy[Any]:
    if f.enum is not None:
        return st.sampled_from(list(f.enum))
    return st.integers(f.lo, f.hi)


@st.composite
def instructions(draw: st.DrawFn, fmt: Format | None = None) -> Instruction:
    fmt = fmt or draw(st.sampled_from(FORMATS))
    values = {f.name: draw(_field_strategy(f)) for f in fmt.fields}
    if fmt.opcode in (Opcode.LOAD, Opcode.STORE) and values["target"].name == "SP":
        values["elem"] = Elem.I8
    unit = values["unit"] if fmt.opcode == Opcode.SYNC else fmt.unit
    allowed = sorted(ALLOWED_DEPS[unit])
    deps = draw(st.sets(st.sampled_from(allowed))) if allowed else set()
    return Instruction.make(fmt.name, deps=deps, **values)


@settings(max_examples=400)
@given(instructions())
def test_round_trip_binary_and_text(instr: Instruction) -> None:
    word = encode(instr)
    assert 0 <= word < 1 << INSTR_BITS
    assert decode(word) == instr
    assert assemble(str(instr)) == [word]
    assert decode_error_code(word) is ErrorCode.NONE


@settings(max_examples=200)
@given(instructions())
def test_encode_matches_amaranth_layout(instr: Instruction) -> None:
    """The RTL views words through the Amaranth layout; it must agree with encode()."""
    fmt = instr.format
    const = fmt.layout.const(
        {
            "opcode": fmt.opcode,
            "deps": {flag: int(flag in instr.deps) for flag in DEP_FLAGS},
            **dict(instr.values),
        }
    )
    assert const.as_value().value == encode(instr)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_format_round_trips_at_extremes(fmt: Format) -> None:
    for end in (0, -1):  # every field at its smallest, then at its largest value
        values = {f.name: list(f.enum)[end] if f.enum else (f.lo, f.hi)[end] for f in fmt.fields}
        if fmt.opcode in (Opcode.LOAD, Opcode.STORE):
            values["elem"] = Elem.I8
        instr = Instruction.make(fmt.name, **values)
        assert decode(encode(instr)) == instr


@pytest.mark.parametrize(
    ("word", "message", "code"),
    [
        (0, "illegal opcode 0", ErrorCode.ILLEGAL_OPCODE),
        (11, "illegal opcode 11", ErrorCode.ILLEGAL_OPCODE),
        (15, "illegal opcode 15", ErrorCode.ILLEGAL_OPCODE),
        (
            Opcode.HALT.value | 1 << 8,
            "halt: reserved bits [127:8] are not zero",
            ErrorCode.ILLEGAL_FIELD,
        ),
        (
            Opcode.HALT.value | 1 << 4,
            "halt: dependency flag pop_prev is not allowed for halt",
            ErrorCode.ILLEGAL_FIELD,
        ),
        (
            Opcode.SYNC.value | 3 << 8,
            "sync: field 'unit' has unassigned value 3",
            ErrorCode.ILLEGAL_FIELD,
        ),
        (
            Opcode.SYNC.value | 1 << 4,
            "sync: dependency flag pop_prev is not allowed for the load unit",
            ErrorCode.ILLEGAL_FIELD,
        ),
        (Opcode.PRELOAD.value, "preload: field 'rows' = 0 is below 1", ErrorCode.ILLEGAL_FIELD),
    ],
)
def test_illegal_words(word: int, message: str, code: ErrorCode) -> None:
    with pytest.raises(DecodeError) as e:
        decode(word)
    assert str(e.value) == message
    assert decode_error_code(word) is code


def test_illegal_enum_value_in_matmul() -> None:
    good = encode(Instruction.make("matmul", src=0, dst=0, n=1))
    mode = FORMATS_BY_NAME["matmul"].offset("mode")
    with pytest.raises(DecodeError, match="matmul: field 'mode' has unassigned value 3"):
        decode(good | 3 << mode)


def test_i32_into_scratchpad_is_illegal() -> None:
    with pytest.raises(EncodeError) as e:
        Instruction.make(
            "load", target=LoadTarget.SP, elem=Elem.I32, dst=0, len=1, n_inner=1, addr=0
        )
    assert str(e.value) == (
        "load: elem=i32 is not allowed with target=sp (scratchpad rows are int8)"
    )
    word = encode(
        Instruction.make(
            "load", target=LoadTarget.ACC, elem=Elem.I32, dst=0, len=1, n_inner=1, addr=0
        )
    )
    target = FORMATS_BY_NAME["load"].offset("target")
    with pytest.raises(DecodeError, match="elem=i32 is not allowed"):
        decode(word & ~(1 << target))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"name": "matmul", "src": 0, "dst": 65536, "n": 1},
            "matmul: field 'dst' = 65536 does not fit [0, 65535] (16-bit unsigned)",
        ),
        (
            {"name": "matmul", "src": 0, "dst": 0, "n": 0},
            "matmul: field 'n' = 0 does not fit [1, 65535] (16-bit unsigned)",
        ),
        (
            {"name": "vector", "op": "add", "dst": 0, "a": 0, "n": 1},
            "vector: field 'op' must be one of add, sub, mul, max, min, got 'add'",
        ),
        (
            {"name": "vector", "dst": 0, "a": 0, "n": 1, "imm": 40000},
            "vector: field 'op' is required",
        ),
        (
            {"name": "matmul", "src": 0, "dst": 0, "n": 1, "mode": MatMode.BIAS, "colour": 1},
            "matmul: unknown field 'colour'",
        ),
        (
            {"name": "matmul", "src": 0, "dst": 0, "n": 1.5},
            "matmul: field 'n' must be an integer, got 1.5",
        ),
        (
            {"name": "jump"},
            "unknown instruction 'jump'; expected one of load, store, cfg_quant, "
            "cfg_act, cfg_lut, preload, matmul, vector, sync, halt",
        ),
        (
            {
                "name": "load",
                "target": LoadTarget.SP,
                "dst": 0,
                "len": 1,
                "n_inner": 1,
                "addr": 0,
                "deps": {"pop_prev"},
            },
            "load: dependency flag pop_prev is not allowed for the load unit",
        ),
    ],
)
def test_encode_errors_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    with pytest.raises(EncodeError) as e:
        Instruction.make(name, **kwargs)
    assert str(e.value) == message


def test_signed_immediate() -> None:
    from systolic.spec.isa import VecOp

    instr = Instruction.make("vector", op=VecOp.MAX, dst=1, a=2, n=3, b_imm=1, imm=-32768)
    assert decode(encode(instr))["imm"] == -32768
    with pytest.raises(EncodeError, match=r"'imm' = 32768 does not fit \[-32768, 32767\]"):
        Instruction.make("vector", op=VecOp.MAX, dst=1, a=2, n=3, imm=32768)


def test_sync_unit_and_halt() -> None:
    s = Instruction.make("sync", unit=Unit.STORE, deps={"pop_prev"})
    assert s.unit is Unit.STORE
    h = Instruction.make("halt")
    with pytest.raises(ValueError, match="halt is executed by instruction fetch"):
        _ = h.unit
