"""The compiler: a network (ONNX or the builder API) to a quantised, tiled :class:`Program`.

The whole lowering is one straight line of named passes over one IR, with a verifier after
each (see :func:`compile_graph`). The compiler knows no executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import onnx
from numpy.typing import ArrayLike

from ..spec.config import AcceleratorConfig
from ..spec.errors import CompileError, ProgramError
from ..spec.program import Program
from .builder import NetworkBuilder
from .codegen import emit_program
from .ir import Graph
from .onnx_frontend import onnx_to_graph
from .passes import (
    check_calibration,
    fuse_activations,
    fuse_pools,
    lower,
    quantize,
    validate,
)

__all__ = [
    "CompileError",
    "Graph",
    "NetworkBuilder",
    "check_calibration",
    "compile_graph",
    "compile_model",
    "onnx_to_graph",
]

Model = Graph | str | Path | bytes | onnx.ModelProto


def compile_graph(
    graph: Graph, config: AcceleratorConfig, calibration: Mapping[str, ArrayLike]
) -> Program:
    """validate → fuse_activations → quantize → lower → fuse_pools → allocate, tile, schedule and
    emit."""
    calib = dict(calibration)  # checked by quantize (check_calibration)
    pipeline: list[tuple[str, Callable[[Graph], Graph]]] = [
        ("validate", lambda g: validate(g, config)),
        ("fuse_activations", fuse_activations),
        ("quantize", lambda g: quantize(g, calib)),
        ("lower", lower),
        ("fuse_pools", lambda g: fuse_pools(g, config)),
    ]
    for _name, run in pipeline:
        graph = run(graph)
    program = emit_program(graph, config)
    try:
        config.check_program_length(len(program.instructions))
    except ProgramError as e:
        raise CompileError(f"{e} (a smaller batch or a larger array gives fewer)") from None
    meta: dict[str, Any] = dict(program.metadata)
    meta["passes"] = [name for name, _ in pipeline] + ["emit"]
    return Program(
        config=program.config,
        instructions=program.instructions,
        memory=program.memory,
        inputs=program.inputs,
        outputs=program.outputs,
        metadata=meta,
    )


def compile_model(
    model: Model,
    config: AcceleratorConfig,
    *,
    calibration: Mapping[str, ArrayLike] | ArrayLike,
    batch: int = 1,
) -> Program:
    """Compile an ONNX model (path, bytes, ModelProto) or a builder :class:`Graph`.

    ``calibration`` maps input names to float batches (or is one array for a single-input
    model); it sets the activation scales. ``batch`` fixes the inputs' dynamic first axis.
    """
    if not isinstance(config, AcceleratorConfig):
        raise CompileError(f"config must be an AcceleratorConfig, got {type(config).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 65535:
        raise CompileError(f"batch must be an integer in [1, 65535], got {batch!r}")
    graph = model if isinstance(model, Graph) else onnx_to_graph(model, batch=batch)
    if not isinstance(calibration, Mapping):
        if len(graph.inputs) != 1:
            raise CompileError(
                f"the model has {len(graph.inputs)} inputs; pass calibration "
                "as a dict of input name to array"
            )
        calibration = {graph.inputs[0]: calibration}
    return compile_graph(graph, config, calibration)
