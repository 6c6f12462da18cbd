"""``@jit_cost``: user costs compiled for the generic engine.

A jit cost has one fixed signature, ``cost(theta, X, Y) -> float``, with
``theta`` the flat (P,) float64 parameter vector and ``X``, ``Y`` 2-D float64
C-contiguous arrays. Fixing it is what lets one compiled kernel serve every
cost (see ``kernels/central.py``).
"""

import numpy as np
from numba.core.errors import NumbaError
from numba.core.registry import CPUDispatcher
from numba import njit

from .errors import CostError, DataError, SignatureError
from .layout import as_numeric_array
from .kernels.central import COMPLEX_COST_SIG, COST_SIG

SIGNATURE_TEXT = ("cost(theta, X, Y) -> float, with theta a (P,) float64 array and X, Y "
                  "2-D float64 C-contiguous arrays")


class JitCost:
    """A cost over the flat parameter vector, compiled with the engine's signature.

    Call it like the Python function: ``cost(theta, X, Y)``. ``py_func`` is the
    original, for debugging in plain Python.
    """

    def __init__(self, func):
        self.py_func = getattr(func, "py_func", func)
        self.__name__ = getattr(self.py_func, "__name__", "cost")
        self.__doc__ = getattr(self.py_func, "__doc__", None)
        self.dispatcher = _compile(self.py_func, COST_SIG)
        self._complex = None

    @property
    def complex_dispatcher(self):
        """The cost compiled for complex theta (method="complex"), on first use.

        Raises ``CostError`` if the cost cannot run in complex arithmetic.
        """
        if self._complex is None:
            try:
                self._complex = _compile(self.py_func, COMPLEX_COST_SIG)
            except SignatureError as exc:
                raise CostError(f"{self.__name__!r} cannot run in complex arithmetic, so "
                                "method='complex' cannot check it; use method='central' or "
                                f"'richardson'. ({exc})") from exc
        return self._complex

    def __call__(self, theta, X, Y):
        return self.dispatcher(theta, X, Y)

    def __repr__(self):
        return f"<fastcheck.jit_cost {self.__name__}>"


def jit_cost(func):
    """Compile ``func(theta, X, Y) -> float`` for the generic engine.

    Raises ``SignatureError`` if Numba cannot compile it for that signature.
    """
    return JitCost(func)


def _compile(py_func, signature):
    try:
        try:
            return njit(signature, cache=True, fastmath=False)(py_func)
        except RuntimeError as exc:
            # Functions defined in a REPL or notebook have no file to cache to.
            if "cannot cache" not in str(exc):
                raise
            return njit(signature, cache=False, fastmath=False)(py_func)
    except (NumbaError, TypeError) as exc:  # TypeError: Numba refuses a wrong arity
        detail = str(exc).strip().splitlines()
        raise SignatureError(
            f"cannot compile {getattr(py_func, '__name__', 'the cost')!r} as a fastcheck "
            f"jit cost for {signature}; the expected signature is {SIGNATURE_TEXT}. Numba said: "
            f"{detail[0] if detail else exc}") from exc


def as_jit_cost(cost):
    """A ``JitCost`` for ``cost`` if it is one or a Numba dispatcher, else None."""
    if isinstance(cost, JitCost):
        return cost
    if isinstance(cost, CPUDispatcher):
        return JitCost(cost)
    return None


def kernel_data(args):
    """Convert a jit cost's data arguments to the kernel's (X, Y).

    ``args`` holds at most two array-likes. A scalar becomes (1, 1), a 1-D
    array a single row (1, m), as NumPy broadcasting treats the seed's
    ``y = [1, 1, 0]``; a missing one is an empty (0, 0) array. The arrays are
    always copies, so the cost never sees the caller's memory.
    """
    if len(args) > 2:
        raise DataError(f"a jit cost takes (theta, X, Y): pass at most two data arrays "
                        f"after grads, got {len(args)}")
    out = []
    for name, value in zip(("X", "Y"), args):
        array = as_numeric_array(value, f"data argument {name}", error=DataError)
        if array.ndim > 2:
            raise DataError(f"data argument {name} has shape {array.shape}; a jit cost "
                            "takes 2-D data, reshape it (e.g. X.reshape(X.shape[0], -1))")
        out.append(np.array(np.atleast_2d(array), dtype=np.float64, order="C"))
    while len(out) < 2:
        out.append(np.zeros((0, 0)))
    return out[0], out[1]
