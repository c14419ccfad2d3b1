"""cocotb test bench: runs a batch of programs on the generated Verilog.

Launched by :mod:`systolic.sim.rtl` through cocotb's runner (never imported otherwise). The job
file named by ``SYSTOLIC_JOBS`` lists programs; each runs from a fresh ``start`` on the same
simulation, so one simulator start-up serves many programs. The models follow docs/timing.md:
the instruction port answers one cycle after the address; memory requests are acknowledged
exactly ``mem_latency`` cycles after acceptance and never stalled; writes take effect on
acceptance.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

COUNTERS = (
    "cycles",
    "load_busy",
    "exec_busy",
    "store_busy",
    "load_stall",
    "exec_stall",
    "store_stall",
    "macs",
    "array_busy",
    "rd_beats",
    "wr_beats",
)


COUNTER_BITS = 48


def _counters(flat: int) -> dict[str, int]:
    """Split the flat ``counters`` port (fields in COUNTERS order, COUNTER_BITS each)."""
    mask = (1 << COUNTER_BITS) - 1
    return {n: flat >> (COUNTER_BITS * i) & mask for i, n in enumerate(COUNTERS)}


async def run_job(dut: Any, job: dict[str, Any], bus: int, latency: int) -> dict[str, Any]:
    words = [int(w, 16) for w in job["words"]]
    mem = bytearray(bytes.fromhex(job["memory"]))
    max_cycles = int(job["max_cycles"])
    await RisingEdge(dut.clk)  # cycle -1: start is sampled at its end
    dut.dram_size.value = len(mem)
    dut.start.value = 1
    dut.imem__data.value = 0
    dut.rd__ack.value = 0
    dut.wr__ack.value = 0
    dut.rd__stall.value = 0
    dut.wr__stall.value = 0
    await ReadOnly()
    addr = int(dut.imem__addr.value)
    read = int(dut.imem__en.value)
    rd_pending: deque[tuple[int, int]] = deque()
    wr_pending: deque[int] = deque()
    cycle = -1
    timed_out = False
    while True:
        await RisingEdge(dut.clk)
        cycle += 1
        dut.start.value = 0
        if read:  # otherwise the port holds its word
            dut.imem__data.value = words[addr] if addr < len(words) else 0
        if rd_pending and rd_pending[0][0] == cycle:
            dut.rd__ack.value = 1
            dut.rd__dat_r.value = rd_pending.popleft()[1]
        else:
            dut.rd__ack.value = 0
        if wr_pending and wr_pending[0] == cycle:
            wr_pending.popleft()
            dut.wr__ack.value = 1
        else:
            dut.wr__ack.value = 0
        await ReadOnly()
        if int(dut.done.value):
            break
        if cycle > max_cycles:
            timed_out = True
            break
        addr = int(dut.imem__addr.value)
        read = int(dut.imem__en.value)
        if int(dut.rd__cyc.value) and int(dut.rd__stb.value):
            base = int(dut.rd__adr.value) * bus
            data = int.from_bytes(mem[base : base + bus].ljust(bus, b"\0"), "little")
            rd_pending.append((cycle + latency, data))
        if int(dut.wr__cyc.value) and int(dut.wr__stb.value):
            base = int(dut.wr__adr.value) * bus
            sel = int(dut.wr__sel.value)
            data = int(dut.wr__dat_w.value)
            for b in range(bus):
                if sel >> b & 1 and base + b < len(mem):
                    mem[base + b] = data >> (8 * b) & 0xFF
            wr_pending.append(cycle + latency)
    result = {
        "timed_out": timed_out,
        "error": int(dut.error.value),
        "error_pc": int(dut.error_pc.value),
        "counters": _counters(int(dut.counters.value)),
        "memory": mem.hex(),
    }
    return result


@cocotb.test()
async def run_jobs(dut: Any) -> None:
    """Run every job in the job file and write the results next to it."""
    path = Path(os.environ["SYSTOLIC_JOBS"])
    spec = json.loads(path.read_text())
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.start.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    results = []
    for job in spec["jobs"]:
        results.append(await run_job(dut, job, spec["bus_bytes"], spec["mem_latency"]))
    path.with_suffix(".out.json").write_text(json.dumps({"results": results}))
