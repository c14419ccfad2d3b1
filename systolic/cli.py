"""The ``systolic`` command line.

Every subcommand prints one line ``systolic: error: ...`` and exits with status 1 on bad input
(status 2 for bad command-line usage); tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .spec.asm import assemble, disassemble, disassemble_raw
from .spec.config import PRESETS, AcceleratorConfig, preset
from .spec.errors import SystolicError
from .spec.isa import from_bytes, to_bytes

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (no usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"systolic: error: {message} (see '{self.prog} --help')\n")


class CLIError(SystolicError):
    """A problem with files named on the command line."""


def add_config_options(p: argparse.ArgumentParser) -> None:
    """The options every subcommand that needs an accelerator configuration accepts."""
    g = p.add_argument_group("accelerator configuration (default: preset 'default')")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME", help=f"one of: {', '.join(PRESETS)}")
    src.add_argument("--config", metavar="FILE.toml", type=Path, help="a config file")
    g.add_argument("--rows", type=int, metavar="R", help="array rows (overrides)")
    g.add_argument("--cols", type=int, metavar="C", help="array columns (overrides)")


def config_from_args(args: argparse.Namespace) -> AcceleratorConfig:
    if args.config is not None:
        config = AcceleratorConfig.from_toml(args.config)
    else:
        config = preset(args.preset or "default")
    changes = {k: getattr(args, k) for k in ("rows", "cols") if getattr(args, k) is not None}
    return config.replace(**changes) if changes else config


def _read(path: Path, mode: str = "text") -> str | bytes:
    try:
        return path.read_text(encoding="utf-8") if mode == "text" else path.read_bytes()
    except FileNotFoundError:
        raise CLIError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise CLIError(
            f"{path}: not a text file (byte {e.object[e.start]:#04x} at offset {e.start} "
            "is not UTF-8)"
        ) from None
    except OSError as e:
        raise CLIError(f"{path}: cannot read: {e.strerror}") from None


def _write(path: Path | None, data: str | bytes) -> None:
    if path is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as e:
        raise CLIError(f"{path}: cannot write: {e.strerror}") from None


def cmd_info(args: argparse.Namespace) -> int:
    if args.list:
        for name, cfg in PRESETS.items():
            print(
                f"{name:<12} {cfg.rows}x{cfg.cols}, sp {cfg.sp_bytes} B, acc {cfg.acc_bytes} B,"
                f" {cfg.bus_bytes * 8}-bit memory port"
            )
        return 0
    config = config_from_args(args)
    sys.stdout.write(config.to_toml() if args.toml else config.describe())
    return 0


def cmd_asm(args: argparse.Namespace) -> int:
    text = _read(args.source)
    assert isinstance(text, str)
    words = assemble(text, name=str(args.source))
    _write(args.output, to_bytes(words))
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    blob = _read(args.binary, "binary")
    assert isinstance(blob, bytes)
    words = from_bytes(blob, name=str(args.binary))
    text = disassemble_raw(words) if args.raw else disassemble(words, name=str(args.binary))
    _write(args.output, text)
    return 0


def cmd_verilog(args: argparse.Namespace) -> int:
    from .hw.verilog import fusesoc_core, generate_verilog

    config = config_from_args(args)
    out: Path = args.output
    _write(out, generate_verilog(config, name=args.name))
    core = out.with_suffix(".core")
    _write(core, fusesoc_core(config, out, name=args.name))
    print(f"wrote {out} (top module {args.name}) and {core}", file=sys.stderr)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .boards.build import build_board
    from .boards.targets import target

    board = target(args.board)
    if args.preset is None and args.config is None:
        args.preset = board.preset
    config = config_from_args(args)
    if args.freq is not None and not 1 <= args.freq <= 500:
        raise CLIError(f"--freq must be in [1, 500] MHz, got {args.freq:g}")
    clk_hz = round(args.freq * 1e6) if args.freq is not None else None
    if args.imem_depth is not None and args.imem_depth < 1:
        raise CLIError(f"--imem-depth must be a positive integer, got {args.imem_depth}")

    def progress(step: str) -> None:
        print(f"build: {step}", file=sys.stderr, flush=True)

    report = build_board(
        board,
        config,
        out=args.output,
        clk_hz=clk_hz,
        imem_depth=args.imem_depth,
        baud=args.baud,
        seed=args.seed,
        pin_pe_dsps=args.pin_pe_dsps,
        progress=progress,
    )
    print(
        f"wrote {args.output / report['bitstream']}: {report['fmax_mhz']} MHz "
        f"(asked {report['target_mhz']:g}), "
        + ", ".join(
            f"{k} {report[k]['used']}/{report[k]['capacity']}" for k in ("lut", "ff", "dsp", "bram")
        ),
        file=sys.stderr,
    )
    return 0


_NPY_MAGIC = b"\x93NUMPY"


def _load_npy(path: Path, what: str) -> Any:
    import io

    import numpy as np

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CLIError(f"{path}: {what} file not found") from None
    except OSError as e:
        raise CLIError(f"{path}: cannot read: {e.strerror}") from None
    if not data:
        raise CLIError(f"{path}: not a .npy file (empty file)")
    if data.startswith(b"PK\x03\x04"):
        raise CLIError(f"{path}: not a .npy file (.npz archive; save one array with numpy.save)")
    if not data.startswith(_NPY_MAGIC):
        raise CLIError(f"{path}: not a .npy file (no .npy header)")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        reason = " ".join(str(e).split())  # numpy's messages may span lines
        raise CLIError(f"{path}: not a readable .npy array ({reason})") from None


def _compile(args: argparse.Namespace, x: Any = None) -> Any:
    """Compile ``args.model`` with the calibration file, or with the run's input ``x``.

    The arrays are checked against the model's input first, so that their errors name the
    .npy file; errors of the compilation itself name the model.
    """
    from .compiler import CompileError, check_calibration, compile_model, onnx_to_graph

    config = config_from_args(args)
    if x is not None:
        batch = args.batch or (int(x.shape[0]) if x.ndim and x.shape[0] else 1)
    else:
        batch = args.batch
    if not 1 <= batch <= 65535:
        raise CLIError(f"--batch must be in [1, 65535], got {batch}")
    graph = onnx_to_graph(args.model, batch=batch)
    if len(graph.inputs) != 1:
        raise CLIError(
            f"{args.model}: the model has {len(graph.inputs)} inputs "
            f"({', '.join(graph.inputs)}); the command line takes models with one input "
            "(use systolic.compile with a dict of calibration arrays)"
        )
    checks: list[tuple[Path, Any, str]] = [] if x is None else [(args.input, x, "input data")]
    if args.calibration:
        calib = _load_npy(args.calibration, "calibration")
        checks.append((args.calibration, calib, "calibration data"))
    elif x is not None:
        calib = x
    else:
        raise CLIError("--calibration is required")
    for path, array, what in checks:
        try:
            check_calibration(graph, {graph.inputs[0]: array}, what=what)
        except CompileError as e:
            raise CompileError(f"{path}: {e}") from None
    try:
        return compile_model(graph, config, calibration=calib, batch=batch)
    except CompileError as e:
        raise CompileError(f"{args.model}: {e}") from None


def cmd_compile(args: argparse.Namespace) -> int:
    program = _compile(args)
    out = program.save(args.output)
    print(
        f"wrote {out}: {len(program.instructions)} instructions, {len(program.memory)} bytes "
        f"of memory image",
        file=sys.stderr,
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from .runtime import RunError, quantize_inputs, run

    x = _load_npy(args.input, "input")
    program = _compile(args, x)
    try:
        quantize_inputs(program, x)  # the input's errors name its file
    except RunError as e:
        raise RunError(f"{args.input}: {e}") from None
    result = run(
        program,
        x,
        backend=args.backend,
        simulator=args.simulator,
        port=args.port,
        baud=args.baud,
    )
    outputs = list(result.outputs.values())
    if args.output:
        try:
            np.save(args.output, outputs[0])
        except OSError as e:
            raise CLIError(f"{args.output}: cannot write: {e.strerror}") from None
    else:
        np.set_printoptions(precision=4, suppress=True)
        print(outputs[0])
    stats = {k: v for k, v in result.stats.items() if k != "counters"}
    stats.setdefault("cycles", None)
    if args.stats:
        _write(args.stats, json.dumps(stats, indent=2) + "\n")
    summary = ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items()
    )
    print(f"{args.backend}: {summary}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="systolic", description="Systolic-array int8 accelerator toolkit.")
    parser.add_argument("--version", action="version", version=f"systolic {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    p = sub.add_parser(
        "info",
        help="print an accelerator configuration",
        description="Print an accelerator configuration (a preset, a TOML file "
        "or overrides) and its derived sizes.",
    )
    add_config_options(p)
    p.add_argument("--toml", action="store_true", help="print it as a TOML config file")
    p.add_argument("--list", action="store_true", help="list the presets")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "asm",
        help="assemble a program",
        description="Assemble ISA text (docs/isa.md) into a program binary of "
        "16-byte little-endian words.",
    )
    p.add_argument("source", type=Path, help="assembly file")
    p.add_argument("-o", "--output", type=Path, required=True, help="binary to write")
    p.set_defaults(func=cmd_asm)

    p = sub.add_parser(
        "disasm",
        help="disassemble a program binary",
        description="Disassemble a program binary; an illegal word is an error "
        "unless --raw writes it as a .word line.",
    )
    p.add_argument("binary", type=Path, help="program binary")
    p.add_argument("-o", "--output", type=Path, help="assembly file to write (default stdout)")
    p.add_argument("--raw", action="store_true", help="write illegal words as .word lines")
    p.set_defaults(func=cmd_disasm)

    p = sub.add_parser(
        "verilog",
        help="write the accelerator's Verilog",
        description="Generate Verilog for a configuration (processes lowered by "
        "Yosys so that simulators run it fast) and a FuseSoC .core "
        "file beside it. Ports: docs/architecture.md.",
    )
    add_config_options(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="Verilog file to write")
    p.add_argument("--name", default="systolic_top", help="top module name")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser(
        "compile",
        help="compile an ONNX model to a program directory",
        description="Quantise and compile a float ONNX model; writes the binary "
        "program, its assembly, the memory image and a manifest.",
    )
    p.add_argument("model", type=Path, help="ONNX model")
    p.add_argument(
        "--calibration",
        type=Path,
        required=True,
        metavar="C.npy",
        help="float calibration batch for the (single) input",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size the program runs (1)")
    add_config_options(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="program directory")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser(
        "run",
        help="compile a model and run it on an input",
        description="Compile an ONNX model for the input's batch size and run it "
        "on a backend; with no --calibration the input calibrates.",
    )
    p.add_argument("model", type=Path, help="ONNX model")
    p.add_argument("--input", type=Path, required=True, metavar="X.npy", help="float input")
    p.add_argument("--calibration", type=Path, metavar="C.npy", help="calibration batch")
    p.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    add_config_options(p)
    p.add_argument("--backend", choices=("golden", "sim", "rtl", "board"), default="sim")
    p.add_argument(
        "--simulator",
        choices=("icarus", "verilator"),
        default="verilator",
        help="RTL simulator for --backend rtl",
    )
    p.add_argument("--port", help="serial device or pyserial URL of the board (--backend board)")
    p.add_argument("--baud", type=int, help="UART bit rate of the board (default 115200)")
    p.add_argument("--output", type=Path, metavar="Y.npy", help="write the output array")
    p.add_argument("--stats", type=Path, metavar="STATS.json", help="write statistics")
    p.set_defaults(func=cmd_run)

    from .boards.targets import TARGETS

    p = sub.add_parser(
        "build",
        help="build a board bitstream with Yosys and nextpnr (YoWASP)",
        description="Build the SoC (UART host bridge, on-chip memory, accelerator) for an "
        "FPGA board with the YoWASP Yosys and nextpnr wheels; writes the bitstream, the "
        "SoC Verilog and report.json (resources against capacity, Fmax against the "
        "requested clock). The default configuration is the board's preset.",
    )
    p.add_argument("--board", required=True, choices=tuple(TARGETS), help="target board")
    add_config_options(p)
    p.add_argument(
        "--freq",
        type=float,
        metavar="MHZ",
        help="SoC clock (default: one the board's preset meets)",
    )
    p.add_argument(
        "--imem-depth",
        type=int,
        metavar="N",
        help="instructions the SoC's instruction memory holds (default: the board's)",
    )
    p.add_argument("--baud", type=int, default=115_200, help="UART bit rate (115200)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument(
        "--pin-pe-dsps",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ECP5: pin the PE multipliers in a compact block along the DSP rows, column by "
        "column (default: on; docs/boards.md)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="build directory")
    p.set_defaults(func=cmd_build)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except SystolicError as e:
        print(f"systolic: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("systolic: interrupted", file=sys.stderr)
        return 130
    return status
