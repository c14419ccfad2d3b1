"""`make demo`: the most complete end-to-end path that works today.

1. Train the seed MLP (784 → 128 → 64 → 10, ReLU; scikit-learn) and the seed CNN (conv32 →
   pool → conv64 → pool → 128 → 10; NumPy, examples/train_cnn.py) on scikit-learn's bundled
   digits, upsampled from 8×8 to 28×28, and export both to ONNX (build/demo/*.onnx).
2. Compile each for the default 8×8 accelerator with post-training int8 quantisation
   (calibrated on a held-out split) and run the test split on the cycle-accurate simulator,
   checking every output against the golden model bit for bit.
3. Run samples on the RTL (the generated Verilog under Verilator) and check that they are
   bit-identical to the simulator, with the same cycle count.
4. Assemble and disassemble a hand-written program, checking the round trip.
5. Write build/demo/report.md: per layer of each network, cycles, utilisation, the compute and
   memory bounds, which binds, an energy estimate, and roofline and timeline plots
   (systolic/report.py).

The recurrent networks (Elman RNN, LSTM, GRU; examples/train_rnn.py) read each image row by row
and go through the same steps. Writes build/demo/report.json and build/demo/report.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import train_cnn
import train_rnn
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

import systolic
from systolic import PRESETS, assemble, disassemble
from systolic.report import write_report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "demo"


def step(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def load_digits_28() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Digits as 28×28 images in [0, 1], flattened to 784 features."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images / 16.0
    big = np.stack([zoom(img, 3.5, order=1) for img in images]).clip(0.0, 1.0)
    return big.reshape(len(big), -1), digits.target.astype(np.int64)


def train_mlp(x: NDArray[np.float64], y: NDArray[np.int64]) -> Any:
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(128, 64), activation="relu", max_iter=300, random_state=0
    )
    clf.fit(x, y)
    return clf


def export_onnx(clf: Any, path: Path) -> None:
    """The trained MLP as an ONNX model, MatMul + Add per layer as PyTorch's exporter writes."""
    nodes, inits = [], []
    h = "x"
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"fc{i}.weight"),
            numpy_helper.from_array(b.astype(np.float32), f"fc{i}.bias"),
        ]
        nodes += [
            helper.make_node("MatMul", [h, f"fc{i}.weight"], [f"mm{i}"]),
            helper.make_node("Add", [f"mm{i}", f"fc{i}.bias"], [f"fc{i}"]),
        ]
        h = f"fc{i}"
        if i < len(clf.coefs_) - 1:
            nodes.append(helper.make_node("Relu", [h], [f"relu{i}"]))
            h = f"relu{i}"
    nodes.append(helper.make_node("Softmax", [h], ["probs"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def evaluate(
    name: str,
    model_path: Path,
    config: Any,
    x_calib: NDArray[Any],
    x_test: NDArray[Any],
    y_test: NDArray[Any],
    float_acc: float,
    *,
    batch: int,
    rtl_samples: int,
    reports: dict[str, Any],
    axis: int = 0,
) -> dict[str, Any]:
    """Compile an ONNX model, run the test split on the simulator (in batches of ``batch``; the
    last one padded) and against the golden model, and a few samples on the RTL. ``axis`` is
    the batch axis of the inputs (1 for [T, N, I] sequences)."""
    x_test = np.moveaxis(x_test, axis, 0)
    x_calib = np.moveaxis(x_calib, axis, 0)
    step(
        f"{name}: compiling {model_path.relative_to(ROOT)} for batches of {batch} "
        f"(calibration: {len(x_calib)} held-out images)"
    )
    calib = np.moveaxis(x_calib, 0, axis)
    program = systolic.compile(model_path, config, calibration=calib, batch=batch)
    preds, exact, cycles, macs = [], True, 0, 0
    t_sim = time.perf_counter()
    for start in range(0, len(x_test), batch):
        chunk = x_test[start : start + batch]
        real = len(chunk)
        if real < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - real, *chunk.shape[1:]))])
        chunk = np.moveaxis(chunk, 0, axis)
        sim = systolic.run(program, chunk, backend="sim")
        gold = systolic.run(program, chunk, backend="golden")
        exact &= bool(np.array_equal(sim.raw["probs"], gold.raw["probs"]))
        preds.append(sim.outputs["probs"][:real].argmax(1))
        cycles += int(sim.stats["cycles"])
        macs += int(sim.stats["counters"]["macs"])
    t_sim = time.perf_counter() - t_sim
    accel_acc = float((np.concatenate(preds) == y_test).mean())
    runs = -(-len(x_test) // batch)
    utilization = macs / (config.rows * config.cols * cycles)
    step(
        f"{name} on the simulator: accuracy {accel_acc:.2%} ({(accel_acc - float_acc) * 100:+.1f}"
        f" points vs float), {cycles / (runs * batch):,.0f} cycles per image, utilisation "
        f"{utilization:.1%}, {t_sim:.1f} s; golden model bit-identical: {exact}"
    )
    step(
        f"{name} on the RTL: {rtl_samples} image(s) on the Verilog under Verilator "
        "(the first run builds it)"
    )
    small = systolic.compile(model_path, config, calibration=calib, batch=rtl_samples)
    sample = np.moveaxis(x_test[:rtl_samples], 0, axis)
    one = small if rtl_samples == 1 else systolic.compile(model_path, config, calibration=calib)
    reports[name] = (one, np.moveaxis(x_test[:1], 0, axis))
    rtl = systolic.run(small, sample, backend="rtl", simulator="verilator")
    ref = systolic.run(small, sample, backend="sim")
    rtl_agrees = bool(
        np.array_equal(rtl.raw["probs"], ref.raw["probs"])
        and rtl.stats["cycles"] == ref.stats["cycles"]
    )
    step(
        f"{name}: RTL agrees with the simulator bit for bit and cycle for cycle: {rtl_agrees} "
        f"({rtl.stats['cycles']} cycles)"
    )
    return {
        "float_accuracy": float_acc,
        "accel_accuracy": accel_acc,
        "sim_equals_golden": exact,
        "rtl_agrees": rtl_agrees,
        "rtl_samples": rtl_samples,
        "cycles_per_inference": cycles / (runs * batch),
        "utilization": utilization,
        "batch": batch,
        "test_images": len(x_test),
    }


def main() -> int:
    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    config = PRESETS["default"]
    step(f"accelerator: preset 'default', {config.rows}x{config.cols} int8 array")

    step("loading scikit-learn digits, upsampling 8x8 -> 28x28")
    x, y = load_digits_28()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, calib, test = order[:1200], order[1200:1400], order[1400:]
    report: dict[str, Any] = {"config": config.to_dict()}
    reports: dict[str, Any] = {}  # network -> (batch-1 program, one input) for report.md

    step(f"mlp: training 784-128-64-10 on {len(train)} images (scikit-learn)")
    clf = train_mlp(x[train], y[train])
    float_acc = float((clf.predict(x[test]) == y[test]).mean())
    step(f"mlp: float accuracy on {len(test)} test images: {float_acc:.2%}")
    export_onnx(clf, OUT / "mlp.onnx")
    report["mlp"] = evaluate(
        "mlp",
        OUT / "mlp.onnx",
        config,
        x[calib],
        x[test],
        y[test],
        float_acc,
        batch=len(test),
        rtl_samples=4,
        reports=reports,
    )

    images = x.reshape(-1, 1, 28, 28)
    step(f"cnn: training conv32-pool-conv64-pool-128-10 on {len(train)} images (NumPy)")
    params = train_cnn.train(images[train], y[train], epochs=4, log=lambda m: step(f"cnn: {m}"))
    cnn_float = float((train_cnn.predict(params, images[test]) == y[test]).mean())
    step(f"cnn: float accuracy on {len(test)} test images: {cnn_float:.2%}")
    train_cnn.export_onnx(params, OUT / "cnn.onnx")
    report["cnn"] = evaluate(
        "cnn",
        OUT / "cnn.onnx",
        config,
        images[calib],
        images[test],
        y[test],
        cnn_float,
        batch=50,
        rtl_samples=1,
        reports=reports,
    )

    sequences = x.reshape(-1, 28, 28).transpose(1, 0, 2)  # row by row: [T = 28, N, I = 28]
    for cell, epochs, lr in (("rnn", 12, 2e-3), ("lstm", 8, 5e-3), ("gru", 8, 5e-3)):
        step(f"{cell}: training on image rows, hidden 64, {len(train)} images (NumPy BPTT)")
        weights = train_rnn.train(
            cell,
            sequences[:, train],
            y[train],
            epochs=epochs,
            lr=lr,
            log=lambda m, cell=cell: step(f"{cell}: {m}"),
        )
        acc = float((train_rnn.predict(cell, weights, sequences[:, test]) == y[test]).mean())
        step(f"{cell}: float accuracy on {len(test)} test images: {acc:.2%}")
        train_rnn.export_onnx(cell, weights, OUT / f"{cell}.onnx")
        report[cell] = evaluate(
            cell,
            OUT / f"{cell}.onnx",
            config,
            sequences[:, calib],
            sequences[:, test],
            y[test],
            acc,
            batch=50,
            rtl_samples=1,
            reports=reports,
            axis=1,
        )

    step("assembling examples/programs/matmul_relu.s and checking the round trip")
    source = (ROOT / "examples" / "programs" / "matmul_relu.s").read_text()
    words = assemble(source, name="matmul_relu.s")
    round_trip = assemble(disassemble(words)) == words
    step(
        f"{len(words)} instructions, {16 * len(words)} bytes, round trip "
        f"{'ok' if round_trip else 'FAILED'}"
    )
    report["asm_round_trip"] = round_trip
    step("per-layer report: one inference per network with its timeline, roofline and energy")
    path = write_report(reports, OUT)
    step(f"wrote {path.relative_to(ROOT)} with roofline and timeline plots")
    report["seconds"] = round(time.perf_counter() - t0, 1)
    (OUT / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    step(f"wrote {OUT.relative_to(ROOT)}/report.json in {report['seconds']} s")
    ok = round_trip and all(
        report[k]["rtl_agrees"]
        and report[k]["sim_equals_golden"]
        and report[k]["accel_accuracy"] >= report[k]["float_accuracy"] - 0.02
        for k in ("mlp", "cnn", "rnn", "lstm", "gru")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
