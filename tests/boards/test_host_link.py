"""The real host driver against the simulated SoC (cocotb, Icarus), over a simulated UART."""

from __future__ import annotations

import numpy as np
import pytest

from systolic import run
from systolic.boards import protocol as p
from systolic.boards.driver import Board, BoardError
from systolic.boards.soc import SoC
from systolic.compiler import compile_model
from systolic.spec.config import PRESETS
from tests.boards.simboard import BAUD, CLK_HZ, simulated_board
from tests.compiler.models import mlp_onnx
from tests.progs import error_cases

# One simulated board serves the whole module; keep its tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("simulated_board")

TINY = PRESETS["tiny"]
MEM_BYTES = 8192
IMEM_DEPTH = 1024


@pytest.fixture(scope="module")
def board_url() -> object:
    soc = SoC(TINY, mem_bytes=MEM_BYTES, imem_depth=IMEM_DEPTH, clk_hz=CLK_HZ, baud=BAUD)
    with simulated_board(soc) as url:
        yield url


def test_info_reports_the_build(board_url: str) -> None:
    with Board(port=board_url, baud=BAUD) as board:
        assert board.info.config == TINY
        assert (board.info.mem_bytes, board.info.imem_depth) == (MEM_BYTES, IMEM_DEPTH)
        assert board.info.clk_hz == CLK_HZ


def test_memory_round_trips_through_the_bridge(board_url: str) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    instr = rng.integers(0, 256, 48, dtype=np.uint8).tobytes()
    with Board(port=board_url, baud=BAUD) as board:
        board.write(p.SPACE_DATA, 5, data)  # unaligned start and end
        board.write(p.SPACE_INSTR, 16, instr)
        assert board.read(p.SPACE_DATA, 5, len(data)) == data
        assert board.read(p.SPACE_INSTR, 16, len(instr)) == instr
        assert board.read(p.SPACE_DATA, 0, 0) == b""  # an empty read is answered, not hung


def test_mlp_runs_bit_exact_with_the_simulators_cycle_count(board_url: str) -> None:
    model, x = mlp_onnx(np.random.default_rng(3), hidden=(12, 8), classes=5)
    program = compile_model(model, TINY, calibration=x, batch=1)
    on_board = run(program, x[:1], backend="board", port=board_url, baud=BAUD)
    sim = run(program, x[:1], backend="sim")
    gold = run(program, x[:1], backend="golden")
    for name in sim.raw:
        assert np.array_equal(on_board.raw[name], sim.raw[name])
        assert np.array_equal(on_board.raw[name], gold.raw[name])
    assert on_board.stats["cycles"] == sim.stats["cycles"] > 0
    assert on_board.stats["counters"] == sim.stats["counters"]


def test_every_error_program_stops_as_in_the_simulator(board_url: str) -> None:
    from systolic.sim import simulate

    with Board(port=board_url, baud=BAUD) as board:
        for case in error_cases(TINY):
            prog = case.program
            expect = simulate(TINY, prog.instructions, prog.memory)
            res = board.run(TINY, prog.instructions, prog.memory)
            assert (res.error, res.error_index) == (case.error, case.error_index), case.name
            assert (res.error, res.error_index) == (expect.error, expect.error_index)
            assert res.cycles == expect.cycles, case.name


def test_a_program_for_another_config_is_refused(board_url: str) -> None:
    other = TINY.replace(rows=8, cols=8)
    with Board(port=board_url, baud=BAUD) as board, pytest.raises(BoardError) as e:
        board.run(other, [0], b"")
    assert str(e.value) == (
        "the program was compiled for another accelerator than the board's "
        "(program vs board: rows 8 vs 4, cols 8 vs 4); compile with the board's preset"
    )


def test_build_only_fields_do_not_refuse_a_program(board_url: str) -> None:
    # counter_bits and lut_pes change the hardware, not what a program does.
    other = TINY.replace(counter_bits=32, lut_pes=5)
    with Board(port=board_url, baud=BAUD) as board:
        board.check(other, 1, 16)
        with pytest.raises(BoardError) as e:
            board.check(other.replace(vector_unit=False), 1, 16)
    assert "(program vs board: vector_unit False vs True)" in str(e.value)


def test_a_run_with_a_large_memory_starts_at_instruction_0(board_url: str) -> None:
    # START's argument (dram_size) goes through the bridge's header register, and the
    # instruction memory's address was the bridge's during the start cycle: with 64 KiB the
    # first word came from index 16. A halt at 0 and zero words (ILLEGAL_OPCODE) after it
    # tell the two apart.
    from systolic.spec.asm import assemble
    from systolic.spec.isa import ErrorCode, to_bytes

    words = assemble("halt") + [0] * 16
    expect = TINY.decode_stages + 2  # halt dispatched at A_0, done a cycle later
    with Board(port=board_url, baud=BAUD) as board:
        board.write(p.SPACE_INSTR, 0, to_bytes(words))
        board.start(0x10000)
        for _ in range(100):
            status = board.status()
            if status["flags"] & 2 and not status["flags"] & 1:
                break
        assert (ErrorCode(status["error"]), status["cycles"]) == (ErrorCode.NONE, expect)
