"""Allocation, tiling, scheduling and emission: the lowered IR to a Program.

Activations live in external memory: 2-D values row-major, 4-D values as NHWC with a zero (or,
before a padded max-pool, -128) border as wide as their consumers' padding, so convolutions and
pools read padded windows with plain 2-D strided loads and no host-side im2col.

GEMMs and convolutions share one weight-stationary schedule (:func:`_emit_matmul_layer`): for
each output block (a tile of output rows or pixels × one column tile of C channels) and each K
tile of R rows, load the input and weight tiles into one of two scratchpad buffers, preload, and
matmul into one of two accumulator blocks; the store unit requantises finished blocks. A
convolution's K tiles walk the kernel rows: for stride-1 dilation, one kernel row's KW·Cin input
bytes are contiguous in an NHWC row, so a K tile is a single strided load (implicit im2col).
Layers are separated by a barrier (last store → execute ``sync`` → first load of the next layer),
because a layer reads what the previous one wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..spec import golden
from ..spec.config import AcceleratorConfig
from ..spec.errors import CompileError
from ..spec.isa import (
    FORMATS_BY_NAME,
    ActMode,
    Elem,
    Instruction,
    LoadTarget,
    MatMode,
    StoreTarget,
    Unit,
    VecOp,
    encode,
)
from ..spec.program import Program, TensorDesc
from .ir import Graph, Node

__all__ = ["emit_program"]

ALIGN = 16  # tensors start on 16-byte boundaries: whole bus beats for every preset
MAX_COUNT = FORMATS_BY_NAME["load"].field("n_inner").hi
MAX_STRIDE = FORMATS_BY_NAME["load"].field("stride_inner").hi
IDENTITY = (1 << 30, 30)  # requantisation by 1: (v * 2^30 + 2^29) >> 30 = v


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
        start = -(-len(self.memory) // ALIGN) * ALIGN
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


def _desc(name: str, shape: tuple[int, ...], dtype: str, offset: int) -> dict[str, Any]:
    item = 4 if dtype == "int32" else 1
    strides = tuple(int(np.prod(shape[i + 1 :])) * item for i in range(len(shape)))
    return TensorDesc(
        name=name, shape=shape, dtype=dtype, scale=1.0, offset=offset, strides=strides
    ).to_json()


def _padded(v: NDArray[Any], size: int) -> NDArray[Any]:
    out = np.zeros(size, dtype=np.int64)
    out[: len(v)] = np.asarray(v).reshape(-1)
    return out


@dataclass(frozen=True)
class MTile:
    rows: int
    load: Callable[[int, int], dict[str, int]]  # (k tile index, k0 within it) -> load fields
    store: Callable[[int], dict[str, int]]  # n0 -> store fields


@dataclass(frozen=True)
class KTile:
    w_row: int  # first row of the [K, N] weight matrix
    rows: int
    index: int  # which input chunk (kernel row) the load walks


def _emit_store_config(em: Emitter, act: golden.Activation, lut_row: int) -> None:
    if act.kind == "lut":
        em.emit("cfg_lut", slot=0, src=lut_row)
        em.emit("cfg_act", mode=ActMode.LUT, slot=0)
    elif act.kind == "clamp":
        em.emit("cfg_act", mode=ActMode.CLAMP, lo=act.lo, hi=act.hi)
    else:
        em.emit("cfg_act", mode=ActMode.NONE)


def _emit_matmul_layer(
    em: Emitter,
    node: Node,
    *,
    tile_rows: Callable[[int], list[MTile]],
    k_tiles: list[KTile],
    barrier_in: bool,
    barrier_out: bool,
    placed: dict[str, int] | None = None,
    raw: bool = False,
) -> dict[str, int]:
    """The shared weight-stationary schedule; returns where the constants were placed.

    ``placed`` (from an earlier call for the same node, e.g. the previous time step of a
    recurrent layer) reuses constants already in the memory image.
    """
    cfg = em.config
    R, C = cfg.rows, cfg.cols
    w2: NDArray[Any] = node.attrs["w2"]  # [K, N]
    N = w2.shape[1]
    nt = -(-N // C)
    act: golden.Activation = node.attrs["activation"]
    bias = node.attrs["b_q"]
    if placed is None:
        quant = np.concatenate(
            [_padded(node.attrs["mult"], nt * C), _padded(node.attrs["shift"], nt * C)]
        )
        lut = act.table
        placed = {
            "w": em.place(w2, "int8"),
            "bias": em.place(_padded(bias, nt * C), "int32") if bias is not None else -1,
            "quant": em.place(quant, "int32"),
            "lut": em.place(_padded(lut, cfg.lut_rows * C), "int8") if lut is not None else -1,
            "nt": nt,
        }
    w_addr, quant_addr = placed["w"], placed["quant"]
    bias_addr = placed["bias"] if placed["bias"] >= 0 else None
    lut_addr = placed["lut"] if placed["lut"] >= 0 else None

    pre: list[tuple[int, int, int, Elem]] = []
    acc_rows = 0
    bias_row = lut_row = 0
    if bias_addr is not None:
        bias_row, acc_rows = acc_rows, acc_rows + nt
        pre.append((bias_row, bias_addr, nt, Elem.I32))
    quant_row, acc_rows = acc_rows, acc_rows + 2 * nt
    pre.append((quant_row, quant_addr, 2 * nt, Elem.I32))
    if lut_addr is not None:
        lut_row, acc_rows = acc_rows, acc_rows + cfg.lut_rows
        pre.append((lut_row, lut_addr, cfg.lut_rows, Elem.I8))
    nbuf = min(2, cfg.token_depth)
    mt = min(MAX_COUNT, (cfg.acc_depth - acc_rows) // nbuf, cfg.sp_depth // nbuf - R)
    if mt < 1:
        raise CompileError(
            f"{node.name}: a layer with {N} outputs needs {acc_rows} accumulator rows of "
            f"constants and at least {nbuf} more for outputs, but acc_depth is {cfg.acc_depth}"
        )
    for i, (row, addr, n, elem) in enumerate(pre):
        em.emit(
            "load",
            *(["pop_next"] if barrier_in and i == 0 else []),
            target=LoadTarget.ACC,
            elem=elem,
            dst=row,
            len=C,
            n_inner=n,
            addr=addr,
            stride_inner=C * 4 if elem == Elem.I32 else C,
        )

    m_tiles = tile_rows(mt)
    # Weight tiles that are all zero add nothing: skip them (the block structure of grouped
    # and depthwise convolutions), keeping at least one per block for its bias or overwrite.
    needed: dict[int, list[KTile]] = {}
    for n0 in range(0, N, C):
        live = [kt for kt in k_tiles if w2[kt.w_row : kt.w_row + kt.rows, n0 : n0 + C].any()]
        needed[n0] = live or k_tiles[:1]
    blocks = [(mtile, n0) for mtile in m_tiles for n0 in range(0, N, C)]
    total = sum(len(needed[n0]) for _, n0 in blocks)
    tile = 0
    configured = -1
    for bi, (mtile, n0) in enumerate(blocks):
        mr, nc = mtile.rows, min(C, N - n0)
        acc_base = acc_rows + (bi % nbuf) * mt
        block_tiles = needed[n0]
        for ki, kt in enumerate(block_tiles):
            sp_base = (tile % nbuf) * (mt + R)
            em.emit(
                "load",
                *(["pop_next"] if tile >= nbuf else []),
                target=LoadTarget.SP,
                dst=sp_base,
                len=kt.rows,
                **mtile.load(kt.index, kt.w_row),
            )
            em.emit(
                "load",
                "push_next",
                target=LoadTarget.SP,
                dst=sp_base + mt,
                len=nc,
                n_inner=kt.rows,
                addr=w_addr + kt.w_row * N + n0,
                stride_inner=N,
            )
            em.emit("preload", "pop_prev", src=sp_base + mt, rows=kt.rows, cols=nc)
            deps = []
            if tile + nbuf < total:
                deps.append("push_prev")  # the scratchpad buffer is free again
            if ki == len(block_tiles) - 1:
                deps.append("push_next")  # the block is finished
            if ki == 0 and bi >= nbuf:
                deps.append("pop_next")  # the accumulator block was stored
            first = MatMode.BIAS if bias_addr is not None else MatMode.OVERWRITE
            em.emit(
                "matmul",
                *deps,
                src=sp_base,
                dst=acc_base,
                n=mr,
                mode=first if ki == 0 else MatMode.ACCUMULATE,
                bias=bias_row + n0 // C if bias_addr is not None else 0,
                swap=1,
            )
            tile += 1
        waits = ["pop_prev"]
        t = n0 // C
        if configured != t and not raw:
            em.emit("cfg_quant", *waits, mult_row=quant_row + t, shift_row=quant_row + nt + t)
            waits = []
            if configured < 0:
                _emit_store_config(em, act, lut_row)
            configured = t
        release = bi + nbuf < len(blocks) or (barrier_out and bi == len(blocks) - 1)
        em.emit(
            "store",
            *waits,
            *(["push_prev"] if release else []),
            target=StoreTarget.DRAM,
            elem=Elem.I32 if raw else Elem.I8,
            src=acc_base,
            len=nc,
            **mtile.store(n0),
        )
    if barrier_out:
        em.emit("sync", "pop_next", "push_prev", unit=Unit.EXECUTE)
    return placed


def _act_record(act: golden.Activation, lut_addr: int) -> dict[str, Any]:
    return {
        "kind": act.kind,
        "lo": act.lo,
        "hi": act.hi,
        "lut": _desc("lut", (256,), "int8", lut_addr) if lut_addr >= 0 else None,
    }


def _emit_gemm(
    em: Emitter, node: Node, x: Buffer, y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    R = em.config.rows
    w2 = node.attrs["w2"]
    K, N = w2.shape
    M = x.shape[0] if x.is_image else int(np.prod(x.shape[:-1]))

    if x.is_image and any(x.pads):
        raise CompileError(
            f"{node.name}: its input is also read with padding; a flatten of a "
            "padded image is not supported"
        )

    def rows(mt: int) -> list[MTile]:
        out = []
        for m0 in range(0, M, mt):
            mr = min(mt, M - m0)

            def load(_index: int, k0: int, m0: int = m0, mr: int = mr) -> dict[str, int]:
                return {"addr": x.addr + m0 * K + k0, "n_inner": mr, "stride_inner": K}

            def store(n0: int, m0: int = m0, mr: int = mr) -> dict[str, int]:
                return {"addr": y.addr + m0 * N + n0, "n_inner": mr, "stride_inner": N}

            out.append(MTile(mr, load, store))
        return out

    k_tiles = [KTile(k0, min(R, K - k0), 0) for k0 in range(0, K, R)]
    where = _emit_matmul_layer(
        em, node, tile_rows=rows, k_tiles=k_tiles, barrier_in=barrier_in, barrier_out=barrier_out
    )
    nt = where["nt"] * em.config.cols
    return {
        "op": "gemm",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "w": _desc("w", (K, N), "int8", where["w"]),
        "bias": _desc("bias", (N,), "int32", where["bias"]) if where["bias"] >= 0 else None,
        "mult": _desc("mult", (N,), "int32", where["quant"]),
        "shift": _desc("shift", (N,), "int32", where["quant"] + nt * 4),
        "act": _act_record(node.attrs["activation"], where["lut"]),
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": M * K * N,
    }


def _emit_conv(
    em: Emitter, node: Node, x: Buffer, y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    R = em.config.rows
    a = node.attrs
    kh_n, kw_n, cg, cout = a["w_q"].shape
    groups = a.get("group", 1)
    cin = cg * groups
    (sh, sw), (dh, dw) = a["strides"], a["dilations"]
    pt, pl, _, _ = a["pads"]
    n_img, _, oh, ow = y.shape
    _, hp, wp, _ = x.geometry
    if x.pads[0] < pt or x.pads[1] < pl:  # pragma: no cover - allocation guarantees it
        raise CompileError(f"{node.name}: input buffer has less padding than the conv needs")
    # Input chunks: one kernel row's KW·Cin bytes when they are contiguous (dilation 1),
    # otherwise one (kernel row, kernel column) pair's Cin bytes.
    chunks = (
        [(kh, 0, kw_n) for kh in range(kh_n)]
        if dw == 1 and groups == 1
        else [(kh, kw, 1) for kh in range(kh_n) for kw in range(kw_n)]
    )
    k_tiles = []
    for index, (kh, kw0, nkw) in enumerate(chunks):
        width = nkw * cin
        for k0 in range(0, width, R):
            k_tiles.append(KTile((kh * kw_n + kw0) * cin + k0, min(R, width - k0), index))

    def rows(mt: int) -> list[MTile]:
        out = []
        for n in range(n_img):
            if ow <= mt:
                ny_max = max(1, min(mt // ow, MAX_COUNT))
                spans = [(oy0, min(ny_max, oh - oy0), 0, ow) for oy0 in range(0, oh, ny_max)]
            else:
                spans = [
                    (oy, 1, ox0, min(mt, ow - ox0)) for oy in range(oh) for ox0 in range(0, ow, mt)
                ]
            for oy0, ny, ox0, nx in spans:

                def load(
                    index: int,
                    w_row: int,
                    n: int = n,
                    oy0: int = oy0,
                    ny: int = ny,
                    ox0: int = ox0,
                    nx: int = nx,
                ) -> dict[str, int]:
                    kh, kw0, _ = chunks[index]
                    k0 = w_row - (kh * kw_n + kw0) * cin
                    base = x.pixel(n, oy0 * sh + kh * dh - pt, ox0 * sw + kw0 * dw - pl)
                    return {
                        "addr": base + k0,
                        "n_inner": nx,
                        "stride_inner": sw * cin,
                        "n_outer": ny,
                        "stride_outer": sh * wp * cin,
                    }

                def store(
                    n0: int, n: int = n, oy0: int = oy0, ny: int = ny, ox0: int = ox0, nx: int = nx
                ) -> dict[str, int]:
                    _, _, owp, _ = y.geometry
                    return {
                        "addr": y.pixel(n, oy0, ox0) + n0,
                        "n_inner": nx,
                        "stride_inner": cout,
                        "n_outer": ny,
                        "stride_outer": owp * cout,
                    }

                out.append(MTile(ny * nx, load, store))
        return out

    # Grouped convolutions become one block-diagonal GEMM over all input channels: group g's
    # weights sit in rows g·cg.. and columns g·og..; the all-zero tiles are skipped.
    og = cout // groups
    w2 = np.zeros((kh_n * kw_n, cin, cout), dtype=np.int8)
    taps = a["w_q"].reshape(kh_n * kw_n, cg, cout)
    for g in range(groups):
        w2[:, g * cg : (g + 1) * cg, g * og : (g + 1) * og] = taps[:, :, g * og : (g + 1) * og]
    node.attrs["w2"] = w2.reshape(kh_n * kw_n * cin, cout)
    where = _emit_matmul_layer(
        em, node, tile_rows=rows, k_tiles=k_tiles, barrier_in=barrier_in, barrier_out=barrier_out
    )
    nt = where["nt"] * em.config.cols
    del hp
    return {
        "op": "conv",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "w": _desc(
            "w",
            tuple(a["w_q"].shape),
            "int8",
            where["w"] if groups == 1 else em.place(a["w_q"], "int8"),
        ),
        "bias": _desc("bias", (cout,), "int32", where["bias"]) if where["bias"] >= 0 else None,
        "mult": _desc("mult", (cout,), "int32", where["quant"]),
        "shift": _desc("shift", (cout,), "int32", where["quant"] + nt * 4),
        "act": _act_record(a["activation"], where["lut"]),
        "stride": list(a["strides"]),
        "padding": list(a["pads"]),
        "dilation": list(a["dilations"]),
        "groups": groups,
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": n_img * oh * ow * kh_n * kw_n * cg * cout,
    }


@dataclass(frozen=True)
class Block:
    """One serialised step of a pool or an add: loads into accumulator regions, vector ops on
    them, and one store of region ``src``."""

    loads: list[dict[str, Any]]
    vectors: list[dict[str, Any]]
    store: dict[str, Any]
    tile: int = 0  # column tile of a per-channel requantisation


def blocks_base(config: AcceleratorConfig, act: golden.Activation, tiles: int = 1) -> int:
    """First accumulator row of the blocks' regions (after the quantisation rows and LUT)."""
    return 2 * tiles + (config.lut_rows if act.table is not None else 0)


def _emit_blocks(
    em: Emitter,
    blocks: list[Block],
    quant: tuple[Any, Any],
    act: golden.Activation,
    *,
    barrier_in: bool,
    barrier_out: bool,
) -> None:
    """Emit blocks one at a time: loads → vector ops → store → execute sync → next loads.

    Accumulator rows 0 and 1 hold the per-tensor requantisation (the same M and s in every
    lane), then the LUT if the activation has one; the blocks' region rows (``dst``, ``a``,
    ``b``, ``src``) count from :func:`blocks_base`.
    """
    C = em.config.cols
    # Per-tensor (M, s) go into every lane; per-channel arrays into one row per column tile.
    mult, shift = (np.asarray(q).reshape(-1) for q in quant)
    if mult.size == 1:
        mult, shift = np.full(C, mult[0]), np.full(C, shift[0])
    tiles = -(-mult.size // C)
    rows = em.place(np.concatenate([_padded(mult, tiles * C), _padded(shift, tiles * C)]), "int32")
    em.emit(
        "load",
        *(["pop_next"] if barrier_in else []),
        target=LoadTarget.ACC,
        elem=Elem.I32,
        dst=0,
        len=C,
        n_inner=2 * tiles,
        addr=rows,
        stride_inner=4 * C,
    )
    base = blocks_base(em.config, act, tiles)
    if act.table is not None:
        lut = em.place(_padded(act.table, em.config.lut_rows * C), "int8")
        em.emit(
            "load",
            target=LoadTarget.ACC,
            dst=2 * tiles,
            len=C,
            n_inner=em.config.lut_rows,
            addr=lut,
            stride_inner=C,
        )
    blocks = [
        Block(
            [{**f, "dst": f["dst"] + base} for f in block.loads],
            [
                {
                    **f,
                    "dst": f["dst"] + base,
                    "a": f["a"] + base,
                    "b": f.get("b", 0) + (0 if f.get("b_imm") else base),
                }
                for f in block.vectors
            ],
            {**block.store, "src": block.store["src"] + base},
            block.tile,
        )
        for block in blocks
    ]
    configured = -1
    for b, block in enumerate(blocks):
        release = b < len(blocks) - 1 or barrier_out
        for i, fields in enumerate(block.loads):
            deps = (["pop_next"] if i == 0 and b > 0 else []) + (
                ["push_next"] if i == len(block.loads) - 1 else []
            )
            em.emit("load", *deps, target=LoadTarget.ACC, **fields)
        for i, fields in enumerate(block.vectors):
            deps = (["pop_prev"] if i == 0 else []) + (
                ["push_next"] if i == len(block.vectors) - 1 else []
            )
            em.emit("vector", *deps, **fields)
        if block.tile != configured:
            first = ["pop_prev"] if b == 0 else []
            em.emit("cfg_quant", *first, mult_row=block.tile, shift_row=tiles + block.tile)
            if b == 0:
                _emit_store_config(em, act, 2 * tiles)
            configured = block.tile
        em.emit(
            "store",
            *([] if b == 0 else ["pop_prev"]),
            *(["push_prev"] if release else []),
            target=StoreTarget.DRAM,
            **block.store,
        )
        if release:
            em.emit("sync", "pop_next", "push_prev", unit=Unit.EXECUTE)


def _pixel_runs(y: Buffer, chunk: int, C: int) -> list[tuple[int, int, int, int, int, int]]:
    """(n, oy, ox0, nx, c0, cc) runs of output pixels: up to ``chunk`` pixels of one output row
    (or of the rows of a 2-D tensor, with oy = 0) and up to C channels."""
    if y.is_image:
        n_img, ch, oh, ow = y.shape
        return [
            (n, oy, ox0, min(chunk, ow - ox0), c0, min(C, ch - c0))
            for n in range(n_img)
            for oy in range(oh)
            for ox0 in range(0, ow, chunk)
            for c0 in range(0, ch, C)
        ]
    m, f = y.shape
    return [
        (0, 0, m0, min(chunk, m - m0), c0, min(C, f - c0))
        for m0 in range(0, m, chunk)
        for c0 in range(0, f, C)
    ]


def _at(buf: Buffer, n: int, oy: int, ox: int) -> tuple[int, int]:
    """(address, bytes between consecutive pixels) of pixel (oy, ox), or row ox of a 2-D."""
    if buf.is_image:
        return buf.pixel(n, oy, ox), buf.shape[1]
    return buf.addr + ox * buf.shape[1], buf.shape[1]


def _emit_pool(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, **barriers: bool
) -> dict[str, Any]:
    """Max or average pooling: window rows into accumulator regions, reduced with ``vector``
    max or add, stored with an identity (max) or a 1/count (average) requantisation."""
    cfg = em.config
    x = ins[0]
    a = node.attrs
    (kh_n, kw_n), (sh, sw) = a["kernel"], a["strides"]
    pt, pl, _, _ = a["pads"]
    ch = y.shape[1]
    windows = kh_n * kw_n
    chunk = min(y.shape[3], MAX_COUNT, (cfg.acc_depth - 2) // windows)
    if chunk < 1:
        raise CompileError(
            f"{node.name}: a {kh_n}x{kw_n} window needs more than acc_depth {cfg.acc_depth} rows"
        )
    is_max = node.op == "hw.maxpool"
    op = VecOp.MAX if is_max else VecOp.ADD
    blocks = []
    for n, oy, ox0, nx, c0, cc in _pixel_runs(y, chunk, cfg.cols):
        loads = []
        for w in range(windows):
            ky, kx = divmod(w, kw_n)
            loads.append(
                {
                    "dst": w * chunk,
                    "len": cc,
                    "n_inner": nx,
                    "addr": x.pixel(n, oy * sh + ky - pt, ox0 * sw + kx - pl) + c0,
                    "stride_inner": sw * ch,
                }
            )
        vectors = [
            {"op": op, "dst": 0, "a": 0, "b": w * chunk, "n": nx} for w in range(1, windows)
        ] or [{"op": VecOp.MAX, "dst": 0, "a": 0, "b": 0, "n": nx}]
        blocks.append(
            Block(
                loads,
                vectors,
                {
                    "src": 0,
                    "len": cc,
                    "n_inner": nx,
                    "addr": y.pixel(n, oy, ox0) + c0,
                    "stride_inner": ch,
                },
            )
        )
    quant = IDENTITY if is_max else (int(a["mult"]), int(a["shift"]))
    _emit_blocks(em, blocks, quant, golden.NO_ACTIVATION, **barriers)
    record: dict[str, Any] = {
        "op": "maxpool" if is_max else "avgpool",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "kernel": list(a["kernel"]),
        "stride": list(a["strides"]),
        "padding": list(a["pads"]),
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": 0,
    }
    if not is_max:
        record.update(s_x=a["s_x"], s_y=a["s_y"])
    return record


def _emit_add(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, **barriers: bool
) -> dict[str, Any]:
    """Residual add: ``requant(a·m_a + b·m_b)`` with int16 multipliers on the vector unit."""
    cfg = em.config
    a_buf, b_buf = ins
    params: golden.AddParams = node.attrs["params"]
    chunk = min(MAX_COUNT, (cfg.acc_depth - 2) // 2)
    blocks = []
    for n, oy, ox0, nx, c0, cc in _pixel_runs(y, chunk, cfg.cols):
        (aa, sa), (ba, sb), (ya, sy) = (
            _at(a_buf, n, oy, ox0),
            _at(b_buf, n, oy, ox0),
            _at(y, n, oy, ox0),
        )
        loads = [
            {"dst": 0, "len": cc, "n_inner": nx, "addr": aa + c0, "stride_inner": sa},
            {"dst": chunk, "len": cc, "n_inner": nx, "addr": ba + c0, "stride_inner": sb},
        ]
        vectors = [
            {"op": VecOp.MUL, "dst": 0, "a": 0, "b_imm": 1, "imm": params.m_a, "n": nx},
            {
                "op": VecOp.MUL,
                "dst": chunk,
                "a": chunk,
                "b_imm": 1,
                "imm": params.m_b,
                "n": nx,
            },
            {"op": VecOp.ADD, "dst": 0, "a": 0, "b": chunk, "n": nx},
        ]
        blocks.append(
            Block(
                loads,
                vectors,
                {"src": 0, "len": cc, "n_inner": nx, "addr": ya + c0, "stride_inner": sy},
            )
        )
    act: golden.Activation = node.attrs["activation"]
    _emit_blocks(em, blocks, (params.mult, params.shift), act, **barriers)
    return {
        "op": "add",
        "name": node.name,
        "x": a_buf.desc("a", 1.0, logical=False).to_json(),
        "b": b_buf.desc("b", 1.0, logical=False).to_json(),
        "params": [params.m_a, params.m_b, params.mult, params.shift],
        "act": _act_record(act, -1),
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": 0,
    }


def _sequence_desc(y: Buffer, t_len: int, batch: int, hidden: int) -> dict[str, Any]:
    """A recurrent layer's ``Y`` as ``[T, B, H]`` (the golden model's layout)."""
    return TensorDesc(
        name="y",
        shape=(t_len, batch, hidden),
        dtype="int8",
        scale=1.0,
        offset=y.addr,
        strides=(batch * hidden, hidden, 1),
    ).to_json()


def _step_tiles(
    batch: int, sources: list[tuple[int, int, int]], out: tuple[int, int, int]
) -> Callable[[int], list[MTile]]:
    """Output tiles of one recurrent GEMM over ``batch`` rows.

    ``sources[index]`` is (address of batch row 0, first weight row of that K-segment, row
    stride in bytes); ``out`` is (address of row 0, row stride in bytes, bytes per element).
    """

    def rows(mt: int) -> list[MTile]:
        tiles = []
        for m0 in range(0, batch, mt):
            mr = min(mt, batch - m0)

            def load(index: int, w_row: int, m0: int = m0, mr: int = mr) -> dict[str, int]:
                addr, first, stride = sources[index]
                return {
                    "addr": addr + m0 * stride + w_row - first,
                    "n_inner": mr,
                    "stride_inner": stride,
                }

            def store(n0: int, m0: int = m0, mr: int = mr) -> dict[str, int]:
                addr, stride, item = out
                return {
                    "addr": addr + m0 * stride + n0 * item,
                    "n_inner": mr,
                    "stride_inner": stride,
                }

            tiles.append(MTile(mr, load, store))
        return tiles

    return rows


def _k_tiles(R: int, widths: list[int]) -> list[KTile]:
    """K tiles over consecutive K-segments (one per source) of the given widths."""
    tiles, first = [], 0
    for index, width in enumerate(widths):
        tiles += [KTile(first + k0, min(R, width - k0), index) for k0 in range(0, width, R)]
        first += width
    return tiles


def _emit_rnn(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    """An Elman RNN: one GEMM per time step over [x_t, h_(t-1)] with the tanh LUT on the store
    path; each step reads the hidden state the previous step stored (a barrier apart)."""
    R = em.config.rows
    x = ins[0]
    gate: golden.QuantGate = node.attrs["gate"]
    t_len, batch, n_in = x.shape
    hidden = gate.hidden_size
    node.attrs.update(
        w2=np.concatenate([gate.wx, gate.wh]),
        b_q=gate.bias,
        mult=gate.mult,
        shift=gate.shift,
        activation=golden.Activation.lookup(golden.TANH_LUT),
    )
    h0 = node.attrs["h0_q"]
    h0_addr = em.place(np.zeros((batch, hidden)) if h0 is None else h0, "int8")
    placed = None
    for t in range(t_len):
        h_src = h0_addr if t == 0 else y.addr + (t - 1) * batch * hidden
        rows = _step_tiles(
            batch,
            [(x.addr + t * batch * n_in, 0, n_in), (h_src, n_in, hidden)],
            (y.addr + t * batch * hidden, hidden, 1),
        )
        placed = _emit_matmul_layer(
            em,
            node,
            tile_rows=rows,
            k_tiles=_k_tiles(R, [n_in, hidden]),
            placed=placed,
            barrier_in=barrier_in or t > 0,
            barrier_out=barrier_out or t < t_len - 1,
        )
    assert placed is not None
    nt = placed["nt"] * em.config.cols
    w_addr = placed["w"]
    return {
        "op": "rnn",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "wx": _desc("wx", (n_in, hidden), "int8", w_addr),
        "wh": _desc("wh", (hidden, hidden), "int8", w_addr + n_in * hidden),
        "bias": _desc("bias", (hidden,), "int32", placed["bias"]),
        "mult": _desc("mult", (hidden,), "int32", placed["quant"]),
        "shift": _desc("shift", (hidden,), "int32", placed["quant"] + nt * 4),
        "h0": _desc("h0", (batch, hidden), "int8", h0_addr),
        "y": _sequence_desc(y, t_len, batch, hidden),
        "macs": t_len * batch * (n_in + hidden) * hidden,
    }


def _emit_lstm(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    """An LSTM step is four gate GEMMs (sigmoid or tanh LUT on the store path) and three
    vector phases for the cell (docs/quantisation.md): c = (f·c >> 7) + (i·g >> 3) stored as
    int32; tanh(c) through the store path's LUT; h = o·tanh(c) >> 7. Each sub-step is a
    barrier apart, since each reads what the one before wrote."""
    cfg = em.config
    R, C = cfg.rows, cfg.cols
    x = ins[0]
    weights: golden.LSTMWeights = node.attrs["weights"]
    t_len, batch, n_in = x.shape
    hidden = weights.i.hidden_size
    h0 = node.attrs["h0_q"]
    h0_addr = em.place(np.zeros((batch, hidden)) if h0 is None else h0, "int8")
    c_addr = node.attrs["c_addr"]
    gate_names = ("i", "f", "g", "o")
    gate_buf = {k: em.alloc(batch * hidden) for k in (*gate_names, "tanh_c")}
    gate_nodes = {}
    for k in gate_names:
        q: golden.QuantGate = getattr(weights, k)
        lut = golden.TANH_LUT if k == "g" else golden.SIGMOID_LUT
        gate_nodes[k] = Node(
            "hw.gemm",
            f"{node.name}.{k}",
            [],
            [],
            {
                "w2": np.concatenate([q.wx, q.wh]),
                "b_q": q.bias,
                "mult": q.mult,
                "shift": q.shift,
                "activation": golden.Activation.lookup(lut),
            },
        )
    k_tiles = _k_tiles(R, [n_in, hidden])
    placed: dict[str, dict[str, int] | None] = dict.fromkeys(gate_names)
    tanh_act = golden.Activation.lookup(golden.TANH_LUT)
    regions = 4
    chunk = min(MAX_COUNT, batch, (cfg.acc_depth - blocks_base(cfg, tanh_act)) // regions)
    if chunk < 1:
        raise CompileError(f"{node.name}: the cell needs more than acc_depth {cfg.acc_depth}")
    runs = [
        (m0, min(chunk, batch - m0), c0, min(C, hidden - c0))
        for m0 in range(0, batch, chunk)
        for c0 in range(0, hidden, C)
    ]
    steps = 0
    last_step = t_len * 7 - 1

    def barriers() -> dict[str, bool]:
        nonlocal steps
        out = {
            "barrier_in": barrier_in or steps > 0,
            "barrier_out": barrier_out or steps < last_step,
        }
        steps += 1
        return out

    def at(buf: int, m0: int, c0: int, item: int = 1) -> dict[str, int]:
        return {"addr": buf + (m0 * hidden + c0) * item, "stride_inner": hidden * item}

    for t in range(t_len):
        h_src = h0_addr if t == 0 else y.addr + (t - 1) * batch * hidden
        for k in gate_names:
            rows = _step_tiles(
                batch,
                [(x.addr + t * batch * n_in, 0, n_in), (h_src, n_in, hidden)],
                (gate_buf[k], hidden, 1),
            )
            placed[k] = _emit_matmul_layer(
                em, gate_nodes[k], tile_rows=rows, k_tiles=k_tiles, placed=placed[k], **barriers()
            )
        cell, tanh, hidden_out = [], [], []
        for m0, mr, c0, cc in runs:
            rows_ = {"len": cc, "n_inner": mr}
            cell.append(
                Block(
                    [
                        {"dst": 0, "elem": Elem.I32, **rows_, **at(c_addr, m0, c0, 4)},
                        {"dst": chunk, **rows_, **at(gate_buf["f"], m0, c0)},
                        {"dst": 2 * chunk, **rows_, **at(gate_buf["i"], m0, c0)},
                        {"dst": 3 * chunk, **rows_, **at(gate_buf["g"], m0, c0)},
                    ],
                    [
                        {"op": VecOp.MUL, "dst": 0, "a": 0, "b": chunk, "n": mr, "shift": 7},
                        {
                            "op": VecOp.MUL,
                            "dst": 2 * chunk,
                            "a": 2 * chunk,
                            "b": 3 * chunk,
                            "n": mr,
                            "shift": 3,
                        },
                        {"op": VecOp.ADD, "dst": 0, "a": 0, "b": 2 * chunk, "n": mr},
                    ],
                    {"src": 0, "elem": Elem.I32, "len": cc, "n_inner": mr, **at(c_addr, m0, c0, 4)},
                )
            )
            tanh.append(
                Block(
                    [{"dst": 0, "elem": Elem.I32, **rows_, **at(c_addr, m0, c0, 4)}],
                    [{"op": VecOp.MAX, "dst": 0, "a": 0, "b": 0, "n": mr}],
                    {"src": 0, "len": cc, "n_inner": mr, **at(gate_buf["tanh_c"], m0, c0)},
                )
            )
            hidden_out.append(
                Block(
                    [
                        {"dst": 0, **rows_, **at(gate_buf["o"], m0, c0)},
                        {"dst": chunk, **rows_, **at(gate_buf["tanh_c"], m0, c0)},
                    ],
                    [{"op": VecOp.MUL, "dst": 0, "a": 0, "b": chunk, "n": mr, "shift": 7}],
                    {"src": 0, "len": cc, "n_inner": mr, **at(y.addr + t * batch * hidden, m0, c0)},
                )
            )
        _emit_blocks(em, cell, IDENTITY, golden.NO_ACTIVATION, **barriers())
        # c (2^-11) to the tanh input scale (2^-5): round_shift(c, 6) = requant(c, 2^30, 36).
        _emit_blocks(em, tanh, (1 << 30, 36), tanh_act, **barriers())
        _emit_blocks(em, hidden_out, IDENTITY, golden.NO_ACTIVATION, **barriers())

    def gate_record(k: str) -> dict[str, Any]:
        where = placed[k]
        assert where is not None
        nt = where["nt"] * C
        return {
            "wx": _desc("wx", (n_in, hidden), "int8", where["w"]),
            "wh": _desc("wh", (hidden, hidden), "int8", where["w"] + n_in * hidden),
            "bias": _desc("bias", (hidden,), "int32", where["bias"]),
            "mult": _desc("mult", (hidden,), "int32", where["quant"]),
            "shift": _desc("shift", (hidden,), "int32", where["quant"] + nt * 4),
        }

    return {
        "op": "lstm",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "gates": {k: gate_record(k) for k in gate_names},
        "h0": _desc("h0", (batch, hidden), "int8", h0_addr),
        "c0": _desc(
            "c0",
            (batch, hidden),
            "int32",
            em.place(
                np.zeros((batch, hidden)) if node.attrs["c0_q"] is None else node.attrs["c0_q"],
                "int32",
            ),
        ),
        "c_out": _desc("c", (batch, hidden), "int32", c_addr),
        "y": _sequence_desc(y, t_len, batch, hidden),
        "macs": t_len * batch * (n_in + hidden) * hidden * 4,
    }


def _gate_node(
    name: str,
    w2: NDArray[Any],
    bias: NDArray[Any] | None,
    q: golden.QuantGate,
    act: golden.Activation,
) -> Node:
    return Node(
        "hw.gemm",
        name,
        [],
        [],
        {"w2": w2, "b_q": bias, "mult": q.mult, "shift": q.shift, "activation": act},
    )


def _gate_record(em: Emitter, q: golden.QuantGate) -> dict[str, Any]:
    """A copy of one gate's integer parameters for the golden backend."""
    n_in, hidden = q.wx.shape
    rec = {
        "wx": _desc("wx", (n_in, hidden), "int8", em.place(q.wx, "int8")),
        "wh": _desc("wh", (hidden, hidden), "int8", em.place(q.wh, "int8")),
        "bias": _desc("bias", (hidden,), "int32", em.place(q.bias, "int32")),
        "mult": _desc("mult", (hidden,), "int32", em.place(q.mult, "int32")),
        "shift": _desc("shift", (hidden,), "int32", em.place(q.shift, "int32")),
        "bias_h": None,
    }
    if q.bias_h is not None:
        rec["bias_h"] = _desc("bias_h", (hidden,), "int32", em.place(q.bias_h, "int32"))
    return rec


def _emit_gru(
    em: Emitter, node: Node, ins: list[Buffer], y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    """A GRU step: gate GEMMs z and r (sigmoid LUT); the candidate n — with
    ``linear_before_reset = 0`` a GEMM over [x, r·h >> 7], with 1 two raw int32 GEMMs
    combined as ``acc_x + (r·acc_h >> 7)`` on the vector unit and requantised into the tanh
    LUT; then ``h = n + (z·(h - n) >> 7)`` (docs/quantisation.md). Sub-steps are barriers
    apart."""
    cfg = em.config
    R, C = cfg.rows, cfg.cols
    x = ins[0]
    weights: golden.GRUWeights = node.attrs["weights"]
    lbr = weights.linear_before_reset
    t_len, batch, n_in = x.shape
    hidden = weights.z.hidden_size
    h0 = node.attrs["h0_q"]
    h0_addr = em.place(np.zeros((batch, hidden)) if h0 is None else h0, "int8")
    buf = {k: em.alloc(batch * hidden) for k in ("z", "r", "n", "rh")}
    acc_buf = {k: em.alloc(batch * hidden * 4) for k in ("ax", "ah")} if lbr else {}
    sig = golden.Activation.lookup(golden.SIGMOID_LUT)
    tanh = golden.Activation.lookup(golden.TANH_LUT)
    n_gate = weights.n
    gates = {
        "z": _gate_node(
            "z", np.concatenate([weights.z.wx, weights.z.wh]), weights.z.bias, weights.z, sig
        ),
        "r": _gate_node(
            "r", np.concatenate([weights.r.wx, weights.r.wh]), weights.r.bias, weights.r, sig
        ),
    }
    if lbr:
        gates["ax"] = _gate_node("ax", n_gate.wx, n_gate.bias, n_gate, golden.NO_ACTIVATION)
        gates["ah"] = _gate_node("ah", n_gate.wh, n_gate.bias_h, n_gate, golden.NO_ACTIVATION)
    else:
        gates["n"] = _gate_node(
            "n", np.concatenate([n_gate.wx, n_gate.wh]), n_gate.bias, n_gate, tanh
        )
    placed: dict[str, dict[str, int] | None] = dict.fromkeys(gates)
    regions = 3
    chunk = min(
        MAX_COUNT, batch, (cfg.acc_depth - blocks_base(cfg, tanh, -(-hidden // C))) // regions
    )
    if chunk < 1:
        raise CompileError(f"{node.name}: the cell needs more than acc_depth {cfg.acc_depth}")
    runs = [
        (m0, min(chunk, batch - m0), c0, min(C, hidden - c0))
        for m0 in range(0, batch, chunk)
        for c0 in range(0, hidden, C)
    ]
    sub_steps = t_len * (6 if lbr else 5)  # GEMMs and vector phases, each a barrier apart
    done = 0

    def barriers() -> dict[str, bool]:
        nonlocal done
        out = {
            "barrier_in": barrier_in or done > 0,
            "barrier_out": barrier_out or done < sub_steps - 1,
        }
        done += 1
        return out

    def at(addr: int, m0: int, c0: int, item: int = 1) -> dict[str, int]:
        return {"addr": addr + (m0 * hidden + c0) * item, "stride_inner": hidden * item}

    def gemm(
        name: str,
        sources: list[tuple[int, int, int]],
        widths: list[int],
        out: tuple[int, int, int],
        *,
        raw: bool = False,
    ) -> None:
        placed[name] = _emit_matmul_layer(
            em,
            gates[name],
            tile_rows=_step_tiles(batch, sources, out),
            k_tiles=_k_tiles(R, widths),
            placed=placed[name],
            raw=raw,
            **barriers(),
        )

    for t in range(t_len):
        x_src = (x.addr + t * batch * n_in, 0, n_in)
        h_at = h0_addr if t == 0 else y.addr + (t - 1) * batch * hidden
        h_src = (h_at, n_in, hidden)
        gemm("z", [x_src, h_src], [n_in, hidden], (buf["z"], hidden, 1))
        gemm("r", [x_src, h_src], [n_in, hidden], (buf["r"], hidden, 1))
        if lbr:
            gemm("ax", [x_src], [n_in], (acc_buf["ax"], hidden * 4, 4), raw=True)
            gemm(
                "ah",
                [(h_at, 0, hidden)],
                [hidden],
                (acc_buf["ah"], hidden * 4, 4),
                raw=True,
            )
            blocks = []
            for m0, mr, c0, cc in runs:
                rows = {"len": cc, "n_inner": mr}
                blocks.append(
                    Block(
                        [
                            {"dst": 0, "elem": Elem.I32, **rows, **at(acc_buf["ax"], m0, c0, 4)},
                            {
                                "dst": chunk,
                                "elem": Elem.I32,
                                **rows,
                                **at(acc_buf["ah"], m0, c0, 4),
                            },
                            {"dst": 2 * chunk, **rows, **at(buf["r"], m0, c0)},
                        ],
                        [
                            {
                                "op": VecOp.MUL,
                                "dst": chunk,
                                "a": chunk,
                                "b": 2 * chunk,
                                "n": mr,
                                "shift": 7,
                            },
                            {"op": VecOp.ADD, "dst": 0, "a": 0, "b": chunk, "n": mr},
                        ],
                        {"src": 0, "len": cc, "n_inner": mr, **at(buf["n"], m0, c0)},
                        tile=c0 // C,
                    )
                )
            _emit_blocks(em, blocks, (n_gate.mult, n_gate.shift), tanh, **barriers())
        else:
            blocks = []
            for m0, mr, c0, cc in runs:
                rows = {"len": cc, "n_inner": mr}
                blocks.append(
                    Block(
                        [
                            {"dst": 0, **rows, **at(buf["r"], m0, c0)},
                            {"dst": chunk, **rows, **at(h_at, m0, c0)},
                        ],
                        [{"op": VecOp.MUL, "dst": 0, "a": 0, "b": chunk, "n": mr, "shift": 7}],
                        {"src": 0, "len": cc, "n_inner": mr, **at(buf["rh"], m0, c0)},
                    )
                )
            _emit_blocks(em, blocks, IDENTITY, golden.NO_ACTIVATION, **barriers())
            gemm(
                "n",
                [x_src, (buf["rh"], n_in, hidden)],
                [n_in, hidden],
                (buf["n"], hidden, 1),
            )
        blocks = []
        for m0, mr, c0, cc in runs:
            rows = {"len": cc, "n_inner": mr}
            blocks.append(
                Block(
                    [
                        {"dst": 0, **rows, **at(buf["n"], m0, c0)},
                        {"dst": chunk, **rows, **at(h_at, m0, c0)},
                        {"dst": 2 * chunk, **rows, **at(buf["z"], m0, c0)},
                    ],
                    [
                        {"op": VecOp.SUB, "dst": chunk, "a": chunk, "b": 0, "n": mr},
                        {
                            "op": VecOp.MUL,
                            "dst": chunk,
                            "a": chunk,
                            "b": 2 * chunk,
                            "n": mr,
                            "shift": 7,
                        },
                        {"op": VecOp.ADD, "dst": 0, "a": 0, "b": chunk, "n": mr},
                    ],
                    {"src": 0, "len": cc, "n_inner": mr, **at(y.addr + t * batch * hidden, m0, c0)},
                )
            )
        _emit_blocks(em, blocks, IDENTITY, golden.NO_ACTIVATION, **barriers())

    return {
        "op": "gru",
        "name": node.name,
        "lbr": int(lbr),
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "gates": {k: _gate_record(em, getattr(weights, k)) for k in ("z", "r", "n")},
        "h0": _desc("h0", (batch, hidden), "int8", h0_addr),
        "y": _sequence_desc(y, t_len, batch, hidden),
        "macs": t_len * batch * (n_in + hidden) * hidden * 3,
    }


EMITTERS: dict[str, Callable[..., dict[str, Any]]] = {
    "hw.gru": _emit_gru,
    "hw.lstm": _emit_lstm,
    "hw.rnn": _emit_rnn,
    "hw.gemm": lambda em, node, ins, y, **kw: _emit_gemm(em, node, ins[0], y, **kw),
    "hw.conv": lambda em, node, ins, y, **kw: _emit_conv(em, node, ins[0], y, **kw),
    "hw.maxpool": _emit_pool,
    "hw.avgpool": _emit_pool,
    "hw.add": _emit_add,
}


def _allocate(em: Emitter, graph: Graph) -> dict[str, Buffer]:
    """A buffer per activation, with the border its consumers' padding needs."""
    need: dict[str, tuple[list[int], set[int]]] = {}
    for node in graph.nodes:
        if node.op in ("hw.conv", "hw.maxpool", "hw.avgpool"):
            pads, fills = need.setdefault(node.inputs[0], ([0, 0, 0, 0], set()))
            for i, p in enumerate(node.attrs["pads"]):
                pads[i] = max(pads[i], p)
            if any(node.attrs["pads"]):
                fills.add(0 if node.op == "hw.conv" else -128)
    buffers = {}
    names = list(graph.inputs) + [
        o for n in graph.nodes for o in n.outputs if n.op.startswith("hw.") and o
    ]
    for node in graph.nodes:
        if node.op in ("hw.rnn", "hw.lstm", "hw.gru"):
            # Y holds every step's hidden state; Y_h is a view of its last step.
            if node.op == "hw.rnn":
                gate = node.attrs["gate"]
            else:
                w = node.attrs["weights"]
                gate = w.i if node.op == "hw.lstm" else w.z
            t_len, batch, hidden = (*graph.values[node.inputs[0]].shape[:2], gate.hidden_size)
            if node.op == "hw.lstm":
                # The cell state, updated in place each step; Y_c is its final value.
                c0 = node.attrs["c0_q"]
                c_addr = em.place(np.zeros((batch, hidden)) if c0 is None else c0, "int32")
                node.attrs["c_addr"] = c_addr
                if node.outputs[2]:
                    buffers[node.outputs[2]] = Buffer(c_addr, (1, batch, hidden), dtype="int32")
            y_name = node.outputs[0] or f"{node.name}:Y"
            node.outputs[0] = y_name
            addr = em.alloc(t_len * batch * hidden)
            buffers[y_name] = Buffer(addr, (t_len, 1, batch, hidden))
            if len(node.outputs) > 1 and node.outputs[1]:
                buffers[node.outputs[1]] = Buffer(
                    addr + (t_len - 1) * batch * hidden, (1, batch, hidden)
                )
    names = [n for n in names if n not in buffers]
    for name in names:
        v = graph.values[name]
        pads, fills = need.get(name, ([0, 0, 0, 0], set()))
        if len(fills) > 1:
            raise CompileError(
                f"{name!r} feeds both a padded conv and a padded max-pool; "
                "their borders differ (0 and -128)"
            )
        fill = fills.pop() if fills else 0
        if len(v.shape) == 4:
            n, c, h, w = v.shape
            size = n * (h + pads[0] + pads[2]) * (w + pads[1] + pads[3]) * c
        else:
            size = int(np.prod(v.shape))
        buffers[name] = Buffer(
            em.alloc(size, fill),
            v.shape,
            (pads[0], pads[1], pads[2], pads[3]),
            image=len(v.shape) == 4,
        )
    return buffers


def emit_program(graph: Graph, config: AcceleratorConfig) -> Program:
    """Allocate memory for the lowered graph and emit its instruction stream."""
    em = Emitter(config)
    buffers = _allocate(em, graph)
    layers_nodes = [n for n in graph.nodes if n.op in EMITTERS]
    if not layers_nodes:
        raise CompileError("the model has no layer to run on the accelerator")
    layers = []
    for i, node in enumerate(layers_nodes):
        record = EMITTERS[node.op](
            em,
            node,
            [buffers[v] for v in node.inputs if v],
            buffers[node.outputs[0]],
            barrier_in=i > 0,
            barrier_out=i < len(layers_nodes) - 1,
        )
        layers.append(record)
    em.emit("halt")
    inputs = []
    for name in graph.inputs:
        scale = graph.values[name].scale
        assert scale is not None
        desc = buffers[name].desc(name, scale, logical=True)
        if name in graph.layouts:  # the buffer holds the transposed tensor
            perm, _ = graph.layouts[name]
            shape, strides = [0] * len(perm), [0] * len(perm)
            for k, axis in enumerate(perm):
                shape[axis], strides[axis] = desc.shape[k], desc.strides[k]
            desc = TensorDesc(
                name=name,
                shape=tuple(shape),
                dtype=desc.dtype,
                scale=scale,
                offset=desc.offset,
                strides=tuple(strides),
            )
        inputs.append(desc)
    outputs = []
    host_softmax = []
    for name in graph.outputs:
        source = name
        producer = graph.producer(name)
        if producer is not None and producer.op == "softmax":
            source = producer.inputs[0]
            host_softmax.append(name)
        source = graph.aliases.get(source, source)
        if source not in buffers:
            raise CompileError(f"output {name!r} is not computed on the accelerator")
        scale = graph.values[source].scale
        assert scale is not None
        buffer = buffers[source]
        desc = buffer.desc(name, scale, logical=True)
        if name in graph.layouts:  # a transpose folded into the output's layout
            perm, before = graph.layouts[name]
            rowmajor = Buffer(buffer.addr, before, dtype=buffer.dtype)
            base = rowmajor.desc(name, scale, logical=True)
            desc = TensorDesc(
                name=name,
                shape=tuple(base.shape[p] for p in perm),
                dtype=desc.dtype,
                scale=scale,
                offset=base.offset,
                strides=tuple(base.strides[p] for p in perm),
            )
        elif graph.values[name].shape != buffer.shape and (
            not buffer.is_image or (buffer.shape[2:] == (1, 1) and not any(buffer.pads))
        ):
            # Layout-only ops (Squeeze, Flatten) changed the shape, not the bytes.
            # An unpadded [N, C, 1, 1] image is [N, C] row-major too.
            logical = graph.values[name].shape
            desc = Buffer(buffer.addr, logical, dtype=buffer.dtype).desc(name, scale, logical=True)
        outputs.append(desc)
    return Program(
        config=config,
        instructions=tuple(em.words),
        memory=bytes(em.memory),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        metadata={"name": graph.name, "layers": layers, "host_softmax": host_softmax},
    )
