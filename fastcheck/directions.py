"""``check_directions``: a gradient check along a few random directions.

Along a unit direction v the central difference (J(theta + h v) - J(theta - h v))
/ 2h estimates the directional derivative grad . v. A handful of directions cost
a handful of evaluations whatever P is, and any wrong gradient entry shows up
in almost every direction; but a direction mixes all tensors, so it says *that*
the gradient is wrong, not *where* (use ``check(..., sample=...)`` for that).
"""

import time

import numpy as np

from .check import held, prepare
from .errors import OptionError
from .runtime.memory import ensure_fits
from .planning.sampling import validate_seed
from .planning.methods import CENTRAL_METHOD
from .planning.baseline import make_baseline
from .planning.step import noise_boost, positive_finite
from .verdict import judge_directions, precision_notes, resolve_threshold, step_notes


def check_directions(cost, params, grads, *args, n=8, seed=0, eps=None, threshold=None):
    """Compare grad . v with central differences along ``n`` random unit directions.

    Parameters
    ----------
    cost, params, grads, *args
        As for ``fastcheck.check``.
    n : int
        The number of directions, each drawn from N(0, I_P) and normalised.
    seed : int
        Seeds the directions: the same seed gives the same directions.
    eps : float, optional
        A fixed step along v; default cbrt(machine epsilon) * max(1, max|theta|),
        larger for a cost whose measured noise is coarser than float64's
        (``fastcheck.planning.step.noise_boost``).
    threshold : float, optional
        Passes when the relative difference over the n directions is below it.

    Returns
    -------
    DirectionsResult
        ``difference`` compares the (n,) directional derivatives of the backward
        pass with their estimates; ``expected``, ``estimate`` and ``errors``
        hold them per direction. No per-tensor rows: directions mix tensors.
    """
    threshold = resolve_threshold(threshold)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise OptionError(f"n must be a positive number of directions, got {n!r}")
    seed = validate_seed(seed)
    adapter, grad_flat = prepare(cost, params, grads, args)
    layout, theta, evaluate = adapter.layout, adapter.theta, adapter.evaluate
    ensure_fits(16 * int(n), f"n={n} directions")
    eps = None if eps is None else positive_finite(eps, "eps")

    with held(adapter):
        start = time.perf_counter()
        # The Python cost is evaluated as it is (a handful of evaluations: nothing to compile).
        base = make_baseline(adapter, engine="python", method=CENTRAL_METHOD, count=n, seed=seed)
        measured, j0 = base.measured, base.j0
        fitted = (CENTRAL_METHOD.relative_step * noise_boost(measured.relative(j0))
                  * max(base.floor, float(np.max(np.abs(theta)))))
        h = fitted if eps is None else eps
        noise_notes = base.noise_notes + tuple(step_notes(eps, np.array([fitted]), measured, j0))
        rng = np.random.default_rng(seed)
        expected, estimate = np.empty(n), np.empty(n)
        for k in range(int(n)):
            v = rng.standard_normal(layout.size)
            v /= np.linalg.norm(v)
            if (theta + h * v == theta).all():
                raise OptionError(f"eps={h:.3g} moves no parameter along direction {k}: "
                                  "theta + eps * v == theta in float64. Use a larger eps, or "
                                  "eps=None")
            j_plus = evaluate(theta + h * v, f"along direction {k} (+h)")
            j_minus = evaluate(theta - h * v, f"along direction {k} (-h)")
            estimate[k] = (j_plus - j_minus) / (2.0 * h)
            expected[k] = grad_flat @ v
        seconds = time.perf_counter() - start

        return judge_directions(layout=layout, expected=expected, estimate=estimate, h=h,
                                noise=base.noise, threshold=threshold,
                                evaluations=2 * int(n) + base.evaluations, seconds=seconds,
                                notes=list(base.notes) + precision_notes(params)
                                + list(noise_notes))
