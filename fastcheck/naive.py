"""``naive_check``: the seed's own loop, kept as the baseline and a reference.

Per coordinate it copies the whole vector, perturbs one entry, rebuilds the
dict and runs the forward pass, exactly like the exercise's
``gradient_check_n``. It is slow on purpose: benchmarks measure against it and
tests use it as an independent reference for the engines.
"""

import time

import numpy as np

from .check import prepare
from .costs.calling import Perturbed
from .planning.sampling import flat_indices
from .planning.step import positive_finite, steps_for
from . import verdict as V


def naive_check(cost, params, grads, *args, eps=1e-7, threshold=None, indices=None):
    """The seed's gradient check, one Python loop iteration per coordinate.

    Same arguments and result type as ``fastcheck.check``; ``eps`` is the
    exercise's fixed step. ``indices`` (sorted flat indices) restricts the loop
    to those coordinates, which is how benchmarks time it on large networks.
    """
    eps = positive_finite(eps, "eps")
    threshold = V.resolve_threshold(threshold)
    adapter, grad = prepare(cost, params, grads, args)
    layout, parameters_values, evaluate = adapter.layout, adapter.theta, adapter.evaluate
    idx = np.arange(layout.size, dtype=np.int64) if indices is None else \
        flat_indices(indices, layout.size)
    h = steps_for(parameters_values[idx], eps, lambda k: layout.describe(idx[k]))

    start = time.perf_counter()
    j0 = evaluate(parameters_values, "at the given parameters")
    gradapprox = np.full(layout.size, np.nan)
    for i in idx:
        thetaplus = np.copy(parameters_values)
        thetaplus[i] += eps
        j_plus = evaluate(thetaplus, Perturbed(layout, i, "+", eps))
        thetaminus = np.copy(parameters_values)
        thetaminus[i] -= eps
        j_minus = evaluate(thetaminus, Perturbed(layout, i, "-", eps))
        gradapprox[i] = (j_plus - j_minus) / (2.0 * eps)
    seconds = time.perf_counter() - start

    return V.judge_naive(layout=layout, grad_flat=grad, approx=gradapprox[idx], idx=idx, h=h,
                         j0=j0, value_eps=adapter.value_eps, threshold=threshold, eps=eps,
                         evaluations=2 * idx.size + 1, seconds=seconds, notes=adapter.notes)
