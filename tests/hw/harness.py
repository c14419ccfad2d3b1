"""Run whole programs on the Accelerator under Amaranth's simulator.

The instruction port and the two Wishbone masters are served by models that follow
docs/timing.md: one cycle of instruction latency; memory requests acknowledged exactly
``mem_latency`` cycles after they are accepted, never stalled; writes take effect on acceptance.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from amaranth.sim import Simulator

from systolic.hw.top import COUNTERS, Accelerator
from systolic.spec.config import AcceleratorConfig
from systolic.spec.isa import ErrorCode


@dataclass
class RunResult:
    cycles: int
    error: ErrorCode
    error_pc: int
    counters: dict[str, int]
    memory: bytearray


def run_rtl(
    config: AcceleratorConfig,
    words: list[int],
    memory: bytes | bytearray,
    *,
    max_cycles: int = 20000,
) -> RunResult:
    dut = Accelerator(config)
    mem = bytearray(memory)
    bus = config.bus_bytes
    latency = config.mem_latency
    result: dict[str, Any] = {}

    async def bench(ctx: Any) -> None:
        ctx.set(dut.dram_size, len(mem))
        ctx.set(dut.start, 1)
        rd_pending: deque[tuple[int, int]] = deque()
        wr_pending: deque[int] = deque()
        cycle = -1
        while True:
            addr, read = ctx.get(dut.imem.addr), ctx.get(dut.imem.en)
            rd_req = ctx.get(dut.rd.cyc) and ctx.get(dut.rd.stb)
            rd_adr = ctx.get(dut.rd.adr)
            wr_req = ctx.get(dut.wr.cyc) and ctx.get(dut.wr.stb)
            if wr_req:
                adr, sel, dat = ctx.get(dut.wr.adr), ctx.get(dut.wr.sel), ctx.get(dut.wr.dat_w)
                for b in range(bus):
                    if sel >> b & 1 and adr * bus + b < len(mem):
                        mem[adr * bus + b] = dat >> (8 * b) & 0xFF
                wr_pending.append(cycle + latency)
            if rd_req:
                base = rd_adr * bus
                word = int.from_bytes(mem[base : base + bus].ljust(bus, b"\0"), "little")
                rd_pending.append((cycle + latency, word))
            await ctx.tick()
            cycle += 1
            ctx.set(dut.start, 0)
            if read:  # otherwise the port holds its word
                ctx.set(dut.imem.data, words[addr] if addr < len(words) else 0)
            if rd_pending and rd_pending[0][0] == cycle:
                ctx.set(dut.rd.ack, 1)
                ctx.set(dut.rd.dat_r, rd_pending.popleft()[1])
            else:
                ctx.set(dut.rd.ack, 0)
            if wr_pending and wr_pending[0] == cycle:
                wr_pending.popleft()
                ctx.set(dut.wr.ack, 1)
            else:
                ctx.set(dut.wr.ack, 0)
            if ctx.get(dut.done):
                break
            if cycle > max_cycles:
                raise TimeoutError(f"no done after {max_cycles} cycles")
        result["error"] = ErrorCode(ctx.get(dut.error.as_value()))
        result["error_pc"] = ctx.get(dut.error_pc)
        result["counters"] = {n: ctx.get(getattr(dut.counters, n)) for n in COUNTERS}

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    counters = result["counters"]
    return RunResult(counters["cycles"], result["error"], result["error_pc"], counters, mem)
