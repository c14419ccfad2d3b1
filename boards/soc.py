"""The board SoC: UART host bridge, on-chip memories, the accelerator and status LEDs.

The memory answers the accelerator exactly as docs/timing.md assumes of external memory: every
request is accepted at once and acknowledged ``mem_latency`` cycles later, reads return the
contents at acceptance, writes take effect at acceptance. So a program takes the same number of
cycles on a board as in the simulator, and its counters read back equal.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hw.top import COUNTERS, Accelerator
from ..spec.config import AcceleratorConfig
from ..spec.errors import ConfigError
from ..spec.isa import INSTR_BITS, INSTR_BYTES, INSTR_LAYOUT, ErrorCode
from . import protocol as p
from .bridge import HostBridge
from .uart import UARTRx, UARTTx

__all__ = ["LEDS", "SoC"]

LEDS = ("running", "ok", "error", "heartbeat")
"""What each status LED shows, in order."""


class SoC(wiring.Component):
    """The accelerator with everything a board needs around it.

    Parameters
    ----------
    config : AcceleratorConfig
        The accelerator to build.
    mem_bytes : int
        Bytes of on-chip memory serving as the accelerator's external memory (a multiple of
        ``config.bus_bytes``).
    imem_depth : int
        Instructions the instruction memory holds.
    clk_hz : int
        Clock frequency, for the UART divisor, the host-link timeout and the heartbeat.
    baud : int
        UART bit rate.

    Ports
    -----
    uart_rx, uart_tx : in, out
        The host link (8N1).
    leds : out
        One bit per name in :data:`LEDS`.
    """

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    leds: Out(len(LEDS))

    def __init__(
        self,
        config: AcceleratorConfig,
        *,
        mem_bytes: int,
        imem_depth: int,
        clk_hz: int,
        baud: int,
    ):
        for name, value in (
            ("mem_bytes", mem_bytes),
            ("imem_depth", imem_depth),
            ("clk_hz", clk_hz),
            ("baud", baud),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self._MustUse__silence = True  # never elaborated
                raise ConfigError(f"SoC {name} must be a positive integer, got {value!r}")
        if mem_bytes % config.bus_bytes:
            self._MustUse__silence = True
            raise ConfigError(
                f"SoC mem_bytes must be a multiple of bus_bytes = {config.bus_bytes}, "
                f"got {mem_bytes}"
            )
        if imem_depth > config.max_instructions:
            self._MustUse__silence = True
            raise ConfigError(
                f"SoC imem_depth must be at most {config.max_instructions} "
                f"(pc_bits = {config.pc_bits}), got {imem_depth}"
            )
        self.config = config
        self.mem_bytes = mem_bytes
        self.imem_depth = imem_depth
        self.clk_hz = clk_hz
        self.baud = baud
        self.divisor = clk_hz // baud
        super().__init__()

    @property
    def info(self) -> bytes:
        """The INFO record this SoC answers with."""
        return p.info_record(
            self.config, mem_bytes=self.mem_bytes, imem_depth=self.imem_depth, clk_hz=self.clk_hz
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        bus = cfg.bus_bytes
        lane_bits = bus.bit_length() - 1

        m.submodules.rx = rx = UARTRx(divisor=self.divisor)
        m.submodules.tx = tx = UARTTx(divisor=self.divisor)
        m.submodules.acc = acc = Accelerator(cfg)
        status = {
            "flags": Cat(acc.busy, acc.done),
            "error": acc.error.as_value(),
            "error_pc": acc.error_pc,
            **{name: getattr(acc.counters, name) for name in COUNTERS},
        }
        status_bits = Cat(*[_zext(status[name], 8 * n) for name, n in p.STATUS_FIELDS])
        m.submodules.bridge = bridge = HostBridge(
            info=self.info,
            status_bits=8 * p.record_size(p.STATUS_FIELDS),
            timeout_cycles=p.TIMEOUT_BYTES * 10 * self.divisor,
        )
        running = acc.busy
        m.d.comb += [
            rx.rx.eq(self.uart_rx),
            self.uart_tx.eq(tx.tx),
            bridge.rx_data.eq(rx.data),
            bridge.rx_valid.eq(rx.valid),
            tx.data.eq(bridge.tx_data),
            tx.valid.eq(bridge.tx_valid),
            bridge.tx_ready.eq(tx.ready),
            bridge.running.eq(running),
            bridge.status.eq(status_bits),
            acc.start.eq(bridge.start),
            acc.dram_size.eq(bridge.dram_size),
        ]

        # ---- external memory: the accelerator's while it runs, the bridge's otherwise ------
        m.submodules.mem = mem = Memory(shape=8 * bus, depth=self.mem_bytes // bus, init=[])
        w = mem.write_port(granularity=8)
        r = mem.read_port()  # not transparent: a read sees memory before a same-cycle write
        host_lane = bridge.addr[:lane_bits] if lane_bits else Const(0, 1)
        host_word = bridge.addr[lane_bits:]
        host_write = bridge.we & (bridge.space == p.SPACE_DATA)
        rd_take = acc.rd.cyc & acc.rd.stb
        wr_take = acc.wr.cyc & acc.wr.stb
        m.d.comb += [
            acc.rd.stall.eq(0),
            acc.wr.stall.eq(0),
            r.addr.eq(Mux(running, acc.rd.adr, host_word)),
            w.addr.eq(Mux(running, acc.wr.adr, host_word)),
            w.data.eq(Mux(running, acc.wr.dat_w, bridge.wdata.replicate(bus))),
            w.en.eq(Mux(running, Mux(wr_take, acc.wr.sel, 0), Mux(host_write, 1 << host_lane, 0))),
        ]
        # The read port answers one cycle after acceptance; delay the rest of mem_latency.
        rd_data, rd_ack, wr_ack = r.data, Signal(), Signal()
        m.d.sync += [rd_ack.eq(rd_take), wr_ack.eq(wr_take)]
        for stage in range(cfg.mem_latency - 1):
            data_d = Signal.like(r.data, name=f"rd_data_d{stage}")
            rd_ack_d = Signal(name=f"rd_ack_d{stage}")
            wr_ack_d = Signal(name=f"wr_ack_d{stage}")
            m.d.sync += [data_d.eq(rd_data), rd_ack_d.eq(rd_ack), wr_ack_d.eq(wr_ack)]
            rd_data, rd_ack, wr_ack = data_d, rd_ack_d, wr_ack_d
        m.d.comb += [acc.rd.dat_r.eq(rd_data), acc.rd.ack.eq(rd_ack), acc.wr.ack.eq(wr_ack)]

        # ---- instruction memory ------------------------------------------------------------
        m.submodules.imem = imem = Memory(shape=INSTR_BITS, depth=self.imem_depth, init=[])
        iw = imem.write_port(granularity=8)
        ir = imem.read_port()
        host_byte = bridge.addr[:4]
        # Past the end reads as zero in the simulator; a zero opcode is all decode needs to see.
        in_range = Signal()
        with m.If(ir.en):  # it describes the word on ir.data, which holds with the enable low
            m.d.sync += in_range.eq(acc.imem.addr < self.imem_depth)
        opcode_bits = len(data.View(INSTR_LAYOUT, ir.data).header.opcode.as_value())
        m.d.comb += [
            # The accelerator's from the start cycle on: the bridge's address then holds
            # whatever START's argument left in its header register.
            ir.addr.eq(Mux(running | bridge.start, acc.imem.addr, bridge.addr[4:])),
            ir.en.eq(Mux(running | bridge.start, acc.imem.en, 1)),
            acc.imem.data.eq(Cat(Mux(in_range, ir.data[:opcode_bits], 0), ir.data[opcode_bits:])),
            iw.addr.eq(bridge.addr[4:]),
            iw.data.eq(bridge.wdata.replicate(INSTR_BYTES)),
            iw.en.eq(
                Mux(bridge.we & (bridge.space == p.SPACE_INSTR) & ~running, 1 << host_byte, 0)
            ),
        ]
        m.d.comb += bridge.rdata.eq(
            Mux(
                bridge.space == p.SPACE_DATA,
                r.data.word_select(host_lane, 8),
                ir.data.word_select(host_byte, 8),
            )
        )

        # ---- LEDs --------------------------------------------------------------------------
        beat = Signal(max(1, (self.clk_hz // 2).bit_length()))
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.leds.eq(
            Cat(
                running,
                acc.done & (acc.error == ErrorCode.NONE),
                acc.done & (acc.error != ErrorCode.NONE),
                beat[-1],
            )
        )
        return m


def _zext(value: object, width: int) -> Value:
    """``value`` zero-extended to a STATUS field of ``width`` bits."""
    v = Value.cast(value)
    assert len(v) <= width, (len(v), width)
    return Cat(v, Const(0, width - len(v))) if len(v) < width else v.as_unsigned()
