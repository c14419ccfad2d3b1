"""Decode and range checks, done when an instruction enters the decode register (``A_i``).

This is the table "Range rules" of ``docs/timing.md`` in one place; the RTL implements the same
rules in gates. The first failing rule wins, in the table's order.
"""

from __future__ import annotations

import functools

from ..spec.config import AcceleratorConfig
from ..spec.errors import DecodeError
from ..spec.isa import FORMATS_BY_NAME, ActMode, ErrorCode, Opcode, decode, decode_error_code
from .decode import Op, decode_op

__all__ = ["check", "decode_checked", "range_error"]

_ERR = tuple[ErrorCode, str]
_LOAD = int(Opcode.LOAD.value)
_STORE = int(Opcode.STORE.value)
_CFG_QUANT = int(Opcode.CFG_QUANT.value)
_CFG_LUT = int(Opcode.CFG_LUT.value)
_PRELOAD = int(Opcode.PRELOAD.value)
_MATMUL = int(Opcode.MATMUL.value)
_VECTOR = int(Opcode.VECTOR.value)
_CFG_ACT = int(Opcode.CFG_ACT.value)
_MODE_BIAS = 2  # MatMode.BIAS


@functools.cache
def _missing(config: AcceleratorConfig) -> dict[int, str]:
    """Opcodes the accelerator is built without, and the message their words stop with."""
    return {
        int(FORMATS_BY_NAME[name].opcode.value): (
            f"illegal opcode {FORMATS_BY_NAME[name].opcode.value}: this accelerator is built "
            f"without {name!r} ({config.OPTIONAL_INSTRUCTIONS[name]} = false)"
        )
        for name in config.missing_opcodes
    }


def check(word: int, config: AcceleratorConfig, dram_size: int) -> tuple[ErrorCode, str] | None:
    """The error the machine reports when ``word`` reaches decode, or ``None`` if it is legal.

    Parameters
    ----------
    word : int
        128-bit instruction word.
    config : AcceleratorConfig
        The accelerator (lanes, depths).
    dram_size : int
        External-memory size in bytes (the length of the memory image).

    Returns
    -------
    tuple of (ErrorCode, str) or None
        The error code and a message naming the field, value and limit.
    """
    result = decode_checked(word, config, dram_size)
    return result if isinstance(result, tuple) else None


def decode_checked(word: int, config: AcceleratorConfig, dram_size: int) -> Op | _ERR:
    """Decode ``word`` and apply the range rules: an :class:`Op`, or the error it raises."""
    missing = _missing(config).get(word & 0xF)
    if missing is not None:
        return ErrorCode.ILLEGAL_OPCODE, missing
    op = decode_op(word)
    if op is None:
        code = decode_error_code(word)
        try:
            decode(word)
            message = "illegal instruction"  # unreachable: decode_op and decode agree
        except DecodeError as e:
            message = str(e)
        return code, message
    err = range_error(op, config, dram_size)
    return op if err is None else err


def _last(v: dict[str, int], base: int) -> int:
    """``base + (n_outer-1)·stride_outer + (n_inner-1)·stride_inner``: a transfer's last row."""
    return base + (v["n_outer"] - 1) * v["stride_outer"] + (v["n_inner"] - 1) * v["stride_inner"]


def range_error(op: Op, config: AcceleratorConfig, dram_size: int) -> _ERR | None:
    """The configuration- and memory-dependent rules of ``docs/timing.md`` for a legal word.

    Parameters
    ----------
    op : Op
        A decoded instruction.
    config : AcceleratorConfig
        The accelerator.
    dram_size : int
        External-memory size in bytes.

    Returns
    -------
    tuple of (ErrorCode, str) or None
        The first failing rule, or ``None``.
    """
    v = dict(op.v)
    oc = op.opcode
    if oc == _LOAD:
        to_acc = v["target"] == 1
        lanes = config.cols if to_acc else config.lanes
        if v["len"] > lanes:
            where = "cols" if to_acc else "lanes"
            return ErrorCode.ILLEGAL_FIELD, f"load: len {v['len']} exceeds {where} = {lanes}"
        n = v["n_outer"] * v["n_inner"]
        depth = config.acc_depth if to_acc else config.sp_depth
        if v["dst"] + n > depth:
            code = ErrorCode.ACC_RANGE if to_acc else ErrorCode.SP_RANGE
            mem = "acc_depth" if to_acc else "sp_depth"
            return code, f"load: rows [{v['dst']}, {v['dst'] + n}) exceed {mem} = {depth}"
        eb = 4 if v["elem"] == 1 else 1
        last = _last(v, v["addr"]) + v["len"] * eb - 1
        if last >= dram_size:
            return ErrorCode.DRAM_RANGE, f"load: last byte {last} is beyond dram_size {dram_size}"
    elif oc == _STORE:
        if v["len"] > config.cols:
            return ErrorCode.ILLEGAL_FIELD, f"store: len {v['len']} exceeds cols = {config.cols}"
        n = v["n_outer"] * v["n_inner"]
        if v["src"] + n > config.acc_depth:
            return ErrorCode.ACC_RANGE, (
                f"store: rows [{v['src']}, {v['src'] + n}) exceed acc_depth = {config.acc_depth}"
            )
        if v["target"] == 1:
            last = _last(v, v["addr"])
            if last >= config.sp_depth:
                return ErrorCode.SP_RANGE, (
                    f"store: last scratchpad row {last} is beyond sp_depth = {config.sp_depth}"
                )
        else:
            eb = 4 if v["elem"] == 1 else 1
            last = _last(v, v["addr"]) + v["len"] * eb - 1
            if last >= dram_size:
                return ErrorCode.DRAM_RANGE, (
                    f"store: last byte {last} is beyond dram_size {dram_size}"
                )
    elif oc == _CFG_QUANT:
        for f in ("mult_row", "shift_row"):
            if v[f] >= config.acc_depth:
                return ErrorCode.ACC_RANGE, (
                    f"cfg_quant: {f} {v[f]} is beyond acc_depth = {config.acc_depth}"
                )
    elif oc == _CFG_ACT:
        if v["mode"] == ActMode.LUT.value and not config.act_lut:
            return ErrorCode.ILLEGAL_FIELD, (
                "cfg_act: mode lut needs the activation LUT (act_lut = false)"
            )
    elif oc == _CFG_LUT:
        if v["src"] + config.lut_rows > config.acc_depth:
            return ErrorCode.ACC_RANGE, (
                f"cfg_lut: rows [{v['src']}, {v['src'] + config.lut_rows}) exceed "
                f"acc_depth = {config.acc_depth}"
            )
    elif oc == _PRELOAD:
        if v["rows"] > config.rows or v["cols"] > config.cols:
            return ErrorCode.ILLEGAL_FIELD, (
                f"preload: tile {v['rows']}x{v['cols']} exceeds the {config.rows}x{config.cols} "
                "array"
            )
        if v["src"] + v["rows"] > config.sp_depth:
            return ErrorCode.SP_RANGE, (
                f"preload: rows [{v['src']}, {v['src'] + v['rows']}) exceed "
                f"sp_depth = {config.sp_depth}"
            )
    elif oc == _MATMUL:
        if v["src"] + v["n"] > config.sp_depth:
            return ErrorCode.SP_RANGE, (
                f"matmul: rows [{v['src']}, {v['src'] + v['n']}) exceed "
                f"sp_depth = {config.sp_depth}"
            )
        if v["dst"] + v["n"] > config.acc_depth:
            return ErrorCode.ACC_RANGE, (
                f"matmul: rows [{v['dst']}, {v['dst'] + v['n']}) exceed "
                f"acc_depth = {config.acc_depth}"
            )
        if v["mode"] == _MODE_BIAS and v["bias"] >= config.acc_depth:
            return ErrorCode.ACC_RANGE, (
                f"matmul: bias row {v['bias']} is beyond acc_depth = {config.acc_depth}"
            )
    elif oc == _VECTOR:
        operands = ("dst", "a") if v["b_imm"] else ("dst", "a", "b")
        for f in operands:
            last = v[f] + (v["n"] - 1) * v[f"{f}_stride"]
            if last >= config.acc_depth:
                return ErrorCode.ACC_RANGE, (
                    f"vector: {f} row {last} is beyond acc_depth = {config.acc_depth}"
                )
    return None
