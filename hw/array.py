"""The R × C grid of processing elements, and the skewed core around it."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from .pe import ACC, OPERAND, PE, psum_bits
from .skew import Skew

__all__ = ["Array", "SystolicCore", "pe_in_logic"]


def pe_in_logic(config: AcceleratorConfig, row: int, col: int) -> bool:
    """Whether PE (row, col) multiplies in logic: the last ``lut_pes`` PEs in row-major order
    (the DSP budget); the others leave their multiply to a DSP block."""
    return row * config.cols + col >= config.rows * config.cols - config.lut_pes


class Array(wiring.Component):
    """A weight-stationary grid: inputs enter row-wise from the west, sums leave south.

    Row ``i``'s input (``a[i]``, ``flip[i]``) must arrive ``i`` cycles after row 0's (the caller
    skews); column ``j``'s sum leaves ``j`` cycles after column 0's. Weights enter column-wise at
    the north edge and shift down one PE per ``w_shift`` cycle.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__(
            {
                "a": In(data.ArrayLayout(OPERAND, config.rows)),
                "flip": In(config.rows),
                "w": In(data.ArrayLayout(OPERAND, config.cols)),
                "w_shift": In(1),
                "psum": Out(data.ArrayLayout(signed(psum_bits(config.rows - 1)), config.cols)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        rows, cols = self.config.rows, self.config.cols
        pes = [
            [
                PE(lut_multiply=pe_in_logic(self.config, i, j), psum_bits=psum_bits(i))
                for j in range(cols)
            ]
            for i in range(rows)
        ]
        for i in range(rows):
            for j in range(cols):
                pe = pes[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                m.d.comb += pe.w_shift.eq(self.w_shift)
                if j == 0:
                    m.d.comb += [pe.a_in.eq(self.a[i]), pe.flip_in.eq(self.flip[i])]
                else:
                    west = pes[i][j - 1]
                    m.d.comb += [pe.a_in.eq(west.a_out), pe.flip_in.eq(west.flip_out)]
                if i == 0:
                    m.d.comb += [pe.psum_in.eq(0), pe.w_in.eq(self.w[j])]
                else:
                    north = pes[i - 1][j]
                    m.d.comb += [pe.psum_in.eq(north.psum_out), pe.w_in.eq(north.w_out)]
            # Sums leave the bottom row.
        for j in range(cols):
            m.d.comb += self.psum[j].eq(pes[rows - 1][j].psum_out)
        return m


class SystolicCore(wiring.Component):
    """The array with its input skew and output de-skew: one row in, one row out.

    An input row presented with ``in_valid`` (and ``in_flip`` for the first row after a swap)
    leaves as one output row with ``out_valid`` exactly :attr:`latency` cycles later. Weight rows
    presented with ``w_shift`` enter the shadow chain in the same cycle.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__(
            {
                "in_row": In(data.ArrayLayout(OPERAND, config.rows)),
                "in_valid": In(1),
                "in_flip": In(1),
                "w_row": In(data.ArrayLayout(OPERAND, config.cols)),
                "w_shift": In(1),
                "out_row": Out(data.ArrayLayout(ACC, config.cols)),
                "out_valid": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        """Cycles from an input row to its output row: skew, R PE stages, C - 1 de-skew."""
        return self.config.rows + self.config.cols - 1

    def elaborate(self, platform: object) -> Module:
        m = Module()
        rows = self.config.rows
        # Operands and sums need no reset (see PE); the flip bits and `valid` do.
        m.submodules.skew = skew = Skew(shape=OPERAND, lanes=rows, reset_less=True)
        m.submodules.flip_skew = flip_skew = Skew(shape=1, lanes=rows)
        m.submodules.array = array = Array(self.config)
        # Sums leave the array at the last row's width; de-skewed at it, then sign-extended.
        out_shape = signed(psum_bits(rows - 1))
        m.submodules.deskew = deskew = Skew(
            shape=out_shape, lanes=self.config.cols, reverse=True, reset_less=True
        )
        m.d.comb += [
            skew.i.eq(self.in_row),
            flip_skew.i.eq(self.in_flip.replicate(rows)),
            array.a.eq(skew.o),
            array.flip.eq(flip_skew.o.as_value()),
            array.w.eq(self.w_row),
            array.w_shift.eq(self.w_shift),
            deskew.i.eq(array.psum),
            *(self.out_row[j].eq(deskew.o[j]) for j in range(self.config.cols)),
        ]
        # Validity only needs the total delay, not a per-lane copy.
        valid = self.in_valid
        for stage in range(self.latency):
            reg = Signal(name=f"valid_d{stage}")
            m.d.sync += reg.eq(valid)
            valid = reg
        m.d.comb += self.out_valid.eq(valid)
        return m
