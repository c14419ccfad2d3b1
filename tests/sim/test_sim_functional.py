"""The simulator matches the golden model bit for bit and reports the specified errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import progs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.sim import check, run_program, simulate
from systolic.sim.decode import decode_op
from systolic.sim.state import Machine, round_shift, transfer_beats
from systolic.spec import golden
from systolic.spec.asm import assemble
from systolic.spec.config import PRESETS, AcceleratorConfig
from systolic.spec.isa import FORMATS, ErrorCode, VecOp, decode, decode_error_code

CONFIGS = {
    "tiny": PRESETS["tiny"],
    # Non-square; 5-byte rows on an 8-byte bus, so rows straddle bus words.
    "3x5": AcceleratorConfig(
        rows=3,
        cols=5,
        sp_depth=512,
        acc_depth=256,
        bus_bytes=8,
        mem_latency=3,
        queue_depth=2,
        token_depth=3,
    ),
    # Tall; queue depth 1 and two tokens.
    "5x3": AcceleratorConfig(
        rows=5,
        cols=3,
        sp_depth=256,
        acc_depth=128,
        bus_bytes=16,
        mem_latency=1,
        queue_depth=1,
        token_depth=2,
    ),
    "default": PRESETS["default"],
}


def assert_case(case: progs.Case) -> None:
    out, res = run_program(case.program, case.inputs)
    assert (res.error, res.error_index) == (case.error, case.error_index), res.error_message
    for name, want in case.expected.items():
        np.testing.assert_array_equal(out[name][: len(want)], want, err_msg=name)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("builder", ["vector", "lut", "store_sp"])
def test_hand_programs(cfg: AcceleratorConfig, builder: str) -> None:
    make = {
        "vector": progs.vector_program,
        "lut": progs.lut_program,
        "store_sp": progs.store_sp_program,
    }[builder]
    assert_case(make(cfg))


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 1, 1), {}),
        ((13, 11, 9), {"act": "relu"}),
        ((37, 29, 17), {"act": "lut", "seed": 4}),
        ((20, 7, 6), {"bias": False, "requant": False}),
        ((9, 16, 10), {"act": "clamp", "misalign": 0}),
        ((33, 5, 3), {"bias": False, "buffers": 1}),
    ],
)
def test_tiled_matmul(
    cfg: AcceleratorConfig, shape: tuple[int, int, int], kw: dict[str, Any]
) -> None:
    assert_case(progs.tiled_matmul(cfg, *shape, **kw))


def test_tiled_matmul_splits_rows_into_blocks() -> None:
    # tiny: 128 accumulator rows leave room for output blocks of 27 rows: 70 rows take 3.
    case = progs.tiled_matmul(PRESETS["tiny"], 70, 9, 9, act="lut")
    stores = [w for w in case.program.instructions if w & 0xF == 2]
    assert len(stores) == 3 * 3  # 3 row blocks x 3 column tiles
    assert_case(case)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_error_programs(cfg: AcceleratorConfig) -> None:
    for case in progs.error_cases(cfg):
        assert_case(case)


# Decoding ------------------------------------------------------------------------------------


@st.composite
def words(draw: st.DrawFn) -> int:
    """Mostly well-formed words (a real opcode, small fields), sometimes anything."""
    if draw(st.booleans()):
        return draw(st.integers(0, (1 << 128) - 1))
    fmt = draw(st.sampled_from(FORMATS))
    word = int(fmt.opcode.value) | draw(st.integers(0, 15)) << 4
    offset = 8
    for f in fmt.fields:
        word |= (
            draw(st.integers(0, min(3, (1 << f.width) - 1)) | st.integers(0, (1 << f.width) - 1))
            << offset
        )
        offset += f.width
    if draw(st.integers(0, 9)) == 0:
        word |= 1 << draw(st.integers(offset, 127)) if offset < 128 else 0
    return word


@settings(max_examples=3000, deadline=None)
@given(words())
def test_fast_decoder_agrees_with_spec(word: int) -> None:
    op = decode_op(word)
    if decode_error_code(word) != ErrorCode.NONE:
        assert op is None
        return
    assert op is not None
    instr = decode(word)
    assert op.name == instr.format.name
    for name, value in instr.values.items():
        assert op.v[name] == (value.value if hasattr(value, "value") else value)
    assert (op.pop_prev, op.pop_next, op.push_prev, op.push_next) == tuple(
        flag in instr.deps for flag in ("pop_prev", "pop_next", "push_prev", "push_next")
    )


def test_check_range_rules_at_their_limits() -> None:
    cfg = CONFIGS["3x5"]  # lanes 5, C 5, R 3, sp 512, acc 256

    def code(text: str, dram: int = 100) -> ErrorCode | None:
        err = check(assemble(text)[0], cfg, dram)
        return None if err is None else err[0]

    ok, E = None, ErrorCode
    cases = [
        ("load target=sp dst=0 len=5 n_inner=1 addr=0", ok),
        ("load target=sp dst=0 len=6 n_inner=1 addr=0", E.ILLEGAL_FIELD),
        ("load target=acc dst=0 len=6 n_inner=1 addr=0", E.ILLEGAL_FIELD),
        ("load target=sp dst=508 len=1 n_inner=2 n_outer=2 addr=0", ok),
        ("load target=sp dst=509 len=1 n_inner=2 n_outer=2 addr=0", E.SP_RANGE),
        ("load target=acc dst=253 len=1 n_inner=4 addr=0", E.ACC_RANGE),
        # last byte = 10 + 2*30 + 3*5 + 4*4 - 1 = 100 >= 100
        (
            "load target=acc elem=i32 dst=0 len=4 n_inner=4 n_outer=3 addr=10 stride_inner=5"
            " stride_outer=30",
            E.DRAM_RANGE,
        ),
        (
            "load target=acc elem=i32 dst=0 len=4 n_inner=4 n_outer=3 addr=9 stride_inner=5"
            " stride_outer=30",
            ok,
        ),
        ("store target=dram src=0 len=6 n_inner=1 addr=0", E.ILLEGAL_FIELD),
        ("store target=dram src=255 len=1 n_inner=2 addr=0", E.ACC_RANGE),
        (
            "store target=sp src=0 len=5 n_inner=2 n_outer=2 addr=500 stride_inner=1"
            " stride_outer=10",
            ok,
        ),
        (
            "store target=sp src=0 len=5 n_inner=2 n_outer=2 addr=501 stride_inner=1"
            " stride_outer=10",
            E.SP_RANGE,
        ),
        ("store target=dram elem=i32 src=0 len=5 n_inner=1 addr=80", ok),
        ("store target=dram elem=i32 src=0 len=5 n_inner=1 addr=81", E.DRAM_RANGE),
        ("cfg_quant mult_row=255 shift_row=0", ok),
        ("cfg_quant mult_row=0 shift_row=256", E.ACC_RANGE),
        ("cfg_lut slot=0 src=204", ok),  # ceil(256/5) = 52 rows: 204 + 52 = 256
        ("cfg_lut slot=0 src=205", E.ACC_RANGE),
        ("preload src=509 rows=3 cols=5", ok),
        ("preload src=510 rows=3 cols=5", E.SP_RANGE),
        ("preload src=0 rows=3 cols=6", E.ILLEGAL_FIELD),
        ("preload src=600 rows=4 cols=1", E.ILLEGAL_FIELD),  # first failing rule wins
        ("matmul src=500 dst=244 n=12 mode=bias bias=255", ok),
        ("matmul src=501 dst=300 n=12", E.SP_RANGE),
        ("matmul src=0 dst=245 n=12", E.ACC_RANGE),
        ("matmul src=0 dst=0 n=1 mode=bias bias=256", E.ACC_RANGE),
        ("matmul src=0 dst=0 n=1 mode=accumulate bias=256", ok),
        ("vector op=add dst=250 a=0 b=0 n=6", ok),
        ("vector op=add dst=0 a=0 b=250 n=3 b_stride=3", E.ACC_RANGE),
        ("vector op=add dst=0 a=0 b=250 n=3 b_stride=3 b_imm=1", ok),
        ("vector op=add dst=0 a=255 b=0 n=2 a_stride=0", ok),
        ("halt", ok),
    ]
    for text, want in cases:
        assert code(text) == want, text
    assert check(0xF, cfg, 100) == (ErrorCode.ILLEGAL_OPCODE, "illegal opcode 15")


# Functional details ------------------------------------------------------------------------


def test_round_shift_matches_golden() -> None:
    rng = np.random.default_rng(5)
    v = rng.integers(-(1 << 62), 1 << 62, size=4000, dtype=np.int64)
    v[:4] = [-(1 << 62), (1 << 62), -1, 1]
    s = rng.integers(0, 64, size=4000, dtype=np.int64)
    np.testing.assert_array_equal(round_shift(v, s), golden.round_shift(v, s))
    for shift in (0, 1, 31, 63):
        np.testing.assert_array_equal(round_shift(v, shift), golden.round_shift(v, shift))


def test_post_process_matches_golden_requantize() -> None:
    cfg = PRESETS["default"]
    m = Machine(cfg, bytearray(16))
    rng = np.random.default_rng(6)
    acc = rng.integers(-(1 << 31), 1 << 31, size=(50, 8), dtype=np.int64).astype(np.int32)
    m.mult = rng.integers(-(1 << 31), 1 << 31, size=8, dtype=np.int64)
    m.shift = rng.integers(0, 64, size=8, dtype=np.int64)
    np.testing.assert_array_equal(m.post_process(acc), golden.requantize(acc, m.mult, m.shift))


def test_clamp_with_lo_above_hi_gives_hi() -> None:
    # Reading: clamp = min(max(q, lo), hi), so lo > hi yields hi everywhere.
    m = Machine(PRESETS["tiny"], bytearray(16))
    m.mult[:] = 1
    m.cfg_act({"mode": 1, "slot": 0, "lo": 10, "hi": -10})
    out = m.post_process(np.array([[-100, 0, 5, 100]], dtype=np.int32))
    np.testing.assert_array_equal(out, [[-10, -10, -10, -10]])


def test_overlapping_stores_and_broadcast_loads() -> None:
    cfg = PRESETS["tiny"]
    text = """
        load target=acc elem=i32 dst=0 len=4 n_inner=3 addr=0 stride_inner=16 push_next
        load target=sp dst=0 len=3 n_inner=2 n_outer=2 addr=1 stride_inner=0 stride_outer=2
        sync unit=execute pop_prev push_next
        store target=dram elem=i32 src=0 len=4 n_inner=3 addr=100 stride_inner=4 pop_prev
        store target=sp src=0 len=2 n_inner=3 addr=5 stride_inner=0
        halt
    """
    mem = bytearray(200)
    rows = np.arange(1, 13, dtype="<i4").reshape(3, 4) * 1000
    mem[0:48] = rows.tobytes()
    r = simulate(cfg, assemble(text), mem)
    assert r.ok
    # Rows of 16 bytes written 4 bytes apart: each later row overwrites the earlier ones.
    out = np.frombuffer(r.memory, dtype="<i4", count=6, offset=100)
    np.testing.assert_array_equal(out, [1000, 5000, 9000, 10000, 11000, 12000])
    # The same transfers on the machine state directly.
    m = Machine(cfg, bytearray(r.memory))
    m.load(
        dict(
            target=0,
            elem=0,
            dst=0,
            len=3,
            n_inner=2,
            n_outer=2,
            addr=100,
            stride_inner=0,
            stride_outer=4,
        )
    )
    np.testing.assert_array_equal(m.sp[0:4, :3], [[-24, 3, 0]] * 2 + [[-120, 19, 0]] * 2)
    np.testing.assert_array_equal(m.sp[0:4, 3], 0)
    m.acc[0:3, 0] = [1, 2, 3]
    m.mult[:] = 1
    m.store(
        dict(
            target=1,
            elem=0,
            src=0,
            len=1,
            n_inner=3,
            n_outer=1,
            addr=5,
            stride_inner=0,
            stride_outer=0,
        )
    )
    np.testing.assert_array_equal(m.sp[5], [3, 0, 0, 0])  # the last row wins


def test_vector_reads_its_own_writes_row_by_row() -> None:
    m = Machine(PRESETS["tiny"], bytearray(16))
    m.acc[0] = [1, 2, 3, 4]
    # Row i reads row i (written by row i-1): a prefix doubling.
    v = dict(
        op=0, dst=1, a=0, b=0, n=3, dst_stride=1, a_stride=1, b_stride=1, b_imm=0, imm=0, shift=0
    )
    m.vector(v)
    np.testing.assert_array_equal(
        m.acc[:4], [[1, 2, 3, 4], [2, 4, 6, 8], [4, 8, 12, 16], [8, 16, 24, 32]]
    )


def test_bias_row_written_by_the_same_matmul() -> None:
    # Row m reads the bias row at W_m - 1, which sees the write of row m-1 in that cycle (the
    # RTL's read register reads at W_m - 2 and forwards that write: the same values).
    m = Machine(PRESETS["tiny"], bytearray(16))
    m.sp[0:3, 0] = [1, 2, 3]
    m.shadow[0, 0] = 1
    m.shadow_dims = (1, 1)
    m.acc[1] = 100
    m.matmul(dict(src=0, dst=0, n=3, mode=2, bias=1, swap=1))
    # Row 0: 1 + 100; row 1 (the bias row): 2 + 100 = 102; row 2: 3 + 102.
    np.testing.assert_array_equal(m.acc[0:3, 0], [101, 102, 105])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([0, 1, 2, 3, 4]),
    st.integers(0, 12),
    st.integers(0, 12),
    st.integers(0, 12),
    st.integers(1, 6),
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
    st.booleans(),
    st.integers(-(1 << 15), (1 << 15) - 1),
    st.integers(0, 40),
)
def test_vector_matches_reference(
    op: int,
    dst: int,
    a: int,
    b: int,
    n: int,
    strides: tuple[int, int, int],
    b_imm: bool,
    imm: int,
    shift: int,
) -> None:
    cfg = PRESETS["tiny"]
    m = Machine(cfg, bytearray(16))
    rng = np.random.default_rng(op * 1000 + dst * 100 + a * 10 + b)
    m.acc[:32] = rng.integers(-(1 << 31), 1 << 31, size=(32, 4), dtype=np.int64)
    ref = [[int(x) for x in row] for row in m.acc[:32]]
    f = dict(
        op=op,
        dst=dst,
        a=a,
        b=b,
        n=n,
        dst_stride=strides[0],
        a_stride=strides[1],
        b_stride=strides[2],
        b_imm=int(b_imm),
        imm=imm,
        shift=shift % 64,
    )
    m.vector(f)
    progs.vector_reference(ref, **{**f, "op": VecOp(op)})
    np.testing.assert_array_equal(m.acc[:32], np.array(ref, dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 200),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 70),
    st.integers(0, 70),
    st.integers(1, 70),
    st.sampled_from([1, 2, 4, 8, 16, 64]),
)
def test_transfer_beats_matches_the_formula(
    addr: int, ni: int, no: int, si: int, so: int, nbytes: int, bus: int
) -> None:
    want = sum(
        -(-((addr + o * so + i * si) % bus + nbytes) // bus) for o in range(no) for i in range(ni)
    )
    assert transfer_beats(addr, ni, no, si, so, nbytes, bus) == want
