"""The per-layer report: its numbers add up to the simulator's and the files get written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest

import systolic
from systolic.report import ENERGY_PJ, execute_alone, layer_table, write_report
from systolic.sim import SimError, simulate
from systolic.spec.asm import assemble
from systolic.spec.config import PRESETS
from systolic.spec.errors import ProgramError
from tests.compiler.models import cnn_onnx, mlp_onnx


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, np.ndarray]]:
    rng = np.random.default_rng(3)
    out = tmp_path_factory.mktemp("models")
    entries = {}
    for name, build in (("mlp", mlp_onnx), ("cnn", cnn_onnx)):
        model, x = build(rng)
        onnx.save(model, out / f"{name}.onnx")
        program = systolic.compile(out / f"{name}.onnx", PRESETS["default"], calibration=x)
        entries[name] = (program, x[:1])
    return entries


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_layers_add_up_to_the_simulation(programs: dict, name: str) -> None:
    program, x = programs[name]
    rows, result = layer_table(program, x)
    cfg = program.config
    assert [r["layer"] for r in rows] == [layer["name"] for layer in program.metadata["layers"]]
    # Every cycle up to the last layer's last instruction belongs to one layer; only the
    # halt's few cycles are left over.
    assert 0 <= result.cycles - sum(r["cycles"] for r in rows) <= 4
    assert sum(r["macs"] for r in rows) == result.stats.macs
    for r in rows:
        assert r["cycles"] >= r["compute_bound"] > 0 or r["macs"] == 0
        assert r["cycles"] >= r["memory_bound"] > 0
        assert r["binds"] == ("compute" if r["compute_bound"] >= r["memory_bound"] else "memory")
        assert 0 <= r["utilization"] <= 1
        assert r["utilization"] == pytest.approx(r["macs"] / (cfg.rows * cfg.cols * r["cycles"]))
        # The documented model: MACs, on-chip bytes (one activation per column tile, an int32
        # read and write per row tile) and external bytes.
        on_chip = r["macs"] / cfg.cols + 8 * r["macs"] / cfg.rows
        expected = (
            r["macs"] * ENERGY_PJ["mac"]
            + on_chip * ENERGY_PJ["sram_byte"]
            + r["bytes"] * ENERGY_PJ["dram_byte"]
        )
        assert r["energy_uj"] == pytest.approx(expected * 1e-6)
        assert r["cycles"] >= r["execute_cycles"] >= r["compute_bound"]


def test_write_report(programs: dict, tmp_path: Path) -> None:
    path = write_report(programs, tmp_path)
    text = path.read_text()
    for name, (program, _) in programs.items():
        assert f"## {name}" in text
        for layer in program.metadata["layers"]:
            assert f"| {layer['name']} |" in text
        for kind in ("roofline", "timeline"):
            image = tmp_path / f"{name}_{kind}.png"
            assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({image.name})" in text


def test_a_program_that_traps_is_reported(programs: dict) -> None:
    program, x = programs["mlp"]
    # A zero word is the illegal opcode: the machine stops before any layer finishes.
    broken = dataclasses.replace(program, instructions=(0, *program.instructions))
    with pytest.raises(SimError, match=r"^report: the program stopped with error ILLEGAL_OPCODE"):
        layer_table(broken, x)


def test_execute_alone_is_exact_when_nothing_else_runs() -> None:
    # Only execute instructions on zeroed scratchpad: the simulator's execute span is the
    # mapping's compute bound, swap wavefront, vector hazard and final drain included.
    cfg = PRESETS["tiny"]
    source = """
        preload src=0 rows=4 cols=4
        matmul  src=0 dst=0 n=2 swap=1
        preload src=4 rows=3 cols=4
        matmul  src=8 dst=4 n=9 swap=1 mode=accumulate
        vector  op=add dst=20 a=0 b=4 n=3
        matmul  src=0 dst=30 n=1
        sync unit=execute
        halt
    """
    words = assemble(source)
    result = simulate(cfg, words, bytearray(64), trace=True)
    assert result.ok and result.timeline is not None
    spans = [e for e in result.timeline if e.unit == "execute"]
    ends = [e.E for e in spans if e.E is not None]
    pops = [e.P for e in spans if e.P is not None]
    expected = max(ends) - min(pops)
    assert execute_alone(words, cfg) == expected


def test_a_program_without_layer_records_is_refused(programs: dict) -> None:
    program, x = programs["mlp"]
    bare = dataclasses.replace(program, metadata={})
    with pytest.raises(ProgramError, match=r"^report: the program has no per-layer instruction"):
        layer_table(bare, x)
