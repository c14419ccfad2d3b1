"""The store unit: requantisation, activation and byte-granular writes of accumulator rows."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_LAYOUT, ActMode, Elem, Opcode, StoreTarget
from .bus import WishboneSignature
from .common import (
    QueueHeadSignature,
    ReadPortSignature,
    TokenInSignature,
    TokenOutSignature,
    WritePortSignature,
    acc_row,
    sp_row,
)
from .requant import RequantMultiply, RequantSaturate, RequantShift

__all__ = ["StoreUnit"]


class _Kind(enum.Enum, shape=3):
    IDLE = 0
    STORE = 1
    CFG_QUANT = 2
    CFG_ACT = 3
    CFG_LUT = 4
    SYNC = 5


class StoreUnit(wiring.Component):
    """Executes ``store``, ``cfg_quant``, ``cfg_act``, ``cfg_lut`` and store-unit ``sync``.

    One instruction at a time (docs/timing.md, "Store unit"). A store reads one accumulator row
    per bus beat it needs, so the post-processing pipeline never has to stall.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        self.row_bytes = 4 * config.cols  # the widest row: cols int32 lanes
        self.max_beats = -(-(config.bus_bytes - 1 + self.row_bytes) // config.bus_bytes)
        super().__init__(
            {
                "queue": Out(QueueHeadSignature(config)),
                "tok_in": Out(TokenInSignature()),
                "tok_out": Out(TokenOutSignature(config)),
                "acc_rd": Out(ReadPortSignature(config.acc_depth, acc_row(config))),
                "sp": Out(WritePortSignature(config.sp_depth, sp_row(config))),
                "bus": Out(WishboneSignature(config)),
                "load_sp_busy": In(1),
                "load_pop_sp": In(1),
                "sp_busy": Out(1),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        C = cfg.cols
        passes, lanes = cfg.requant_passes, cfg.requant_lanes
        pipe = cfg.store_row_latency
        bus_bytes = cfg.bus_bytes
        lg = bus_bytes.bit_length() - 1

        head = data.View(INSTR_LAYOUT, self.queue.entry.word)
        opcode = head.header.opcode.as_value()
        deps = head.header.deps

        kind = Signal(_Kind)
        pc = Signal(cfg.pc_bits)
        push = Signal()
        done = Signal()  # this cycle is the instruction's completion E

        # ---- pop ---------------------------------------------------------------------------
        is_store = opcode == Opcode.STORE.value
        head_sp = head.store.target.as_value() == StoreTarget.SP.value
        interlock_ok = ~(is_store & head_sp) | (~self.load_sp_busy & ~self.load_pop_sp)
        tokens_ok = ~deps.pop_prev | self.tok_in.avail
        pop = self.queue.valid & (kind == _Kind.IDLE) & tokens_ok & interlock_ok
        m.d.comb += [self.queue.pop.eq(pop), self.tok_in.pop.eq(pop & deps.pop_prev)]

        # ---- store-path configuration registers ----------------------------------------------
        mult = Signal(data.ArrayLayout(signed(32), C))
        shift = Signal(data.ArrayLayout(6, C))
        act_mode = Signal(ActMode)
        act_slot = Signal()
        act_lo = Signal(signed(8), init=-128)
        act_hi = Signal(signed(8), init=127)

        # ---- instruction fields ------------------------------------------------------------
        tgt_sp = Signal()
        raw = Signal()
        src = Signal(16)
        length = Signal(range(C + 1))  # decode bounds len by C
        n_inner = Signal(10)
        n_outer = Signal(10)
        stride_inner = Signal(20)
        stride_outer = Signal(20)
        step = Signal(9)  # cycles since pop (configuration instructions)
        lut_row = Signal(16)
        lut_lane = Signal(range(C))
        lut_slot = Signal()

        # ---- store: read stage -------------------------------------------------------------
        rd_active = Signal()
        rd_wait = Signal(range(self.max_beats + 1))
        i = Signal(10)
        o = Signal(10)
        row = Signal(16)
        dest = Signal(32)
        outer = Signal(32)
        nbytes = Mux(raw, length * 4, length)
        nb = Mux(tgt_sp, 1, ((dest[:lg] if lg else 0) + nbytes + bus_bytes - 1) >> lg)
        read_now = rd_active & (rd_wait == 0)
        last_row = (i == n_inner - 1) & (o == n_outer - 1)
        # The next row is read when this one's beats are out and its passes are through.
        spacing = nb if passes == 1 else Mux(nb > passes, nb, passes)
        with m.If(read_now):
            m.d.sync += [rd_wait.eq(spacing - 1), row.eq(row + 1)]
            with m.If(last_row):
                m.d.sync += rd_active.eq(0)
            with m.If(i == n_inner - 1):
                m.d.sync += [
                    i.eq(0),
                    o.eq(o + 1),
                    outer.eq(outer + stride_outer),
                    dest.eq(outer + stride_outer),
                ]
            with m.Else():
                m.d.sync += [i.eq(i + 1), dest.eq(dest + stride_inner)]
        with m.Elif(rd_wait != 0):
            m.d.sync += rd_wait.eq(rd_wait - 1)

        # Row information travels beside the data through the store_row_latency stages.
        # decode bounds len by C, so a row takes at most max_beats beats
        beats_shape = range(self.max_beats + 1)
        # Only `valid` is reset: the row's data and fields (here and below) need none, which
        # keeps `start`'s reset net to the control registers.
        info_layout = data.StructLayout({"valid": 1, "dest": 32, "nb": beats_shape, "last": 1})
        info = Signal(info_layout)
        m.d.comb += [
            info.valid.eq(read_now),
            info.dest.eq(dest),
            info.nb.eq(nb),
            info.last.eq(last_row),
        ]
        infos = [info]
        for n in range(pipe):
            valid = Signal(name=f"info_{n + 1}_valid")
            fields = Signal(info_layout, name=f"info_{n + 1}", reset_less=True)
            m.d.sync += [valid.eq(infos[-1].valid), fields.eq(infos[-1])]
            nxt = Signal(info_layout, name=f"info_{n + 1}_view")
            m.d.comb += [nxt.eq(fields), nxt.valid.eq(valid)]
            infos.append(nxt)

        acc = self.acc_rd.data
        # With acc_read_register the row is registered as it leaves the memory: a block RAM's
        # output is slow (ECP5 DP16KD: 5.8 ns clock-to-out) to feed a multiplier directly.
        rr = int(cfg.acc_read_register)
        if rr:
            acc_q = Signal(acc_row(cfg), reset_less=True)
            m.d.sync += acc_q.eq(acc)
        else:
            acc_q = acc
        # Stage 1: multiply, `lanes` columns per cycle: group k of a row read at T goes at
        # T + 1 + rr + k, from acc_q for k = 0 and from a copy of the row after.
        k1 = Signal(range(passes), init=passes - 1)  # the group in stage 1
        k2 = Signal(range(passes), init=passes - 1)  # the group in stage 2
        with m.If(infos[rr].valid):
            m.d.sync += k1.eq(0)
        with m.Elif(k1 != passes - 1):
            m.d.sync += k1.eq(k1 + 1)
        m.d.sync += k2.eq(k1)
        if passes == 1:
            group_acc = acc_q.as_value()
            row_copy = acc_q.as_value()
            group_mult = mult.as_value()
            group_shift = shift.as_value()
        else:
            held = Signal(acc_row(cfg), reset_less=True)
            with m.If(infos[1 + rr].valid):
                m.d.sync += held.eq(acc_q)
            row_copy = held.as_value()
            group_acc = Mux(infos[1 + rr].valid, acc_q.as_value(), held.as_value()).word_select(
                k1, 32 * lanes
            )
            group_mult = mult.as_value().word_select(k1, 32 * lanes)
            group_shift = shift.as_value().word_select(k2, 6 * lanes)
        prod = Signal(data.ArrayLayout(signed(64), lanes), reset_less=True)
        raw1 = Signal(acc_row(cfg), reset_less=True)
        products = []
        for j in range(lanes):
            m.submodules[f"rq_mul_{j}"] = rq_mul = RequantMultiply()
            m.d.comb += [
                rq_mul.acc.eq(group_acc.word_select(j, 32).as_signed()),
                rq_mul.mult.eq(group_mult.word_select(j, 32).as_signed()),
            ]
            products.append(rq_mul.prod)
        # The raw int32 row skips the arithmetic: copied when the last group is multiplied.
        m.d.sync += [prod.eq(Cat(*products)), raw1.eq(row_copy)]
        # Stage 2: the rounding shift; group k fills lanes k·lanes ... Stage 3 saturates before
        # the clamp: the shifter, the rounding add and the saturation in one cycle were the
        # iCE40 build's longest path.
        shifted_layout = data.StructLayout(
            {"v": signed(RequantShift.W_BITS + 1), "fits": 1, "sign": 1}
        )
        shifted = Signal(data.ArrayLayout(shifted_layout, C), reset_less=True)
        raw2 = Signal(acc_row(cfg), reset_less=True)
        group = []
        for j in range(lanes):
            m.submodules[f"rq_shift_{j}"] = rq_shift = RequantShift()
            m.d.comb += [
                rq_shift.prod.eq(prod[j]),
                rq_shift.shift.eq(group_shift.word_select(j, 6)),
            ]
            group.append(Cat(rq_shift.v, rq_shift.fits, rq_shift.sign))
        width = shifted_layout.size * lanes
        if passes == 1:
            m.d.sync += shifted.eq(Cat(*group))
        else:
            with m.Switch(k2):
                for k in range(passes):
                    with m.Case(k):
                        m.d.sync += shifted.as_value()[k * width : (k + 1) * width].eq(Cat(*group))
        m.d.sync += raw2.eq(raw1)
        # Stage 3: saturate, then clamp, or look the value up (the LUT memories
        # answer in stage 4).
        q = []
        for j in range(C):
            m.submodules[f"rq_sat_{j}"] = rq_sat = RequantSaturate()
            m.d.comb += [
                rq_sat.v.eq(shifted[j].v),
                rq_sat.fits.eq(shifted[j].fits),
                rq_sat.sign.eq(shifted[j].sign),
            ]
            q.append(rq_sat.q)
        y = Signal(data.ArrayLayout(signed(8), C), reset_less=True)
        raw3 = Signal(acc_row(cfg), reset_less=True)
        clamped = []
        for j in range(C):
            lo_fix = Mux(q[j] < act_lo, act_lo, q[j])
            clamped.append(
                Mux(act_mode == ActMode.CLAMP, Mux(lo_fix > act_hi, act_hi, lo_fix), q[j])
            )
        m.d.sync += [y.eq(Cat(*[c[:8] for c in clamped])), raw3.eq(raw2)]
        lut_write = Signal()
        lut_addr = Signal(9)
        lut_data = Signal(8)
        final8 = [y[j] for j in range(C)]
        if cfg.act_lut:
            lut_out = []
            for j in range(C):
                lut = Memory(shape=8, depth=512, init=[])
                m.submodules[f"lut_{j}"] = lut
                wr = lut.write_port()
                rd = lut.read_port()
                m.d.comb += [
                    wr.en.eq(lut_write),
                    wr.addr.eq(lut_addr),
                    wr.data.eq(lut_data),
                    rd.addr.eq(Cat((q[j] + 128)[:8], act_slot)),
                ]
                lut_out.append(rd.data)
            # Stage 4: the finished row (clamp register or LUT memory output).
            use_lut = Signal()
            m.d.sync += use_lut.eq(act_mode == ActMode.LUT)  # sampled at stage 3, used at 4
            final8 = [Mux(use_lut, lut_out[j], y[j]) for j in range(C)]
        row_bytes = Mux(
            raw,
            raw3.as_value(),
            Cat(*[Mux(j < length, final8[j], 0)[:8] for j in range(C)]),
        )

        # ---- store: beat stage -------------------------------------------------------------
        out = infos[pipe]
        beat = Signal(beats_shape)
        outstanding = Signal(8)
        hold = Signal(self.row_bytes * 8 + bus_bytes * 8, reset_less=True)
        hold_dest = Signal(32, reset_less=True)
        hold_nb = Signal(beats_shape, reset_less=True)
        hold_last = Signal()
        beating = Signal()
        offset = out.dest[:lg] if lg else 0
        live = (row_bytes << (offset * 8))[: len(hold)]
        wide = Mux(beating, hold, live)
        cur_dest = Mux(beating, hold_dest, out.dest)
        cur_nb = Mux(beating, hold_nb, out.nb)
        cur_last = Mux(beating, hold_last, out.last)
        cur_beat = Mux(beating, beat, 0)
        mask_live = Cat(*[k < nbytes for k in range(self.row_bytes)]) << offset
        hold_mask = Signal(self.row_bytes + bus_bytes, reset_less=True)
        mask = Mux(beating, hold_mask, mask_live)
        beat_valid = ~tgt_sp & (out.valid | beating)
        with m.If(out.valid & ~tgt_sp):
            m.d.sync += [
                hold.eq(live),
                hold_dest.eq(out.dest),
                hold_nb.eq(out.nb),
                hold_last.eq(out.last),
                hold_mask.eq(mask_live),
            ]
        last_beat = cur_beat == cur_nb - 1
        with m.If(beat_valid):
            with m.If(last_beat):
                m.d.sync += [beating.eq(0), beat.eq(0)]
            with m.Else():
                m.d.sync += [beating.eq(1), beat.eq(cur_beat + 1)]
        m.d.comb += [
            self.bus.cyc.eq(beat_valid | (outstanding != 0)),
            self.bus.stb.eq(beat_valid),
            self.bus.we.eq(1),
            self.bus.adr.eq((cur_dest >> lg) + cur_beat),
            self.bus.dat_w.eq(wide.word_select(cur_beat, bus_bytes * 8)),
            self.bus.sel.eq(mask.word_select(cur_beat, bus_bytes)),
        ]
        final_issued = Signal()
        issue_final = beat_valid & last_beat & cur_last
        m.d.sync += outstanding.eq(outstanding + beat_valid - self.bus.ack)
        with m.If(issue_final):
            m.d.sync += final_issued.eq(1)
        dram_done = final_issued & self.bus.ack & (outstanding == 1)

        # Scratchpad target: one row per read, written as it leaves the pipeline.
        m.d.comb += [
            self.sp.en.eq(out.valid & tgt_sp),
            self.sp.addr.eq(out.dest),
            self.sp.data.eq(
                Cat(
                    *[Mux(j < length, final8[j], 0)[:8] for j in range(C)],
                    Const(0, 8 * (cfg.lanes - C)),
                )
            ),
        ]
        sp_done = out.valid & tgt_sp & out.last

        # ---- sequencer ---------------------------------------------------------------------
        with m.If(pop):
            m.d.sync += [pc.eq(self.queue.entry.pc), push.eq(deps.push_prev), step.eq(0)]
            with m.Switch(opcode):
                with m.Case(Opcode.STORE.value):
                    f = head.store
                    m.d.sync += [
                        kind.eq(_Kind.STORE),
                        tgt_sp.eq(head_sp),
                        raw.eq(f.elem.as_value() == Elem.I32.value),
                        src.eq(f.src),
                        length.eq(f.len),
                        n_inner.eq(f.n_inner),
                        n_outer.eq(f.n_outer),
                        stride_inner.eq(f.stride_inner),
                        stride_outer.eq(f.stride_outer),
                        i.eq(0),
                        o.eq(0),
                        row.eq(0),
                        dest.eq(f.addr),
                        outer.eq(f.addr),
                        rd_active.eq(1),
                        rd_wait.eq(0),
                        final_issued.eq(0),
                    ]
                with m.Case(Opcode.CFG_QUANT.value):
                    m.d.sync += [
                        kind.eq(_Kind.CFG_QUANT),
                        src.eq(head.cfg_quant.mult_row),
                        row.eq(head.cfg_quant.shift_row),
                    ]
                with m.Case(Opcode.CFG_ACT.value):
                    f = head.cfg_act
                    m.d.sync += [
                        kind.eq(_Kind.CFG_ACT),
                        act_mode.eq(f.mode),
                        act_slot.eq(f.slot),
                        act_lo.eq(f.lo),
                        act_hi.eq(f.hi),
                    ]
                if cfg.act_lut:  # otherwise decode stops cfg_lut (ILLEGAL_OPCODE)
                    with m.Case(Opcode.CFG_LUT.value):
                        m.d.sync += [
                            kind.eq(_Kind.CFG_LUT),
                            lut_row.eq(head.cfg_lut.src),
                            lut_lane.eq(0),
                            lut_slot.eq(head.cfg_lut.slot),
                        ]
                with m.Default():
                    m.d.sync += kind.eq(_Kind.SYNC)
        with m.Elif(kind != _Kind.IDLE):
            m.d.sync += step.eq(step + 1)

        # cfg_quant: read the multiplier row at P+1, the shift row at P+2.
        # cfg_lut: entry e reads its row at P+1+e and is written at P+2+e.
        lut_entry = Signal(9)
        lut_reading = Signal()
        with m.Switch(kind):
            with m.Case(_Kind.STORE):
                m.d.comb += [
                    self.acc_rd.addr.eq(src + row),
                    done.eq(Mux(tgt_sp, sp_done, dram_done)),
                ]
            with m.Case(_Kind.CFG_QUANT):
                m.d.comb += [
                    self.acc_rd.addr.eq(Mux(step == 0, src, row)),
                    done.eq(step == 2),
                ]
                with m.If(step == 1):
                    m.d.sync += mult.eq(acc)
                with m.If(step == 2):
                    m.d.sync += shift.eq(Cat(*[acc[j][:6] for j in range(C)]))
            with m.Case(_Kind.CFG_ACT):
                m.d.comb += done.eq(1)
            with m.Case(_Kind.CFG_LUT):
                m.d.comb += [self.acc_rd.addr.eq(lut_row), done.eq(step == 256)]
                with m.If(step < 256):
                    with m.If(lut_lane == C - 1):
                        m.d.sync += [lut_lane.eq(0), lut_row.eq(lut_row + 1)]
                    with m.Else():
                        m.d.sync += lut_lane.eq(lut_lane + 1)
            with m.Case(_Kind.SYNC):
                m.d.comb += done.eq(1)
        # The LUT entry read in cycle P+1+e is written in P+2+e from lane e mod C.
        lane_d = Signal(range(C))
        m.d.sync += [
            lut_reading.eq((kind == _Kind.CFG_LUT) & (step < 256)),
            lane_d.eq(lut_lane),
            lut_entry.eq(Mux(kind == _Kind.CFG_LUT, step, 0)),
        ]
        m.d.comb += [
            lut_write.eq(lut_reading),
            lut_addr.eq(Cat(lut_entry[:8], lut_slot)),
            lut_data.eq(acc.as_value().word_select(lane_d, 32)[:8]),
        ]
        with m.If(done):
            m.d.sync += kind.eq(_Kind.IDLE)
        m.d.comb += [
            self.tok_out.push.eq(done & push),
            self.tok_out.pc.eq(pc),
            self.busy.eq(kind != _Kind.IDLE),
            self.sp_busy.eq((kind == _Kind.STORE) & tgt_sp),
        ]
        return m
