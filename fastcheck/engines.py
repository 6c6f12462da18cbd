"""Engines: how one block of coordinates gets its finite differences.

An engine is built once per check and then called as ``block(idx, h, out)``:
fill ``out`` (n,) with the estimates for flat indices ``idx`` (n,) and steps
``h`` (n,). Blocks are independent of each other and never touch the caller's
arrays, so the driver may run them in any order, or elsewhere.
"""

import numbers

import numpy as np

from .blas import single_threaded_blas
from .errors import CostError
from .kernels import mlp
from .kernels.central import central_difference


def cost_value(value, where):
    """The cost's return ``value`` as a finite float, or ``CostError``.

    A tuple counts by its first element (the seed's ``forward_propagation_n``
    returns ``(cost, cache)``). ``where`` says at which point it was evaluated.
    """
    if isinstance(value, tuple):
        if not value:
            raise CostError(f"the cost returned an empty tuple {where}; return the cost, "
                            "or a tuple whose first element is the cost")
        value = value[0]
    scalar = isinstance(value, (numbers.Real, np.floating, np.integer)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf")
    if not scalar or isinstance(value, (bool, np.bool_)):
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        raise CostError(f"the cost returned {type(value).__name__}{shape} {where}; it must "
                        "return a finite scalar such as a float (for a (1, 1) array, "
                        "return cost.item())")
    value = float(value)
    if not np.isfinite(value):
        raise CostError(f"the cost returned {value} {where}; it must be finite there. "
                        "Look for log(0), division by zero or overflow in the forward pass")
    return value


class PythonCost:
    """Evaluate a Python cost ``cost(params_dict, *args)`` at a flat theta (P,).

    The cost sees read-only views of fastcheck's own buffer: a cost that writes
    to its parameters fails loudly instead of corrupting the check.
    """

    def __init__(self, func, layout, args):
        self.func, self.layout, self.args = func, layout, args

    def __call__(self, theta, where):
        view = theta.view()
        view.flags.writeable = False
        try:
            value = self.func(self.layout.unflatten(view), *self.args)
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        return cost_value(value, where)


class FlatCost:
    """Evaluate a compiled cost ``func(theta)`` at a flat theta (P,) from Python."""

    def __init__(self, func):
        self.func = func

    def __call__(self, theta, where):
        try:
            value = self.func(theta)
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        return cost_value(value, where)


def perturbed(layout, i, sign, h):
    """Words for error messages: ``"with W1[2, 3] perturbed by +h (h = 1e-07)"``."""
    return f"with {layout.describe(i)} perturbed by {sign}h (h = {h:.3g})"


class Engine:
    """Base of the engines: a context manager around a check's blocks."""

    name = "engine"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class PythonEngine(Engine):
    """Two evaluations of a Python-callable cost per coordinate, in this process."""

    name = "python"

    def __init__(self, evaluate, theta, layout):
        self.evaluate, self.layout = evaluate, layout
        self.row = theta.copy()

    def __call__(self, idx, h, out):
        row, layout = self.row, self.layout
        for k in range(idx.shape[0]):
            i, step = int(idx[k]), float(h[k])
            saved = row[i]
            try:
                row[i] = saved + step
                j_plus = self.evaluate(row, perturbed(layout, i, "+", step))
                row[i] = saved - step
                j_minus = self.evaluate(row, perturbed(layout, i, "-", step))
            finally:
                row[i] = saved
            out[k] = (j_plus - j_minus) / (2.0 * step)


class GenericEngine(Engine):
    """Two compiled evaluations of a ``JitCost`` per coordinate, prange-parallel.

    BLAS is held to one thread while the engine is entered: the kernel's
    threads already fill the cores.
    """

    name = "generic"

    def __init__(self, cost, theta, X, Y, rows):
        self.cost, self.X, self.Y = cost, X, Y
        # One private copy of theta per thread: the kernel perturbs these in place.
        self.scratch = np.repeat(theta[None, :], rows, axis=0)
        self._blas = None

    def __enter__(self):
        self._blas = single_threaded_blas()
        self._blas.__enter__()
        return self

    def __exit__(self, *exc):
        return self._blas.__exit__(*exc)

    def __call__(self, idx, h, out):
        central_difference(self.cost.dispatcher, idx, h, self.X, self.Y, self.scratch, out)


class ModelGenericEngine(GenericEngine):
    """Two compiled full forward passes of a built-in model per coordinate."""

    def __call__(self, idx, h, out):
        model = self.cost
        mlp.central_difference(model.sizes, model.acts, model._loss_code, model.l2,
                               self.X, self.Y, idx, h, self.scratch, out)
