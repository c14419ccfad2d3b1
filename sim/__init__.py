"""Cycle-accurate simulator of the systolic accelerator.

:func:`simulate` runs instruction words on a memory image and returns a :class:`SimResult`
whose cycle count, performance counters and error (code, instruction index) follow
``docs/timing.md`` exactly, and whose memory image follows ``docs/isa.md`` and
``docs/quantisation.md`` bit for bit. :func:`run_program` does the same for a
:class:`~systolic.spec.program.Program` and its tensors; :func:`chrome_trace` draws the timeline.

The simulator is event-driven at instruction granularity (see :mod:`.schedule`): its speed
depends on the number of instructions, not of cycles. ``simulate(..., mode="step")`` runs the
same contract one cycle at a time instead (see :mod:`.stepper`): much slower, independent of
the scheduler's event arithmetic, and able to write a VCD waveform of every cycle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TextIO

import numpy as np
import numpy.typing as npt

from ..spec.config import AcceleratorConfig
from ..spec.errors import ProgramError
from ..spec.program import Program
from .checks import check
from .decode import HALT
from .result import SimError, SimResult, Stats, TimelineEntry, UnitStats
from .schedule import run_schedule
from .state import Machine
from .stats import COUNTER_NAMES, counters, stats, wrapped
from .stepper import step
from .trace import chrome_trace

__all__ = [
    "COUNTER_NAMES",
    "MODES",
    "SimError",
    "SimResult",
    "Stats",
    "TimelineEntry",
    "UnitStats",
    "check",
    "chrome_trace",
    "run_program",
    "simulate",
]

_UNIT_NAMES = {0: "load", 1: "execute", 2: "store", HALT: "fetch"}
MODES = ("fast", "step")


def simulate(
    config: AcceleratorConfig,
    instructions: Sequence[int],
    memory: bytes | bytearray,
    *,
    max_cycles: int | None = None,
    trace: bool = False,
    mode: Literal["fast", "step"] = "fast",
    vcd: str | os.PathLike[str] | TextIO | None = None,
) -> SimResult:
    """Run a program from reset until it halts, fails or deadlocks.

    Parameters
    ----------
    config : AcceleratorConfig
        The accelerator.
    instructions : sequence of int
        128-bit instruction words; fetch past the end reads zero (an illegal opcode).
    memory : bytes or bytearray
        Initial external memory (not modified); its length is ``dram_size`` for range checks.
    max_cycles : int, optional
        Safety limit: raise :class:`SimError` if the machine has not stopped within this many
        cycles. Every program stops by itself (deadlock is detected), so this only bounds time.
    trace : bool
        Also return the per-instruction timeline (``SimResult.timeline``).
    mode : {"fast", "step"}
        ``"fast"``: the event-driven scheduler, whose cost is per instruction. ``"step"``: a
        literal cycle-by-cycle model of the contract, whose cost is per cycle (a few µs a
        cycle); same result, for debugging, waveforms and cross-checking the fast mode.
    vcd : str, path-like or text stream, optional
        ``mode="step"`` only: write a VCD waveform of every cycle (per-unit busy, stall and
        its reason, pop, the PCs in flight and at the queue heads, queue occupancy, token
        counters, dispatch, array and bus activity) to this file or stream. One cycle is
        10 ns; the signals are listed in ``sim/README.md``.

    Returns
    -------
    SimResult
        Cycles, error, counters, final memory, statistics and (optionally) the timeline.

    Raises
    ------
    SimError
        If ``max_cycles`` is exceeded.
    ProgramError
        If the program has more instructions than ``config.pc_bits`` can count.
    ValueError
        If ``mode`` is unknown, or ``vcd`` is given without ``mode="step"``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if vcd is not None and mode != "step":
        raise ValueError("a VCD waveform needs the stepping mode: simulate(..., mode='step')")
    config.check_program_length(len(instructions))
    image = bytearray(memory)
    machine = Machine(config, image)
    if mode == "step":
        run = step(config, instructions, machine, len(image), max_cycles, vcd)
        return SimResult(
            cycles=run.stop + 1,
            error=run.error,
            error_index=run.error_index,
            error_message=run.error_message,
            counters=wrapped(run.counters, config),
            memory=bytes(image),
            stats=run.stats,
            timeline=run.timeline if trace else None,
        )
    sched = run_schedule(config, instructions, machine, len(image), max_cycles)
    c = counters(sched)
    timeline = None
    if trace:
        timeline = tuple(
            TimelineEntry(
                index=i,
                unit=_UNIT_NAMES[sched.unit[i]],
                mnemonic=sched.name[i],
                A=sched.A[i],
                D=sched.D[i],
                P=sched.P[i],
                E=sched.E[i],
            )
            for i in range(len(sched.A))
        )
    return SimResult(
        cycles=c["cycles"],
        error=sched.error,
        error_index=sched.error_index,
        error_message=sched.error_message,
        counters=wrapped(c, config),
        memory=bytes(image),
        stats=stats(sched, c, config),
        timeline=timeline,
    )


def run_program(
    program: Program, inputs: Mapping[str, npt.ArrayLike], **kw: Any
) -> tuple[dict[str, npt.NDArray[Any]], SimResult]:
    """Write the inputs into the program's memory image, simulate, and read the outputs.

    Parameters
    ----------
    program : Program
        The program (its config, instructions, memory image and tensor descriptors).
    inputs : mapping of str to array_like
        Quantised integer values for every input tensor, by name, shaped as its descriptor.
    **kw
        Passed to :func:`simulate` (``max_cycles``, ``trace``, ``mode``, ``vcd``).

    Returns
    -------
    tuple of (dict of str to numpy.ndarray, SimResult)
        The output tensors by name (read even after an error) and the result.

    Raises
    ------
    ProgramError
        If an input is missing, unknown, or does not fit its descriptor.
    """
    names = {t.name for t in program.inputs}
    unknown = sorted(set(inputs) - names)
    if unknown:
        raise ProgramError(f"unknown input {unknown[0]!r}; the program's inputs: {sorted(names)}")
    image = bytearray(program.memory)
    for desc in program.inputs:
        if desc.name not in inputs:
            raise ProgramError(f"input {desc.name!r} is missing")
        desc.write(image, np.asarray(inputs[desc.name]))
    result = simulate(program.config, program.instructions, image, **kw)
    outputs = {desc.name: desc.read(result.memory) for desc in program.outputs}
    return outputs, result
