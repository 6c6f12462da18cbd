"""The python engine: evaluations of any cost from Python, in this process."""

import numpy as np

from ..costs.calling import Along, Perturbed
from ..planning.methods import CENTRAL_METHOD, COMPLEX, DIFFERENCES, method_record
from .base import Engine, empty_block, points_block, stencil_loop


class PythonEngine(Engine):
    """The reference engine: ``evaluate(theta, where)`` per perturbation.

    ``method`` (a ``fastcheck.planning.methods.Method`` or its name) is read
    from its stencil: central differences (2 evaluations per coordinate),
    Richardson's (4) or the complex step (1, on a complex copy of theta). Its
    one row of theta is restored after every coordinate, so blocks leave
    nothing behind.
    """

    name = "python"

    def __init__(self, evaluate, theta, layout, method=CENTRAL_METHOD):
        self.evaluate, self.layout = evaluate, layout
        self.method = method = method_record(method)
        self.estimate = stencil_loop(self.name, method, {DIFFERENCES: self._differences,
                                                         COMPLEX: self._complex})
        self.row = theta.astype(np.complex128) if method.complex_step else theta.copy()
        self.theta = theta

    def _at(self, i, saved, offset, step):
        """J with theta_i = ``saved`` moved by ``offset * step`` (the caller restores it)."""
        self.row[i] = saved + offset * step
        sign = "+" if offset >= 0.0 else "-"
        return self.evaluate(self.row, Perturbed(self.layout, i, sign, abs(offset) * step))

    def _differences(self, i, step):
        """The stencil's estimate at coordinate i, rounded as ``kernels.central.sweep``
        rounds it (``planning.methods.Stencil``)."""
        stencil = self.method.stencil
        points = stencil.offsets
        saved = self.row[i]
        try:
            for j, weight in enumerate(stencil.weights):
                a, b = points[2 * j], points[2 * j + 1]
                j_a, j_b = self._at(i, saved, a, step), self._at(i, saved, b, step)
                d = (j_a - j_b) / ((a - b) * step)
                estimate = weight * d if j == 0 else estimate + weight * d
        finally:
            self.row[i] = saved
        return estimate / stencil.divisor

    def _complex(self, i, step):
        row, saved = self.row, self.row[i]
        try:
            row[i] = saved + 1j * step
            value = self.evaluate(row, Perturbed(self.layout, i, "+i", step))
        finally:
            row[i] = saved
        return value.imag / step

    def points(self, ptr, idx, delta):
        """J at theta + delta and theta - delta on each direction d (see
        ``Engine.points``); a cost that raises raises here. The row is restored
        by writing back theta."""
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
        return points_block(j_plus, j_minus)

    def block(self, idx, h):
        res = empty_block(idx.shape[0])
        for k in range(idx.shape[0]):
            res.out[k] = self.estimate(int(idx[k]), float(h[k]))
        return res
