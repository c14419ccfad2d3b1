"""The Program: what the compiler emits and every executor runs.

A program is an instruction stream, the initial external-memory image, and descriptors that say
where each input and output tensor lives in that image and how to (de)quantise it. It is saved
as a directory::

    manifest.json   format version, config, I/O descriptors, metadata, file digests
    program.bin     instructions, 16 bytes each, little-endian
    program.s       the same instructions as assembly (for people; not read back)
    memory.bin      the initial memory image; its length is the memory size

Executors read only this format, so they need to know nothing about the compiler.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .asm import disassemble_raw
from .config import AcceleratorConfig
from .errors import ConfigError, DecodeError, ProgramError
from .isa import INSTR_BITS, from_bytes, to_bytes

__all__ = ["FORMAT_VERSION", "Program", "TensorDesc"]

FORMAT_VERSION = 1
_DTYPES: dict[str, type[np.signedinteger[Any]]] = {"int8": np.int8, "int32": np.int32}


@dataclass(frozen=True, kw_only=True)
class TensorDesc:
    """Where a tensor lives in the memory image and how it maps to real values.

    Parameters
    ----------
    name : str
        The tensor's name (the ONNX graph input or output name).
    shape : tuple of int
        Logical shape as the user sees it (for example NCHW for an ONNX image input).
    dtype : str
        ``"int8"`` or ``"int32"``.
    scale : float
        Quantisation scale: real value = integer value × scale (zero point 0).
    offset : int
        Byte address of element ``(0, ..., 0)``.
    strides : tuple of int
        Byte step per logical dimension; lets a logical NCHW tensor live as padded NHWC.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    offset: int
    strides: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise ProgramError("tensor name must not be empty")
        if self.dtype not in _DTYPES:
            raise ProgramError(
                f"tensor {self.name!r}: dtype must be one of "
                f"{', '.join(_DTYPES)}, got {self.dtype!r}"
            )
        if len(self.shape) != len(self.strides):
            raise ProgramError(
                f"tensor {self.name!r}: shape {self.shape} and strides "
                f"{self.strides} have different ranks"
            )
        if any(d < 1 for d in self.shape):
            raise ProgramError(
                f"tensor {self.name!r}: every dimension must be >= 1, got {self.shape}"
            )
        if any(s < 0 for s in self.strides) or self.offset < 0:
            raise ProgramError(f"tensor {self.name!r}: offset and strides must be >= 0")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ProgramError(
                f"tensor {self.name!r}: scale must be a positive number, got {self.scale!r}"
            )

    @property
    def itemsize(self) -> int:
        return int(np.dtype(_DTYPES[self.dtype]).itemsize)

    @property
    def end(self) -> int:
        """One past the last byte the tensor touches."""
        return (
            self.offset
            + sum((d - 1) * s for d, s in zip(self.shape, self.strides, strict=True))
            + self.itemsize
        )

    def _view(self, memory: bytearray | bytes) -> NDArray[Any]:
        if self.end > len(memory):
            raise ProgramError(
                f"tensor {self.name!r} ends at byte {self.end}, beyond the "
                f"{len(memory)}-byte memory"
            )
        # Byte strides let one descriptor express padded or permuted layouts.
        return np.ndarray(
            shape=self.shape,
            dtype=_DTYPES[self.dtype],
            buffer=memory,
            offset=self.offset,
            strides=self.strides,
        )

    def read(self, memory: bytearray | bytes) -> NDArray[Any]:
        """Copy the tensor's integer values out of a memory image."""
        return np.array(self._view(memory))

    def write(self, memory: bytearray, values: NDArray[Any]) -> None:
        """Store integer values into a memory image (shape and range are checked)."""
        values = np.asarray(values)
        if values.shape != self.shape:
            raise ProgramError(
                f"tensor {self.name!r}: expected shape {self.shape}, got {values.shape}"
            )
        info = np.iinfo(_DTYPES[self.dtype])
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise ProgramError(f"tensor {self.name!r}: values outside the {self.dtype} range")
        self._view(memory)[...] = values

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "offset": self.offset,
            "strides": list(self.strides),
        }

    @classmethod
    def from_json(cls, d: Any, *, source: str) -> TensorDesc:
        try:
            return cls(
                name=str(d["name"]),
                shape=tuple(int(x) for x in d["shape"]),
                dtype=str(d["dtype"]),
                scale=float(d["scale"]),
                offset=int(d["offset"]),
                strides=tuple(int(x) for x in d["strides"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ProgramError(f"{source}: malformed tensor descriptor {d!r}: {e}") from None


@dataclass(frozen=True, kw_only=True)
class Program:
    """An executable program for one :class:`AcceleratorConfig`.

    Parameters
    ----------
    config : AcceleratorConfig
        The accelerator the program was compiled for.
    instructions : tuple of int
        128-bit instruction words (they may include illegal words, e.g. in fault tests).
    memory : bytes
        Initial external-memory image; ``len(memory)`` is the memory size that out-of-range
        checks use.
    inputs, outputs : tuple of TensorDesc
        Where the inputs are written and the outputs read.
    metadata : mapping
        Free-form JSON-serialisable facts (source model, compiler passes, layer table).
    """

    config: AcceleratorConfig
    instructions: tuple[int, ...]
    memory: bytes
    inputs: tuple[TensorDesc, ...] = ()
    outputs: tuple[TensorDesc, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for i, w in enumerate(self.instructions):
            if not (isinstance(w, int) and 0 <= w < 1 << INSTR_BITS):
                raise ProgramError(f"instruction {i} is not a {INSTR_BITS}-bit word: {w!r}")
        names = [t.name for t in self.inputs + self.outputs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ProgramError(f"tensor name {dup[0]!r} is used more than once")
        for t in self.inputs + self.outputs:
            if t.end > len(self.memory):
                raise ProgramError(
                    f"tensor {t.name!r} ends at byte {t.end}, beyond the "
                    f"{len(self.memory)}-byte memory image"
                )

    @property
    def dram_size(self) -> int:
        return len(self.memory)

    def save(self, directory: str | Path) -> Path:
        """Write the program directory (created if needed) and return its path."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        binary = to_bytes(self.instructions)
        (d / "program.bin").write_bytes(binary)
        (d / "program.s").write_text(disassemble_raw(self.instructions), encoding="utf-8")
        (d / "memory.bin").write_bytes(self.memory)
        manifest = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "instructions": len(self.instructions),
            "memory_bytes": len(self.memory),
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "metadata": dict(self.metadata),
            "sha256": {
                "program.bin": hashlib.sha256(binary).hexdigest(),
                "memory.bin": hashlib.sha256(self.memory).hexdigest(),
            },
        }
        (d / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Program:
        """Read a program directory written by :meth:`save`, checking that it is intact."""
        d = Path(directory)
        mpath = d / "manifest.json"
        if not mpath.is_file():
            raise ProgramError(f"{d}: not a program directory (no manifest.json)")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ProgramError(f"{mpath}: cannot read manifest: {e}") from None
        if not isinstance(manifest, dict):
            raise ProgramError(f"{mpath}: manifest is not a JSON object")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise ProgramError(
                f"{mpath}: format_version {version!r} is not supported (expected {FORMAT_VERSION})"
            )
        blobs = {}
        for fname in ("program.bin", "memory.bin"):
            try:
                blobs[fname] = (d / fname).read_bytes()
            except OSError as e:
                raise ProgramError(f"{d / fname}: cannot read: {e.strerror}") from None
            want = manifest.get("sha256", {}).get(fname)
            if want != hashlib.sha256(blobs[fname]).hexdigest():
                raise ProgramError(f"{d / fname}: contents do not match the manifest digest")
        try:
            config = AcceleratorConfig.from_dict(
                manifest.get("config", {}), source=f"{mpath} config"
            )
            words = from_bytes(blobs["program.bin"], name=str(d / "program.bin"))
        except (ConfigError, DecodeError) as e:
            raise ProgramError(str(e)) from None
        return cls(
            config=config,
            instructions=tuple(words),
            memory=blobs["memory.bin"],
            inputs=tuple(
                TensorDesc.from_json(t, source=str(mpath)) for t in manifest.get("inputs", [])
            ),
            outputs=tuple(
                TensorDesc.from_json(t, source=str(mpath)) for t in manifest.get("outputs", [])
            ),
            metadata=MappingProxyType(dict(manifest.get("metadata", {}))),
        )
