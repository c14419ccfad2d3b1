"""Fast decoding of instruction words into plain integers.

:func:`systolic.spec.isa.decode` builds enum members and a mapping proxy for every word (about
25 µs each); a GEMM program has tens of thousands of words, so the simulator decodes with shift
and mask tables precomputed from :data:`systolic.spec.isa.FORMATS` instead. Enumerated fields are
kept as their integer codes. The legality rules are those of ``spec.isa`` (the tests compare the
two decoders on random words); only the message of an illegal word is taken from ``spec.isa``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..spec.isa import ALLOWED_DEPS, DEP_FLAGS, FORMATS, Elem, LoadTarget, Opcode, StoreTarget, Unit

__all__ = ["EXEC_UNIT", "HALT", "LOAD_UNIT", "STORE_UNIT", "Op", "decode_op"]

LOAD_UNIT = Unit.LOAD.value
EXEC_UNIT = Unit.EXECUTE.value
STORE_UNIT = Unit.STORE.value
HALT = -1
"""Pseudo unit of ``halt``, which fetch executes."""

_DEP_BIT = {flag: 1 << i for i, flag in enumerate(DEP_FLAGS)}
_ALLOWED_MASK = {
    (HALT if unit is None else unit.value): sum(_DEP_BIT[f] for f in flags)
    for unit, flags in ALLOWED_DEPS.items()
}


@dataclass(frozen=True, slots=True)
class Op:
    """One legal instruction, decoded for the simulator.

    Parameters
    ----------
    name : str
        Mnemonic (``load``, ``matmul``, ...).
    opcode : int
        Opcode value.
    unit : int
        ``LOAD_UNIT``, ``EXEC_UNIT``, ``STORE_UNIT`` or ``HALT``.
    pop_prev, pop_next, push_prev, push_next : bool
        Dependency flags.
    v : mapping of str to int
        Every field by name; enumerated fields hold their integer codes.
    """

    name: str
    opcode: int
    unit: int
    pop_prev: bool
    pop_next: bool
    push_prev: bool
    push_next: bool
    v: Mapping[str, int]


# Per opcode: (name, unit or None for sync, used bits, fields as
# (name, offset, mask, sign bit or 0, legal enum codes or None, minimum or 0)).
_FieldSpec = tuple[str, int, int, int, frozenset[int] | None, int]
_TABLE: dict[int, tuple[str, int | None, int, tuple[_FieldSpec, ...]]] = {}
for _fmt in FORMATS:
    _specs: list[_FieldSpec] = []
    _off = 8
    for _f in _fmt.fields:
        _e = _f.enum
        _specs.append(
            (
                _f.name,
                _off,
                (1 << _f.width) - 1,
                1 << (_f.width - 1) if _f.signed else 0,
                None if _e is None else frozenset(int(m.value) for m in _e),
                _f.minimum or 0,
            )
        )
        _off += _f.width
    _unit = None if _fmt.opcode == Opcode.SYNC else (HALT if _fmt.unit is None else _fmt.unit.value)
    _TABLE[int(_fmt.opcode.value)] = (_fmt.name, _unit, _off, tuple(_specs))

_LOAD, _STORE = int(Opcode.LOAD.value), int(Opcode.STORE.value)
_I32 = int(Elem.I32.value)
_SP_TARGET = {_LOAD: int(LoadTarget.SP.value), _STORE: int(StoreTarget.SP.value)}
_CACHE: dict[int, Op | None] = {}


def decode_op(word: int) -> Op | None:
    """Decode a 128-bit word; ``None`` if :func:`systolic.spec.isa.decode` would reject it.

    Parameters
    ----------
    word : int
        The instruction word (0 <= word < 2**128).

    Returns
    -------
    Op or None
        The decoded instruction, or ``None`` for an illegal word.
    """
    try:
        return _CACHE[word]
    except KeyError:
        pass
    op = _decode(word)
    if len(_CACHE) < 1 << 16:  # programs repeat words (loops unrolled); bound the memory
        _CACHE[word] = op
    return op


def _decode(word: int) -> Op | None:
    opcode = word & 0xF
    entry = _TABLE.get(opcode)
    if entry is None:
        return None
    name, unit, used, specs = entry
    if word >> used:
        return None
    values: dict[str, int] = {}
    for fname, off, mask, sign, legal, minimum in specs:
        raw = word >> off & mask
        if legal is not None and raw not in legal:
            return None
        if sign and raw & sign:
            raw -= sign << 1
        if minimum and raw < minimum:
            return None
        values[fname] = raw
    if unit is None:
        unit = values["unit"]
    deps = word >> 4 & 0xF
    if deps & ~_ALLOWED_MASK[unit]:
        return None
    if opcode in _SP_TARGET and values["elem"] == _I32 and values["target"] == _SP_TARGET[opcode]:
        return None
    return Op(
        name,
        opcode,
        unit,
        bool(deps & 1),
        bool(deps & 2),
        bool(deps & 4),
        bool(deps & 8),
        MappingProxyType(values),
    )
