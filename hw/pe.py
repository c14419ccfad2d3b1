"""One weight-stationary processing element with a double-buffered weight."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig

__all__ = ["PE", "psum_bits", "shift_add_product"]

OPERAND = signed(AcceleratorConfig.OPERAND_BITS)
ACC = signed(AcceleratorConfig.ACC_BITS)


def psum_bits(row: int) -> int:
    """Width of the partial sum leaving array row ``row`` (0-based; row -1 is the zero that
    enters row 0).

    A product is 16 bits and each row's add grows the sum by one bit, so row ``row`` needs
    ``17 + row`` bits (at most int32): every add keeps its full width and nothing is ever cut
    off. (The tightest bound, ``(row + 1)·2^14``, would be narrower still but makes each add
    truncate, which the array's formal proof then has to justify through the multipliers.)
    """
    return min(2 * OPERAND.width + 1 + row, ACC.width)


class PE(wiring.Component):
    """int8 × int8 → int32 multiply-accumulate cell of a weight-stationary array.

    Each cycle ``psum_out <= psum_in + a_in · w`` where ``w`` is the active weight. Inputs pass
    east (``a``, ``flip``) and partial sums pass south, each through one register. The shadow
    weight register shifts south along the column when ``w_shift`` is high, so a tile can be
    preloaded while the active one computes.

    ``flip_in`` travels east with the first input row of a ``matmul`` with ``swap=1``: in that
    cycle the PE multiplies with the shadow weight and makes it active, so every product of that
    row, and none before it, uses the new tile.

    Parameters
    ----------
    lut_multiply : bool
        Build the multiplier from logic (:func:`shift_add_product`) instead of letting synthesis
        map it to a DSP block (``AcceleratorConfig.lut_pes``). Same product, same timing.
    psum_in_bits, psum_bits : int
        Widths of ``psum_in`` and ``psum_out`` (:func:`psum_bits`): rows near the top of an
        array need far fewer than 32 bits, which saves adders and registers.
    """

    def __init__(
        self,
        *,
        lut_multiply: bool = False,
        psum_in_bits: int = ACC.width,
        psum_bits: int = ACC.width,
    ):
        self.lut_multiply = lut_multiply
        super().__init__(
            {
                "a_in": In(OPERAND),
                "flip_in": In(1),
                "psum_in": In(signed(psum_in_bits)),
                "w_in": In(OPERAND),
                "w_shift": In(1),
                "a_out": Out(OPERAND),
                "flip_out": Out(1),
                "psum_out": Out(signed(psum_bits)),
                "w_out": Out(OPERAND),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shadow = Signal(OPERAND)
        active = Signal(OPERAND)
        weight = Mux(self.flip_in, shadow, active)
        m.d.comb += self.w_out.eq(shadow)
        with m.If(self.w_shift):
            m.d.sync += shadow.eq(self.w_in)
        with m.If(self.flip_in):
            m.d.sync += active.eq(shadow)
        product = self.a_in * weight  # 16 bits; one DSP block
        if self.lut_multiply:  # the adder tree is wider than its value, which fits 16 bits
            product = shift_add_product(self.a_in, weight)[: len(product)].as_signed()
        # psum_bits sizes psum_out for the full sum, so this cuts off nothing (the last rows of
        # arrays taller than 15 wrap at 32 bits, like the accumulator; golden proves they never
        # need to).
        # Operands and sums carry no reset: a valid wave's sums come only from that wave's
        # inputs, so their contents between waves never matter. Leaving them out of `start`'s
        # reset keeps that net to the control registers (on a 16×16 ECP5 build it had reached
        # 22,387 of 24,114 flip-flops) and lets data registers share slices freely.
        a_out = Signal(OPERAND, reset_less=True)
        psum_out = Signal(self.psum_out.shape(), reset_less=True)
        m.d.sync += [
            a_out.eq(self.a_in),
            self.flip_out.eq(self.flip_in),
            psum_out.eq((self.psum_in + product)[: len(self.psum_out)].as_signed()),
        ]
        m.d.comb += [self.a_out.eq(a_out), self.psum_out.eq(psum_out)]
        return m


def shift_add_product(a: Value, w: Value) -> Value:
    """``a · w`` as an adder tree, which synthesis keeps in logic: it maps ``$mul`` cells to
    DSPs, not adders. Any widths, signed or unsigned, like ``a * w``.

    Radix-4 Booth recoding: each pair of bits of ``w`` (with the bit below) is a digit in
    {-2, -1, 0, 1, 2}, so an 8-bit weight needs four partial products instead of eight: a fifth
    less logic on iCE40 than one partial product per bit (docs/boards.md has the measurements).
    """
    # Two's-complement operands of even width: zero-extend unsigned ones, sign-extend odd ones.
    if not a.shape().signed:
        a = Cat(a, Const(0, 1)).as_signed()
    if not w.shape().signed:
        w = Cat(w, Const(0, 1)).as_signed()
    if len(w) % 2:
        w = Cat(w, w[-1]).as_signed()
    terms = []
    for k in range(len(w) // 2):
        b0, b1 = w[2 * k], w[2 * k + 1]
        below = w[2 * k - 1] if k else Const(0, 1)
        one = b0 ^ below  # digit ±1
        two = (b1 & ~b0 & ~below) | (~b1 & b0 & below)  # digit ±2
        negative = b1 & ~(b0 & below)  # 111 is the digit 0
        magnitude = Mux(two, a << 1, Mux(one, a, 0))
        terms.append(Mux(negative, -magnitude, magnitude) << (2 * k))
    return sum(terms[1:], terms[0])
