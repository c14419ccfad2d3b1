"""The load unit: 2-D strided, byte-granular DMA from external memory into sp/acc rows."""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_LAYOUT, Elem, LoadTarget, Opcode
from .bus import WishboneSignature
from .common import (
    QueueHeadSignature,
    TokenInSignature,
    TokenOutSignature,
    WritePortSignature,
    acc_row,
    sp_row,
)

__all__ = ["LoadUnit"]


class LoadUnit(wiring.Component):
    """Executes ``load`` and load-unit ``sync`` (docs/timing.md, "Load unit").

    Requests for all rows of a load go out back to back, one beat per cycle; the next load may
    start in the cycle of the last request, so memory latency overlaps between instructions.
    Responses are realigned into rows and written one cycle after a row's last beat returns.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        # A row is at most max(lanes, 4·cols) bytes and may start anywhere in a bus word.
        self.row_bytes = max(config.lanes, 4 * config.cols)
        self.max_beats = -(-(config.bus_bytes - 1 + self.row_bytes) // config.bus_bytes)
        super().__init__(
            {
                "queue": Out(QueueHeadSignature(config)),
                "tok_in": Out(TokenInSignature()),
                "tok_out": Out(TokenOutSignature(config)),
                "bus": Out(WishboneSignature(config)),
                "sp": Out(WritePortSignature(config.sp_depth, sp_row(config))),
                "acc": Out(WritePortSignature(config.acc_depth, acc_row(config))),
                "exec_acc_busy": In(1),
                "exec_acc_pop": In(1),
                "store_sp_busy": In(1),
                "sp_busy": Out(1),
                "acc_busy": Out(1),
                "pop_sp": Out(1),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        bus_bytes = cfg.bus_bytes
        lg = bus_bytes.bit_length() - 1

        head = data.View(INSTR_LAYOUT, self.queue.entry.word)
        opcode = head.header.opcode.as_value()
        is_load = opcode == Opcode.LOAD.value
        head_acc = head.load.target.as_value() == LoadTarget.ACC.value

        # ---- request generator state -------------------------------------------------------
        active = Signal()
        tgt_acc = Signal()
        elem32 = Signal()
        dst = Signal(16)
        length = Signal(range(cfg.lanes + 1))  # decode bounds len by the target's lanes
        n_inner = Signal(10)
        n_outer = Signal(10)
        stride_inner = Signal(20)
        stride_outer = Signal(20)
        push = Signal()
        pc = Signal(cfg.pc_bits)
        i = Signal(10)
        o = Signal(10)
        beat = Signal(range(self.max_beats + 1))
        row = Signal(16)
        row_addr = Signal(32)
        outer_addr = Signal(32)

        meta_layout = data.StructLayout(
            {
                "beat": range(self.max_beats + 1),
                "offset": max(lg, 1),
                "last_beat": 1,
                "row": 16,
                "acc": 1,
                "elem32": 1,
                "len": range(cfg.lanes + 1),
                "last": 1,
                "push": 1,
                "pc": cfg.pc_bits,
            }
        )
        m.submodules.meta = meta = SyncFIFO(width=meta_layout.size, depth=cfg.mem_latency + 2)

        def row_bytes(i32: Value, n: Value) -> Value:
            """Bytes of a row of ``n`` elements: int8, or int32 for ``elem=i32``."""
            return Mux(i32, n * 4, n)

        nbytes = row_bytes(elem32, length)
        nb = ((row_addr[:lg] if lg else 0) + nbytes + bus_bytes - 1) >> lg
        last_beat = Signal()  # beat == nb - 1, registered like i_last and o_last below

        def one_beat(addr: Value, n: Value) -> Value:
            """A row of ``n`` bytes from ``addr`` takes a single bus beat."""
            return ((addr[:lg] if lg else 0) + n) <= bus_bytes

        # Registered "this is the last row of the inner / outer loop": the comparisons with
        # n_inner - 1 would otherwise sit on the path from here to pop, tokens and errors.
        i_last = Signal()
        o_last = Signal()
        last_row = i_last & o_last
        accept = active & ~self.bus.stall & meta.w_rdy
        gen_last = accept & last_beat & last_row

        # ---- in-flight bookkeeping (for tokens, interlocks, done/deadlock) -------------------
        inflight = Signal(8)
        inflight_acc = Signal(8)
        inflight_sp = Signal(8)
        sync_wait = Signal()
        sync_push = Signal()
        sync_pc = Signal(cfg.pc_bits)
        sync_done = sync_wait & (inflight == 1)

        # ---- pop ---------------------------------------------------------------------------
        free = (~active & ~sync_wait) | gen_last | sync_done
        tokens_ok = ~head.header.deps.pop_next | self.tok_in.avail
        interlock_ok = ~is_load | Mux(
            head_acc, ~self.exec_acc_busy & ~self.exec_acc_pop, ~self.store_sp_busy
        )
        pop = self.queue.valid & free & tokens_ok & interlock_ok
        pop_load = pop & is_load
        m.d.comb += [
            self.queue.pop.eq(pop),
            self.tok_in.pop.eq(pop & head.header.deps.pop_next),
            self.pop_sp.eq(pop_load & ~head_acc),
        ]

        # ---- requests ----------------------------------------------------------------------
        meta_in = data.View(meta_layout, meta.w_data)
        meta_out = data.View(meta_layout, meta.r_data)
        m.d.comb += [
            self.bus.cyc.eq(active | meta.r_rdy),
            self.bus.stb.eq(active),
            self.bus.we.eq(0),
            self.bus.sel.eq(-1),
            self.bus.adr.eq((row_addr >> lg) + beat),
            meta.w_en.eq(accept),
            meta_in.beat.eq(beat),
            meta_in.offset.eq(row_addr[:lg] if lg else 0),
            meta_in.last_beat.eq(last_beat),
            meta_in.row.eq(dst + row),
            meta_in.acc.eq(tgt_acc),
            meta_in.elem32.eq(elem32),
            meta_in.len.eq(length),
            meta_in.last.eq(last_beat & last_row),
            meta_in.push.eq(push),
            meta_in.pc.eq(pc),
        ]
        with m.If(accept):
            with m.If(last_beat):
                m.d.sync += [beat.eq(0), row.eq(row + 1)]
                with m.If(i_last):
                    m.d.sync += [
                        i.eq(0),
                        i_last.eq(n_inner == 1),
                        o.eq(o + 1),
                        o_last.eq(o + 2 == n_outer),
                        outer_addr.eq(outer_addr + stride_outer),
                        row_addr.eq(outer_addr + stride_outer),
                        last_beat.eq(one_beat(outer_addr + stride_outer, nbytes)),
                    ]
                with m.Else():
                    m.d.sync += [
                        i.eq(i + 1),
                        i_last.eq(i + 2 == n_inner),
                        row_addr.eq(row_addr + stride_inner),
                        last_beat.eq(one_beat(row_addr + stride_inner, nbytes)),
                    ]
            with m.Else():
                m.d.sync += [beat.eq(beat + 1), last_beat.eq(beat + 2 == nb)]
            with m.If(gen_last):
                m.d.sync += active.eq(0)
        with m.If(pop_load):
            fields = head.load
            m.d.sync += [
                active.eq(1),
                tgt_acc.eq(head_acc),
                elem32.eq(fields.elem.as_value() == Elem.I32.value),
                dst.eq(fields.dst),
                length.eq(fields.len),
                n_inner.eq(fields.n_inner),
                n_outer.eq(fields.n_outer),
                stride_inner.eq(fields.stride_inner),
                stride_outer.eq(fields.stride_outer),
                push.eq(head.header.deps.push_next),
                pc.eq(self.queue.entry.pc),
                i.eq(0),
                o.eq(0),
                i_last.eq(fields.n_inner == 1),
                o_last.eq(fields.n_outer == 1),
                beat.eq(0),
                last_beat.eq(
                    one_beat(
                        fields.addr,
                        row_bytes(fields.elem.as_value() == Elem.I32.value, fields.len),
                    )
                ),
                row.eq(0),
                row_addr.eq(fields.addr),
                outer_addr.eq(fields.addr),
            ]

        # ---- responses: realign the beats of a row, write it one cycle later ----------------
        word_bits = bus_bytes * 8
        buf = Signal(self.max_beats * word_bits, reset_less=True)
        ack = self.bus.ack & meta.r_rdy
        m.d.comb += meta.r_en.eq(ack)
        beats = [
            Mux(
                ack & (meta_out.beat == b), self.bus.dat_r, buf[b * word_bits : (b + 1) * word_bits]
            )
            for b in range(self.max_beats)
        ]
        full = Cat(*beats)
        m.d.sync += buf.eq(full)
        aligned = (full >> (meta_out.offset * 8))[: self.row_bytes * 8]
        byte = [aligned[8 * k : 8 * k + 8] for k in range(self.row_bytes)]
        sp_lanes = [Mux(k < meta_out.len, byte[k], 0) for k in range(cfg.lanes)]
        acc_lanes = [
            Mux(
                k < meta_out.len,
                Mux(meta_out.elem32, Cat(*byte[4 * k : 4 * k + 4]), byte[k].as_signed()),
                0,
            )
            for k in range(cfg.cols)
        ]

        # The row's data and address carry no reset; out_valid does.
        out_valid = Signal()
        out_acc = Signal()
        out_row = Signal(16, reset_less=True)
        out_last = Signal()
        out_push = Signal()
        out_pc = Signal(cfg.pc_bits, reset_less=True)
        out_sp_data = Signal(sp_row(cfg), reset_less=True)
        out_acc_data = Signal(acc_row(cfg), reset_less=True)
        m.d.sync += out_valid.eq(ack & meta_out.last_beat)
        with m.If(ack & meta_out.last_beat):
            m.d.sync += [
                out_acc.eq(meta_out.acc),
                out_row.eq(meta_out.row),
                out_last.eq(meta_out.last),
                out_push.eq(meta_out.push),
                out_pc.eq(meta_out.pc),
                out_sp_data.eq(Cat(*sp_lanes)),
                out_acc_data.eq(Cat(*[lane[:32] for lane in acc_lanes])),
            ]
        done_load = out_valid & out_last
        m.d.comb += [
            self.sp.en.eq(out_valid & ~out_acc),
            self.sp.addr.eq(out_row),
            self.sp.data.eq(out_sp_data),
            self.acc.en.eq(out_valid & out_acc),
            self.acc.addr.eq(out_row),
            self.acc.data.eq(out_acc_data),
            self.tok_out.push.eq((done_load & out_push) | (sync_done & sync_push)),
            self.tok_out.pc.eq(Mux(sync_done, sync_pc, out_pc)),
        ]

        # ---- sync and in-flight counters ---------------------------------------------------
        with m.If(pop & ~is_load):
            m.d.sync += [
                sync_wait.eq(1),
                sync_push.eq(head.header.deps.push_next),
                sync_pc.eq(self.queue.entry.pc),
            ]
        with m.Elif(sync_done):
            m.d.sync += sync_wait.eq(0)
        m.d.sync += [
            inflight.eq(inflight + pop - (done_load | sync_done)),
            inflight_acc.eq(inflight_acc + (pop_load & head_acc) - (done_load & out_acc)),
            inflight_sp.eq(inflight_sp + (pop_load & ~head_acc) - (done_load & ~out_acc)),
        ]
        m.d.comb += [
            self.busy.eq(inflight != 0),
            self.acc_busy.eq(inflight_acc != 0),
            self.sp_busy.eq(inflight_sp != 0),
        ]
        return m
