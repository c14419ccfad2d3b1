"""Delay lines that skew a row into a wavefront and de-skew it back."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, ShapeCastable, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Skew"]


class Skew(wiring.Component):
    """Delay lane ``i`` of a vector by ``i`` cycles (or ``lanes - 1 - i`` with ``reverse``).

    Feeding a row into a systolic array needs lane ``i`` one cycle behind lane ``i - 1``
    (``reverse=False``); collecting the partial sums needs the opposite (``reverse=True``).

    Parameters
    ----------
    shape : shape-castable
        Shape of one lane.
    lanes : int
        Number of lanes.
    reverse : bool
        Delay the last lane least instead of the first.
    reset_less : bool
        Leave the delay registers out of the reset (for data whose validity travels apart).
    """

    def __init__(
        self,
        *,
        shape: ShapeCastable | Shape,
        lanes: int,
        reverse: bool = False,
        reset_less: bool = False,
    ):
        self.lanes = lanes
        self.reverse = reverse
        self.reset_less = reset_less
        layout = data.ArrayLayout(shape, lanes)
        super().__init__({"i": In(layout), "o": Out(layout)})

    def delay(self, lane: int) -> int:
        return self.lanes - 1 - lane if self.reverse else lane

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for lane in range(self.lanes):
            value = self.i[lane]
            for stage in range(self.delay(lane)):
                reg = Signal.like(
                    self.o[lane], name=f"lane{lane}_d{stage}", reset_less=self.reset_less
                )
                m.d.sync += reg.eq(value)
                value = reg
            m.d.comb += self.o[lane].eq(value)
        return m
