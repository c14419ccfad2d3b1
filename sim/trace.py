"""Chrome/Perfetto trace-event JSON of a simulation's timeline."""

from __future__ import annotations

from typing import Any

from .result import SimResult

__all__ = ["chrome_trace"]

_TRACKS = ("fetch", "load", "execute", "store")


def chrome_trace(result: SimResult) -> dict[str, Any]:
    """Trace events for https://ui.perfetto.dev or ``chrome://tracing``.

    One track per unit; one slice per instruction from its pop ``P`` to its completion ``E``
    (inclusive), named ``mnemonic #index``; ``halt`` is an instant on the fetch track. One cycle
    is shown as one microsecond.

    Parameters
    ----------
    result : SimResult
        A result of ``simulate(..., trace=True)``.

    Returns
    -------
    dict
        ``{"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}``; write it with
        :func:`json.dump`.

    Raises
    ------
    ValueError
        If the result has no timeline.
    """
    if result.timeline is None:
        raise ValueError("the result has no timeline: simulate with trace=True")
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 0, "name": "process_name", "args": {"name": "systolic"}}
    ]
    for tid, track in enumerate(_TRACKS):
        events.append(
            {"ph": "M", "pid": 0, "tid": tid, "name": "thread_name", "args": {"name": track}}
        )
        events.append(
            {
                "ph": "M",
                "pid": 0,
                "tid": tid,
                "name": "thread_sort_index",
                "args": {"sort_index": tid},
            }
        )
    for entry in result.timeline:
        tid = _TRACKS.index(entry.unit)
        args = {"index": entry.index, "A": entry.A, "D": entry.D, "P": entry.P, "E": entry.E}
        name = f"{entry.mnemonic} #{entry.index}"
        if entry.P is None or entry.E is None:
            events.append(
                {
                    "ph": "i",
                    "s": "t",
                    "pid": 0,
                    "tid": tid,
                    "ts": entry.D,
                    "name": name,
                    "args": args,
                }
            )
            continue
        events.append(
            {
                "ph": "X",
                "pid": 0,
                "tid": tid,
                "ts": entry.P,
                "dur": entry.E - entry.P + 1,
                "name": name,
                "cat": entry.unit,
                "args": args,
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "cycles": result.cycles,
            "error": result.error.name,
            "error_index": result.error_index,
        },
    }
