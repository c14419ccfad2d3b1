"""``benchmarks/layers.py``: its configurations, seed models and one small measurement."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import layers


@pytest.mark.parametrize("n", layers.SIZES)
def test_square_configs(n: int) -> None:
    cfg = layers.config_for(n)
    assert (cfg.rows, cfg.cols) == (n, n)


def test_seed_mlp_layers_within_their_limits(tmp_path: Path) -> None:
    models = layers.seed_models(tmp_path)
    assert sorted(models) == ["cnn", "gru", "lstm", "mlp", "rnn"]
    path, x = models["mlp"]
    run = layers.measure("mlp", path, x, 8)
    assert run["batch"] == layers.BATCH
    assert run["macs"] == layers.BATCH * (784 * 128 + 128 * 64 + 64 * 10)
    assert [r["layer"] for r in run["layers"]] == ["mm0", "mm1", "mm2"]
    for r in run["layers"]:
        # These layers wait for the previous one, so none beats its limits.
        assert 0 < r["limit_fraction"] <= 1
        assert r["binds"] in ("mapping", "memory")
    text = layers.markdown([run])
    assert all(f"| mlp | 8x8 | {r['layer']} |" in text for r in run["layers"])
