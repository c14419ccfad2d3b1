"""Per-layer performance report: limits, a roofline, a timeline and an energy estimate.

For each network, one simulated inference (batch 1, with the timeline) is broken into the
compiler's layers. Per layer: cycles, useful MACs, the compute-bound limit (MACs / (R·C)), the
memory-bound limit (the larger of the bytes read and written / bus width: loads and stores have a
bus master each) and which one binds. The roofline plots achieved
MACs per cycle against operational intensity; the timeline shows the load, execute and store
units overlapping. Energy uses per-event costs from Horowitz, "Computing's energy problem",
ISSCC 2014 (45 nm), listed in :data:`ENERGY_PJ`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from systolic.runtime import quantize_inputs
from systolic.sim import SimError, SimResult, simulate
from systolic.spec.config import AcceleratorConfig
from systolic.spec.errors import ProgramError
from systolic.spec.isa import Elem, Opcode, StoreTarget, Unit, decode
from systolic.spec.program import Program

# Energy per event in picojoules (Horowitz, ISSCC 2014, 45 nm): an 8-bit multiply is 0.2 pJ
# and a 32-bit add 0.1 pJ; an 8 KB SRAM access costs about 1.25 pJ per byte (10 pJ per 64 bit);
# DRAM about 160 pJ per byte (1.3-2.6 nJ per 64 bit).
ENERGY_PJ = {"mac": 0.3, "sram_byte": 1.25, "dram_byte": 160.0}


def _moved_bytes(words: list[int]) -> tuple[int, int]:
    """External-memory bytes read and written by the loads and stores among ``words``."""
    read = written = 0
    for word in words:
        ins = decode(word)
        if ins.opcode not in (Opcode.LOAD, Opcode.STORE):
            continue
        rows = ins["n_inner"] * ins["n_outer"]
        size = ins["len"] * (4 if ins["elem"] == Elem.I32 else 1)
        if ins.opcode == Opcode.LOAD:
            read += rows * size
        elif ins["target"] == StoreTarget.DRAM:
            written += rows * size
    return read, written


def execute_alone(words: Sequence[int], cfg: AcceleratorConfig) -> int:
    """Cycles the execute unit needs for ``words`` if loads and stores never held it up.

    This is the compute-bound time of the compiler's mapping: the execute instructions issued
    back to back by the rules of docs/timing.md (``preload`` R cycles and the swap wavefront,
    ``matmul`` n, ``vector`` 2n + 2 after the previous result, one fill and drain of R + C at the
    end), from the first pop to the last completion; 0 when there is none.
    """
    free, last_end, swap_issue = 0, 0, None
    first = None
    for word in words:
        ins = decode(word)
        if ins.opcode == Opcode.HALT or ins.unit != Unit.EXECUTE:
            continue
        pop = free
        if ins.opcode == Opcode.PRELOAD:
            if swap_issue is not None:
                pop = max(pop, swap_issue + cfg.swap_clearance)
            issue, done = cfg.execute_cycles("preload")
        elif ins.opcode == Opcode.MATMUL:
            if ins["swap"]:
                swap_issue = pop + 1
            issue, done = cfg.execute_cycles("matmul", ins["n"])
        elif ins.opcode == Opcode.VECTOR:
            pop = max(pop, last_end)
            issue, done = cfg.execute_cycles("vector", ins["n"])
        else:  # sync on the execute unit
            issue, done = cfg.execute_cycles("sync")
        end = pop + done
        first = pop if first is None else first
        free, last_end = pop + issue, max(last_end, end)
    return 0 if first is None else last_end - first


def _on_chip_bytes(macs: int, cfg: AcceleratorConfig) -> float:
    """Scratchpad and accumulator bytes touched by ``macs`` weight-stationary MACs.

    Each int8 activation read from the scratchpad feeds one column tile of ``cols`` MACs, and
    each int32 partial sum is read and written back once per row (K) tile of ``rows`` MACs;
    weight preloads are K·N bytes per tile and are ignored at this first order.
    """
    return macs / cfg.cols + 8 * macs / cfg.rows


def layer_table(
    program: Program, inputs: Mapping[str, ArrayLike] | ArrayLike
) -> tuple[list[dict[str, Any]], SimResult]:
    """Simulate one inference with its timeline and split cycles and traffic by layer."""
    layers = program.metadata.get("layers", ())
    if not layers or any("instructions" not in layer for layer in layers):
        raise ProgramError(
            "report: the program has no per-layer instruction ranges in its metadata; "
            "compile it with this version of systolic.compile"
        )
    memory = bytearray(program.memory)
    for desc, values in quantize_inputs(program, inputs).items():
        next(d for d in program.inputs if d.name == desc).write(memory, values)
    result = simulate(program.config, program.instructions, memory, trace=True)
    if not result.ok or result.timeline is None:
        raise SimError(
            f"report: the program stopped with error {result.error.name} at cycle {result.cycles}"
        )
    ends = {e.index: e.E for e in result.timeline if e.E is not None}
    cfg = program.config
    peak = cfg.peak_macs_per_cycle
    rows, previous = [], 0
    for layer in layers:
        start, stop = layer["instructions"]
        end = max((ends.get(i, 0) for i in range(start, stop)), default=previous)
        cycles = max(1, end - previous)
        previous = end
        read, written = _moved_bytes(list(program.instructions[start:stop]))
        macs = int(layer.get("macs", 0))
        compute = macs / peak
        mapping = execute_alone(program.instructions[start:stop], cfg)
        memory_bound = max(read, written) / cfg.bus_bytes  # a read and a write master
        rows.append(
            {
                "layer": layer["name"],
                "op": layer["op"],
                "macs": macs,
                "cycles": int(cycles),
                "utilization": macs / (peak * cycles),
                "compute_bound": compute,
                "execute_cycles": mapping,
                "memory_bound": memory_bound,
                "bytes": read + written,
                "binds": "compute" if compute >= memory_bound else "memory",
                "energy_uj": (
                    macs * ENERGY_PJ["mac"]
                    + (read + written) * ENERGY_PJ["dram_byte"]
                    + _on_chip_bytes(macs, cfg) * ENERGY_PJ["sram_byte"]
                )
                * 1e-6,
            }
        )
    return rows, result


def _plots(
    name: str,
    rows: list[dict[str, Any]],
    result: SimResult,
    config: AcceleratorConfig,
    out: Path,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak = config.peak_macs_per_cycle
    fig, ax = plt.subplots(figsize=(6, 4))
    intensity = np.logspace(-2, 3, 100)
    ax.loglog(
        intensity,
        np.minimum(peak, intensity * config.bus_bytes),
        "k-",
        label=f"roofline ({peak} MAC/cycle, {config.bus_bytes} B/cycle)",
    )
    for row in rows:
        # Intensity per byte on the busier port (a read and a write master), so that the roof
        # at this intensity is the row's memory bound.
        port_bytes = row["memory_bound"] * config.bus_bytes
        if row["macs"] and port_bytes:
            ax.loglog(
                row["macs"] / port_bytes,
                row["macs"] / row["cycles"],
                "o",
                label=f"{row['layer']} ({row['op']})",
            )
    ax.set_xlabel("operational intensity (MAC per byte on the busier memory port)")
    ax.set_ylabel("achieved MAC per cycle")
    ax.set_title(f"{name}: per-layer roofline")
    ax.legend(fontsize=6)
    fig.tight_layout()
    roof = out / f"{name}_roofline.png"
    fig.savefig(roof, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 2.4))
    colours = {"load": "tab:blue", "execute": "tab:orange", "store": "tab:green"}
    in_flight = result.timeline or ()
    for lane, unit in enumerate(("load", "execute", "store")):
        spans = [
            (e.P, e.E - e.P + 1)
            for e in in_flight
            if e.unit == unit and e.P is not None and e.E is not None
        ]
        ax.broken_barh(spans, (lane - 0.4, 0.8), color=colours[unit])
    ax.set_yticks([0, 1, 2], ["load", "execute", "store"])
    ax.set_xlabel("cycle")
    ax.set_title(f"{name}: one inference, instructions in flight per unit")
    fig.tight_layout()
    timeline = out / f"{name}_timeline.png"
    fig.savefig(timeline, dpi=110)
    plt.close(fig)
    return [roof.name, timeline.name]


def write_report(
    entries: Mapping[str, tuple[Program, Mapping[str, ArrayLike] | ArrayLike]], out: Path
) -> Path:
    """``entries`` maps a network name to (its batch-1 program, one input); writes report.md."""
    lines = [
        "# systolic performance report",
        "",
        "One inference per network on the simulator (batch 1). Compute bound: MACs / (R·C);"
        " memory bound: the larger of the bytes read and written / bus width; energy from"
        " Horowitz, ISSCC 2014"
        f" ({ENERGY_PJ['mac']} pJ per MAC, {ENERGY_PJ['sram_byte']} pJ per scratchpad or"
        " accumulator byte, "
        f"{ENERGY_PJ['dram_byte']} pJ per DRAM byte)."
        " At batch 1 every weight is loaded once per inference; larger batches amortise it.",
        "",
    ]
    for name, (program, inputs) in entries.items():
        rows, result = layer_table(program, inputs)
        images = _plots(name, rows, result, program.config, out)
        total = sum(r["energy_uj"] for r in rows)
        lines += [
            f"## {name}",
            "",
            f"{result.cycles:,} cycles, {sum(r['macs'] for r in rows):,} MACs, "
            f"utilisation {result.stats.utilisation:.1%}, estimated energy "
            f"{total:.1f} µJ per inference.",
            "",
            "| layer | op | MACs | cycles | utilisation | compute bound | memory bound | "
            "binds | energy µJ |",
            "|---|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['layer']} | {r['op']} | {r['macs']:,} | {r['cycles']:,} | "
                f"{r['utilization']:.1%} | {r['compute_bound']:,.0f} | "
                f"{r['memory_bound']:,.0f} | {r['binds']} | {r['energy_uj']:.2f} |"
            )
        lines += [""] + [f"![{image}]({image})" for image in images] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
