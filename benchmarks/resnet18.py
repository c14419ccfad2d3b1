"""ResNet-18 as an ONNX model written with onnx.helper, and inputs that look like images.

:func:`resnet18_onnx` builds torchvision's ResNet-18 (conv1 7×7/2 + ReLU + max-pool 3×3/2 pad 1,
four stages of two BasicBlocks with 64, 128, 256 and 512 channels, the first block of stages
2–4 with stride 2 and a 1×1/2 conv on the skip, global average pool, flatten, fc, softmax) as
PyTorch exports it after batch-norm folding: every conv has a bias, no BatchNormalization node.
The weights are random, He-initialised with a fixed seed; the second conv of each block is
scaled down (``residual_scale``) so that activations stay in a sane range through the eight
residual adds, as trained networks' last batch-norm of a block does.

``width`` and ``size`` shrink the network for tests: ``resnet18_onnx(size=32, width=8)`` has
every kind of block of the real one at 1/64 of its channels squared.

:func:`images` makes real-valued inputs: smooth random images in [0, 1) per channel,
normalised with ImageNet's mean and standard deviation as torchvision's transforms do.

The benchmark itself (compile for ``large``, run on the simulator, check against golden and
onnxruntime) is :func:`benchmarks.sim_speed.bench_resnet18`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

__all__ = ["images", "resnet18_onnx"]

STAGES = (64, 128, 256, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _Net:
    """Accumulates nodes and initialisers; each method returns its output's name."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def conv(
        self,
        name: str,
        x: str,
        cin: int,
        cout: int,
        k: int,
        *,
        stride: int = 1,
        pad: int = 0,
        gain: float = 1.0,
        relu: bool = False,
    ) -> str:
        fan_in = cin * k * k
        w = self.rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), (cout, cin, k, k))
        b = self.rng.normal(0.0, 0.05, cout)
        self.inits += [
            numpy_helper.from_array(w.astype(np.float32), f"{name}.weight"),
            numpy_helper.from_array(b.astype(np.float32), f"{name}.bias"),
        ]
        y = f"/{name}/Conv_output_0"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}.weight", f"{name}.bias"],
                [y],
                name=f"/{name}/Conv",
                dilations=[1, 1],
                group=1,
                kernel_shape=[k, k],
                pads=[pad] * 4,
                strides=[stride, stride],
            )
        )
        return self.relu(name, y) if relu else y

    def relu(self, name: str, x: str) -> str:
        y = f"/{name}/Relu_output_0"
        self.nodes.append(helper.make_node("Relu", [x], [y], name=f"/{name}/Relu"))
        return y

    def add(self, name: str, a: str, b: str) -> str:
        y = f"/{name}/Add_output_0"
        self.nodes.append(helper.make_node("Add", [a, b], [y], name=f"/{name}/Add"))
        return y

    def basic_block(
        self, name: str, x: str, cin: int, cout: int, stride: int, residual_scale: float
    ) -> str:
        h = self.conv(f"{name}/conv1", x, cin, cout, 3, stride=stride, pad=1, relu=True)
        h = self.conv(f"{name}/conv2", h, cout, cout, 3, pad=1, gain=residual_scale)
        skip = x
        if stride != 1 or cin != cout:
            skip = self.conv(f"{name}/downsample/0", x, cin, cout, 1, stride=stride)
        return self.relu(name, self.add(name, h, skip))


def resnet18_onnx(
    *,
    size: int = 224,
    width: int = 64,
    classes: int = 1000,
    seed: int = 0,
    residual_scale: float = 0.3,
    opset: int = 17,
) -> onnx.ModelProto:
    """ResNet-18 (BN folded) for ``[N, 3, size, size]`` inputs; ``width`` is conv1's channels.

    The stages have ``width · (1, 2, 4, 8)`` channels (torchvision: ``width=64``). The output
    ``probs [N, classes]`` is the softmax of the fc layer's logits.
    """
    rng = np.random.default_rng(seed)
    net = _Net(rng)
    c = [width * m // 64 for m in STAGES]
    h = net.conv("conv1", "input", 3, c[0], 7, stride=2, pad=3, relu=True)
    pooled = "/maxpool/MaxPool_output_0"
    net.nodes.append(
        helper.make_node(
            "MaxPool",
            [h],
            [pooled],
            name="/maxpool/MaxPool",
            ceil_mode=0,
            dilations=[1, 1],
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[2, 2],
        )
    )
    h, cin = pooled, c[0]
    for stage, cout in enumerate(c, start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            h = net.basic_block(f"layer{stage}/{block}", h, cin, cout, stride, residual_scale)
            cin = cout
    gap = "/avgpool/GlobalAveragePool_output_0"
    flat = "/Flatten_output_0"
    net.nodes += [
        helper.make_node("GlobalAveragePool", [h], [gap], name="/avgpool/GlobalAveragePool"),
        helper.make_node("Flatten", [gap], [flat], name="/Flatten", axis=1),
    ]
    fc_w = rng.normal(0.0, 1.0 / np.sqrt(cin), (classes, cin)).astype(np.float32)
    fc_b = rng.normal(0.0, 0.05, classes).astype(np.float32)
    net.inits += [
        numpy_helper.from_array(fc_w, "fc.weight"),
        numpy_helper.from_array(fc_b, "fc.bias"),
    ]
    net.nodes += [
        helper.make_node(
            "Gemm", [flat, "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1
        ),
        helper.make_node("Softmax", ["logits"], ["probs"], name="/Softmax", axis=1),
    ]
    graph = helper.make_graph(
        net.nodes,
        "resnet18",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])],
        net.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def images(n: int, size: int = 224, *, seed: int = 1) -> NDArray[np.float32]:
    """``n`` smooth random RGB images ``[n, 3, size, size]``, ImageNet-normalised.

    Each channel is a sum of bilinearly upsampled uniform noise at several scales (coarse
    blobs plus fine texture), rescaled to [0, 1) per image, then ``(x - mean) / std``.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 3, size, size))
    for cells, weight in ((4, 1.0), (16, 0.5), (size, 0.25)):
        grid = rng.random((n, 3, cells + 1, cells + 1))
        out += weight * _upsample(grid, size)
    lo = out.min(axis=(1, 2, 3), keepdims=True)
    hi = out.max(axis=(1, 2, 3), keepdims=True)
    out = (out - lo) / (hi - lo) * (1 - 1e-6)
    mean = np.asarray(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.asarray(IMAGENET_STD).reshape(1, 3, 1, 1)
    normalised: NDArray[np.float32] = ((out - mean) / std).astype(np.float32)
    return normalised


def _upsample(grid: NDArray[Any], size: int) -> NDArray[np.float64]:
    """Bilinear interpolation of ``[..., g, g]`` onto ``[..., size, size]``."""
    g = grid.shape[-1]
    t = np.linspace(0.0, g - 1.0, size)
    i = np.minimum(t.astype(int), g - 2)
    f = t - i
    rows = grid[..., i, :] * (1 - f)[:, None] + grid[..., i + 1, :] * f[:, None]
    out: NDArray[np.float64] = rows[..., i] * (1 - f) + rows[..., i + 1] * f
    return out
