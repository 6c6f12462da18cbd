"""``naive_check``: the seed's own loop, kept as the baseline and a reference.

Per coordinate it copies the whole vector, perturbs one entry, rebuilds the
dict and runs the forward pass, exactly like the exercise's
``gradient_check_n``. It is slow on purpose: benchmarks measure against it and
tests use it as an independent reference for the engines.
"""

import time

import numpy as np

from .dispatch import make_evaluator, prepare
from .engines import perturbed
from .result import CheckResult, relative_difference, resolve_threshold, tensor_rows
from .errors import OptionError
from .step import positive_finite, steps_for


def naive_check(cost, params, grads, *args, eps=1e-7, threshold=None, indices=None):
    """The seed's gradient check, one Python loop iteration per coordinate.

    Same arguments and result type as ``fastcheck.check``; ``eps`` is the
    exercise's fixed step. ``indices`` (sorted flat indices) restricts the loop
    to those coordinates, which is how benchmarks time it on large networks.
    """
    eps = positive_finite(eps, "eps")
    threshold = resolve_threshold(threshold)
    cost, layout, parameters_values, grad = prepare(cost, params, grads)
    evaluate, _ = make_evaluator(cost, layout, args)
    idx = np.arange(layout.size, dtype=np.int64) if indices is None else \
        flat_indices(indices, layout.size)
    steps_for(parameters_values[idx], eps, lambda k: layout.describe(idx[k]))

    start = time.perf_counter()
    evaluate(parameters_values, "at the given parameters")
    gradapprox = np.full(layout.size, np.nan)
    for i in idx:
        thetaplus = np.copy(parameters_values)
        thetaplus[i] += eps
        j_plus = evaluate(thetaplus, perturbed(layout, i, "+", eps))
        thetaminus = np.copy(parameters_values)
        thetaminus[i] -= eps
        j_minus = evaluate(thetaminus, perturbed(layout, i, "-", eps))
        gradapprox[i] = (j_plus - j_minus) / (2.0 * eps)
    seconds = time.perf_counter() - start

    return CheckResult(
        difference=relative_difference(grad[idx], gradapprox[idx]), threshold=threshold,
        layout=layout, grad_flat=grad, gradapprox_flat=gradapprox, indices=idx,
        per_tensor=tensor_rows(layout, grad, gradapprox, idx), method="central",
        engine="naive", eps=eps, evaluations=2 * idx.size + 1, seconds=seconds)


def flat_indices(indices, P):
    """``indices`` as sorted unique int64 flat indices in [0, P), or ``OptionError``."""
    array = np.asarray(indices)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
        raise OptionError(f"indices must be a non-empty 1-D list of integer flat indices, "
                          f"got {indices!r}")
    if array.min() < 0 or array.max() >= P:
        raise OptionError(f"indices must lie in [0, {P}) (there are {P} parameters), got "
                          f"range [{array.min()}, {array.max()}]")
    return np.unique(array).astype(np.int64)
