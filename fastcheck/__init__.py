"""fastcheck: JIT-accelerated gradient checking.

>>> import fastcheck as fc
>>> res = fc.check(cost, params, grads, X, Y)   # doctest: +SKIP
>>> print(res)                                   # doctest: +SKIP
"""

from .runtime.numba_setup import configure as _configure_runtime

_configure_runtime()  # first: Numba's threading layer and cache recovery, before any kernel loads

from importlib.metadata import PackageNotFoundError, version  # noqa: E402

from . import errors  # noqa: E402
from . import models
from .check import check
from .costs import JitCost, jit_cost
from .directions import check_directions
from .planning.layout import Layout
from .locate import locate
from .naive import naive_check
from .report import CheckResult, DirectionsResult, LocateResult, TensorRow
from .vjp import check_vjp
from .jvp import check_jvp
from .hvp import check_hvp
from .taylor import taylor_test
from .verdict import DEFAULT_THRESHOLD, relative_difference

try:
    __version__ = version("fastcheck")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["check", "check_vjp", "check_directions", "models", "naive_check", "jit_cost", "JitCost",
           "Layout", "CheckResult", "DirectionsResult", "TensorRow", "relative_difference",
           "DEFAULT_THRESHOLD", "errors"]
__all__ += ["locate", "LocateResult"]
__all__ += ["check_jvp", "check_hvp", "taylor_test"]
