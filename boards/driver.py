"""Host driver: runs programs on a board over its UART link (pyserial).

The same code talks to a real board (``port="/dev/ttyUSB1"``) and to the simulated SoC in the
test suite (``port="socket://127.0.0.1:PORT"``): anything :func:`serial.serial_for_url` opens.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..hw.top import COUNTERS
from ..spec.config import AcceleratorConfig, Dataflow
from ..spec.errors import SystolicError
from ..spec.isa import INSTR_BYTES, ErrorCode, to_bytes
from . import protocol as p

__all__ = ["DEFAULT_BAUD", "Board", "BoardError", "BoardInfo", "BoardResult"]

DEFAULT_BAUD = 115_200
_CHUNK = 1024  # bytes per WRITE/READ command, so a lost byte costs one chunk's timeout


class BoardError(SystolicError):
    """The board did not answer as the protocol says, or cannot run the program given."""


@dataclass(frozen=True)
class BoardInfo:
    """What a board was built with, from its INFO reply."""

    config: AcceleratorConfig
    mem_bytes: int
    imem_depth: int
    clk_hz: int


@dataclass(frozen=True)
class BoardResult:
    """What the board reported for one program: the fields the simulator reports."""

    cycles: int
    error: ErrorCode
    error_index: int | None
    counters: dict[str, int] = field(default_factory=dict)
    reads: tuple[bytes, ...] = ()


class Board:
    """An open connection to a board running the systolic SoC.

    Parameters
    ----------
    port : str
        A serial device or any pyserial URL (``socket://host:port`` for the simulated SoC).
    baud : int
        The UART bit rate the board was built for.
    timeout : float
        Seconds to wait for a reply, beyond the time its bytes take on the link. The link's
        time per byte is measured on the INFO exchange, so a slow link (a simulated board)
        gets proportionally longer.

    Raises
    ------
    BoardError
        If the port cannot be opened or the device does not answer INFO like a systolic SoC.
    """

    def __init__(self, *, port: str, baud: int = DEFAULT_BAUD, timeout: float = 5.0):
        try:
            import serial
        except ImportError:
            raise BoardError(
                "the board backend needs pyserial; install it: pip install 'systolic[fpga]'"
            ) from None
        self.port = port
        self.timeout = timeout
        try:
            self._serial = serial.serial_for_url(port, baudrate=baud, timeout=timeout)
        except (serial.SerialException, ValueError, OSError) as e:
            raise BoardError(f"cannot open board port {port!r}: {e}") from None
        self._byte_seconds = 0.0
        try:
            began = time.monotonic()
            self.info = self._read_info()
            self._byte_seconds = (time.monotonic() - began) / (1 + p.record_size(p.INFO_FIELDS))
        except BaseException:
            self._serial.close()
            raise

    # ---- connection --------------------------------------------------------------------

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except OSError as e:  # serial.SerialException is an OSError
            raise BoardError(f"board on {self.port!r}: write failed: {e}") from None

    def _receive(self, n: int, what: str, *, sent: int = 1) -> bytes:
        """Read ``n`` reply bytes to a command of ``sent`` bytes."""
        data = bytearray()
        # Each byte still to cross the link (sent or received) earns time at the measured
        # rate, with a safety factor of 4.
        limit = self.timeout + 4 * self._byte_seconds * (sent + n)
        deadline = time.monotonic() + limit
        while len(data) < n:
            try:
                chunk = self._serial.read(n - len(data))
            except OSError as e:
                raise BoardError(f"board on {self.port!r}: read failed: {e}") from None
            if chunk:
                data += chunk
            elif time.monotonic() > deadline:
                raise BoardError(
                    f"board on {self.port!r}: no reply to {what} after {limit:.1f} s "
                    f"({len(data)} of {n} bytes); is the SoC bitstream loaded and the baud "
                    f"rate right?"
                )
        return bytes(data)

    def _expect_ack(self, what: str, *, sent: int) -> bool:
        """Wait for an ACK; False if the board dropped a write because it was running."""
        reply = self._receive(1, what, sent=sent)[0]
        if reply not in (p.ACK, p.ACK_DROPPED):
            raise BoardError(f"board on {self.port!r}: {what} answered {reply:#04x}, not ACK")
        return reply == p.ACK

    # ---- commands ----------------------------------------------------------------------

    def _read_info(self) -> BoardInfo:
        self._send(bytes([p.Command.INFO]))
        raw = self._receive(p.record_size(p.INFO_FIELDS), "INFO")
        rec = p.parse_record(p.INFO_FIELDS, raw)
        if rec["magic"] != p.MAGIC or rec["version"] != p.VERSION:
            raise BoardError(
                f"board on {self.port!r} is not a systolic SoC of protocol version "
                f"{p.VERSION} (INFO began {raw[:5].hex()})"
            )
        values: dict[str, Any] = {k: rec[k] for k in AcceleratorConfig().to_dict()}
        values["dataflow"] = list(Dataflow)[int(values["dataflow"])]
        for name, default in AcceleratorConfig().to_dict().items():
            if isinstance(default, bool):  # sent as 0 or 1
                values[name] = bool(values[name])
        return BoardInfo(
            config=AcceleratorConfig(**values),
            mem_bytes=int(rec["mem_bytes"]),
            imem_depth=int(rec["imem_depth"]),
            clk_hz=int(rec["clk_hz"]),
        )

    def write(self, space: int, address: int, data: bytes) -> None:
        """Write bytes into the data (``SPACE_DATA``) or instruction memory."""
        for at in range(0, len(data), _CHUNK):
            chunk = data[at : at + _CHUNK]
            header = bytes([p.Command.WRITE, space])
            header += (address + at).to_bytes(4, "little") + len(chunk).to_bytes(4, "little")
            self._send(header + chunk)
            if not self._expect_ack("WRITE", sent=len(header) + len(chunk)):
                raise BoardError(f"board on {self.port!r}: write refused, a program is running")

    def read(self, space: int, address: int, n: int) -> bytes:
        out = bytearray()
        for at in range(0, n, _CHUNK):
            count = min(_CHUNK, n - at)
            header = bytes([p.Command.READ, space])
            header += (address + at).to_bytes(4, "little") + count.to_bytes(4, "little")
            self._send(header)
            out += self._receive(count, "READ", sent=len(header))
        return bytes(out)

    def start(self, dram_size: int) -> None:
        self._send(bytes([p.Command.START]) + dram_size.to_bytes(4, "little"))
        self._expect_ack("START", sent=5)

    def status(self) -> dict[str, int]:
        self._send(bytes([p.Command.STATUS]))
        raw = self._receive(p.record_size(p.STATUS_FIELDS), "STATUS")
        return {k: int(v) for k, v in p.parse_record(p.STATUS_FIELDS, raw).items()}

    # ---- programs ----------------------------------------------------------------------

    def check(self, config: AcceleratorConfig, n_instructions: int, n_bytes: int) -> None:
        """Raise :class:`BoardError` unless this board can run such a program."""
        ours, theirs = config.to_dict(), self.info.config.to_dict()
        differ = [k for k in ours if ours[k] != theirs[k] and k not in config.BUILD_ONLY]
        if differ:
            diff = ", ".join(f"{k} {ours[k]} vs {theirs[k]}" for k in differ)
            raise BoardError(
                f"the program was compiled for another accelerator than the board's "
                f"(program vs board: {diff}); compile with the board's preset"
            )
        if n_instructions > self.info.imem_depth:
            raise BoardError(
                f"the program has {n_instructions} instructions; the board's instruction "
                f"memory holds {self.info.imem_depth}"
            )
        if n_bytes > self.info.mem_bytes:
            raise BoardError(
                f"the program's memory image is {n_bytes} bytes; the board has "
                f"{self.info.mem_bytes} bytes of memory"
            )

    def run(
        self,
        config: AcceleratorConfig,
        instructions: Sequence[int],
        memory: bytes | bytearray,
        *,
        reads: Sequence[tuple[int, int]] = (),
        max_seconds: float = 60.0,
    ) -> BoardResult:
        """Load and run one program; return its status, counters and the ``reads`` ranges.

        ``reads`` lists ``(address, length)`` ranges of data memory to read back afterwards.
        """
        self.check(config, len(instructions), len(memory))
        words = to_bytes(list(instructions))
        # One zero word after the program: fetching past the end then fails as it does in the
        # simulator, instead of running whatever an earlier program left there.
        if len(instructions) < self.info.imem_depth:
            words += bytes(INSTR_BYTES)
        self.write(p.SPACE_INSTR, 0, words)
        self.write(p.SPACE_DATA, 0, bytes(memory))
        self.start(len(memory))
        deadline = time.monotonic() + max_seconds
        while True:
            status = self.status()
            if status["flags"] & 2 and not status["flags"] & 1:
                break
            if time.monotonic() > deadline:
                raise BoardError(f"the program did not finish within {max_seconds} s")
        try:
            error = ErrorCode(status["error"])
        except ValueError:
            raise BoardError(
                f"board on {self.port!r}: STATUS reported error code {status['error']}, "
                f"which the ISA does not define"
            ) from None
        return BoardResult(
            cycles=status["cycles"],
            error=error,
            error_index=None if error == ErrorCode.NONE else status["error_pc"],
            counters={name: status[name] for name in COUNTERS},
            reads=tuple(self.read(p.SPACE_DATA, a, n) for a, n in reads),
        )
