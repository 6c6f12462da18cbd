"""fastcheck: JIT-accelerated gradient checking.

>>> import fastcheck as fc
>>> res = fc.check(cost, params, grads, X, Y)   # doctest: +SKIP
>>> print(res)                                   # doctest: +SKIP
"""

from .runtime import configure as _configure_runtime
_configure_runtime()  # first: Numba's threading layer and cache recovery, before any kernel loads
from . import errors
from . import models
from .check import check
from .directions import check_directions
from .jitcost import jit_cost
from .layout import Layout
from .naive import naive_check
from .result import DEFAULT_THRESHOLD, CheckResult, TensorRow, relative_difference

__all__ = ["check", "check_directions", "models", "naive_check", "jit_cost", "Layout", "CheckResult", "TensorRow",
           "relative_difference", "DEFAULT_THRESHOLD", "errors"]
__version__ = "0.1.0"
