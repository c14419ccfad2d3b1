"""The machine's specification: configuration, ISA, golden model and Program format.

Everything else in systolic stands on this package, and it imports nothing above itself.
"""

from .config import PRESETS, AcceleratorConfig, Dataflow
from .errors import (
    AsmError,
    ConfigError,
    DecodeError,
    EncodeError,
    GoldenError,
    ProgramError,
    SystolicError,
)

__all__ = [
    "PRESETS",
    "AcceleratorConfig",
    "AsmError",
    "ConfigError",
    "Dataflow",
    "DecodeError",
    "EncodeError",
    "GoldenError",
    "ProgramError",
    "SystolicError",
]
