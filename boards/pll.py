"""PLL settings for the board clock: searched here, so no vendor tool (icepll, ecppll) is needed.

The limits are the data-sheet ranges that icepll and LiteX use.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.errors import ConfigError

__all__ = ["Ecp5Pll", "Ice40Pll", "ecp5_pll", "ice40_pll"]


@dataclass(frozen=True)
class Ice40Pll:
    """SB_PLL40 dividers: f_out = f_in · (divf + 1) / ((divr + 1) · 2^divq)."""

    divr: int
    divf: int
    divq: int
    filter_range: int
    f_out: float


@dataclass(frozen=True)
class Ecp5Pll:
    """EHXPLLL dividers with CLKOP feedback: f_out = f_in · clkfb_div / clki_div."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_out: float


def _no_pll(family: str, f_in: float, f_want: float, best: float | None) -> ConfigError:
    near = f"; the nearest is {best / 1e6:.3f} MHz" if best else ""
    return ConfigError(
        f"no {family} PLL setting makes {f_want / 1e6:.3f} MHz from {f_in / 1e6:.3f} MHz "
        f"within 1%{near}"
    )


def ice40_pll(f_in: float, f_want: float) -> Ice40Pll:
    """The SB_PLL40 setting closest to ``f_want`` (within 1 %), or a ConfigError."""
    best: Ice40Pll | None = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f_out = f_vco / 2**divq
                if best is None or abs(f_out - f_want) < abs(best.f_out - f_want):
                    bounds = (17e6, 26e6, 44e6, 66e6, 101e6)
                    filter_range = 1 + sum(f_pfd >= b for b in bounds)
                    best = Ice40Pll(divr, divf, divq, filter_range, f_out)
    if best is None or abs(best.f_out - f_want) > 0.01 * f_want:
        raise _no_pll("iCE40", f_in, f_want, best.f_out if best else None)
    return best


def ecp5_pll(f_in: float, f_want: float) -> Ecp5Pll:
    """The EHXPLLL setting closest to ``f_want`` (within 1 %), or a ConfigError."""
    best: Ecp5Pll | None = None
    for clki_div in range(1, 129):
        f_pfd = f_in / clki_div
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            f_out = f_pfd * clkfb_div
            if not 3.125e6 <= f_out <= 400e6:
                continue
            for clkop_div in range(1, 129):
                if 400e6 <= f_out * clkop_div <= 800e6:
                    break
            else:
                continue
            if best is None or abs(f_out - f_want) < abs(best.f_out - f_want):
                best = Ecp5Pll(clki_div, clkfb_div, clkop_div, f_out)
    if best is None or abs(best.f_out - f_want) > 0.01 * f_want:
        raise _no_pll("ECP5", f_in, f_want, best.f_out if best else None)
    return best
