"""Board targets: the part, its capacity, the SoC's memory sizes and the default preset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..spec.config import PRESETS, AcceleratorConfig
from ..spec.errors import ConfigError

__all__ = ["TARGETS", "BoardTarget", "target"]


@dataclass(frozen=True, kw_only=True)
class BoardTarget:
    """One FPGA board the SoC is built for.

    Parameters
    ----------
    name : str
        The name ``systolic build --board`` takes.
    platform : str
        The amaranth-boards platform class, as ``module:Class``.
    family : str
        ``ice40`` or ``ecp5``: picks the PLL primitive and the synthesis options.
    preset : str
        The AcceleratorConfig preset sized for the part.
    clk_hz : int
        The board's oscillator.
    soc_hz : int
        The SoC clock a build asks for unless told otherwise: one the preset meets (the PLL
        makes it when it differs from ``clk_hz``).
    mem_bytes : int
        On-chip memory given to the accelerator as its external memory.
    imem_depth : int
        Instructions the instruction memory holds.
    capacity : mapping of str to int
        What the part has: ``lut`` (LUT4s), ``ff``, ``dsp`` and ``bram`` blocks.
    """

    name: str
    platform: str
    family: str
    preset: str
    clk_hz: int
    soc_hz: int
    mem_bytes: int
    imem_depth: int
    capacity: Mapping[str, int]

    @property
    def config(self) -> AcceleratorConfig:
        return PRESETS[self.preset]


TARGETS: Mapping[str, BoardTarget] = MappingProxyType(
    {
        "icebreaker": BoardTarget(
            name="icebreaker",
            platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
            family="ice40",
            preset="icebreaker",
            clk_hz=12_000_000,
            soc_hz=20_000_000,  # the lean 1x1 preset reaches 22-23.6 MHz (docs/boards.md)
            mem_bytes=8 * 1024,
            imem_depth=256,
            # iCE40 UP5K: 5280 logic cells, 8 SB_MAC16, 30 SB_RAM40_4K (4 kbit each).
            capacity=MappingProxyType({"lut": 5280, "ff": 5280, "dsp": 8, "bram": 30}),
        ),
        "ulx3s-85f": BoardTarget(
            name="ulx3s-85f",
            platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
            family="ecp5",
            preset="ulx3s-85f",
            clk_hz=25_000_000,
            soc_hz=25_000_000,  # the board's oscillator; the 8x8 preset reaches 50 (docs/boards.md)
            # The seed MLP (6,912 instructions on the 8x8, a 113 KB image) fits: 160 of the
            # 208 block RAMs. More congests the router (docs/boards.md).
            mem_bytes=128 * 1024,
            imem_depth=8192,
            # ECP5 LFE5U-85F: 83640 LUT4 and FFs, 156 MULT18X18D, 208 DP16KD (18 kbit each).
            capacity=MappingProxyType({"lut": 83640, "ff": 83640, "dsp": 156, "bram": 208}),
        ),
    }
)


def target(name: str) -> BoardTarget:
    """Look up a board by name, with a clear error listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(f"unknown board {name!r}; expected one of {', '.join(TARGETS)}") from None
