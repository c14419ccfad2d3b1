"""cocotb bench: the simulated SoC behind a TCP socket, for the real host driver.

Launched through cocotb's runner (never imported otherwise). It listens on 127.0.0.1, writes
the port number to ``$SYSTOLIC_PORT_FILE``, and then serves one connection after another:
bytes from the socket go out on ``uart_rx`` as 8N1 frames, frames on ``uart_tx`` go back to the
socket. pyserial opens it as ``socket://127.0.0.1:PORT``. It stops when the file named by
``$SYSTOLIC_STOP_FILE`` exists and no connection is open.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

PERIOD_NS = 10


async def _uart_out(dut: Any, conn: socket.socket, bit_ns: int, closed: list[bool]) -> None:
    """Decode frames on uart_tx and send their bytes to the socket."""
    while not closed[0]:
        await FallingEdge(dut.uart_tx)
        await Timer(bit_ns * 3 // 2, unit="ns")  # middle of data bit 0
        value = 0
        for bit in range(8):
            value |= int(dut.uart_tx.value) << bit
            await Timer(bit_ns, unit="ns")
        if int(dut.uart_tx.value) == 1:  # stop bit
            try:
                conn.sendall(bytes([value]))
            except OSError:
                return


async def _serve(dut: Any, conn: socket.socket, bit_ns: int) -> None:
    closed = [False]
    sender = cocotb.start_soon(_uart_out(dut, conn, bit_ns, closed))
    conn.setblocking(False)
    while True:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            await Timer(bit_ns * 10, unit="ns")
            continue
        except OSError:
            break
        if not data:
            break
        for byte in data:
            frame = [0, *((byte >> i) & 1 for i in range(8)), 1]
            for level in frame:
                dut.uart_rx.value = level
                await Timer(bit_ns, unit="ns")
    closed[0] = True
    # Let a frame in flight finish before the next connection.
    await Timer(bit_ns * 20, unit="ns")
    sender.cancel()
    conn.close()


@cocotb.test()
async def serve(dut: Any) -> None:
    """Serve host connections until the stop file appears."""
    bit_ns = int(os.environ["SYSTOLIC_UART_DIVISOR"]) * PERIOD_NS
    port_file = Path(os.environ["SYSTOLIC_PORT_FILE"])
    stop_file = Path(os.environ["SYSTOLIC_STOP_FILE"])
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.uart_rx.value = 1
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port_file.write_text(str(listener.getsockname()[1]))
    while not stop_file.exists():
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            await Timer(bit_ns * 100, unit="ns")
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await _serve(dut, conn, bit_ns)
    listener.close()
