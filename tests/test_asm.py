"""Assembler and disassembler: syntax, errors with file:line, and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from systolic.spec.asm import assemble, disassemble, disassemble_raw
from systolic.spec.errors import AsmError, DecodeError
from systolic.spec.isa import FORMATS, Instruction, decode, encode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "programs").glob("*.s"))


def test_every_class_round_trips_through_text() -> None:
    """One line per instruction class, with defaults omitted, survives asm -> disasm -> asm."""
    source = """
        load target=acc elem=i32 dst=3 len=4 n_inner=2 n_outer=3 addr=0x1_0000 \
stride_inner=16 stride_outer=64 push_next
        store target=sp src=1 len=8 n_inner=4 addr=12 stride_inner=1 pop_prev push_prev
        cfg_quant mult_row=9, shift_row=10
        cfg_act mode=lut slot=1
        cfg_lut slot=1 src=100
        preload src=4 rows=3 cols=2 pop_prev
        matmul src=0 dst=0 n=4 mode=bias bias=8 swap=1 push_next push_prev pop_next
        vector op=mul dst=1 a=2 b=3 n=4 dst_stride=0 a_stride=2 b_stride=0 shift=7
        vector op=max dst=1 a=2 n=4 b_imm=1 imm=-5
        sync unit=execute pop_next push_prev
        halt
    """.replace("\\\n", "")
    words = assemble(source)
    assert [decode(w).format.name for w in words] == [
        "load",
        "store",
        "cfg_quant",
        "cfg_act",
        "cfg_lut",
        "preload",
        "matmul",
        "vector",
        "vector",
        "sync",
        "halt",
    ]
    assert {decode(w).format.name for w in words} == {f.name for f in FORMATS}
    text = disassemble(words)
    assert assemble(text) == words
    assert disassemble(assemble(text)) == text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_programs_assemble_and_round_trip(path: Path) -> None:
    words = assemble(path.read_text(), name=path.name)
    assert words
    assert assemble(disassemble(words)) == words


def test_comments_case_and_number_forms() -> None:
    words = assemble("""
        ; full-line comment
        MATMUL src=0b101 dst=0x10 n=1_000 mode=ACCUMULATE   # trailing comment
    """)
    instr = decode(words[0])
    assert (instr["src"], instr["dst"], instr["n"], instr["mode"].name) == (
        5,
        16,
        1000,
        "ACCUMULATE",
    )


def test_word_directive() -> None:
    halt = encode(Instruction.make("halt"))
    assert assemble(f".word {halt:#x}\n.word 0") == [halt, 0]
    assert disassemble_raw([halt, 0]).splitlines()[1].startswith(".word")
    assert assemble(disassemble_raw([halt, 0, 12])) == [halt, 0, 12]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "jump 4",
            "prog.s:2: unknown mnemonic 'jump'; expected one of load, store, cfg_quant, "
            "cfg_act, cfg_lut, preload, matmul, vector, sync, halt or .word",
        ),
        ("matmul src=0 dst=0", "prog.s:2: matmul: field 'n' is required"),
        ("matmul src=0 dst=0 n=1 n=2", "prog.s:2: matmul: field 'n' given twice"),
        ("matmul src=0 dst=0 n=x", "prog.s:2: matmul: field 'n' needs an integer, got 'x'"),
        (
            "matmul src=0 dst=0 n=1 size=3",
            "prog.s:2: matmul has no field 'size' (fields: src, dst, n, mode, bias, swap)",
        ),
        (
            "matmul src=0 dst=0 n=1 mode=sum",
            "prog.s:2: matmul: field 'mode' must be one of overwrite, accumulate, bias, got 'sum'",
        ),
        (
            "matmul src=0 dst=0 n=70000",
            "prog.s:2: matmul: field 'n' = 70000 does not fit [1, 65535] (16-bit unsigned)",
        ),
        (
            "matmul src=0 dst=0 n=1 wait",
            "prog.s:2: matmul: expected field=value or one of pop_prev, pop_next, push_prev, "
            "push_next, got 'wait'",
        ),
        (
            "load target=sp dst=0 len=1 n_inner=1 addr=0 pop_prev",
            "prog.s:2: load: dependency flag pop_prev is not allowed for the load unit",
        ),
        (".word 1 2", "prog.s:2: .word takes exactly one value"),
        (".word 0x1" + "0" * 32, "prog.s:2: .word value 0x1" + "0" * 32 + " does not fit 128 bits"),
        ("halt now=1", "prog.s:2: halt has no field 'now' (fields: none)"),
    ],
)
def test_errors_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(AsmError) as e:
        assemble(f"halt\n{line}\n", name="prog.s")
    assert str(e.value) == message


def test_disassemble_names_the_bad_word() -> None:
    halt = encode(Instruction.make("halt"))
    with pytest.raises(DecodeError) as e:
        disassemble([halt, halt, 13], name="p.bin")
    assert str(e.value) == "p.bin: instruction 2 (byte offset 32): illegal opcode 13"
