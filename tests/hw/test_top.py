"""Whole programs on the Accelerator under Amaranth's simulator: results and exact cycles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from systolic.spec import golden
from systolic.spec.asm import assemble
from systolic.spec.config import PRESETS
from systolic.spec.isa import ErrorCode

from .harness import run_rtl

ROOT = Path(__file__).resolve().parents[2]
TINY = PRESETS["tiny"]  # R = C = 4, bus 4 bytes, latency 2, queues 4

A0 = TINY.decode_stages  # 3: the word register, the decoder's and the decode register


def test_matmul_relu_example_bit_exact_and_cycle_exact() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (4, 4)).astype(np.int8)
    w = rng.integers(-127, 128, (4, 4)).astype(np.int8)
    b = rng.integers(-5000, 5000, 4).astype(np.int32)
    mult, shift = golden.quantize_multipliers(np.array([0.01, 0.02, 0.005, 0.03]))
    mem = bytearray(0x200)
    mem[0x00:0x10] = x.tobytes()
    mem[0x10:0x20] = w.tobytes()
    mem[0x20:0x30] = b.tobytes()
    mem[0x30:0x40] = mult.astype(np.int32).tobytes()
    mem[0x40:0x50] = shift.astype(np.int32).tobytes()
    words = assemble((ROOT / "examples" / "programs" / "matmul_relu.s").read_text())
    r = run_rtl(TINY, words, mem)
    want = golden.fully_connected(x, w, b, mult, shift, golden.Activation.relu())
    got = np.frombuffer(bytes(r.memory[0x100:0x110]), np.int8).reshape(4, 4)
    np.testing.assert_array_equal(got, want)
    assert r.error is ErrorCode.NONE
    # docs/timing.md by hand, counting from A_0: loads pop at 1, 5, 9 (N = 4, 4, 12 beats;
    # E = 8, 12, 24); preload pops at 25 (token), issues 26..29; matmul pops at 29,
    # E = 29 + 4 + 8 = 41; cfg_quant 42..45, cfg_act 46..47; store pops at 48, reads 49..52,
    # last beat at 57 (a row leaves 5 cycles after its read), acked at 59; done at 60, so
    # 61 cycles after A_0.
    assert r.cycles == A0 + 61
    assert r.counters["macs"] == 4 * 16
    assert r.counters["array_busy"] == 4
    assert r.counters["rd_beats"] == 4 + 4 + 12
    assert r.counters["wr_beats"] == 4


@pytest.mark.parametrize(
    ("source", "error", "index", "after_a0"),
    [
        # Decoded into the decode register at A_0: stop in that cycle, so A_0 + 1 cycles.
        (".word 0\nhalt", ErrorCode.ILLEGAL_OPCODE, 0, 1),
        # A_1 = D_0 + 1 = A_0 + 1.
        (f"sync unit=load\n.word {1 << 100 | 10:#x}", ErrorCode.ILLEGAL_FIELD, 1, 2),
        ("matmul src=0 dst=126 n=3\nhalt", ErrorCode.ACC_RANGE, 0, 1),
        ("load target=sp dst=0 len=5 n_inner=1 addr=0\nhalt", ErrorCode.ILLEGAL_FIELD, 0, 1),
        ("load target=sp dst=0 len=4 n_inner=1 addr=0x1fd\nhalt", ErrorCode.DRAM_RANGE, 0, 1),
        # The sync waits for a token nobody pushes: halt dispatches at A_0 + 1, deadlock at
        # A_0 + 2.
        ("sync unit=execute pop_prev\nhalt", ErrorCode.DEADLOCK, 0, 3),
        # Eight pushes into a counter that holds 7 (tiny's token_depth): each sync completes at
        # P + 1 + R + C (= A_0 + 10, + 11, ...); the eighth push overflows.
        (
            "\n".join(["sync unit=execute push_next"] * 8) + "\nhalt",
            ErrorCode.TOKEN_OVERFLOW,
            7,
            18,
        ),
    ],
)
def test_errors_stop_with_code_index_and_cycle(
    source: str, error: ErrorCode, index: int, after_a0: int
) -> None:
    r = run_rtl(TINY, assemble(source), bytes(0x200))
    assert (r.error, r.error_pc, r.cycles) == (error, index, A0 + after_a0)


def test_without_queues_the_units_pop_from_the_decode_register() -> None:
    # queue_depth 0 against the simulator, which models it independently (docs/timing.md).
    from systolic.sim import simulate

    q0 = TINY.replace(queue_depth=0)
    programs = [
        "sync unit=execute pop_prev\nsync unit=load push_next\nhalt",  # deadlock at A_0
        "sync unit=execute\nsync unit=execute\nsync unit=load\nhalt",
        "load target=sp dst=0 len=4 n_inner=4 addr=0 push_next\n"
        "preload src=0 rows=4 cols=4 pop_prev\nmatmul src=0 dst=0 n=4 swap=1\nhalt",
    ]
    for text in programs:
        words = assemble(text)
        r = run_rtl(q0, words, bytes(0x200))
        s = simulate(q0, words, bytes(0x200))
        assert (r.error, r.error_pc, r.cycles) == (s.error, s.error_index or 0, s.cycles), text
        assert r.counters == dict(s.counters), text
    assert r.cycles > 0 and s.error is ErrorCode.NONE
