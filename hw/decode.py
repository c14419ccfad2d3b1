"""Instruction decode: legality (generated from the ISA table) and range checks."""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import AcceleratorConfig
from ..spec.isa import (
    ALLOWED_DEPS,
    DEP_FLAGS,
    FORMATS,
    FORMATS_BY_NAME,
    INSTR_BITS,
    INSTR_LAYOUT,
    ActMode,
    Elem,
    ErrorCode,
    Opcode,
    Unit,
)

__all__ = ["Decoder"]

# The transfer fields `load` and `store` share, at the same bits of both formats.
_TRANSFER = ("elem", "len", "n_inner", "n_outer", "addr", "stride_inner", "stride_outer")
_DSP_WIDTH = 16  # the narrowest DSP multiplier port of the targets (iCE40 SB_MAC16)


_LOAD, _STORE = FORMATS_BY_NAME["load"], FORMATS_BY_NAME["store"]
assert all(
    (_LOAD.offset(n), _LOAD.field(n).width) == (_STORE.offset(n), _STORE.field(n).width)
    for n in _TRANSFER
), "load/store transfer fields differ"


def _span(n: Value, b: Value) -> Value:
    """``(n - 1) · b`` for a count ``n`` (at most 16 bits) and a stride ``b``, as ``n · b - b``.

    The multiply takes ``n`` straight from the instruction port: a subtraction in front of it
    would add a carry chain to the path from the instruction memory (a slow block RAM output)
    through the DSP block. A stride wider than the DSP port multiplies its low 16 bits in the
    DSP block and shifts and adds the few high bits, which would otherwise take a second DSP;
    those, and ``- b``, are summed beside the multiply, so one adder follows it.
    """
    if len(b) <= _DSP_WIDTH:
        return n * b - b
    low = n * b[:_DSP_WIDTH]
    high = [Mux(b[_DSP_WIDTH + i], n << i, 0) for i in range(len(b) - _DSP_WIDTH)]
    return low + ((sum(high[1:], high[0]) << _DSP_WIDTH) - b)


class Decoder(wiring.Component):
    """The checks of one instruction word, in the order docs/timing.md gives, in two stages.

    On a cycle with ``advance`` the decoder registers ``word`` (as ``stage_word``) with the
    products its range checks need; the sums, comparisons and the verdict follow from those
    registers in the next cycle. ``error`` is NONE for a legal, in-range instruction; ``unit``
    says which queue it goes to and ``halt`` marks the halt instruction.
    """

    LATENCY = 1
    """Cycles from ``word`` to ``error``: the register between the products and the sums."""

    word: In(INSTR_BITS)
    advance: In(1)
    dram_size: In(32)
    stage_word: Out(INSTR_BITS)
    error: Out(ErrorCode)
    unit: Out(Unit)
    halt: Out(1)

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__()

    def _legal(self, m: Module, fmt, view) -> Signal:
        """All config-independent rules of one format, generated from its field table."""
        ok = Signal(name=f"{fmt.name}_legal")
        terms = []
        raw = view.as_value()
        if fmt.used_bits < INSTR_BITS:
            terms.append(raw[fmt.used_bits :] == 0)
        for f in fmt.fields:
            value = getattr(view, f.name).as_value() if f.enum else getattr(view, f.name)
            if f.enum is not None and len(f.enum) < 2**f.width:
                terms.append(value.matches(*(m.value for m in f.enum)))
            if f.minimum is not None:
                terms.append(value >= f.minimum)
        deps = view.deps
        if fmt.opcode == Opcode.SYNC:
            unit = view.unit.as_value()
            for flag in DEP_FLAGS:
                allowed = [u.value for u in Unit if flag in ALLOWED_DEPS[u]]
                terms.append(~getattr(deps, flag) | unit.matches(*allowed))
        else:
            for flag in DEP_FLAGS:
                if flag not in ALLOWED_DEPS[fmt.unit]:
                    terms.append(~getattr(deps, flag))
        if fmt.opcode in (Opcode.LOAD, Opcode.STORE):
            # elem=i32 only into the accumulator (load) / external memory (store).
            sp_target = 0 if fmt.opcode == Opcode.LOAD else 1
            terms.append(
                ~((view.elem.as_value() == Elem.I32.value) & (view.target.as_value() == sp_target))
            )
        m.d.comb += ok.eq(Cat(*terms).all() if terms else 1)
        return ok

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config

        def staged(value: Value, name: str) -> Signal:
            """``value`` of the word being fetched, registered for the second stage."""
            reg = Signal.like(value, name=name)
            with m.If(self.advance):
                m.d.sync += reg.eq(value)
            return reg

        # Stage 1: the multiplies, from the word on the instruction port.
        new = data.View(INSTR_LAYOUT, self.word)
        xf_rows = staged(new.load.n_outer * new.load.n_inner, "xf_rows")
        span_outer = staged(_span(new.load.n_outer, new.load.stride_outer), "span_outer")
        span_inner = staged(_span(new.load.n_inner, new.load.stride_inner), "span_inner")
        vec_span = {
            name: staged(_span(new.vector.n, getattr(new.vector, f"{name}_stride")), f"{name}_span")
            for name in ("dst", "a", "b")
        }
        # The room a transfer's span may take, also from the port's word: `addr + span + bytes
        # > dram_size` is `span > dram_size - addr - bytes`, so stage 2 adds the two spans and
        # compares, instead of three carry chains in a row after the products' register.
        new_i32 = new.load.elem.as_value() == Elem.I32.value
        new_bytes = Mux(new_i32, new.load.len << 2, new.load.len)
        dram_room = staged(self.dram_size - (new.load.addr + new_bytes), "dram_room")
        # A store into the scratchpad likewise: `addr + span >= sp_depth` is `addr >= sp_depth`,
        # or `span > sp_depth - 1 - addr`, a room narrower than sp_depth's bits.
        sp_bits = cfg.sp_depth.bit_length()
        sp_addr = new.store.addr
        sp_over = staged(sp_addr >= cfg.sp_depth, "sp_over")
        sp_room = staged((cfg.sp_depth - 1 - sp_addr[:sp_bits])[:sp_bits], "sp_room")

        # Stage 2: everything else, from the registered word.
        word = staged(self.word, "word")
        m.d.comb += self.stage_word.eq(word)
        v = data.View(INSTR_LAYOUT, word)
        opcode = word[:4]

        legal = Signal()
        with m.Switch(opcode):
            for fmt in FORMATS:
                with m.Case(fmt.opcode.value):
                    m.d.comb += legal.eq(self._legal(m, fmt, getattr(v, fmt.name)))
        # Instructions the accelerator is built without decode as ILLEGAL_OPCODE.
        built = [f for f in FORMATS if f.name not in cfg.missing_opcodes]
        valid_opcode = opcode.matches(*(f.opcode.value for f in built))

        def rows_end(start, count) -> object:
            return start + count  # one past the last row; fits 17 bits

        # `load` and `store` put their transfer fields at the same bits (asserted above), so one
        # set of multipliers serves both: fewer DSPs, and the same logic depth.
        ld, st = v.load, v.store
        xf_span = span_outer + span_inner
        ld_rows, st_rows = xf_rows, xf_rows
        ld_acc = ld.target.as_value() == 1
        st_sp = st.target.as_value() == 1
        past_dram = xf_span > dram_room  # the last byte at or past dram_size
        past_sp = sp_over | xf_span[sp_bits:].any() | (xf_span[:sp_bits] > sp_room)
        mm, vec, pre = v.matmul, v.vector, v.preload

        def last_row(name: str) -> object:
            return getattr(vec, name) + vec_span[name]

        range_err = Signal(ErrorCode)
        with m.Switch(opcode):
            with m.Case(Opcode.LOAD.value):
                with m.If(ld.len > Mux(ld_acc, cfg.cols, cfg.lanes)):
                    m.d.comb += range_err.eq(ErrorCode.ILLEGAL_FIELD)
                with m.Elif(~ld_acc & (rows_end(ld.dst, ld_rows) > cfg.sp_depth)):
                    m.d.comb += range_err.eq(ErrorCode.SP_RANGE)
                with m.Elif(ld_acc & (rows_end(ld.dst, ld_rows) > cfg.acc_depth)):
                    m.d.comb += range_err.eq(ErrorCode.ACC_RANGE)
                with m.Elif(past_dram):
                    m.d.comb += range_err.eq(ErrorCode.DRAM_RANGE)
            with m.Case(Opcode.STORE.value):
                with m.If(st.len > cfg.cols):
                    m.d.comb += range_err.eq(ErrorCode.ILLEGAL_FIELD)
                with m.Elif(rows_end(st.src, st_rows) > cfg.acc_depth):
                    m.d.comb += range_err.eq(ErrorCode.ACC_RANGE)
                with m.Elif(st_sp & past_sp):
                    m.d.comb += range_err.eq(ErrorCode.SP_RANGE)
                with m.Elif(~st_sp & past_dram):
                    m.d.comb += range_err.eq(ErrorCode.DRAM_RANGE)
            with m.Case(Opcode.CFG_QUANT.value):
                with m.If(
                    (v.cfg_quant.mult_row >= cfg.acc_depth)
                    | (v.cfg_quant.shift_row >= cfg.acc_depth)
                ):
                    m.d.comb += range_err.eq(ErrorCode.ACC_RANGE)
            with m.Case(Opcode.CFG_ACT.value):
                if not cfg.act_lut:
                    with m.If(v.cfg_act.mode.as_value() == ActMode.LUT.value):
                        m.d.comb += range_err.eq(ErrorCode.ILLEGAL_FIELD)
            with m.Case(Opcode.CFG_LUT.value):
                with m.If(rows_end(v.cfg_lut.src, cfg.lut_rows) > cfg.acc_depth):
                    m.d.comb += range_err.eq(ErrorCode.ACC_RANGE)
            with m.Case(Opcode.PRELOAD.value):
                with m.If((pre.rows > cfg.rows) | (pre.cols > cfg.cols)):
                    m.d.comb += range_err.eq(ErrorCode.ILLEGAL_FIELD)
                with m.Elif(rows_end(pre.src, pre.rows) > cfg.sp_depth):
                    m.d.comb += range_err.eq(ErrorCode.SP_RANGE)
            with m.Case(Opcode.MATMUL.value):
                with m.If(rows_end(mm.src, mm.n) > cfg.sp_depth):
                    m.d.comb += range_err.eq(ErrorCode.SP_RANGE)
                with m.Elif(
                    (rows_end(mm.dst, mm.n) > cfg.acc_depth)
                    | ((mm.mode.as_value() == 2) & (mm.bias >= cfg.acc_depth))
                ):
                    m.d.comb += range_err.eq(ErrorCode.ACC_RANGE)
            if cfg.vector_unit:  # otherwise `vector` is an illegal opcode
                with m.Case(Opcode.VECTOR.value):
                    over = (
                        (last_row("dst") >= cfg.acc_depth)
                        | (last_row("a") >= cfg.acc_depth)
                        | (~vec.b_imm & (last_row("b") >= cfg.acc_depth))
                    )
                    with m.If(over):
                        m.d.comb += range_err.eq(ErrorCode.ACC_RANGE)

        with m.If(~valid_opcode):
            m.d.comb += self.error.eq(ErrorCode.ILLEGAL_OPCODE)
        with m.Elif(~legal):
            m.d.comb += self.error.eq(ErrorCode.ILLEGAL_FIELD)
        with m.Else():
            m.d.comb += self.error.eq(range_err)

        unit = Signal(Unit)
        with m.Switch(opcode):
            for fmt in FORMATS:
                with m.Case(fmt.opcode.value):
                    if fmt.unit is not None:
                        m.d.comb += unit.eq(fmt.unit)
                    elif fmt.opcode == Opcode.SYNC:
                        m.d.comb += unit.eq(v.sync.unit)
        m.d.comb += [self.unit.eq(unit), self.halt.eq(opcode == Opcode.HALT.value)]

        return m
