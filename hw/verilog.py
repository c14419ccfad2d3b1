"""Verilog output for any configuration, shaped for fast simulation and for people.

Amaranth's default Verilog keeps processes in a form that makes Icarus Verilog 10-100x slower
and that GTKWave cannot parse from Verilator's VCD (docs/setup.md). Lowering the processes with
Yosys ``proc`` before ``write_verilog`` fixes both.
"""

from __future__ import annotations

from pathlib import Path

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil
from amaranth.lib import wiring

from ..spec.config import AcceleratorConfig
from .top import Accelerator

__all__ = ["TOP_NAME", "fusesoc_core", "generate_verilog", "to_verilog"]

TOP_NAME = "systolic_top"


def generate_verilog(config: AcceleratorConfig, *, name: str = TOP_NAME) -> str:
    """Verilog text of the :class:`~systolic.hw.top.Accelerator` for ``config``.

    The top module is ``name``; its ports are ``clk``, ``rst`` (synchronous, active high) and
    the signature members, with ``__`` joining nested names (``rd__adr``, ``counters__cycles``).
    """
    header = (
        f"// systolic accelerator, generated for {config.rows}x{config.cols} "
        f"(sp {config.sp_depth} rows, acc {config.acc_depth} rows, "
        f"{config.bus_bytes * 8}-bit bus).\n// Do not edit: regenerate with `systolic verilog`.\n"
    )
    return header + to_verilog(Accelerator(config), name=name)


def to_verilog(top: wiring.Component, *, name: str) -> str:
    """Verilog of any component, with processes lowered by Yosys ``proc`` (see above)."""
    text = rtlil.convert(top, name=name, emit_src=False)
    yosys = find_yosys(lambda version: version >= (0, 40))
    script = "\n".join(
        [
            f"read_rtlil <<rtlil\n{text}\nrtlil",
            "proc",
            "opt_clean",
            "write_verilog -noattr",
        ]
    )
    verilog: str = yosys.run(["-q", "-"], script, ignore_warnings=True)
    return verilog


def fusesoc_core(config: AcceleratorConfig, verilog: Path, *, name: str = TOP_NAME) -> str:
    """A FuseSoC CAPI2 ``.core`` description of a generated Verilog file."""
    return "\n".join(
        [
            "CAPI=2:",
            f"name: systolic:accelerator:{name}:0.1.0",
            f"description: systolic {config.rows}x{config.cols} int8 accelerator",
            "filesets:",
            "  rtl:",
            "    files:",
            f"      - {verilog.name}",
            "    file_type: verilogSource",
            "targets:",
            "  default:",
            "    filesets: [rtl]",
            f"    toplevel: {name}",
            "",
        ]
    )
