"""The execute unit: weight preload, matmul through the systolic core, and the vector unit."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import INSTR_LAYOUT, MatMode, Opcode, VecOp
from .array import SystolicCore
from .common import (
    QueueHeadSignature,
    ReadPortSignature,
    TokenInSignature,
    TokenOutSignature,
    WritePortSignature,
    acc_row,
    sp_row,
)

__all__ = ["ExecuteUnit"]


class _Kind(enum.Enum, shape=3):
    IDLE = 0
    PRELOAD = 1
    MATMUL = 2
    VECTOR = 3
    SYNC = 4


class ExecuteUnit(wiring.Component):
    """Executes ``preload``, ``matmul``, ``vector`` and execute-unit ``sync``.

    Instructions issue back to back (the next one pops in the cycle of the previous one's last
    issue). Matmul rows, and the retirement of preload and sync, travel down a fixed-latency
    pipeline of R + C cycles to the accumulator, so completions stay in program order
    (docs/timing.md, "Execute unit").
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__(
            {
                "queue": Out(QueueHeadSignature(config)),
                "tok_prev_in": Out(TokenInSignature()),
                "tok_next_in": Out(TokenInSignature()),
                "tok_prev_out": Out(TokenOutSignature(config)),
                "tok_next_out": Out(TokenOutSignature(config)),
                "sp_rd": Out(ReadPortSignature(config.sp_depth, sp_row(config))),
                "acc_rd": Out(ReadPortSignature(config.acc_depth, acc_row(config))),
                "acc_wr": Out(WritePortSignature(config.acc_depth, acc_row(config))),
                "load_acc_busy": In(1),
                "acc_busy": Out(1),
                "acc_pop": Out(1),
                "busy": Out(1),
                "array_busy": Out(1),
                "macs": Out(21),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        m.submodules.core = core = SystolicCore(cfg)

        head = data.View(INSTR_LAYOUT, self.queue.entry.word)
        opcode = head.header.opcode.as_value()
        deps = head.header.deps

        # ---- sequencer state ---------------------------------------------------------------
        kind = Signal(_Kind)
        k = Signal(18)
        count = Signal(18)
        pc = Signal(cfg.pc_bits)
        push_prev = Signal()
        push_next = Signal()
        src = Signal(16)
        dst = Signal(16)
        rows = Signal(10)
        cols = Signal(10)
        mode = Signal(MatMode)
        bias = Signal(16)
        swap = Signal()
        vop = Signal(VecOp)
        va = Signal(16)
        vb = Signal(16)
        va_stride = Signal(8)
        vb_stride = Signal(8)
        vd_stride = Signal(8)
        b_imm = Signal()
        imm = Signal(signed(16))
        vshift = Signal(6)

        issuing = kind != _Kind.IDLE
        # `k == count - 1`, registered a cycle ahead: the comparison's carry chain would
        # otherwise start the pop decision, and with it fetch's dispatch and the instruction
        # memory's address (the iCE40 build's longest path).
        last = Signal()
        last_issue = issuing & last

        # ---- completion bookkeeping --------------------------------------------------------
        inflight = Signal(8)
        inflight_accw = Signal(8)
        retire = Signal()
        retire_accw = Signal()
        swap_wait = Signal(range(max(R + C, 2)))

        # ---- pop ---------------------------------------------------------------------------
        is_pre = opcode == Opcode.PRELOAD.value
        is_mm = opcode == Opcode.MATMUL.value
        is_vec = (opcode == Opcode.VECTOR.value) if cfg.vector_unit else Const(0)
        swap_now = Signal()  # a swap row issues this cycle
        swap_clear = swap_wait == 0
        if cfg.swap_clearance > 0:
            swap_clear &= ~swap_now
        pipe_empty = (inflight - retire) == 0
        cond = Mux(
            is_pre,
            swap_clear,
            Mux(is_mm, ~self.load_acc_busy, Mux(is_vec, ~self.load_acc_busy & pipe_empty, 1)),
        )
        tokens_ok = (~deps.pop_prev | self.tok_prev_in.avail) & (
            ~deps.pop_next | self.tok_next_in.avail
        )
        pop = self.queue.valid & (~issuing | last_issue) & tokens_ok & cond
        m.d.comb += [
            self.queue.pop.eq(pop),
            self.tok_prev_in.pop.eq(pop & deps.pop_prev),
            self.tok_next_in.pop.eq(pop & deps.pop_next),
            self.acc_pop.eq(pop & (is_mm | is_vec)),
        ]

        with m.If(last_issue):
            m.d.sync += kind.eq(_Kind.IDLE)
        with m.Elif(issuing):
            m.d.sync += [k.eq(k + 1), last.eq(k + 2 == count)]
        with m.If(pop):
            m.d.sync += [
                k.eq(0),
                pc.eq(self.queue.entry.pc),
                push_prev.eq(deps.push_prev),
                push_next.eq(deps.push_next),
            ]
            with m.Switch(opcode):
                with m.Case(Opcode.PRELOAD.value):
                    f = head.preload
                    m.d.sync += [
                        kind.eq(_Kind.PRELOAD),
                        count.eq(R),
                        last.eq(R == 1),
                        src.eq(f.src),
                        rows.eq(f.rows),
                        cols.eq(f.cols),
                    ]
                with m.Case(Opcode.MATMUL.value):
                    f = head.matmul
                    m.d.sync += [
                        kind.eq(_Kind.MATMUL),
                        count.eq(f.n),
                        last.eq(f.n == 1),
                        src.eq(f.src),
                        dst.eq(f.dst),
                        mode.eq(f.mode),
                        bias.eq(f.bias),
                        swap.eq(f.swap),
                    ]
                if cfg.vector_unit:  # otherwise decode stops `vector`
                    with m.Case(Opcode.VECTOR.value):
                        f = head.vector
                        m.d.sync += [
                            kind.eq(_Kind.VECTOR),
                            count.eq(cfg.vector_cycles(f.n)[0]),
                            last.eq(0),  # 2n + 2 issue cycles
                            vop.eq(f.op),
                            dst.eq(f.dst),
                            va.eq(f.a),
                            vb.eq(f.b),
                            vd_stride.eq(f.dst_stride),
                            va_stride.eq(f.a_stride),
                            vb_stride.eq(f.b_stride),
                            b_imm.eq(f.b_imm),
                            imm.eq(f.imm),
                            vshift.eq(f.shift),
                        ]
                with m.Default():
                    m.d.sync += [kind.eq(_Kind.SYNC), count.eq(1), last.eq(1)]

        # ---- preload: shift weight rows into the shadow registers ----------------------------
        shadow_macs = Signal(20)
        active_macs = Signal(20)
        pre_issue = kind == _Kind.PRELOAD
        zero_row = k < (R - rows)
        shift_valid = Signal()
        shift_zero = Signal()
        shift_cols = Signal(10)
        m.d.sync += [shift_valid.eq(pre_issue), shift_zero.eq(zero_row), shift_cols.eq(cols)]
        with m.If(pop & is_pre):
            # rows ≤ R and cols ≤ C (decode checks), so narrow operands: a LUT multiply, no DSP.
            f = head.preload
            m.d.sync += shadow_macs.eq(f.rows[: R.bit_length()] * f.cols[: C.bit_length()])
        sp_data = self.sp_rd.data
        m.d.comb += [
            core.w_shift.eq(shift_valid),
            core.w_row.eq(
                Cat(*[Mux(shift_zero | (j >= shift_cols), 0, sp_data[j]) for j in range(C)])
            ),
        ]

        # ---- matmul: stream rows into the core ---------------------------------------------
        mm_issue = kind == _Kind.MATMUL
        m.d.comb += swap_now.eq(mm_issue & swap & (k == 0))
        in_valid = Signal()
        in_flip = Signal()
        m.d.sync += [in_valid.eq(mm_issue), in_flip.eq(swap_now)]
        m.d.comb += [
            core.in_row.eq(Cat(*[sp_data[i] for i in range(R)])),
            core.in_valid.eq(in_valid),
            core.in_flip.eq(in_flip),
            self.array_busy.eq(mm_issue),
        ]
        with m.If(swap_now):
            m.d.sync += active_macs.eq(shadow_macs)
        m.d.comb += self.macs.eq(Mux(mm_issue, Mux(swap_now, shadow_macs, active_macs), 0))
        with m.If(swap_now):
            m.d.sync += swap_wait.eq(max(cfg.swap_clearance - 1, 0))
        with m.Elif(swap_wait != 0):
            m.d.sync += swap_wait.eq(swap_wait - 1)

        with m.Switch(kind):
            with m.Case(_Kind.PRELOAD):
                m.d.comb += self.sp_rd.addr.eq(src + (R - 1) - k)
            with m.Case(_Kind.MATMUL):
                m.d.comb += self.sp_rd.addr.eq(src + k)

        # The meta pipeline: one entry per issue cycle, R + C cycles to the write stage. The
        # flags that say an entry is live are reset; the fields they qualify need not be, which
        # keeps `start`'s reset net small.
        flags_layout = data.StructLayout({"write": 1, "retire": 1, "push_prev": 1, "push_next": 1})
        fields_layout = data.StructLayout(
            {"addr": 16, "mode": MatMode, "bias": 16, "pc": cfg.pc_bits}
        )
        flags = Signal(flags_layout)
        fields = Signal(fields_layout)
        m.d.comb += [
            flags.write.eq(mm_issue),
            flags.retire.eq(last_issue & (kind != _Kind.VECTOR)),
            flags.push_prev.eq(push_prev),
            flags.push_next.eq(push_next),
            fields.addr.eq(dst + k),
            fields.mode.eq(mode),
            fields.bias.eq(bias),
            fields.pc.eq(pc),
        ]
        stages = [(flags, fields)]
        for n in range(R + C):
            nxt_flags = Signal(flags_layout, name=f"meta_{n}")
            nxt_fields = Signal(fields_layout, name=f"meta_{n}_fields", reset_less=True)
            m.d.sync += [nxt_flags.eq(stages[-1][0]), nxt_fields.eq(stages[-1][1])]
            stages.append((nxt_flags, nxt_fields))
        # The old value / bias is read one cycle before the write, or with acc_read_register
        # two (R + C >= 2 always) and registered, so that the slow block RAM output does not
        # feed the adder.
        rr = int(cfg.acc_read_register)
        read_stage = stages[R + C - 1 - rr][1]
        write_flags, write_fields = stages[R + C]

        # ---- vector unit: II 2, reads a then b, writes four cycles after b ------------------
        # Row i (first read at t) has a's data at t+1 and b's at t+2, registered like a so
        # that the slow block RAM output (ECP5: 5.8 ns) does not feed the multiplier; the
        # operation at t+3, the rounding shift into `res` at t+4, the write at t+5. A row's
        # operands may be rows still in flight: a and b from the row before (in `res` when
        # this row computes), a also from the row before that (then in `res_prev`), whose
        # write at t+1 comes after this row's a read at t; b, read at t+1, sees that write.
        # The issue's last two cycles are empty, so a following matmul's first write comes
        # after the last vector write (its first old-value read may come a cycle before it;
        # the write is then forwarded, below).
        if cfg.vector_unit:
            vec_issue = kind == _Kind.VECTOR
            in_rows = k < count - 2
            read_a = vec_issue & ~k[0] & in_rows
            read_b = vec_issue & k[0] & in_rows
            # The row's addresses step by their strides once its b is read (no multiply in
            # front of the memory's address).
            a_addr, b_addr, d_addr = va, vb, dst
            with m.If(read_b):
                m.d.sync += [
                    va.eq(va + va_stride),
                    vb.eq(vb + vb_stride),
                    dst.eq(dst + vd_stride),
                ]
            # Operands, results and their addresses carry no reset; the valid bits do.
            a_pending = Signal()  # t+1: acc_rd.data holds operand a
            a_pending_addr = Signal(16, reset_less=True)
            row_dst = Signal(16, reset_less=True)
            row_last = Signal()
            b_pending = Signal()  # t+2: acc_rd.data holds operand b
            b_dst = Signal(16, reset_less=True)
            b_last = Signal()
            a_val = Signal(acc_row(cfg), reset_less=True)
            b_val = Signal(acc_row(cfg), reset_less=True)
            op_valid = Signal()  # t+3: the operation
            value_layout = data.ArrayLayout(signed(49), C)
            value = Signal(value_layout, reset_less=True)
            v_valid = Signal()  # t+4: the rounding shift
            v_dst = Signal(16, reset_less=True)
            v_last = Signal()
            res = Signal(acc_row(cfg), reset_less=True)
            res_prev = Signal(acc_row(cfg), reset_less=True)
            res_valid = Signal()  # t+5: the write
            res_dst = Signal(16, reset_less=True)
            res_retire = Signal()
            fwd_a1 = Signal()  # operand a is the row before (`res` at t+3)
            fwd_a2 = Signal()  # operand a is the row before that (`res_prev` at t+3)
            fwd_b = Signal()  # operand b is the row before (`res` at t+3)
            m.d.sync += [
                a_pending.eq(read_a),
                b_pending.eq(read_b),
                op_valid.eq(b_pending),
            ]
            with m.If(read_a):
                m.d.sync += [
                    a_pending_addr.eq(a_addr),
                    row_dst.eq(d_addr),
                    row_last.eq(k == count - 4),
                ]
            # At t+1 the row before is in the operation stage (b_dst still holds its
            # destination) and the one before that is being written.
            with m.If(a_pending):
                m.d.sync += [
                    a_val.eq(self.acc_rd.data),
                    fwd_a1.eq(op_valid & (b_dst == a_pending_addr)),
                    fwd_a2.eq(res_valid & (res_dst == a_pending_addr)),
                    b_dst.eq(row_dst),
                    b_last.eq(row_last),
                ]
            # An immediate b goes into b_val where the row's data would: the operation then
            # starts from a register and the forwarding mux, not from a select fanned out to
            # every lane (the 8x8's longest path ran from b_imm into the multiplier).
            imm_word = Signal(32)
            m.d.comb += imm_word.eq(imm)  # sign-extended
            with m.If(read_b):
                m.d.sync += fwd_b.eq(op_valid & ~b_imm & (b_dst == b_addr))
            with m.If(b_pending):
                m.d.sync += b_val.eq(Mux(b_imm, imm_word.replicate(C), self.acc_rd.data))
            # The operation (a_val, b_val, b_dst and the flags still hold this row's).
            lanes = []
            for j in range(C):
                a = Mux(fwd_a1, res[j], Mux(fwd_a2, res_prev[j], a_val[j])).as_signed()
                b = Mux(fwd_b, res[j], b_val[j]).as_signed()
                lane = Signal(signed(49), name=f"vec_value_{j}")
                with m.Switch(vop):
                    with m.Case(VecOp.ADD):
                        m.d.comb += lane.eq(a + b)
                    with m.Case(VecOp.SUB):
                        m.d.comb += lane.eq(a - b)
                    with m.Case(VecOp.MUL):
                        m.d.comb += lane.eq(a * b[:16].as_signed())
                    with m.Case(VecOp.MAX):
                        m.d.comb += lane.eq(Mux(a > b, a, b))
                    with m.Case(VecOp.MIN):
                        m.d.comb += lane.eq(Mux(a < b, a, b))
                lanes.append(lane)
            m.d.sync += [v_valid.eq(op_valid), v_last.eq(op_valid & b_last)]
            with m.If(op_valid):
                m.d.sync += [value.eq(Cat(*lanes)), v_dst.eq(b_dst)]
            # Rounding: round half up, (v >> s) plus the last bit shifted out.
            rounded = []
            for j in range(C):
                v = value[j]
                half = Mux(vshift == 0, 0, (v >> (vshift - 1)[:6])[0])
                rounded.append(((v >> vshift) + half)[:32])
            m.d.sync += [res_valid.eq(v_valid), res_retire.eq(v_last)]
            with m.If(v_valid):
                m.d.sync += [res.eq(Cat(*rounded)), res_prev.eq(res), res_dst.eq(v_dst)]
        else:  # decode stops `vector` (ILLEGAL_OPCODE): no vector datapath
            vec_issue = read_a = res_valid = res_retire = Const(0)
            a_addr = b_addr = res_dst = Const(0, 16)
            res = Const(0, acc_row(cfg).size)

        # ---- accumulator ports -------------------------------------------------------------
        with m.If(vec_issue):
            m.d.comb += self.acc_rd.addr.eq(Mux(read_a, a_addr, b_addr))
        old_addr = Mux(read_stage.mode == MatMode.BIAS, read_stage.bias, read_stage.addr)
        with m.Else():
            m.d.comb += self.acc_rd.addr.eq(old_addr)
        if rr:
            # The read at W-2 sees a write in the same cycle (transparent port) but not one
            # at W-1, the previous row's: that one is forwarded into the register.
            old = Signal(acc_row(cfg), reset_less=True)
            old_addr_q = Signal(range(cfg.acc_depth), reset_less=True)
            forward = self.acc_wr.en & (self.acc_wr.addr == old_addr_q)
            m.d.sync += [
                old_addr_q.eq(old_addr),
                old.eq(Mux(forward, self.acc_wr.data, self.acc_rd.data)),
            ]
        else:
            old = self.acc_rd.data
        out = core.out_row
        mm_lanes = [
            Mux(
                write_fields.mode == MatMode.OVERWRITE,
                out[j],
                (out[j] + old[j].as_signed())[:32],
            )
            for j in range(C)
        ]
        with m.If(res_valid):
            m.d.comb += [
                self.acc_wr.en.eq(1),
                self.acc_wr.addr.eq(res_dst),
                self.acc_wr.data.eq(res),
            ]
        with m.Else():
            m.d.comb += [
                self.acc_wr.en.eq(write_flags.write),
                self.acc_wr.addr.eq(write_fields.addr),
                self.acc_wr.data.eq(Cat(*[lane[:32] for lane in mm_lanes])),
            ]

        # ---- retirement: pushes and in-flight counts ---------------------------------------
        vec_push_prev = Signal()
        vec_push_next = Signal()
        vec_pc = Signal(cfg.pc_bits)
        with m.If(pop & is_vec):
            m.d.sync += [
                vec_push_prev.eq(deps.push_prev),
                vec_push_next.eq(deps.push_next),
                vec_pc.eq(self.queue.entry.pc),
            ]
        vec_retire = res_valid & res_retire
        m.d.comb += [
            retire.eq(write_flags.retire | vec_retire),
            retire_accw.eq((write_flags.retire & write_flags.write) | vec_retire),
            self.tok_prev_out.push.eq(
                (write_flags.retire & write_flags.push_prev) | (vec_retire & vec_push_prev)
            ),
            self.tok_next_out.push.eq(
                (write_flags.retire & write_flags.push_next) | (vec_retire & vec_push_next)
            ),
            self.tok_prev_out.pc.eq(Mux(vec_retire, vec_pc, write_fields.pc)),
            self.tok_next_out.pc.eq(Mux(vec_retire, vec_pc, write_fields.pc)),
        ]
        m.d.sync += [
            inflight.eq(inflight + pop - retire),
            inflight_accw.eq(inflight_accw + (pop & (is_mm | is_vec)) - retire_accw),
        ]
        m.d.comb += [self.busy.eq(inflight != 0), self.acc_busy.eq(inflight_accw != 0)]
        return m
