"""Shared pieces of code generation: the emitter, buffers, tiles and descriptors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...spec import golden
from ...spec.config import AcceleratorConfig
from ...spec.errors import CompileError
from ...spec.isa import (
    FORMATS_BY_NAME,
    ActMode,
    Instruction,
    encode,
)
from ...spec.program import TensorDesc

# Tensors start on a bus-beat boundary (and at least 16 bytes), so a row that is a whole number
# of beats long takes that many beats, not one more.
ALIGN = 16
MAX_COUNT = FORMATS_BY_NAME["load"].field("n_inner").hi
MAX_STRIDE = FORMATS_BY_NAME["load"].field("stride_inner").hi
IDENTITY = (1 << 30, 30)  # requantisation by 1: (v * 2^30 + 2^29) >> 30 = v


# An instruction not yet emitted: mnemonic, token flags and fields (for Emitter.emit).
Pending = tuple[str, tuple[str, ...], dict[str, Any]]


@dataclass
class Emitter:
    """Instruction words and the memory image under construction."""

    config: AcceleratorConfig
    words: list[int] = field(default_factory=list)
    memory: bytearray = field(default_factory=bytearray)

    def emit(self, name: str, *deps: str, **fields: Any) -> None:
        for key in ("n_inner", "n_outer"):
            if fields.get(key, 1) > MAX_COUNT:
                raise CompileError(
                    f"a transfer of {fields[key]} rows exceeds the ISA's {MAX_COUNT}"
                )
        for key in ("stride_inner", "stride_outer"):
            if fields.get(key, 0) > MAX_STRIDE:
                raise CompileError(
                    f"a stride of {fields[key]} bytes exceeds the ISA's {MAX_STRIDE}"
                )
        self.words.append(encode(Instruction.make(name, deps=set(deps), **fields)))

    def alloc(self, nbytes: int, fill: int = 0) -> int:
        align = max(ALIGN, self.config.bus_bytes)
        start = -(-len(self.memory) // align) * align
        self.memory.extend(bytes(start - len(self.memory)))
        self.memory.extend(bytes([fill & 0xFF]) * nbytes)
        return start

    def place(self, values: NDArray[Any], dtype: str) -> int:
        data = np.ascontiguousarray(values.astype("<i4" if dtype == "int32" else "i1"))
        addr = self.alloc(data.nbytes)
        self.memory[addr : addr + data.nbytes] = data.tobytes()
        return addr


@dataclass(frozen=True)
class Buffer:
    """An activation in memory: 2-D row-major ``[N, F]`` or padded NHWC ``[N, H, W, C]``."""

    addr: int
    shape: tuple[int, ...]  # logical: (N, F) or (N, C, H, W)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    image: bool = False  # NCHW logical, NHWC in memory (otherwise plain row-major)
    dtype: str = "int8"

    @property
    def is_image(self) -> bool:
        return self.image

    @property
    def geometry(self) -> tuple[int, int, int, int]:
        """(N, Hp, Wp, C) of the padded NHWC layout."""
        n, c, h, w = self.shape
        pt, pl, pb, pr = self.pads
        return n, h + pt + pb, w + pl + pr, c

    def pixel(self, n: int, y: int, x: int) -> int:
        """Byte address of interior pixel (y, x) of image n (negative y/x reach the border)."""
        _, hp, wp, c = self.geometry
        return self.addr + ((n * hp + y + self.pads[0]) * wp + x + self.pads[1]) * c

    def desc(self, name: str, scale: float, *, logical: bool) -> TensorDesc:
        """The interior as a tensor: logical NCHW (for users) or NHWC (for the golden layers)."""
        if not self.is_image:
            item = 4 if self.dtype == "int32" else 1
            strides = tuple(
                int(np.prod(self.shape[i + 1 :])) * item for i in range(len(self.shape))
            )
            return TensorDesc(
                name=name,
                shape=self.shape,
                dtype=self.dtype,
                scale=scale,
                offset=self.addr,
                strides=strides,
            )
        n, c, h, w = self.shape
        _, hp, wp, _ = self.geometry
        s_n, s_y, s_x = hp * wp * c, wp * c, c
        if logical:
            return TensorDesc(
                name=name,
                shape=(n, c, h, w),
                dtype="int8",
                scale=scale,
                offset=self.pixel(0, 0, 0),
                strides=(s_n, 1, s_y, s_x),
            )
        return TensorDesc(
            name=name,
            shape=(n, h, w, c),
            dtype="int8",
            scale=scale,
            offset=self.pixel(0, 0, 0),
            strides=(s_n, s_y, s_x, 1),
        )


def desc_json(name: str, shape: tuple[int, ...], dtype: str, offset: int) -> dict[str, Any]:
    item = 4 if dtype == "int32" else 1
    strides = tuple(int(np.prod(shape[i + 1 :])) * item for i in range(len(shape)))
    return TensorDesc(
        name=name, shape=shape, dtype=dtype, scale=1.0, offset=offset, strides=strides
    ).to_json()


def padded(v: NDArray[Any], size: int) -> NDArray[Any]:
    out = np.zeros(size, dtype=np.int64)
    out[: len(v)] = np.asarray(v).reshape(-1)
    return out


@dataclass(frozen=True)
class MTile:
    rows: int
    load: Callable[[int, int], dict[str, int]]  # (k tile index, k0 within it) -> load fields
    store: Callable[[int], dict[str, int]]  # n0 -> store fields
    # A fused max-pool: (block's accumulator rows, pooled rows) -> the vector ops that reduce
    # the one into the other; the store then reads the pooled rows.
    pool: Callable[[int, int], list[dict[str, int]]] | None = None


@dataclass(frozen=True)
class KTile:
    w_row: int  # first row of the [K, N] weight matrix
    rows: int
    index: int  # which input chunk (kernel row) the load walks


def store_config(act: golden.Activation, lut_row: int) -> list[Pending]:
    """The store unit's activation set-up: a LUT load, a clamp or none."""
    if act.kind == "lut":
        return [
            ("cfg_lut", (), {"slot": 0, "src": lut_row}),
            ("cfg_act", (), {"mode": ActMode.LUT, "slot": 0}),
        ]
    if act.kind == "clamp":
        return [("cfg_act", (), {"mode": ActMode.CLAMP, "lo": act.lo, "hi": act.hi})]
    return [("cfg_act", (), {"mode": ActMode.NONE})]


def emit_store_config(em: Emitter, act: golden.Activation, lut_row: int) -> None:
    for name, deps, fields in store_config(act, lut_row):
        em.emit(name, *deps, **fields)


def act_record(act: golden.Activation, lut_addr: int) -> dict[str, Any]:
    return {
        "kind": act.kind,
        "lo": act.lo,
        "hi": act.hi,
        "lut": desc_json("lut", (256,), "int8", lut_addr) if lut_addr >= 0 else None,
    }
