"""The accelerator's parameters: one frozen, validated dataclass used by every part of systolic.

hw, sim, the compiler, boards and tests all take an :class:`AcceleratorConfig` and read every
size, width and latency from it; nothing re-types a number that the config holds.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from .errors import ConfigError, ProgramError
from .isa import FORMATS_BY_NAME

__all__ = ["PRESETS", "AcceleratorConfig", "Dataflow"]


class Dataflow(enum.Enum):
    """How the array maps a matrix product. Only weight-stationary is built so far."""

    WEIGHT_STATIONARY = "ws"


def _field_limit(fmt: str, field: str) -> int:
    return FORMATS_BY_NAME[fmt].field(field).hi


# Limits that come from the ISA's field widths (the binary format does not change with size).
_MAX_DIM = _field_limit("preload", "rows")  # lane counts are 10-bit fields
_MAX_ROWS = _field_limit("matmul", "src") + 1  # row addresses are 16-bit fields


@dataclass(frozen=True, kw_only=True)
class AcceleratorConfig:
    """Parameters of one accelerator instance.

    Parameters
    ----------
    rows : int
        Array rows R: the reduction (K) extent of one weight tile; inputs are R lanes wide.
    cols : int
        Array columns C: output channels per tile; accumulator rows are C int32 lanes.
    sp_depth : int
        Scratchpad rows; each row holds ``lanes`` int8 values.
    acc_depth : int
        Accumulator rows; each row holds ``cols`` int32 values.
    bus_bytes : int
        Data width of the external-memory port in bytes (a power of two).
    mem_latency : int
        Cycles from a memory request being accepted to its acknowledge (reads and writes).
    queue_depth : int
        Instruction-queue entries in front of each of the load, execute and store units. With
        0 there are no queues: a unit takes its instruction straight from the decode register,
        and fetch waits until it does (saves flip-flops on small FPGAs; docs/timing.md).
    token_depth : int
        Largest count a dependency-token counter holds; one more push is an error.
    dataflow : Dataflow or str
        Dataflow of the array, as the enum or its short name (``"ws"``).
    vector_unit : bool
        Build the execute unit's vector unit. Without it ``vector`` is an illegal opcode, and
        networks with pools, residual adds or recurrent cells do not compile.
    act_lut : bool
        Build the store unit's activation lookup table. Without it ``cfg_lut`` is an illegal
        opcode and ``cfg_act mode=lut`` an illegal field (no sigmoid/tanh, no recurrent cells).
    counter_bits : int
        Width of each performance counter (it wraps around); 32 saves logic on small FPGAs.
    lut_pes : int
        Processing elements whose multiplier is built from logic (shift and add) instead of a
        DSP block: the last ``lut_pes`` in row-major order. A DSP budget for arrays with more
        PEs than the FPGA has multipliers; results and timing do not change.
    pc_bits : int
        Width of the program counter and of every pc the units carry for errors and tokens. A
        program may have at most ``2**pc_bits - 1`` instructions; a board's instruction memory
        is smaller than that anyway, and narrow pcs save flip-flops on small FPGAs.
    perf_counters : bool
        Build the performance counters other than ``cycles``. Without them they read as 0
        (statistics that need them are not reported from the RTL or a board).
    requant_passes : int
        Cycles an accumulator row takes through the store unit's requantisation: its
        ``cols // requant_passes`` multipliers (each a 32x32 product, several DSP blocks) take
        the row's columns in that many groups. A divisor of ``cols``; more passes save DSP
        blocks and logic, and a store then reads a row every ``max(beats, requant_passes)``
        cycles (docs/timing.md).
    acc_read_register : bool
        Register accumulator rows as they leave the memory, before the store's requantisation
        multiply and the matmul's accumulating adder: a block RAM's output is slow (ECP5:
        5.8 ns clock-to-out), and without the register it starts two of the longest paths.
        Costs ``32 * cols`` flip-flops in each unit and one cycle per stored row
        (:attr:`store_row_latency`); off where logic cells, not the clock, are the limit.
    fetch_register : bool
        Register each instruction word as it leaves the instruction memory, before the
        decoder's range checks: the memory's output (ECP5: 5.8 ns clock-to-out, then a mux of
        its block RAMs) otherwise starts the longest path. Costs 128 flip-flops and one cycle
        before the first instruction (:attr:`decode_stages`); the pipeline holds as a whole,
        so no cycles after it.

    Raises
    ------
    ConfigError
        When a value is out of range; the message names the field, the value and the limit.
    """

    OPTIONAL_INSTRUCTIONS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"vector": "vector_unit", "cfg_lut": "act_lut"}
    )
    """Instructions of the optional units, and the field that builds each unit."""
    BUILD_ONLY: ClassVar[tuple[str, ...]] = ("counter_bits", "lut_pes", "pc_bits", "perf_counters")
    """Fields that change how the hardware is built but not what a program does or takes."""
    OPERAND_BITS: ClassVar[int] = 8
    """Width of inputs and weights (int8); fixed by the ISA."""
    ACC_BITS: ClassVar[int] = 32
    """Width of the accumulator (int32); fixed by the ISA."""
    LUT_ENTRIES: ClassVar[int] = 256
    """Entries of an activation lookup table: one per int8 value."""

    rows: int = 8
    cols: int = 8
    sp_depth: int = 4096
    acc_depth: int = 1024
    bus_bytes: int = 8
    mem_latency: int = 4
    queue_depth: int = 8
    token_depth: int = 15
    dataflow: Dataflow = Dataflow.WEIGHT_STATIONARY
    vector_unit: bool = True
    act_lut: bool = True
    counter_bits: int = 48
    lut_pes: int = 0
    pc_bits: int = 32
    perf_counters: bool = True
    requant_passes: int = 1
    acc_read_register: bool = True
    fetch_register: bool = True

    def __post_init__(self) -> None:
        self._check_int("rows", 1, _MAX_DIM)
        self._check_int("cols", 1, _MAX_DIM)
        self._check_int("sp_depth", 1, _MAX_ROWS)
        for name in (
            "vector_unit",
            "act_lut",
            "perf_counters",
            "acc_read_register",
            "fetch_register",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.act_lut:
            self._check_int(
                "acc_depth",
                self.lut_rows,
                _MAX_ROWS,
                why=f" (a LUT needs ceil(256/cols) = {self.lut_rows} rows)",
            )
        else:
            self._check_int("acc_depth", 1, _MAX_ROWS)
        if not (
            isinstance(self.bus_bytes, int)
            and not isinstance(self.bus_bytes, bool)
            and 1 <= self.bus_bytes <= 64
            and self.bus_bytes & (self.bus_bytes - 1) == 0
        ):
            raise ConfigError(
                f"bus_bytes must be a power of two in [1, 64], got {self.bus_bytes!r}"
            )
        self._check_int("mem_latency", 1, 64)
        self._check_int("queue_depth", 0, 64)
        self._check_int("token_depth", 1, 255)
        self._check_int("counter_bits", 32, 48)
        self._check_int("pc_bits", 8, 32)
        self._check_int(
            "lut_pes", 0, self.rows * self.cols, why=f" (the array has {self.rows * self.cols} PEs)"
        )
        self._check_int("requant_passes", 1, self.cols, why=f" (cols = {self.cols})")
        if self.cols % self.requant_passes:
            raise ConfigError(
                f"requant_passes must divide cols = {self.cols}, got {self.requant_passes}"
            )
        if isinstance(self.dataflow, str) and self.dataflow in {d.value for d in Dataflow}:
            # The name as written in TOML or to_dict(): accepted, stored as the enum.
            object.__setattr__(self, "dataflow", Dataflow(self.dataflow))
        if not isinstance(self.dataflow, Dataflow):
            raise ConfigError(
                f"dataflow must be one of "
                f"{', '.join(repr(d.value) for d in Dataflow)}, "
                f"got {self.dataflow!r}"
            )

    def _check_int(self, name: str, lo: int, hi: int, why: str = "") -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(f"{name} must be an integer in [{lo}, {hi}]{why}, got {value!r}")

    # Derived values -------------------------------------------------------------------------

    @property
    def lanes(self) -> int:
        """int8 lanes of a scratchpad row: inputs use R of them, weight rows C."""
        return max(self.rows, self.cols)

    @property
    def sp_row_bytes(self) -> int:
        return self.lanes * self.OPERAND_BITS // 8

    @property
    def acc_row_bytes(self) -> int:
        return self.cols * self.ACC_BITS // 8

    @property
    def sp_bytes(self) -> int:
        return self.sp_depth * self.sp_row_bytes

    @property
    def acc_bytes(self) -> int:
        return self.acc_depth * self.acc_row_bytes

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.cols

    @property
    def requant_lanes(self) -> int:
        """Requantisation multipliers of the store unit: a row's columns per pass."""
        return self.cols // self.requant_passes

    @property
    def decode_stages(self) -> int:
        """Pipeline stages from the instruction port to the decode register, so the cycle
        ``A_0`` at which instruction 0 is there (docs/timing.md): the word register
        (:attr:`fetch_register`), the decoder's register (range checks take two stages to keep
        them off the critical path) and the decode register."""
        return 2 + int(self.fetch_register)

    @property
    def store_row_latency(self) -> int:
        """Cycles from a store reading an accumulator row to the row leaving post-processing:
        the read, the read register (:attr:`acc_read_register`), ``requant_passes`` multiply
        cycles, the rounding shift, round/saturate/clamp (docs/timing.md, the store unit)."""
        return 3 + int(self.acc_read_register) + self.requant_passes

    def execute_cycles(self, kind: str, n: int = 1) -> tuple[int, int]:
        """Issue cycles ``K`` and completion ``E - P`` of an execute instruction popped at P.

        ``kind`` is ``"preload"``, ``"matmul"``, ``"vector"`` or ``"sync"``; ``n`` is the rows
        of a matmul or vector. Everything but a vector completes when its last issued row has
        gone through the array and the de-skew (R + C cycles; docs/timing.md, execute unit).
        """
        if kind == "vector":
            return self.vector_cycles(n)
        issue = {"preload": self.rows, "matmul": n, "sync": 1}[kind]
        return issue, issue + self.rows + self.cols

    @property
    def swap_clearance(self) -> int:
        """A ``preload`` pops no earlier than this many cycles after the issue of the latest
        swap row: the swap wavefront must have passed every PE before the shadow registers
        shift (docs/timing.md)."""
        return self.rows + self.cols - 3

    def vector_cycles(self, n: int) -> tuple[int, int]:
        """Issue cycles ``K`` and completion ``E - P`` of a ``vector`` of ``n`` rows.

        Row i reads a at ``P+1+2i`` and b at ``P+2+2i``; b's data is registered, the
        operation and the rounding shift take a cycle each, and the row is written at
        ``P+6+2i``. The two empty issue cycles at the end keep a following matmul's first
        write after the last vector write (docs/timing.md). ``n`` may be
        an Amaranth value: the RTL counts with the same expression.
        """
        return 2 * n + 2, 2 * n + 4

    @property
    def lut_rows(self) -> int:
        """Accumulator rows that hold one 256-entry LUT (``cfg_lut`` reads this many)."""
        return math.ceil(self.LUT_ENTRIES / self.cols)

    @property
    def max_instructions(self) -> int:
        """Longest program the pc can count: the pc past its end (an error there) must fit."""
        return (1 << self.pc_bits) - 1

    def check_program_length(self, n_instructions: int) -> None:
        """Refuse a program longer than the pc can count.

        Parameters
        ----------
        n_instructions : int
            The program's length in words.

        Raises
        ------
        ProgramError
            Naming the length, ``pc_bits`` and :attr:`max_instructions`.
        """
        if n_instructions > self.max_instructions:
            raise ProgramError(
                f"the program has {n_instructions} instructions; pc_bits = {self.pc_bits} "
                f"counts at most {self.max_instructions}"
            )

    @property
    def missing_opcodes(self) -> frozenset[str]:
        """Mnemonics of the instructions this accelerator is built without (ILLEGAL_OPCODE)."""
        return frozenset(
            name for name, unit in self.OPTIONAL_INSTRUCTIONS.items() if not getattr(self, unit)
        )

    # Conversions ----------------------------------------------------------------------------

    def replace(self, **changes: Any) -> AcceleratorConfig:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the dataflow as its short name), as written to TOML and manifests."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["dataflow"] = self.dataflow.value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "config") -> AcceleratorConfig:
        """Build from plain values; ``preset = NAME`` picks the base that the others override."""
        values = dict(values)
        base: dict[str, Any] = {}
        if "preset" in values:
            name = values.pop("preset")
            if not isinstance(name, str) or name not in PRESETS:
                raise ConfigError(
                    f"{source}: preset must be one of {', '.join(PRESETS)}, got {name!r}"
                )
            base = PRESETS[name].to_dict()
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ConfigError(
                    f"{source}: unknown key {key!r}; expected preset or one of {', '.join(names)}"
                )
        merged = {**base, **values}
        if "dataflow" in merged:
            flow = merged["dataflow"]
            by_name = {d.value: d for d in Dataflow}
            if isinstance(flow, Dataflow):
                pass
            elif isinstance(flow, str) and flow in by_name:
                merged["dataflow"] = by_name[flow]
            else:
                raise ConfigError(
                    f"{source}: dataflow must be one of "
                    f"{', '.join(repr(d) for d in by_name)}, got {flow!r}"
                )
        try:
            return cls(**merged)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> AcceleratorConfig:
        """Load a config file: top-level keys are field names, plus an optional ``preset``."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read config file: {e}") from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML: {e}") from None
        return cls.from_dict(values, source=str(path))

    def to_toml(self) -> str:
        lines = []
        for key, value in self.to_dict().items():
            if isinstance(value, bool):
                lines.append(f"{key} = {str(value).lower()}")
            else:
                lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        """Human-readable summary for ``systolic info``."""
        rows = [
            ("array", f"{self.rows} x {self.cols} int8 MACs, {self.dataflow.name.lower()}"),
            ("peak", f"{self.peak_macs_per_cycle} MAC/cycle"),
            ("scratchpad", f"{self.sp_depth} rows x {self.lanes} int8 = {self.sp_bytes} B"),
            ("accumulator", f"{self.acc_depth} rows x {self.cols} int32 = {self.acc_bytes} B"),
            ("memory port", f"{self.bus_bytes * 8}-bit, latency {self.mem_latency} cycles"),
            (
                "queues",
                f"{self.queue_depth} instructions per unit, tokens up to {self.token_depth}",
            ),
            (
                "units",
                f"vector unit {'yes' if self.vector_unit else 'no'}, "
                f"activation LUT {'yes' if self.act_lut else 'no'}, "
                f"{self.counter_bits}-bit counters, {self.lut_pes} PEs without a DSP",
            ),
            (
                "requant",
                f"{self.requant_lanes} lanes, {self.requant_passes} "
                f"pass{'es' if self.requant_passes > 1 else ''} per accumulator row",
            ),
            (
                "build",
                f"{self.pc_bits}-bit pc, performance counters "
                f"{'all' if self.perf_counters else 'cycles only'}, accumulator reads "
                f"{'registered' if self.acc_read_register else 'unregistered'}, instruction "
                f"words {'registered' if self.fetch_register else 'unregistered'}",
            ),
        ]
        return "\n".join(f"{k:<12} {v}" for k, v in rows) + "\n"


PRESETS: Mapping[str, AcceleratorConfig] = MappingProxyType(
    {
        # Small enough that RTL simulation of whole programs stays fast in the test suite.
        "tiny": AcceleratorConfig(
            rows=4,
            cols=4,
            sp_depth=256,
            acc_depth=128,
            bus_bytes=4,
            mem_latency=2,
            queue_depth=4,
            token_depth=7,
        ),
        "default": AcceleratorConfig(),
        "large": AcceleratorConfig(
            rows=16, cols=16, sp_depth=8192, acc_depth=2048, bus_bytes=16, mem_latency=8
        ),
        # Board presets are sized for the part; issue #7 settles them against real P&R runs.
        # The iCE40 UP5K's 5280 logic cells hold the SoC with one MAC and every lean option
        # (docs/boards.md): feedforward networks only, no performance counters but `cycles`.
        "icebreaker": AcceleratorConfig(
            rows=1,
            cols=1,
            sp_depth=1024,
            acc_depth=256,
            bus_bytes=4,
            mem_latency=2,
            queue_depth=0,
            token_depth=7,
            vector_unit=False,
            act_lut=False,
            counter_bits=32,
            pc_bits=9,
            perf_counters=False,
            acc_read_register=False,  # 101 logic cells more than the UP5K has left
            fetch_register=False,  # 128 flip-flops the UP5K does not have
        ),
        "ulx3s-85f": AcceleratorConfig(
            rows=8, cols=8, sp_depth=2048, acc_depth=512, bus_bytes=8, mem_latency=2
        ),
        # The largest array the ECP5-85F holds with the SoC: 134 PEs on DSP blocks (a quarter
        # of the requantisation multipliers, no vector unit) and 122 in logic. Routes in about
        # 35 minutes with the PE multipliers pinned (docs/boards.md).
        "ulx3s-85f-16x16": AcceleratorConfig(
            rows=16,
            cols=16,
            sp_depth=2048,
            acc_depth=512,
            bus_bytes=8,
            mem_latency=2,
            vector_unit=False,
            requant_passes=4,
            lut_pes=122,
        ),
    }
)


def preset(name: str) -> AcceleratorConfig:
    """Look up a preset by name, with a clear error listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}"
        ) from None
