"""What a simulation returns: the result, its timeline and statistics, and SimError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..spec.errors import SystolicError
from ..spec.isa import ErrorCode

__all__ = ["SimError", "SimResult", "Stats", "TimelineEntry", "UnitStats"]


class SimError(SystolicError, RuntimeError):
    """The simulator itself could not finish (for example ``max_cycles`` was exceeded).

    An illegal program is not a Python error: it stops the machine with an
    :class:`~systolic.spec.isa.ErrorCode` reported in :attr:`SimResult.error`.
    """


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """The cycles of one instruction (``None`` where it never got that far).

    Parameters
    ----------
    index : int
        Position in the program.
    unit : str
        ``"load"``, ``"execute"``, ``"store"`` or ``"fetch"`` (``halt``).
    mnemonic : str
        Instruction name.
    A, D : int
        Cycles it entered decode and was dispatched.
    P, E : int or None
        Cycles it popped and completed (``None`` if the machine stopped before).
    """

    index: int
    unit: str
    mnemonic: str
    A: int
    D: int
    P: int | None
    E: int | None


@dataclass(frozen=True, slots=True)
class UnitStats:
    """Cycle accounting of one unit (all counts over cycles 0 .. stopping cycle).

    Parameters
    ----------
    busy : int
        Cycles with an instruction in flight (the ``*_busy`` counter).
    stall : int
        Cycles in which the queue holds an instruction that does not pop (``*_stall``);
        split into the four reasons below by the first unmet pop condition.
    stall_unit_busy : int
        The unit was not free yet (pipeline issue or the previous store still running).
    stall_tokens : int
        A token the instruction pops had not arrived (or never did).
    stall_hazard : int
        The execute unit's own rules: the preload/swap wavefront rule or the vector drain.
    stall_interlock : int
        The load(acc)/execute or load(sp)/store(sp) interlock.
    starved : int
        Cycles with nothing in flight and an empty queue.
    instructions : int
        Instructions popped.
    """

    busy: int
    stall: int
    stall_unit_busy: int
    stall_tokens: int
    stall_hazard: int
    stall_interlock: int
    starved: int
    instructions: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Derived statistics of a run.

    Parameters
    ----------
    macs : int
        Useful multiply-accumulates (``rows · cols`` of the active tile per matmul row).
    utilisation : float
        ``macs / (R · C · cycles)``.
    bytes_read, bytes_written : int
        Useful bytes moved between external memory and the machine (``len · elem`` per row).
    bus_bytes_read, bus_bytes_written : int
        ``beats · bus_bytes`` on the read and write ports.
    units : mapping of str to UnitStats
        ``"load"``, ``"execute"``, ``"store"``.
    """

    macs: int
    utilisation: float
    bytes_read: int
    bytes_written: int
    bus_bytes_read: int
    bus_bytes_written: int
    units: Mapping[str, UnitStats]


@dataclass(frozen=True)
class SimResult:
    """The outcome of one simulation.

    Parameters
    ----------
    cycles : int
        Cycles from 0 to the stopping cycle inclusive.
    error : ErrorCode
        ``NONE`` when the program halted normally.
    error_index : int or None
        Index of the instruction the error names.
    error_message : str
        Human-readable reason ("" without error).
    counters : dict of str to int
        The performance counters of ``docs/timing.md``, by their names there.
    memory : bytes
        The final external-memory image (unspecified after an error).
    stats : Stats
        Richer statistics.
    timeline : tuple of TimelineEntry or None
        Per-instruction cycles, when the simulation ran with ``trace=True``.
    """

    cycles: int
    error: ErrorCode
    error_index: int | None
    error_message: str
    counters: dict[str, int]
    memory: bytes
    stats: Stats
    timeline: tuple[TimelineEntry, ...] | None = None

    @property
    def ok(self) -> bool:
        """Whether the machine halted without an error."""
        return self.error == ErrorCode.NONE
