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
