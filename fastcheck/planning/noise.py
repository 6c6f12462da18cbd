"""How well the cost's value is known at theta: measured, not assumed.

Moré and Wild's ECnoise ("Estimating computational noise", SIAM J. Sci.
Comput. 33, 2011): evaluate J at ``POINTS`` points t_k = theta + (k - 4) h p
on a line through theta with a tiny step h, and take the difference table of
the values. A smooth function's k-th differences shrink like h^k; rounding's
do not, and for independent noise of standard deviation sigma the k-th
differences have mean square sigma^2 (2k)! / (k!)^2. So
sigma_k = sqrt(gamma_k mean(Delta^k J ^ 2)), gamma_k = (k!)^2 / (2k)!, is the
same for a few consecutive k once the differences are noise, and those
differences change sign. That is the noise level; a table whose values are
mostly equal says h was too small, one with no stretch of agreeing levels
says h was too large, and the line is tried again with h times or over 100.

Everything here is a pure function over an ``evaluate(theta)`` callback, so
``check``, ``check_directions`` and the localising check share it
(tests/test_noise.py pins it against noise of a known size).
"""

from dataclasses import dataclass

import numpy as np

from ..errors import CostError

#: A cost whose values come in a coarser precision than this (float16) cannot
#: be checked meaningfully: its rounding swamps any gradient mistake.
CHECKABLE_EPS = float(np.finfo(np.float32).eps)
#: Points on the line; the middle one is theta itself (J(theta) is known).
POINTS = 9
#: The first relative step tried, and how far a retry moves it.
FIRST_STEP = 1e-6
STEP_FACTOR = 100.0
TRIES = 4
#: Two tables agree on the noise when their levels are within this factor.
CONFIRM = 10.0
#: The evaluations of a measurement whose first table was usable: two tables.
EVALUATIONS = 2 * (POINTS - 1)
#: Outcomes of one table (Moré and Wild's ``inform``).
USABLE, TOO_SMALL, TOO_LARGE = 1, 2, 3


@dataclass(frozen=True)
class Noise:
    """The measured noise of J at theta.

    ``sigma`` is the standard deviation of J's rounding noise (the cost's own
    units), ``usable`` whether the difference table gave it (when not, sigma
    is 0.0 and callers fall back to the dtype rule), ``step`` the relative
    step of the table that was used, ``evaluations`` the cost evaluations spent.
    """

    sigma: float
    usable: bool
    step: float
    evaluations: int

    def relative(self, j0):
        """sigma / |J(theta)|: the precision the cost computes in, as measured
        (inf for J == 0 with noise, 0.0 with none)."""
        if self.sigma == 0.0:
            return 0.0
        return float(self.sigma / abs(j0)) if j0 != 0.0 else float("inf")


def ecnoise(values):
    """(sigma, outcome) of the noise in ``values`` (m,), J at equally spaced points.

    ``outcome`` is ``USABLE``, ``TOO_SMALL`` (at least half the first
    differences are 0: the step moved J by less than its rounding) or
    ``TOO_LARGE`` (the values vary by more than 10%, or no three consecutive
    levels agree within a factor of 4 with differences changing sign). The
    values are divided by a power of two near their size first (exact), so
    their squares neither under- nor overflow at any scale.
    """
    f = np.asarray(values, dtype=np.float64)
    m = f.size
    top = float(np.max(np.abs(f)))
    if top == 0.0:
        return 0.0, TOO_SMALL
    scale = float(2.0 ** np.frexp(top)[1])
    f = f / scale
    if (f.max() - f.min()) > 0.1 * max(abs(f.max()), abs(f.min())):
        return 0.0, TOO_LARGE
    levels, sign_change = np.zeros(m - 1), np.zeros(m - 1, dtype=bool)
    gamma = 1.0
    for j in range(1, m):
        f = np.diff(f)
        if j == 1 and np.count_nonzero(f == 0.0) >= m / 2:
            return 0.0, TOO_SMALL
        gamma *= 0.5 * j / (2 * j - 1)
        levels[j - 1] = np.sqrt(gamma * np.mean(f * f))
        sign_change[j - 1] = f.min() * f.max() < 0.0
    for k in range(m - 3):
        window = levels[k:k + 3]
        if window.max() <= 4.0 * window.min() and sign_change[k]:
            return float(levels[k] * scale), USABLE
    return 0.0, TOO_LARGE


def direction(scale, seed):
    """A random direction (P,) for the table: ``scale`` (P,) times a uniform draw
    from [-1, 1], normalised so its largest relative entry is 1 (each
    parameter moves in proportion to its own size)."""
    rng = np.random.default_rng([seed, 22])
    u = rng.uniform(-1.0, 1.0, size=np.shape(scale))
    top = float(np.max(np.abs(u), initial=0.0))
    return scale * (u / top if top > 0.0 else u)


def measure(evaluate, theta, j0, scale, seed=0):
    """The ``Noise`` of J at ``theta`` (P,) along one random line.

    ``evaluate(theta)`` returns J; ``j0`` is J(theta); ``scale`` (P,) the
    size of each parameter (the default step's, so a step relative to it is
    meaningful for tiny and huge parameters alike). A table that says the
    step was too small or too large is taken again with the step moved by
    ``STEP_FACTOR`` (at most ``TRIES`` tables). A usable table is confirmed
    by a second one at a step ``STEP_FACTOR`` smaller (larger, if that one
    sees no noise): rounding noise is the same at both, while a kink on the
    line (a ReLU whose pre-activation is 0 at theta) also passes for noise,
    of a size in proportion to the step. Unconfirmed, the noise is unusable.
    """
    theta = np.asarray(theta, dtype=np.float64)
    p = direction(np.asarray(scale, dtype=np.float64), seed)
    step, tried, evaluations = FIRST_STEP, set(), 0
    for _ in range(TRIES):
        tried.add(step)
        values = line(evaluate, theta, j0, p, step)
        if values is None:  # off the cost's domain: the check itself will say so
            return Noise(0.0, False, step, evaluations)
        evaluations += POINTS - 1
        sigma, outcome = ecnoise(values)
        if outcome == USABLE:
            break
        step = step * STEP_FACTOR if outcome == TOO_SMALL else step / STEP_FACTOR
        if step in tried:
            return Noise(0.0, False, step, evaluations)
    else:
        return Noise(0.0, False, step, evaluations)
    for other in (step / STEP_FACTOR, step * STEP_FACTOR):
        values = line(evaluate, theta, j0, p, other)
        if values is None:
            break
        evaluations += POINTS - 1
        again, outcome = ecnoise(values)
        if outcome == USABLE and max(sigma, again) <= CONFIRM * min(sigma, again):
            return Noise(max(sigma, again), True, step, evaluations)
        if outcome != TOO_SMALL:
            break
    return Noise(0.0, False, step, evaluations)


def line(evaluate, theta, j0, p, step):
    """J (``POINTS``,) at theta + (k - ``POINTS`` // 2) step p; None where the cost
    raised a ``CostError`` (off its domain)."""
    values = np.empty(POINTS)
    for k, t in enumerate(np.arange(POINTS) - POINTS // 2):
        if t == 0:
            values[k] = j0
            continue
        try:
            values[k] = evaluate(theta + (t * step) * p)
        except CostError:
            return None
    return values
