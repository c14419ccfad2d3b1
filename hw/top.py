"""The accelerator top level: fetch, queues, tokens, the three units, memories and counters."""

from amaranth.hdl import Cat, Const, Module, Mux, ResetInserter, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import ErrorCode, Unit
from .bus import InstrPortSignature, WishboneSignature
from .common import acc_row, entry_layout, sp_row
from .execute import ExecuteUnit
from .fetch import Fetch
from .load import LoadUnit
from .store import StoreUnit

__all__ = ["COUNTERS", "COUNTER_BITS", "Accelerator"]

COUNTER_BITS = 48
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
"""Performance counters in docs/timing.md order; each is COUNTER_BITS wide."""


def _lowest(candidates: list[tuple[Value, Value]]) -> tuple[Value, Value]:
    """(any valid, lowest pc among the valid candidates; the earlier candidate on a tie).

    The pcs are compared pairwise, without the valid bits, so the comparators (carry chains)
    run in parallel with the logic that decides validity (for a token overflow, a unit's pop):
    after it come only an AND per candidate and a one-hot mux.
    """
    found = Cat(*[valid for valid, _ in candidates]).any()
    # later_lower[a, b] (a < b): candidate b's pc is strictly lower than a's.
    later_lower = {
        (a, b): candidates[b][1] < candidates[a][1]
        for a in range(len(candidates))
        for b in range(a + 1, len(candidates))
    }
    best: Value = Const(0, 1)
    for i, (valid, pc) in enumerate(candidates):
        wins = valid
        for j, (other, _) in enumerate(candidates):
            if j != i:
                beats = later_lower[j, i] if j < i else ~later_lower[i, j]
                wins = wins & (~other | beats)
        best = best | Mux(wins, pc, 0)
    return found, best


class Accelerator(wiring.Component):
    """The whole accelerator for one :class:`AcceleratorConfig`.

    Ports
    -----
    start : in
        Pulse while idle: clears the counters and the error, and runs from instruction 0.
    dram_size : in
        Bytes of external memory; accesses at or beyond it stop the machine (DRAM_RANGE).
    imem : instruction port
        Read-only, one cycle of latency.
    rd, wr : Wishbone B4 pipelined masters
        Reads (load unit) and writes (store unit) to external memory.
    busy, done, error, error_pc : out
        Status: ``done`` rises with the machine stopping; ``error`` is NONE after ``halt``.
    counters : out
        The performance counters, one COUNTER_BITS field per name in :data:`COUNTERS`.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__(
            {
                "start": In(1),
                "dram_size": In(32),
                "imem": Out(InstrPortSignature()),
                "rd": Out(WishboneSignature(config)),
                "wr": Out(WishboneSignature(config)),
                "busy": Out(1),
                "done": Out(1),
                "error": Out(ErrorCode),
                "error_pc": Out(32),
                "counters": Out(data.StructLayout({n: COUNTER_BITS for n in COUNTERS})),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        running = Signal()
        start = self.start & ~running

        # Every unit restarts from idle on `start`; memories keep their contents.
        def fresh(name: str, component: wiring.Component) -> wiring.Component:
            m.submodules[name] = ResetInserter(start)(component)
            return component

        fetch = Fetch(cfg)
        m.submodules.fetch = fetch
        load = fresh("load", LoadUnit(cfg))
        execute = fresh("execute", ExecuteUnit(cfg))
        store = fresh("store", StoreUnit(cfg))
        units = {Unit.LOAD: load, Unit.EXECUTE: execute, Unit.STORE: store}

        m.d.comb += [
            fetch.start.eq(start),
            fetch.run.eq(running),
            fetch.dram_size.eq(self.dram_size),
            self.imem.addr.eq(fetch.imem.addr),
            self.imem.en.eq(fetch.imem.en),
            fetch.imem.data.eq(self.imem.data),
        ]

        # ---- queues ------------------------------------------------------------------------
        pops = []
        heads = []
        entry_shape = entry_layout(cfg)
        for unit, component in units.items():
            if cfg.queue_depth == 0:
                # No queue: the unit pops straight from the decode register, and that pop is
                # the dispatch (docs/timing.md).
                offered = fetch.offer[unit.value]
                m.d.comb += [
                    fetch.ready[unit.value].eq(component.queue.pop),
                    component.queue.valid.eq(offered & running),
                    component.queue.entry.word.eq(fetch.word),
                    component.queue.entry.pc.eq(fetch.pc),
                ]
                pops.append(component.queue.pop)
                heads.append((offered, fetch.pc))
                continue
            fifo = fresh(
                f"queue_{unit.name.lower()}",
                SyncFIFO(width=entry_shape.size, depth=cfg.queue_depth),
            )
            entry = data.View(entry_shape, fifo.w_data)
            m.d.comb += [
                fetch.ready[unit.value].eq(fifo.w_rdy),
                fifo.w_en.eq(fetch.write[unit.value]),
                entry.word.eq(fetch.word),
                entry.pc.eq(fetch.pc),
                component.queue.valid.eq(fifo.r_rdy & running),
                component.queue.entry.eq(fifo.r_data),
                fifo.r_en.eq(component.queue.pop),
            ]
            pops.append(component.queue.pop)
            heads.append((fifo.r_rdy, data.View(entry_shape, fifo.r_data).pc))

        # ---- dependency tokens: load→exec, exec→load, exec→store, store→exec --------------
        links = [
            (load.tok_out, execute.tok_prev_in),
            (execute.tok_prev_out, load.tok_in),
            (execute.tok_next_out, store.tok_in),
            (store.tok_out, execute.tok_next_in),
        ]
        overflows = []
        for n, (producer, consumer) in enumerate(links):
            count = Signal(range(cfg.token_depth + 1), name=f"tokens_{n}")
            nxt = count + producer.push - consumer.pop
            m.d.comb += consumer.avail.eq(count != 0)
            with m.If(start):
                m.d.sync += count.eq(0)
            with m.Elif(running):
                m.d.sync += count.eq(nxt)
            # nxt > token_depth, from registers but for one AND: the count never exceeds
            # token_depth while running (an overflow stops the machine).
            full = count == cfg.token_depth
            overflows.append((running & full & producer.push & ~consumer.pop, producer.pc))
        overflow, overflow_pc = _lowest(overflows)

        # ---- memories ----------------------------------------------------------------------
        m.submodules.sp = sp = Memory(shape=sp_row(cfg), depth=cfg.sp_depth, init=[])
        sp_w = sp.write_port()
        sp_r = sp.read_port(transparent_for=(sp_w,))
        m.d.comb += [
            sp_w.en.eq((load.sp.en | store.sp.en) & running),
            sp_w.addr.eq(Mux(store.sp.en, store.sp.addr, load.sp.addr)),
            sp_w.data.eq(Mux(store.sp.en, store.sp.data, load.sp.data)),
            sp_r.addr.eq(execute.sp_rd.addr),
            execute.sp_rd.data.eq(sp_r.data),
        ]
        # Two copies of the accumulator give execute and store a read port each.
        acc_en = (execute.acc_wr.en | load.acc.en) & running
        acc_addr = Mux(load.acc.en, load.acc.addr, execute.acc_wr.addr)
        acc_data = Mux(load.acc.en, load.acc.data, execute.acc_wr.data)
        for name, reader in (("acc_exec", execute.acc_rd), ("acc_store", store.acc_rd)):
            mem = Memory(shape=acc_row(cfg), depth=cfg.acc_depth, init=[])
            m.submodules[name] = mem
            w = mem.write_port()
            r = mem.read_port(transparent_for=(w,))
            m.d.comb += [
                w.en.eq(acc_en),
                w.addr.eq(acc_addr),
                w.data.eq(acc_data),
                r.addr.eq(reader.addr),
                reader.data.eq(r.data),
            ]

        # ---- buses and interlocks ----------------------------------------------------------
        for port, master in ((self.rd, load.bus), (self.wr, store.bus)):
            m.d.comb += [
                port.cyc.eq(master.cyc & running),
                port.stb.eq(master.stb & running),
                port.we.eq(master.we),
                port.adr.eq(master.adr),
                port.sel.eq(master.sel),
                port.dat_w.eq(master.dat_w),
                master.dat_r.eq(port.dat_r),
                master.stall.eq(port.stall),
                master.ack.eq(port.ack),
            ]
        m.d.comb += [
            load.exec_acc_busy.eq(execute.acc_busy),
            load.exec_acc_pop.eq(execute.acc_pop),
            load.store_sp_busy.eq(store.sp_busy),
            execute.load_acc_busy.eq(load.acc_busy),
            store.load_sp_busy.eq(load.sp_busy),
            store.load_pop_sp.eq(load.pop_sp),
        ]

        # ---- stopping: errors, done, deadlock ----------------------------------------------
        inflight = load.busy | execute.busy | store.busy
        any_pop = Cat(*pops).any()
        queued = Cat(*[valid for valid, _ in heads]).any()
        finished = fetch.halted & ~queued & ~inflight
        decode_error = fetch.error != ErrorCode.NONE
        stuck = ~inflight & ~any_pop & ~fetch.dispatch & ~fetch.filling & ~finished & ~decode_error
        _, oldest = _lowest(heads)

        stop = running & (overflow | decode_error | finished | stuck)
        code = Mux(
            overflow,
            ErrorCode.TOKEN_OVERFLOW,
            Mux(decode_error, fetch.error, Mux(finished, ErrorCode.NONE, ErrorCode.DEADLOCK)),
        )
        where = Mux(overflow, overflow_pc, Mux(decode_error, fetch.pc, Mux(finished, 0, oldest)))
        done = Signal()
        error = Signal(ErrorCode)
        error_pc = Signal(cfg.pc_bits)
        with m.If(start):
            m.d.sync += [running.eq(1), done.eq(0), error.eq(ErrorCode.NONE), error_pc.eq(0)]
        with m.Elif(stop):
            m.d.sync += [running.eq(0), done.eq(1), error.eq(code), error_pc.eq(where)]
        m.d.comb += [
            self.busy.eq(running),
            self.done.eq(done),
            self.error.eq(error),
            self.error_pc.eq(error_pc),
        ]

        # ---- performance counters ----------------------------------------------------------
        events = {
            "cycles": 1,
            "load_busy": load.busy | load.queue.pop,
            "exec_busy": execute.busy | execute.queue.pop,
            "store_busy": store.busy | store.queue.pop,
            "load_stall": load.queue.valid & ~load.queue.pop,
            "exec_stall": execute.queue.valid & ~execute.queue.pop,
            "store_stall": store.queue.valid & ~store.queue.pop,
            "macs": execute.macs,
            "array_busy": execute.array_busy,
            "rd_beats": self.rd.stb & ~self.rd.stall,
            "wr_beats": self.wr.stb & ~self.wr.stall,
        }
        for name, inc in events.items():
            if name != "cycles" and not cfg.perf_counters:
                continue  # reads as 0
            # counter_bits wide, wrapping; the port field is COUNTER_BITS wide whatever the config.
            counter = Signal(cfg.counter_bits, name=f"counter_{name}")
            m.d.comb += getattr(self.counters, name).eq(counter)
            with m.If(start):
                m.d.sync += counter.eq(0)
            with m.Elif(running):
                m.d.sync += counter.eq(counter + inc)
        return m
