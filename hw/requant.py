"""The requantisation arithmetic of one store lane, in combinational pieces.

The store unit (:mod:`.store`) registers between them: stage 1 multiplies, stage 2 shifts and
rounds, and stage 3 saturates before the activation's clamp (docs/timing.md). They are separate
components so that the arithmetic can be proved against docs/quantisation.md on its own
(tests/formal).
"""

from amaranth.hdl import Cat, Const, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RequantMultiply", "RequantRound", "RequantSaturate", "RequantShift"]


class RequantMultiply(wiring.Component):
    """``prod = acc · mult``, exact in 64 bits (|acc · mult| ≤ 2^62)."""

    acc: In(signed(32))
    mult: In(signed(32))
    prod: Out(signed(64))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.prod.eq((self.acc * self.mult)[:64])
        return m


class RequantShift(wiring.Component):
    """The rounding shift: ``v = round_shift(prod, shift)``, in ``W_BITS + 1`` bits when it
    fits there (``fits``), and the product's ``sign``.

    ``w = (2·prod) >> shift`` is ``prod >> (shift - 1)`` for ``shift > 0``, so bit 0 of ``w``
    is the rounding bit and ``round_shift = (w >> 1) + w[0]`` (``2·prod >> 0`` has bit 0 clear,
    which covers ``shift = 0``). Saturation only needs the low bits of ``w`` and whether the
    others are all copies of the sign, so the shifter computes just ``W_BITS`` output bits and
    the sign test is a thermometer-masked OR: about half the logic of a full 64-bit shift.
    """

    W_BITS = 10  # w >> 1 in [-512, 511] decides the int8 saturation, with room for the +1

    prod: In(signed(64))
    shift: In(6)
    v: Out(signed(W_BITS + 1))
    fits: Out(1)  # every bit of w above W_BITS is a copy of the sign
    sign: Out(1)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        s = self.shift
        wide = Cat(Const(0, 1), self.prod)  # 2·prod, 65 bits
        sign = self.prod[-1]
        n = len(wide)
        # Right shift by s, stage by stage from the largest step, keeping only the bits that
        # later stages can move into the low W_BITS (beyond the top, the sign).
        steps = range(len(s) - 1, -1, -1)  # 32, 16, ..., 1
        keep = [self.W_BITS]  # bits needed after each stage, the last stage first
        for k in range(len(s) - 1):
            keep.append(keep[-1] + (1 << k))
        keep.reverse()
        bits = [wide[i] for i in range(n)]
        for stage, k in enumerate(steps):
            step = 1 << k
            bits = [
                Mux(s[k], bits[i + step] if i + step < len(bits) else sign, bits[i])
                for i in range(min(keep[stage], n))
            ]
        w = Cat(*bits[: self.W_BITS])
        # The rest of w is all sign iff no bit of wide at index >= W_BITS + s differs from it.
        # reaches[j]: s <= j, i.e. bit W_BITS + j of wide lands at or above W_BITS (a shifted
        # constant maps to plain logic; comparisons would each take a carry chain).
        reaches = (Const(-1, n - self.W_BITS) << s)[: n - self.W_BITS]
        differs = (wide[self.W_BITS :] ^ sign.replicate(n - self.W_BITS)) & reaches
        x = Cat(w[1:], sign).as_signed()  # w >> 1 when it fits: bit W_BITS is the sign
        m.d.comb += [self.v.eq(x + w[0]), self.fits.eq(~differs.any()), self.sign.eq(sign)]
        return m


class RequantSaturate(wiring.Component):
    """``q = sat8(v)``, or the sign's limit when ``v`` did not fit: plain logic on the top
    bits of ``v``, no comparator (a carry chain each)."""

    v: In(signed(RequantShift.W_BITS + 1))
    fits: In(1)
    sign: In(1)
    q: Out(signed(8))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        top = self.v[7:-1]  # v is in [-512, 512]: in int8 iff these are copies of v's sign
        negative = self.v[-1]
        over = ~negative & top.any()  # v > 127
        under = negative & ~top.all()  # v < -128
        small = Mux(over, 127, Mux(under, -128, self.v[:8].as_signed()))
        m.d.comb += self.q.eq(Mux(self.fits, small, Mux(self.sign, -128, 127))[:8])
        return m


class RequantRound(wiring.Component):
    """``q = sat8(round_shift(prod, shift))``: round half up, arithmetic shift, saturate.

    :class:`RequantShift` then :class:`RequantSaturate`, combinationally; the store registers
    between them (docs/timing.md), and the formal proofs (tests/formal) check the whole.
    """

    W_BITS = RequantShift.W_BITS

    prod: In(signed(64))
    shift: In(6)
    q: Out(signed(8))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.shift = sh = RequantShift()
        m.submodules.saturate = sat = RequantSaturate()
        m.d.comb += [
            sh.prod.eq(self.prod),
            sh.shift.eq(self.shift),
            sat.v.eq(sh.v),
            sat.fits.eq(sh.fits),
            sat.sign.eq(sh.sign),
            self.q.eq(sat.q),
        ]
        return m
