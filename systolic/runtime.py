"""One entry point that runs a Program on any backend: golden, sim, rtl or board."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .spec import golden
from .spec.config import AcceleratorConfig
from .spec.errors import SystolicError
from .spec.program import Program, TensorDesc

__all__ = ["BACKENDS", "RunError", "RunResult", "quantize_inputs", "run"]

BACKENDS = ("golden", "sim", "rtl", "board")


class RunError(SystolicError):
    """Bad inputs for a program, or a backend that failed."""


@dataclass(frozen=True)
class RunResult:
    """Outputs (dequantised floats, softmax applied where the model ends in one) and stats."""

    outputs: dict[str, NDArray[np.float32]]
    raw: dict[str, NDArray[Any]]
    stats: dict[str, Any] = field(default_factory=dict)


def quantize_inputs(
    program: Program, inputs: Mapping[str, ArrayLike] | ArrayLike
) -> dict[str, NDArray[np.int8]]:
    """Check and quantise float inputs with each input descriptor's scale."""
    if not isinstance(inputs, Mapping):
        if len(program.inputs) != 1:
            raise RunError(f"the program has {len(program.inputs)} inputs; pass a dict")
        inputs = {program.inputs[0].name: inputs}
    out = {}
    for desc in program.inputs:
        if desc.name not in inputs:
            raise RunError(f"input {desc.name!r} is missing")
        x = np.asarray(inputs[desc.name])
        if x.shape != desc.shape:
            raise RunError(f"input {desc.name!r}: expected shape {desc.shape}, got {x.shape}")
        if x.dtype.kind not in "iuf":
            raise RunError(
                f"input {desc.name!r}: dtype {x.dtype}, expected real numbers (float or int)"
            )
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise RunError(
                f"input {desc.name!r}: {int(bad.sum())} NaN or infinite value(s), "
                f"the first at index {first}"
            )
        out[desc.name] = golden.quantize(x.astype(np.float64), desc.scale)
    extra = sorted(set(inputs) - {d.name for d in program.inputs})
    if extra:
        raise RunError(
            f"unknown input {extra[0]!r}; the program takes "
            f"{', '.join(d.name for d in program.inputs)}"
        )
    return out


def _tensor(memory: bytearray, record: dict[str, Any]) -> NDArray[Any]:
    return TensorDesc.from_json(record, source="layer").read(memory)


def _activation(memory: bytearray, record: dict[str, Any]) -> golden.Activation:
    if record["kind"] == "clamp":
        return golden.Activation.clamp(record["lo"], record["hi"])
    if record["kind"] == "lut":
        return golden.Activation.lookup(_tensor(memory, record["lut"]))
    return golden.NO_ACTIVATION


def _golden_layer(memory: bytearray, layer: dict[str, Any]) -> NDArray[Any]:
    """One layer of the program's layer list, computed by the golden model."""
    op = layer["op"]
    x = _tensor(memory, layer["x"])
    if op == "maxpool":
        return golden.max_pool2d(x, layer["kernel"], layer["stride"], layer["padding"])
    if op == "avgpool":
        return golden.avg_pool2d(
            x,
            layer["kernel"],
            layer["stride"],
            layer["padding"],
            s_x=layer["s_x"],
            s_y=layer["s_y"],
        )
    if op == "rnn":
        w_x, w_h = _tensor(memory, layer["wx"]), _tensor(memory, layer["wh"])
        hidden = w_h.shape[0]
        gate = golden.QuantGate(
            w_x,
            w_h,
            _tensor(memory, layer["bias"]),
            _tensor(memory, layer["mult"]),
            _tensor(memory, layer["shift"]),
            golden.TANH_IN_SCALE,
            np.ones(hidden),
        )
        ys, _ = golden.rnn(x, gate, _tensor(memory, layer["h0"]))
        return ys
    if op == "lstm":
        gates = []
        for k, lut_in in zip(
            "ifgo",
            (
                golden.SIGMOID_IN_SCALE,
                golden.SIGMOID_IN_SCALE,
                golden.TANH_IN_SCALE,
                golden.SIGMOID_IN_SCALE,
            ),
            strict=True,
        ):
            rec = layer["gates"][k]
            w_h = _tensor(memory, rec["wh"])
            gates.append(
                golden.QuantGate(
                    _tensor(memory, rec["wx"]),
                    w_h,
                    _tensor(memory, rec["bias"]),
                    _tensor(memory, rec["mult"]),
                    _tensor(memory, rec["shift"]),
                    lut_in,
                    np.ones(w_h.shape[0]),
                )
            )
        ys, _, c_last = golden.lstm(
            x,
            golden.LSTMWeights(*gates),
            _tensor(memory, layer["h0"]),
            _tensor(memory, layer["c0"]),
        )
        TensorDesc.from_json(layer["c_out"], source="layer").write(memory, c_last)
        return ys
    if op == "gru":
        gates = []
        for k, lut_in in zip(
            "zrn",
            (golden.SIGMOID_IN_SCALE, golden.SIGMOID_IN_SCALE, golden.TANH_IN_SCALE),
            strict=True,
        ):
            rec = layer["gates"][k]
            w_h = _tensor(memory, rec["wh"])
            bias_h = None if rec["bias_h"] is None else _tensor(memory, rec["bias_h"])
            gates.append(
                golden.QuantGate(
                    _tensor(memory, rec["wx"]),
                    w_h,
                    _tensor(memory, rec["bias"]),
                    _tensor(memory, rec["mult"]),
                    _tensor(memory, rec["shift"]),
                    lut_in,
                    np.ones(w_h.shape[0]),
                    bias_h,
                )
            )
        z_gate, r_gate, n_gate = gates
        ys, _ = golden.gru(
            x,
            golden.GRUWeights(z_gate, r_gate, n_gate, bool(layer["lbr"])),
            _tensor(memory, layer["h0"]),
        )
        return ys
    if op == "add":
        m_a, m_b, mult, shift = layer["params"]
        params = golden.AddParams(m_a, m_b, mult, shift, 1.0)
        return golden.add_int(
            x, _tensor(memory, layer["b"]), params, _activation(memory, layer["act"])
        )
    bias = None if layer["bias"] is None else _tensor(memory, layer["bias"])
    args = (
        _tensor(memory, layer["w"]),
        bias,
        _tensor(memory, layer["mult"]),
        _tensor(memory, layer["shift"]),
    )
    act = _activation(memory, layer["act"])
    if op == "gemm":
        return golden.fully_connected(x.reshape(-1, args[0].shape[0]), *args, act)
    if op == "conv":
        y = golden.conv2d(
            x,
            *args,
            stride=layer["stride"],
            padding=layer["padding"],
            dilation=layer["dilation"],
            groups=layer.get("groups", 1),
            act=act,
        )
        if layer.get("pool"):  # a max-pool fused into the conv (compiler.passes.fuse_pools)
            y = golden.max_pool2d(y, layer["pool"], layer["pool"])
        return y
    raise RunError(f"golden backend: unknown layer op {op!r}")


def run_golden(program: Program, q_inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Execute the program's layer list with the golden model (no instruction is run)."""
    memory = bytearray(program.memory)
    for desc in program.inputs:
        desc.write(memory, q_inputs[desc.name])
    for layer in program.metadata.get("layers", []):
        y = _golden_layer(memory, layer)
        TensorDesc.from_json(layer["y"], source="layer").write(memory, y)
    return {d.name: d.read(memory) for d in program.outputs}


def run(
    program: Program,
    inputs: Mapping[str, ArrayLike] | ArrayLike,
    *,
    backend: str = "sim",
    simulator: str = "verilator",
    port: str | None = None,
    baud: int | None = None,
) -> RunResult:
    """Run ``program`` on float ``inputs``; see :data:`BACKENDS`.

    ``simulator`` picks the RTL simulator for ``rtl``; ``port`` (a serial device or pyserial
    URL) and ``baud`` pick the board for ``board``.
    """
    if backend not in BACKENDS:
        raise RunError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "board" and port is None:
        raise RunError("backend 'board' needs port= (a serial device such as /dev/ttyUSB1)")
    q = quantize_inputs(program, inputs)
    stats: dict[str, Any] = {
        "instructions": len(program.instructions),
        "macs": sum(layer.get("macs", 0) for layer in program.metadata.get("layers", [])),
    }
    cfg = program.config
    if backend == "golden":
        raw = run_golden(program, q)
    elif backend == "sim":
        from .sim import run_program

        raw, result = run_program(program, q)
        _check_error(result.error, result.error_index, "simulator")
        # The simulator's statistics are the true counts; its counters wrap at counter_bits
        # like the hardware's, so the RTL and board backends derive theirs from those.
        stats.update(
            cycles=result.cycles,
            utilization=result.stats.utilisation,
            dram_bytes_read=result.stats.bus_bytes_read,
            dram_bytes_written=result.stats.bus_bytes_written,
            counters=dict(result.counters),
        )
    elif backend == "board":
        from .boards.driver import DEFAULT_BAUD, Board

        memory = bytearray(program.memory)
        for desc in program.inputs:
            desc.write(memory, q[desc.name])
        assert port is not None
        with Board(port=port, baud=baud or DEFAULT_BAUD) as board:
            ranges = [(d.offset, d.end - d.offset) for d in program.outputs]
            res = board.run(cfg, program.instructions, memory, reads=ranges)
            built = board.info.config
        _check_error(res.error, res.error_index, "board")
        for (offset, n), data in zip(ranges, res.reads, strict=True):
            memory[offset : offset + n] = data
        raw = {d.name: d.read(memory) for d in program.outputs}
        stats.update(_hw_stats(built, res.cycles, res.counters))
    else:
        from .sim.rtl import run_rtl

        memory = bytearray(program.memory)
        for desc in program.inputs:
            desc.write(memory, q[desc.name])
        rtl = run_rtl(cfg, program.instructions, memory, simulator=simulator)
        _check_error(rtl.error, rtl.error_index, "RTL")
        raw = {d.name: d.read(rtl.memory) for d in program.outputs}
        stats.update(_hw_stats(cfg, rtl.cycles, rtl.counters))
    outputs = {}
    for desc in program.outputs:
        value = golden.dequantize(raw[desc.name], desc.scale).astype(np.float32)
        if desc.name in program.metadata.get("host_softmax", []):
            value = golden.softmax(raw[desc.name], desc.scale)
        outputs[desc.name] = value
    return RunResult(outputs, raw, stats)


def _check_error(error: Any, index: int | None, who: str) -> None:
    if error.value != 0:
        raise RunError(f"the {who} stopped with {error.name} at instruction {index}")


def _hw_stats(built: AcceleratorConfig, cycles: int, counters: dict[str, int]) -> dict[str, Any]:
    """Statistics from the hardware counters (RTL, board): exact below 2**counter_bits.

    A build without ``perf_counters`` has only ``cycles``; the rest is not reported.
    """
    if not built.perf_counters:
        return {"cycles": cycles, "counters": counters}
    bus = built.bus_bytes
    return {
        "cycles": cycles,
        "utilization": counters["macs"] / (built.peak_macs_per_cycle * cycles) if cycles else 0.0,
        "dram_bytes_read": counters["rd_beats"] * bus,
        "dram_bytes_written": counters["wr_beats"] * bus,
        "counters": counters,
    }
