"""The SoC in a cocotb simulation, reachable by the real driver at ``socket://127.0.0.1:PORT``."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from systolic.boards.soc import SoC
from systolic.hw.verilog import to_verilog
from systolic.sim.rtl import build_design

TOP = "systolic_soc"
DIVISOR = 4  # clock cycles per UART bit: the fastest the UART takes, to keep the test short
CLK_HZ = 100_000_000  # nominal; the bench's clock period is 10 ns
BAUD = CLK_HZ // DIVISOR


def _board_sources() -> list[Path]:
    import systolic.boards

    return sorted(Path(systolic.boards.__file__).resolve().parent.glob("*.py"))


@contextlib.contextmanager
def simulated_board(soc: SoC, *, simulator: str = "icarus") -> Iterator[str]:
    """Run ``soc`` under ``simulator`` and yield the pyserial URL of its UART."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    assert soc.divisor == DIVISOR, "the bench drives the UART at DIVISOR cycles per bit"
    soc._MustUse__silence = True  # type: ignore[attr-defined]  # a cached build skips elaboration
    key = repr((soc.config.to_dict(), soc.mem_bytes, soc.imem_depth, soc.clk_hz, soc.baud))
    directory = build_design(
        key=key,
        toplevel=TOP,
        make_verilog=lambda: to_verilog(soc, name=TOP),
        simulator=simulator,
        sources=_board_sources(),
    )
    with tempfile.TemporaryDirectory(prefix="systolic-board-") as tmp:
        port_file, stop_file = Path(tmp) / "port", Path(tmp) / "stop"
        outcome: dict[str, object] = {}

        def simulate() -> None:
            try:
                outcome["xml"] = get_runner(simulator).test(
                    hdl_toplevel=TOP,
                    hdl_toplevel_lang="verilog",
                    test_module="systolic.boards.uart_bench",
                    build_dir=directory / "build",
                    test_dir=tmp,
                    extra_env={
                        "SYSTOLIC_PORT_FILE": str(port_file),
                        "SYSTOLIC_STOP_FILE": str(stop_file),
                        "SYSTOLIC_UART_DIVISOR": str(DIVISOR),
                    },
                    results_xml=str(Path(tmp) / "results.xml"),
                    log_file=Path(tmp) / "sim.log",
                )
            except BaseException as e:  # reported by the main thread
                outcome["error"] = e

        thread = threading.Thread(target=simulate, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if not thread.is_alive() or time.monotonic() > deadline:
                log = Path(tmp) / "sim.log"
                text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"the simulated board did not come up: {outcome}\n{text}")
            time.sleep(0.05)
        try:
            yield f"socket://127.0.0.1:{port_file.read_text()}"
        finally:
            stop_file.touch()
            thread.join(timeout=120)
        assert not thread.is_alive(), "the simulated board did not stop"
        assert "error" not in outcome, outcome
        _, failed = get_results(Path(str(outcome["xml"])))
        assert failed == 0, (Path(tmp) / "sim.log").read_text(errors="replace")[-3000:]
