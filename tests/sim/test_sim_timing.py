"""Cycle counts derived by hand from docs/timing.md: the executable reading of the contract.

Every expected number has its derivation next to it. Unless stated otherwise the programs run
on ``T``: R = 2, C = 4 (so R + C = 6), B = 4, L = 3, Q = 2, TD = 3. Notation as in timing.md:
A (enters decode), D (dispatch), P (pop), E (completion), F (unit free), N (beats).

Cycles are written from ``A_0``: the derivations take ``A_0 = 0``, and the helpers subtract
the real ``A_0 = decode_stages`` (the fetch pipeline only delays everything by that much;
``test_halt_only`` checks the absolute numbers).
"""

from __future__ import annotations

import pytest

from systolic.sim import SimResult, simulate
from systolic.spec.asm import assemble
from systolic.spec.config import AcceleratorConfig
from systolic.spec.isa import ErrorCode

T = AcceleratorConfig(
    rows=2,
    cols=4,
    sp_depth=64,
    acc_depth=64,
    bus_bytes=4,
    mem_latency=3,
    queue_depth=2,
    token_depth=3,
)


A0 = T.decode_stages


def run(text: str, config: AcceleratorConfig = T, memory: int = 256) -> SimResult:
    return simulate(config, assemble(text), bytes(memory), trace=True)


def times(r: SimResult) -> list[tuple[int, int, int | None, int | None]]:
    """(A, D, P, E) of every dispatched instruction, from A_0."""
    assert r.timeline is not None

    def rel(t: int | None) -> int | None:
        return None if t is None else t - A0

    return [(e.A - A0, e.D - A0, rel(e.P), rel(e.E)) for e in r.timeline]


def cycles(r: SimResult) -> int:
    """The cycle count from A_0."""
    return r.cycles - A0


def counters(r: SimResult, **expected: int) -> None:
    """Check the named counters; every counter not named must be 0 (except cycles)."""
    got = dict(r.counters) | {"cycles": r.counters["cycles"] - A0}
    want = {k: 0 for k in got if k != "cycles"} | expected
    assert {k: got[k] for k in want} == want


def test_halt_only() -> None:
    r = run("halt")
    # A0 = 3 (the word arrives at cycle 0, is registered, two decode stages), D_h = A_h = 3.
    # Done at the first t > D_h with empty queues and nothing in flight: t = 4, cycles = 5.
    assert A0 == 3
    assert r.ok and r.cycles == 5 and r.counters["cycles"] == 5
    assert r.timeline is not None and [(e.A, e.D) for e in r.timeline] == [(3, 3)]
    assert times(r) == [(0, 0, None, None)]
    # Without the word register the decoder takes the port's word: A0 = 2, one cycle less.
    r = run("halt", T.replace(fetch_register=False))
    assert r.ok and r.cycles == 4
    assert r.timeline is not None and [(e.A, e.D) for e in r.timeline] == [(2, 2)]


def test_load_beats_unaligned_and_pipelined() -> None:
    r = run(
        """
        load target=sp dst=0 len=3 n_inner=3 addr=2 stride_inner=5
        load target=acc elem=i32 dst=0 len=3 n_inner=2 addr=1 stride_inner=13
        halt
        """
    )
    # 0: rows at a = 2, 7, 12; a mod 4 = 2, 3, 0; nb = ceil((2+3)/4) = 2, ceil(6/4) = 2,
    #    ceil(3/4) = 1, N = 5. A=D=0, P = D+1 = 1, E = P+N+L+1 = 1+5+3+1 = 10, F = P+N = 6.
    # 1: 12 bytes per row at a = 1, 14 (mod 4: 1, 2): nb = ceil(13/4) = 4, ceil(14/4) = 4,
    #    N = 8. A = D = 1 (queue k=1 < Q), P = max(D+1, F) = 6, E = 6+8+3+1 = 18.
    # 2: halt, A = D = 2. Done at t = max E + 1 = 19: cycles 20.
    assert times(r) == [(0, 0, 1, 10), (1, 1, 6, 18), (2, 2, None, None)]
    assert cycles(r) == 20
    # load_busy = |[1,10] ∪ [6,18]| = 18; load_stall: load 1 queued from D+1 = 2, pops at 6:
    # cycles 2..5 = 4 (the unit is busy issuing beats); rd_beats = 5 + 8.
    counters(r, cycles=20, load_busy=18, load_stall=4, rd_beats=13)
    assert r.stats.units["load"].stall_unit_busy == 4


def test_queue_back_pressure_depth_1() -> None:
    text = "sync unit=execute\n" * 3 + "halt"
    r = run(text, T.replace(queue_depth=1))
    # Execute sync: K = 1 (F = P+1), E = P+1+R+C = P+7. Q = 1: the k-th execute instruction
    # needs D >= P_{k-1} + 1.
    # 0: A=D=0, P=1, E=8.  1: A=1, D >= P0+1 = 2, P=3, E=10.
    # 2: A=3, D >= P1+1 = 4, P=5, E=12.  halt: A=D=5. Done at t=13: cycles 14.
    assert times(r) == [(0, 0, 1, 8), (1, 2, 3, 10), (3, 4, 5, 12), (5, 5, None, None)]
    assert cycles(r) == 14
    # exec_busy = |[1,12]| = 12; every instruction pops at D+1: no stall.
    counters(r, cycles=14, exec_busy=12)
    # Q = 2: 0: P=1, E=8. 1: D=1, P = max(2, F=2) = 2, E=9. 2: A=2, D >= P0+1 = 2, P=3,
    # E=10. halt: A=D=3. Done t=11: cycles 12.
    r2 = run(text)
    assert times(r2) == [(0, 0, 1, 8), (1, 1, 2, 9), (2, 2, 3, 10), (3, 3, None, None)]
    assert cycles(r2) == 12


def test_tokens_and_store_one_at_a_time() -> None:
    r = run(
        """
        load target=sp dst=0 len=4 n_inner=1 addr=0 push_next
        sync unit=execute pop_prev push_next
        cfg_act mode=none
        store target=dram src=0 len=4 n_inner=2 addr=3 stride_inner=4 pop_prev
        sync unit=store
        halt
        """
    )
    # 0: aligned 4 bytes, N=1: P=1, E=1+1+3+1 = 6 (push load→exec at 6, visible at 7).
    # 1: D=1; token visible at 7: P=7, E = 7+1+6 = 14 (push exec→store at 14).
    # 2: cfg_act: D=2, P=3, E=P+1=4; store unit free again at F = E+1 = 5.
    # 3: store: D=3; token visible at 15: P=15. Rows at d = 3, 7 (mod 4 = 3): nb = ceil(7/4)
    #    = 2 each, N = 4; T0 = 16, T1 = 18; a row leaves 4 + 1 = 5 cycles after its read:
    #    beats 21,22 and 23,24; E = last beat + L = 27.
    # 4: store sync: A=4, store k=2 >= Q: D >= P(2)+1 = 4, so D=4; P = F = E3+1 = 28, E=29.
    # 5: halt A=D=5. Done at t=30: cycles 31.
    assert times(r) == [
        (0, 0, 1, 6),
        (1, 1, 7, 14),
        (2, 2, 3, 4),
        (3, 3, 15, 27),
        (4, 4, 28, 29),
        (5, 5, None, None),
    ]
    assert cycles(r) == 31
    # store_busy = |[3,4]| + |[15,27]| + |[28,29]| = 2 + 13 + 2 = 17.
    # exec_stall: sync queued 2..6 = 5 (tokens). store_stall: the store waits 4..14 = 11 (4:
    # the store unit is free only at 5; 5..14 tokens), the sync waits 16..27 = 12 (previous
    # store running).
    counters(
        r,
        cycles=31,
        load_busy=6,
        exec_busy=8,
        store_busy=17,
        exec_stall=5,
        store_stall=23,
        rd_beats=1,
        wr_beats=4,
    )
    store = r.stats.units["store"]
    assert (store.stall_tokens, store.stall_unit_busy) == (10, 13)
    assert r.stats.units["execute"].stall_tokens == 5


def test_requantisation_passes_space_rows_and_leave_gaps_between_beats() -> None:
    # One requantisation lane for C = 4 columns: a row takes 4 passes.
    r = run(
        """
        store target=dram src=0 len=4 n_inner=2 addr=3 stride_inner=4
        store target=dram src=0 len=4 n_inner=2 addr=0 stride_inner=16 elem=i32
        store target=sp src=0 len=4 n_inner=3 addr=0 stride_inner=1
        halt
        """,
        T.replace(requant_passes=4),
    )
    # 0: P=1. Rows at d = 3, 7: nb = 2 each (as in the test above). T0 = 2, T1 = T0 +
    #    max(2, 4) = 6; a row leaves 4 + 4 = 8 cycles after its read: beats 10,11 and 14,15
    #    (a gap of two cycles); E = 15 + L = 18.
    # 1: P = E0 + 1 = 19. int32 rows of 16 bytes, aligned: nb = 4 = passes, so no gaps:
    #    T0 = 20, T1 = 24; beats 28..31 and 32..35; E = 35 + 3 = 38.
    # 2: P = 39. Scratchpad rows are read every 4 cycles: T = 40, 44, 48; the last is
    #    written at 48 + 8 = 56 = E.  halt: A = 3. Done at 57: cycles 58.
    assert times(r) == [(0, 0, 1, 18), (1, 1, 19, 38), (2, 2, 39, 56), (3, 3, None, None)]
    assert cycles(r) == 58
    # store_busy = |[1,18]| + |[19,38]| + |[39,56]| = 56. store_stall: a head waits for the
    # unit in 2..18 (the second store) and 20..38 (the third; at 19 the unit pops) = 17 + 19.
    counters(r, cycles=58, store_busy=56, store_stall=36, wr_beats=12)
    # Stopped in the gap of the first store: two of its four beats are out.
    stopped = run(
        """
        store target=dram src=0 len=4 n_inner=2 addr=3 stride_inner=4
        load target=sp dst=0 len=4 n_inner=3 addr=0 push_next
        load target=sp dst=0 len=4 n_inner=3 addr=0 push_next
        halt
        """,
        T.replace(requant_passes=4, token_depth=1),
    )
    # store: P=1, beats 10,11 and 14,15 as above. load 1: P=2, N=3, F=5, E = 2+3+3+1 = 9.
    # load 2: P=5, E=12: its push finds the counter full (token_depth 1), so the machine
    # stops at 12, between the store's second and third beats. load_busy = |[2,12]| = 11,
    # load_stall: load 2 waits for the unit in 3, 4; store_busy = |[1,12]|.
    assert (stopped.error, stopped.error_index) == (ErrorCode.TOKEN_OVERFLOW, 2)
    counters(stopped, cycles=13, load_busy=11, load_stall=2, store_busy=12, rd_beats=6, wr_beats=2)


def test_cfg_quant_and_cfg_lut_latency() -> None:
    r = run("cfg_quant mult_row=0 shift_row=1\ncfg_lut slot=0 src=0\nsync unit=store\nhalt")
    # 0: P=1, E=P+3=4, F=5.  1: D=1, P=5, E=P+257=262, F=263.
    # 2: A=2, store k=2: D >= P0+1 = 2, D=2; P=263, E=264.  halt A=3. Done t=265, cycles 266.
    assert times(r) == [(0, 0, 1, 4), (1, 1, 5, 262), (2, 2, 263, 264), (3, 3, None, None)]
    # store_busy = |[1,264]| = 264; stall: cfg_lut waits 2..4 = 3, sync waits 6..262 = 257.
    counters(r, cycles=266, store_busy=264, store_stall=260)


def test_load_sync_waits_for_earlier_loads() -> None:
    r = run(
        """
        load target=sp dst=0 len=4 n_inner=1 addr=0
        sync unit=load push_next
        sync unit=execute pop_prev
        halt
        """
    )
    # 0: N=1, P=1, E=6, F=2.  1: D=1, P=2, E = max(P+1, E0+1) = 7, F=E=7 (push at 7).
    # 2: D=2, token visible at 8: P=8, E=8+7=15.  halt A=3. Done t=16: cycles 17.
    assert times(r) == [(0, 0, 1, 6), (1, 1, 2, 7), (2, 2, 8, 15), (3, 3, None, None)]
    # load_busy = |[1,6] ∪ [2,7]| = 7; exec_stall = cycles 3..7 = 5.
    counters(r, cycles=17, load_busy=7, exec_busy=8, exec_stall=5, rd_beats=1)


def test_preload_matmul_overlap_and_swap_rule() -> None:
    r = run(
        """
        preload src=0 rows=2 cols=4
        matmul src=0 dst=0 n=3 swap=1
        preload src=0 rows=1 cols=2
        matmul src=0 dst=4 n=2
        matmul src=0 dst=8 n=1 swap=1
        preload src=0 rows=2 cols=4
        halt
        """
    )
    # 0 preload: P=1, K=R=2, F=3, E = P+K+R+C = 1+2+6 = 9.
    # 1 matmul n=3: D=1, P = max(2, F=3) = 3, T = P+1 = 4, F=6, E = 3+3+6 = 12.
    # 2 preload: A=2, exec k=2: D >= P0+1 = 2 -> 2. P >= max(3, F=6) and P >= T+R+C-3 = 7:
    #   P=7, F=9, E=7+2+6 = 15.
    # 3 matmul n=2: A=3, D >= P1+1 = 4 -> 4. P = max(5, F=9) = 9, F=11, E = 9+2+6 = 17.
    # 4 matmul n=1 swap: A=5, D >= P2+1 = 8 -> 8. P = max(9, F=11) = 11, T=12, E=11+1+6 = 18.
    # 5 preload: A=9, D >= P3+1 = 10 -> 10. P >= max(11, F=12, T+3 = 15) = 15, E=15+2+6 = 23.
    # halt: A=D=11. Done at t=24: cycles 25.
    assert times(r) == [
        (0, 0, 1, 9),
        (1, 1, 3, 12),
        (2, 2, 7, 15),
        (3, 4, 9, 17),
        (5, 8, 11, 18),
        (9, 10, 15, 23),
        (11, 11, None, None),
    ]
    # exec_busy = |[1,23]| = 23. exec_stall: matmul1 waits cycle 2 (1), preload2 waits 4..6
    # (3: 4,5 busy, 6 swap rule), matmul3 waits 8 (1), matmul4 waits 10 (1), preload5 waits
    # 12..14 (3, swap rule): 9. macs: matmul1 3 rows x (2x4) = 24; matmul3 still uses that
    # tile, 2 x 8 = 16; matmul4 swaps in the 1x2 tile: 1 x 2 = 2; total 42. array_busy = 6.
    counters(r, cycles=25, exec_busy=23, exec_stall=9, macs=42, array_busy=6)
    ex = r.stats.units["execute"]
    assert (ex.stall_unit_busy, ex.stall_hazard) == (5, 4)


def test_vector_waits_for_matmul_drain() -> None:
    r = run(
        """
        matmul src=0 dst=0 n=2
        vector op=add dst=4 a=0 b=1 n=3
        sync unit=execute
        vector op=max dst=8 a=0 b_imm=1 imm=0 n=1
        halt
        """
    )
    # 0 matmul: P=1, F=3, E = 1+2+6 = 9.
    # 1 vector n=3: D=1, P >= max(2, F=3, E_prev=9) = 9; K=2n+2=8, F=17, E = P+2n+4 = 19.
    # 2 sync: A=2, D >= P0+1 = 2 -> 2. P = F = 17, E = 17+1+6 = 24.
    # 3 vector n=1: A=3, D >= P1+1 = 10 -> 10. P >= max(11, F=18, E_prev=24) = 24, E = 30.
    # halt: A=D=11. Done at t=31: cycles 32.
    assert times(r) == [
        (0, 0, 1, 9),
        (1, 1, 9, 19),
        (2, 2, 17, 24),
        (3, 10, 24, 30),
        (11, 11, None, None),
    ]
    # exec_stall: vector1 waits 2..8 (7: cycle 2 busy, 3..8 drain), sync waits 10..16 (7,
    # busy), vector3 waits 18..23 (6, drain) = 20. No swap: the active tile is 0x0, macs = 0.
    counters(r, cycles=32, exec_busy=30, exec_stall=20, array_busy=2)
    ex = r.stats.units["execute"]
    assert (ex.stall_unit_busy, ex.stall_hazard) == (8, 12)


def test_load_acc_loses_tie_to_execute() -> None:
    r = run(
        """
        load target=sp dst=0 len=4 n_inner=3 addr=0 stride_inner=4
        preload src=0 rows=2 cols=4
        matmul src=0 dst=0 n=2 swap=1
        load target=acc dst=8 len=4 n_inner=1 addr=0
        halt
        """
    )
    # 0 load: aligned, N=3: P=1, F=4, E=1+3+3+1 = 8.
    # 1 preload: D=1, P=2, F=4, E=2+2+6 = 10.
    # 2 matmul: D=2, P = F = 4, E = 4+2+6 = 12.
    # 3 load acc: D=3, first candidate max(D+1, F=4) = 4: a tie with the matmul pop at 4.
    #   Execute wins: the load may not pop in a cycle in which execute pops a matmul, nor
    #   while it is in flight ([4, 12]): P = 13, E = 13+1+3+1 = 18.
    # halt: A=D=4. Done at t=19: cycles 20.
    assert times(r) == [
        (0, 0, 1, 8),
        (1, 1, 2, 10),
        (2, 2, 4, 12),
        (3, 3, 13, 18),
        (4, 4, None, None),
    ]
    # load_busy = |[1,8]| + |[13,18]| = 14; load_stall = 4..12 = 9 (interlock).
    # exec_busy = |[2,12]| = 11; exec_stall: the matmul waits cycle 3 (1).
    counters(
        r,
        cycles=20,
        load_busy=14,
        load_stall=9,
        exec_busy=11,
        exec_stall=1,
        macs=16,
        array_busy=2,
        rd_beats=4,
    )
    assert r.stats.units["load"].stall_interlock == 9


def test_matmul_waits_for_load_acc_but_preload_does_not() -> None:
    r = run(
        """
        load target=acc dst=8 len=4 n_inner=2 addr=0 stride_inner=4
        preload src=0 rows=1 cols=1
        matmul src=0 dst=0 n=1
        load target=acc dst=10 len=1 n_inner=1 addr=0
        halt
        """
    )
    # 0 load acc: N=2, P=1, F=3, E=1+2+3+1 = 7.
    # 1 preload (no interlock): D=1, P=2, F=4, E=2+2+6 = 10.
    # 2 matmul: D=2, candidate max(3, F=4) = 4, but a load(acc) is in flight [1,7]: 8.
    # 3 load acc: D=3, candidate max(4, F=3) = 4; no matmul/vector in flight at 4: P=4,
    #   E = 4+1+3+1 = 9. The matmul now also skips [4,9]: P=10, E=10+1+6 = 17.
    # halt: A=D=4. Done at t=18: cycles 19.
    assert times(r) == [
        (0, 0, 1, 7),
        (1, 1, 2, 10),
        (2, 2, 10, 17),
        (3, 3, 4, 9),
        (4, 4, None, None),
    ]
    # load_busy = |[1,9]| = 9; exec_busy = |[2,17]| = 16; exec_stall: the matmul waits 3..9
    # (7: cycle 3 busy, 4..9 interlock). No swap: macs = 0.
    counters(r, cycles=19, load_busy=9, exec_busy=16, exec_stall=7, array_busy=1, rd_beats=3)
    ex = r.stats.units["execute"]
    assert (ex.stall_unit_busy, ex.stall_interlock) == (1, 6)


def test_store_sp_loses_tie_to_load_sp() -> None:
    r = run(
        """
        load target=sp dst=0 len=4 n_inner=1 addr=0
        load target=acc dst=0 len=4 n_inner=5 addr=0 stride_inner=4
        store target=sp src=0 len=4 n_inner=1 addr=10
        load target=sp dst=20 len=4 n_inner=1 addr=4
        halt
        """
    )
    # 0 load sp: N=1, P=1, F=2, E=6.
    # 1 load acc: N=5, D=1, P=2, F=7, E=2+5+3+1 = 11.
    # 2 store sp: D=2, candidate 3, but load(sp) 0 is in flight [1,6]: 7.
    # 3 load sp: A=3, load k=2: D >= P0+1 = 2 -> 3; candidate max(4, F=7) = 7. No store(sp)
    #   in flight. Tie at 7 with the store: load wins, P=7, E=7+1+3+1 = 12; the store may not
    #   pop in a cycle in which load pops a load(sp), nor while it is in flight: P = 13,
    #   E = T_{n-1} + 5 = P+n+5 = 19.
    # halt: A=D=4. Done at t=20: cycles 21.
    assert times(r) == [
        (0, 0, 1, 6),
        (1, 1, 2, 11),
        (2, 2, 13, 19),
        (3, 3, 7, 12),
        (4, 4, None, None),
    ]
    # load_busy = |[1,12]| = 12; load_stall: load 3 waits 4..6 (3, unit busy).
    # store_busy = |[13,19]| = 7; store_stall = 3..12 = 10 (interlock). rd_beats = 1+5+1.
    counters(
        r,
        cycles=21,
        load_busy=12,
        load_stall=3,
        store_busy=7,
        store_stall=10,
        rd_beats=7,
    )
    assert r.stats.units["store"].stall_interlock == 10


def test_load_sp_waits_for_store_sp_in_flight() -> None:
    r = run(
        """
        load target=acc dst=0 len=4 n_inner=4 addr=0 stride_inner=4
        cfg_act mode=none
        store target=sp src=0 len=4 n_inner=2 addr=10 stride_inner=1
        load target=sp dst=0 len=4 n_inner=1 addr=0
        halt
        """
    )
    # 0 load acc: N=4, P=1, F=5, E=1+4+3+1 = 9.
    # 1 cfg_act: D=1, P=2, E=3, store free at F=4.
    # 2 store sp n=2: D=2, P = F = 4 (no load(sp) in flight), E = P+n+5 = 11.
    # 3 load sp: D=3, candidate max(4, F=5) = 5, but store(sp) is in flight [4,11]: P = 12,
    #   E = 12+1+3+1 = 17.
    # halt: A=D=4. Done at t=18: cycles 19.
    assert times(r) == [
        (0, 0, 1, 9),
        (1, 1, 2, 3),
        (2, 2, 4, 11),
        (3, 3, 12, 17),
        (4, 4, None, None),
    ]
    # load_busy = |[1,9]| + |[12,17]| = 15; load_stall: load 3 waits 4..11 (8: 4 unit busy,
    # 5..11 interlock). store_busy = |[2,11]| = 10; store_stall: the store waits 3 (1).
    counters(r, cycles=19, load_busy=15, load_stall=8, store_busy=10, store_stall=1, rd_beats=5)
    load = r.stats.units["load"]
    assert (load.stall_unit_busy, load.stall_interlock) == (1, 7)


def test_deadlock_cycle_and_index() -> None:
    r = run("sync unit=store\nmatmul src=0 dst=0 n=1 pop_prev\nhalt")
    # 0: P=1, E=2. 1: D=1, waits for a token nobody pushes. halt: A=D=2.
    # Cycle 2: the sync is in flight. Cycle 3: nothing in flight, no pop, no dispatch, not
    # done: deadlock at 3, cycles = 4, index 1 (the only queue head).
    assert (r.error, r.error_index, cycles(r)) == (ErrorCode.DEADLOCK, 1, 4)
    # exec_stall: the matmul is queued from 2 to 3 inclusive (2, tokens).
    counters(r, cycles=4, store_busy=2, exec_stall=2)
    assert r.stats.units["execute"].stall_tokens == 2


def test_deadlock_with_fetch_blocked_on_a_full_queue() -> None:
    r = run("sync unit=execute pop_prev\n" + "sync unit=execute\n" * 2 + "halt")
    # 0: D=0, waits forever. 1: D=1. 2: A=2, needs P0+1: never dispatched.
    # Cycle 2: nothing in flight, no pop, no dispatch: deadlock at 2, cycles 3, index 0.
    assert (r.error, r.error_index, cycles(r)) == (ErrorCode.DEADLOCK, 0, 3)
    counters(r, cycles=3, exec_stall=2)


def test_token_overflow_cycle_and_index() -> None:
    text = "sync unit=load push_next\n" * 4
    r = run(text + "halt")
    # Load sync: E = max(P+1, E_prev+1), F = E. 0: P=1, E=2. 1: D=1, P=2, E=3.
    # 2: A=2, D >= P0+1 = 2, P=3, E=4. 3: A=3, D >= P1+1 = 3, P=4, E=5.
    # Pushes at 2, 3, 4 give c(5) = 3 = TD; at 5, c - pops + pushes = 3 - 0 + 1 > TD:
    # TOKEN_OVERFLOW at 5, index 3, cycles 6.
    assert (r.error, r.error_index, cycles(r)) == (ErrorCode.TOKEN_OVERFLOW, 3, 6)
    counters(r, cycles=6, load_busy=5)
    # With a pop in the same cycle the count stays at TD: an execute sync dispatched at 4
    # pops at 5 (its token has been visible since 3): 3 - 1 + 1 = 3, no overflow.
    # 4: A=D=4, P=5, E=5+1+6 = 12. halt: A=D=5. Done at t=13: cycles 14.
    r2 = run(text + "sync unit=execute pop_prev\nhalt")
    assert r2.ok and cycles(r2) == 14
    assert times(r2)[4] == (4, 4, 5, 12)


def test_decode_error_stops_at_A() -> None:
    text = "sync unit=execute\n" * 3 + ".word 0xf\nhalt"
    r = run(text, T.replace(queue_depth=1))
    # Q = 1 (see test_queue_back_pressure_depth_1): D = 0, 2, 4 and P = 1, 3, 5; instruction 3
    # enters decode at A3 = D2 + 1 = 5 and is illegal: stop at 5, cycles 6, index 3.
    assert (r.error, r.error_index, cycles(r)) == (ErrorCode.ILLEGAL_OPCODE, 3, 6)
    # exec_busy = cycles 1..5 (the syncs would run to 12): 5.
    counters(r, cycles=6, exec_busy=5)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("matmul src=63 dst=0 n=2", ErrorCode.SP_RANGE),
        ("vector op=add dst=63 a=0 b=0 n=2", ErrorCode.ACC_RANGE),
        ("load target=sp dst=0 len=4 n_inner=1 addr=253", ErrorCode.DRAM_RANGE),
        ("preload src=0 rows=3 cols=1", ErrorCode.ILLEGAL_FIELD),
    ],
)
def test_range_error_stops_at_A(line: str, code: ErrorCode) -> None:
    r = run(f"sync unit=load\nsync unit=load\n{line}\nhalt")
    # 0: D=0. 1: D=1. 2: A2 = D1 + 1 = 2 and out of range: stop at 2, cycles 3, index 2.
    # Load syncs: P=1, E=2; P=2, E=3: load_busy = cycles 1..2 = 2 (E1 = 3 is after the stop).
    assert (r.error, r.error_index, cycles(r)) == (code, 2, 3)
    counters(r, cycles=3, load_busy=2)


def test_stop_clips_work_after_the_stopping_cycle() -> None:
    r = run("load target=sp dst=0 len=4 n_inner=4 addr=0 stride_inner=4\n.word 0")
    # Load: N=4 beats at 2..5, P=1. The word at index 1 is illegal at A1 = 1: stop at 1,
    # cycles 2. At cycle 1 the load pops (busy 1) and no beat has been issued yet.
    assert (r.error, r.error_index, cycles(r)) == (ErrorCode.ILLEGAL_OPCODE, 1, 2)
    counters(r, cycles=2, load_busy=1)


@pytest.mark.parametrize("mode", ["fast", "step"])
def test_no_queues_pop_straight_from_the_decode_register(mode: str) -> None:
    q0 = T.replace(queue_depth=0)
    text = "sync unit=execute\nsync unit=execute\nsync unit=load\nhalt"
    r = simulate(q0, assemble(text), bytes(256), trace=True, mode=mode)
    # Q = 0: D = P, and the next instruction enters the decode register at D + 1.
    # sync 0: A = 0, pops at A (P >= A), D = P = 0; the execute unit is free at P + 1 = 1.
    # sync 1: A = 1, D = P = 1, E = P + 1 + R + C = 8. load sync: A = 2, D = P = 2; it
    # completes at max(P + 1, last E of the load unit + 1) = 3. halt: A = D = 3.
    assert times(r) == [(0, 0, 0, 7), (1, 1, 1, 8), (2, 2, 2, 3), (3, 3, None, None)]
    assert cycles(r) == 10  # done at max E + 1 = 9
    # exec_busy = |[0, 7] ∪ [1, 8]| = 9, load_busy = |[2, 3]| = 2; nothing waits in a queue.
    counters(r, cycles=10, exec_busy=9, load_busy=2)


@pytest.mark.parametrize("mode", ["fast", "step"])
def test_no_queues_one_waiting_instruction_holds_up_fetch(mode: str) -> None:
    # With queues the execute sync waits in its queue while the load behind it is fetched and
    # pushes the token it needs. Without them it holds the decode register: the load is never
    # fetched, and with nothing in flight the machine deadlocks at once, at A_0.
    text = "sync unit=execute pop_prev\nsync unit=load push_next\nhalt"
    ok = simulate(T, assemble(text), bytes(256), mode=mode)
    assert ok.ok
    r = simulate(T.replace(queue_depth=0), assemble(text), bytes(256), mode=mode)
    assert (r.error, r.error_index, cycles(r)) == (ErrorCode.DEADLOCK, 0, 1)
