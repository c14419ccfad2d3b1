"""PE multipliers pinned along the ECP5's DSP rows (systolic.boards.placement)."""

from __future__ import annotations

from typing import Any

from systolic.boards.placement import DSP_SITES, constrain_pe_multipliers, pe_multipliers, pe_sites
from systolic.spec.config import AcceleratorConfig

ROWS = DSP_SITES["LFE5U-85F"]


def netlist(rows: int, cols: int, *, lut_pes: int = 0) -> dict[str, Any]:
    """A Yosys-style JSON netlist: one MULT18X18D per DSP-built PE, named as synthesis might
    (after its output net), with its B operand on the PE's weight register's net."""
    cells: dict[str, Any] = {
        "soc.acc.store.prod_MULT18X18D": {"type": "MULT18X18D", "connections": {"A": [1, 2]}},
        "soc.acc.execute.core.array.pe_0_0.a_TRELLIS_FF": {
            "type": "TRELLIS_FF",
            "connections": {"DI": [10]},
        },
    }
    netnames: dict[str, Any] = {}
    bit = 100
    for i in range(rows):
        for j in range(cols):
            weight = [bit, bit + 1]
            bit += 2
            netnames[f"soc.acc.execute.core.array.pe_{i}_{j}.active"] = {"bits": weight}
            if i * cols + j < rows * cols - lut_pes:
                cells[f"soc.acc.execute.core.array.psum_out${bit}_MULT18X18D"] = {
                    "type": "MULT18X18D",
                    "connections": {"A": [5, 6, "0"], "B": [*weight, "0"]},
                }
    return {"modules": {"top": {"attributes": {"top": "1"}, "cells": cells, "netnames": netnames}}}


def bels(design: dict[str, Any]) -> dict[str, str]:
    cells = design["modules"]["top"]["cells"]
    return {n: c["attributes"]["BEL"] for n, c in cells.items() if "BEL" in c.get("attributes", {})}


def test_the_85f_has_156_distinct_sites_in_three_rows() -> None:
    assert [len(row) for row in ROWS] == [52, 52, 52]
    assert len({site for row in ROWS for site in row}) == 156
    assert ROWS[0][0] == "X4/Y10/MULT18_0" and ROWS[2][-1] == "X119/Y58/MULT18_5"


def test_pe_sites_are_a_compact_block_that_snakes() -> None:
    one = pe_sites("LFE5U-85F", 12)  # the middle row, the middle 12 sites
    assert one == ROWS[1][20:32]
    two = pe_sites("LFE5U-85F", 64)  # the two rows nearest the middle, 32 sites each
    assert two == ROWS[1][10:42] + ROWS[2][10:42][::-1]
    three = pe_sites("LFE5U-85F", 134)  # all rows, 45 each (the last one short)
    assert three == ROWS[0][3:48] + ROWS[1][3:48][::-1] + ROWS[2][3:47]
    assert pe_sites("LFE5U-85F", 156) == ROWS[0] + ROWS[1][::-1] + ROWS[2]
    assert pe_sites("LFE5U-85F", 157) is None
    assert pe_sites("LFE5U-25F", 1) is None


def test_each_pe_multiplier_is_found_by_its_weight_net_not_its_name() -> None:
    design = netlist(2, 3)
    found = pe_multipliers(design)
    assert sorted(found) == [(i, j) for i in range(2) for j in range(3)]
    assert "soc.acc.store.prod_MULT18X18D" not in found.values()


def test_columns_take_consecutive_sites() -> None:
    design = netlist(3, 4)
    found = pe_multipliers(design)
    assert constrain_pe_multipliers(design, AcceleratorConfig(rows=3, cols=4), "LFE5U-85F") == 12
    placed = bels(design)
    order = [(i, j) for j in range(4) for i in range(3)]  # column-major
    assert tuple(placed[found[pe]] for pe in order) == pe_sites("LFE5U-85F", 12)
    assert "soc.acc.store.prod_MULT18X18D" not in placed  # left to the placer


def test_pes_in_logic_are_skipped() -> None:
    cfg = AcceleratorConfig(rows=3, cols=4, lut_pes=5)  # the last 5, row-major: (1, 3), (2, *)
    design = netlist(3, 4, lut_pes=5)
    assert constrain_pe_multipliers(design, cfg, "LFE5U-85F") == 7
    found = pe_multipliers(design)
    placed = bels(design)
    order = [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3)]
    assert tuple(placed[found[pe]] for pe in order) == pe_sites("LFE5U-85F", 7)


def test_nothing_is_pinned_on_an_unknown_part_or_when_a_pe_is_missing() -> None:
    cfg = AcceleratorConfig(rows=2, cols=2)
    design = netlist(2, 2)
    assert constrain_pe_multipliers(design, cfg, "LFE5U-25F") == 0
    del design["modules"]["top"]["netnames"]["soc.acc.execute.core.array.pe_1_1.active"]
    assert constrain_pe_multipliers(design, cfg, "LFE5U-85F") == 0
    assert bels(design) == {}
