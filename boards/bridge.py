"""The host bridge: decodes the host-link protocol from UART bytes into memory and control."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import protocol as p

__all__ = ["HostBridge"]

_HEADER_BYTES = 9  # space (1), address (4), length (4)


class HostBridge(wiring.Component):
    """Serves the commands of :mod:`systolic.boards.protocol`, one at a time.

    Parameters
    ----------
    info : bytes
        The constant INFO reply (see :func:`~systolic.boards.protocol.info_record`).
    status_bits : int
        Width of the ``status`` input: the STATUS record, little-endian, as one value.
    timeout_cycles : int
        Cycles without a byte after which an unfinished command is abandoned.

    Ports
    -----
    rx_data, rx_valid : in
        Received bytes, one per ``rx_valid`` cycle.
    tx_data, tx_valid, tx_ready : out, out, in
        Bytes to send; one leaves per ``tx_valid & tx_ready`` cycle.
    addr, space, we, wdata, rdata : out, out, out, out, in
        Byte access to a memory: a write when ``we``; ``rdata`` is the byte at ``addr`` of
        ``space`` one cycle after ``addr`` was presented.
    start, dram_size : out
        ``start`` pulses for one cycle on START; ``dram_size`` holds its argument.
    running : in
        The accelerator is running: writes are dropped (and the reply says so).
    status : in
        The live STATUS record. Counters are consistent once the accelerator has stopped.
    """

    def __init__(self, *, info: bytes, status_bits: int, timeout_cycles: int):
        self.info = info
        self.timeout_cycles = timeout_cycles
        super().__init__(
            {
                "rx_data": In(8),
                "rx_valid": In(1),
                "tx_data": Out(8),
                "tx_valid": Out(1),
                "tx_ready": In(1),
                "addr": Out(32),
                "space": Out(1),
                "we": Out(1),
                "wdata": Out(8),
                "rdata": In(8),
                "start": Out(1),
                "dram_size": Out(32),
                "running": In(1),
                "status": In(status_bits),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        header = Signal(8 * _HEADER_BYTES)
        got = Signal(range(_HEADER_BYTES + 1))
        need = Signal(range(_HEADER_BYTES + 1))
        command = Signal(8)
        length = Signal(32)
        dropped = Signal()
        reply = Signal(8)
        send_status = Signal()
        index = Signal(range(max(len(self.info), len(self.status) // 8) + 1))
        last = Signal.like(index)
        idle = Signal(range(self.timeout_cycles + 1))
        timed_out = idle == self.timeout_cycles

        info = Const(int.from_bytes(self.info, "little"), 8 * len(self.info))
        status_bytes = len(self.status) // 8
        m.d.comb += [
            self.wdata.eq(self.rx_data),
            self.tx_data.eq(
                Mux(
                    send_status,
                    self.status.word_select(index, 8),
                    info.word_select(index, 8),
                )
            ),
        ]
        m.d.sync += self.start.eq(0)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.rx_valid):
                    m.d.sync += [command.eq(self.rx_data), got.eq(0), index.eq(0)]
                    with m.Switch(self.rx_data):
                        with m.Case(p.Command.INFO):
                            m.d.sync += [send_status.eq(0), last.eq(len(self.info) - 1)]
                            m.next = "SEND"
                        with m.Case(p.Command.STATUS):
                            m.d.sync += [send_status.eq(1), last.eq(status_bytes - 1)]
                            m.next = "SEND"
                        with m.Case(p.Command.WRITE, p.Command.READ):
                            m.d.sync += need.eq(_HEADER_BYTES)
                            m.next = "HEADER"
                        with m.Case(p.Command.START):
                            m.d.sync += need.eq(4)
                            m.next = "HEADER"
                        with m.Default():
                            m.d.sync += reply.eq(p.NAK)
                            m.next = "REPLY"
            with m.State("HEADER"):
                with m.If(timed_out):
                    m.next = "IDLE"
                with m.If(self.rx_valid):
                    m.d.sync += [header.word_select(got, 8).eq(self.rx_data), got.eq(got + 1)]
                with m.If(got == need):
                    m.d.sync += [
                        self.space.eq(header[0]),
                        self.addr.eq(header[8:40]),
                        length.eq(header[40:72]),
                        dropped.eq(0),
                        reply.eq(p.ACK),
                    ]
                    with m.Switch(command):
                        with m.Case(p.Command.START):
                            m.d.sync += [self.start.eq(1), self.dram_size.eq(header[:32])]
                            m.next = "REPLY"
                        with m.Case(p.Command.WRITE):
                            m.next = "WRITE"
                        with m.Default():
                            m.next = "READ_ADDR"
            with m.State("WRITE"):
                with m.If(timed_out):
                    m.next = "IDLE"
                with m.Elif(length == 0):
                    m.d.sync += reply.eq(Mux(dropped, p.ACK_DROPPED, p.ACK))
                    m.next = "REPLY"
                with m.Elif(self.rx_valid):
                    m.d.comb += self.we.eq(~self.running)
                    m.d.sync += [
                        self.addr.eq(self.addr + 1),
                        length.eq(length - 1),
                        dropped.eq(dropped | self.running),
                    ]
            with m.State("READ_ADDR"):
                # The memory answers one cycle after the address; the address then holds still.
                with m.If(length == 0):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "READ_SEND"
            with m.State("READ_SEND"):
                m.d.comb += [self.tx_valid.eq(1), self.tx_data.eq(self.rdata)]
                with m.If(self.tx_ready):
                    m.d.sync += [self.addr.eq(self.addr + 1), length.eq(length - 1)]
                    m.next = "READ_ADDR"
            with m.State("REPLY"):
                m.d.comb += [self.tx_valid.eq(1), self.tx_data.eq(reply)]
                with m.If(self.tx_ready):
                    m.next = "IDLE"
            with m.State("SEND"):
                m.d.comb += self.tx_valid.eq(1)
                with m.If(self.tx_ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == last):
                        m.next = "IDLE"

        # A command that stops arriving half-way is abandoned (see the protocol's docstring).
        waiting = fsm.ongoing("HEADER") | fsm.ongoing("WRITE")
        with m.If(~waiting | self.rx_valid | timed_out):
            m.d.sync += idle.eq(0)
        with m.Else():
            m.d.sync += idle.eq(idle + 1)
        return m
