"""AcceleratorConfig: validation messages, derived values, presets and TOML files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from systolic.spec.config import PRESETS, AcceleratorConfig, Dataflow, preset
from systolic.spec.errors import ConfigError


def test_default_is_8x8_and_frozen() -> None:
    c = AcceleratorConfig()
    assert (c.rows, c.cols) == (8, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.rows = 4  # type: ignore[misc]


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        AcceleratorConfig(4, 4)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rows": 0}, "rows must be an integer in [1, 1023], got 0"),
        ({"cols": 1024}, "cols must be an integer in [1, 1023], got 1024"),
        ({"rows": 4.0}, "rows must be an integer in [1, 1023], got 4.0"),
        ({"rows": True}, "rows must be an integer in [1, 1023], got True"),
        ({"sp_depth": 65537}, "sp_depth must be an integer in [1, 65536], got 65537"),
        (
            {"cols": 4, "acc_depth": 32},
            "acc_depth must be an integer in [64, 65536] (a LUT needs ceil(256/cols) = 64 rows), "
            "got 32",
        ),
        ({"bus_bytes": 12}, "bus_bytes must be a power of two in [1, 64], got 12"),
        ({"bus_bytes": 128}, "bus_bytes must be a power of two in [1, 64], got 128"),
        ({"mem_latency": 0}, "mem_latency must be an integer in [1, 64], got 0"),
        ({"queue_depth": 65}, "queue_depth must be an integer in [0, 64], got 65"),
        ({"token_depth": 0}, "token_depth must be an integer in [1, 255], got 0"),
        ({"dataflow": "os"}, "dataflow must be one of 'ws', got 'os'"),
        ({"vector_unit": 1}, "vector_unit must be true or false, got 1"),
        ({"act_lut": "no"}, "act_lut must be true or false, got 'no'"),
        ({"counter_bits": 31}, "counter_bits must be an integer in [32, 48], got 31"),
        ({"counter_bits": 64}, "counter_bits must be an integer in [32, 48], got 64"),
        ({"pc_bits": 7}, "pc_bits must be an integer in [8, 32], got 7"),
        ({"pc_bits": 33}, "pc_bits must be an integer in [8, 32], got 33"),
        ({"perf_counters": 0}, "perf_counters must be true or false, got 0"),
        ({"fetch_register": "yes"}, "fetch_register must be true or false, got 'yes'"),
        (
            {"rows": 2, "cols": 3, "lut_pes": 7},
            "lut_pes must be an integer in [0, 6] (the array has 6 PEs), got 7",
        ),
        (
            {"cols": 8, "requant_passes": 0},
            "requant_passes must be an integer in [1, 8] (cols = 8), got 0",
        ),
        ({"cols": 6, "requant_passes": 4}, "requant_passes must divide cols = 6, got 4"),
        (
            {"act_lut": False, "acc_depth": 0},
            "acc_depth must be an integer in [1, 65536], got 0",
        ),
    ],
)
def test_validation_messages(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig(**changes)  # type: ignore[arg-type]
    assert str(e.value) == message


def test_derived_values_non_square() -> None:
    c = AcceleratorConfig(rows=3, cols=5, sp_depth=100, acc_depth=60)
    assert c.lanes == 5
    assert c.sp_row_bytes == 5
    assert c.acc_row_bytes == 20
    assert c.sp_bytes == 500
    assert c.acc_bytes == 1200
    assert c.peak_macs_per_cycle == 15
    assert c.lut_rows == 52  # ceil(256 / 5)
    # docs/timing.md, execute unit: (K, E - P); R + C = 8 of fill and drain.
    assert c.execute_cycles("preload") == (3, 11)
    assert c.execute_cycles("matmul", 7) == (7, 15)
    assert c.execute_cycles("sync") == (1, 9)
    assert c.execute_cycles("vector", 3) == (8, 10)  # rows written at P+6, P+8, P+10
    assert c.swap_clearance == 5
    assert c.replace(requant_passes=5).store_row_latency == 9  # 4 + G
    # A_0: the word register, the decoder's register and the decode register.
    assert (c.decode_stages, c.replace(fetch_register=False).decode_stages) == (3, 2)


def test_replace_revalidates() -> None:
    c = AcceleratorConfig().replace(rows=16)
    assert c.rows == 16
    with pytest.raises(ConfigError, match="rows must be"):
        c.replace(rows=-1)


def test_presets() -> None:
    assert {"tiny", "default", "icebreaker", "ulx3s-85f"} <= set(PRESETS)
    assert preset("default") == AcceleratorConfig()
    with pytest.raises(ConfigError) as e:
        preset("huge")
    assert str(e.value) == (
        "unknown preset 'huge'; expected one of tiny, default, large, icebreaker, ulx3s-85f, "
        "ulx3s-85f-16x16"
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_toml_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(PRESETS[name].to_toml())
    assert AcceleratorConfig.from_toml(path) == PRESETS[name]


def test_toml_preset_with_override(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "tiny"\ncols = 8\n')
    c = AcceleratorConfig.from_toml(path)
    assert c == PRESETS["tiny"].replace(cols=8)
    assert c.dataflow is Dataflow.WEIGHT_STATIONARY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rows = ", "invalid TOML"),
        ("colums = 4", "unknown key 'colums'; expected preset or one of rows, cols,"),
        ('rows = "8"', "rows must be an integer in [1, 1023], got '8'"),
        (
            'preset = "giant"',
            "preset must be one of tiny, default, large, icebreaker, ulx3s-85f, "
            "ulx3s-85f-16x16, got 'giant'",
        ),
        ("dataflow = 3", "dataflow must be one of 'ws', got 3"),
    ],
)
def test_toml_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig.from_toml(path)
    assert str(e.value).startswith(f"{path}: ")
    assert message in str(e.value)


def test_toml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig.from_toml(tmp_path / "nope.toml")
    assert str(e.value) == f"{tmp_path / 'nope.toml'}: config file not found"


def test_dataflow_by_its_short_name() -> None:
    cfg = AcceleratorConfig(dataflow="ws")
    assert cfg.dataflow is Dataflow.WEIGHT_STATIONARY
    assert AcceleratorConfig(**PRESETS["large"].to_dict()) == PRESETS["large"]


def test_optional_units() -> None:
    full = AcceleratorConfig()
    assert (full.vector_unit, full.act_lut, full.counter_bits) == (True, True, 48)
    assert full.missing_opcodes == frozenset()
    lean = AcceleratorConfig(cols=4, acc_depth=16, vector_unit=False, act_lut=False)
    assert lean.missing_opcodes == {"vector", "cfg_lut"}
    assert "vector unit no, activation LUT no, 48-bit counters, 0 PEs without a DSP" in (
        lean.describe()
    )
    assert AcceleratorConfig.from_dict(lean.to_dict()) == lean
