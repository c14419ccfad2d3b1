"""The instruction set of the systolic accelerator, defined once.

Every instruction is one 128-bit word. Bits ``[3:0]`` hold the opcode and bits ``[7:4]`` the
four dependency-token flags; the rest is laid out per instruction format. The binary format does
not depend on the array size: limits that depend on an :class:`AcceleratorConfig` (lanes,
memory depths) are checked when the machine decodes an instruction (docs/timing.md), not when
it is encoded.

This module is the single source of the encoding. The RTL views an instruction word as
``Signal(INSTR_LAYOUT)``; the simulator and the disassembler call :func:`decode`; the assembler
calls :func:`encode`; ``docs/isa.md`` is rendered by :func:`render_markdown`.

Units and dependency tokens
---------------------------
Instructions are dispatched in program order to three units that run concurrently: ``load``
(memory to scratchpad/accumulator), ``execute`` (weight preload, matmul, vector ops) and
``store`` (accumulator to memory/scratchpad, and the store path's configuration). The units are
ordered load < execute < store. Four token counters connect neighbours: load→execute,
execute→load, execute→store and store→execute. An instruction with ``pop_prev``/``pop_next``
waits until the counter from its previous/next unit is non-zero and decrements it before it
starts; one with ``push_prev``/``push_next`` increments the counter towards its previous/next
unit when it has finished. This is the decoupled access-execute scheme of VTA.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from amaranth.hdl import Shape, signed
from amaranth.lib import data, enum

from .errors import DecodeError, EncodeError

__all__ = [
    "ALLOWED_DEPS",
    "DEP_FLAGS",
    "FORMATS",
    "FORMATS_BY_OPCODE",
    "INSTR_BITS",
    "INSTR_BYTES",
    "INSTR_LAYOUT",
    "ActMode",
    "Elem",
    "ErrorCode",
    "Field",
    "Format",
    "Instruction",
    "LoadTarget",
    "MatMode",
    "Opcode",
    "StoreTarget",
    "Unit",
    "VecOp",
    "decode",
    "encode",
    "render_markdown",
]

INSTR_BITS = 128
INSTR_BYTES = INSTR_BITS // 8


class Opcode(enum.Enum, shape=4):
    """Instruction opcodes. Opcode 0 is illegal so that zeroed memory traps."""

    ILLEGAL = 0
    LOAD = 1
    STORE = 2
    CFG_QUANT = 3
    CFG_ACT = 4
    CFG_LUT = 5
    PRELOAD = 6
    MATMUL = 7
    VECTOR = 8
    SYNC = 9
    HALT = 10


class Unit(enum.Enum, shape=2):
    """The unit that executes an instruction."""

    LOAD = 0
    EXECUTE = 1
    STORE = 2


class LoadTarget(enum.Enum, shape=1):
    """Destination memory of a ``load``."""

    SP = 0
    ACC = 1


class StoreTarget(enum.Enum, shape=1):
    """Destination of a ``store``."""

    DRAM = 0
    SP = 1


class Elem(enum.Enum, shape=1):
    """Element type in external memory: int8 or int32."""

    I8 = 0
    I32 = 1


class MatMode(enum.Enum, shape=2):
    """How a ``matmul`` writes its partial sums into the accumulator."""

    OVERWRITE = 0
    ACCUMULATE = 1
    BIAS = 2


class VecOp(enum.Enum, shape=3):
    """Lane-wise operation of a ``vector`` instruction."""

    ADD = 0
    SUB = 1
    MUL = 2
    MAX = 3
    MIN = 4


class ActMode(enum.Enum, shape=2):
    """Activation applied by ``store`` after requantisation and saturation to int8."""

    NONE = 0
    CLAMP = 1
    LUT = 2


class ErrorCode(enum.Enum, shape=4):
    """Why the machine stopped with an error. The simulator and the RTL report the same code."""

    NONE = 0
    ILLEGAL_OPCODE = 1
    ILLEGAL_FIELD = 2
    SP_RANGE = 3
    ACC_RANGE = 4
    DRAM_RANGE = 5
    TOKEN_OVERFLOW = 6
    DEADLOCK = 7


ERROR_DOCS: Mapping[ErrorCode, str] = MappingProxyType(
    {
        ErrorCode.NONE: "no error; the machine halted normally",
        ErrorCode.ILLEGAL_OPCODE: "the opcode is 0 or unassigned, or names an instruction the "
        "accelerator is built without (`vector` without vector_unit, `cfg_lut` without "
        "act_lut; also: fetch ran past the program into zeroed memory)",
        ErrorCode.ILLEGAL_FIELD: "a reserved bit is set, an enumerated field has an unassigned "
        "value (or `cfg_act mode=lut` without act_lut), a count is 0, a dependency flag is "
        "not allowed for the unit, an element type "
        "does not fit the target, or a lane/row count exceeds the array",
        ErrorCode.SP_RANGE: "a scratchpad row outside [0, sp_depth)",
        ErrorCode.ACC_RANGE: "an accumulator row outside [0, acc_depth)",
        ErrorCode.DRAM_RANGE: "an external-memory byte outside [0, dram_size)",
        ErrorCode.TOKEN_OVERFLOW: "a push to a token counter that already holds token_depth tokens",
        ErrorCode.DEADLOCK: "every busy unit waits for a token that no queued or running "
        "instruction can push",
    }
)

DEP_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")

_DEPS_LAYOUT = data.StructLayout({name: 1 for name in DEP_FLAGS})
_HEADER_FIELDS: dict[str, Any] = {"opcode": Opcode, "deps": _DEPS_LAYOUT}
_HEADER_BITS = 8

# Dependency flags that each unit may use: a unit has no "prev" (load) or "next" (store)
# neighbour, and halt carries no tokens.
ALLOWED_DEPS: Mapping[Unit | None, frozenset[str]] = MappingProxyType(
    {
        Unit.LOAD: frozenset({"pop_next", "push_next"}),
        Unit.EXECUTE: frozenset(DEP_FLAGS),
        Unit.STORE: frozenset({"pop_prev", "push_prev"}),
        None: frozenset(),
    }
)


@dataclass(frozen=True)
class Field:
    """One named field of an instruction format.

    Parameters
    ----------
    name : str
        Field name, as used in assembly (``name=value``) and in the RTL layout.
    shape : int or Amaranth shape or enum class
        Width in bits (unsigned), ``signed(n)``, or an :class:`amaranth.lib.enum.Enum` subclass.
    doc : str
        One line for ``docs/isa.md``.
    minimum : int
        Smallest legal value (counts are at least 1); decode rejects smaller values.
    default : int or enum member, optional
        Value used by the assembler when the field is omitted; ``None`` makes it required.
    """

    name: str
    shape: Any
    doc: str
    minimum: int | None = None
    default: Any = None
    hex: bool = False

    @functools.cached_property
    def enum(self) -> type[enum.Enum] | None:
        """The field's enum class, or ``None`` for an integer field."""
        if isinstance(self.shape, type) and issubclass(self.shape, enum.Enum):
            return self.shape
        return None

    @functools.cached_property
    def width(self) -> int:
        width: int = Shape.cast(self.shape).width
        return width

    @functools.cached_property
    def signed(self) -> bool:
        return self.enum is None and Shape.cast(self.shape).signed

    @functools.cached_property
    def lo(self) -> int:
        """Smallest value that fits the field (and is legal)."""
        if self.minimum is not None:
            return self.minimum
        return -(1 << (self.width - 1)) if self.signed else 0

    @functools.cached_property
    def hi(self) -> int:
        """Largest value that fits the field."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


@dataclass(frozen=True)
class Format:
    """One instruction: its opcode, unit, documentation and fields after the 8-bit header."""

    name: str
    opcode: Opcode
    unit: Unit | None
    doc: str
    fields: tuple[Field, ...]

    @property
    def allowed_deps(self) -> frozenset[str]:
        return ALLOWED_DEPS[self.unit]

    @property
    def used_bits(self) -> int:
        return _HEADER_BITS + sum(f.width for f in self.fields)

    @property
    def layout(self) -> data.StructLayout:
        """Amaranth layout of the whole 128-bit word, reserved bits included."""
        members: dict[str, Any] = dict(_HEADER_FIELDS)
        members.update({f.name: f.shape for f in self.fields})
        if self.used_bits < INSTR_BITS:
            members["reserved"] = INSTR_BITS - self.used_bits
        return data.StructLayout(members)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def offset(self, name: str) -> int:
        """Bit offset of a field in the instruction word."""
        return int(self.layout[name].offset)


def _count(name: str, bits: int, doc: str, default: int | None = None) -> Field:
    return Field(name, bits, doc, minimum=1, default=default)


_ROW = 16  # row addresses into the scratchpad and accumulator: up to 65,536 rows
_LANES = 10  # lane counts: arrays up to 1,023 rows or columns
_COUNT = 10  # rows moved per inner/outer loop of a transfer
_STRIDE = 20  # transfer strides: up to 1 MiB between rows

FORMATS: tuple[Format, ...] = (
    Format(
        "load",
        Opcode.LOAD,
        Unit.LOAD,
        "Copy a 2-D strided block of rows from external memory into consecutive scratchpad or "
        "accumulator rows. Row r = o*n_inner + i (o < n_outer, i < n_inner) reads `len` "
        "elements at byte `addr + o*stride_outer + i*stride_inner` into row `dst + r`; lanes "
        "at and above `len` are zeroed. A stride of 0 repeats a row (broadcast).",
        (
            Field(
                "target", LoadTarget, "destination memory: `sp` (int8 rows) or `acc` (int32 rows)"
            ),
            Field(
                "elem",
                Elem,
                "element type in memory: `i8` (sign-extended into acc) or `i32` (acc only)",
                default=Elem.I8,
            ),
            Field("dst", _ROW, "first destination row"),
            _count("len", _LANES, "elements per row; at most the target's lanes"),
            _count("n_inner", _COUNT, "rows per inner loop"),
            _count("n_outer", _COUNT, "inner loops", default=1),
            Field("addr", 32, "external-memory byte address of the first element", hex=True),
            Field("stride_inner", _STRIDE, "bytes between rows of the inner loop", default=0),
            Field("stride_outer", _STRIDE, "bytes between inner loops", default=0),
        ),
    ),
    Format(
        "store",
        Opcode.STORE,
        Unit.STORE,
        "Copy consecutive accumulator rows out through the store path. Row r = o*n_inner + i "
        "takes accumulator row `src + r`; with `elem=i8` each lane is requantised with the "
        "per-lane multiplier and shift set by `cfg_quant`, saturated to int8 and passed "
        "through the activation set by `cfg_act`; with `elem=i32` the raw int32 is written "
        "(DRAM only). The first `len` lanes go to byte `addr + o*stride_outer + "
        "i*stride_inner` (target `dram`) or to scratchpad row `addr + o*stride_outer + "
        "i*stride_inner` with the other lanes zeroed (target `sp`).",
        (
            Field("target", StoreTarget, "destination: `dram` or `sp`"),
            Field(
                "elem",
                Elem,
                "`i8`: requantised and activated; `i32`: raw (dram only)",
                default=Elem.I8,
            ),
            Field("src", _ROW, "first accumulator row"),
            _count("len", _LANES, "lanes written per row; at most cols"),
            _count("n_inner", _COUNT, "rows per inner loop"),
            _count("n_outer", _COUNT, "inner loops", default=1),
            Field("addr", 32, "external-memory byte address, or first scratchpad row", hex=True),
            Field(
                "stride_inner",
                _STRIDE,
                "bytes (or sp rows) between rows of the inner loop",
                default=0,
            ),
            Field("stride_outer", _STRIDE, "bytes (or sp rows) between inner loops", default=0),
        ),
    ),
    Format(
        "cfg_quant",
        Opcode.CFG_QUANT,
        Unit.STORE,
        "Set the store path's per-lane requantisation: lane j's multiplier is lane j of "
        "accumulator row `mult_row` (int32) and its right shift is bits [5:0] of lane j of "
        "accumulator row `shift_row`.",
        (
            Field("mult_row", _ROW, "accumulator row holding the int32 multipliers"),
            Field("shift_row", _ROW, "accumulator row holding the shifts (0..63)"),
        ),
    ),
    Format(
        "cfg_act",
        Opcode.CFG_ACT,
        Unit.STORE,
        "Set the store path's activation: `none`; `clamp` to [lo, hi] (ReLU is lo=0, hi=127); "
        "or `lut`: the int8 result q becomes entry q+128 of LUT `slot`.",
        (
            Field("mode", ActMode, "activation after saturation"),
            Field("slot", 1, "LUT slot used by mode `lut`", default=0),
            Field("lo", signed(8), "lower clamp bound", default=-128),
            Field("hi", signed(8), "upper clamp bound", default=127),
        ),
    ),
    Format(
        "cfg_lut",
        Opcode.CFG_LUT,
        Unit.STORE,
        "Fill LUT `slot` (256 int8 entries) from ceil(256/cols) accumulator rows: entry e is "
        "bits [7:0] of lane e mod cols of row `src + e div cols`.",
        (
            Field("slot", 1, "LUT slot to fill"),
            Field("src", _ROW, "first accumulator row"),
        ),
    ),
    Format(
        "preload",
        Opcode.PRELOAD,
        Unit.EXECUTE,
        "Shift a weight tile into the array's shadow weight registers: PE (i, j) gets lane j "
        "of scratchpad row `src + i` for i < `rows` and j < `cols`, and 0 elsewhere. The "
        "shadow tile becomes active at the next `matmul` with `swap=1`.",
        (
            Field("src", _ROW, "first scratchpad row (weight row k of the tile)"),
            _count("rows", _LANES, "weight rows loaded; at most the array's rows"),
            _count("cols", _LANES, "weight columns loaded; at most the array's columns"),
        ),
    ),
    Format(
        "matmul",
        Opcode.MATMUL,
        Unit.EXECUTE,
        "Stream `n` scratchpad rows through the array: for i < n, with x = lanes [0, rows) of "
        "scratchpad row `src + i` and W the active weight tile, p = x·W (cols int32 lanes) "
        "goes to accumulator row `dst + i` as `overwrite` (acc = p), `accumulate` (acc += p) "
        "or `bias` (acc = p + accumulator row `bias`).",
        (
            Field("src", _ROW, "first scratchpad row"),
            Field("dst", _ROW, "first accumulator row"),
            _count("n", 16, "rows streamed"),
            Field("mode", MatMode, "how the partial sums are written", default=MatMode.OVERWRITE),
            Field("bias", _ROW, "accumulator row added in mode `bias`", default=0),
            Field("swap", 1, "1: make the preloaded shadow weights active first", default=0),
        ),
    ),
    Format(
        "vector",
        Opcode.VECTOR,
        Unit.EXECUTE,
        "Lane-wise arithmetic on accumulator rows, row by row in order (a row may read what an "
        "earlier row of the same instruction wrote): for i < n, "
        "acc[dst + i*dst_stride] = round_shift(op(a, b), shift) with "
        "a = acc[a + i*a_stride] and b = acc[b + i*b_stride], or b = imm in every lane when "
        "b_imm=1. `mul` uses bits [15:0] of b as a signed int16. round_shift(v, s) = "
        "(v + 2^(s-1)) >> s for s > 0 (round half up), v for s = 0; results wrap to int32.",
        (
            Field("op", VecOp, "`add`, `sub`, `mul`, `max` or `min`"),
            Field("dst", _ROW, "first destination row"),
            Field("a", _ROW, "first row of operand a"),
            Field("b", _ROW, "first row of operand b (ignored when b_imm=1)", default=0),
            _count("n", 16, "rows"),
            Field("dst_stride", 8, "row step of dst", default=1),
            Field("a_stride", 8, "row step of a", default=1),
            Field("b_stride", 8, "row step of b", default=1),
            Field("b_imm", 1, "1: operand b is `imm` in every lane", default=0),
            Field("imm", signed(16), "immediate operand", default=0),
            Field("shift", 6, "rounding right shift of the result", default=0),
        ),
    ),
    Format(
        "sync",
        Opcode.SYNC,
        None,
        "Do nothing on unit `unit` except wait for and push dependency tokens.",
        (Field("unit", Unit, "`load`, `execute` or `store`"),),
    ),
    Format(
        "halt",
        Opcode.HALT,
        None,
        "Stop fetching. The machine is done when every unit has drained its queue.",
        (),
    ),
)

FORMATS_BY_OPCODE: Mapping[Opcode, Format] = MappingProxyType({f.opcode: f for f in FORMATS})
FORMATS_BY_NAME: Mapping[str, Format] = MappingProxyType({f.name: f for f in FORMATS})

INSTR_LAYOUT = data.UnionLayout(
    {"header": data.StructLayout(_HEADER_FIELDS), **{f.name: f.layout for f in FORMATS}}
)
"""Layout of one instruction word for the RTL: ``Signal(INSTR_LAYOUT).matmul.dst`` etc."""


@dataclass(frozen=True)
class Instruction:
    """A decoded instruction: its format, its field values and its dependency flags.

    Enumerated fields hold enum members; integer fields hold Python ints (signed fields are
    sign-extended). Construct with :meth:`make` to validate, or get one from :func:`decode`.
    """

    format: Format
    values: Mapping[str, Any]
    deps: frozenset[str] = frozenset()

    @classmethod
    def make(
        cls, name: str, *, deps: frozenset[str] | set[str] = frozenset(), **values: Any
    ) -> Instruction:
        """Build and validate an instruction; omitted fields take their defaults."""
        try:
            fmt = FORMATS_BY_NAME[name]
        except KeyError:
            raise EncodeError(
                f"unknown instruction {name!r}; expected one of {', '.join(FORMATS_BY_NAME)}"
            ) from None
        full: dict[str, Any] = {}
        for f in fmt.fields:
            if f.name in values:
                full[f.name] = values.pop(f.name)
            elif f.default is not None:
                full[f.name] = f.default
            else:
                raise EncodeError(f"{name}: field {f.name!r} is required")
        if values:
            raise EncodeError(f"{name}: unknown field {sorted(values)[0]!r}")
        instr = cls(fmt, MappingProxyType(full), frozenset(deps))
        encode(instr)  # validates every field
        return instr

    @property
    def opcode(self) -> Opcode:
        return self.format.opcode

    @property
    def unit(self) -> Unit:
        """The unit that executes this instruction (``sync`` names it; ``halt`` is fetch's)."""
        if self.format.unit is not None:
            return self.format.unit
        if self.format.opcode == Opcode.SYNC:
            unit: Unit = self.values["unit"]
            return unit
        raise ValueError("halt is executed by instruction fetch, not by a unit")

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __str__(self) -> str:
        """The instruction in assembly syntax, every field spelled out (the disassembly)."""
        parts = [f"{self.format.name:<9}"]
        for f in self.format.fields:
            v = self.values[f.name]
            if f.enum is not None:
                parts.append(f"{f.name}={v.name.lower()}")
            elif f.hex:
                parts.append(f"{f.name}={v:#x}")
            else:
                parts.append(f"{f.name}={v}")
        parts += [flag for flag in DEP_FLAGS if flag in self.deps]
        return " ".join(parts).rstrip()

    def __repr__(self) -> str:
        return f"Instruction({str(self).strip()!r})"


def _field_bits(fmt: Format, f: Field, value: Any) -> int:
    e = f.enum
    if e is not None:
        if isinstance(value, e):
            return int(value.value)
        raise EncodeError(
            f"{fmt.name}: field {f.name!r} must be one of "
            f"{', '.join(m.name.lower() for m in e)}, got {value!r}"
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{fmt.name}: field {f.name!r} must be an integer, got {value!r}")
    if not f.lo <= value <= f.hi:
        raise EncodeError(
            f"{fmt.name}: field {f.name!r} = {value} does not fit "
            f"[{f.lo}, {f.hi}] ({f.width}-bit {'signed' if f.signed else 'unsigned'})"
        )
    return value & ((1 << f.width) - 1)


def _check_semantics(
    fmt: Format, values: Mapping[str, Any], deps: frozenset[str], exc: type[Exception]
) -> None:
    """Config-independent legality rules shared by encode and decode."""
    unit: Unit | None = values["unit"] if fmt.opcode == Opcode.SYNC else fmt.unit
    bad = sorted(deps - ALLOWED_DEPS[unit])
    if bad:
        who = "halt" if unit is None else f"the {unit.name.lower()} unit"
        raise exc(f"{fmt.name}: dependency flag {bad[0]} is not allowed for {who}")
    if (
        fmt.opcode in (Opcode.LOAD, Opcode.STORE)
        and values["elem"] == Elem.I32
        and values["target"] in (LoadTarget.SP, StoreTarget.SP)
    ):
        raise exc(f"{fmt.name}: elem=i32 is not allowed with target=sp (scratchpad rows are int8)")


def encode(instr: Instruction) -> int:
    """Encode an instruction as an unsigned 128-bit integer, checking every field."""
    fmt = instr.format
    unknown = instr.deps - set(DEP_FLAGS)
    if unknown:
        raise EncodeError(f"{fmt.name}: unknown dependency flag {sorted(unknown)[0]!r}")
    _check_semantics(fmt, instr.values, instr.deps, EncodeError)
    word = int(fmt.opcode.value)
    for i, flag in enumerate(DEP_FLAGS):
        if flag in instr.deps:
            word |= 1 << (4 + i)
    offset = _HEADER_BITS
    for f in fmt.fields:
        word |= _field_bits(fmt, f, instr.values[f.name]) << offset
        offset += f.width
    return word


def decode(word: int) -> Instruction:
    """Decode a 128-bit word; raise :class:`DecodeError` naming the reason if it is illegal.

    The reasons map onto :class:`ErrorCode`: an unassigned opcode is ``ILLEGAL_OPCODE``,
    everything else found here is ``ILLEGAL_FIELD`` (see :func:`decode_error_code`).
    """
    if not 0 <= word < (1 << INSTR_BITS):
        raise DecodeError(f"instruction word {word:#x} does not fit {INSTR_BITS} bits")
    raw_op = word & 0xF
    try:
        opcode = Opcode(raw_op)
    except ValueError:
        raise DecodeError(f"illegal opcode {raw_op}") from None
    if opcode == Opcode.ILLEGAL:
        raise DecodeError("illegal opcode 0")
    fmt = FORMATS_BY_OPCODE[opcode]
    deps = frozenset(flag for i, flag in enumerate(DEP_FLAGS) if word >> (4 + i) & 1)
    values: dict[str, Any] = {}
    offset = _HEADER_BITS
    for f in fmt.fields:
        raw = word >> offset & ((1 << f.width) - 1)
        offset += f.width
        e = f.enum
        if e is not None:
            try:
                values[f.name] = e(raw)
            except ValueError:
                raise DecodeError(
                    f"{fmt.name}: field {f.name!r} has unassigned value {raw}"
                ) from None
            continue
        value = raw - (1 << f.width) if f.signed and raw >> (f.width - 1) else raw
        if f.minimum is not None and value < f.minimum:
            raise DecodeError(f"{fmt.name}: field {f.name!r} = {value} is below {f.minimum}")
        values[f.name] = value
    if word >> offset:
        raise DecodeError(f"{fmt.name}: reserved bits [{INSTR_BITS - 1}:{offset}] are not zero")
    _check_semantics(fmt, values, deps, DecodeError)
    return Instruction(fmt, MappingProxyType(values), deps)


def decode_error_code(word: int) -> ErrorCode:
    """The error code the machine reports when it fetches ``word``: NONE if it is legal."""
    try:
        decode(word)
    except DecodeError as e:
        return (
            ErrorCode.ILLEGAL_OPCODE
            if str(e).startswith("illegal opcode")
            else ErrorCode.ILLEGAL_FIELD
        )
    return ErrorCode.NONE


def to_bytes(words: list[int] | tuple[int, ...]) -> bytes:
    """Pack instruction words little-endian, 16 bytes each (the program binary format)."""
    return b"".join(w.to_bytes(INSTR_BYTES, "little") for w in words)


def from_bytes(blob: bytes, *, name: str = "program") -> list[int]:
    """Unpack a program binary into words; the length must be a multiple of 16 bytes."""
    if len(blob) % INSTR_BYTES:
        raise DecodeError(
            f"{name}: size {len(blob)} bytes is not a multiple of the "
            f"{INSTR_BYTES}-byte instruction size"
        )
    return [
        int.from_bytes(blob[i : i + INSTR_BYTES], "little")
        for i in range(0, len(blob), INSTR_BYTES)
    ]


def _shape_text(f: Field) -> str:
    e = f.enum
    if e is not None:
        return " / ".join(f"`{m.name.lower()}`={m.value}" for m in e)
    return f"s{f.width}" if f.signed else f"u{f.width}"


def render_markdown() -> str:
    """Render ``docs/isa.md`` from the definitions in this module."""
    out = [
        "# Instruction set reference",
        "",
        "<!-- Generated by `make docs` (scripts/gen_docs.py) from spec/isa.py; do not edit. "
        "tests/test_isa.py fails when this file is stale. -->",
        "",
        f"Every instruction is one {INSTR_BITS}-bit word, stored little-endian "
        f"({INSTR_BYTES} bytes) in a program binary. Bits [3:0] are the opcode, bits [7:4] "
        "the dependency flags `pop_prev`, `pop_next`, `push_prev`, `push_next` (bit 4 up). "
        "Fields follow from bit 8 upward in the order listed; the remaining high bits are "
        "reserved and must be zero. The format does not depend on the array size; "
        "limits that do (lanes, memory depths, memory size) are checked when the machine decodes "
        "the instruction (docs/timing.md).",
        "",
        "Assembly: one instruction per line, `mnemonic field=value ... [flags]`, "
        "where flags are any of the dependency flag names; `#` or `;` starts a comment; "
        "enumerated fields take the lower-case names below; integers may be decimal, "
        "`0x` hex or `0b` binary and may contain `_`. Omitted fields take their default; "
        "fields without a default are required. `.word VALUE` emits a raw word. "
        "`systolic asm` and `systolic disasm` convert between assembly and binary.",
        "",
        "## Units and dependency tokens",
        "",
        "Instructions are dispatched in order to the `load`, `execute` and `store` units, "
        "which run concurrently. Four token counters connect neighbouring units "
        "(load↔execute, execute↔store). `pop_prev`/`pop_next` wait for a token from the "
        "previous/next unit and consume it before the instruction starts; "
        "`push_prev`/`push_next` give one to the previous/next unit when the instruction has "
        "finished.",
        "",
        "| unit | flags allowed |",
        "|---|---|",
    ]
    for unit in Unit:
        flags = ", ".join(f"`{d}`" for d in DEP_FLAGS if d in ALLOWED_DEPS[unit])
        out.append(f"| {unit.name.lower()} | {flags} |")
    out += [
        "| halt | none |",
        "",
        "## Summary",
        "",
        "| opcode | mnemonic | unit | used bits |",
        "|---|---|---|---|",
    ]
    for fmt in FORMATS:
        where = (
            fmt.unit.name.lower()
            if fmt.unit
            else ("field `unit`" if fmt.opcode == Opcode.SYNC else "fetch")
        )
        out.append(f"| {fmt.opcode.value} | `{fmt.name}` | {where} | {fmt.used_bits} |")
    for fmt in FORMATS:
        out += ["", f"## `{fmt.name}` (opcode {fmt.opcode.value})", "", fmt.doc, ""]
        if not fmt.fields:
            out.append("No fields.")
            continue
        out += ["| bits | field | type | default | meaning |", "|---|---|---|---|---|"]
        for f in fmt.fields:
            off = fmt.offset(f.name)
            default = (
                "required"
                if f.default is None
                else (f"`{f.default.name.lower()}`" if f.enum else str(f.default))
            )
            kind = _shape_text(f) + (f", ≥ {f.minimum}" if f.minimum else "")
            out.append(
                f"| [{off + f.width - 1}:{off}] | `{f.name}` | {kind} | {default} | {f.doc} |"
            )
    out += [
        "",
        "## Error codes",
        "",
        "When an instruction is illegal or out of range, or the tokens deadlock, the "
        "machine stops and reports the code and the index of the instruction.",
        "",
        "| code | name | cause |",
        "|---|---|---|",
    ]
    for code in ErrorCode:
        out.append(f"| {code.value} | `{code.name}` | {ERROR_DOCS[code]} |")
    return "\n".join(out) + "\n"
