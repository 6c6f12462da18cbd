"""Step selection for finite differences.

The central difference's error is truncation, O(h^2), plus rounding,
O(eps_machine * |J| / h); their sum is smallest near h = cbrt(eps_machine)
times the scale of theta_i (about 6e-6 in float64). That is the default. An
explicit ``eps`` is the exercise's fixed absolute step and is used as given,
so ``eps=1e-7`` reproduces the published numbers bit for bit.
"""

import math
import numbers

import numpy as np

from .errors import OptionError

#: cbrt of float64's machine epsilon: the best relative step of a central difference.
CENTRAL_RELATIVE_STEP = float(np.cbrt(np.finfo(np.float64).eps))


def positive_finite(value, name):
    """``value`` as a float, or ``OptionError`` unless it is a positive finite real."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    return value


def default_steps(theta):
    """The default step for each entry of ``theta`` (n,): (n,) float64.

    h_i = cbrt(eps_machine) * max(1, |theta_i|), rounded to the step that is
    really taken, ``(theta_i + h_i) - theta_i``, so the divisor matches the
    perturbation exactly (pinned by tests/test_step.py).
    """
    theta = np.asarray(theta, dtype=np.float64)
    h = CENTRAL_RELATIVE_STEP * np.maximum(1.0, np.abs(theta))
    return (theta + h) - theta


def fixed_steps(theta, eps):
    """An explicit absolute step for every entry of ``theta`` (n,): (n,) float64."""
    eps = positive_finite(eps, "eps")
    return np.full(np.shape(theta), eps)


def steps_for(theta, eps, describe):
    """The steps to use at ``theta`` (n,), for ``eps`` None (default) or a number.

    ``describe(k)`` names entry k (``"W1[2, 3]"``) for the error raised when a
    step vanishes against theta: theta + h == theta would divide 0 by 2h.
    """
    theta = np.asarray(theta, dtype=np.float64)
    h = default_steps(theta) if eps is None else fixed_steps(theta, eps)
    lost = (theta + h == theta) | (theta - h == theta)
    if lost.any():
        k = int(np.argmax(lost))
        raise OptionError(f"eps={h[k]:.3g} is too small for {describe(k)} = {theta[k]:.17g}: "
                          "theta + eps == theta in float64. Use a larger eps, or eps=None "
                          "for a step scaled to each parameter")
    return h
