"""A minimal Value Change Dump (IEEE 1364 §18) writer for the stepping mode's waveforms.

Only what GTKWave and Surfer need: nested ``module`` scopes, ``wire`` variables of any width,
``$dumpvars`` with the first values, and value changes (``x`` for "no value").
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TextIO

__all__ = ["VcdWriter"]

_FIRST_ID, _LAST_ID = 33, 126  # printable ASCII, the identifier alphabet of VCD


def _identifier(n: int) -> str:
    base = _LAST_ID - _FIRST_ID + 1
    out = ""
    while True:
        out += chr(_FIRST_ID + n % base)
        n //= base
        if n == 0:
            return out
        n -= 1


class VcdWriter:
    """Write value changes of a fixed set of signals, emitting only what changed.

    Parameters
    ----------
    stream : TextIO
        Where the text goes (not closed by the writer).
    signals : sequence of (str, str, int)
        ``(scope, name, width)`` per signal; ``scope`` is a dotted path of modules
        (``"systolic.load"``). Signals of one scope must be contiguous in the sequence.
    timescale : str
        The ``$timescale`` text, e.g. ``"1ns"``.
    version : str
        The ``$version`` text.
    """

    def __init__(
        self,
        stream: TextIO,
        signals: Sequence[tuple[str, str, int]],
        *,
        timescale: str = "1ns",
        version: str = "systolic",
    ) -> None:
        self.stream = stream
        self.ids = [_identifier(i) for i in range(len(signals))]
        self.widths = [w for _, _, w in signals]
        self.last: list[int | None] = []
        self.time = -1
        head = [
            f"$date {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')} $end",
            f"$version {version} $end",
            f"$timescale {timescale} $end",
        ]
        open_scopes: list[str] = []
        for (scope, name, width), ident in zip(signals, self.ids, strict=True):
            path = scope.split(".")
            common = 0
            while common < min(len(path), len(open_scopes)) and path[common] == open_scopes[common]:
                common += 1
            head += ["$upscope $end"] * (len(open_scopes) - common)
            head += [f"$scope module {p} $end" for p in path[common:]]
            open_scopes = path
            head.append(f"$var wire {width} {ident} {name} $end")
        head += ["$upscope $end"] * len(open_scopes)
        head.append("$enddefinitions $end")
        self.stream.write("\n".join(head) + "\n")

    def _value(self, i: int, v: int | None) -> str:
        if self.widths[i] == 1:
            return ("x" if v is None else str(v & 1)) + self.ids[i]
        return ("bx " if v is None else f"b{v:b} ") + self.ids[i]

    def _stamp(self, time: int) -> None:
        if time <= self.time:
            raise ValueError(f"VCD times must increase: {time} after {self.time}")
        self.stream.write(f"#{time}\n")
        self.time = time

    def sample(self, time: int, values: Sequence[int | None]) -> None:
        """Record every signal's value at ``time`` (later than the previous sample).

        Parameters
        ----------
        time : int
            Simulation time in ``timescale`` units.
        values : sequence of int or None
            One value per signal, in declaration order; ``None`` dumps ``x``.
        """
        if not self.last:
            self._stamp(time)
            body = "\n".join(self._value(i, v) for i, v in enumerate(values))
            self.stream.write(f"$dumpvars\n{body}\n$end\n")
            self.last = list(values)
            return
        last = self.last
        changed = [i for i, v in enumerate(values) if v != last[i]]
        if not changed:
            return
        self._stamp(time)
        self.stream.write("\n".join(self._value(i, values[i]) for i in changed) + "\n")
        for i in changed:
            last[i] = values[i]

    def change(self, time: int, index: int, value: int | None) -> None:
        """Record one signal's value at ``time`` (e.g. the falling clock edge mid-cycle)."""
        if value == self.last[index]:
            return
        if time != self.time:
            self._stamp(time)
        self.stream.write(self._value(index, value) + "\n")
        self.last[index] = value

    def finish(self, time: int) -> None:
        """Write a final time stamp so that the last values have a visible duration."""
        if time > self.time:
            self._stamp(time)
