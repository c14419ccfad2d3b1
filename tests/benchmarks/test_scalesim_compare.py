"""``benchmarks/scalesim_compare.py``: our half of the comparison (SCALE-Sim itself is only
installed by ``make bench``)."""

from __future__ import annotations

import numpy as np

from benchmarks import scalesim_compare as sc


def test_our_side_of_a_layer() -> None:
    layer = next(layer for layer in sc.LAYERS if layer[0] == "seed cnn conv2")
    _, size, k, cin, cout, stride, pad = layer
    ours = sc.run_ours(layer, np.random.default_rng(0))
    out = (size + 2 * pad - k) // stride + 1
    assert ours["macs"] == out * out * k * k * cin * cout
    assert ours["golden_equal"]
    assert 0 < ours["utilization"] <= 1
