"""Instruction fetch: a two-stage decode pipeline and in-order dispatch into the unit queues."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_BITS, ErrorCode, Unit
from .bus import InstrPortSignature
from .decode import Decoder

__all__ = ["Fetch"]

# The word register (fetch_register), the decoder's own register and the decode register below
# (docs/timing.md: A_0).
assert AcceleratorConfig(fetch_register=False).decode_stages == Decoder.LATENCY + 1


class Fetch(wiring.Component):
    """Reads the instruction port and dispatches one instruction per cycle at most.

    The port answers one cycle after its address. With ``fetch_register`` the word is registered
    first, so the memory's slow output does not feed the decoder's multipliers. A word's range
    checks take two stages: the decoder registers the word with its products, then the checked
    instruction enters the decode register (cycle ``A_i``; ``A_0 = decode_stages``). An error
    there stops the machine.
    Otherwise the instruction is dispatched when its unit's queue has space; while it waits, the
    pipeline and the port hold, and the next word is already checked behind it, so
    ``A_{i+1} = D_i + 1`` (docs/timing.md, "Fetch and dispatch"). ``offer`` says which unit
    the instruction in the decode register is for; ``write`` that it goes there this cycle.
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
                "offer": Out(len(Unit)),
                "word": Out(INSTR_BITS),
                "pc": Out(config.pc_bits),
                "error": Out(ErrorCode),
                "halted": Out(1),
                "dispatch": Out(1),
                "filling": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        pc_bits = self.config.pc_bits
        m.submodules.decoder = dec = Decoder(self.config)
        port_pc = Signal(pc_bits)  # index of the word on imem.data
        # The port reads port_pc + 1 (kept in a register) and holds its word unless fetch
        # advances: the address does not wait for the dispatch decision, only the enable does
        # (that decision, a mux and an increment before the address were the iCE40 build's
        # longest path).
        port_next = Signal(pc_bits, init=1)
        # The word the decoder checks: the port's, or with fetch_register the port's registered.
        fetch_word = Signal(INSTR_BITS)
        fetch_pc = Signal(pc_bits)
        fetch_valid = Signal()
        stage_pc = Signal(pc_bits)  # ... of the word in the decoder's register
        stage_valid = Signal()
        # The decode register.
        valid = Signal()
        pc = Signal(pc_bits)
        word = Signal(INSTR_BITS)
        code = Signal(ErrorCode)
        unit = Signal(Unit)
        halt = Signal()
        halted = Signal()

        active = self.run & ~halted
        error = active & valid & (code != ErrorCode.NONE)
        ready = self.ready.bit_select(unit.as_value(), 1)
        dispatch = active & valid & ~error & (halt | ready)
        advance = active & ~error & (~valid | dispatch)
        m.d.comb += [
            dec.word.eq(fetch_word),
            dec.dram_size.eq(self.dram_size),
            dec.advance.eq(advance),
            self.imem.addr.eq(Mux(self.start, 0, port_next)),
            self.imem.en.eq(self.start | advance),
            self.word.eq(word),
            self.pc.eq(pc),
            self.error.eq(Mux(error, code, ErrorCode.NONE)),
            self.halted.eq(halted),
            self.dispatch.eq(dispatch),
            self.filling.eq(active & ~valid),
        ]
        for u in Unit:
            offer = active & valid & ~error & ~halt & (unit == u)
            m.d.comb += [self.offer[u.value].eq(offer), self.write[u.value].eq(offer & ready)]
        if self.config.fetch_register:
            with m.If(self.start):
                m.d.sync += fetch_valid.eq(0)
            with m.Elif(advance):
                m.d.sync += [
                    fetch_word.eq(self.imem.data),
                    fetch_pc.eq(port_pc),
                    fetch_valid.eq(1),
                ]
        else:
            m.d.comb += [fetch_word.eq(self.imem.data), fetch_pc.eq(port_pc), fetch_valid.eq(1)]
        with m.If(self.start):
            m.d.sync += [
                port_pc.eq(0),
                port_next.eq(1),
                stage_valid.eq(0),
                valid.eq(0),
                halted.eq(0),
            ]
        with m.Else():
            with m.If(advance):
                m.d.sync += [
                    port_pc.eq(port_next),
                    port_next.eq(port_next + 1),
                    stage_pc.eq(fetch_pc),
                    stage_valid.eq(fetch_valid),
                    valid.eq(stage_valid),
                    pc.eq(stage_pc),
                    word.eq(dec.stage_word),
                    code.eq(dec.error),
                    unit.eq(dec.unit),
                    halt.eq(dec.halt),
                ]
            with m.If(dispatch & halt):
                m.d.sync += halted.eq(1)
        return m
