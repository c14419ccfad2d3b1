"""The typed exceptions of systolic.

Every error that bad input can cause is one of these. Each message names the input, the value
and the limit, so that the CLI can print it as one line (``systolic: error: <message>``) and
exit non-zero without a traceback.
"""

from __future__ import annotations

__all__ = [
    "AsmError",
    "CompileError",
    "ConfigError",
    "DecodeError",
    "EncodeError",
    "GoldenError",
    "ProgramError",
    "SystolicError",
]


class SystolicError(Exception):
    """Base class of every error systolic reports about its input."""


class ConfigError(SystolicError, ValueError):
    """An invalid :class:`~systolic.spec.config.AcceleratorConfig` value or config file."""


class EncodeError(SystolicError, ValueError):
    """An instruction field value that does not fit its field."""


class DecodeError(SystolicError, ValueError):
    """A binary word that is not a legal instruction, or a malformed program binary."""


class AsmError(SystolicError, ValueError):
    """A line of assembly that cannot be assembled; the message starts with ``file:line:``."""


class GoldenError(SystolicError, ArithmeticError):
    """A golden-model operation whose integer arithmetic would leave its specified range."""


class ProgramError(SystolicError, ValueError):
    """A malformed or inconsistent :class:`~systolic.spec.program.Program` or program directory."""


class CompileError(SystolicError, ValueError):
    """A model the compiler cannot take: bad file, unsupported nodes, shapes over the limits."""
