"""``@jit_cost``: a cost the user compiled for the generic engine.

The flat form ``cost(theta, X, Y) -> float`` takes the (P,) parameter vector
and two 2-D data arrays. The generic kernel calls every cost through one fixed
type (``kernels/signatures.py``); a small trampoline unpacks X and Y from the
kernel's flat data buffer and calls the user's compiled function.
"""

import numpy as np
from numba import njit
from numba.core.errors import NumbaError
from numba.core.registry import CPUDispatcher
from numba import types

from ..engines import GenericEngine, PythonEngine
from ..errors import CostError, DataError, SignatureError
from ..layout import Layout, as_numeric_array
from ..kernels.signatures import COMPLEX_COST_SIG, COST_SIG
from .base import CostAdapter, cost_value

SIGNATURE_TEXT = ("cost(theta, X, Y) -> float, with theta a (P,) float64 array and X, Y "
                  "2-D float64 C-contiguous arrays")
#: The user's flat function, real and complex.
FLAT_SIG = types.float64(types.float64[::1], types.float64[:, ::1], types.float64[:, ::1])
COMPLEX_FLAT_SIG = types.complex128(types.complex128[::1], types.float64[:, ::1],
                                    types.float64[:, ::1])


class JitCost:
    """A cost over the flat parameter vector, compiled for the generic engine.

    Call it like the Python function: ``cost(theta, X, Y)``. ``py_func`` is the
    original, for debugging in plain Python.
    """

    def __init__(self, func):
        self.py_func = getattr(func, "py_func", func)
        self.__name__ = getattr(self.py_func, "__name__", "cost")
        self.__doc__ = getattr(self.py_func, "__doc__", None)
        self.dispatcher = _compile(self.py_func, FLAT_SIG)
        self._complex = None
        self._trampolines = {}

    @property
    def complex_dispatcher(self):
        """The cost compiled for complex theta (method="complex"), on first use.

        Raises ``CostError`` if the cost cannot run in complex arithmetic.
        """
        if self._complex is None:
            try:
                self._complex = _compile(self.py_func, COMPLEX_FLAT_SIG)
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


def kernel_data(args):
    """Convert a jit cost's data arguments to (X, Y), 2-D float64 C copies.

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


def _trampoline(dispatcher, x_shape, y_shape, complex_step):
    """The user's flat function adapted to the kernel's fixed cost type."""
    nx = x_shape[0] * x_shape[1]

    if complex_step:  # the user's function takes real data even for complex theta
        def trampoline(theta, fdata, idata):
            data = fdata.real.copy()
            return dispatcher(theta, data[:nx].reshape(x_shape), data[nx:].reshape(y_shape))
    else:
        def trampoline(theta, fdata, idata):
            return dispatcher(theta, fdata[:nx].reshape(x_shape), fdata[nx:].reshape(y_shape))

    return njit(COMPLEX_COST_SIG if complex_step else COST_SIG, fastmath=False)(trampoline)


class JitCostAdapter(CostAdapter):
    """A ``JitCost`` (or a Numba dispatcher with its signature)."""

    kind = "jit cost"
    engines = ("generic", "python")

    def __init__(self, cost, params, args):
        super().__init__()
        self.cost = cost if isinstance(cost, JitCost) else JitCost(cost)
        self.layout = Layout.from_params(params)
        self.theta = self.layout.flatten(params)
        self.X, self.Y = kernel_data(args)

    @classmethod
    def accepts(cls, cost):
        return isinstance(cost, (JitCost, CPUDispatcher))

    def evaluate(self, theta, where):
        is_complex = theta.dtype.kind == "c"
        try:
            if is_complex:
                value = self.cost.complex_dispatcher(theta, self.X, self.Y)
            else:
                value = self.cost.dispatcher(theta, self.X, self.Y)
        except CostError:
            raise
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        return cost_value(value, where, is_complex)

    def scratch_bytes(self, engine, method, rows):
        if engine == "python":
            return self.layout.size * (16 if method == "complex" else 8)
        return GenericEngine.scratch_bytes(self.layout.size, rows, method)

    def build(self, engine, method, rows):
        if engine == "python":
            return PythonEngine(self.evaluate, self.theta, self.layout, method)
        complex_step = method == "complex"
        key = (self.X.shape, self.Y.shape, complex_step)
        if key not in self.cost._trampolines:
            dispatcher = self.cost.complex_dispatcher if complex_step else self.cost.dispatcher
            self.cost._trampolines[key] = _trampoline(dispatcher, *key)
        function = self.cost._trampolines[key]
        dtype = np.complex128 if complex_step else np.float64
        fdata = np.concatenate((self.X.ravel(), self.Y.ravel())).astype(dtype)
        return GenericEngine(function, fdata, np.zeros(0, dtype=np.int64), self.theta, rows,
                             method)
