"""8N1 UART transmitter and receiver for the host link."""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import ConfigError

__all__ = ["MIN_DIVISOR", "UARTRx", "UARTTx"]

MIN_DIVISOR = 4
"""Fewest clock cycles per bit: the receiver needs a half-bit delay of at least two cycles."""


def _check_divisor(component: object, divisor: int) -> int:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        component._MustUse__silence = True  # type: ignore[attr-defined]  # never elaborated
        raise ConfigError(
            f"UART divisor (clock cycles per bit) must be an integer >= {MIN_DIVISOR}, "
            f"got {divisor!r}; lower the baud rate or raise the clock"
        )
    return divisor


class UARTTx(wiring.Component):
    """Sends one byte per ``valid & ready`` handshake: start bit, 8 data bits LSB first, stop.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (clock frequency / baud rate).
    """

    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def __init__(self, *, divisor: int):
        self.divisor = _check_divisor(self, divisor)
        super().__init__()

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shift = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.ready.eq(bits == 0), self.tx.eq(shift[0])]
        with m.If(self.valid & self.ready):
            m.d.sync += [
                shift.eq(Cat(Const(0, 1), self.data, Const(1, 1))),
                bits.eq(10),
                timer.eq(self.divisor - 1),
            ]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [
                    shift.eq(Cat(shift[1:], Const(1, 1))),
                    bits.eq(bits - 1),
                    timer.eq(self.divisor - 1),
                ]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UARTRx(wiring.Component):
    """Receives bytes; ``valid`` is high for one cycle with each byte whose stop bit is 1.

    The line is sampled in the middle of each bit, after a two-flop synchroniser. A byte with a
    low stop bit (a framing error or a break) is dropped.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (clock frequency / baud rate).
    """

    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)

    def __init__(self, *, divisor: int):
        self.divisor = _check_divisor(self, divisor)
        super().__init__()

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # Two flops: the pin is asynchronous to our clock.
        sync0 = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [sync0.eq(self.rx), line.eq(sync0)]

        timer = Signal(range(self.divisor))
        bits = Signal(range(10))
        shift = Signal(9)
        m.d.sync += self.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):  # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(9)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [
                        shift.eq(Cat(shift[1:], line)),
                        bits.eq(bits - 1),
                        timer.eq(self.divisor - 1),
                    ]
                    with m.If(bits == 1):
                        m.next = "STOP"
            with m.State("STOP"):
                # shift[8] is the stop bit, shift[0:8] the data.
                m.d.sync += [self.data.eq(shift[:8]), self.valid.eq(shift[8])]
                m.next = "IDLE"
        return m
