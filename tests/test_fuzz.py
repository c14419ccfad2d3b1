"""Differential fuzzing: random programs on the simulator and on the RTL, in lockstep.

The CI profile: FUZZ_PROGRAMS seeded programs per configuration (legal, boundary and illegal
streams, sim/fuzz.py) on both RTL simulators, in one simulator process per configuration. Every
result must equal the simulator's: error and index, cycles, all counters, memory. A failure
prints the seeds, and `python scripts/fuzz.py --config NAME --seed S --count 1` replays one.
`make fuzz N=...` runs long campaigns.
"""

from __future__ import annotations

import contextlib
import functools

import pytest

from systolic.sim import simulate
from systolic.sim.fuzz import FuzzProgram, differences, random_program
from systolic.sim.rtl import RtlResult, run_rtl_batch
from systolic.spec.errors import DecodeError
from systolic.spec.isa import ErrorCode, Opcode, decode
from tests.rtl.test_rtl import CONFIGS, ICARUS_ONLY

FUZZ_PROGRAMS = 150
SEED0 = {"tiny": 0, "rect": 10_000, "lean": 20_000}  # disjoint seeds per configuration


@functools.cache
def _batch(config_name: str, simulator: str) -> tuple[list[FuzzProgram], list[RtlResult]]:
    cfg = CONFIGS[config_name]
    programs = [random_program(cfg, seed=SEED0[config_name] + i) for i in range(FUZZ_PROGRAMS)]
    jobs = [(p.words, p.memory) for p in programs]
    return programs, run_rtl_batch(cfg, jobs, simulator=simulator, max_cycles=200_000)


@pytest.mark.parametrize(
    ("config_name", "simulator"),
    [
        (name, sim)
        for name in CONFIGS
        for sim in ("icarus", "verilator")
        if sim == "icarus" or name not in ICARUS_ONLY
    ],
)
def test_random_programs_agree_with_the_rtl(config_name: str, simulator: str) -> None:
    cfg = CONFIGS[config_name]
    programs, results = _batch(config_name, simulator)
    failures = []
    for program, rtl in zip(programs, results, strict=True):
        sim = simulate(cfg, program.words, program.memory, max_cycles=200_000, trace=True)
        diff = differences(cfg, program, sim, rtl, simulator=simulator)
        if diff:
            failures.append(f"seed {program.seed} ({program.kind}): " + "; ".join(diff))
    assert not failures, (
        f"{len(failures)} of {len(programs)} programs differ on {config_name}/{simulator}; "
        f"replay with scripts/fuzz.py --config {config_name} --seed SEED --count 1\n"
        + "\n".join(failures[:20])
    )


def test_the_campaign_covers_every_instruction_and_error() -> None:
    """The CI programs exercise every opcode and stop with every error code somewhere."""
    opcodes: set[Opcode] = set()
    errors: set[ErrorCode] = set()
    for name, cfg in CONFIGS.items():
        for i in range(FUZZ_PROGRAMS):
            program = random_program(cfg, seed=SEED0[name] + i)
            for word in program.words:
                with contextlib.suppress(DecodeError):  # the illegal words
                    opcodes.add(decode(word).opcode)
            errors.add(simulate(cfg, program.words, program.memory, max_cycles=200_000).error)
    assert opcodes == set(Opcode) - {Opcode.ILLEGAL}
    assert errors == set(ErrorCode)
