"""The RTL decoder against the simulator's checks (the same rules, written twice)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolic.hw.decode import Decoder
from systolic.sim.checks import check
from systolic.spec.asm import assemble
from systolic.spec.config import AcceleratorConfig
from systolic.spec.isa import FORMATS, INSTR_BITS, ErrorCode, Opcode

CONFIG = AcceleratorConfig(rows=3, cols=5, sp_depth=100, acc_depth=80, bus_bytes=4)
DRAM = 150


def _words(seed: int, count: int) -> list[int]:
    """Words near the legal ones: random fields of every format, small numbers likely."""
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(count):
        fmt = FORMATS[rng.integers(len(FORMATS))]
        word = int(fmt.opcode.value) | int(rng.integers(0, 16)) << 4
        offset = 8
        for f in fmt.fields:
            small = int(rng.integers(0, 1 << min(f.width, 7)))
            edge = int(rng.choice([0, 1, (1 << f.width) - 1, small, small, small]))
            word |= (edge & ((1 << f.width) - 1)) << offset
            offset += f.width
        if rng.random() < 0.1:
            word |= 1 << int(rng.integers(offset, INSTR_BITS)) if offset < INSTR_BITS else 0
        if rng.random() < 0.05:
            word = (word & ~0xF) | int(rng.integers(0, 16))
        words.append(word)
    return words


LEAN = CONFIG.replace(vector_unit=False, act_lut=False)


def _boundary_words() -> list[int]:
    """Transfers whose last row or byte lands just inside or just past the limit: random words
    rarely get past the earlier rules to these checks."""
    words = []
    for target, limits in (("sp", (CONFIG.sp_depth,)), ("dram", (DRAM,))):
        for limit in limits:
            for addr in (0, limit - 9, limit - 3, limit - 1, limit, limit + 1, 2**32 - 1):
                for n_outer, stride_outer in ((1, 0), (2, 3), (3, 2)):
                    for n_inner, stride_inner in ((1, 0), (2, 1), (3, 3), (2, 128), (2, 2**19)):
                        words += assemble(
                            f"store target={target} src=0 len=4 addr={addr} "
                            f"n_inner={n_inner} stride_inner={stride_inner} "
                            f"n_outer={n_outer} stride_outer={stride_outer}\n"
                            f"load target=sp dst=0 len=3 addr={addr} n_inner={n_inner} "
                            f"stride_inner={stride_inner} n_outer={n_outer} "
                            f"stride_outer={stride_outer}"
                        )
    return words


@pytest.mark.parametrize("config", [CONFIG, LEAN], ids=["full", "lean"])
def test_decoder_matches_simulator_checks(config: AcceleratorConfig) -> None:
    dut = Decoder(config)
    words = _words(seed=7, count=1500) + _boundary_words()
    got: list[int] = []

    async def bench(ctx: Any) -> None:
        # One word per cycle through the register stage; a cycle without `advance` holds it.
        ctx.set(dut.dram_size, DRAM)
        for i, word in enumerate(words):
            ctx.set(dut.word, word)
            ctx.set(dut.advance, 1)
            await ctx.tick()
            if i % 7 == 0:
                ctx.set(dut.word, words[-1 - i])
                ctx.set(dut.advance, 0)
                await ctx.tick()
            assert ctx.get(dut.stage_word) == word
            got.append(ctx.get(dut.error.as_value()))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    seen = set()
    for word, code in zip(words, got, strict=True):
        result = check(word, config, DRAM)
        want = ErrorCode.NONE if result is None else result[0]
        assert ErrorCode(code) == want, f"word {word:#x}: RTL {ErrorCode(code)}, sim {want}"
        seen.add(want)
    assert seen == set(ErrorCode) - {ErrorCode.TOKEN_OVERFLOW, ErrorCode.DEADLOCK}
    if config is LEAN:  # every vector and cfg_lut word is an illegal opcode, whatever its fields
        for word, code in zip(words, got, strict=True):
            if word & 0xF in (Opcode.VECTOR.value, Opcode.CFG_LUT.value):
                assert ErrorCode(code) == ErrorCode.ILLEGAL_OPCODE
