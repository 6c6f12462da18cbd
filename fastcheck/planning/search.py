"""The plan of a search (``fastcheck.locate``): which tensors are tested along
random-sign directions, with which steps, trial threshold and repeats, on the
cost's ``Baseline``.
"""

import math
from typing import NamedTuple

import numpy as np

from .. import verdict as V
from ..errors import OptionError
from .baseline import make_baseline
from .methods import CENTRAL_METHOD
from .sampling import chosen_tensors
from .step import positive_finite

#: The miss bound per test that ``repeats=None`` aims at: r = 20 gives 2^-20 = 9.5e-7.
MISS_PER_TEST = 1e-6
#: Steps along directions, relative to max(1, |theta_i|): the exercise's h.
#: Not the coordinate check's cbrt(eps) = 6e-6: truncation along a +-1
#: direction over n coordinates grows about as n^1.5 h^3, and at 6e-6 it would
#: make every whole-tensor trial of a large tensor step-inconsistent
#: (research/locate.md measured 1e-7 at noise level over 800k coordinates).
DIRECTION_STEP = 1e-7
#: What "auto" assumes a locate evaluates, to weigh compiling a Python cost.
EXPECTED_EVALUATIONS = 2000
#: A trial's residual is half a difference of two values: a threshold of this
#: many standard deviations of the measured noise of J is never reached by it.
TRIAL_SIGMAS = 6.0


class SearchPlan(NamedTuple):
    """One search, fixed.

    What a driver reads: ``layout``, ``engine`` (the engine of the ``points``
    pass: the layered engine differentiates coordinates, so a model's
    directions run on its compiled cost, the generic engine), ``method``,
    ``j0`` and ``seconds_per_coordinate`` (per direction). What the search
    reads: ``theta`` (P,), the gradient ``grad_flat`` (P,), the direction
    steps ``h`` (P,), the trial threshold ``tau`` (from the measured noise),
    ``repeats`` clean trials per test, the ``tensors`` tested (indices into the
    layout), the gradient's ``rounding`` ((P,) or None, ``gradient_slack``) and
    the ``seed`` of the directions. ``baseline`` is the cost's ``Baseline``, which the confirming
    coordinate plan reuses.
    """

    layout: object
    engine: str
    method: object
    j0: float
    seconds_per_coordinate: float
    theta: np.ndarray
    grad_flat: np.ndarray
    h: np.ndarray
    tau: float
    repeats: int
    tensors: list
    rounding: object
    seed: int
    baseline: object


def resolve_repeats(repeats):
    """r: clean trials per test; None picks r with 2^-r <= ``MISS_PER_TEST``."""
    if repeats is None:
        return math.ceil(-math.log2(MISS_PER_TEST))
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise OptionError(f"repeats must be a positive integer (clean trials per test), "
                          f"got {repeats!r}")
    return int(repeats)


def direction_steps(theta, eps, grow=1.0):
    """(P,) steps along directions: ``DIRECTION_STEP`` * ``grow`` * max(1,
    |theta_i|) as really stored, or the fixed ``eps``."""
    if eps is None:
        h = (DIRECTION_STEP * grow) * np.maximum(1.0, np.abs(theta))
        return (theta + h) - theta
    return np.full(theta.shape, positive_finite(eps, "eps"))


#: A float32 gradient's rounding, in ulps of its tensor's largest entry (measured
#: 0.5-1.2 ulps on float32 backward passes, research/locate.md and the verdict's
#: GRAD_ULPS notes): one standard deviation of the trial's random sum.
SLACK_ULPS = 2.0


def gradient_slack(layout, grad_flat, grad_eps):
    """(P,) how far each entry of a gradient given in precision ``grad_eps`` may
    be off by rounding, ``SLACK_ULPS`` ulps of its tensor's largest |entry|;
    None for float64, whose rounding the trial threshold already covers."""
    if grad_eps <= np.finfo(np.float64).eps:
        return None
    slack = np.empty(layout.size)
    for k in range(len(layout.names)):
        a, b = layout.offsets[k], layout.offsets[k + 1]
        slack[a:b] = SLACK_ULPS * grad_eps * float(np.max(np.abs(grad_flat[a:b]), initial=0.0))
    return slack


def noise_scale(base):
    """How much coarser than float64 the cost's value is, as measured at theta
    (the noise line's sigma over max(1, |J|), or its dtype's epsilon): >= 1."""
    rel = base.value_eps
    if base.measured.usable:
        rel = max(rel, base.measured.sigma / max(1.0, abs(base.j0)))
    return max(1.0, rel / float(np.finfo(np.float64).eps))


def make_search(adapter, grad_flat, params, grads, *, eps=None, repeats=None, seed=0,
                engine="auto", jit=None, only=None, exclude=None):
    """The ``SearchPlan`` of locating where ``grad_flat`` (P,) is wrong; the
    options are ``fastcheck.locate``'s."""
    repeats = resolve_repeats(repeats)
    layout, theta = adapter.layout, adapter.theta
    tensors = chosen_tensors(layout, only, exclude)
    base = make_baseline(adapter, engine=engine, jit=jit, method=CENTRAL_METHOD,
                         count=EXPECTED_EVALUATIONS // 2, seed=seed)
    # A cost coarser than float64 (float32 arithmetic inside) gets steps grown
    # as the cube root of its measured noise, as a central difference's best
    # step does, and a threshold from that noise.
    coarse = noise_scale(base)
    h = direction_steps(theta, eps, coarse ** (1.0 / 3.0))
    slack = gradient_slack(layout, grad_flat,
                           V.gradient_precision(params, grads, layout.names))
    tau = max(V.trial_threshold(base.value_eps, base.j0),
              TRIAL_SIGMAS * base.measured.sigma if base.measured.usable else 0.0)
    return SearchPlan(
        layout=layout, engine="generic" if base.engine == "layered" else base.engine,
        method=CENTRAL_METHOD, j0=base.j0,
        seconds_per_coordinate=CENTRAL_METHOD.evaluations * base.seconds_per_evaluation,
        theta=theta, grad_flat=grad_flat, h=h, tau=tau,
        repeats=repeats, tensors=tensors, rounding=slack, seed=seed, baseline=base)
