"""Step selection for finite differences.

The central difference's error is truncation, O(h^2), plus rounding,
O(eps_machine * |J| / h); their sum is smallest near h = cbrt(eps_machine)
times the scale of theta_i (about 6e-6 in float64). Richardson's O(h^4)
truncation moves the best step to eps_machine^(1/5) (about 7e-4). The complex
step subtracts nothing, so any tiny step is exact to rounding: 1e-20. An
explicit ``eps`` is the exercise's fixed absolute step and is used as given,
so ``eps=1e-7`` reproduces the published numbers bit for bit.
"""

import math
import numbers

import numpy as np

from .errors import OptionError, ParameterError
from .methods import CENTRAL_METHOD, METHODS, method_record, probing

#: The best relative step of each real method in float64 (``methods.METHODS``).
RELATIVE_STEP = {m.name: m.relative_step for m in METHODS.values() if m.relative_step}


def positive_finite(value, name):
    """``value`` as a float, or ``OptionError`` unless it is a positive finite real."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    return value


def default_steps(theta, method=CENTRAL_METHOD):
    """The default step for each entry of ``theta`` (n,): (n,) float64.

    ``method`` is a ``fastcheck.methods.Method`` or its name. A fixed
    ``absolute_step`` as it is; else h_i = c * max(1, |theta_i|) with c the
    method's best relative step, rounded
    to the step that is really taken, ``(theta_i + h_i) - theta_i``, so the
    divisor matches the perturbation exactly (pinned by tests/test_step.py).
    Near the float64 maximum theta_i + h_i overflows and the step is inf;
    ``steps_for`` refuses such a parameter by name.
    """
    theta = np.asarray(theta, dtype=np.float64)
    method = method_record(method)
    if method.relative_step is None:
        return np.full(theta.shape, method.absolute_step)
    h = method.relative_step * np.maximum(1.0, np.abs(theta))
    with np.errstate(over="ignore", invalid="ignore"):
        return (theta + h) - theta


def steps_for(theta, eps, describe, method=CENTRAL_METHOD):
    """The steps to use at ``theta`` (n,), for ``eps`` None (default) or a number.

    ``describe(k)`` names entry k (``"W1[2, 3]"``) for the error raised when a
    real step vanishes against theta: theta + h == theta would divide 0 by 2h;
    and for the one raised when theta +- h is beyond the float64 maximum: the
    cost would be evaluated at inf and blamed for it. The complex step is never
    lost: it lives in the imaginary part (but the real steps that check it
    must be finite too).
    """
    theta = np.asarray(theta, dtype=np.float64)
    method = method_record(method)
    if eps is None:
        h = default_steps(theta, method)
    else:
        h = np.full(theta.shape, positive_finite(eps, "eps"))
    real = default_steps(theta, probing(method)) if method.complex_step else h
    with np.errstate(over="ignore", invalid="ignore"):
        beyond = ~(np.isfinite(theta + real) & np.isfinite(theta - real))
    if beyond.any():
        k = int(np.argmax(beyond))
        if eps is None or method.complex_step:
            raise ParameterError(
                f"{describe(k)} = {theta[k]:.17g} is too large for a finite step: theta +- h "
                "overflows float64 (whose maximum is 1.8e308). Rescale that parameter (and "
                "the cost with it) before checking")
        raise OptionError(f"eps={h[k]:.3g} takes {describe(k)} = {theta[k]:.17g} beyond the "
                          "float64 maximum (theta + eps overflows); use a smaller eps, or "
                          "eps=None")
    if method.complex_step:
        return h
    smallest = method.finest * h
    lost = (theta + smallest == theta) | (theta - smallest == theta)
    if lost.any():
        k = int(np.argmax(lost))
        raise OptionError(f"eps={h[k]:.3g} is too small for {describe(k)} = {theta[k]:.17g}: "
                          "theta + eps == theta in float64. Use a larger eps, or eps=None "
                          "for a step scaled to each parameter")
    return h
