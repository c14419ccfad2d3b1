"""systolic: a parametric systolic-array int8 accelerator with a simulator and compiler.

The front door. What is available today:

- :class:`AcceleratorConfig` and :data:`PRESETS`: the machine's parameters;
- :func:`assemble` / :func:`disassemble`: the ISA's text form;
- :class:`Program`: the executable format every backend will run;
- :mod:`systolic.spec.golden`: the NumPy golden model of the quantised operators;
- :func:`compile` and :func:`run`: a network (ONNX or the builder API) to a Program, and the
  Program on a backend (``golden``, ``sim`` or ``rtl``).
"""

from importlib.metadata import PackageNotFoundError, version

from .api import compile, run
from .compiler import NetworkBuilder
from .runtime import RunResult
from .spec.asm import assemble, disassemble
from .spec.config import PRESETS, AcceleratorConfig
from .spec.errors import SystolicError
from .spec.program import Program, TensorDesc

try:
    __version__ = version("systolic")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "PRESETS",
    "AcceleratorConfig",
    "NetworkBuilder",
    "Program",
    "RunResult",
    "SystolicError",
    "TensorDesc",
    "__version__",
    "assemble",
    "compile",
    "disassemble",
    "run",
]
