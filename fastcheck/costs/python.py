"""A plain Python cost ``cost(params_dict, *args)``: the user's own code."""

import warnings

import numpy as np

from ..engines import PythonEngine
from ..errors import CostError
from ..layout import Layout
from ..verdict import CHECKABLE_EPS
from .base import CostAdapter, cost_value, value_precision

class PythonCostAdapter(CostAdapter):
    """The user's callable over a dict of parameters, evaluated from Python.

    The cost sees writable views of one buffer of fastcheck's, refilled before
    each call and compared after it: a cost that writes into its parameters is
    a ``CostError``; a cost that keeps them (``net.params = p``) is left with
    arrays that hold theta's values when the check is over.
    """

    kind = "Python cost"
    engines = ("python",)

    def __init__(self, cost, params, args):
        super().__init__()
        self.func, self.args = cost, args
        self.layout = Layout.from_params(params)
        self.theta = self.layout.flatten(params)
        self._buffers = {}

    @classmethod
    def accepts(cls, cost):
        return callable(cost)

    def refusal(self, name):
        if name == "generic":
            return ("engine='generic' needs a compiled cost: a built-in model "
                    "(fastcheck.models) or a cost decorated with @fastcheck.jit_cost "
                    "(signature cost(theta, X, Y) -> float); or use engine='python'")
        if name == "layered":
            return ("engine='layered' knows only the built-in models (fastcheck.models); "
                    "use engine='generic' or 'python' for this cost")
        return super().refusal(name)

    def evaluate(self, theta, where):
        is_complex = theta.dtype.kind == "c"
        buffer = self._buffers.get(theta.dtype)
        if buffer is None:
            buffer = self._buffers[theta.dtype] = np.empty_like(theta)
        buffer[:] = theta
        try:
            with warnings.catch_warnings():
                if is_complex:  # NumPy keeps only the real part, and only warns
                    warnings.simplefilter("error", np.exceptions.ComplexWarning)
                value = self.func(self.layout.unflatten(buffer), *self.args)
        except np.exceptions.ComplexWarning as exc:
            raise CostError(f"the cost dropped the imaginary part of its parameters {where}: "
                            f"{exc} (a complex value assigned into a real array, such as "
                            "np.zeros without dtype). method='complex' cannot check it; use "
                            "method='central' or 'richardson'") from exc
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        finally:
            written = not np.array_equal(buffer, theta)
            buffer[:] = self.theta  # what a cost that kept its arrays finds afterwards
        if written:
            raise CostError(f"the cost wrote into its parameters {where}; a cost must not "
                            "modify them (copy an array before changing it in place)")
        low = value_precision(value)
        if low is not None and low[0] > self.value_eps:
            self.value_eps = low[0]
            self.notes.append(f"the cost returns {low[1]}: its values, and so the estimates, "
                              "are known only to that precision" +
                              ("" if low[0] <= CHECKABLE_EPS else
                               "; too coarse to check a gradient meaningfully: compute the "
                               "cost in float32 or float64"))
        return cost_value(value, where, is_complex)

    def scratch_bytes(self, engine, method, rows):
        return self.layout.size * (16 if method == "complex" else 8)

    def build(self, engine, method, rows):
        return PythonEngine(self.evaluate, self.theta, self.layout, method)
