"""The simulator's public API, its statistics and traces, overlap, and speed."""

from __future__ import annotations

import json
import time

import numpy as np
import progs
import pytest

from systolic.sim import COUNTER_NAMES, SimError, chrome_trace, run_program, simulate
from systolic.spec.asm import assemble
from systolic.spec.config import PRESETS
from systolic.spec.errors import ProgramError, SystolicError
from systolic.spec.isa import ErrorCode


def test_result_fields_and_counter_names() -> None:
    case = progs.tiled_matmul(PRESETS["tiny"], 10, 6, 5)
    _, r = run_program(case.program, case.inputs)
    assert r.ok and r.error == ErrorCode.NONE and r.error_index is None and r.error_message == ""
    assert tuple(r.counters) == COUNTER_NAMES
    assert r.counters["cycles"] == r.cycles
    assert r.timeline is None
    # macs: rows x (kr x nc) for each of the 2 K tiles (4 + 2 rows) and 2 column tiles (4 + 1).
    assert r.counters["macs"] == 10 * 6 * 5 == r.stats.macs
    assert r.stats.utilisation == pytest.approx(300 / (16 * r.cycles))
    assert r.counters["array_busy"] == 10 * 2 * 2
    assert r.stats.bus_bytes_read == 4 * r.counters["rd_beats"] >= r.stats.bytes_read
    assert r.stats.bytes_written == 10 * 5
    for unit, short in (("load", "load"), ("execute", "exec"), ("store", "store")):
        u = r.stats.units[unit]
        assert u.busy == r.counters[f"{short}_busy"]
        assert u.stall == r.counters[f"{short}_stall"]
        assert u.stall == u.stall_unit_busy + u.stall_tokens + u.stall_hazard + u.stall_interlock
        assert u.busy + u.starved <= r.cycles
    assert len(r.memory) == len(case.program.memory)


def test_simulate_does_not_modify_its_inputs() -> None:
    mem = bytearray(64)
    words = assemble("load target=sp dst=0 len=4 n_inner=1 addr=0\nhalt")
    simulate(PRESETS["tiny"], words, mem)
    assert mem == bytearray(64)


def test_run_program_checks_inputs() -> None:
    case = progs.tiled_matmul(PRESETS["tiny"], 3, 3, 3)
    with pytest.raises(ProgramError, match="missing"):
        run_program(case.program, {})
    with pytest.raises(ProgramError, match="unknown input"):
        run_program(case.program, {**case.inputs, "z": np.zeros(1)})
    with pytest.raises(ProgramError, match="shape"):
        run_program(case.program, {"x": np.zeros((2, 3), dtype=np.int8)})


def test_max_cycles() -> None:
    words = assemble("cfg_lut slot=0 src=0\nhalt")
    # cfg_lut pops at A_0 + 1 = 4 and completes at P + 257 = 261; done at 262.
    assert simulate(PRESETS["tiny"], words, b"", max_cycles=300).cycles == 263
    with pytest.raises(SimError, match="max_cycles = 100") as info:
        simulate(PRESETS["tiny"], words, b"", max_cycles=100)
    assert isinstance(info.value, SystolicError)


def test_timeline_and_chrome_trace() -> None:
    case = progs.tiled_matmul(PRESETS["tiny"], 9, 9, 5)
    _, r = run_program(case.program, case.inputs, trace=True)
    assert r.timeline is not None
    assert len(r.timeline) == len(case.program.instructions)
    for e in r.timeline[:-1]:
        assert e.P is not None and e.E is not None and e.A <= e.D < e.P <= e.E
    assert r.timeline[-1].mnemonic == "halt" and r.timeline[-1].unit == "fetch"
    trace = json.loads(json.dumps(chrome_trace(r)))
    slices = [ev for ev in trace["traceEvents"] if ev["ph"] == "X"]
    assert len(slices) == len(case.program.instructions) - 1
    first, load0 = slices[0], r.timeline[0]
    assert load0.P is not None and load0.E is not None
    assert first["name"] == "load #0" and first["ts"] == load0.P
    assert first["dur"] == load0.E - load0.P + 1
    names = {ev["args"]["name"] for ev in trace["traceEvents"] if ev["name"] == "thread_name"}
    assert names == {"fetch", "load", "execute", "store"}
    with pytest.raises(ValueError, match="trace=True"):
        chrome_trace(simulate(PRESETS["tiny"], assemble("halt"), b""))


def test_overlap_beats_serialised_tokens() -> None:
    # The same work: with two buffers the loads of tile j+1 run while tile j computes; with
    # one buffer every load waits for the previous matmul's token.
    cfg = PRESETS["default"]
    fast = progs.tiled_matmul(cfg, 64, 40, 24, buffers=2)
    slow = progs.tiled_matmul(cfg, 64, 40, 24, buffers=1)
    out_fast, r_fast = run_program(fast.program, fast.inputs)
    out_slow, r_slow = run_program(slow.program, slow.inputs)
    np.testing.assert_array_equal(out_fast["y"], fast.expected["y"])
    np.testing.assert_array_equal(out_slow["y"], out_fast["y"])
    assert r_fast.counters["macs"] == r_slow.counters["macs"]
    assert r_fast.cycles < 0.8 * r_slow.cycles
    # Overlap shows as busy cycles that exceed the run time when summed over units.
    busy = sum(r_fast.counters[f"{u}_busy"] for u in ("load", "exec", "store"))
    assert busy > r_fast.cycles


def test_independent_loads_overlap_execute() -> None:
    cfg = PRESETS["tiny"]
    body = "load target=sp dst=0 len=4 n_inner=8 addr=0 stride_inner=4{}\nsync unit=execute{}\n"
    free = simulate(cfg, assemble(body.format("", "") * 4 + "halt"), bytes(64))
    chained = simulate(
        cfg, assemble(body.format(" push_next", " pop_prev") * 4 + "halt"), bytes(64)
    )
    assert free.ok and chained.ok
    assert free.cycles < chained.cycles


@pytest.mark.slow
def test_large_gemm_speed() -> None:
    # 1024 x 1024 x 1024 on the 16x16 preset: ~33k instructions, 8.7M cycles. Not a timed
    # assertion; the simulation takes about a second (the golden check covers 64 rows).
    cfg = PRESETS["large"]
    case = progs.tiled_matmul(cfg, 1024, 1024, 1024, golden_rows=64)
    start = time.perf_counter()
    out, r = run_program(case.program, case.inputs)
    elapsed = time.perf_counter() - start
    assert r.ok
    np.testing.assert_array_equal(out["y"][:64], case.expected["y"])
    assert r.counters["macs"] == 1024**3
    assert elapsed < 60, f"the 1024^3 GEMM took {elapsed:.1f} s to simulate"


def test_counters_wrap_at_counter_bits() -> None:
    from systolic.sim.stats import wrapped

    narrow = PRESETS["tiny"].replace(counter_bits=32)
    true = {"cycles": 2**32 + 5, "macs": 2**40 + 7, "rd_beats": 3}
    assert wrapped(true, narrow) == {"cycles": 5, "macs": 7, "rd_beats": 3}
    assert wrapped(true, PRESETS["tiny"]) == {"cycles": 2**32 + 5, "macs": 2**40 + 7, "rd_beats": 3}
    # Both modes report through it; below the wrap the readout is the true count.
    words = assemble("sync unit=load\nhalt")
    for mode in ("fast", "step"):
        result = simulate(narrow, words, bytes(64), mode=mode)
        assert result.counters["cycles"] == result.cycles


def test_a_program_longer_than_the_pc_counts_is_refused() -> None:
    narrow = PRESETS["tiny"].replace(pc_bits=8)
    fits = assemble("sync unit=load\n" * 254 + "halt")  # 255 words: the pc reaches 255
    assert simulate(narrow, fits, bytes(64)).error.name == "NONE"
    too_long = assemble("sync unit=load\n" * 255 + "halt")
    for mode in ("fast", "step"):
        with pytest.raises(ProgramError) as e:
            simulate(narrow, too_long, bytes(64), mode=mode)
        assert str(e.value) == "the program has 256 instructions; pc_bits = 8 counts at most 255"


def test_without_perf_counters_only_cycles_reads_back() -> None:
    case = progs.tiled_matmul(PRESETS["tiny"], 4, 4, 4, seed=1)
    memory = bytearray(case.program.memory)
    for desc in case.program.inputs:
        desc.write(memory, case.inputs[desc.name])
    full = simulate(PRESETS["tiny"], case.program.instructions, memory)
    lean = simulate(PRESETS["tiny"].replace(perf_counters=False), case.program.instructions, memory)
    assert full.counters["macs"] == 64 and full.counters["rd_beats"] > 0
    assert lean.counters == {k: full.cycles if k == "cycles" else 0 for k in full.counters}
    # The statistics are the simulator's true counts either way.
    assert lean.stats == full.stats and lean.memory == full.memory


def test_hardware_statistics_need_the_performance_counters() -> None:
    from systolic.runtime import _hw_stats

    counters = {"cycles": 100, "macs": 800, "rd_beats": 10, "wr_beats": 5}
    full = _hw_stats(PRESETS["tiny"], 100, counters)
    assert full["utilization"] == 800 / (16 * 100)
    assert (full["dram_bytes_read"], full["dram_bytes_written"]) == (40, 20)
    lean = _hw_stats(PRESETS["tiny"].replace(perf_counters=False), 100, counters)
    assert lean == {"cycles": 100, "counters": counters}  # nothing derived from zeros
