"""Signatures shared by the units, all seen from the unit's side."""

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_BITS

__all__ = [
    "QueueHeadSignature",
    "ReadPortSignature",
    "TokenInSignature",
    "TokenOutSignature",
    "WritePortSignature",
    "acc_row",
    "entry_layout",
    "sp_row",
]


def entry_layout(config: AcceleratorConfig) -> data.StructLayout:
    """A queued instruction: the word and its index in the program (for error reports)."""
    return data.StructLayout({"word": INSTR_BITS, "pc": config.pc_bits})


def sp_row(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(8, config.lanes)


def acc_row(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(32, config.cols)


class QueueHeadSignature(wiring.Signature):
    """The read side of a unit's instruction queue (first-word fall-through), or with
    ``queue_depth = 0`` the decode register offering the unit its instruction."""

    def __init__(self, config: AcceleratorConfig) -> None:
        super().__init__({"valid": In(1), "entry": In(entry_layout(config)), "pop": Out(1)})


class TokenInSignature(wiring.Signature):
    """A token counter the unit consumes: ``avail`` while it holds a token."""

    def __init__(self) -> None:
        super().__init__({"avail": In(1), "pop": Out(1)})


class TokenOutSignature(wiring.Signature):
    """A token counter the unit produces; ``pc`` names the pushing instruction."""

    def __init__(self, config: AcceleratorConfig) -> None:
        super().__init__({"push": Out(1), "pc": Out(config.pc_bits)})


class WritePortSignature(wiring.Signature):
    def __init__(self, depth: int, shape: data.ArrayLayout):
        super().__init__({"en": Out(1), "addr": Out(range(depth)), "data": Out(shape)})


class ReadPortSignature(wiring.Signature):
    """A synchronous read port: data for the address of cycle t arrives in cycle t + 1."""

    def __init__(self, depth: int, shape: data.ArrayLayout):
        super().__init__({"addr": Out(range(depth)), "data": In(shape)})
