# amaranth.lib.enum.Enum is a standard Python Enum whose subclasses take a `shape=` keyword.
import enum as _enum
from typing import Any

class Enum(_enum.Enum):  # type: ignore[misc]
    def __init_subclass__(cls, *, shape: Any = ..., **kwargs: Any) -> None: ...
