"""Placement constraints: the array's PE multipliers laid out along the ECP5's DSP rows.

Left to itself, nextpnr scatters the PEs' multipliers over all of the part's DSP sites, so a
PE's product travels far to its adder and neighbouring PEs sit far apart: the array's wires
cross the die and congest routing (docs/boards.md, "Why the ECP5 builds route slowly"). This
module pins them instead. The DSP sites form rows; the PEs of one array column take
consecutive sites (their partial sums, the widest signals of the array, pass between
neighbours), columns follow each other along a row, and the rows are filled in a snake, in a
block as compact as the rows allow.
"""

from __future__ import annotations

import collections
import re
from typing import Any

from ..hw.array import pe_in_logic
from ..spec.config import AcceleratorConfig

__all__ = ["DSP_SITES", "constrain_pe_multipliers", "pe_multipliers", "pe_sites"]

# MULT18X18D sites of the LFE5U-85F (nextpnr's names), read back from placed designs: three rows
# of 13 blocks, four multipliers per block, the same columns in every row.
_BLOCKS_85F = (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)
_ROWS_85F = (10, 34, 58)

DSP_SITES = {
    "LFE5U-85F": tuple(
        tuple(
            f"X{x0 + dx}/Y{y}/MULT18_{k}"
            for x0 in _BLOCKS_85F
            for dx, k in ((0, 0), (1, 1), (4, 4), (5, 5))
        )
        for y in _ROWS_85F
    )
}
"""Per device: its multiplier sites, row by row (top to bottom), each row left to right."""


def pe_sites(device: str, n: int) -> tuple[str, ...] | None:
    """Sites for ``n`` PE multipliers in the order the array's columns fill them, or ``None``.

    As compact as the rows allow: the fewest rows that hold ``n`` (the ones nearest the middle
    of the die), the same number of sites in each, taken from the middle of the row. Rows run
    in a snake, so a column that wraps into the next row stays at the same end.
    """
    rows = DSP_SITES.get(device)
    if rows is None or n > sum(len(r) for r in rows):
        return None
    k = next(k for k in range(1, len(rows) + 1) if k * min(len(r) for r in rows) >= n)
    middle = (len(rows) - 1) / 2
    used = sorted(sorted(range(len(rows)), key=lambda r: (abs(r - middle), -r))[:k])
    per_row = -(-n // k)
    sites: list[str] = []
    for turn, r in enumerate(used):
        first = (len(rows[r]) - per_row) // 2
        row = rows[r][first : first + per_row]
        sites += row if turn % 2 == 0 else row[::-1]
    return tuple(sites[:n])


_WEIGHT = re.compile(r"array\.pe_(\d+)_(\d+)\.(?:active|shadow)")


def pe_multipliers(netlist: dict[str, Any]) -> dict[tuple[int, int], str]:
    """The MULT18X18D cell of each PE (row, column) in Yosys' JSON netlist.

    A PE's multiplier is the one whose operand inputs carry that PE's weight registers' nets:
    Yosys keeps their hierarchical names (``...array.pe_i_j.active``) however it names the cell.
    """
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    owner: dict[int, set[tuple[int, int]]] = collections.defaultdict(set)
    for name, net in top["netnames"].items():
        found = _WEIGHT.search(name)
        if found:
            for bit in net["bits"]:
                if isinstance(bit, int):
                    owner[bit].add((int(found[1]), int(found[2])))
    cells = {}
    for name, cell in top["cells"].items():
        if cell["type"] != "MULT18X18D":
            continue
        votes: collections.Counter[tuple[int, int]] = collections.Counter()
        for port, bits in cell["connections"].items():
            if port[0] in "AB":
                for bit in bits:
                    if isinstance(bit, int):
                        votes.update(owner.get(bit, ()))
        if votes:
            cells[votes.most_common(1)[0][0]] = name
    return cells


def constrain_pe_multipliers(
    netlist: dict[str, Any], config: AcceleratorConfig, device: str
) -> int:
    """Pin each DSP-built PE's multiplier to a site (a ``BEL`` attribute nextpnr obeys).

    Column-major over :func:`pe_sites`: PE (0, 0), (1, 0), … take consecutive sites. The
    other multipliers (store, decode, vector unit) are left to the placer. Returns how many
    cells were pinned: 0 for a device without a site table, or when a PE's multiplier cannot
    be identified (the placement is then left entirely to nextpnr).
    """
    wanted = [
        (i, j)
        for j in range(config.cols)
        for i in range(config.rows)
        if not pe_in_logic(config, i, j)
    ]
    sites = pe_sites(device, len(wanted))
    found = pe_multipliers(netlist)
    if sites is None or any(pe not in found for pe in wanted):
        return 0
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    for pe, site in zip(wanted, sites, strict=False):
        top["cells"][found[pe]].setdefault("attributes", {})["BEL"] = site
    return len(wanted)
