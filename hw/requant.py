"""The requantisation arithmetic of one store lane, as two combinational stages.

The store unit (:mod:`.store`) registers between them: stage 1 multiplies, stage 2 rounds,
shifts and saturates (docs/timing.md). They are separate components so that the arithmetic can be
proved against docs/quantisation.md on its own (tests/formal).
"""

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RequantMultiply", "RequantRound"]


class RequantMultiply(wiring.Component):
    """``prod = acc · mult``, exact in 64 bits (|acc · mult| ≤ 2^62)."""

    acc: In(signed(32))
    mult: In(signed(32))
    prod: Out(signed(64))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.prod.eq((self.acc * self.mult)[:64])
        return m


class RequantRound(wiring.Component):
    """``q = sat8(round_shift(prod, shift))``: round half up, arithmetic shift, saturate.

    ``round_shift`` is evaluated as ``(prod >> shift) + bit (shift - 1) of prod`` (0 for
    ``shift = 0``), which equals ``(prod + 2^(shift-1)) >> shift`` without a wider adder.
    """

    prod: In(signed(64))
    shift: In(6)
    q: Out(signed(8))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p, s = self.prod, self.shift
        half = Mux(s == 0, 0, (p >> (s - 1)[:6])[0])
        v = (p >> s) + half
        m.d.comb += self.q.eq(Mux(v > 127, 127, Mux(v < -128, -128, v))[:8])
        return m
