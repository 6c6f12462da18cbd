"""The verdict: every rule that turns a check's numbers into words.

Inputs are numbers the engines produced (estimates, Richardson's D(h) - D(h/2),
kink flags, the steps and J(theta)); outputs are the relative differences, the
per-tensor statuses ("ok", "kinks", "noise?", "WRONG"), the overall verdict
("pass", "kinks", "rounding", "mistake") and the advice and notes a report
carries. Nothing here estimates anything.
"""

import numpy as np

from .result import CheckResult, DirectionsResult, TensorRow
from .step import positive_finite

#: The exercise's rule: below this difference the backward pass is taken to be right.
DEFAULT_THRESHOLD = 1e-7
#: Per-tensor differences from the threshold up to this level are what rounding
#: in the cost (a step below the best one) or a ReLU kink produce; above it, a
#: mistake in the backward pass is the likely cause. At the exercise's eps = 1e-7
#: its correct tensors reach 2.5e-7, its wrong ones 0.33 and 0.6.
NOISE_CEILING = 1e-5
#: Richardson flags a coordinate when D(h) and D(h/2) differ by more than this
#: fraction of the estimate (or of the largest gradient entry, for tiny ones):
#: smooth costs keep them within ~1e-7 at the default step, a kink does not.
KINK_RTOL = 1e-3
#: How many ulps of the cost rounding is taken to cost (see rounding_floor).
ROUNDING_ULPS = 100

ADVICE = {
    "pass": "the backward pass agrees with the numerical derivatives to rounding.",
    "kinks": "the difference comes from coordinates whose steps cross a ReLU kink, where a "
             "finite difference averages two slopes and cannot judge the gradient; the "
             "other coordinates pass. To judge those too, use method='complex' or a "
             "smaller eps.",
    "rounding": "small but above the threshold: typical of rounding (a step far from the "
                "best one, a cost in low precision) or of kinks, rarely of a mistake. Try "
                "eps=None, method='richardson' or method='complex'.",
    "mistake": "a gradient is wrong: start with the tensors marked WRONG and their worst "
               "index.",
}
#: A directional check cannot say where.
DIRECTIONS_MISTAKE = ("a gradient is wrong somewhere; directions cannot say where: run "
                      "check(..., sample=...) or a full check to find the tensor.")


def resolve_threshold(threshold):
    """``threshold`` as a positive float; None means ``DEFAULT_THRESHOLD``."""
    return DEFAULT_THRESHOLD if threshold is None else positive_finite(threshold, "threshold")


def _scale(x):
    """A power of two near max|x| (1.0 for zeros): dividing by it is exact."""
    top = float(np.max(np.abs(x), initial=0.0))
    return 1.0 if top == 0.0 or not np.isfinite(top) else float(2.0 ** np.frexp(top)[1])


def norm(x):
    """||x||_2 of a real 1-D array without over- or underflow, the same on every machine.

    Entries are scaled by a power of two (exact) and their squares summed in
    order: a BLAS dot product sums in an order that depends on the CPU, which
    moved the exercise's published 0.2850931567761623 by an ulp on some machines
    (tests/test_exercises.py pins it).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0.0
    s = _scale(x)
    y = x / s
    return s * float(np.sqrt(np.cumsum(y * y)[-1]))


def relative_difference(grad, gradapprox):
    """||grad - gradapprox|| / (||grad|| + ||gradapprox||), the seed's formula.

    Both arrays have the same shape; 0.0 when both are zero (they agree).
    """
    grad, gradapprox = np.ravel(grad), np.ravel(gradapprox)
    denominator = norm(grad) + norm(gradapprox)
    return 0.0 if denominator == 0.0 else float(norm(grad - gradapprox) / denominator)


def rounding_floor(method, h, j0):
    """(n,) error a finite difference makes from rounding alone: the cost is known
    to a few hundred ulps of max(1, |J|), divided by the step (Richardson's
    combination triples it). The complex step subtracts nothing: no floor."""
    if method == "complex":
        return np.zeros_like(h)
    floor = ROUNDING_ULPS * np.finfo(np.float64).eps * max(1.0, abs(j0)) / h
    return 3.0 * floor if method == "richardson" else floor


def disagreeing(aux, approx, grad, h, j0):
    """Coordinates (n,) bool whose estimates at h and h/2 disagree beyond
    truncation and rounding: the mark of a kink between the two steps.

    ``aux`` (n,) is D(h) - D(h/2), whose rounding is that of D(h/2): ten times
    the central floor leaves it room.
    """
    scale = np.maximum(np.abs(approx), np.abs(grad).max(initial=0.0))
    return np.abs(aux) > KINK_RTOL * scale + 10.0 * rounding_floor("central", h, j0)


def tensor_status(difference, threshold, kinks, difference_without_kinks, max_abs_error,
                  noise):
    """"ok" below ``threshold``; "kinks" when it is below once the tensor's kink
    coordinates are left out; "noise?" up to ``NOISE_CEILING``, or when every
    error is within the rounding a finite difference cannot resolve (``noise``:
    a tiny gradient known only to rounding); else "WRONG"."""
    if not difference >= threshold:  # NaN (nothing checked) counts as ok
        return "ok"
    if kinks and not difference_without_kinks >= threshold:
        return "kinks"
    if difference < NOISE_CEILING or max_abs_error <= noise:
        return "noise?"
    return "WRONG"


def overall(difference, threshold, kinks, difference_without_kinks):
    """(passed, verdict) of a whole check.

    "pass": below the threshold. "kinks": above it, but below it once the
    coordinates at kinks are left out. "rounding": above it yet below
    ``NOISE_CEILING``, what rounding or a poor step produce. "mistake": a
    gradient is wrong.
    """
    passed = bool(difference < threshold)
    if passed:
        return passed, "pass"
    if kinks and difference_without_kinks < threshold:
        return passed, "kinks"
    if difference < NOISE_CEILING:
        return passed, "rounding"
    return passed, "mistake"


def precision_notes(params):
    """Notes for tensors given in a lower precision than the float64 used."""
    dtypes = {name: np.asarray(value).dtype for name, value in params.items()}
    return [f"parameter {name!r} is {dtype}; checked in float64"
            for name, dtype in dtypes.items() if dtype.kind == "f" and dtype.itemsize < 8]


def tensor_rows(layout, grad_flat, approx_flat, indices, threshold, kinked=None, noise=None):
    """A ``TensorRow`` per tensor, over the checked flat ``indices`` (sorted).

    ``kinked`` (n,) bool marks the checked coordinates whose steps cross a kink;
    ``noise`` (n,) is each estimate's rounding floor, in the gradient's units.
    """
    grad, approx = grad_flat[indices], approx_flat[indices]
    error = grad - approx
    # Segment the checked coordinates by tensor, then reduce each segment.
    bounds = np.searchsorted(indices, layout.offsets)
    rows = []
    for k, (name, shape) in enumerate(zip(layout.names, layout.shapes)):
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi:
            rows.append(TensorRow(name, shape, 0, float("nan"), float("nan"), (),
                                  status="ok"))
            continue
        worst = lo + int(np.argmax(np.abs(error[lo:hi])))
        local = int(indices[worst]) - layout.offsets[k]
        difference = relative_difference(grad[lo:hi], approx[lo:hi])
        kinks, clean = 0, None
        if kinked is not None and kinked[lo:hi].any():
            keep = ~kinked[lo:hi]
            kinks = int(hi - lo - keep.sum())
            clean = relative_difference(grad[lo:hi][keep], approx[lo:hi][keep])
        max_abs_error = float(abs(error[worst]))
        floor = 0.0 if noise is None else float(noise[lo:hi].max())
        rows.append(TensorRow(
            name, shape, int(hi - lo), difference, max_abs_error,
            tuple(int(j) for j in np.unravel_index(local, shape)), kinks, clean, floor,
            tensor_status(difference, threshold, kinks, clean, max_abs_error, floor)))
    return rows


def judge(*, layout, grad_flat, approx, idx, threshold, method, engine, eps, h, j0, aux,
          kinked, evaluations, seconds, notes, scratch_bytes):
    """The ``CheckResult`` of a coordinate check from its estimates.

    ``approx``, ``aux``, ``kinked`` and ``h`` are (n,) for the checked flat
    indices ``idx``; ``kinked`` holds the engine's kink flags, to which
    Richardson's disagreement between its two steps is added here.
    """
    gradapprox_flat = np.full(layout.size, np.nan)
    gradapprox_flat[idx] = approx
    kinked = kinked.copy()
    if method == "richardson":
        kinked |= disagreeing(aux, approx, grad_flat[idx], h, j0)
    difference = relative_difference(grad_flat[idx], approx)
    without = (relative_difference(grad_flat[idx[~kinked]], approx[~kinked])
               if kinked.any() else difference)
    rows = tensor_rows(layout, grad_flat, gradapprox_flat, idx, threshold, kinked,
                       rounding_floor(method, h, j0))
    passed, verdict = overall(difference, threshold, kinked.any(), without)
    return CheckResult(
        difference=difference, threshold=threshold, passed=passed, verdict=verdict,
        advice=ADVICE[verdict], layout=layout, grad_flat=grad_flat,
        gradapprox_flat=gradapprox_flat, indices=idx, per_tensor=rows, method=method,
        engine=engine, eps=eps, evaluations=evaluations, seconds=seconds,
        kinks=[layout.locate(i) for i in idx[kinked]], difference_without_kinks=without,
        depends_on_kinks=bool(kinked.any()) and (without < threshold) != passed,
        notes=notes, scratch_bytes=scratch_bytes)


def judge_directions(*, layout, expected, estimate, h, threshold, evaluations, seconds,
                     notes):
    """The ``DirectionsResult`` of a check along random directions."""
    errors = np.abs(expected - estimate) / np.maximum(np.abs(expected) + np.abs(estimate),
                                                       np.finfo(np.float64).tiny)
    difference = relative_difference(expected, estimate)
    passed, verdict = overall(difference, threshold, False, difference)
    return DirectionsResult(
        difference=difference, threshold=threshold, passed=passed, verdict=verdict,
        advice=DIRECTIONS_MISTAKE if verdict == "mistake" else ADVICE[verdict],
        layout=layout, expected=expected, estimate=estimate, errors=errors, h=h,
        evaluations=evaluations, seconds=seconds, notes=notes)

