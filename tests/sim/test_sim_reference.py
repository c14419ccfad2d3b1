"""The event-driven scheduler against the stepping mode, a literal reading of docs/timing.md.

``simulate(..., mode="step")`` (``sim/stepper.py``) steps every cycle and checks every rule of
the contract as written; its timing shares no code with the fast mode's scheduler. Random
programs (random unit mixes, token flags, sizes and configs; many deadlock or overflow) must
give the same timeline, cycle count, error, index, message, every counter (busy, stall, beats,
MACs), the statistics and the final memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import progs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.sim import SimResult, run_program, simulate
from systolic.spec.config import PRESETS, AcceleratorConfig
from systolic.spec.isa import (
    ActMode,
    Elem,
    Instruction,
    LoadTarget,
    MatMode,
    StoreTarget,
    Unit,
    VecOp,
    encode,
)

DRAM = 128


# Random programs ---------------------------------------------------------------------------


@st.composite
def programs(draw: st.DrawFn) -> tuple[AcceleratorConfig, list[int]]:
    R, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    cfg = AcceleratorConfig(
        rows=R,
        cols=C,
        sp_depth=32,
        acc_depth=256,
        bus_bytes=draw(st.sampled_from([1, 2, 4, 8])),
        mem_latency=draw(st.integers(1, 4)),
        queue_depth=draw(st.integers(0, 3)),
        token_depth=draw(st.integers(1, 3)),
        requant_passes=draw(st.sampled_from([d for d in range(1, C + 1) if C % d == 0])),
    )
    lanes = max(R, C)
    words = []
    fields: dict[str, Any]
    owed = [0, 0, 0, 0]
    for _ in range(draw(st.integers(1, 24))):
        choice = (
            draw(st.integers(0, 11)) if draw(st.integers(0, 40)) else 11 + draw(st.integers(0, 1))
        )
        small = st.integers(0, 9)
        if choice <= 2:
            acc = draw(st.booleans())
            elem = Elem.I32 if acc and draw(st.booleans()) else Elem.I8
            name, unit = "load", Unit.LOAD
            fields = dict(
                target=LoadTarget.ACC if acc else LoadTarget.SP,
                elem=elem,
                dst=0,
                len=draw(st.integers(1, C if acc else lanes)),
                n_inner=draw(st.integers(1, 3)),
                n_outer=draw(st.integers(1, 2)),
                addr=draw(st.integers(0, 20)),
                stride_inner=draw(small),
                stride_outer=draw(small),
            )
        elif choice <= 4:
            sp = draw(st.booleans())
            name, unit = "store", Unit.STORE
            fields = dict(
                target=StoreTarget.SP if sp else StoreTarget.DRAM,
                elem=Elem.I32 if not sp and draw(st.booleans()) else Elem.I8,
                src=0,
                len=draw(st.integers(1, C)),
                n_inner=draw(st.integers(1, 3)),
                n_outer=draw(st.integers(1, 2)),
                addr=draw(st.integers(0, 10)) if sp else draw(st.integers(40, 60)),
                stride_inner=draw(st.integers(0, 3) if sp else small),
                stride_outer=draw(st.integers(0, 3) if sp else small),
            )
        elif choice == 5:
            name, unit = "preload", Unit.EXECUTE
            fields = dict(src=0, rows=draw(st.integers(1, R)), cols=draw(st.integers(1, C)))
        elif choice <= 7:
            name, unit = "matmul", Unit.EXECUTE
            fields = dict(
                src=0,
                dst=0,
                n=draw(st.integers(1, 4)),
                mode=draw(st.sampled_from(list(MatMode))),
                bias=1,
                swap=draw(st.integers(0, 1)),
            )
        elif choice == 8:
            name, unit = "vector", Unit.EXECUTE
            fields = dict(
                op=draw(st.sampled_from(list(VecOp))),
                dst=0,
                a=1,
                b=2,
                n=draw(st.integers(1, 3)),
                b_imm=draw(st.integers(0, 1)),
            )
        elif choice == 9:
            name, unit = "sync", draw(st.sampled_from(list(Unit)))
            fields = dict(unit=unit)
        elif choice == 10:
            name, unit = draw(st.sampled_from(["cfg_quant", "cfg_act", "cfg_lut"])), Unit.STORE
            cfg_fields: dict[str, dict[str, Any]] = {
                "cfg_quant": dict(mult_row=0, shift_row=1),
                "cfg_act": dict(mode=ActMode.CLAMP, lo=-3, hi=3),
                "cfg_lut": dict(slot=1, src=0),
            }
            fields = cfg_fields[name]
        elif choice == 11:
            words.append(encode(Instruction.make("halt")))
            continue
        else:
            words.append(0xF if draw(st.booleans()) else 0)
            continue
        # Flag -> counter (0 load→exec, 1 exec→load, 2 exec→store, 3 store→exec). Pops mostly
        # take a token an earlier instruction pushes (rarely one nobody pushes: deadlock).
        flags = {
            Unit.LOAD: {"pop_next": 1, "push_next": 0},
            Unit.EXECUTE: {"pop_prev": 0, "pop_next": 3, "push_prev": 1, "push_next": 2},
            Unit.STORE: {"pop_prev": 2, "push_prev": 3},
        }[unit]
        deps = set()
        for f, c in flags.items():
            if f.startswith("pop") and (
                (owed[c] > 0 and draw(st.integers(0, 9)) < 6) or draw(st.integers(0, 60)) == 0
            ):
                deps.add(f)
                owed[c] -= 1
        for f, c in flags.items():
            if f.startswith("push") and draw(st.integers(0, 9)) < 4:
                deps.add(f)
                owed[c] += 1
        words.append(encode(Instruction.make(name, deps=deps, **fields)))
    if draw(st.integers(0, 4)):
        words.append(encode(Instruction.make("halt")))
    return cfg, words


def assert_same(fast: SimResult, step: SimResult) -> None:
    """Every field of two results of the same program, the timeline first (it shows why)."""
    assert fast.timeline is not None and step.timeline is not None
    assert step.timeline == fast.timeline
    assert (step.cycles, step.error, step.error_index) == (
        fast.cycles,
        fast.error,
        fast.error_index,
    )
    assert step.error_message == fast.error_message
    assert step.counters == fast.counters  # busy, stall, macs, array_busy, rd/wr_beats
    assert step.stats == fast.stats  # stall reasons, starved cycles, bytes
    assert step.memory == fast.memory


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(programs())
def test_scheduler_matches_stepping_mode(case: tuple[AcceleratorConfig, list[int]]) -> None:
    cfg, words = case
    memory = bytes(range(DRAM))  # non-zero data, so the memory comparison means something
    fast = simulate(cfg, words, memory, trace=True)
    step = simulate(cfg, words, memory, trace=True, mode="step", max_cycles=20_000)
    assert_same(fast, step)


# Whole programs --------------------------------------------------------------------------------

# Tall, queue depth 1, two tokens, an unaligned bus: the back-pressure and stall paths.
TALL = AcceleratorConfig(
    rows=5,
    cols=3,
    sp_depth=256,
    acc_depth=128,
    bus_bytes=16,
    mem_latency=1,
    queue_depth=1,
    token_depth=2,
)


def _cases(cfg: AcceleratorConfig) -> list[progs.Case]:
    return [
        *progs.hand_cases(cfg),
        *progs.error_cases(cfg),
        progs.tiled_matmul(cfg, 37, 29, 17, act="lut", seed=4),
        progs.tiled_matmul(cfg, 33, 5, 3, bias=False, buffers=1),
        progs.tiled_matmul(cfg, 20, 7, 6, bias=False, requant=False),
    ]


@pytest.mark.parametrize("cfg", [PRESETS["tiny"], TALL], ids=["tiny", "tall"])
def test_programs_step_as_they_schedule(cfg: AcceleratorConfig) -> None:
    for case in _cases(cfg):
        out_f, fast = run_program(case.program, case.inputs, trace=True)
        out_s, step = run_program(case.program, case.inputs, trace=True, mode="step")
        assert_same(fast, step)
        assert (step.error, step.error_index) == (case.error, case.error_index), case.name
        for name, want in case.expected.items():
            np.testing.assert_array_equal(out_s[name][: len(want)], want, err_msg=case.name)
            np.testing.assert_array_equal(out_s[name], out_f[name], err_msg=case.name)
