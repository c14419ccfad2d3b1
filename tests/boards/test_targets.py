"""Board targets, PLL settings, resource counting and the build command's errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from systolic.boards.build import _over_capacity, critical_path, plan_board, resources_from_stat
from systolic.boards.placement import DSP_SITES
from systolic.boards.pll import ecp5_pll, ice40_pll
from systolic.boards.soc import SoC
from systolic.boards.targets import TARGETS, target
from systolic.cli import build_parser, main
from systolic.spec.config import PRESETS
from systolic.spec.errors import ConfigError


def test_every_target_uses_its_own_preset() -> None:
    for name, board in TARGETS.items():
        assert board.config == PRESETS[board.preset]
        assert board.mem_bytes % board.config.bus_bytes == 0, name


@pytest.mark.parametrize("preset", ["ulx3s-85f", "ulx3s-85f-16x16"])
def test_the_ulx3s_holds_the_seed_mlp(preset: str, tmp_path: Path) -> None:
    # The demo's MLP (784 -> 128 -> 64 -> 10, random weights of the same shapes) compiled for
    # each ULX3S preset fits the SoC's instruction and data memories, as the driver checks.
    import onnx

    import systolic
    from benchmarks import layers

    path, x = layers.seed_models(tmp_path)["mlp"]
    program = systolic.compile(onnx.load(path), PRESETS[preset], calibration=x)
    board = target("ulx3s-85f")
    assert len(program.instructions) <= board.imem_depth
    assert len(program.memory) <= board.mem_bytes


def test_unknown_board_is_named() -> None:
    with pytest.raises(ConfigError) as e:
        target("nexys")
    assert str(e.value) == "unknown board 'nexys'; expected one of icebreaker, ulx3s-85f"


@pytest.mark.parametrize(("f_in", "f_out"), [(25e6, 100e6), (25e6, 62.5e6), (25e6, 40e6)])
def test_ecp5_pll_makes_the_clock(f_in: float, f_out: float) -> None:
    s = ecp5_pll(f_in, f_out)
    assert s.f_out == pytest.approx(f_in * s.clkfb_div / s.clki_div)
    assert abs(s.f_out - f_out) <= 0.01 * f_out
    assert 400e6 <= s.f_out * s.clkop_div <= 800e6  # the VCO's range


@pytest.mark.parametrize(("f_in", "f_out"), [(12e6, 24e6), (12e6, 30e6), (12e6, 48e6)])
def test_ice40_pll_makes_the_clock(f_in: float, f_out: float) -> None:
    s = ice40_pll(f_in, f_out)
    f_vco = f_in / (s.divr + 1) * (s.divf + 1)
    assert 533e6 <= f_vco <= 1066e6
    assert s.f_out == pytest.approx(f_vco / 2**s.divq)
    assert abs(s.f_out - f_out) <= 0.01 * f_out


def test_an_impossible_clock_is_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        ice40_pll(12e6, 5e6)
    assert str(e.value) == (
        "no iCE40 PLL setting makes 5.000 MHz from 12.000 MHz within 1%; the nearest is 8.438 MHz"
    )


def test_resources_are_counted_per_family() -> None:
    ice = {"SB_LUT4": 100, "SB_CARRY": 7, "SB_DFF": 3, "SB_DFFESR": 4, "SB_MAC16": 2}
    assert resources_from_stat("ice40", ice) == {"lut": 100, "ff": 7, "dsp": 2, "bram": 0}
    ecp = {"LUT4": 10, "CCU2C": 5, "TRELLIS_FF": 9, "MULT18X18D": 1, "DP16KD": 4}
    assert resources_from_stat("ecp5", ecp) == {"lut": 20, "ff": 9, "dsp": 1, "bram": 4}


def test_soc_parameters_are_checked() -> None:
    with pytest.raises(ConfigError) as e:
        SoC(PRESETS["tiny"], mem_bytes=1001, imem_depth=16, clk_hz=10**6, baud=10**5)
    assert str(e.value) == "SoC mem_bytes must be a multiple of bus_bytes = 4, got 1001"
    with pytest.raises(ConfigError) as e:
        SoC(PRESETS["tiny"], mem_bytes=1024, imem_depth=0, clk_hz=10**6, baud=10**5)
    assert str(e.value) == "SoC imem_depth must be a positive integer, got 0"
    narrow = PRESETS["tiny"].replace(pc_bits=8)
    with pytest.raises(ConfigError) as e:
        SoC(narrow, mem_bytes=1024, imem_depth=256, clk_hz=10**6, baud=10**5)
    assert str(e.value) == "SoC imem_depth must be at most 255 (pc_bits = 8), got 256"


def test_build_cli_rejects_bad_input_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["build", "--board", "ulx3s-85f", "--freq", "0", "-o", "x"]) == 1
    err = capsys.readouterr().err
    assert err == "systolic: error: --freq must be in [1, 500] MHz, got 0\n"
    assert main(["build", "--board", "ulx3s-85f", "--imem-depth", "0", "-o", "x"]) == 1
    err = capsys.readouterr().err
    assert err == "systolic: error: --imem-depth must be a positive integer, got 0\n"
    # Deeper than the icebreaker preset's 9-bit pc reaches: refused before any tool runs.
    out = str(tmp_path / "ice")
    assert main(["build", "--board", "icebreaker", "--imem-depth", "512", "-o", out]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "systolic: error: SoC imem_depth must be at most 511 (pc_bits = 9), got 512"
    )
    with pytest.raises(SystemExit) as e:
        main(["build", "--board", "nexys", "-o", "x"])
    assert e.value.code == 2
    assert "invalid choice: 'nexys'" in capsys.readouterr().err


def test_build_pins_the_pe_multipliers_unless_told_not_to() -> None:
    parser = build_parser()
    assert parser.parse_args(["build", "--board", "ulx3s-85f", "-o", "x"]).pin_pe_dsps
    args = parser.parse_args(["build", "--board", "ulx3s-85f", "--no-pin-pe-dsps", "-o", "x"])
    assert not args.pin_pe_dsps


def test_the_icebreaker_plan_puts_the_soc_behind_a_pll(tmp_path: Path) -> None:
    # The part of `systolic build` before Yosys: the board top elaborates, the PLL makes the
    # requested clock, nextpnr is told that clock, and the script's steps are in order.
    config = dataclasses.replace(PRESETS["tiny"], rows=2, cols=2)
    plan = plan_board(target("icebreaker"), config, out=tmp_path, clk_hz=24_000_000, seed=3)
    assert [var for var, _ in plan.steps] == ["YOSYS", "NEXTPNR_ICE40", "ICEPACK"]
    assert plan.steps[1][1][:3] == ["--quiet", "--report", "nextpnr_report.json"]
    assert "--seed" in plan.steps[1][1] and "3" in plan.steps[1][1]
    rtlil = (tmp_path / "top.il").read_text()
    s = ice40_pll(12e6, 24e6)
    assert "cell \\SB_PLL40_PAD \\pll" in rtlil
    assert f"parameter \\DIVF {s.divf}\n" in rtlil
    assert f"parameter \\DIVQ {s.divq}\n" in rtlil
    assert "set_frequency clk_out 24.0" in (tmp_path / "top.pcf").read_text()
    assert plan.report["target_mhz"] == 24
    assert plan.report["config"]["rows"] == 2
    assert "module systolic_soc" in (tmp_path / "soc.v").read_text()


def test_the_ulx3s_plan_at_the_oscillators_clock_has_no_pll(tmp_path: Path) -> None:
    config = dataclasses.replace(PRESETS["tiny"], rows=2, cols=2)
    plan = plan_board(target("ulx3s-85f"), config, out=tmp_path, clk_hz=25_000_000)
    assert [var for var, _ in plan.steps] == ["YOSYS", "NEXTPNR_ECP5", "ECPPACK"]
    assert "EHXPLLL" not in (tmp_path / "top.il").read_text()
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ;' in (tmp_path / "top.lpf").read_text()
    assert plan.report["target_mhz"] == 25
    assert plan.report["imem_depth"] == target("ulx3s-85f").imem_depth
    # The build pins the PE multipliers along this part's DSP rows (boards/placement.py).
    assert plan.report["part"] in DSP_SITES


def test_a_plan_takes_another_instruction_memory_depth(tmp_path: Path) -> None:
    config = dataclasses.replace(PRESETS["tiny"], rows=2, cols=2)
    plan = plan_board(target("ulx3s-85f"), config, out=tmp_path, imem_depth=300)
    assert plan.report["imem_depth"] == 300
    assert "reg [127:0] imem [299:0];" in (tmp_path / "soc.v").read_text()


def test_packing_overflow_is_read_from_the_nextpnr_log(tmp_path: Path) -> None:
    # nextpnr's own lines (iCE40 UP5K, a lean 1x1 SoC): Yosys counted 5012 LUT4s, but flip-flops
    # that cannot share a LUT's logic cell need cells of their own.
    log = tmp_path / "top.tim"
    log.write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    7207/   5280   136%\n"
        "Info: \t        ICESTORM_RAM:      30/     30   100%\n"
        "Info: \t               SB_IO:       5/     39    12%\n"
    )
    assert _over_capacity(log) == {"ICESTORM_LC": {"used": 7207, "capacity": 5280}}
    assert _over_capacity(tmp_path / "missing.tim") == {}


@pytest.mark.parametrize(("board", "pll"), [("icebreaker", True), ("ulx3s-85f", False)])
def test_a_plan_asks_for_the_clock_the_preset_meets_by_default(
    board: str, pll: bool, tmp_path: Path
) -> None:
    t = target(board)
    assert (t.soc_hz != t.clk_hz) == pll  # the iCEBreaker's 20 MHz comes from its PLL
    plan = plan_board(t, t.config, out=tmp_path)
    assert plan.report["target_mhz"] == t.soc_hz / 1e6
    assert plan.report["config"] == t.config.to_dict()


def test_the_report_names_the_critical_path() -> None:
    def step(kind: str, delay: float, a: str, b: str) -> dict[str, object]:
        return {"type": kind, "delay": delay, "from": {"cell": a}, "to": {"cell": b}}

    slow = [
        step(
            "clk-to-q", 5.0, "soc.acc.store.prod_SB_DFFSR_Q_14", "soc.acc.store.prod_SB_DFFSR_Q_14"
        ),
        step("routing", 2.5, "soc.acc.store.prod_SB_DFFSR_Q_14", "$nextpnr_CCU2C_1$CCU2_COMB0"),
        step("logic", 1.0, "$nextpnr_CCU2C_1$CCU2_COMB0", "soc.acc.store.q_TRELLIS_FF_Q"),
        step("setup", 0.5, "soc.acc.store.q_TRELLIS_FF_Q", "soc.acc.store.q_TRELLIS_FF_Q"),
    ]
    fast = [step("clk-to-q", 1.0, "soc.a_TRELLIS_FF_Q", "soc.b_TRELLIS_FF_Q")]
    report = {
        "critical_paths": [
            {"from": "<async>", "to": "posedge clk", "path": [step("routing", 50.0, "a", "b")]},
            {"from": "posedge clk", "to": "posedge clk", "path": fast},
            {"from": "posedge clk", "to": "posedge clk", "path": slow},
        ]
    }
    assert critical_path(report) == {
        "ns": 9.0,
        "routing_ns": 2.5,
        "from": "soc.acc.store.prod",
        "to": "soc.acc.store.q",
        "steps": 4,
    }
    assert critical_path({"critical_paths": []}) is None
