"""Text assembly for the ISA: an assembler and a disassembler that round-trip.

Syntax, one instruction per line::

    load    target=sp dst=0 len=8 n_inner=8 addr=0x100 stride_inner=8 push_next
    matmul  src=0 dst=0 n=8 mode=overwrite swap=1 pop_prev   # comment
    .word   0x0000_0000_0000_0000_0000_0000_0000_000a        ; a raw 128-bit word
    halt

Fields are ``name=value`` in any order (commas between them are allowed); bare words are
dependency flags. Omitted fields take the defaults listed in ``docs/isa.md``. The disassembler
prints every field, so ``assemble(disassemble(words)) == words`` for every legal program.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import AsmError, DecodeError, EncodeError, SystolicError
from .isa import DEP_FLAGS, FORMATS_BY_NAME, INSTR_BITS, INSTR_BYTES, Instruction, decode, encode

__all__ = ["assemble", "disassemble", "parse_int"]

_COMMENT = re.compile(r"[#;].*")


def parse_int(text: str) -> int:
    """Parse a decimal, ``0x`` hex or ``0b`` binary integer (``_`` separators allowed)."""
    return int(text, 0)


def _parse_value(mnemonic: str, key: str, text: str) -> Any:
    fmt = FORMATS_BY_NAME[mnemonic]
    try:
        f = fmt.field(key)
    except KeyError:
        names = ", ".join(x.name for x in fmt.fields) or "none"
        raise AsmError(f"{mnemonic} has no field {key!r} (fields: {names})") from None
    if f.enum is not None:
        by_name = {m.name.lower(): m for m in f.enum}
        if text.lower() not in by_name:
            raise AsmError(
                f"{mnemonic}: field {key!r} must be one of {', '.join(by_name)}, got {text!r}"
            )
        return by_name[text.lower()]
    try:
        return parse_int(text)
    except ValueError:
        raise AsmError(f"{mnemonic}: field {key!r} needs an integer, got {text!r}") from None


def _assemble_line(line: str) -> int | None:
    tokens = _COMMENT.sub("", line).replace(",", " ").split()
    if not tokens:
        return None
    head, rest = tokens[0].lower(), tokens[1:]
    if head == ".word":
        if len(rest) != 1:
            raise AsmError(".word takes exactly one value")
        try:
            word = parse_int(rest[0])
        except ValueError:
            raise AsmError(f".word needs an integer, got {rest[0]!r}") from None
        if not 0 <= word < 1 << INSTR_BITS:
            raise AsmError(f".word value {rest[0]} does not fit {INSTR_BITS} bits")
        return word
    if head not in FORMATS_BY_NAME:
        raise AsmError(
            f"unknown mnemonic {tokens[0]!r}; expected one of {', '.join(FORMATS_BY_NAME)} or .word"
        )
    values: dict[str, Any] = {}
    deps: set[str] = set()
    for tok in rest:
        if "=" in tok:
            key, _, text = tok.partition("=")
            if key in values:
                raise AsmError(f"{head}: field {key!r} given twice")
            values[key] = _parse_value(head, key, text)
        elif tok in DEP_FLAGS:
            deps.add(tok)
        else:
            raise AsmError(
                f"{head}: expected field=value or one of {', '.join(DEP_FLAGS)}, got {tok!r}"
            )
    try:
        return encode(Instruction.make(head, deps=deps, **values))
    except EncodeError as e:
        raise AsmError(str(e)) from None


def assemble(text: str, *, name: str = "<asm>") -> list[int]:
    """Assemble source text into 128-bit instruction words.

    Raises
    ------
    AsmError
        For the first bad line, as ``name:line: reason``.
    """
    words = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        try:
            word = _assemble_line(line)
        except AsmError as e:
            raise AsmError(f"{name}:{lineno}: {e}") from None
        if word is not None:
            words.append(word)
    return words


def disassemble(words: Iterable[int], *, name: str = "program") -> str:
    """Disassemble instruction words into assembly text, one line per instruction.

    Raises
    ------
    DecodeError
        For the first illegal word, naming its index and byte offset.
    """
    lines = []
    for index, word in enumerate(words):
        try:
            lines.append(str(decode(word)))
        except SystolicError as e:
            raise DecodeError(
                f"{name}: instruction {index} (byte offset {index * INSTR_BYTES}): {e}"
            ) from None
    return "".join(line + "\n" for line in lines)


def disassemble_raw(words: Iterable[int]) -> str:
    """Like :func:`disassemble`, but write illegal words as ``.word`` lines instead of failing."""
    lines = []
    for word in words:
        try:
            lines.append(str(decode(word)))
        except DecodeError as e:
            lines.append(f".word     {word:#034x}  # illegal: {e}")
    return "".join(line + "\n" for line in lines)
