"""Engines: how one block of coordinates gets its derivative estimates.

An engine is built once per check (for one method) and then called as
``engine(idx, h, out, aux)``: fill ``out`` (n,) with the estimates for flat
indices ``idx`` (n,) and steps ``h`` (n,); for Richardson, ``aux`` (n,) gets
D(h) - D(h/2). Blocks are independent of each other and never touch the
caller's arrays, so the driver may run them in any order, or elsewhere.
"""

import numbers

import numpy as np

from .blas import single_threaded_blas
from .errors import CostError
from .kernels import mlp
from .kernels.central import CENTRAL, RICHARDSON, complex_step, finite_difference, richardson

#: Kernel method codes of the real-valued methods.
METHOD_CODES = {"central": CENTRAL, "richardson": RICHARDSON}


def cost_value(value, where, complex_input=False):
    """The cost's return ``value`` as a finite float (complex for the complex
    step), or ``CostError``.

    A tuple counts by its first element (the seed's ``forward_propagation_n``
    returns ``(cost, cache)``). ``where`` says at which point it was evaluated.
    """
    if isinstance(value, tuple):
        if not value:
            raise CostError(f"the cost returned an empty tuple {where}; return the cost, "
                            "or a tuple whose first element is the cost")
        value = value[0]
    if complex_input:
        if isinstance(value, (complex, np.complexfloating)) or (
                isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "c"):
            value = complex(value)
            if not (np.isfinite(value.real) and np.isfinite(value.imag)):
                raise CostError(f"the cost returned {value} {where}; it must be finite")
            return value
        raise CostError(f"the cost returned {type(value).__name__} for complex parameters "
                        f"{where}: it cannot run in complex arithmetic (abs, np.real, "
                        "float() or a real-only function drops the imaginary part). "
                        "Use method='central' or 'richardson'")
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
        return cost_value(value, where, theta.dtype.kind == "c")


class FlatCost:
    """Evaluate a compiled cost at a flat theta (P,) from Python.

    ``func(theta)`` serves real theta, ``complex_func(theta)`` complex theta.
    """

    def __init__(self, func, complex_func=None):
        self.func, self.complex_func = func, complex_func

    def __call__(self, theta, where):
        is_complex = theta.dtype.kind == "c"
        try:
            value = (self.complex_func if is_complex else self.func)(theta)
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        return cost_value(value, where, is_complex)


class perturbed:
    """Where an evaluation happened, for error messages only: formats as
    ``"with W1[2, 3] perturbed by +h (h = 1e-07)"`` when an error needs it, so
    the hot loop does not pay for the words."""

    __slots__ = ("layout", "i", "sign", "h")

    def __init__(self, layout, i, sign, h):
        self.layout, self.i, self.sign, self.h = layout, i, sign, h

    def __str__(self):
        return (f"with {self.layout.describe(self.i)} perturbed by {self.sign}h "
                f"(h = {self.h:.3g})")


class Engine:
    """Base of the engines: a context manager around a check's blocks."""

    name = "engine"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class PythonEngine(Engine):
    """Evaluations of any cost from Python, in this process: the reference engine.

    ``method`` is "central" (2 evaluations per coordinate), "richardson" (4) or
    "complex" (1, on a complex copy of theta).
    """

    name = "python"

    def __init__(self, evaluate, theta, layout, method="central"):
        self.evaluate, self.layout, self.method = evaluate, layout, method
        self.row = theta.astype(np.complex128) if method == "complex" else theta.copy()

    def _central(self, i, step):
        row, saved = self.row, self.row[i]
        try:
            row[i] = saved + step
            j_plus = self.evaluate(row, perturbed(self.layout, i, "+", step))
            row[i] = saved - step
            j_minus = self.evaluate(row, perturbed(self.layout, i, "-", step))
        finally:
            row[i] = saved
        return (j_plus - j_minus) / (2.0 * step)

    def _complex(self, i, step):
        row, saved = self.row, self.row[i]
        try:
            row[i] = saved + 1j * step
            value = self.evaluate(row, perturbed(self.layout, i, "+i", step))
        finally:
            row[i] = saved
        return value.imag / step

    def __call__(self, idx, h, out, aux):
        for k in range(idx.shape[0]):
            i, step = int(idx[k]), float(h[k])
            if self.method == "complex":
                out[k] = self._complex(i, step)
                continue
            d_coarse = self._central(i, step)
            if self.method == "richardson":
                d_fine = self._central(i, 0.5 * step)
                out[k] = richardson(d_coarse, d_fine)
                aux[k] = d_coarse - d_fine
            else:
                out[k] = d_coarse


class GenericEngine(Engine):
    """Compiled full evaluations of a ``JitCost`` per coordinate, prange-parallel.

    BLAS is held to one thread while the engine is entered: the kernel's
    threads already fill the cores.
    """

    name = "generic"

    def __init__(self, cost, theta, X, Y, rows, method="central"):
        self.cost, self.X, self.Y, self.method = cost, X, Y, method
        dtype = np.complex128 if method == "complex" else np.float64
        self.theta = theta.astype(dtype)
        # One private copy of theta per thread: the kernel perturbs these in place.
        self.scratch = np.repeat(self.theta[None, :], rows, axis=0)
        self._blas = None

    def __enter__(self):
        # One thread cannot oversubscribe: leave BLAS (and the 40 us it takes) alone.
        if self.scratch.shape[0] > 1:
            self._blas = single_threaded_blas()
            self._blas.__enter__()
        return self

    def __exit__(self, *exc):
        return self._blas.__exit__(*exc) if self._blas is not None else False

    def __call__(self, idx, h, out, aux):
        try:
            self._kernel(idx, h, out, aux)
        except Exception:
            # A compiled cost that raised on the calling thread surfaces here (as
            # SystemError; the driver names the coordinate); on other threads it
            # only leaves NaN behind. Either way its row is left perturbed.
            self.scratch[:] = self.theta
            raise
        if not (self.scratch == self.theta).all():
            if np.isfinite(out).all():
                raise CostError("the compiled cost wrote into theta; a cost must not modify "
                                "its input (copy it first)")
            self.scratch[:] = self.theta  # a raising cost left its row perturbed

    def _kernel(self, idx, h, out, aux):
        if self.method == "complex":
            complex_step(self.cost.complex_dispatcher, idx, h, self.X, self.Y, self.scratch,
                         out)
        else:
            finite_difference(self.cost.dispatcher, METHOD_CODES[self.method], idx, h,
                              self.X, self.Y, self.scratch, out, aux)


class ModelGenericEngine(GenericEngine):
    """Compiled full forward passes of a built-in model per coordinate."""

    def __init__(self, model, theta, X, Y, rows, method="central"):
        # Numba's @ wants matching dtypes: complex weights meet complex data.
        super().__init__(model, theta, X.astype(np.complex128) if method == "complex" else X,
                         Y, rows, method)

    def _kernel(self, idx, h, out, aux):
        model = self.cost
        if self.method == "complex":
            mlp.complex_step(model.sizes, model.acts, model._loss_code, model.l2, self.X,
                             self.Y, idx, h, self.scratch, out)
        else:
            mlp.finite_difference(model.sizes, model.acts, model._loss_code, model.l2,
                                  self.X, self.Y, METHOD_CODES[self.method], idx, h,
                                  self.scratch, out, aux)
