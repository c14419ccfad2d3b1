"""The public entry points: :func:`compile` and :func:`run`."""

from __future__ import annotations

from collections.abc import Mapping

from numpy.typing import ArrayLike

from .compiler import Model, compile_model
from .runtime import RunResult
from .runtime import run as _run
from .spec.config import PRESETS, AcceleratorConfig
from .spec.program import Program

__all__ = ["compile", "run"]


def compile(
    model: Model,
    config: AcceleratorConfig | None = None,
    *,
    calibration: Mapping[str, ArrayLike] | ArrayLike,
    batch: int = 1,
) -> Program:
    """Quantise and compile a network for an accelerator (default: preset ``default``).

    Parameters
    ----------
    model : path, bytes, onnx.ModelProto or Graph
        A float ONNX model, or a graph from :class:`~systolic.compiler.NetworkBuilder`.
    config : AcceleratorConfig, optional
        The accelerator.
    calibration : array or mapping of input name to array
        Float inputs that set the activation scales.
    batch : int
        The batch size the program runs (the inputs' first axis).
    """
    return compile_model(model, config or PRESETS["default"], calibration=calibration, batch=batch)


def run(
    program: Program,
    inputs: Mapping[str, ArrayLike] | ArrayLike,
    *,
    backend: str = "sim",
    simulator: str = "verilator",
    port: str | None = None,
    baud: int | None = None,
) -> RunResult:
    """Run a program on float inputs: ``backend`` is ``golden``, ``sim``, ``rtl`` or ``board``.

    ``simulator`` (``verilator`` or ``icarus``) is for ``rtl``; ``port`` (a serial device or a
    pyserial URL such as ``socket://host:port``) and ``baud`` are for ``board``.
    """
    return _run(program, inputs, backend=backend, simulator=simulator, port=port, baud=baud)
