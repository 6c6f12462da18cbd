"""Step selection for finite differences.

The central difference's error is truncation, O(h^2), plus rounding,
O(eps_machine * |J| / h); their sum is smallest near h = cbrt(eps_machine)
times the scale of theta_i (about 6e-6 in float64). Richardson's O(h^4)
truncation moves the best step to eps_machine^(1/5) (about 7e-4). The complex
step subtracts nothing, so any tiny step is exact to rounding: 1e-20. An
explicit ``eps`` is the exercise's fixed absolute step and is used as given,
so ``eps=1e-7`` reproduces the published numbers bit for bit.

Two things move the default step away from float64's: the cost's measured
noise (``fastcheck.planning.noise``), when it shows the cost computes in a coarser
precision than float64 (a float32 cost is known to about 1e-7 of J, and its
best central step is about cbrt(1e-7) = 5e-3 relative, ``noise_boost``); and
the size of the parameters, when they are all far from 1 in magnitude
(``scale_floor``: the floor of max(1, |theta_i|) would be a huge step for
parameters of 1e-100, and a step lost in rounding for zeros among 1e100s).
"""

import math
import numbers

import numpy as np

from ..errors import OptionError, ParameterError
from .methods import CENTRAL_METHOD, METHODS, method_record, probing

#: The best relative step of each real method in float64 (``methods.METHODS``).
_EPS = float(np.finfo(np.float64).eps)
RELATIVE_STEP = {m.name: m.relative_step for m in METHODS.values() if m.relative_step}


def positive_finite(value, name):
    """``value`` as a float, or ``OptionError`` unless it is a positive finite real."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    return value


#: Relative noise up to this is float64's own (a long sum of float64 terms is
#: off by a few thousand ulps at most): the float64 step stands.
COARSE_NOISE = 1e-11
#: The largest relative step a measured noise can call for: a float32 cost's
#: central step (cbrt(1e-7)); Richardson's fitted step would be 0.04 there,
#: and crossed so many ReLU kinks that the closer look blamed a correct
#: float32 batchnorm (tests/test_verdict.py).
MAX_RELATIVE_STEP = 5e-3
#: Parameters whose largest |entry| is within this factor of 1 keep the floor of 1.
FLOOR_RANGE = 1024.0


def noise_boost(relative_noise, method=CENTRAL_METHOD):
    """How many times the float64 step a cost of ``relative_noise`` (sigma / |J|)
    calls for: 1.0 up to ``COARSE_NOISE``, beyond it (relative_noise /
    eps_machine)^(1/(order + 1)) for a method whose truncation is O(h^order)
    (the step balancing rounding against truncation: the noise's cube root
    for central differences, its fifth root for Richardson's); capped at a
    relative step of ``MAX_RELATIVE_STEP``. ``method``: a ``Method`` or its name."""
    method = method_record(method)
    if method.order is None or not relative_noise > COARSE_NOISE:
        return 1.0
    boost = min(relative_noise, 1.0) / _EPS
    return float(min(boost ** (1.0 / (method.order + 1)),
                     MAX_RELATIVE_STEP / method.relative_step))


def scale_floor(theta):
    """The floor the default steps scale from, max(floor, |theta_i|): 1.0, unless
    the largest |entry| of ``theta`` (P,), S (the power of two at or below it), is beyond
    ``FLOOR_RANGE`` of 1; then S itself, so a step stays in proportion to
    parameters of any size and scaling them changes no verdict
    (tests/test_noise.py). One S for all tensors: a tensor of small entries (a
    bias of 5e-5) moves J as much per unit as any other, and a step scaled to
    its entries would drown in rounding (tests/test_properties.py)."""
    # max and -min, not max(abs): no temporary as large as theta (10M parameters: 80 MB)
    top = float(max(np.max(theta, initial=0.0), -np.min(theta, initial=0.0)))
    if not (top > 0.0 and math.isfinite(top)):
        return 1.0
    size = float(np.ldexp(0.5, np.frexp(top)[1]))  # <= top: never overflows
    return size if size > FLOOR_RANGE or size < 1.0 / FLOOR_RANGE else 1.0


def default_steps(theta, method=CENTRAL_METHOD, floor=1.0, boost=1.0):
    """The default step for each entry of ``theta`` (n,): (n,) float64.

    ``method`` is a ``fastcheck.planning.methods.Method`` or its name. A fixed
    ``absolute_step`` times ``floor`` (1 unless the parameters are all far from 1);
    else h_i = c * max(1, |theta_i|) with c the
    method's best relative step (``floor``
    replaces the 1, see ``scale_floor``, and ``boost`` multiplies c, see
    ``noise_boost``), rounded
    to the step that is really taken, ``(theta_i + h_i) - theta_i``, so the
    divisor matches the perturbation exactly (pinned by tests/test_step.py).
    Near the float64 maximum theta_i + h_i overflows and the step is inf;
    ``steps_for`` refuses such a parameter by name.
    """
    theta = np.asarray(theta, dtype=np.float64)
    method = method_record(method)
    if method.relative_step is None:
        # The complex step in proportion to the parameters' scale too: 1e-20 against
        # parameters of 1e-170 is no small step (its truncation, (h / theta)^2, is huge).
        return np.full(theta.shape, method.absolute_step * floor)
    h = boost * method.relative_step * np.maximum(floor, np.abs(theta))
    with np.errstate(over="ignore", invalid="ignore"):
        return (theta + h) - theta


def steps_for(theta, eps, describe, method=CENTRAL_METHOD, floor=1.0, boost=1.0):
    """The steps to use at ``theta`` (n,), for ``eps`` None (default) or a number.

    ``describe(k)`` names entry k (``"W1[2, 3]"``) for the error raised when a
    real step vanishes against theta: theta + h == theta would divide 0 by 2h;
    and for the one raised when theta +- h is beyond the float64 maximum: the
    cost would be evaluated at inf and blamed for it. The complex step is never
    lost: it lives in the imaginary part (but the real steps that check it
    must be finite too). ``floor`` and ``boost`` shape the default step
    (``default_steps``).
    """
    theta = np.asarray(theta, dtype=np.float64)
    method = method_record(method)
    if eps is None:
        h = default_steps(theta, method, floor, boost)
    else:
        h = np.full(theta.shape, positive_finite(eps, "eps"))
    real = default_steps(theta, probing(method), floor) if method.complex_step else h
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
