"""The verdict: every rule that turns a check's numbers into words.

Inputs are numbers the engines produced (estimates, kink flags, one-sided
slopes at the coordinates that needed a closer look, the steps, J(theta));
outputs are the relative differences, each coordinate's error estimate and
judgement, the per-tensor statuses ("ok", "kinks", "unsure", "WRONG"), the
overall verdict ("pass", "kinks", "unsure", "mistake") and the advice and
notes a report carries. Nothing here estimates anything.

How a coordinate is judged (tests/test_verdict.py pins each rule):

1. Its estimate comes with an error estimate: the cost is known to U, the
   larger of ``NOISE_SAFETY`` times its measured noise (``fastcheck.planning.noise``)
   and ``ROUNDING_ULPS`` float64 ulps of |J|, or where the noise could not be
   measured ``ROUNDING_ULPS`` ulps of max(1, |J|) in the cost's own
   precision; a difference quotient with step h is known to U over h (times
   the method's constant); the complex step subtracts nothing and is known to
   rounding of the derivative itself. ``threshold`` adds a relative allowance.
2. |grad - estimate| within that is consistent, whatever the relative
   difference of a tiny or zero gradient says.
3. Beyond it, the check looks closer before blaming: one-sided slopes at h
   and h/2 on both sides. A smooth cost gives a Richardson estimate that
   settles truncation; a kink shows as extrapolated left and right slopes
   that disagree, and the gradient is then judged against the bracket they
   span (a subgradient inside is consistent, outside is a mistake).
4. A coordinate that needed the closer look but did not get one (the probe
   budget ran out) is "unsure": fastcheck says it cannot tell, never "WRONG".
5. A gradient handed over in a coarser precision than float64, or computed
   from parameters in one (a float32 backward pass), is itself known only to
   rounding in that precision:
   ``GRAD_ULPS`` of its ulps of the largest gradient entry is added to every
   allowance, at first sight and in the closer look.
6. A tensor whose largest allowance (its "detectable" error) is above
   ``BLIND`` of its largest gradient or estimate entry, and above
   ``BLIND_FLOOR`` of the largest of the whole check, is "unsure", never
   "ok": an error of the gradient's own size could hide in it.
"""

from typing import NamedTuple

import numpy as np

from .patterns import patterns
from ..report.result import STATUSES, CheckResult, DirectionsResult, TensorTable
from ..planning.step import COARSE_NOISE, positive_finite

#: The exercise's relative difference below which a check was taken to pass;
#: here it is also each coordinate's relative allowance.
DEFAULT_THRESHOLD = 1e-7
#: How many ulps of max(1, |J|) a cost is taken to be known to. The exercise's
#: own cost, summing logs over examples, is off by about 130 ulps between
#: nearby points: its correct backward shows errors of 1.04e-7 at eps = 1e-7.
ROUNDING_ULPS = 100
#: A cost whose values come in a coarser precision than this (float16) cannot
#: be checked meaningfully: its rounding swamps any gradient mistake.
CHECKABLE_EPS = float(np.finfo(np.float32).eps)
#: The complex step is known to rounding of the derivative: this many ulps.
COMPLEX_ULPS = 1000
#: How many ulps (of its own precision) of the largest gradient entry a gradient
#: given in float32 is taken to be known to. Backpropagation rounds relative to
#: the magnitudes flowing through it, not to each result: a correct float32
#: batchnorm backward gives the bias before the batchnorm, whose true gradient is
#: 0, entries of 0.5 float32 ulps of the largest gradient, and its weights errors
#: of 1.2 ulps; sums over more examples round more (tests/test_verdict.py).
GRAD_ULPS = 64
#: The closer look at disagreeing coordinates stops after this long (or count),
#: and looks at no more than PROBE_PER_TENSOR of one tensor's (its worst): enough
#: to call a wholly wrong tensor WRONG without examining every coordinate of it.
PROBE_SECONDS = 2.0
PROBE_MAX = 20_000
PROBE_PER_TENSOR = 64

#: The measured noise is a standard deviation from a few points; the rounding
#: of thousands of difference quotients reaches several of them.
NOISE_SAFETY = 10.0
EPS64 = float(np.finfo(np.float64).eps)
#: A tensor whose detectable error exceeds this fraction of its largest entry...
BLIND = 0.1
#: ...and this fraction of the check's largest entry, could not have shown its
#: error: "unsure". (A correct float32 batchnorm's bias before the batchnorm,
#: whose true gradient is 0, is known to 2e-3 of the largest gradient by
#: Richardson's estimates: "ok".)
BLIND_FLOOR = 1e-2
#: An explicit eps this many times below the step the noise calls for (or its
#: square above it: a coarse step for a kink is the user's choice) gets a note.
EPS_FAR = 100.0

#: Coordinate judgements (``CheckResult.judgement``).
CONSISTENT, SMOOTH, KINK, MISTAKE, UNRESOLVED = 0, 1, 2, 3, 4

ADVICE = {
    "pass": "the backward pass agrees with the numerical derivatives within their error "
            "estimates.",
    "kinks": "the backward pass agrees with the numerical derivatives; at the coordinates "
             "listed as kinks a step crosses a kink, and the gradient lies between the left "
             "and right slopes there, as a subgradient should.",
    "unsure": "some coordinates disagree beyond their error estimates and could not be "
              "examined closer (see the notes): fastcheck cannot tell whether the gradient "
              "is wrong there. Check them alone with sample= or a larger eps.",
    "mistake": "a gradient is wrong: start with the tensors marked WRONG and their worst "
               "index.",
}
#: "unsure" because a tensor's error estimates are not well below its gradient.
BLIND_ADVICE = ("the error estimates of some tensors are not well below their gradients "
                "(see the notes): fastcheck cannot tell whether those are right.")
#: A directional check whose estimates are too coarse to judge.
DIRECTIONS_UNSURE = ("the estimates' error is not well below the directional derivatives: "
                     "fastcheck cannot tell whether the gradient is right (see the notes).")
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


#: Segments up to this long are summed side by side, one position at a time;
#: each longer one gets a cumulative sum of its own (as ``norm`` does).
SHORT_SEGMENT = 32


def segment_norms(x, bounds):
    """(T,) ``norm`` of each segment ``x[bounds[k]:bounds[k + 1]]`` of ``x`` (n,), bit for
    bit what ``norm`` gives the segment alone (0.0 for an empty one).

    ``bounds`` (T + 1,) is non-decreasing. Short segments are summed side by side,
    position j of every segment at once, in the order ``norm`` sums them, so a
    million tensors cost a few NumPy calls, not a million (tests/test_faults.py
    compares each with ``norm``).
    """
    x = np.asarray(x, dtype=np.float64)
    bounds = np.asarray(bounds, dtype=np.int64)
    lengths = np.diff(bounds)
    out = np.zeros(lengths.size)
    full = np.flatnonzero(lengths)
    if full.size == 0:
        return out
    lens = lengths[full]
    x = x[bounds[0]:bounds[-1]]
    starts = bounds[full] - bounds[0]
    top = np.maximum.reduceat(np.abs(x), starts)
    scale = np.ones(full.size)
    usable = (top != 0.0) & np.isfinite(top)
    scale[usable] = np.ldexp(1.0, np.frexp(top[usable])[1])  # as ``_scale``
    y = x / np.repeat(scale, lens)
    squares = y * y
    total = np.zeros(full.size)
    short = np.flatnonzero(lens <= SHORT_SEGMENT)
    if short.size:
        first, count = starts[short], lens[short]
        for j in range(int(count.max())):
            live = count > j
            total[short[live]] += squares[first[live] + j]
    for t in np.flatnonzero(lens > SHORT_SEGMENT).tolist():
        total[t] = np.cumsum(squares[starts[t]:starts[t] + lens[t]])[-1]
    out[full] = scale * np.sqrt(total)
    return out


def segment_differences(grad, approx, bounds):
    """(T,) ``relative_difference`` of each segment of ``grad`` and ``approx`` (n,), as
    ``segment_norms`` cuts them, bit for bit; 0.0 for an empty one."""
    denominator = segment_norms(grad, bounds) + segment_norms(approx, bounds)
    numerator = segment_norms(np.asarray(grad) - np.asarray(approx), bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0.0, 0.0, numerator / denominator)


def cost_noise(j0, value_eps):
    """U: how well the cost's value is known, about ``ROUNDING_ULPS`` ulps of max(1, |J|)
    in the precision the cost computes in (``value_eps``, its machine epsilon)."""
    return ROUNDING_ULPS * value_eps * max(1.0, abs(j0))


def measured_noise(j0, value_eps, noise):
    """(U, notes): how well the cost's value is known, from ``noise`` (a
    ``fastcheck.planning.noise.Noise`` measured at theta): ``NOISE_SAFETY`` sigma, at
    least ``ROUNDING_ULPS`` float64 ulps of |J| (a float32 cost's noise is
    measured, not assumed from its dtype), with no absolute floor, so a cost
    of 1e-170 is judged at its own scale and one near 0 because large terms
    cancel at its real noise. Where the table was unusable, ``cost_noise``'s
    rule, and a note saying so."""
    if noise.usable:
        return max(NOISE_SAFETY * noise.sigma, ROUNDING_ULPS * EPS64 * abs(j0)), []
    return cost_noise(j0, value_eps), [
        "the cost's noise could not be measured at theta (its values along a short line "
        "were constant or not smooth): its rounding is taken as "
        f"{ROUNDING_ULPS} ulps of max(1, |J|) = {cost_noise(j0, value_eps):.2g}"]


def step_notes(eps, fitted, noise, j0):
    """Notes on the step: the measured relative noise when it moved the default
    step off float64's, and an explicit ``eps`` far off (``EPS_FAR``) the
    median of the steps ``fitted`` (n,) the noise calls for."""
    if not noise.usable or fitted.size == 0:
        return []
    best = float(np.median(fitted))
    relative = noise.relative(j0)
    if eps is None:
        return [] if relative <= COARSE_NOISE else [
            f"the cost's measured noise is {relative:.2g} of |J| (float64 rounding is "
            f"about 1e-16): steps fitted to it, median {best:.2g}"]
    if eps > EPS_FAR ** 2 * best or eps < best / EPS_FAR:
        return [f"eps={eps:.3g} is far from the step the cost's measured noise "
                f"({noise.sigma:.2g}) calls for, about {best:.2g}: eps=None uses that"]
    return []


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


def tensor_rows(layout, grad_flat, approx_flat, indices, judgement, allowed, flagged):
    """The ``TensorTable`` of the check: a row per tensor, over the checked flat
    ``indices`` (sorted).

    ``judgement`` (n,) holds each coordinate's code, ``allowed`` (n,) how far
    its gradient could be off unseen, ``flagged`` (n,) bool the coordinates at
    kinks (engine flags and kinks the closer look found). Every column is
    computed for all tensors at once (segmented reductions over the checked
    coordinates, which are sorted by tensor): a million tensors take seconds.
    """
    grad, approx = grad_flat[indices], approx_flat[indices]
    error = np.abs(grad - approx)
    bounds = np.searchsorted(indices, layout.starts)
    checked = np.diff(bounds)
    T = checked.size
    tensor = np.repeat(np.arange(T), checked)  # the tensor of each checked coordinate
    difference = np.full(T, np.nan)
    max_abs_error = np.full(T, np.nan)
    worst = np.full(T, -1, dtype=np.int64)
    detectable = np.zeros(T)
    full = np.flatnonzero(checked)
    if full.size:
        difference[full] = segment_differences(grad, approx, bounds)[full]
        starts = bounds[full]
        top = np.maximum.reduceat(error, starts)
        max_abs_error[full] = top
        # The first coordinate of each tensor at its largest error, as np.argmax finds it.
        segment = np.repeat(np.arange(full.size), checked[full])
        hits = np.flatnonzero(error == top[segment])
        first = hits[np.searchsorted(segment[hits], np.arange(full.size))]
        worst[full] = indices[first] - layout.starts[full]
        detectable[full] = np.maximum.reduceat(allowed, starts)
    kinks = np.bincount(tensor[flagged], minlength=T)
    clean = np.full(T, np.nan)
    if flagged.any():
        kept = np.concatenate([[0], np.cumsum(~flagged)])[bounds]
        clean = segment_differences(grad[~flagged], approx[~flagged], kept)
    status = np.zeros(T, dtype=np.int8)
    for code, word in ((KINK, "kinks"), (UNRESOLVED, "unsure"), (MISTAKE, "WRONG")):
        status[np.unique(tensor[judgement == code])] = STATUSES.index(word)
    return TensorTable(layout.names, layout.shapes, checked, difference, max_abs_error, worst,
                       kinks, clean, detectable, status)


def blind_tensors(layout, grad, approx, idx, allowed, judgement):
    """(judgement, notes, hidden): the tensors whose check could not have seen an
    error of their gradient's own size made "unsure" (rule 6).

    ``grad``, ``approx``, ``allowed`` and ``judgement`` are (n,) for the checked
    flat ``idx``; a blind tensor's consistent coordinates become UNRESOLVED
    (``hidden`` counts them), and a note per tensor says why and what to do.
    """
    tensor = np.searchsorted(layout.starts, idx, side="right") - 1
    size = np.maximum(np.abs(grad), np.abs(approx))
    T = len(layout.names)
    top = np.zeros(T)
    detectable = np.zeros(T)
    np.maximum.at(top, tensor, size)
    np.maximum.at(detectable, tensor, allowed)
    whole = float(np.max(size, initial=0.0))
    # A tensor whose gradient and estimates are all exactly 0 is confirmed: J did not
    # move at all (a constant cost, an unused parameter; tests/test_properties.py).
    blind = (detectable > BLIND * top) & (detectable > BLIND_FLOOR * whole) & (top > 0.0)
    blind[np.unique(tensor[judgement == MISTAKE])] = False
    if not blind.any():
        return judgement, [], 0
    hide = blind[tensor] & ((judgement == CONSISTENT) | (judgement == SMOOTH))
    judgement = judgement.copy()
    judgement[hide] = UNRESOLVED
    notes = [f"{layout.names[t]}: an error up to {detectable[t]:.2g} (detectable) could hide "
             f"in a gradient whose largest entry is {top[t]:.2g}, so the check cannot tell "
             "whether it is right: try method='richardson', a larger eps, or the cost in "
             "float64" for t in np.flatnonzero(blind)[:NOTE_NAMES]]
    return judgement, notes, int(hide.sum())


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
    tensor = np.searchsorted(plan.layout.offsets, plan.idx, side="right") - 1
    return FirstLook(error, allowed, judgement,
                     probe_order(tensor, grad, approx, allowed)[:PROBE_MAX])


def judge(plan, estimates, slopes=None, *, seconds=0.0):
    """The ``CheckResult`` of ``plan``: its ``estimates`` judged, and where the
    first look found disagreement, ``slopes`` (the ``Estimates`` of the
    ``slopes`` pass over ``first_look(...).order``'s coordinates, None when it
    had none) judged closer. ``seconds``: what the check took, compiles not
    counted."""
    look = first_look(plan, estimates)
    error, judgement, order = look.error, look.judgement, look.order
    if slopes is not None:
        done = order[slopes.done]
        h = plan.h_real[done]
        judgement[done], _ = judge_probes(plan.grad[done], slopes.out[slopes.done], h,
                                          plan.noise, plan.threshold, plan.rounding)
        error[done] = 6.0 * plan.noise / h
    if plan.value_eps > CHECKABLE_EPS:  # too coarse: say so rather than judge
        judgement[judgement != MISTAKE] = UNRESOLVED
    return check_result(
        layout=plan.layout, grad_flat=plan.grad_flat, approx=estimates.out, idx=plan.idx,
        threshold=plan.threshold, method=plan.method.name, engine=estimates.engine,
        eps=plan.eps, error=error, allowed=look.allowed, judgement=judgement,
        flagged=estimates.kinks | (judgement == KINK),
        evaluations=(plan.method.evaluations * plan.idx.size + plan.evaluations
                     + 4 * int((judgement[order] != UNRESOLVED).sum())),
        seconds=seconds, notes=plan.notes, scratch_bytes=estimates.scratch_bytes,
        compile_seconds=plan.compile_seconds, noise=plan.noise)


def check_result(*, layout, grad_flat, approx, idx, threshold, method, engine, eps, error,
                 allowed, judgement, flagged, evaluations, seconds, notes, scratch_bytes,
                 compile_seconds=0.0, noise=None):
    """The ``CheckResult`` of a coordinate check.

    ``approx``, ``error`` (each estimate's error estimate), ``allowed``,
    ``judgement`` and ``flagged`` are (n,) for the checked flat indices ``idx``.
    """
    gradapprox_flat = np.full(layout.size, np.nan)
    gradapprox_flat[idx] = approx
    error_flat = np.full(layout.size, np.nan)
    error_flat[idx] = error
    difference = relative_difference(grad_flat[idx], approx)
    without = (relative_difference(grad_flat[idx[~flagged]], approx[~flagged])
               if flagged.any() else difference)
    judgement, blind_notes, hidden = blind_tensors(layout, grad_flat[idx], approx, idx,
                                                   allowed, judgement)
    rows = tensor_rows(layout, grad_flat, gradapprox_flat, idx, judgement, allowed, flagged)
    verdict = ("mistake" if (judgement == MISTAKE).any() else
               "unsure" if (judgement == UNRESOLVED).any() else
               "kinks" if (judgement == KINK).any() else "pass")
    notes = list(notes)
    tensors = len(layout.names)
    missed = tensors - int(np.count_nonzero(np.diff(np.searchsorted(idx, layout.starts))))
    if missed:
        notes.append(f"{missed} of {tensors} tensors were not checked at all" + (
            f": a sample of {idx.size} coordinates is smaller than the number of tensors, "
            f"so {idx.size} tensors spread over the layout got one each" if idx.size < tensors
            else ""))
    # Coordinates left unexamined in a tensor already shown WRONG change nothing.
    wrong = np.isin(np.searchsorted(layout.starts, idx, side="right") - 1,
                    [k for k, row in enumerate(rows) if row.status == "WRONG"])
    unresolved = int(((judgement == UNRESOLVED) & ~wrong).sum()) - hidden
    if unresolved:
        notes.append(f"{unresolved} coordinates disagree beyond their error estimates and "
                     f"were not examined closer (the closer look stops after "
                     f"{PROBE_SECONDS:g} s or {PROBE_MAX} coordinates)")
    notes += blind_notes
    notes += patterns(layout, grad_flat, approx, idx, allowed, rows, flagged)
    if verdict == "pass" and not difference < threshold:
        notes.append(f"the difference {difference:.3g} is above the threshold "
                     f"{threshold:g}, but every coordinate agrees with the gradient within "
                     "its error estimate (res.error_estimate): rounding, not a mistake; " +
                     ("eps=None picks a better step" if eps is not None else
                      "the steps were already fitted to the cost's noise: "
                      "method='richardson' narrows the estimates"))
    advice = BLIND_ADVICE if verdict == "unsure" and not unresolved else ADVICE[verdict]
    return CheckResult(
        difference=difference, threshold=threshold, passed=verdict in ("pass", "kinks"),
        verdict=verdict, advice=advice, layout=layout, grad_flat=grad_flat,
        gradapprox_flat=gradapprox_flat, error_flat=error_flat, indices=idx,
        judgement=judgement, per_tensor=rows, method=method, engine=engine, eps=eps,
        evaluations=evaluations, seconds=seconds,
        kinks=[layout.locate(i) for i in idx[flagged]], difference_without_kinks=without,
        depends_on_kinks=bool((judgement == KINK).any()), notes=notes,
        scratch_bytes=scratch_bytes, compile_seconds=compile_seconds, noise=noise)


def judge_directions(*, layout, expected, estimate, h, noise, threshold, evaluations,
                     seconds, notes):
    """The ``DirectionsResult`` of a check along random directions: each
    directional derivative is judged against its estimate's error, U / h."""
    errors = np.abs(expected - estimate) / np.maximum(np.abs(expected) + np.abs(estimate),
                                                       np.finfo(np.float64).tiny)
    difference = relative_difference(expected, estimate)
    allowed = allowance(noise / h, expected, estimate, threshold)
    verdict = "pass" if (np.abs(expected - estimate) <= allowed).all() else "mistake"
    notes = list(notes)
    top = float(np.max(np.maximum(np.abs(expected), np.abs(estimate)), initial=0.0))
    if verdict == "pass" and float(np.max(allowed, initial=0.0)) > BLIND * top:
        verdict = "unsure"  # rule 6: an error of the derivatives' own size could hide
        notes.append(f"an error up to {float(np.max(allowed)):.2g} could hide in directional "
                     f"derivatives of at most {top:.2g}: try a larger eps, or the cost in "
                     "float64")
    return DirectionsResult(
        difference=difference, threshold=threshold, passed=verdict == "pass", verdict=verdict,
        advice={"mistake": DIRECTIONS_MISTAKE, "unsure": DIRECTIONS_UNSURE}.get(
            verdict, ADVICE[verdict]),
        layout=layout, expected=expected, estimate=estimate, errors=errors, h=h,
        evaluations=evaluations, seconds=seconds, notes=notes)


def _dtype(value):
    """The NumPy dtype ``value`` would convert to (Python numbers: float64 or int64)."""
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(value, (float, int)):
        return np.dtype(np.float64 if isinstance(value, float) else np.int64)
    return np.asarray(value).dtype


def _coarse(dtype):
    """True for a float dtype coarser than float64."""
    return isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8


def gradient_precision(params, grads, names):
    """The machine epsilon of the coarsest float array among the parameters
    ``names`` in ``params`` and their gradients in ``grads`` (``dW1`` or ``W1``);
    float64's if none is coarser. Parameters count: a float32 parameter rounds
    the backward pass that uses it (NumPy keeps ``0.1 * W`` in float32) even
    when the gradient comes back as float64."""
    sources = [source for source in (params, grads) if hasattr(source, "values")]
    if not any(_coarse(getattr(value, "dtype", None))
               for source in sources for value in source.values()):
        return float(np.finfo(np.float64).eps)  # the common case, one pass over the values
    dtypes = set()
    for source, prefix in ((params, ""), (grads, "d"), (grads, "")):
        if not hasattr(source, "get"):
            continue
        for name in names:
            dtype = getattr(source.get(prefix + name), "dtype", None)
            if isinstance(dtype, np.dtype):
                dtypes.add(dtype)
    eps = [float(np.finfo(dtype).eps) for dtype in dtypes if dtype.kind == "f"]
    return max(eps + [float(np.finfo(np.float64).eps)])


def gradient_rounding(grad_eps, grad_flat):
    """How far a correct gradient given in precision ``grad_eps`` may be off:
    ``GRAD_ULPS`` of its ulps of the largest |entry| of ``grad_flat`` (P,); 0.0
    for float64, whose rounding the relative ``threshold`` already covers."""
    if grad_eps <= np.finfo(np.float64).eps:
        return 0.0
    return GRAD_ULPS * grad_eps * float(np.max(np.abs(grad_flat), initial=0.0))


#: A note lists at most this many tensors by name.
NOTE_NAMES = 8


def _listed(items):
    """``items`` joined by commas, the first ``NOTE_NAMES`` of them and a count of the rest."""
    shown = ", ".join(items[:NOTE_NAMES])
    return shown + (f" and {len(items) - NOTE_NAMES} more" if len(items) > NOTE_NAMES else "")


def precision_notes(params, grad_eps=None, rounding=0.0):
    """The notes on precision: one naming the tensors given in a lower precision
    than the float64 used, failing those one saying how well gradients given in a
    lower precision are taken to be known (``gradient_rounding``; the report's
    "detectable" column shows it either way); and one naming the tensors given
    in a higher precision (``np.longdouble``), whose digits beyond float64's are
    rounded away before the check (tests/test_faults.py)."""
    low, high = [], []
    for name, value in params.items():
        dtype = _dtype(value)
        if dtype.kind == "f" and dtype.itemsize != 8:
            (low if dtype.itemsize < 8 else high).append(f"{name} ({dtype})")
    notes = []
    if low:
        notes.append(f"checked in float64: {_listed(low)} given in lower precision")
    elif grad_eps is not None and grad_eps > np.finfo(np.float64).eps:
        notes.append(f"gradients given in a precision of {grad_eps:.2g} are taken as known "
                     f"to {GRAD_ULPS} of its ulps of the largest gradient, {rounding:.2g}")
    if high:
        notes.append(f"checked in float64: {_listed(high)} given in higher precision, "
                     "rounded to float64 first: digits beyond float64's are neither "
                     "perturbed nor checked")
    return notes
