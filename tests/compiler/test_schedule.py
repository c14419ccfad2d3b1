"""The GEMM/conv schedule: scratchpad buffers in flight, loads run ahead, utilisation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from systolic.compiler import NetworkBuilder, compile_model
from systolic.compiler.codegen.matmul import scratchpad_buffers
from systolic.runtime import run
from systolic.spec.config import PRESETS, AcceleratorConfig
from systolic.spec.isa import LoadTarget, decode

from .test_compiler import RECT

TINY = PRESETS["tiny"]
DEFAULT = PRESETS["default"]


@pytest.mark.parametrize(
    ("config", "mt", "want"),
    [
        (DEFAULT, 404, 9),  # 4096 // (404 + 8) scratchpad rows
        (DEFAULT, 2040, 2),  # two buffers of 2040 + 8 rows fill the scratchpad
        (DEFAULT.replace(token_depth=3), 100, 3),  # one token per buffer in flight
        (DEFAULT.replace(token_depth=1), 100, 1),  # no double buffering at all
    ],
    ids=["sp-bound", "double", "token-bound", "single"],
)
def test_scratchpad_buffers(config: AcceleratorConfig, mt: int, want: int) -> None:
    assert scratchpad_buffers(config, mt) == want


def _conv_pool(
    shape: tuple[int, ...], cout: int, *, pool: int = 2, pad: int = 0
) -> tuple[Any, np.ndarray, str]:
    rng = np.random.default_rng(sum(shape) + cout)
    b = NetworkBuilder("conv_pool", inputs={"x": shape})
    w = rng.normal(0, 0.3, (cout, shape[1], 3, 3)).astype(np.float32)
    h = b.conv2d("x", w, rng.normal(0, 0.1, cout).astype(np.float32), padding=pad, act="relu")
    y = b.max_pool(h, pool) if pool > 1 else h
    return b, rng.normal(0, 1, shape).astype(np.float32), y


def _kinds(program: Any) -> list[tuple[str, Any]]:
    out = []
    for word in program.instructions:
        instr = decode(word)
        out.append((instr.format.name, instr.values.get("target")))
    return out


def test_loads_run_ahead_of_a_fused_pool() -> None:
    # A block's vector ops fill the execute queue while they run, and dispatch is in program
    # order: the next tiles' loads are emitted before them so that they overlap the pool.
    b, x, y = _conv_pool((2, 1, 28, 28), 32)
    program = compile_model(b.build(outputs=[y]), DEFAULT, calibration=x, batch=2)
    assert program.metadata["layers"][0]["pool"] == [2, 2]
    kinds = _kinds(program)
    first_vector = next(i for i, (name, _) in enumerate(kinds) if name == "vector")
    sp_loads = sum(1 for name, t in kinds[:first_vector] if (name, t) == ("load", LoadTarget.SP))
    # Three K tiles (kernel rows) per block; 404-row blocks leave room for 9 buffers, so the
    # loads of 8 more tiles (input and weights: two each) come before the first block's pool.
    assert sp_loads == 2 * (3 + 9 - 1)
    sim = run(program, x, backend="sim")
    assert np.array_equal(sim.raw[y], run(program, x, backend="golden").raw[y])


@pytest.mark.parametrize(
    "config",
    [
        DEFAULT,
        TINY,
        RECT,
        TINY.replace(token_depth=1),
        TINY.replace(token_depth=2, queue_depth=1),
        TINY.replace(sp_depth=64),  # two buffers at most
        DEFAULT.replace(queue_depth=1),
        TINY.replace(queue_depth=0),  # units pop from the decode register
    ],
    ids=[
        "8x8",
        "tiny",
        "rect",
        "one-token",
        "one-queue-slot",
        "small-sp",
        "8x8-one-slot",
        "no-queues",
    ],
)
@pytest.mark.parametrize(
    ("shape", "cout", "pool", "pad"),
    [
        ((3, 1, 13, 11), 7, 2, 0),  # odd sizes and batch: the pool drops a row and a column
        ((5, 3, 9, 9), 12, 3, 1),
        ((3, 2, 7, 10), 9, 1, 1),  # no pool
    ],
    ids=["pool2-odd", "pool3-padded", "no-pool"],
)
def test_deep_buffering_is_bit_exact(
    config: AcceleratorConfig, shape: tuple[int, ...], cout: int, pool: int, pad: int
) -> None:
    b, x, y = _conv_pool(shape, cout, pool=pool, pad=pad)
    side = [(d + 2 * pad - 2) // pool for d in shape[2:]]
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.2, (cout * side[0] * side[1], 10))
    z = b.dense(b.flatten(y), w, np.zeros(10), act="relu")
    program = compile_model(b.build(outputs=[y, z]), config, calibration=x, batch=shape[0])
    sim = run(program, x, backend="sim")
    gold = run(program, x, backend="golden")
    for name in (y, z):
        assert np.array_equal(sim.raw[name], gold.raw[name])


def test_seed_cnn_uses_70_percent_of_an_8x8_array() -> None:
    # Issue #6: the seed CNN (benchmarks/layers.py) at batch 50, useful MACs / (64 · cycles).
    rng = np.random.default_rng(0)

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)

    b = NetworkBuilder("cnn", inputs={"x": (50, 1, 28, 28)})
    h = b.max_pool(b.conv2d("x", he((32, 1, 3, 3), 9), np.zeros(32), act="relu"), 2)
    h = b.max_pool(b.conv2d(h, he((64, 32, 3, 3), 288), np.zeros(64), act="relu"), 2)
    h = b.dense(b.flatten(h), he((1600, 128), 1600), np.zeros(128), act="relu")
    y = b.dense(h, he((128, 10), 128), np.zeros(10))
    x = rng.random((50, 1, 28, 28)).astype(np.float32)
    program = compile_model(b.build(outputs=[y]), DEFAULT, calibration=x, batch=50)
    sim = run(program, x, backend="sim")
    assert sim.stats["macs"] == 112_198_400
    assert sim.stats["macs"] / (64 * sim.stats["cycles"]) >= 0.70
    assert np.array_equal(sim.raw[y], run(program, x, backend="golden").raw[y])
