"""``benchmarks/requant_passes.py``: fewer requantisation multipliers never run faster."""

from __future__ import annotations

from pathlib import Path

from benchmarks import layers, requant_passes


def test_more_passes_cost_cycles_and_the_table_shows_them(tmp_path: Path) -> None:
    path, x = layers.seed_models(tmp_path)["rnn"]
    run = requant_passes.measure("rnn", path, x, 8)
    cycles = [run["cycles"][g] for g in requant_passes.passes_for(8)]
    assert list(run["cycles"]) == [1, 2, 4, 8]
    # A recurrent cell stores every step, so each extra pass shows; and never helps.
    assert cycles == sorted(cycles) and cycles[0] < cycles[-1]
    text = requant_passes.markdown([run])
    assert "| network | G = 1 (32 DSP) | G = 2 (16 DSP) | G = 4 (8 DSP) | G = 8 (4 DSP) |" in text
    assert f"| rnn | {cycles[0]:,} |" in text
