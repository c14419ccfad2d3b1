"""Instruction fetch, decode and in-order dispatch into the three unit queues."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_BITS, ErrorCode, Unit
from .bus import InstrPortSignature
from .decode import Decoder

__all__ = ["Fetch"]


class Fetch(wiring.Component):
    """Reads the instruction port and dispatches one instruction per cycle at most.

    The word at ``pc`` is on ``imem.data`` while the machine runs (the port has one cycle of
    latency, so the address of cycle t is the pc of cycle t + 1). An instruction is decoded as soon
    as it arrives (cycle ``A_i``); an error there stops the machine. Otherwise it is dispatched
    when its unit's queue has space (docs/timing.md, "Fetch and dispatch").
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__(
            {
                "imem": Out(InstrPortSignature()),
                "start": In(1),
                "run": In(1),
                "dram_size": In(32),
                "ready": In(len(Unit)),
                "write": Out(len(Unit)),
                "word": Out(INSTR_BITS),
                "pc": Out(config.pc_bits),
                "error": Out(ErrorCode),
                "halted": Out(1),
                "dispatch": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.decoder = dec = Decoder(self.config)
        pc = Signal(self.config.pc_bits)
        halted = Signal()
        active = self.run & ~halted
        error = active & (dec.error != ErrorCode.NONE)
        ready = self.ready.bit_select(dec.unit.as_value(), 1)
        dispatch = active & ~error & (dec.halt | ready)
        m.d.comb += [
            dec.word.eq(self.imem.data),
            dec.dram_size.eq(self.dram_size),
            self.imem.addr.eq(Mux(self.start, 0, Mux(dispatch, pc + 1, pc))),
            self.word.eq(self.imem.data),
            self.pc.eq(pc),
            self.error.eq(Mux(error, dec.error, ErrorCode.NONE)),
            self.halted.eq(halted),
            self.dispatch.eq(dispatch),
        ]
        for unit in Unit:
            m.d.comb += self.write[unit.value].eq(dispatch & ~dec.halt & (dec.unit == unit))
        with m.If(self.start):
            m.d.sync += [pc.eq(0), halted.eq(0)]
        with m.Elif(dispatch):
            m.d.sync += pc.eq(pc + 1)
            with m.If(dec.halt):
                m.d.sync += [pc.eq(pc), halted.eq(1)]
        return m
