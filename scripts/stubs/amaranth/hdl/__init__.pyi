# Minimal stubs for mypy: Amaranth ships no type information. Only what the software half
# (spec/, systolic/) uses is typed; everything else is Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
