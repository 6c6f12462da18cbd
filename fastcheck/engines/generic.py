"""The generic engine: compiled full evaluations of a cost per coordinate, in parallel."""

import numpy as np

from ..errors import CostError
from ..kernels.central import complex_sweep, sweep
from ..kernels.points import points as points_kernel
from ..planning.methods import CENTRAL_METHOD, COMPLEX, DIFFERENCES, method_record
from ..runtime.interrupt import interruptible
from ..runtime.numba_setup import kernel_for
from .base import Engine, empty_block, points_block, stencil_loop


class GenericEngine(Engine):
    """The method's stencil over compiled evaluations of ``function``, per
    coordinate, prange-parallel.

    ``function(theta, fdata, idata)`` has the fixed cost type of
    ``kernels/signatures.py`` (complex for the complex step); ``fdata`` and
    ``idata`` are its packed arguments. Each of its ``threads`` threads owns one
    row of an (R, P) scratch copy of theta, perturbed in place and restored.
    """

    name = "generic"
    parallel = True

    def __init__(self, function, fdata, idata, theta, threads, method=CENTRAL_METHOD):
        self.function, self.fdata, self.idata = function, fdata, idata
        self.method = method = method_record(method)
        kernel, self.estimate = stencil_loop(self.name, method, {
            DIFFERENCES: (sweep, self._differences), COMPLEX: (complex_sweep, self._complex)})
        interruptible(kernel)  # a first compile: Ctrl-C
        self.stencil = method.stencil.arrays()
        dtype = np.complex128 if method.complex_step else np.float64
        self.theta = theta.astype(dtype)
        self.scratch = np.repeat(self.theta[None, :], threads, axis=0)

    @staticmethod
    def scratch_bytes(P, threads, method):
        """Bytes the engine allocates beyond theta: its (R, P) rows, one per thread."""
        return threads * P * method_record(method).scalar_bytes

    def _differences(self, idx, h, out):
        kernel_for(sweep())(self.function, *self.stencil, idx, h, self.fdata, self.idata,
                            self.scratch, out)

    def _complex(self, idx, h, out):
        kernel_for(complex_sweep())(self.function, idx, h, self.fdata, self.idata,
                                    self.scratch, out)

    def points(self, ptr, idx, delta):
        """J at theta +- delta along each direction (see ``Engine.points``),
        compiled and prange-parallel over the directions; NaN where the
        compiled cost raised, and the exception raised, if any, in ``error``."""
        count = ptr.shape[0] - 1
        j_plus, j_minus = np.full(count, np.nan), np.full(count, np.nan)
        error = None
        try:
            kernel_for(points_kernel())(self.function, self.theta, ptr, idx, delta, self.fdata,
                                        self.idata, self.scratch, j_plus, j_minus)
        except Exception as exc:  # raised on the calling thread; the driver names it
            error = exc.__cause__ or exc
        self.scratch[:] = self.theta  # a raising cost leaves its row perturbed
        return points_block(j_plus, j_minus, error)

    def block(self, idx, h):
        res = empty_block(idx.shape[0])
        try:
            self.estimate(idx, h, res.out)
        except Exception as exc:
            # A compiled cost that raised on the calling thread surfaces here (as
            # SystemError); on other threads it only leaves NaN behind. Either
            # way its row is left perturbed, and the driver names the coordinate.
            self.scratch[:] = self.theta
            return res._replace(error=exc.__cause__ or exc)
        if not (self.scratch == self.theta).all():
            if np.isfinite(res.out).all():
                raise CostError("the compiled cost wrote into theta; a cost must not modify "
                                "its input (copy it first)")
            self.scratch[:] = self.theta  # a raising cost left its row perturbed
        return res
