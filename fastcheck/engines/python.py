"""The python engine: evaluations of any cost from Python, in this process."""

import numpy as np

from ..kernels.central import richardson
from .base import Engine, empty_block


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


class along:
    """Where a direction's evaluation happened, for error messages only."""

    __slots__ = ("layout", "idx")

    def __init__(self, layout, idx):
        self.layout, self.idx = layout, idx

    def __str__(self):
        first = self.layout.describe(int(self.idx[0])) if self.idx.size else "nothing"
        return (f"along a direction over {self.idx.size} coordinates (from {first}), "
                "fastcheck.locate")


class PythonEngine(Engine):
    """The reference engine: ``evaluate(theta, where)`` per perturbation.

    ``method`` is "central" (2 evaluations per coordinate), "richardson" (4) or
    "complex" (1, on a complex copy of theta). Its one row of theta is
    restored after every coordinate, so blocks leave nothing behind.
    """

    name = "python"

    def __init__(self, evaluate, theta, layout, method="central"):
        self.evaluate, self.layout, self.method = evaluate, layout, method
        self.row = theta.astype(np.complex128) if method == "complex" else theta.copy()
        self.theta = theta

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
            where = along(self.layout, S)
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
        for k in range(idx.shape[0]):
            i, step = int(idx[k]), float(h[k])
            if self.method == "complex":
                res.out[k] = self._complex(i, step)
                continue
            d_coarse = self._central(i, step)
            if self.method == "richardson":
                d_fine = self._central(i, 0.5 * step)
                res.out[k] = richardson(d_coarse, d_fine)
                res.aux[k] = d_coarse - d_fine
            else:
                res.out[k] = d_coarse
        return res
