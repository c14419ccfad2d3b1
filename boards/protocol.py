"""The host-link protocol: command bytes and reply records, shared by the bridge and the driver.

Every command is one byte followed by little-endian arguments; every command gets a reply, so
the host always knows when the board is ready for the next one.

========  =========================================  =========================================
command   arguments                                  reply
========  =========================================  =========================================
INFO      --                                         the :data:`INFO_FIELDS` record
WRITE     space (1), address (4), length (4), data   ACK, or ACK_DROPPED if the accelerator was
                                                     running (the data was not written)
READ      space (1), address (4), length (4)         ``length`` bytes
START     dram_size (4)                              ACK
STATUS    --                                         the :data:`STATUS_FIELDS` record
other     --                                         NAK
========  =========================================  =========================================

``space`` is :data:`SPACE_DATA` (the accelerator's external memory) or :data:`SPACE_INSTR` (the
instruction memory: instruction ``i`` is bytes ``16 i`` to ``16 i + 15``, little-endian). A
command left unfinished for :data:`TIMEOUT_BYTES` byte times is abandoned, so a host that died
mid-command cannot wedge the bridge.
"""

from __future__ import annotations

import dataclasses
import enum

from ..hw.top import COUNTER_BITS, COUNTERS
from ..spec.config import AcceleratorConfig

__all__ = [
    "ACK",
    "ACK_DROPPED",
    "INFO_FIELDS",
    "MAGIC",
    "NAK",
    "SPACE_DATA",
    "SPACE_INSTR",
    "STATUS_FIELDS",
    "TIMEOUT_BYTES",
    "VERSION",
    "Command",
    "info_record",
    "parse_record",
    "record_size",
]

MAGIC = b"SYST"
# 2: vector_unit, act_lut, counter_bits in INFO; 3: lut_pes; 4: pc_bits, perf_counters;
# 5: requant_passes; 6: acc_read_register; 7: fetch_register
VERSION = 7
ACK = 0x5A
ACK_DROPPED = 0x5B
NAK = 0xEE
SPACE_DATA = 0
SPACE_INSTR = 1
TIMEOUT_BYTES = 64


class Command(enum.IntEnum):
    INFO = 0x01
    WRITE = 0x02
    READ = 0x03
    START = 0x04
    STATUS = 0x05


# (name, bytes) in wire order. The config fields follow the dataclass, so a new field changes
# the record (and VERSION must change with it).
INFO_FIELDS: tuple[tuple[str, int], ...] = (
    ("magic", 4),
    ("version", 1),
    *((f.name, 4) for f in dataclasses.fields(AcceleratorConfig)),
    ("mem_bytes", 4),
    ("imem_depth", 4),
    ("clk_hz", 4),
)
"""The board's build: its accelerator config (the dataflow as its index in the enum)."""

STATUS_FIELDS: tuple[tuple[str, int], ...] = (
    ("flags", 1),  # bit 0: running, bit 1: done
    ("error", 1),
    ("error_pc", 4),
    *((name, COUNTER_BITS // 8) for name in COUNTERS),
)
"""The accelerator's status and performance counters."""


def record_size(fields: tuple[tuple[str, int], ...]) -> int:
    return sum(n for _, n in fields)


def parse_record(fields: tuple[tuple[str, int], ...], raw: bytes) -> dict[str, int | bytes]:
    """Split a reply into named little-endian integers (``magic`` stays bytes)."""
    out: dict[str, int | bytes] = {}
    at = 0
    for name, n in fields:
        chunk = raw[at : at + n]
        out[name] = chunk if name == "magic" else int.from_bytes(chunk, "little")
        at += n
    return out


def info_record(
    config: AcceleratorConfig, *, mem_bytes: int, imem_depth: int, clk_hz: int
) -> bytes:
    """The INFO reply of a board built for these parameters."""
    values: dict[str, int | bytes] = {
        "magic": MAGIC,
        "version": VERSION,
        **config.to_dict(),
        "dataflow": list(type(config.dataflow)).index(config.dataflow),
        "mem_bytes": mem_bytes,
        "imem_depth": imem_depth,
        "clk_hz": clk_hz,
    }
    out = bytearray()
    for name, n in INFO_FIELDS:
        value = values[name]
        out += value if isinstance(value, bytes) else int(value).to_bytes(n, "little")
    return bytes(out)
