"""GEMMs and convolutions: one weight-stationary schedule over tiles of rows and K."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...spec import golden
from ...spec.config import AcceleratorConfig
from ...spec.errors import CompileError
from ...spec.isa import (
    Elem,
    LoadTarget,
    MatMode,
    StoreTarget,
    Unit,
    VecOp,
)
from ..ir import Node
from .common import (
    MAX_COUNT,
    Buffer,
    Emitter,
    KTile,
    MTile,
    Pending,
    act_record,
    desc_json,
    padded,
    store_config,
)


def pool_area(node: Node) -> int:
    """Window size of the max-pool fused into ``node`` (1 when there is none)."""
    pool = node.attrs.get("pool")
    return 1 if pool is None else int(pool[0] * pool[1])


def constant_rows(cfg: AcceleratorConfig, node: Node) -> tuple[int | None, int, int | None, int]:
    """Where a GEMM's constants sit at the bottom of the accumulator: the bias row (or None),
    the multiplier and shift rows, the LUT's rows (or None), and how many rows they take."""
    n_out = (node.attrs["w2"] if "w2" in node.attrs else node.attrs["w_q"]).shape[-1]
    nt = -(-n_out // cfg.cols)
    act: golden.Activation = node.attrs["activation"]
    rows = 0
    bias_row = lut_row = None
    if node.attrs["b_q"] is not None:
        bias_row, rows = rows, rows + nt
    quant_row, rows = rows, rows + 2 * nt
    if act.table is not None:
        lut_row, rows = rows, rows + cfg.lut_rows
    return bias_row, quant_row, lut_row, rows


def tile_rows_limit(cfg: AcceleratorConfig, node: Node) -> int:
    """Output rows per block of a GEMM or convolution: two blocks (and, with a fused max-pool,
    their pooled rows) in the accumulator after the constants, two input tiles plus weights
    in the scratchpad, and at most one instruction's row count."""
    R = cfg.rows
    n_out = (node.attrs["w2"] if "w2" in node.attrs else node.attrs["w_q"]).shape[-1]
    acc_rows = constant_rows(cfg, node)[3]
    nbuf = min(2, cfg.token_depth)
    area = pool_area(node)
    per_buffer = (cfg.acc_depth - acc_rows) // nbuf
    # A block of m rows and its m / area pooled rows share one buffer's rows.
    usable = per_buffer if area == 1 else per_buffer * area // (area + 1)
    if usable < 1:
        raise CompileError(
            f"{node.name}: a layer with {n_out} outputs needs {acc_rows} "
            f"accumulator rows of constants and at least {nbuf * (1 if area == 1 else 2)} "
            f"more for outputs, but acc_depth is {cfg.acc_depth}"
        )
    if cfg.sp_depth // nbuf - R < 1:
        raise CompileError(
            f"{node.name}: {nbuf} scratchpad buffers of {R} weight rows and at least one input "
            f"row need sp_depth >= {nbuf * (R + 1)}, but sp_depth is {cfg.sp_depth}"
        )
    return int(min(MAX_COUNT, usable, cfg.sp_depth // nbuf - R))


def scratchpad_buffers(cfg: AcceleratorConfig, mt: int) -> int:
    """Scratchpad buffers (input tile plus weight tile each) for blocks of ``mt`` rows.

    Two would do for double buffering, but with a load as long as its matmul the load unit
    then waits for every matmul's drain before refilling that buffer; more buffers let it run
    further ahead. Each buffer in flight holds a token, so at most ``token_depth``.

    Parameters
    ----------
    cfg : AcceleratorConfig
        The accelerator: ``sp_depth``, ``rows`` and ``token_depth`` bound the count.
    mt : int
        Rows per block (the input tile); a buffer takes ``mt + rows`` scratchpad rows.

    Returns
    -------
    int
        At least 2 (1 when ``token_depth`` is 1), at most ``token_depth``.
    """
    fit = cfg.sp_depth // (mt + cfg.rows)
    return max(min(2, cfg.token_depth), min(cfg.token_depth, fit))


def _interleave(
    em: Emitter, loads: list[list[Pending]], rest: list[list[Pending]], ahead: int
) -> None:
    """Emit tile i's execute and store instructions after the loads of tiles up to i + ahead.

    Dispatch is in program order, so a block's vector ops (a fused pool), which fill the
    execute queue while they run, would otherwise hold back the next block's loads until they
    drain. The load of tile j waits for the buffer that tile j - ahead - 1's matmul frees,
    which is emitted before it, so running ahead never deadlocks.
    """
    emitted = 0
    for i, tail in enumerate(rest):
        for pending in loads[emitted : i + ahead + 1]:
            for name, deps, fields in pending:
                em.emit(name, *deps, **fields)
        emitted = max(emitted, min(len(loads), i + ahead + 1))
        for name, deps, fields in tail:
            em.emit(name, *deps, **fields)


def emit_matmul_layer(
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
            [padded(node.attrs["mult"], nt * C), padded(node.attrs["shift"], nt * C)]
        )
        lut = act.table
        placed = {
            "w": em.place(w2, "int8"),
            "bias": em.place(padded(bias, nt * C), "int32") if bias is not None else -1,
            "quant": em.place(quant, "int32"),
            "lut": em.place(padded(lut, cfg.lut_rows * C), "int8") if lut is not None else -1,
            "nt": nt,
        }
    w_addr, quant_addr = placed["w"], placed["quant"]
    bias_addr = placed["bias"] if placed["bias"] >= 0 else None
    lut_addr = placed["lut"] if placed["lut"] >= 0 else None

    bias_at, quant_row, lut_at, acc_rows = constant_rows(cfg, node)
    bias_row, lut_row = bias_at or 0, lut_at or 0
    pre: list[tuple[int, int, int, Elem]] = [(quant_row, quant_addr, 2 * nt, Elem.I32)]
    if bias_addr is not None:
        pre.insert(0, (bias_row, bias_addr, nt, Elem.I32))
    if lut_addr is not None:
        pre.append((lut_row, lut_addr, cfg.lut_rows, Elem.I8))
    area = pool_area(node)
    mt = tile_rows_limit(cfg, node)
    nbuf = min(2, cfg.token_depth)
    pooled_base = acc_rows + nbuf * mt  # each buffer's pooled rows, after the blocks
    nsp = scratchpad_buffers(cfg, mt)
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
    pooled_rows = mt // area
    # Weight tiles that are all zero add nothing: skip them (the block structure of grouped
    # and depthwise convolutions), keeping at least one per block for its bias or overwrite.
    needed: dict[int, list[KTile]] = {}
    for n0 in range(0, N, C):
        live = [kt for kt in k_tiles if w2[kt.w_row : kt.w_row + kt.rows, n0 : n0 + C].any()]
        needed[n0] = live or k_tiles[:1]
    blocks = [(mtile, n0) for mtile in m_tiles for n0 in range(0, N, C)]
    total = sum(len(needed[n0]) for _, n0 in blocks)
    # Each tile's two loads, and its execute (and, after a block's last tile, vector and store)
    # instructions, emitted below with the loads run ahead (see _interleave).
    loads: list[list[Pending]] = []
    rest: list[list[Pending]] = []
    tile = 0
    configured = -1
    for bi, (mtile, n0) in enumerate(blocks):
        mr, nc = mtile.rows, min(C, N - n0)
        acc_base = acc_rows + (bi % nbuf) * mt
        block_tiles = needed[n0]
        for ki, kt in enumerate(block_tiles):
            sp_base = (tile % nsp) * (mt + R)
            loads.append(
                [
                    (
                        "load",
                        ("pop_next",) if tile >= nsp else (),
                        {"target": LoadTarget.SP, "dst": sp_base, "len": kt.rows}
                        | mtile.load(kt.index, kt.w_row),
                    ),
                    (
                        "load",
                        ("push_next",),
                        {
                            "target": LoadTarget.SP,
                            "dst": sp_base + mt,
                            "len": nc,
                            "n_inner": kt.rows,
                            "addr": w_addr + kt.w_row * N + n0,
                            "stride_inner": N,
                        },
                    ),
                ]
            )
            out: list[Pending] = [
                ("preload", ("pop_prev",), {"src": sp_base + mt, "rows": kt.rows, "cols": nc})
            ]
            rest.append(out)
            deps = []
            if tile + nsp < total:
                deps.append("push_prev")  # the scratchpad buffer is free again
            if ki == len(block_tiles) - 1 and mtile.pool is None:
                deps.append("push_next")  # the block is finished
            if ki == 0 and bi >= nbuf:
                deps.append("pop_next")  # the accumulator block was stored
            first = MatMode.BIAS if bias_addr is not None else MatMode.OVERWRITE
            out.append(
                (
                    "matmul",
                    tuple(deps),
                    {
                        "src": sp_base,
                        "dst": acc_base,
                        "n": mr,
                        "mode": first if ki == 0 else MatMode.ACCUMULATE,
                        "bias": bias_row + n0 // C if bias_addr is not None else 0,
                        "swap": 1,
                    },
                )
            )
            tile += 1
        src = acc_base
        if mtile.pool is not None:
            src = pooled_base + (bi % nbuf) * pooled_rows
            vectors = mtile.pool(acc_base, src)
            for vi, fields in enumerate(vectors):
                last = vi == len(vectors) - 1
                out.append(("vector", ("push_next",) if last else (), {"op": VecOp.MAX} | fields))
        waits: tuple[str, ...] = ("pop_prev",)
        t = n0 // C
        if configured != t and not raw:
            out.append(
                ("cfg_quant", waits, {"mult_row": quant_row + t, "shift_row": quant_row + nt + t})
            )
            waits = ()
            if configured < 0:
                out.extend(store_config(act, lut_row))
            configured = t
        release = bi + nbuf < len(blocks) or (barrier_out and bi == len(blocks) - 1)
        out.append(
            (
                "store",
                waits + (("push_prev",) if release else ()),
                {
                    "target": StoreTarget.DRAM,
                    "elem": Elem.I32 if raw else Elem.I8,
                    "src": src,
                    "len": nc,
                }
                | mtile.store(n0),
            )
        )
    # Without queues (queue_depth 0) a load that runs ahead holds fetch while it waits for its
    # buffer, and the preload behind it with it: run ahead by at most the queue depth.
    _interleave(em, loads, rest, min(nsp - 1, max(1, cfg.queue_depth)))
    if barrier_out:
        em.emit("sync", "pop_next", "push_prev", unit=Unit.EXECUTE)
    return placed


def emit_gemm(
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
    where = emit_matmul_layer(
        em, node, tile_rows=rows, k_tiles=k_tiles, barrier_in=barrier_in, barrier_out=barrier_out
    )
    nt = where["nt"] * em.config.cols
    return {
        "op": "gemm",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "w": desc_json("w", (K, N), "int8", where["w"]),
        "bias": desc_json("bias", (N,), "int32", where["bias"]) if where["bias"] >= 0 else None,
        "mult": desc_json("mult", (N,), "int32", where["quant"]),
        "shift": desc_json("shift", (N,), "int32", where["quant"] + nt * 4),
        "act": act_record(node.attrs["activation"], where["lut"]),
        "y": y.desc("y", 1.0, logical=False).to_json(),
        "macs": M * K * N,
    }


def emit_conv(
    em: Emitter, node: Node, x: Buffer, y: Buffer, *, barrier_in: bool, barrier_out: bool
) -> dict[str, Any]:
    R = em.config.rows
    a = node.attrs
    kh_n, kw_n, cg, cout = a["w_q"].shape
    groups = a.get("group", 1)
    cin = cg * groups
    (sh, sw), (dh, dw) = a["strides"], a["dilations"]
    pt, pl, _, _ = a["pads"]
    n_img = y.shape[0]
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

    pool = a.get("pool")
    _, _, yh, yw = y.shape
    if pool is not None:
        # A fused max-pool: blocks of whole conv rows, kh of them per pooled row; the conv rows
        # and columns past the last whole window (a floor-mode pool's) are never computed.
        oh, ow = yh * pool[0], yw * pool[1]
    else:
        oh, ow = yh, yw

    def spans(mt: int) -> list[tuple[int, int, int, int]]:
        if pool is not None:
            ny_max = min(mt // ow, MAX_COUNT) // pool[0] * pool[0]
            if ny_max < 1:
                raise CompileError(  # pragma: no cover - fuse_pools checks the fit
                    f"{node.name}: {pool[0]} conv rows of {ow} pixels exceed a block of {mt} rows"
                )
            return [(oy0, min(ny_max, oh - oy0), 0, ow) for oy0 in range(0, oh, ny_max)]
        if ow <= mt:
            ny_max = max(1, min(mt // ow, MAX_COUNT))
            return [(oy0, min(ny_max, oh - oy0), 0, ow) for oy0 in range(0, oh, ny_max)]
        return [(oy, 1, ox0, min(mt, ow - ox0)) for oy in range(oh) for ox0 in range(0, ow, mt)]

    def pooled(ny: int) -> Callable[[int, int], list[dict[str, int]]] | None:
        if pool is None:
            return None
        ph_n, pw_n = pool
        windows = [(dy, dx) for dy in range(ph_n) for dx in range(pw_n)]

        def vectors(block: int, out: int) -> list[dict[str, int]]:
            ops = []
            for pr in range(ny // ph_n):
                dst = out + pr * yw

                def at(dy: int, dx: int, pr: int = pr) -> int:
                    return int(block + (pr * ph_n + dy) * ow + dx)

                (dy0, dx0), (dy1, dx1) = windows[:2]
                ops.append(
                    {"dst": dst, "a": at(dy0, dx0), "b": at(dy1, dx1), "n": yw}
                    | {"a_stride": pw_n, "b_stride": pw_n}
                )
                for dy, dx in windows[2:]:
                    ops.append({"dst": dst, "a": dst, "b": at(dy, dx), "n": yw, "b_stride": pw_n})
            return ops

        return vectors

    def rows(mt: int) -> list[MTile]:
        out = []
        for n in range(n_img):
            for oy0, ny, ox0, nx in spans(mt):

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
                    if pool is not None:  # the pooled rows of this block
                        oy0, ny, nx = oy0 // pool[0], ny // pool[0], yw
                    return {
                        "addr": y.pixel(n, oy0, ox0) + n0,
                        "n_inner": nx,
                        "stride_inner": cout,
                        "n_outer": ny,
                        "stride_outer": owp * cout,
                    }

                out.append(MTile(ny * nx, load, store, pooled(ny)))
        return out

    # Grouped convolutions become one block-diagonal GEMM over all input channels: group g's
    # weights sit in rows g·cg.. and columns g·og..; the all-zero tiles are skipped.
    og = cout // groups
    w2 = np.zeros((kh_n * kw_n, cin, cout), dtype=np.int8)
    taps = a["w_q"].reshape(kh_n * kw_n, cg, cout)
    for g in range(groups):
        w2[:, g * cg : (g + 1) * cg, g * og : (g + 1) * og] = taps[:, :, g * og : (g + 1) * og]
    node.attrs["w2"] = w2.reshape(kh_n * kw_n * cin, cout)
    where = emit_matmul_layer(
        em, node, tile_rows=rows, k_tiles=k_tiles, barrier_in=barrier_in, barrier_out=barrier_out
    )
    nt = where["nt"] * em.config.cols
    del hp
    return {
        "op": "conv",
        "name": node.name,
        "x": x.desc("x", 1.0, logical=False).to_json(),
        "w": desc_json(
            "w",
            tuple(a["w_q"].shape),
            "int8",
            where["w"] if groups == 1 else em.place(a["w_q"], "int8"),
        ),
        "bias": desc_json("bias", (cout,), "int32", where["bias"]) if where["bias"] >= 0 else None,
        "mult": desc_json("mult", (cout,), "int32", where["quant"]),
        "shift": desc_json("shift", (cout,), "int32", where["quant"] + nt * 4),
        "act": act_record(a["activation"], where["lut"]),
        "stride": list(a["strides"]),
        "padding": list(a["pads"]),
        "dilation": list(a["dilations"]),
        "groups": groups,
        "pool": list(pool) if pool is not None else None,
        "y": y.desc("y", 1.0, logical=False).to_json(),
        # With a fused pool, the conv outputs the pool reads: the ones computed.
        "macs": n_img * oh * ow * kh_n * kw_n * cg * cout,
    }
