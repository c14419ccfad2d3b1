"""The UART and the host bridge in Amaranth's simulator (async testbenches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from systolic.boards import protocol as p
from systolic.boards.bridge import HostBridge
from systolic.boards.uart import UARTRx, UARTTx
from systolic.spec.errors import ConfigError


@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_loopback_carries_every_byte(divisor: int) -> None:
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor=divisor)
    m.submodules.rx = rx = UARTRx(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = [0x00, 0xFF, 0x55, 0xAA, *np.random.default_rng(0).integers(0, 256, 12).tolist()]
    got: list[int] = []

    async def sender(ctx: Any) -> None:
        for byte in sent:
            ctx.set(tx.data, byte)
            ctx.set(tx.valid, 1)
            await ctx.tick().until(tx.ready)
            ctx.set(tx.valid, 0)
            await ctx.tick()

    async def receiver(ctx: Any) -> None:
        while len(got) < len(sent):
            await ctx.tick()
            if ctx.get(rx.valid):
                got.append(ctx.get(rx.data))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(sender)
    sim.add_testbench(receiver)
    sim.run_until(1e-6 * divisor * 12 * (len(sent) + 2))
    assert got == sent


def test_uart_divisor_is_checked() -> None:
    with pytest.raises(ConfigError) as e:
        UARTTx(divisor=3)
    assert str(e.value) == (
        "UART divisor (clock cycles per bit) must be an integer >= 4, got 3; "
        "lower the baud rate or raise the clock"
    )


INFO = bytes(range(1, 9))
TIMEOUT = 50


def _bridge_bench(script: Any) -> tuple[list[int], list[tuple[int, int]]]:
    """Run ``script(ctx, bridge, send)`` against a HostBridge; return replies and writes."""
    bridge = HostBridge(info=INFO, status_bits=16, timeout_cycles=TIMEOUT)
    replies: list[int] = []
    writes: list[tuple[int, int]] = []

    async def send(ctx: Any, data: bytes) -> None:
        for byte in data:
            ctx.set(bridge.rx_data, byte)
            ctx.set(bridge.rx_valid, 1)
            await ctx.tick()
            ctx.set(bridge.rx_valid, 0)
            for _ in range(3):  # bytes arrive no faster than every few cycles
                await ctx.tick()

    async def sink(ctx: Any) -> None:
        ctx.set(bridge.tx_ready, 1)
        async for _clk, _rst, tx_valid, tx_data, we, addr, wdata in ctx.tick().sample(
            bridge.tx_valid, bridge.tx_data, bridge.we, bridge.addr, bridge.wdata
        ):
            if tx_valid:
                replies.append(tx_data)
            if we:
                writes.append((addr, wdata))

    async def main(ctx: Any) -> None:
        await script(ctx, bridge, send)
        for _ in range(20):
            await ctx.tick()

    sim = Simulator(bridge)
    sim.add_clock(1e-6)
    sim.add_process(sink)
    sim.add_testbench(main)
    sim.run()
    return replies, writes


def test_bridge_answers_info_and_nak() -> None:
    async def script(ctx: Any, bridge: HostBridge, send: Any) -> None:
        await send(ctx, bytes([p.Command.INFO]))
        for _ in range(2 * len(INFO)):  # the host waits for the reply
            await ctx.tick()
        await send(ctx, bytes([0x7F]))

    replies, _ = _bridge_bench(script)
    assert replies == [*INFO, p.NAK]


def test_bridge_writes_bytes_and_acks() -> None:
    async def script(ctx: Any, bridge: HostBridge, send: Any) -> None:
        header = bytes([p.Command.WRITE, p.SPACE_DATA]) + (300).to_bytes(4, "little")
        await send(ctx, header + (3).to_bytes(4, "little") + b"\x0a\x0b\x0c")

    replies, writes = _bridge_bench(script)
    assert writes == [(300, 0x0A), (301, 0x0B), (302, 0x0C)]
    assert replies == [p.ACK]


def test_bridge_drops_writes_while_running() -> None:
    async def script(ctx: Any, bridge: HostBridge, send: Any) -> None:
        ctx.set(bridge.running, 1)
        header = bytes([p.Command.WRITE, p.SPACE_DATA]) + (0).to_bytes(4, "little")
        await send(ctx, header + (2).to_bytes(4, "little") + b"\x01\x02")

    replies, writes = _bridge_bench(script)
    assert writes == []
    assert replies == [p.ACK_DROPPED]


def test_bridge_abandons_a_half_command_after_the_timeout() -> None:
    async def script(ctx: Any, bridge: HostBridge, send: Any) -> None:
        await send(ctx, bytes([p.Command.WRITE, p.SPACE_DATA, 0, 0]))  # header cut short
        for _ in range(TIMEOUT + 5):
            await ctx.tick()
        await send(ctx, bytes([p.Command.INFO]))

    replies, writes = _bridge_bench(script)
    assert writes == []
    assert replies == list(INFO)
