"""The python engine: evaluations of any cost from Python, in this process."""

import numpy as np

from ..costs.calling import Along, Perturbed
from ..kernels.central import richardson
from ..planning.methods import CENTRAL_METHOD, method_record
from .base import Engine, empty_block


class PythonEngine(Engine):
    """The reference engine: ``evaluate(theta, where)`` per perturbation.

    ``method`` (a ``fastcheck.planning.methods.Method`` or its name) is central
    differences (2 evaluations per coordinate), Richardson's (4) or the complex
    step (1, on a complex copy of theta). Its one row of theta is restored
    after every coordinate, so blocks leave nothing behind.
    """

    name = "python"

    def __init__(self, evaluate, theta, layout, method=CENTRAL_METHOD):
        self.evaluate, self.layout = evaluate, layout
        self.method = method = method_record(method)
        self.row = theta.astype(np.complex128) if method.complex_step else theta.copy()
        self.theta = theta

    def _central(self, i, step):
        row, saved = self.row, self.row[i]
        try:
            row[i] = saved + step
            j_plus = self.evaluate(row, Perturbed(self.layout, i, "+", step))
            row[i] = saved - step
            j_minus = self.evaluate(row, Perturbed(self.layout, i, "-", step))
        finally:
            row[i] = saved
        return (j_plus - j_minus) / (2.0 * step)

    def _complex(self, i, step):
        row, saved = self.row, self.row[i]
        try:
            row[i] = saved + 1j * step
            value = self.evaluate(row, Perturbed(self.layout, i, "+i", step))
        finally:
            row[i] = saved
        return value.imag / step

    def points(self, ptr, idx, delta):
        """J at theta + delta and theta - delta on each direction d, whose entries are
        ``idx[ptr[d]:ptr[d + 1]]`` (flat indices) and ``delta[ptr[d]:ptr[d + 1]]``:
        (D,) j_plus and j_minus, and None (a cost that raises raises here). The
        row is restored by writing back theta."""
        count = ptr.shape[0] - 1
        j_plus, j_minus = np.full(count, np.nan), np.full(count, np.nan)
        row, theta = self.row, self.theta
        for d in range(count):
            S, step = idx[ptr[d]:ptr[d + 1]], delta[ptr[d]:ptr[d + 1]]
            where = Along(self.layout, S)
            try:
                row[S] = theta[S] + step
                j_plus[d] = self.evaluate(row, where)
                row[S] = theta[S] - step
                j_minus[d] = self.evaluate(row, where)
            finally:
                row[S] = theta[S]
        return j_plus, j_minus, None

    def block(self, idx, h):
        res = empty_block(idx.shape[0])
        method = self.method
        for k in range(idx.shape[0]):
            i, step = int(idx[k]), float(h[k])
            if method.complex_step:
                res.out[k] = self._complex(i, step)
            elif method.finest < 1.0:  # Richardson: the same at h and h/2, combined
                res.out[k] = richardson(self._central(i, step),
                                        self._central(i, method.finest * step))
            else:
                res.out[k] = self._central(i, step)
        return res
