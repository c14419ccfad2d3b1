"""`make demo`: the most complete end-to-end path that works today.

1. Train the seed MLP (784 → 128 → 64 → 10, ReLU) on scikit-learn's bundled digits, upsampled
   from 8×8 to 28×28, in float, and export it to ONNX (build/demo/mlp.onnx).
2. Compile the ONNX model for the default 8×8 accelerator with post-training int8 quantisation
   (calibrated on a held-out split) and run the test split on the cycle-accurate simulator.
3. Run a few samples on the RTL (the generated Verilog under Verilator) and check that they are
   bit-identical to the simulator, with the same cycle count.
4. Assemble and disassemble a hand-written program, checking the round trip.

Writes build/demo/report.json. The CNN and the recurrent networks join when the compiler lowers
them (issues #5 and #6).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

import systolic
from systolic import PRESETS, assemble, disassemble

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

    step(f"training MLP 784-128-64-10 on {len(train)} images")
    clf = train_mlp(x[train], y[train])
    float_acc = float((clf.predict(x[test]) == y[test]).mean())
    step(f"float accuracy on {len(test)} test images: {float_acc:.2%}")

    model_path = OUT / "mlp.onnx"
    export_onnx(clf, model_path)
    step(
        f"exported {model_path.relative_to(ROOT)}; compiling for {len(test)} images "
        f"(calibration: {len(calib)} held-out images)"
    )
    program = systolic.compile(model_path, config, calibration=x[calib], batch=len(test))
    golden_run = systolic.run(program, x[test], backend="golden")
    golden_acc = float((golden_run.outputs["probs"].argmax(1) == y[test]).mean())
    t_sim = time.perf_counter()
    sim = systolic.run(program, x[test], backend="sim")
    t_sim = time.perf_counter() - t_sim
    accel_acc = float((sim.outputs["probs"].argmax(1) == y[test]).mean())
    bit_exact = bool(np.array_equal(sim.raw["probs"], golden_run.raw["probs"]))
    cycles = int(sim.stats["cycles"])
    step(
        f"simulator: accuracy {accel_acc:.2%} ({(accel_acc - float_acc) * 100:+.1f} points "
        f"vs float), {cycles / len(test):,.0f} cycles per image, utilisation "
        f"{sim.stats['utilization']:.1%}, {t_sim:.2f} s; golden model bit-identical: "
        f"{bit_exact}"
    )

    n_rtl = 4
    step(f"RTL: {n_rtl} images on the generated Verilog under Verilator (first run builds it)")
    small = systolic.compile(model_path, config, calibration=x[calib], batch=n_rtl)
    rtl = systolic.run(small, x[test[:n_rtl]], backend="rtl", simulator="verilator")
    ref = systolic.run(small, x[test[:n_rtl]], backend="sim")
    rtl_agrees = bool(
        np.array_equal(rtl.raw["probs"], ref.raw["probs"])
        and rtl.stats["cycles"] == ref.stats["cycles"]
    )
    step(
        f"RTL agrees with the simulator bit for bit and cycle for cycle: {rtl_agrees} "
        f"({rtl.stats['cycles']} cycles)"
    )

    step("assembling examples/programs/matmul_relu.s and checking the round trip")
    source = (ROOT / "examples" / "programs" / "matmul_relu.s").read_text()
    words = assemble(source, name="matmul_relu.s")
    round_trip = assemble(disassemble(words)) == words
    step(
        f"{len(words)} instructions, {16 * len(words)} bytes, round trip "
        f"{'ok' if round_trip else 'FAILED'}"
    )

    report = {
        "config": config.to_dict(),
        "mlp": {
            "float_accuracy": float_acc,
            "accel_accuracy": accel_acc,
            "golden_accuracy": golden_acc,
            "sim_equals_golden": bit_exact,
            "rtl_agrees": rtl_agrees,
            "rtl_samples": n_rtl,
            "cycles_per_inference": cycles / len(test),
            "utilization": sim.stats["utilization"],
            "test_images": len(test),
        },
        "asm_round_trip": round_trip,
        "not_yet": ["cnn, rnn, lstm, gru (compiler lowering, issues #5 and #6)"],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (OUT / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    step(f"wrote {OUT.relative_to(ROOT)}/report.json in {report['seconds']} s")
    ok = round_trip and rtl_agrees and bit_exact and accel_acc >= float_acc - 0.02
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
