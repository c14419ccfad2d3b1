"""The top level on a board: clock (PLL when the target clock differs), reset, pins, SoC."""

from amaranth.build import ResourceError
from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
)
from amaranth.lib import io

from .pll import ecp5_pll, ice40_pll
from .soc import LEDS, SoC
from .targets import BoardTarget

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """Wraps a :class:`SoC` for ``target``'s platform.

    Parameters
    ----------
    target : BoardTarget
        The board.
    soc : SoC
        The SoC; its ``clk_hz`` is the clock the PLL makes (or the board's oscillator).
    """

    def __init__(self, *, target: BoardTarget, soc: SoC):
        self.target = target
        self.soc = soc

    def elaborate(self, platform):
        m = Module()
        m.submodules.soc = soc = self.soc
        if soc.clk_hz != self.target.clk_hz:
            self._pll(m, platform)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.uart_rx.eq(rx.i), tx.o.eq(soc.uart_tx)]
        if "uart_tx_enable" in {r.name for r in platform.resources.values()}:
            m.submodules.uart_tx_enable = en = io.Buffer(
                "o", platform.request("uart_tx_enable", 0, dir="-")
            )
            m.d.comb += en.o.eq(1)
        for i in range(len(LEDS)):
            try:
                pin = platform.request("led", i, dir="-")
            except ResourceError:  # fewer LEDs on this board
                break
            m.submodules[f"led_{i}"] = led = io.Buffer("o", pin)
            m.d.comb += led.o.eq(soc.leds[i])
        return m

    def _pll(self, m, platform):
        """Make the ``sync`` domain at ``soc.clk_hz``, held in reset until the PLL locks."""
        f_in, f_out = self.target.clk_hz, self.soc.clk_hz
        m.domains.sync = ClockDomain("sync")
        clk_in = platform.request(platform.default_clk, dir="-")
        clk_out = Signal()  # nextpnr's constraint needs a plain signal, not ClockSignal
        locked = Signal()
        m.d.comb += ClockSignal("sync").eq(clk_out)
        if self.target.family == "ecp5":
            s = ecp5_pll(f_in, f_out)
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED",
                p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA",
                p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_DIV=s.clkop_div,
                p_CLKOP_CPHASE=s.clkop_div - 1,
                p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=s.clkfb_div,
                p_CLKI_DIV=s.clki_div,
                i_CLKI=clk_in.io,
                i_CLKFB=clk_out,
                i_RST=0,
                i_STDBY=0,
                i_PHASESEL0=0,
                i_PHASESEL1=0,
                i_PHASEDIR=0,
                i_PHASESTEP=0,
                i_PHASELOADREG=0,
                i_PLLWAKESYNC=0,
                i_ENCLKOP=0,
                o_CLKOP=clk_out,
                o_LOCK=locked,
            )
        else:
            s = ice40_pll(f_in, f_out)
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=s.divr,
                p_DIVF=s.divf,
                p_DIVQ=s.divq,
                p_FILTER_RANGE=s.filter_range,
                i_PACKAGEPIN=clk_in.io,
                i_RESETB=1,
                i_BYPASS=0,
                o_PLLOUTGLOBAL=clk_out,
                o_LOCK=locked,
            )
        platform.add_clock_constraint(clk_out, f_out)
        # Reset until the PLL has locked, through two flops of the new clock. Plain flops, not
        # amaranth's ResetSynchronizer: its async-reset flops crash Yosys 0.70's abc9 pass in
        # synth_ecp5 on the full SoC (ABC_OPS_REINTEGRATE assertion).
        locked_sync = Signal(2, reset_less=True)
        m.d.sync += locked_sync.eq(Cat(locked, locked_sync[0]))
        m.d.comb += ResetSignal("sync").eq(~locked_sync[1])
