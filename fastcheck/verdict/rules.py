"""The rules for one coordinate: its error estimate, its allowance, the first
look at its estimate and the closer look at its one-sided slopes.

Every function takes and returns arrays over the checked coordinates; the
codes (``CONSISTENT`` ... ``UNRESOLVED``) are what ``CheckResult.judgement``
holds. The rules are listed in the package's docstring (``fastcheck.verdict``)
and pinned by tests/test_verdict.py.
"""

from typing import NamedTuple

import numpy as np

from ..planning.step import positive_finite

#: The exercise's relative difference below which a check was taken to pass;
#: here it is also each coordinate's relative allowance.
DEFAULT_THRESHOLD = 1e-7
#: The complex step is known to rounding of the derivative: this many ulps.
COMPLEX_ULPS = 1000
#: The closer look at disagreeing coordinates stops after this long (or count),
#: and looks at no more than PROBE_PER_TENSOR of one tensor's (its worst): enough
#: to call a wholly wrong tensor WRONG without examining every coordinate of it.
PROBE_SECONDS = 2.0
PROBE_MAX = 20_000
PROBE_PER_TENSOR = 64
#: A tensor whose detectable error exceeds this fraction of its largest entry
#: could not have shown its error: "unsure"...
BLIND = 0.1
#: ...unless its gradient says 0 and the detectable error is below this fraction
#: of the check's largest entry. (A correct float32 batchnorm's bias before the
#: batchnorm, whose true gradient is 0, is known to 2e-3 of the largest gradient
#: by Richardson's estimates: "ok".)
BLIND_FLOOR = 1e-2

#: Coordinate judgements (``CheckResult.judgement``).
CONSISTENT, SMOOTH, KINK, MISTAKE, UNRESOLVED = 0, 1, 2, 3, 4


def resolve_threshold(threshold):
    """``threshold`` as a positive float; None means ``DEFAULT_THRESHOLD``."""
    return DEFAULT_THRESHOLD if threshold is None else positive_finite(threshold, "threshold")


def error_estimate(method, h, approx, grad, noise):
    """(n,) the error each estimate of ``method`` (a ``fastcheck.planning.methods.Method``)
    may carry from rounding: its ``error_factor`` times U / h (U / h for
    central differences, each of two values known to U over 2h; 3 U / h for
    Richardson's (4 D(h/2) - D(h)) / 3); for an estimate that subtracts nothing
    (the complex step), ``COMPLEX_ULPS`` ulps of the derivative itself."""
    if method.error_factor is None:
        eps = np.finfo(np.float64).eps
        return COMPLEX_ULPS * eps * np.maximum(np.abs(approx), np.abs(grad)) \
            + np.finfo(np.float64).tiny
    return method.error_factor * noise / h


def allowance(error, grad, approx, threshold):
    """(n,) how far grad may sit from its estimate and still be consistent: the
    error estimate plus ``threshold`` relative to the larger of the two."""
    return error + threshold * np.maximum(np.abs(grad), np.abs(approx))


def probe_order(tensor, grad, approx, allowed):
    """Positions (k,) of the coordinates that disagree beyond ``allowed``, in the
    order to look closer at them: worst first within each tensor, the tensors
    taking turns, so a budget that runs out still leaves every tensor examined;
    at most ``PROBE_PER_TENSOR`` of each tensor."""
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0: both underflowed to 0
        excess = np.abs(grad - approx) / allowed
    bad = np.flatnonzero(excess > 1.0)
    if bad.size == 0:
        return bad
    order = bad[np.lexsort((-excess[bad], tensor[bad]))]  # by tensor, worst first
    first = np.searchsorted(tensor[order], tensor[order], side="left")
    rank = np.arange(order.size) - first
    keep = rank < PROBE_PER_TENSOR
    return order[keep][np.lexsort((-excess[order][keep], rank[keep]))]


def judge_probes(grad, slopes, h, noise, threshold, rounding=0.0):
    """Judgements (k,) of coordinates whose one-sided ``slopes`` (k, 4) were taken
    (columns R(h), R(h/2), L(h), L(h/2), see ``engines.probe.one_sided``), and
    the Richardson estimates (k,) they give.

    Smooth along the coordinate, the central differences D(h) = (R(h) + L(h)) / 2
    and D(h/2) agree to rounding and truncation, R - L halves with the step, and
    Richardson's
    (4 D(h/2) - D(h)) / 3 settles it: SMOOTH if ``grad`` matches it, else
    MISTAKE. Where they disagree a step crosses a kink; then each side's slope
    at theta is extrapolated, 2 R(h/2) - R(h) and 2 L(h/2) - L(h) (exact to
    O(h^2) on a side no kink touches, and the true derivative is that side's):
    KINK if ``grad`` matches either, MISTAKE if it lies outside every slope
    seen, else UNRESOLVED (kinks on both sides within h leave no clean side).
    The slopes seen are the four measured ones, each an average of the
    derivative over its step, and the extrapolation of the cleaner side only
    (the one whose slopes at h and h/2 differ less): extrapolating across a
    kink lands beyond every derivative near theta (at h/2 from a kink the left
    side's 2 L(h/2) - L(h) overshoots by the whole jump) and would take a
    wrong gradient out there for a subgradient.
    Rounding allowances: R(s) is known to 2U/s, so D(h/2) to 2U/h, Richardson's
    combination to 3U/h and an extrapolated side slope to 10U/h; each is doubled.
    ``rounding`` (scalar or (k,)) is how well ``grad`` itself is known (see
    ``gradient_rounding``): it widens every comparison with ``grad``.
    """
    r1, r2, l1, l2 = slopes.T
    d_coarse, d_fine = 0.5 * (r1 + l1), 0.5 * (r2 + l2)
    rich = (4.0 * d_fine - d_coarse) / 3.0
    # Smooth: D(h) = D(h/2) + O(h^2), and R(s) - L(s) = f'' s + O(s^3) halves with s
    # (a kink exactly at theta keeps both central differences equal but not that).
    bend = (r1 - l1) - 2.0 * (r2 - l2)
    smooth = (np.abs(d_coarse - d_fine) <= allowance(6.0 * noise / h, d_coarse, d_fine,
                                                      threshold)) \
        & (np.abs(bend) <= allowance(40.0 * noise / h, r1 - l1, r2 - l2, threshold))
    matches_rich = np.abs(grad - rich) <= allowance(6.0 * noise / h, grad, rich,
                                                    threshold) + rounding
    right, left = 2.0 * r2 - r1, 2.0 * l2 - l1
    side = allowance(20.0 * noise / h + 0.05 * np.minimum(np.abs(r1 - r2), np.abs(l1 - l2)),
                     grad, np.maximum(np.abs(right), np.abs(left)), threshold) + rounding
    matches_side = (np.abs(grad - right) <= side) | (np.abs(grad - left) <= side)
    cleaner = np.where(np.abs(r1 - r2) <= np.abs(l1 - l2), right, left)
    seen = np.stack([r1, r2, l1, l2, cleaner])
    outside = (grad < seen.min(axis=0) - side) | (grad > seen.max(axis=0) + side)
    kinked = np.where(matches_side, KINK, np.where(outside, MISTAKE, UNRESOLVED))
    code = np.where(smooth, np.where(matches_rich, SMOOTH, MISTAKE),
                    np.where(matches_rich & ~outside, SMOOTH, kinked))
    return code, rich


class FirstLook(NamedTuple):
    """The first look at a check's estimates, each (n,) but ``order``: their
    error estimates, how far the gradient may sit from them (``allowed``), the
    judgement so far (UNRESOLVED where they disagree) and ``order``, the
    positions to look closer at, in turn (at most ``PROBE_MAX``)."""

    error: np.ndarray
    allowed: np.ndarray
    judgement: np.ndarray
    order: np.ndarray


def first_look(plan, estimates):
    """``FirstLook`` of ``estimates`` (a driver's ``Estimates`` of the ``block``
    pass over ``plan.idx``): which coordinates disagree with the gradient
    beyond their error estimates, and in what order to look closer."""
    grad, approx = plan.grad, estimates.out
    error = error_estimate(plan.method, plan.h, approx, grad, plan.noise)
    allowed = allowance(error, grad, approx, plan.threshold) + plan.rounding
    judgement = np.zeros(plan.idx.size, dtype=np.int8)
    judgement[np.abs(grad - approx) > allowed] = UNRESOLVED
    tensor = plan.layout.tensor_of(plan.idx)
    return FirstLook(error, allowed, judgement,
                     probe_order(tensor, grad, approx, allowed)[:PROBE_MAX])
