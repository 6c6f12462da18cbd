"""``@jit_cost``: a cost the user marks for the compiled engine.

It takes any signature a plain cost takes, ``cost(params, *args)`` over a
dict, or the flat form ``cost(theta, X, Y)`` over the (P,) parameter vector;
fastcheck tells them apart by calling it once. Nothing compiles when it is
decorated: ``fastcheck.compiler`` compiles it for each check's layout and
arguments (from its disk cache when it can), under a key of everything the
cost depends on, globals included, so a changed hyperparameter is never
served stale from the cache.
"""

import numpy as np
from numba.core.registry import CPUDispatcher

from ..errors import CompileError, DataError
from ..planning.layout import as_numeric_array
from ..planning.methods import method_record
from .calling import translated
from .python import PythonCostAdapter


class JitCost:
    """A cost marked for the generic engine. Call it like the Python function;
    ``py_func`` is the original."""

    def __init__(self, func):
        self.py_func = getattr(func, "py_func", func)
        self.__name__ = getattr(self.py_func, "__name__", "cost")
        self.__doc__ = getattr(self.py_func, "__doc__", None)

    def __call__(self, *args):
        return self.py_func(*args)

    def __repr__(self):
        return f"<fastcheck.jit_cost {self.__name__}>"


def jit_cost(func):
    """Mark ``func`` (a dict cost or the flat ``cost(theta, X, Y)``) for the generic
    engine: ``fastcheck.check`` compiles it, or raises ``CompileError`` saying why not."""
    return JitCost(func)


def kernel_data(args):
    """The flat form's classic data, (X, Y) as 2-D float64 C copies.

    A scalar becomes (1, 1), a 1-D array a single row (1, m), as NumPy
    broadcasting treats the seed's ``y = [1, 1, 0]``; a missing Y is an
    empty (0, 0) array.
    """
    out = []
    for name, value in zip(("X", "Y"), args):
        array = as_numeric_array(value, f"data argument {name}", error=DataError)
        out.append(np.array(np.atleast_2d(array), dtype=np.float64, order="C"))
    while len(out) < 2:
        out.append(np.zeros((0, 0)))
    return tuple(out)


class JitCostAdapter(PythonCostAdapter):
    """A ``JitCost`` or a Numba dispatcher: compiled by default, either form.

    The flat form keeps its classic data conversion (``kernel_data``) when it
    is called with at most two arrays of at most two dimensions.
    """

    kind = "jit cost"
    engines = ("generic", "python", "incremental")

    def __init__(self, cost, params, args):
        cost = cost if isinstance(cost, JitCost) else JitCost(cost)
        super().__init__(cost.py_func, params, args)
        classic = len(args) <= 2 and all(np.ndim(a) <= 2 for a in args)
        self.flat = self._is_flat(kernel_data(args) if classic else args)

    @classmethod
    def accepts(cls, cost):
        return isinstance(cost, (JitCost, CPUDispatcher))

    def _is_flat(self, flat_args):
        """True when the cost takes theta itself: it runs on theta (with ``flat_args``,
        which become its arguments) after failing on the dict the way indexing the
        wrong form fails (slicing a dict, a string index)."""
        where = "at the given parameters"
        with translated(where):
            try:
                super().call(self.theta.copy())
                return False
            except (TypeError, IndexError, KeyError, AttributeError) as exc:
                as_dict = exc
        with translated(where, f" (called as cost(theta, *args); as cost(params, *args) it "
                               f"raised {type(as_dict).__name__}: {as_dict})"):
            self.func(self.theta.copy(), *flat_args)
        self.args = flat_args
        return True

    def call(self, theta):
        return self.func(theta, *self.args) if self.flat else super().call(theta)

    #: Compiled before its check, however short (``resolve_engine``).
    defers = False

    def resolve_engine(self, name, method, seconds_per_coordinate=None, count=None, jit=None):
        # Compiling must succeed for the real methods; for the complex step it may
        # not, and then the check runs in Python with the reason. Either way a cost
        # its author decorated is compiled before the check, never tiered.
        complex_step = method_record(method).complex_step
        if jit is None and name == "auto" and not complex_step:
            jit = True
        choice = super().resolve_engine(name, method, seconds_per_coordinate, count, jit=jit)
        pending = self.pending
        if jit is None and name == "auto" and pending is not None:
            self.pending = None
            try:
                pending.wait()
            except CompileError:
                pass  # pending.error: the reason _settled gives
            return self._settled(pending, ())
        return choice
