"""The layered engine: cache one forward pass of a built-in MLP, then recompute
per coordinate only what the perturbation changes (``kernels/layered.py``).

Scratch is O(threads * work width) beyond the caches (Z and A of every layer,
W^T), never O(P) per thread: the kernel reads theta and never perturbs a copy.
"""

import numpy as np

from ..kernels import layered
from ..kernels import mlp
from ..planning.methods import CENTRAL_METHOD, COMPLEX, DIFFERENCES, method_record
from ..runtime.numba_setup import kernel_for
from .base import Engine, empty_block, stencil_loop


class LayeredEngine(Engine):
    """Finite differences of a built-in MLP from its cached activations.

    A block's ``kinks`` flag the coordinates where a ReLU-type pre-activation
    changes sign between theta - h and theta + h.

    ``model`` hands the engine plain values: ``sizes``, ``acts``,
    ``loss_code``, ``l2`` and ``layers(theta, X)``, its forward pass
    [(Z_l, A_l)] (``fastcheck.models.MLP``).
    """

    name = "layered"
    parallel = True

    def __init__(self, model, theta, X, Y, threads, method=CENTRAL_METHOD):
        sizes, m = model.sizes, X.shape[1]
        self.theta, self.X = theta, X
        self.method = method = method_record(method)
        self.estimate = stencil_loop(self.name, method, {DIFFERENCES: self._differences,
                                                         COMPLEX: self._complex})
        if len(method.stencil.offsets) > layered.MAX_POINTS:
            raise ValueError(f"the layered engine takes stencils of at most "
                             f"{layered.MAX_POINTS} points; method {method.name!r} has "
                             f"{len(method.stencil.offsets)}")
        self.stencil = method.stencil.arrays()
        self.sizes, self.acts = sizes, model.acts
        self.loss_code, self.l2 = model.loss_code, model.l2
        layers = model.layers(theta, X)
        # Example-major copies: row k of ZT_l is example k's pre-activations.
        self.z_off = np.concatenate(([0], np.cumsum(sizes[1:] * m))).astype(np.int64)
        self.ZT = np.concatenate([Z.T.ravel() for Z, _ in layers])
        self.AT = np.concatenate([A.T.ravel() for _, A in layers])
        offsets = mlp.layer_offsets(sizes)
        blocks = [theta[offsets[l]:offsets[l] + sizes[l + 1] * sizes[l]]
                  .reshape(sizes[l + 1], sizes[l]).T.ravel() for l in range(len(sizes) - 1)]
        self.wt_off = np.concatenate(([0], np.cumsum([b.size for b in blocks]))).astype(np.int64)
        self.WT = np.concatenate(blocks)
        self.YT = np.ascontiguousarray(Y.T)
        ZT_L = self.ZT[self.z_off[-2]:].reshape(m, sizes[-1])
        self.base_example, self.base_logit = layered.base_losses(ZT_L, self.YT, self.loss_code)
        dtype = np.complex128 if method.complex_step else np.float64
        self.work = np.empty((threads, layered.work_width(sizes, m)), dtype=dtype)
        self.cols = np.empty((threads, layered.int_width(sizes, m)), dtype=np.int64)

    @staticmethod
    def scratch_bytes(sizes, m, threads, method):
        """Bytes the engine allocates: the caches (Z, A, W^T) and each thread's work."""
        sizes = [int(n) for n in sizes]
        width = method_record(method).scalar_bytes
        caches = 2 * sum(sizes[1:]) * m * 8 + sum(a * b for a, b in zip(sizes, sizes[1:])) * 8
        sizes = np.asarray(sizes, dtype=np.int64)
        return caches + threads * (int(layered.work_width(sizes, m)) * width
                                + int(layered.int_width(sizes, m)) * 8)

    def block(self, idx, h):
        res = empty_block(idx.shape[0])
        caches = (self.X, self.WT, self.wt_off, self.ZT, self.AT, self.z_off, self.YT,
                  self.base_example, self.base_logit)
        net = (self.sizes, self.acts, self.loss_code, self.l2)
        self.estimate(net, caches, idx, h, res)
        return res

    def _differences(self, net, caches, idx, h, res):
        kinks = np.zeros(idx.shape[0], dtype=np.uint8)
        kernel_for(layered.layered_difference)(self.theta, *net, *caches, *self.stencil, idx,
                                               h, self.work, self.cols, res.out, kinks)
        res.kinks[:] = kinks.astype(bool)

    def _complex(self, net, caches, idx, h, res):
        # The complex step moves no real part, so it crosses no kink.
        kernel_for(layered.layered_complex_step)(self.theta, *net, *caches, idx, h,
                                                 self.work, self.cols, res.out)


class KinkWatched(Engine):
    """Another engine's estimates, with the layered kernel watching for kinks.

    The generic and python engines evaluate whole forward passes and cannot see
    which pre-activations a step moves across zero; the layered kernel can, at
    a fraction of their cost.
    """

    def __init__(self, engine, watcher):
        self.engine, self.watcher = engine, watcher
        self.name, self.parallel = engine.name, engine.parallel

    def points(self, ptr, idx, delta):
        """The watched engine's ``points`` (directions need no kink flags: the
        group test's two-step consistency test sees kinks)."""
        return self.engine.points(ptr, idx, delta)

    def block(self, idx, h):
        res = self.engine.block(idx, h)
        res.kinks[:] = self.watcher.block(idx, h).kinks
        return res
