"""The generated Verilog under Icarus Verilog and Verilator, against the simulator and golden.

Every program runs on the RTL through cocotb (one simulator process per configuration and
simulator, see systolic.sim.rtl) and on the Python simulator. Results must agree bit for bit
with each other and with the golden model; cycle counts and every performance counter must be
identical; error programs must stop with the same code, instruction index and cycle.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from systolic.sim import run_program
from systolic.sim.rtl import RtlResult, run_rtl_batch
from systolic.spec.config import PRESETS, AcceleratorConfig
from systolic.spec.isa import ErrorCode

from .. import progs

CONFIGS = {
    "tiny": PRESETS["tiny"],
    # Non-square, lanes (5) not a multiple of the bus (4 bytes), short queues and tokens, one
    # requantisation lane (int8 rows have fewer beats than passes: gaps between their beats).
    "rect": AcceleratorConfig(
        rows=3,
        cols=5,
        sp_depth=128,
        acc_depth=128,
        bus_bytes=4,
        mem_latency=3,
        queue_depth=2,
        token_depth=3,
        requant_passes=5,
    ),
    # Built without the vector unit and the LUT, 32-bit counters and only `cycles`, no queues
    # (units pop from the decode register), 8-bit pcs, half the PEs without a DSP, accumulator
    # reads unregistered: the iCE40 build's options (docs/boards.md). Icarus only, to keep
    # Verilator builds few.
    "lean": AcceleratorConfig(
        rows=2,
        cols=3,
        sp_depth=64,
        acc_depth=32,
        bus_bytes=4,
        mem_latency=2,
        queue_depth=0,
        token_depth=3,
        vector_unit=False,
        act_lut=False,
        counter_bits=32,
        lut_pes=3,  # half of the PEs multiply in logic (the DSP budget)
        pc_bits=8,
        perf_counters=False,
        requant_passes=3,
        acc_read_register=False,
        fetch_register=False,
    ),
}
SIMULATORS = ["icarus", "verilator"]
ICARUS_ONLY = {"lean"}


SERIAL, DOUBLE = 3, 4  # indices of the same matmul with one and with two buffers


def cases(config: AcceleratorConfig) -> list[progs.Case]:
    R, C = config.rows, config.cols
    return [
        # First, so that every program after it runs on a machine stopped mid-flight.
        progs.abort_in_flight(config),
        # Shapes that are not multiples of the array; K spans several tiles (accumulate).
        progs.tiled_matmul(config, 2 * R + 1, 3 * R + 2, 2 * C + 1, act="relu", seed=1),
        progs.tiled_matmul(
            config, 5, 2 * R + 1, C - 1, act="lut" if config.act_lut else "relu", seed=2, misalign=1
        ),
        progs.tiled_matmul(config, 2 * R, 3 * R, 2 * C, bias=False, seed=3, buffers=1),
        progs.tiled_matmul(config, 2 * R, 3 * R, 2 * C, bias=False, seed=3, buffers=2),
        *progs.hand_cases(config),
        *progs.error_cases(config),
    ]


def _inputs_written(case: progs.Case) -> bytes:
    memory = bytearray(case.program.memory)
    for desc in case.program.inputs:
        desc.write(memory, case.inputs[desc.name])
    return bytes(memory)


@functools.cache
def batch(config_name: str, simulator: str) -> tuple[list[progs.Case], list[RtlResult]]:
    config = CONFIGS[config_name]
    all_cases = cases(config)
    jobs = [(c.program.instructions, _inputs_written(c)) for c in all_cases]
    return all_cases, run_rtl_batch(config, jobs, simulator=simulator, max_cycles=200_000)


def _ids(config_name: str) -> list[str]:
    return [f"{config_name}-{c.name}" for c in cases(CONFIGS[config_name])]


PARAMS = [
    pytest.param(sim, name, i, id=f"{sim}-{case_id}")
    for sim in SIMULATORS
    for name in CONFIGS
    if sim == "icarus" or name not in ICARUS_ONLY
    for i, case_id in enumerate(_ids(name))
]


@pytest.mark.parametrize(("simulator", "config_name", "index"), PARAMS)
def test_rtl_matches_simulator_and_golden(simulator: str, config_name: str, index: int) -> None:
    all_cases, results = batch(config_name, simulator)
    case, rtl = all_cases[index], results[index]
    outputs, sim = run_program(case.program, case.inputs)
    assert (rtl.error, rtl.error_index) == (case.error, case.error_index)
    assert (sim.error, sim.error_index) == (case.error, case.error_index)
    assert rtl.cycles == sim.cycles, f"cycle counts differ: RTL {rtl.cycles}, sim {sim.cycles}"
    assert rtl.counters == dict(sim.counters)
    if case.error is not ErrorCode.NONE:
        return  # memory contents after an error are unspecified (docs/timing.md)
    assert rtl.memory == bytes(sim.memory), "final memory images differ"
    for desc in case.program.outputs:
        got: Any = desc.read(rtl.memory)
        np.testing.assert_array_equal(got, case.expected[desc.name])
        np.testing.assert_array_equal(outputs[desc.name], case.expected[desc.name])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_units_overlap_and_macs_count_the_work(simulator: str) -> None:
    """Double-buffered loads overlap computation: fewer cycles than the serialised program."""
    all_cases, results = batch("tiny", simulator)
    serial, double = results[SERIAL], results[DOUBLE]
    assert all_cases[SERIAL].program.metadata == all_cases[DOUBLE].program.metadata
    assert double.cycles < serial.cycles
    for case, rtl in zip(all_cases, results, strict=True):
        if case.name.startswith("matmul"):
            meta = case.program.metadata
            assert rtl.counters["macs"] == meta["M"] * meta["K"] * meta["N"]
