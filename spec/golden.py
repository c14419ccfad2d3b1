"""NumPy golden model of the accelerator's quantised int8 arithmetic.

This module is the executable form of ``docs/quantisation.md``. The compiler, the simulator and
the RTL must reproduce its integer results bit for bit, so every function here is exact integer
arithmetic in int64 (floats appear only when a real scale is turned into integer parameters on
the host, and in the host-side softmax). Whenever the specified int32 arithmetic could leave its
range, or an argument is malformed, a :class:`~systolic.spec.errors.GoldenError` names the
operator or argument, the offending value and the limit.

Integer parameters derived from real scales (:func:`quantize_multiplier`, :func:`add_params`,
:func:`quantize_gate`, the LUTs) should be taken from this module rather than re-derived: the
contract bounds their error, not every last bit of their value.

Layout conventions: activations are NHWC (conv, pools) or ``[M, K]`` (fully connected);
fully-connected weights are ``[K, N]`` (input x output); conv weights are HWIO
``[KH, KW, Cin / groups, Cout]``; recurrent weights are ``[in, hidden]`` per gate and
recurrent sequences are ``[T, B, in]`` (ONNX's default layout).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from .errors import GoldenError

__all__ = [
    "ACC_LIMIT",
    "ADD_ONE",
    "BIAS_LIMIT",
    "CELL_SCALE",
    "GATE_SCALE",
    "GRU_GATE_ORDER",
    "H_SCALE",
    "LSTM_GATE_ORDER",
    "MAX_SHIFT",
    "NO_ACTIVATION",
    "SIGMOID_IN_SCALE",
    "SIGMOID_LUT",
    "TANH_IN_SCALE",
    "TANH_LUT",
    "Activation",
    "AddParams",
    "GRUWeights",
    "LSTMWeights",
    "QuantGate",
    "add",
    "add_int",
    "add_params",
    "apply_lut",
    "avg_pool2d",
    "check_accumulator",
    "clamp",
    "clip_bounds",
    "conv2d",
    "conv2d_acc",
    "conv2d_output_size",
    "dequantize",
    "fully_connected",
    "global_avg_pool",
    "gru",
    "gru_cell",
    "lstm",
    "lstm_cell",
    "make_lut",
    "matmul_acc",
    "max_pool2d",
    "quantize",
    "quantize_bias",
    "quantize_cell_state",
    "quantize_gate",
    "quantize_gru_weights",
    "quantize_layer",
    "quantize_lstm_weights",
    "quantize_multiplier",
    "quantize_multipliers",
    "quantize_rnn_weights",
    "quantize_weights",
    "relu6_bounds",
    "requantize",
    "rnn",
    "rnn_cell",
    "round_shift",
    "sat8",
    "softmax",
]

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

INT8_MIN: Final = -128
INT8_MAX: Final = 127
WEIGHT_MAX: Final = 127
"""Quantised weights use the symmetric range [-127, 127]."""
INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
ACC_LIMIT: Final = 1 << 31
"""Every int32 accumulator's magnitude bound ``Σ|x·w| + |bias|`` must stay below this."""
MAX_SHIFT: Final = 63
"""Largest requantisation shift (a 6-bit field)."""
MULT_BITS: Final = 31
"""``quantize_multiplier`` returns multipliers in ``[2^30, 2^31)``."""
ADD_ONE: Final = 1 << 14
"""The int16 multiplier that represents 1.0 in :func:`add` (given to the larger input scale)."""

H_SCALE: Final = 2.0**-7
"""Scale of recurrent hidden states (Q0.7 in int8)."""
GATE_SCALE: Final = 2.0**-7
"""Output scale of the recurrent sigmoid and tanh LUTs."""
SIGMOID_IN_SCALE: Final = 2.0**-4
"""Input scale of the recurrent sigmoid LUT: int8 covers [-8, 8)."""
TANH_IN_SCALE: Final = 2.0**-5
"""Input scale of the recurrent tanh LUT: int8 covers [-4, 4)."""
CELL_SCALE: Final = 2.0**-11
"""Scale of the int32 LSTM cell state."""
_GATE_FRAC: Final = 7  # product of two 2^-7 values back to 2^-7
_IG_SHIFT: Final = 3  # i·g at 2^-14 to the cell scale 2^-11
_CELL_TO_TANH: Final = 6  # cell 2^-11 to the tanh input 2^-5

LSTM_GATE_ORDER: Final = ("i", "f", "g", "o")
"""Order of the leading gate axis taken by :func:`quantize_lstm_weights` (ONNX uses i, o, f, c)."""
GRU_GATE_ORDER: Final = ("z", "r", "n")
"""Order of the leading gate axis taken by :func:`quantize_gru_weights` (the same as ONNX)."""


# --------------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------------


def _int_array(value: npt.ArrayLike, name: str, lo: int, hi: int, ndim: int | None = None) -> I64:
    """Return ``value`` as int64 after checking it is an integer array with values in [lo, hi]."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise GoldenError(
            f"{name}: dtype {arr.dtype} is not an integer type (expected integers in [{lo}, {hi}])"
        )
    if ndim is not None and arr.ndim != ndim:
        raise GoldenError(f"{name}: has {arr.ndim} dimensions {arr.shape}, expected {ndim}")
    if arr.size:
        # Python ints so that uint64 values above int64's range compare correctly.
        low, high = int(arr.min()), int(arr.max())
        if low < lo:
            raise GoldenError(f"{name}: value {low} is below the minimum {lo}")
        if high > hi:
            raise GoldenError(f"{name}: value {high} is above the maximum {hi}")
    return arr.astype(np.int64)


def _float_array(value: npt.ArrayLike, name: str) -> F64:
    """Return ``value`` as a finite float64 array."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise GoldenError(f"{name}: dtype {arr.dtype} is not a real number type")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = out[~np.isfinite(out)].flat[0]
        raise GoldenError(f"{name}: value {bad} is not finite")
    return out


def _positive_scale(value: float, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite scale > 0."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise GoldenError(
            f"{name}: {value!r} is not a real number (expected a scale > 0)"
        ) from None
    if not (math.isfinite(scale) and scale > 0.0):
        raise GoldenError(f"{name}: scale {value!r} is not a finite number > 0")
    return scale


def _positive_scales(value: npt.ArrayLike, name: str) -> F64:
    """Return ``value`` as a float64 array of finite scales > 0."""
    arr = _float_array(value, name)
    if arr.size and float(arr.min()) <= 0.0:
        raise GoldenError(f"{name}: scale {float(arr.min())} is not > 0")
    return arr


def _int_param(value: int, name: str, lo: int, hi: int) -> int:
    """Return ``value`` as int after checking it is an integer (not bool) in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GoldenError(f"{name}: {value!r} is not an integer (expected one in [{lo}, {hi}])")
    if not lo <= int(value) <= hi:
        raise GoldenError(f"{name}: {value} is outside [{lo}, {hi}]")
    return int(value)


def _pair(value: int | Sequence[int], name: str, lo: int) -> tuple[int, int]:
    """Return ``(a, b)`` from an int or a 2-sequence of ints, each >= lo."""
    items = [value, value] if isinstance(value, int | np.integer) else list(value)
    if len(items) != 2:
        raise GoldenError(f"{name}: {value!r} has {len(items)} entries, expected 2")
    a, b = (_int_param(v, name, lo, INT32_MAX) for v in items)
    return a, b


def _padding(value: int | Sequence[int], name: str) -> tuple[int, int, int, int]:
    """Return ``(top, left, bottom, right)`` from an int or a 4-sequence of ints >= 0."""
    items = [value] * 4 if isinstance(value, int | np.integer) else list(value)
    if len(items) != 4:
        raise GoldenError(
            f"{name}: {value!r} has {len(items)} entries, expected 4 (top, left, bottom, right)"
        )
    top, left, bottom, right = (_int_param(v, name, 0, INT32_MAX) for v in items)
    return top, left, bottom, right


def _broadcast(shapes: Sequence[tuple[int, ...]], names: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise GoldenError(f"{names}: shapes {list(shapes)} do not broadcast") from None


def _check_int32(value: I64, what: str) -> I64:
    """Raise unless every element of ``value`` fits int32: ``what`` names the quantity."""
    if value.size:
        low, high = int(value.min()), int(value.max())
        if low < INT32_MIN or high > INT32_MAX:
            bad = low if low < INT32_MIN else high
            raise GoldenError(f"{what}: value {bad} does not fit int32 [{INT32_MIN}, {INT32_MAX}]")
    return value


def _mul32(a: I64, b: I64, what: str) -> I64:
    """Elementwise product that the hardware forms in int32: exact in int64, then checked."""
    return _check_int32(a * b, what)


# --------------------------------------------------------------------------------------------
# Requantisation
# --------------------------------------------------------------------------------------------


def round_shift(v: npt.ArrayLike, s: npt.ArrayLike) -> I64:
    """Arithmetic right shift by ``s`` rounding half up (toward +inf).

    ``round_shift(v, s) = (v + 2^(s-1)) >> s`` for ``s > 0`` and ``v`` for ``s = 0``.

    Parameters
    ----------
    v : array_like of int
        Values in int64 range.
    s : array_like of int
        Shifts in [0, 63]; broadcast against ``v`` (for example one shift per channel along the
        last axis).

    Returns
    -------
    numpy.ndarray of int64
        The rounded quotients ``round(v / 2^s)``, ties toward +inf, with the broadcast shape.

    Raises
    ------
    GoldenError
        If ``v`` or ``s`` is not an integer array, ``s`` is outside [0, 63], or the shapes do not
        broadcast.
    """
    v64 = _int_array(v, "round_shift: v", INT64_MIN, INT64_MAX)
    s64 = _int_array(s, "round_shift: s", 0, MAX_SHIFT)
    _broadcast([v64.shape, s64.shape], "round_shift: v and s")
    # floor(v / 2^s) plus the last bit shifted out equals (v + 2^(s-1)) >> s exactly, but the
    # addition form could overflow int64 for v near 2^63 while this form cannot.
    half_bit = np.where(s64 > 0, (v64 >> np.maximum(s64 - 1, 0)) & 1, 0)
    return np.asarray((v64 >> s64) + half_bit, dtype=np.int64)


def sat8(v: npt.ArrayLike) -> I8:
    """Saturate integers to int8: ``min(max(v, -128), 127)``.

    Parameters
    ----------
    v : array_like of int
        Values in int64 range.

    Returns
    -------
    numpy.ndarray of int8
        The saturated values.

    Raises
    ------
    GoldenError
        If ``v`` is not an integer array.
    """
    v64 = _int_array(v, "sat8: v", INT64_MIN, INT64_MAX)
    return np.clip(v64, INT8_MIN, INT8_MAX).astype(np.int8)


def requantize(acc: npt.ArrayLike, mult: npt.ArrayLike, shift: npt.ArrayLike) -> I8:
    """Requantise int32 accumulators to int8: ``sat8(round_shift(acc · M, s))``.

    Parameters
    ----------
    acc : array_like of int
        Accumulators in int32 range.
    mult : array_like of int
        Multipliers ``M`` in int32 range (``quantize_multiplier`` gives 0 or ``[2^30, 2^31)``);
        a scalar, or per channel along the last axis of ``acc`` (any broadcastable shape).
    shift : array_like of int
        Shifts in [0, 63], broadcast like ``mult``.

    Returns
    -------
    numpy.ndarray of int8
        The requantised values, with the broadcast shape of the arguments.

    Raises
    ------
    GoldenError
        If an argument is out of its range or the shapes do not broadcast.
    """
    acc64 = _int_array(acc, "requantize: acc", INT32_MIN, INT32_MAX)
    m64 = _int_array(mult, "requantize: mult", INT32_MIN, INT32_MAX)
    s64 = _int_array(shift, "requantize: shift", 0, MAX_SHIFT)
    _broadcast([acc64.shape, m64.shape, s64.shape], "requantize: acc, mult and shift")
    # |acc · M| <= 2^62, exact in int64; round_shift cannot overflow on it.
    return sat8(round_shift(acc64 * m64, s64))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Turn a non-negative real ratio into an integer multiplier and shift.

    Parameters
    ----------
    real : float
        The ratio ``r`` (for example ``s_acc / s_y``).

    Returns
    -------
    tuple of (int, int)
        ``(M, s)`` with ``M`` in ``[2^30, 2^31)``, ``s`` in [0, 63] and
        ``|M · 2^-s - r| / r < 2^-30``; ``(0, 0)`` for ``r = 0``.

    Raises
    ------
    GoldenError
        If ``r`` is negative or not finite, or needs a shift outside [0, 63]
        (roughly ``r >= 2^31`` or ``r < 2^-33``).
    """
    try:
        r = float(real)
    except (TypeError, ValueError):
        raise GoldenError(f"quantize_multiplier: ratio {real!r} is not a real number") from None
    if not (math.isfinite(r) and r >= 0.0):
        raise GoldenError(f"quantize_multiplier: ratio {real!r} is not a finite number >= 0")
    if r == 0.0:
        return 0, 0
    frac, exp = math.frexp(r)  # r = frac · 2^exp, frac in [0.5, 1)
    # frac · 2^31 is exact in float64, so this is the one rounding (half to even); the error is
    # at most 0.5 / 2^30 relative, below the 2^-30 the contract promises.
    mult = round(frac * (1 << MULT_BITS))
    if mult == 1 << MULT_BITS:
        mult >>= 1
        exp += 1
    shift = MULT_BITS - exp
    if not 0 <= shift <= MAX_SHIFT:
        raise GoldenError(
            f"quantize_multiplier: ratio {r!r} needs shift {shift}, outside [0, {MAX_SHIFT}]"
        )
    return mult, shift


def quantize_multipliers(reals: npt.ArrayLike) -> tuple[I64, I64]:
    """Vectorised :func:`quantize_multiplier` (for example one ratio per output channel).

    Parameters
    ----------
    reals : array_like of float
        Non-negative ratios.

    Returns
    -------
    tuple of (numpy.ndarray of int64, numpy.ndarray of int64)
        Multipliers and shifts with the shape of ``reals``.

    Raises
    ------
    GoldenError
        As :func:`quantize_multiplier`, for the first offending ratio.
    """
    arr = np.asarray(reals)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise GoldenError(f"quantize_multipliers: dtype {arr.dtype} is not a real number type")
    # Per-channel vectors are short; the scalar path keeps one definition of the rounding.
    pairs = [quantize_multiplier(float(r)) for r in arr.astype(np.float64).flat]
    mult = np.array([m for m, _ in pairs], dtype=np.int64).reshape(arr.shape)
    shift = np.array([s for _, s in pairs], dtype=np.int64).reshape(arr.shape)
    return mult, shift


# --------------------------------------------------------------------------------------------
# Host-side quantisation
# --------------------------------------------------------------------------------------------


def quantize(x: npt.ArrayLike, scale: float) -> I8:
    """Quantise a float tensor to int8: ``clip(rint(x / s), -128, 127)`` (zero point 0).

    Parameters
    ----------
    x : array_like of float
        Finite values.
    scale : float
        The per-tensor scale ``s > 0``.

    Returns
    -------
    numpy.ndarray of int8
        The quantised tensor.

    Raises
    ------
    GoldenError
        If ``x`` is not finite or ``scale`` is not a finite number > 0.
    """
    xf = _float_array(x, "quantize: x")
    s = _positive_scale(scale, "quantize: scale")
    with np.errstate(over="ignore"):  # an overflow to inf saturates like any large value
        q = np.rint(xf / s)
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q: npt.ArrayLike, scale: npt.ArrayLike) -> F64:
    """Map quantised integers back to reals: ``x = q · s``.

    Parameters
    ----------
    q : array_like of int
        Quantised values (any integer range, for example int8 activations or int32 states).
    scale : array_like of float
        Scale > 0, a scalar or broadcastable (for example per channel along the last axis).

    Returns
    -------
    numpy.ndarray of float64
        The real values.

    Raises
    ------
    GoldenError
        If ``q`` is not an integer array, a scale is not > 0, or the shapes do not broadcast.
    """
    q64 = _int_array(q, "dequantize: q", INT64_MIN, INT64_MAX)
    s = _positive_scales(scale, "dequantize: scale")
    _broadcast([q64.shape, s.shape], "dequantize: q and scale")
    return np.asarray(q64 * s, dtype=np.float64)


def quantize_weights(w: npt.ArrayLike, axis: int = -1) -> tuple[I8, F64]:
    """Quantise float weights symmetrically per output channel.

    ``s_w[n] = max|W[..., n, ...]| / 127`` (1.0 for an all-zero channel) and
    ``q = clip(rint(W / s_w), -127, 127)``.

    Parameters
    ----------
    w : array_like of float
        Weights, for example ``[K, N]`` (``axis=-1``) or HWIO (``axis=3`` or ``-1``).
    axis : int
        The output-channel axis.

    Returns
    -------
    tuple of (numpy.ndarray of int8, numpy.ndarray of float64)
        The quantised weights (same shape) and the per-channel scales ``[w.shape[axis]]``.

    Raises
    ------
    GoldenError
        If ``w`` is not finite or ``axis`` is not an axis of ``w``.
    """
    wf = _float_array(w, "quantize_weights: w")
    if wf.ndim == 0:
        raise GoldenError("quantize_weights: w is a scalar, expected an array with a channel axis")
    ax = _int_param(axis, "quantize_weights: axis", -wf.ndim, wf.ndim - 1)
    moved = np.moveaxis(wf, ax, -1)
    peak = np.max(np.abs(moved.reshape(-1, moved.shape[-1])), axis=0, initial=0.0)
    scales = np.where(peak > 0.0, peak / WEIGHT_MAX, 1.0)
    q = np.clip(np.rint(moved / scales), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return np.moveaxis(q, -1, ax), scales.astype(np.float64)


def quantize_bias(b: npt.ArrayLike, s_x: float, s_w: npt.ArrayLike) -> I32:
    """Quantise a float bias to the accumulator scale: ``rint(b / (s_x · s_w[n]))``.

    Parameters
    ----------
    b : array_like of float
        Bias ``[N]``.
    s_x : float
        Input activation scale.
    s_w : array_like of float
        Weight scales, scalar or ``[N]``.

    Returns
    -------
    numpy.ndarray of int32
        The quantised bias.

    Raises
    ------
    GoldenError
        If a value does not fit int32 or an argument is malformed.
    """
    bf = _float_array(b, "quantize_bias: b")
    sx = _positive_scale(s_x, "quantize_bias: s_x")
    sw = _positive_scales(s_w, "quantize_bias: s_w")
    _broadcast([bf.shape, sw.shape], "quantize_bias: b and s_w")
    with np.errstate(over="ignore"):  # inf is reported as out of int32 range below
        q = np.rint(bf / (sx * sw))
    if q.size and float(np.max(np.abs(q))) > INT32_MAX:
        idx = int(np.argmax(np.abs(q)))
        raise GoldenError(
            f"quantize_bias: bias {bf.flat[idx] if bf.ndim else float(bf)} quantises to "
            f"{float(q.flat[idx])}, which does not fit int32 [{INT32_MIN}, {INT32_MAX}]"
        )
    return q.astype(np.int32)


BIAS_LIMIT: Final = 1 << 30
"""Largest quantised bias magnitude :func:`quantize_layer` allows (half the int32 range)."""


def quantize_layer(
    w: npt.ArrayLike, b: npt.ArrayLike | None, s_x: float, axis: int = -1
) -> tuple[I8, F64, I32 | None]:
    """Quantise a layer's weights and bias together.

    Like :func:`quantize_weights` then :func:`quantize_bias`, except that a channel whose bias
    would need more than ``2^30`` at scale ``s_x · s_w[n]`` gets a larger weight scale
    ``|b[n]| / (s_x · 2^30)``. That happens for near-dead channels whose weights are tiny but
    whose bias is not; onnxruntime's quantiser adjusts the weight scale the same way.

    Parameters
    ----------
    w : array_like of float
        Weights with the output channels along ``axis``.
    b : array_like of float or None
        Bias ``[N]``.
    s_x : float
        Input activation scale.
    axis : int
        The output-channel axis of ``w``.

    Returns
    -------
    tuple
        ``(w_q, s_w, b_q)``: int8 weights, per-channel scales, int32 bias (or ``None``).

    Raises
    ------
    GoldenError
        If an argument is malformed.
    """
    wf = _float_array(w, "quantize_layer: w")
    _, scales = quantize_weights(wf, axis)
    sx = _positive_scale(s_x, "quantize_layer: s_x")
    if b is None:
        return quantize_weights(wf, axis)[0], scales, None
    bf = _float_array(b, "quantize_layer: b")
    _broadcast([bf.shape, scales.shape], "quantize_layer: b and the channel axis of w")
    scales = np.maximum(scales, np.abs(bf) / (sx * BIAS_LIMIT))
    moved = np.moveaxis(wf, axis, -1)
    q = np.clip(np.rint(moved / scales), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return np.moveaxis(q, -1, axis), scales, quantize_bias(bf, sx, scales)


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------


def clamp(q: npt.ArrayLike, lo: int, hi: int) -> I8:
    """Clamp int8 values to ``[lo, hi]`` (ReLU is ``clamp(q, 0, 127)``).

    Parameters
    ----------
    q : array_like of int
        int8 values.
    lo, hi : int
        Bounds in [-128, 127] with ``lo <= hi``.

    Returns
    -------
    numpy.ndarray of int8
        The clamped values.

    Raises
    ------
    GoldenError
        If a bound is outside int8 or ``lo > hi``, or ``q`` is not int8.
    """
    q64 = _int_array(q, "clamp: q", INT8_MIN, INT8_MAX)
    low = _int_param(lo, "clamp: lo", INT8_MIN, INT8_MAX)
    high = _int_param(hi, "clamp: hi", INT8_MIN, INT8_MAX)
    if low > high:
        raise GoldenError(f"clamp: lo {low} is above hi {high}")
    return np.clip(q64, low, high).astype(np.int8)


def _real_to_int8(value: float, s_y: float) -> int:
    """``clip(rint(value / s_y), -128, 127)`` for a single bound, robust to huge ratios."""
    ratio = value / s_y
    return (
        int(np.clip(np.rint(ratio), INT8_MIN, INT8_MAX))
        if math.isfinite(ratio)
        else (INT8_MAX if ratio > 0 else INT8_MIN)
    )


def relu6_bounds(s_y: float) -> tuple[int, int]:
    """Clamp bounds of ReLU6 at output scale ``s_y``: ``(0, min(127, rint(6 / s_y)))``.

    Parameters
    ----------
    s_y : float
        Output scale > 0.

    Returns
    -------
    tuple of (int, int)
        ``(lo, hi)``.

    Raises
    ------
    GoldenError
        If ``s_y`` is not a finite number > 0.
    """
    s = _positive_scale(s_y, "relu6_bounds: s_y")
    return 0, _real_to_int8(6.0, s)


def clip_bounds(a: float | None, b: float | None, s_y: float) -> tuple[int, int]:
    """Clamp bounds of ``Clip(a, b)`` at output scale ``s_y``.

    Parameters
    ----------
    a, b : float or None
        Real bounds; ``None`` (ONNX's missing min/max) means unbounded on that side.
    s_y : float
        Output scale > 0.

    Returns
    -------
    tuple of (int, int)
        ``(clip(rint(a / s_y)), clip(rint(b / s_y)))`` clipped to [-128, 127].

    Raises
    ------
    GoldenError
        If ``s_y`` is not > 0, a bound is NaN, or ``a > b``.
    """
    s = _positive_scale(s_y, "clip_bounds: s_y")
    lo_real = -math.inf if a is None else float(a)
    hi_real = math.inf if b is None else float(b)
    if math.isnan(lo_real) or math.isnan(hi_real) or lo_real > hi_real:
        raise GoldenError(f"clip_bounds: min {a!r} and max {b!r} are not an interval min <= max")
    return _real_to_int8(lo_real, s), _real_to_int8(hi_real, s)


def make_lut(fn: Callable[[F64], npt.ArrayLike], s_in: float, s_out: float) -> I8:
    """Build the 256-entry int8 lookup table of a scalar function.

    ``T[i] = clip(rint(fn((i - 128) · s_in) / s_out), -128, 127)`` for ``i`` in 0..255.

    Parameters
    ----------
    fn : callable
        Vectorised real function (called once on a float64 array of the 256 inputs).
    s_in, s_out : float
        Input and output scales > 0.

    Returns
    -------
    numpy.ndarray of int8
        The table, indexed by ``q + 128``.

    Raises
    ------
    GoldenError
        If a scale is not > 0, or ``fn`` returns the wrong shape or NaN.
    """
    si = _positive_scale(s_in, "make_lut: s_in")
    so = _positive_scale(s_out, "make_lut: s_out")
    inputs = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.float64) * si
    values = np.asarray(fn(inputs), dtype=np.float64)
    if values.shape != inputs.shape:
        raise GoldenError(f"make_lut: fn returned shape {values.shape}, expected {inputs.shape}")
    if np.any(np.isnan(values)):
        raise GoldenError(f"make_lut: fn returned NaN at input {inputs[np.isnan(values)][0]}")
    with np.errstate(over="ignore"):  # +-inf saturates
        q = np.rint(values / so)
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def _check_lut(table: npt.ArrayLike, name: str) -> I64:
    lut = _int_array(table, name, INT8_MIN, INT8_MAX, ndim=1)
    if lut.shape != (256,):
        raise GoldenError(f"{name}: has {lut.shape[0]} entries, expected 256")
    return lut


def apply_lut(q: npt.ArrayLike, table: npt.ArrayLike) -> I8:
    """Look int8 values up in a 256-entry table: ``T[q + 128]``.

    Parameters
    ----------
    q : array_like of int
        int8 values.
    table : array_like of int
        The table (256 int8 entries).

    Returns
    -------
    numpy.ndarray of int8
        The looked-up values, shaped like ``q``.

    Raises
    ------
    GoldenError
        If ``q`` is not int8 or ``table`` is not 256 int8 entries.
    """
    q64 = _int_array(q, "apply_lut: q", INT8_MIN, INT8_MAX)
    lut = _check_lut(table, "apply_lut: table")
    return lut[q64 - INT8_MIN].astype(np.int8)


def _sigmoid(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _tanh(x: F64) -> F64:
    return np.asarray(np.tanh(x), dtype=np.float64)


def _readonly(arr: npt.NDArray[np.generic]) -> None:
    arr.flags.writeable = False


SIGMOID_LUT: Final[I8] = make_lut(_sigmoid, SIGMOID_IN_SCALE, GATE_SCALE)
"""Recurrent sigmoid: input 2^-4, output 2^-7 (values in [0, 127])."""
TANH_LUT: Final[I8] = make_lut(_tanh, TANH_IN_SCALE, GATE_SCALE)
"""Recurrent tanh: input 2^-5, output 2^-7 (values in [-128, 127])."""
_readonly(SIGMOID_LUT)
_readonly(TANH_LUT)


@dataclass(frozen=True, eq=False)
class Activation:
    """The activation applied after ``sat8``: ``none``, ``clamp(lo, hi)`` or ``lut(table)``.

    Mirrors the store path's ``cfg_act`` modes. Build it with the class methods
    (:meth:`clamp`, :meth:`relu`, :meth:`relu6`, :meth:`clip`, :meth:`lookup`) or use
    :data:`NO_ACTIVATION`.

    Parameters
    ----------
    kind : {"none", "clamp", "lut"}
        The mode.
    lo, hi : int
        Clamp bounds in [-128, 127] (used by ``clamp``).
    table : numpy.ndarray of int8 or None
        The 256-entry table (``lut`` only; stored as a read-only copy).

    Raises
    ------
    GoldenError
        If the fields are inconsistent or out of range.
    """

    kind: Literal["none", "clamp", "lut"] = "none"
    lo: int = INT8_MIN
    hi: int = INT8_MAX
    table: I8 | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("none", "clamp", "lut"):
            raise GoldenError(f"Activation: kind {self.kind!r} is not 'none', 'clamp' or 'lut'")
        lo = _int_param(self.lo, "Activation: lo", INT8_MIN, INT8_MAX)
        hi = _int_param(self.hi, "Activation: hi", INT8_MIN, INT8_MAX)
        if lo > hi:
            raise GoldenError(f"Activation: lo {lo} is above hi {hi}")
        if (self.kind == "lut") != (self.table is not None):
            raise GoldenError(f"Activation: kind {self.kind!r} needs a table iff kind is 'lut'")
        if self.table is not None:
            table = _check_lut(self.table, "Activation: table").astype(np.int8)
            _readonly(table)
            object.__setattr__(self, "table", table)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @classmethod
    def clamp(cls, lo: int, hi: int) -> Activation:
        """Clamp to ``[lo, hi]`` in the output's int8 domain."""
        return cls("clamp", lo, hi)

    @classmethod
    def relu(cls) -> Activation:
        """ReLU: ``clamp(q, 0, 127)``."""
        return cls("clamp", 0, INT8_MAX)

    @classmethod
    def relu6(cls, s_y: float) -> Activation:
        """ReLU6 at output scale ``s_y`` (see :func:`relu6_bounds`)."""
        return cls("clamp", *relu6_bounds(s_y))

    @classmethod
    def clip(cls, a: float | None, b: float | None, s_y: float) -> Activation:
        """ONNX ``Clip(a, b)`` at output scale ``s_y`` (see :func:`clip_bounds`)."""
        return cls("clamp", *clip_bounds(a, b, s_y))

    @classmethod
    def lookup(cls, table: npt.ArrayLike) -> Activation:
        """Lookup table (for example from :func:`make_lut`)."""
        return cls("lut", table=np.asarray(table))

    def apply(self, q: npt.ArrayLike) -> I8:
        """Apply the activation to int8 values.

        Parameters
        ----------
        q : array_like of int
            int8 values (after ``sat8``).

        Returns
        -------
        numpy.ndarray of int8
            The activated values.
        """
        if self.kind == "clamp":
            return clamp(q, self.lo, self.hi)
        if self.kind == "lut":
            assert self.table is not None  # guaranteed by __post_init__
            return apply_lut(q, self.table)
        return _int_array(q, "Activation.apply: q", INT8_MIN, INT8_MAX).astype(np.int8)


NO_ACTIVATION: Final = Activation()
"""The identity activation."""


def _describe(value: object) -> str:
    """Short description of a wrong-typed argument: a scalar's repr, otherwise its type."""
    if value is None or isinstance(value, str | int | float | bool):
        return repr(value)
    return f"a {type(value).__name__}"


def _check_act(act: Activation, name: str) -> Activation:
    if not isinstance(act, Activation):
        raise GoldenError(f"{name}: {_describe(act)} is not an Activation")
    return act


# --------------------------------------------------------------------------------------------
# Matmul, fully connected, conv
# --------------------------------------------------------------------------------------------


def _check_acc_bound(x: I64, w: I64, bias: I64, op: str) -> None:
    """Raise if some output's ``Σ|x·w| + |bias|`` reaches 2^31 (``x @ w`` with broadcasting)."""
    k = x.shape[-1]
    peak_x = int(np.max(np.abs(x), initial=0))
    peak_w = int(np.max(np.abs(w), initial=0))
    peak_b = int(np.max(np.abs(bias), initial=0))
    # Cheap sufficient bound first: it holds for any realistic layer and skips a second matmul.
    if peak_x * peak_w * k + peak_b < ACC_LIMIT:
        return
    magnitude = np.matmul(np.abs(x), np.abs(w)) + np.abs(bias)
    worst = int(np.max(magnitude, initial=0))
    if worst >= ACC_LIMIT:
        where = np.unravel_index(int(np.argmax(magnitude)), magnitude.shape)
        raise GoldenError(
            f"{op}: accumulator bound Σ|x·w| + |bias| = {worst} at output "
            f"{tuple(int(i) for i in where)} reaches 2^31 = {ACC_LIMIT} "
            f"(the int32 accumulator could overflow)"
        )


def check_accumulator(
    x: npt.ArrayLike, w: npt.ArrayLike, bias: npt.ArrayLike | None = None, op: str = "matmul"
) -> None:
    """Check that no int32 accumulator of ``x @ w + bias`` can overflow, in any summation order.

    For every output, ``Σ_k |x[..., k] · w[k, n]| + |bias[n]|`` must stay below 2^31.

    Parameters
    ----------
    x : array_like of int
        int8 inputs ``[..., K]``.
    w : array_like of int
        int8 weights ``[K, N]`` (or batched ``[..., K, N]`` as for ``numpy.matmul``).
    bias : array_like of int, optional
        int32 bias ``[N]``.
    op : str
        Operator name used in the error message.

    Raises
    ------
    GoldenError
        If the bound reaches 2^31 (the message names ``op`` and the bound), or an argument is
        malformed.
    """
    x64 = _int_array(x, f"{op}: x", INT8_MIN, INT8_MAX)
    w64 = _int_array(w, f"{op}: w", INT8_MIN, INT8_MAX)
    b64 = _int_array(0 if bias is None else bias, f"{op}: bias", INT32_MIN, INT32_MAX)
    if x64.ndim < 1 or w64.ndim < 2 or x64.shape[-1] != w64.shape[-2]:
        raise GoldenError(
            f"{op}: x {x64.shape} and w {w64.shape} do not chain as [..., K] @ [K, N]"
        )
    if b64.shape not in ((), (w64.shape[-1],)):
        raise GoldenError(f"{op}: bias has shape {b64.shape}, expected () or ({w64.shape[-1]},)")
    _broadcast([x64.shape[:-1], w64.shape[:-2]], f"{op}: batch axes of x and w")
    _check_acc_bound(x64, w64, b64, op)


def _matmul_checked(x: I64, w: I64, bias: I64, op: str) -> I64:
    _check_acc_bound(x, w, bias, op)
    return np.asarray(np.matmul(x, w) + bias, dtype=np.int64)


def _bias_or_zero(bias: npt.ArrayLike | None, n: int, op: str) -> I64:
    if bias is None:
        return np.zeros(n, dtype=np.int64)
    b = _int_array(bias, f"{op}: bias", INT32_MIN, INT32_MAX, ndim=1)
    if b.shape[0] != n:
        raise GoldenError(f"{op}: bias has {b.shape[0]} entries, expected {n} (output channels)")
    return b


def _check_quant_params(mult: npt.ArrayLike, shift: npt.ArrayLike, n: int, op: str) -> None:
    """Per-channel requant parameters must be scalars or ``[n]`` so that they align with lanes."""
    for name, value in (("mult", mult), ("shift", shift)):
        shape = np.shape(value)
        if shape not in ((), (n,)):
            raise GoldenError(f"{op}: {name} has shape {shape}, expected () or ({n},)")


def matmul_acc(
    x: npt.ArrayLike, w: npt.ArrayLike, bias: npt.ArrayLike | None = None, op: str = "matmul"
) -> I32:
    """Integer matmul with int32 accumulation: ``acc[m, n] = Σ_k x[m, k] · w[k, n] + bias[n]``.

    Parameters
    ----------
    x : array_like of int
        int8 inputs ``[M, K]``.
    w : array_like of int
        int8 weights ``[K, N]``.
    bias : array_like of int, optional
        int32 bias ``[N]`` (zero if omitted).
    op : str
        Operator name used in error messages.

    Returns
    -------
    numpy.ndarray of int32
        The accumulators ``[M, N]``.

    Raises
    ------
    GoldenError
        If an argument is malformed or an accumulator could overflow int32.
    """
    x64 = _int_array(x, f"{op}: x", INT8_MIN, INT8_MAX, ndim=2)
    w64 = _int_array(w, f"{op}: w", INT8_MIN, INT8_MAX, ndim=2)
    if x64.shape[1] != w64.shape[0]:
        raise GoldenError(
            f"{op}: x has K = {x64.shape[1]} columns but w has {w64.shape[0]} rows (w is [K, N])"
        )
    b64 = _bias_or_zero(bias, w64.shape[1], op)
    return _matmul_checked(x64, w64, b64, op).astype(np.int32)


def fully_connected(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    mult: npt.ArrayLike,
    shift: npt.ArrayLike,
    act: Activation = NO_ACTIVATION,
) -> I8:
    """Fully connected layer: ``act(requant(x @ w + bias, M[n], s[n]))``.

    Parameters
    ----------
    x : array_like of int
        int8 inputs ``[M, K]``.
    w : array_like of int
        int8 weights ``[K, N]`` (input x output).
    bias : array_like of int or None
        int32 bias ``[N]`` at scale ``s_x · s_w[n]``.
    mult, shift : array_like of int
        Requantisation parameters, scalars or ``[N]``.
    act : Activation
        Activation after ``sat8``.

    Returns
    -------
    numpy.ndarray of int8
        The outputs ``[M, N]``.

    Raises
    ------
    GoldenError
        If an argument is malformed or an accumulator could overflow int32.
    """
    acc = matmul_acc(x, w, bias, op="fully_connected")
    _check_quant_params(mult, shift, acc.shape[1], "fully_connected")
    return _check_act(act, "fully_connected: act").apply(requantize(acc, mult, shift))


def conv2d_output_size(
    size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int = 1
) -> int:
    """Output extent of a conv or pool along one axis (floor mode).

    ``(size + pad_before + pad_after - dilation · (kernel - 1) - 1) // stride + 1``.

    Parameters
    ----------
    size, kernel, stride, pad_before, pad_after, dilation : int
        The axis's input extent, kernel extent, stride, paddings and dilation.

    Returns
    -------
    int
        The output extent; may be <= 0 when the kernel does not fit (callers reject that).
    """
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _windows(
    xp: I64,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out: tuple[int, int],
) -> list[list[I64]]:
    """Strided views ``xp[:, i·dh + sh·oy, j·dw + sw·ox, :]`` for each kernel tap ``(i, j)``."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    return [
        [
            xp[
                :,
                i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                j * dw : j * dw + sw * (ow - 1) + 1 : sw,
            ]
            for j in range(kw)
        ]
        for i in range(kh)
    ]


def conv2d_acc(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> I32:
    """Int32 accumulators of a 2-D convolution (NHWC input, HWIO weights, zero padding).

    Parameters
    ----------
    x : array_like of int
        int8 input ``[N, H, W, Cin]``.
    w : array_like of int
        int8 weights ``[KH, KW, Cin / groups, Cout]``.
    bias : array_like of int, optional
        int32 bias ``[Cout]``.
    stride : int or (int, int)
        ``(sh, sw)``, each >= 1.
    padding : int or (int, int, int, int)
        ``(top, left, bottom, right)`` zero padding, each >= 0.
    dilation : int or (int, int)
        ``(dh, dw)``, each >= 1.
    groups : int
        Channel groups: ``Cin`` and ``Cout`` divisible by it (depthwise: ``groups = Cin``).

    Returns
    -------
    numpy.ndarray of int32
        Accumulators ``[N, OH, OW, Cout]``.

    Raises
    ------
    GoldenError
        If an argument is malformed, the output would be empty, or an accumulator could
        overflow int32.
    """
    op = "conv2d"
    x64 = _int_array(x, f"{op}: x", INT8_MIN, INT8_MAX, ndim=4)
    w64 = _int_array(w, f"{op}: w", INT8_MIN, INT8_MAX, ndim=4)
    sh, sw = _pair(stride, f"{op}: stride", 1)
    dh, dw = _pair(dilation, f"{op}: dilation", 1)
    top, left, bottom, right = _padding(padding, f"{op}: padding")
    n, h, wd, cin = x64.shape
    kh, kw, cg, cout = w64.shape
    g = _int_param(groups, f"{op}: groups", 1, max(cin, 1))
    if cin % g or cout % g:
        raise GoldenError(f"{op}: groups {g} does not divide Cin {cin} and Cout {cout}")
    if cg != cin // g:
        raise GoldenError(
            f"{op}: w has {cg} input channels per group (w.shape[2]), expected Cin / groups = "
            f"{cin} / {g} = {cin // g}"
        )
    if min(kh, kw, cout) < 1:
        raise GoldenError(f"{op}: w shape {w64.shape} has an empty kernel or no output channels")
    oh = conv2d_output_size(h, kh, sh, top, bottom, dh)
    ow = conv2d_output_size(wd, kw, sw, left, right, dw)
    if oh < 1 or ow < 1:
        raise GoldenError(
            f"{op}: output size {oh}x{ow} is empty (input {h}x{wd}, padding "
            f"{(top, left, bottom, right)}, dilated kernel {dh * (kh - 1) + 1}x{dw * (kw - 1) + 1})"
        )
    b64 = _bias_or_zero(bias, cout, op)

    xp = np.pad(x64, ((0, 0), (top, bottom), (left, right), (0, 0)))
    taps = _windows(xp, (kh, kw), (sh, sw), (dh, dw), (oh, ow))
    # im2col: patches[n, oy, ox, i, j, c] = padded input under kernel tap (i, j).
    patches = np.stack([np.stack(row, axis=3) for row in taps], axis=3)
    p = n * oh * ow
    cog = cout // g
    # Each group is an independent [P, KH·KW·Cg] @ [KH·KW·Cg, Cout/g] matmul; batching over the
    # leading group axis keeps depthwise convs (many tiny groups) fast too.
    cols = patches.reshape(p, kh, kw, g, cg).transpose(3, 0, 1, 2, 4).reshape(g, p, kh * kw * cg)
    wg = w64.reshape(kh, kw, cg, g, cog).transpose(3, 0, 1, 2, 4).reshape(g, kh * kw * cg, cog)
    acc = _matmul_checked(cols, wg, b64.reshape(g, 1, cog), op)  # [G, P, Cout/g]
    return acc.transpose(1, 0, 2).reshape(n, oh, ow, cout).astype(np.int32)


def conv2d(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    mult: npt.ArrayLike,
    shift: npt.ArrayLike,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    act: Activation = NO_ACTIVATION,
) -> I8:
    """2-D convolution: ``act(requant(conv(x, w) + bias, M[c], s[c]))`` per output channel.

    Parameters
    ----------
    x, w, bias, stride, padding, dilation, groups
        As :func:`conv2d_acc`.
    mult, shift : array_like of int
        Requantisation parameters, scalars or ``[Cout]``.
    act : Activation
        Activation after ``sat8``.

    Returns
    -------
    numpy.ndarray of int8
        Output ``[N, OH, OW, Cout]``.

    Raises
    ------
    GoldenError
        As :func:`conv2d_acc`, or if the requantisation parameters are malformed.
    """
    acc = conv2d_acc(x, w, bias, stride, padding, dilation, groups)
    _check_quant_params(mult, shift, acc.shape[3], "conv2d")
    return _check_act(act, "conv2d: act").apply(requantize(acc, mult, shift))


# --------------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------------


def _pool_geometry(
    x: npt.ArrayLike,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    padding: int | Sequence[int],
    op: str,
) -> tuple[I64, tuple[int, int], tuple[int, int], tuple[int, int, int, int], tuple[int, int]]:
    x64 = _int_array(x, f"{op}: x", INT8_MIN, INT8_MAX, ndim=4)
    kh, kw = _pair(kernel, f"{op}: kernel", 1)
    sh, sw = _pair(stride, f"{op}: stride", 1)
    pads = _padding(padding, f"{op}: padding")
    top, left, bottom, right = pads
    # ONNX's rule; it also guarantees that every window holds at least one real element.
    if max(top, bottom) >= kh or max(left, right) >= kw:
        raise GoldenError(
            f"{op}: padding {pads} must be smaller than the kernel {(kh, kw)} on every side"
        )
    _, h, w, _ = x64.shape
    oh = conv2d_output_size(h, kh, sh, top, bottom)
    ow = conv2d_output_size(w, kw, sw, left, right)
    if oh < 1 or ow < 1:
        raise GoldenError(f"{op}: output size {oh}x{ow} is empty (input {h}x{w}, kernel {kh}x{kw})")
    return x64, (kh, kw), (sh, sw), pads, (oh, ow)


def max_pool2d(
    x: npt.ArrayLike,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    padding: int | Sequence[int] = 0,
) -> I8:
    """Max pool over an NHWC int8 tensor; the output keeps the input scale.

    Parameters
    ----------
    x : array_like of int
        int8 input ``[N, H, W, C]``.
    kernel : int or (int, int)
        Window ``(KH, KW)``.
    stride : int or (int, int)
        ``(sh, sw)``, each >= 1. Required: ONNX defaults it to 1, PyTorch to the kernel.
    padding : int or (int, int, int, int)
        ``(top, left, bottom, right)``; padded positions never win. Each must be smaller than
        the kernel.

    Returns
    -------
    numpy.ndarray of int8
        Output ``[N, OH, OW, C]``.

    Raises
    ------
    GoldenError
        If an argument is malformed or the output would be empty.
    """
    x64, kernel2, stride2, (top, left, bottom, right), out = _pool_geometry(
        x, kernel, stride, padding, "max_pool2d"
    )
    # Any value below -128 loses to every real element; each window holds one (checked above).
    xp = np.pad(x64, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=INT8_MIN - 1)
    taps = [t for row in _windows(xp, kernel2, stride2, (1, 1), out) for t in row]
    result = taps[0]
    for tap in taps[1:]:
        result = np.maximum(result, tap)
    return result.astype(np.int8)


def _check_window(count: int, op: str) -> None:
    """The pool's accumulator bound: a window of ``count`` int8 values sums below 2^31."""
    if count * -INT8_MIN >= ACC_LIMIT:
        raise GoldenError(
            f"{op}: accumulator bound of a {count}-element window, {count} · 128 = "
            f"{count * -INT8_MIN}, reaches 2^31 = {ACC_LIMIT}"
        )


def _pool_requant(sums: I64, counts: I64, s_x: float, s_y: float, op: str) -> I8:
    """``requant(sum, quantize_multiplier(s_x / (s_y · c)))`` with one multiplier per count."""
    unique, inverse = np.unique(counts, return_inverse=True)
    mult, shift = quantize_multipliers(s_x / (s_y * unique.astype(np.float64)))
    return requantize(
        sums, mult[inverse].reshape(counts.shape), shift[inverse].reshape(counts.shape)
    )


def avg_pool2d(
    x: npt.ArrayLike,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    padding: int | Sequence[int] = 0,
    count_include_pad: bool = False,
    *,
    s_x: float,
    s_y: float,
) -> I8:
    """Average pool: window sum, then ``requant`` with ``quantize_multiplier(s_x / (s_y · c))``.

    Parameters
    ----------
    x : array_like of int
        int8 input ``[N, H, W, C]`` at scale ``s_x``.
    kernel : int or (int, int)
        Window ``(KH, KW)``.
    stride : int or (int, int)
        ``(sh, sw)``, each >= 1. Required: ONNX defaults it to 1, PyTorch to the kernel.
    padding : int or (int, int, int, int)
        ``(top, left, bottom, right)`` zero padding, each smaller than the kernel.
    count_include_pad : bool
        ``c = KH · KW`` everywhere if true; otherwise ``c`` counts the window's real elements
        (per output position), as ONNX ``AveragePool``'s attribute of the same name.
    s_x, s_y : float
        Input and output scales.

    Returns
    -------
    numpy.ndarray of int8
        Output ``[N, OH, OW, C]`` at scale ``s_y``.

    Raises
    ------
    GoldenError
        If an argument is malformed, the output would be empty, or a ratio needs a shift
        outside [0, 63].
    """
    op = "avg_pool2d"
    x64, (kh, kw), stride2, (top, left, bottom, right), out = _pool_geometry(
        x, kernel, stride, padding, op
    )
    sx = _positive_scale(s_x, f"{op}: s_x")
    sy = _positive_scale(s_y, f"{op}: s_y")
    if not isinstance(count_include_pad, bool | np.bool_):
        raise GoldenError(f"{op}: count_include_pad {count_include_pad!r} is not a bool")
    _check_window(kh * kw, op)
    xp = np.pad(x64, ((0, 0), (top, bottom), (left, right), (0, 0)))
    sums = sum(
        (t for row in _windows(xp, (kh, kw), stride2, (1, 1), out) for t in row),
        start=np.zeros((x64.shape[0], *out, x64.shape[3]), dtype=np.int64),
    )
    if count_include_pad:
        counts = np.full((1, *out, 1), kh * kw, dtype=np.int64)
    else:
        ones = np.pad(
            np.ones((1, *x64.shape[1:3], 1), dtype=np.int64),
            ((0, 0), (top, bottom), (left, right), (0, 0)),
        )
        counts = sum(
            (t for row in _windows(ones, (kh, kw), stride2, (1, 1), out) for t in row),
            start=np.zeros((1, *out, 1), dtype=np.int64),
        )
    return _pool_requant(sums, counts, sx, sy, op)


def global_avg_pool(x: npt.ArrayLike, *, s_x: float, s_y: float) -> I8:
    """Global average pool (also ReduceMean over H, W with keepdims): ``c = H · W``.

    Parameters
    ----------
    x : array_like of int
        int8 input ``[N, H, W, C]`` at scale ``s_x``.
    s_x, s_y : float
        Input and output scales.

    Returns
    -------
    numpy.ndarray of int8
        Output ``[N, 1, 1, C]`` at scale ``s_y``.

    Raises
    ------
    GoldenError
        If an argument is malformed, the window sum could overflow int32, or the ratio needs a
        shift outside [0, 63].
    """
    op = "global_avg_pool"
    x64 = _int_array(x, f"{op}: x", INT8_MIN, INT8_MAX, ndim=4)
    sx = _positive_scale(s_x, f"{op}: s_x")
    sy = _positive_scale(s_y, f"{op}: s_y")
    count = x64.shape[1] * x64.shape[2]
    if count < 1:
        raise GoldenError(f"{op}: x has an empty spatial extent {x64.shape[1:3]}")
    _check_window(count, op)
    sums = x64.sum(axis=(1, 2), keepdims=True)
    return _pool_requant(sums, np.full((1, 1, 1, 1), count, dtype=np.int64), sx, sy, op)


# --------------------------------------------------------------------------------------------
# Add, softmax
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddParams:
    """Integer parameters of a quantised :func:`add`, for the compiler to emit.

    Attributes
    ----------
    m_a, m_b : int
        Non-negative int16 input multipliers (the larger input scale gets ``2^14``).
    mult, shift : int
        Output requantisation ``quantize_multiplier(acc_scale / s_y)``.
    acc_scale : float
        Scale of ``acc = a · m_a + b · m_b``.
    """

    m_a: int
    m_b: int
    mult: int
    shift: int
    acc_scale: float


def add_params(s_a: float, s_b: float, s_y: float) -> AddParams:
    """Integer parameters of ``y = a + b`` for input scales ``s_a``, ``s_b`` and output ``s_y``.

    The larger scale's multiplier is ``2^14``, the other is ``rint(2^14 · s_small / s_large)``;
    the accumulator scale is ``s_a / m_a`` (``s_b / m_b`` when ``m_a`` rounds to 0, where
    ``s_a / m_a`` is undefined and ``a`` no longer contributes).

    Parameters
    ----------
    s_a, s_b, s_y : float
        Scales > 0.

    Returns
    -------
    AddParams
        The multipliers and requantisation parameters.

    Raises
    ------
    GoldenError
        If a scale is not > 0 or the output ratio needs a shift outside [0, 63].
    """
    sa = _positive_scale(s_a, "add: s_a")
    sb = _positive_scale(s_b, "add: s_b")
    sy = _positive_scale(s_y, "add: s_y")
    if sa >= sb:
        m_a, m_b = ADD_ONE, int(np.rint(ADD_ONE * (sb / sa)))
    else:
        m_a, m_b = int(np.rint(ADD_ONE * (sa / sb))), ADD_ONE
    acc_scale = sa / m_a if m_a > 0 else sb / m_b
    mult, shift = quantize_multiplier(acc_scale / sy)
    return AddParams(m_a, m_b, mult, shift, acc_scale)


def add_int(
    a: npt.ArrayLike, b: npt.ArrayLike, params: AddParams, act: Activation = NO_ACTIVATION
) -> I8:
    """Quantised add from precomputed parameters: ``act(requant(a · m_a + b · m_b, M, s))``.

    Parameters
    ----------
    a, b : array_like of int
        int8 inputs (NumPy broadcasting applies).
    params : AddParams
        From :func:`add_params`.
    act : Activation
        Activation after ``sat8`` (typically a fused ReLU clamp).

    Returns
    -------
    numpy.ndarray of int8
        The sum at the output scale.

    Raises
    ------
    GoldenError
        If an argument is malformed or the shapes do not broadcast.
    """
    if not isinstance(params, AddParams):
        raise GoldenError(f"add: params {_describe(params)} is not an AddParams")
    a64 = _int_array(a, "add: a", INT8_MIN, INT8_MAX)
    b64 = _int_array(b, "add: b", INT8_MIN, INT8_MAX)
    m_a = _int_param(params.m_a, "add: m_a", 0, ADD_ONE)
    m_b = _int_param(params.m_b, "add: m_b", 0, ADD_ONE)
    _broadcast([a64.shape, b64.shape], "add: a and b")
    acc = _check_int32(a64 * m_a + b64 * m_b, "add: a·m_a + b·m_b")
    return _check_act(act, "add: act").apply(requantize(acc, params.mult, params.shift))


def add(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    s_a: float,
    s_b: float,
    s_y: float,
    act: Activation = NO_ACTIVATION,
) -> I8:
    """Quantised residual add ``y = a + b`` (see :func:`add_params` for the integer scheme).

    Parameters
    ----------
    a, b : array_like of int
        int8 inputs at scales ``s_a`` and ``s_b``.
    s_a, s_b, s_y : float
        Input and output scales.
    act : Activation
        Activation after ``sat8``.

    Returns
    -------
    numpy.ndarray of int8
        The sum at scale ``s_y``.

    Raises
    ------
    GoldenError
        If an argument is malformed.
    """
    return add_int(a, b, add_params(s_a, s_b, s_y), act)


def softmax(q: npt.ArrayLike, scale: float, axis: int = -1) -> F32:
    """Host-side softmax in float32 on dequantised logits (not run on the accelerator).

    Parameters
    ----------
    q : array_like of int
        int8 logits.
    scale : float
        Their scale.
    axis : int
        The class axis.

    Returns
    -------
    numpy.ndarray of float32
        Probabilities.
    """
    logits = dequantize(_int_array(q, "softmax: q", INT8_MIN, INT8_MAX), scale).astype(np.float32)
    shifted = logits - logits.max(axis=axis, keepdims=True)  # exp cannot overflow
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=axis, keepdims=True), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Recurrent cells
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class QuantGate:
    """One recurrent gate in integer form: ``LUT(requant(x·wx + h·wh + bias, mult, shift))``.

    Both products share the per-channel scale ``scale`` (``s_g``), see :func:`quantize_gate`.

    Parameters
    ----------
    wx : numpy.ndarray of int8
        Input weights ``[I, H]``.
    wh : numpy.ndarray of int8
        Recurrent weights ``[H, H]``.
    bias : numpy.ndarray of int32
        Bias ``[H]`` at scale ``s_g``. For the candidate of a GRU with
        ``linear_before_reset = 1`` this is the input-side bias ``Wbn`` only.
    mult, shift : numpy.ndarray of int64
        Requantisation to the LUT input scale, ``[H]``.
    lut_in_scale : float
        The LUT input scale the requantisation targets (``SIGMOID_IN_SCALE`` or
        ``TANH_IN_SCALE``); the cells check it to catch swapped gates.
    scale : numpy.ndarray of float64
        ``s_g`` per channel (informational, for dequantising accumulators).
    bias_h : numpy.ndarray of int32 or None
        The recurrent-side bias ``Rbn`` of a GRU candidate with ``linear_before_reset = 1``.

    Raises
    ------
    GoldenError
        If the arrays are out of range or their shapes are inconsistent.
    """

    wx: I8
    wh: I8
    bias: I32
    mult: I64
    shift: I64
    lut_in_scale: float
    scale: F64
    bias_h: I32 | None = None

    def __post_init__(self) -> None:
        wx = _int_array(self.wx, "QuantGate: wx", INT8_MIN, INT8_MAX, ndim=2).astype(np.int8)
        wh = _int_array(self.wh, "QuantGate: wh", INT8_MIN, INT8_MAX, ndim=2).astype(np.int8)
        hidden = wx.shape[1]
        if wh.shape != (hidden, hidden):
            raise GoldenError(f"QuantGate: wh has shape {wh.shape}, expected {(hidden, hidden)}")
        arrays: dict[str, npt.NDArray[np.generic]] = {"wx": wx, "wh": wh}
        for name, lo, hi, dtype in (
            ("bias", INT32_MIN, INT32_MAX, np.int32),
            ("mult", INT32_MIN, INT32_MAX, np.int64),
            ("shift", 0, MAX_SHIFT, np.int64),
        ):
            arr = _int_array(getattr(self, name), f"QuantGate: {name}", lo, hi, ndim=1)
            if arr.shape != (hidden,):
                raise GoldenError(f"QuantGate: {name} has shape {arr.shape}, expected {(hidden,)}")
            arrays[name] = arr.astype(dtype)
        if self.bias_h is not None:
            bh = _int_array(self.bias_h, "QuantGate: bias_h", INT32_MIN, INT32_MAX, ndim=1)
            if bh.shape != (hidden,):
                raise GoldenError(f"QuantGate: bias_h has shape {bh.shape}, expected {(hidden,)}")
            arrays["bias_h"] = bh.astype(np.int32)
        scale = _positive_scales(self.scale, "QuantGate: scale")
        if scale.shape != (hidden,):
            raise GoldenError(f"QuantGate: scale has shape {scale.shape}, expected {(hidden,)}")
        arrays["scale"] = scale
        for name, value in arrays.items():
            frozen = value.copy()
            _readonly(frozen)
            object.__setattr__(self, name, frozen)
        object.__setattr__(
            self, "lut_in_scale", _positive_scale(self.lut_in_scale, "QuantGate: lut_in_scale")
        )

    @property
    def input_size(self) -> int:
        """``I``, the input width."""
        return int(self.wx.shape[0])

    @property
    def hidden_size(self) -> int:
        """``H``, the hidden width."""
        return int(self.wx.shape[1])


def _check_gates(gates: Sequence[tuple[str, QuantGate, float]], cell: str) -> None:
    """All gates of a cell share I and H and each targets the right LUT."""
    first = gates[0][1]
    for name, gate, lut_scale in gates:
        if not isinstance(gate, QuantGate):
            raise GoldenError(f"{cell}: gate {name} is {_describe(gate)}, not a QuantGate")
        if gate.wx.shape != first.wx.shape:
            raise GoldenError(
                f"{cell}: gate {name} has wx shape {gate.wx.shape}, gate {gates[0][0]} has "
                f"{first.wx.shape}"
            )
        if gate.lut_in_scale != lut_scale:
            raise GoldenError(
                f"{cell}: gate {name} targets LUT input scale {gate.lut_in_scale}, expected "
                f"{lut_scale}"
            )


@dataclass(frozen=True, eq=False)
class LSTMWeights:
    """Integer weights of an LSTM cell: gates i, f, o (sigmoid) and g (tanh).

    Parameters
    ----------
    i, f, g, o : QuantGate
        Input, forget, cell-candidate and output gates; all share ``I`` and ``H``.

    Raises
    ------
    GoldenError
        If a gate targets the wrong LUT scale, the shapes differ, or a gate has ``bias_h``.
    """

    i: QuantGate
    f: QuantGate
    g: QuantGate
    o: QuantGate

    def __post_init__(self) -> None:
        s, t = SIGMOID_IN_SCALE, TANH_IN_SCALE
        gates = [("i", self.i, s), ("f", self.f, s), ("g", self.g, t), ("o", self.o, s)]
        _check_gates(gates, "LSTMWeights")
        for name, gate, _ in gates:
            if gate.bias_h is not None:
                raise GoldenError(f"LSTMWeights: gate {name} has bias_h; LSTM biases are summed")


@dataclass(frozen=True, eq=False)
class GRUWeights:
    """Integer weights of a GRU cell: gates z, r (sigmoid) and candidate n (tanh).

    Parameters
    ----------
    z, r, n : QuantGate
        Update, reset and candidate gates; all share ``I`` and ``H``. ``n.bias_h`` (the
        recurrent candidate bias ``Rbn``) is present exactly when ``linear_before_reset``.
    linear_before_reset : bool
        The ONNX attribute: whether ``r`` multiplies ``h·Rn + Rbn`` (true) or ``h`` (false).

    Raises
    ------
    GoldenError
        If a gate targets the wrong LUT scale, the shapes differ, or ``bias_h`` does not match
        ``linear_before_reset``.
    """

    z: QuantGate
    r: QuantGate
    n: QuantGate
    linear_before_reset: bool

    def __post_init__(self) -> None:
        s, t = SIGMOID_IN_SCALE, TANH_IN_SCALE
        _check_gates([("z", self.z, s), ("r", self.r, s), ("n", self.n, t)], "GRUWeights")
        if not isinstance(self.linear_before_reset, bool):
            raise GoldenError(
                f"GRUWeights: linear_before_reset {self.linear_before_reset!r} is not a bool"
            )
        for name, gate in (("z", self.z), ("r", self.r)):
            if gate.bias_h is not None:
                raise GoldenError(f"GRUWeights: gate {name} has bias_h; z and r biases are summed")
        if self.linear_before_reset != (self.n.bias_h is not None):
            raise GoldenError(
                f"GRUWeights: gate n {'lacks' if self.linear_before_reset else 'has'} bias_h, "
                f"but linear_before_reset is {self.linear_before_reset}"
            )


def quantize_gate(
    wx: npt.ArrayLike,
    wh: npt.ArrayLike,
    b: npt.ArrayLike | None,
    s_x: float,
    lut_in_scale: float,
    *,
    b_h: npt.ArrayLike | None = None,
) -> QuantGate:
    """Quantise one float gate into the shared-scale integer form of the contract.

    ``s_g[n] = max(s_x · max|wx[:, n]|, 2^-7 · max|wh[:, n]|) / 127``; ``wx`` is quantised with
    scale ``s_g / s_x`` and ``wh`` with ``s_g / 2^-7`` (both clipped to [-127, 127]), the bias
    with ``s_g``, and ``(M, s) = quantize_multiplier(s_g / lut_in_scale)``. A channel whose
    weights are all zero gets ``s_g = 2^-7 / 127`` (the scale of a unit recurrent weight), so
    that its bias still quantises finely.

    Parameters
    ----------
    wx : array_like of float
        Input weights ``[I, H]``.
    wh : array_like of float
        Recurrent weights ``[H, H]``.
    b : array_like of float or None
        Bias ``[H]`` (input and recurrent biases summed), zero if None.
    s_x : float
        Scale of the int8 input sequence.
    lut_in_scale : float
        ``SIGMOID_IN_SCALE`` or ``TANH_IN_SCALE``.
    b_h : array_like of float, optional
        Separate recurrent bias (only the GRU candidate with ``linear_before_reset = 1``).

    Returns
    -------
    QuantGate
        The integer gate.

    Raises
    ------
    GoldenError
        If an argument is malformed, a bias does not fit int32, or a ratio needs a shift
        outside [0, 63].
    """
    op = "quantize_gate"
    wxf = _float_array(wx, f"{op}: wx")
    whf = _float_array(wh, f"{op}: wh")
    if wxf.ndim != 2 or whf.shape != (wxf.shape[1], wxf.shape[1]):
        raise GoldenError(f"{op}: wx {wxf.shape} and wh {whf.shape} are not [I, H] and [H, H]")
    hidden = wxf.shape[1]
    sx = _positive_scale(s_x, f"{op}: s_x")
    lut_scale = _positive_scale(lut_in_scale, f"{op}: lut_in_scale")

    def bias_vector(value: npt.ArrayLike | None, name: str) -> F64:
        if value is None:
            return np.zeros(hidden, dtype=np.float64)
        arr = _float_array(value, f"{op}: {name}")
        if arr.shape != (hidden,):
            raise GoldenError(f"{op}: {name} has shape {arr.shape}, expected {(hidden,)}")
        return arr

    bf = bias_vector(b, "b")
    peak = np.maximum(
        sx * np.max(np.abs(wxf), axis=0, initial=0.0),
        H_SCALE * np.max(np.abs(whf), axis=0, initial=0.0),
    )
    s_g = np.where(peak > 0.0, peak / WEIGHT_MAX, H_SCALE / WEIGHT_MAX)
    wx_q = np.clip(np.rint(wxf / (s_g / sx)), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    wh_q = np.clip(np.rint(whf / (s_g / H_SCALE)), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    mult, shift = quantize_multipliers(s_g / lut_scale)
    bias_h = None if b_h is None else quantize_bias(bias_vector(b_h, "b_h"), 1.0, s_g)
    return QuantGate(
        wx=wx_q,
        wh=wh_q,
        bias=quantize_bias(bf, 1.0, s_g),
        mult=mult,
        shift=shift,
        lut_in_scale=lut_scale,
        scale=s_g.astype(np.float64),
        bias_h=bias_h,
    )


def _stacked(value: npt.ArrayLike, name: str, gates: int, op: str) -> F64:
    arr = _float_array(value, f"{op}: {name}")
    if arr.ndim < 2 or arr.shape[0] != gates:
        raise GoldenError(f"{op}: {name} has shape {arr.shape}, expected a leading axis of {gates}")
    return arr


def quantize_rnn_weights(
    wx: npt.ArrayLike, wh: npt.ArrayLike, b: npt.ArrayLike | None, s_x: float
) -> QuantGate:
    """Quantise an Elman RNN (tanh) cell: one gate targeting the tanh LUT.

    Parameters
    ----------
    wx : array_like of float
        ``[I, H]`` (ONNX ``W[0].T``).
    wh : array_like of float
        ``[H, H]`` (ONNX ``R[0].T``).
    b : array_like of float or None
        ``[H]``: ONNX ``Wb + Rb``.
    s_x : float
        Input scale.

    Returns
    -------
    QuantGate
        The cell's gate.
    """
    return quantize_gate(wx, wh, b, s_x, TANH_IN_SCALE)


def quantize_lstm_weights(
    wx: npt.ArrayLike, wh: npt.ArrayLike, b: npt.ArrayLike | None, s_x: float
) -> LSTMWeights:
    """Quantise an LSTM cell given per-gate float weights in the order i, f, g, o.

    Parameters
    ----------
    wx : array_like of float
        ``[4, I, H]`` in :data:`LSTM_GATE_ORDER` (note: ONNX stacks i, o, f, c).
    wh : array_like of float
        ``[4, H, H]``, same order.
    b : array_like of float or None
        ``[4, H]``, input and recurrent biases summed.
    s_x : float
        Input scale.

    Returns
    -------
    LSTMWeights
        The integer cell.
    """
    op = "quantize_lstm_weights"
    wxf, whf = _stacked(wx, "wx", 4, op), _stacked(wh, "wh", 4, op)
    bf = None if b is None else _stacked(b, "b", 4, op)
    luts = (SIGMOID_IN_SCALE, SIGMOID_IN_SCALE, TANH_IN_SCALE, SIGMOID_IN_SCALE)
    gates = [
        quantize_gate(wxf[k], whf[k], None if bf is None else bf[k], s_x, luts[k]) for k in range(4)
    ]
    return LSTMWeights(*gates)


def quantize_gru_weights(
    wx: npt.ArrayLike,
    wh: npt.ArrayLike,
    b_x: npt.ArrayLike | None,
    b_h: npt.ArrayLike | None,
    s_x: float,
    linear_before_reset: bool,
) -> GRUWeights:
    """Quantise a GRU cell given per-gate float weights in the order z, r, n.

    Parameters
    ----------
    wx : array_like of float
        ``[3, I, H]`` in :data:`GRU_GATE_ORDER` (ONNX ``W`` rows, transposed per gate).
    wh : array_like of float
        ``[3, H, H]``, same order.
    b_x, b_h : array_like of float or None
        ``[3, H]`` input (ONNX ``Wb``) and recurrent (``Rb``) biases. They are summed except for
        the candidate when ``linear_before_reset`` is true.
    s_x : float
        Input scale.
    linear_before_reset : bool
        The ONNX attribute (PyTorch exports 1).

    Returns
    -------
    GRUWeights
        The integer cell.
    """
    op = "quantize_gru_weights"
    wxf, whf = _stacked(wx, "wx", 3, op), _stacked(wh, "wh", 3, op)
    hidden = wxf.shape[-1]
    bx = np.zeros((3, hidden)) if b_x is None else _stacked(b_x, "b_x", 3, op)
    bh = np.zeros((3, hidden)) if b_h is None else _stacked(b_h, "b_h", 3, op)
    if bx.shape != (3, hidden) or bh.shape != (3, hidden):
        raise GoldenError(f"{op}: b_x {bx.shape} and b_h {bh.shape} must be {(3, hidden)}")
    z = quantize_gate(wxf[0], whf[0], bx[0] + bh[0], s_x, SIGMOID_IN_SCALE)
    r = quantize_gate(wxf[1], whf[1], bx[1] + bh[1], s_x, SIGMOID_IN_SCALE)
    if linear_before_reset:
        n = quantize_gate(wxf[2], whf[2], bx[2], s_x, TANH_IN_SCALE, b_h=bh[2])
    else:
        n = quantize_gate(wxf[2], whf[2], bx[2] + bh[2], s_x, TANH_IN_SCALE)
    return GRUWeights(z, r, n, bool(linear_before_reset))


def quantize_cell_state(c: npt.ArrayLike) -> I32:
    """Quantise an LSTM cell state to int32 at scale 2^-11 (``rint``, saturating).

    Parameters
    ----------
    c : array_like of float
        Cell state values.

    Returns
    -------
    numpy.ndarray of int32
        The quantised state.
    """
    cf = _float_array(c, "quantize_cell_state: c")
    with np.errstate(over="ignore"):
        q = np.rint(cf / CELL_SCALE)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def _cell_inputs(x: npt.ArrayLike, h: npt.ArrayLike, gate: QuantGate, cell: str) -> tuple[I64, I64]:
    x64 = _int_array(x, f"{cell}: x", INT8_MIN, INT8_MAX, ndim=2)
    h64 = _int_array(h, f"{cell}: h", INT8_MIN, INT8_MAX, ndim=2)
    if x64.shape[1] != gate.input_size:
        raise GoldenError(f"{cell}: x has {x64.shape[1]} features, expected {gate.input_size}")
    if h64.shape != (x64.shape[0], gate.hidden_size):
        raise GoldenError(
            f"{cell}: h has shape {h64.shape}, expected {(x64.shape[0], gate.hidden_size)}"
        )
    return x64, h64


def _gate_lut(x: I64, h: I64, gate: QuantGate, lut: I8, what: str) -> I8:
    """``LUT(requant(x·wx + h·wh + bias))`` with the accumulator bound over both products."""
    xh = np.concatenate([x, h], axis=1)
    w = np.concatenate([gate.wx, gate.wh], axis=0).astype(np.int64)
    acc = _matmul_checked(xh, w, gate.bias.astype(np.int64), what)
    return apply_lut(requantize(acc, gate.mult, gate.shift), lut)


def rnn_cell(x: npt.ArrayLike, h: npt.ArrayLike, weights: QuantGate) -> I8:
    """One Elman RNN step: ``h_t = LUT_tanh(requant(x·Wx + h·Wh + b))``.

    Parameters
    ----------
    x : array_like of int
        int8 input ``[B, I]`` at the input scale.
    h : array_like of int
        int8 hidden state ``[B, H]`` at 2^-7.
    weights : QuantGate
        From :func:`quantize_rnn_weights` (targets the tanh LUT).

    Returns
    -------
    numpy.ndarray of int8
        ``h_t`` ``[B, H]`` at 2^-7.

    Raises
    ------
    GoldenError
        If an argument is malformed or the accumulator could overflow int32.
    """
    _check_gates([("h", weights, TANH_IN_SCALE)], "rnn_cell")
    x64, h64 = _cell_inputs(x, h, weights, "rnn_cell")
    return _gate_lut(x64, h64, weights, TANH_LUT, "rnn_cell")


def lstm_cell(
    x: npt.ArrayLike, h: npt.ArrayLike, c: npt.ArrayLike, weights: LSTMWeights
) -> tuple[I8, I32]:
    """One LSTM step (no peepholes) in the contract's fixed-point formats.

    ``c_t = round_shift(f · c, 7) + round_shift(i · g, 3)`` and
    ``h_t = sat8(round_shift(o · LUT_tanh(sat8(round_shift(c_t, 6))), 7))``.

    Parameters
    ----------
    x : array_like of int
        int8 input ``[B, I]``.
    h : array_like of int
        int8 hidden state ``[B, H]`` at 2^-7.
    c : array_like of int
        int32 cell state ``[B, H]`` at 2^-11.
    weights : LSTMWeights
        From :func:`quantize_lstm_weights`.

    Returns
    -------
    tuple of (numpy.ndarray of int8, numpy.ndarray of int32)
        ``(h_t, c_t)``.

    Raises
    ------
    GoldenError
        If an argument is malformed, an accumulator could overflow, or a product or ``c_t``
        does not fit int32.
    """
    op = "lstm_cell"
    if not isinstance(weights, LSTMWeights):
        raise GoldenError(f"{op}: weights {_describe(weights)} is not an LSTMWeights")
    x64, h64 = _cell_inputs(x, h, weights.i, op)
    c64 = _int_array(c, f"{op}: c", INT32_MIN, INT32_MAX, ndim=2)
    if c64.shape != h64.shape:
        raise GoldenError(f"{op}: c has shape {c64.shape}, expected {h64.shape} (like h)")
    i = _gate_lut(x64, h64, weights.i, SIGMOID_LUT, f"{op}: gate i").astype(np.int64)
    f = _gate_lut(x64, h64, weights.f, SIGMOID_LUT, f"{op}: gate f").astype(np.int64)
    g = _gate_lut(x64, h64, weights.g, TANH_LUT, f"{op}: gate g").astype(np.int64)
    o = _gate_lut(x64, h64, weights.o, SIGMOID_LUT, f"{op}: gate o").astype(np.int64)
    fc = round_shift(_mul32(f, c64, f"{op}: f·c"), _GATE_FRAC)
    ig = round_shift(_mul32(i, g, f"{op}: i·g"), _IG_SHIFT)
    c_t = _check_int32(fc + ig, f"{op}: c_t")
    tanh_c = apply_lut(sat8(round_shift(c_t, _CELL_TO_TANH)), TANH_LUT).astype(np.int64)
    h_t = sat8(round_shift(_mul32(o, tanh_c, f"{op}: o·tanh(c)"), _GATE_FRAC))
    return h_t, c_t.astype(np.int32)


def gru_cell(x: npt.ArrayLike, h: npt.ArrayLike, weights: GRUWeights) -> I8:
    """One GRU step in either ONNX form (``weights.linear_before_reset``).

    ``linear_before_reset = 0``: ``n = LUT_tanh(requant(x·Wn + round_shift(r · h, 7)·Rn + bn))``;
    ``= 1``: ``n = LUT_tanh(requant(acc_x + round_shift(r · acc_h, 7)))`` with
    ``acc_x = x·Wn + Wbn`` and ``acc_h = h·Rn + Rbn``. Then
    ``h_t = sat8(n + round_shift(z · (h - n), 7))``.

    Parameters
    ----------
    x : array_like of int
        int8 input ``[B, I]``.
    h : array_like of int
        int8 hidden state ``[B, H]`` at 2^-7.
    weights : GRUWeights
        From :func:`quantize_gru_weights`.

    Returns
    -------
    numpy.ndarray of int8
        ``h_t`` ``[B, H]`` at 2^-7.

    Raises
    ------
    GoldenError
        If an argument is malformed, an accumulator could overflow, or a product does not fit
        int32.
    """
    op = "gru_cell"
    if not isinstance(weights, GRUWeights):
        raise GoldenError(f"{op}: weights {_describe(weights)} is not a GRUWeights")
    x64, h64 = _cell_inputs(x, h, weights.z, op)
    z = _gate_lut(x64, h64, weights.z, SIGMOID_LUT, f"{op}: gate z").astype(np.int64)
    r = _gate_lut(x64, h64, weights.r, SIGMOID_LUT, f"{op}: gate r").astype(np.int64)
    gn = weights.n
    if weights.linear_before_reset:
        assert gn.bias_h is not None  # guaranteed by GRUWeights
        acc_x = _matmul_checked(
            x64, gn.wx.astype(np.int64), gn.bias.astype(np.int64), f"{op}: gate n (x side)"
        )
        acc_h = _matmul_checked(
            h64, gn.wh.astype(np.int64), gn.bias_h.astype(np.int64), f"{op}: gate n (h side)"
        )
        rh = round_shift(_mul32(r, acc_h, f"{op}: r·acc_h"), _GATE_FRAC)
        acc = _check_int32(acc_x + rh, f"{op}: acc_x + r·acc_h")
        n = apply_lut(requantize(acc, gn.mult, gn.shift), TANH_LUT).astype(np.int64)
    else:
        # r·h at 2^-14 back to the hidden scale; |r·h| <= 127·128 so rh stays within int8.
        rh = round_shift(_mul32(r, h64, f"{op}: r·h"), _GATE_FRAC)
        n = _gate_lut(x64, rh, gn, TANH_LUT, f"{op}: gate n").astype(np.int64)
    return sat8(n + round_shift(_mul32(z, h64 - n, f"{op}: z·(h - n)"), _GATE_FRAC))


def _sequence(xs: npt.ArrayLike, gate: QuantGate, op: str) -> I64:
    seq = _int_array(xs, f"{op}: xs", INT8_MIN, INT8_MAX, ndim=3)
    if seq.shape[2] != gate.input_size:
        raise GoldenError(f"{op}: xs has {seq.shape[2]} features, expected {gate.input_size}")
    return seq


def _initial(
    value: npt.ArrayLike | None, shape: tuple[int, int], lo: int, hi: int, name: str
) -> I64:
    if value is None:
        return np.zeros(shape, dtype=np.int64)
    arr = _int_array(value, name, lo, hi, ndim=2)
    if arr.shape != shape:
        raise GoldenError(f"{name}: has shape {arr.shape}, expected {shape}")
    return arr


def rnn(xs: npt.ArrayLike, weights: QuantGate, h0: npt.ArrayLike | None = None) -> tuple[I8, I8]:
    """Run :func:`rnn_cell` over a sequence.

    Parameters
    ----------
    xs : array_like of int
        int8 inputs ``[T, B, I]``.
    weights : QuantGate
        From :func:`quantize_rnn_weights`.
    h0 : array_like of int, optional
        int8 initial hidden state ``[B, H]`` at 2^-7 (zero if omitted).

    Returns
    -------
    tuple of (numpy.ndarray of int8, numpy.ndarray of int8)
        All hidden states ``[T, B, H]`` and the last ``[B, H]``.
    """
    seq = _sequence(xs, weights, "rnn")
    h = _initial(h0, (seq.shape[1], weights.hidden_size), INT8_MIN, INT8_MAX, "rnn: h0")
    hs = np.zeros((*seq.shape[:2], weights.hidden_size), dtype=np.int8)
    for t in range(seq.shape[0]):
        hs[t] = rnn_cell(seq[t], h, weights)
        h = hs[t].astype(np.int64)
    return hs, h.astype(np.int8)


def lstm(
    xs: npt.ArrayLike,
    weights: LSTMWeights,
    h0: npt.ArrayLike | None = None,
    c0: npt.ArrayLike | None = None,
) -> tuple[I8, I8, I32]:
    """Run :func:`lstm_cell` over a sequence.

    Parameters
    ----------
    xs : array_like of int
        int8 inputs ``[T, B, I]``.
    weights : LSTMWeights
        From :func:`quantize_lstm_weights`.
    h0 : array_like of int, optional
        int8 initial hidden state ``[B, H]`` at 2^-7 (zero if omitted).
    c0 : array_like of int, optional
        int32 initial cell state ``[B, H]`` at 2^-11 (zero if omitted).

    Returns
    -------
    tuple of (numpy.ndarray of int8, numpy.ndarray of int8, numpy.ndarray of int32)
        All hidden states ``[T, B, H]``, the last hidden state and the last cell state.
    """
    if not isinstance(weights, LSTMWeights):
        raise GoldenError(f"lstm: weights {_describe(weights)} is not an LSTMWeights")
    seq = _sequence(xs, weights.i, "lstm")
    shape = (seq.shape[1], weights.i.hidden_size)
    h = _initial(h0, shape, INT8_MIN, INT8_MAX, "lstm: h0").astype(np.int8)
    c = _initial(c0, shape, INT32_MIN, INT32_MAX, "lstm: c0").astype(np.int32)
    hs = np.zeros((seq.shape[0], *shape), dtype=np.int8)
    for t in range(seq.shape[0]):
        h, c = lstm_cell(seq[t], h, c, weights)
        hs[t] = h
    return hs, h, c


def gru(xs: npt.ArrayLike, weights: GRUWeights, h0: npt.ArrayLike | None = None) -> tuple[I8, I8]:
    """Run :func:`gru_cell` over a sequence.

    Parameters
    ----------
    xs : array_like of int
        int8 inputs ``[T, B, I]``.
    weights : GRUWeights
        From :func:`quantize_gru_weights`.
    h0 : array_like of int, optional
        int8 initial hidden state ``[B, H]`` at 2^-7 (zero if omitted).

    Returns
    -------
    tuple of (numpy.ndarray of int8, numpy.ndarray of int8)
        All hidden states ``[T, B, H]`` and the last ``[B, H]``.
    """
    if not isinstance(weights, GRUWeights):
        raise GoldenError(f"gru: weights {_describe(weights)} is not a GRUWeights")
    seq = _sequence(xs, weights.z, "gru")
    shape = (seq.shape[1], weights.z.hidden_size)
    h = _initial(h0, shape, INT8_MIN, INT8_MAX, "gru: h0").astype(np.int8)
    hs = np.zeros((seq.shape[0], *shape), dtype=np.int8)
    for t in range(seq.shape[0]):
        h = gru_cell(seq[t], h, weights)
        hs[t] = h
    return hs, h
