"""Performance counters (the table of ``docs/timing.md``) and richer statistics from a schedule."""

from __future__ import annotations

from types import MappingProxyType

from ..spec.config import AcceleratorConfig
from .decode import EXEC_UNIT, LOAD_UNIT, STORE_UNIT
from .result import Stats, UnitStats
from .schedule import Schedule

__all__ = ["COUNTER_NAMES", "counters", "stats", "wrapped"]

COUNTER_NAMES = (
    "cycles",
    "load_busy",
    "exec_busy",
    "store_busy",
    "load_stall",
    "exec_stall",
    "store_stall",
    "macs",
    "array_busy",
    "rd_beats",
    "wr_beats",
)
UNIT_NAMES = ("load", "execute", "store")


def counters(s: Schedule) -> dict[str, int]:
    """The hardware's counters for cycles 0 .. ``s.stop`` inclusive.

    Work an instruction would do after the stopping cycle (beats, matmul rows) is not counted.
    """
    stop = s.stop
    macs = array_busy = rd = wr = 0
    for i, p in enumerate(s.P):
        if p is None:
            continue
        unit, name = s.unit[i], s.name[i]
        if name == "matmul":
            rows = min(s.mm_rows[i], max(0, stop - p))  # rows issue at P+1 .. P+n
            array_busy += rows
            macs += rows * s.macs_per_row[i]
        elif unit == LOAD_UNIT and s.beats[i]:
            rd += min(s.beats[i], max(0, stop - p))  # beats at P+1 .. P+N
        elif unit == STORE_UNIT and s.beats[i]:
            wr += sum(min(n, max(0, stop - p - first + 1)) for first, n in s.wr_runs[i])
    return {
        "cycles": stop + 1,
        "load_busy": s.busy[LOAD_UNIT],
        "exec_busy": s.busy[EXEC_UNIT],
        "store_busy": s.busy[STORE_UNIT],
        "load_stall": s.stall[LOAD_UNIT],
        "exec_stall": s.stall[EXEC_UNIT],
        "store_stall": s.stall[STORE_UNIT],
        "macs": macs,
        "array_busy": array_busy,
        "rd_beats": rd,
        "wr_beats": wr,
    }


def wrapped(c: dict[str, int], config: AcceleratorConfig) -> dict[str, int]:
    """The counters as the hardware reads them: modulo 2 ** ``counter_bits``, and 0 for those
    a build without ``perf_counters`` leaves out.

    Statistics (utilisation, cycles) use the true counts; only the readout wraps.
    """
    mask = (1 << config.counter_bits) - 1
    built = config.perf_counters
    return {name: value & mask if built or name == "cycles" else 0 for name, value in c.items()}


def stats(s: Schedule, c: dict[str, int], config: AcceleratorConfig) -> Stats:
    """Derived statistics: utilisation, bytes moved, and each unit's stall reasons."""
    cycles = c["cycles"]
    units = {
        UNIT_NAMES[u]: UnitStats(
            busy=s.busy[u],
            stall=s.stall[u],
            stall_unit_busy=s.stall_busy[u],
            stall_tokens=s.stall_tokens[u],
            stall_hazard=s.stall_hazard[u],
            stall_interlock=s.stall_interlock[u],
            starved=cycles - s.occupied[u],
            instructions=s.pops[u],
        )
        for u in (LOAD_UNIT, EXEC_UNIT, STORE_UNIT)
    }
    return Stats(
        macs=c["macs"],
        utilisation=c["macs"] / (config.peak_macs_per_cycle * cycles),
        bytes_read=s.bytes_read,
        bytes_written=s.bytes_written,
        bus_bytes_read=c["rd_beats"] * config.bus_bytes,
        bus_bytes_written=c["wr_beats"] * config.bus_bytes,
        units=MappingProxyType(units),
    )
