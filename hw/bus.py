"""Bus signatures: the Wishbone B4 pipelined masters and the instruction port."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_BITS

__all__ = ["InstrPortSignature", "WishboneSignature", "word_addr_bits"]

BYTE_ADDR_BITS = 32


def word_addr_bits(config: AcceleratorConfig) -> int:
    """Width of a bus-word address: 32-bit byte addresses without the in-word offset."""
    return BYTE_ADDR_BITS - (config.bus_bytes.bit_length() - 1)


class WishboneSignature(wiring.Signature):
    """A Wishbone B4 pipelined master port, ``bus_bytes`` wide, addressed in bus words.

    A request is accepted in a cycle with ``cyc & stb & ~stall``; its ``ack`` (with ``dat_r``
    for a read) comes in a later cycle, in request order. ``sel`` marks the bytes written.
    """

    def __init__(self, config: AcceleratorConfig):
        width = config.bus_bytes * 8
        super().__init__(
            {
                "cyc": Out(1),
                "stb": Out(1),
                "we": Out(1),
                "adr": Out(word_addr_bits(config)),
                "sel": Out(config.bus_bytes),
                "dat_w": Out(width),
                "dat_r": In(width),
                "stall": In(1),
                "ack": In(1),
            }
        )


class InstrPortSignature(wiring.Signature):
    """Read-only instruction port: the word at ``addr`` (an index) arrives one cycle later if
    ``en`` is high; while ``en`` is low, ``data`` holds (a block RAM's read enable). The
    address then need not wait for the decision whether to move on, only the enable."""

    def __init__(self) -> None:
        super().__init__({"addr": Out(32), "en": Out(1), "data": In(INSTR_BITS)})
