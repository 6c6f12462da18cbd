"""From coordinate judgements to a ``CheckResult``: the per-tensor table, the
tensors whose check could not have seen an error of their own size (rule 6),
the check's verdict, its advice and notes.

``judge`` judges a planned check's estimates (the first look, then the closer
look's slopes); ``judge_naive`` the seed's loop, which has no closer look;
both end in ``check_result``.
"""

import numpy as np

from ..planning.methods import CENTRAL_METHOD
from ..planning.noise import CHECKABLE_EPS
from ..report.result import STATUSES, CheckResult, Located, TensorTable
from .norms import distinct, relative_difference, segment_differences
from .patterns import patterns, shared_upstream
from .precision import cost_noise
from .rules import (BLIND, BLIND_FLOOR, CONSISTENT, KINK, MISTAKE, PROBE_MAX, PROBE_SECONDS,
                    SMOOTH, UNRESOLVED, allowance, error_estimate, first_look, judge_probes)
from .words import ADVICE, BLIND_ADVICE, NOTE_NAMES
from .closer import PROBE_EVALUATIONS


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
        status[distinct(tensor[judgement == code])] = STATUSES.index(word)
    status[checked == 0] = STATUSES.index("not checked")  # never "ok": nothing was compared
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
    given = np.zeros(T)
    detectable = np.zeros(T)
    np.maximum.at(top, tensor, size)
    np.maximum.at(given, tensor, np.abs(grad))
    np.maximum.at(detectable, tensor, allowed)
    whole = float(np.max(size, initial=0.0))
    # Each tensor against its own gradient, whatever the others hold (a float32 LSTM's
    # lstm_Wh, detectable 3.6e-4 against a largest entry of 2.7e-4, is not "ok" because
    # the output bias's gradient is 0.05; tests/test_reports.py). The one waiver: a
    # gradient that says 0 (below BLIND of what the check detects), where the check
    # detects errors below BLIND_FLOOR of the largest entry of all: a bias before a
    # batchnorm, whose true gradient is 0, given in float32 (tests/test_verdict.py).
    # A tensor whose gradient and estimates are all exactly 0 is confirmed: J did not
    # move at all (a constant cost, an unused parameter; tests/test_properties.py).
    zero = (given <= BLIND * detectable) & (detectable <= BLIND_FLOOR * whole)
    blind = (detectable > BLIND * top) & ~zero & (top > 0.0)
    blind[distinct(tensor[judgement == MISTAKE])] = False
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


def judge(plan, estimates, slopes=None, *, seconds=0.0):
    """The ``CheckResult`` of ``plan``: its ``estimates`` judged, and where the
    first look found disagreement, ``slopes`` (the ``Estimates`` of the
    ``slopes`` pass over ``first_look(...).order``'s coordinates, None when it
    had none) judged closer. ``seconds``: what the check took, compiles not
    counted."""
    look = first_look(plan, estimates)
    error, judgement, order = look.error, look.judgement, look.order
    allowed = look.allowed.copy()
    if slopes is not None:
        done = order[slopes.done]
        h = plan.h_real[done]
        judgement[done], rich = judge_probes(plan.grad[done], slopes.out[slopes.done], h,
                                             plan.noise, plan.threshold, plan.rounding)
        error[done] = 6.0 * plan.noise / h
        # What the probes could see is what the blind-tensor rule must weigh for a
        # coordinate they judged: a float32 cost's real probes, known to 6 U / h,
        # cleared lstm_Wx 40% too large while the first look's 2.4e-4 said "ok";
        # real steps scaled to a parameter near 1e-171 see nothing at all.
        rounding = np.broadcast_to(plan.rounding, plan.grad.shape)[done]
        allowed[done] = np.maximum(allowed[done], allowance(error[done], plan.grad[done], rich,
                                                            plan.threshold) + rounding)
    if plan.value_eps > CHECKABLE_EPS:  # too coarse: say so rather than judge
        judgement[judgement != MISTAKE] = UNRESOLVED
    return check_result(
        layout=plan.layout, grad_flat=plan.grad_flat, approx=estimates.out, idx=plan.idx,
        threshold=plan.threshold, method=plan.method.name, engine=estimates.engine,
        eps=plan.eps, error=error, allowed=look.allowed, seen=allowed, judgement=judgement,
        flagged=estimates.kinks | (judgement == KINK),
        evaluations=(plan.method.evaluations * plan.idx.size + plan.evaluations
                     + (0 if slopes is None else
                        PROBE_EVALUATIONS * int(slopes.done.sum()) - slopes.reused)),
        seconds=seconds, notes=plan.notes, scratch_bytes=estimates.scratch_bytes,
        compile_seconds=plan.compile_seconds, noise=plan.noise)


def judge_naive(*, layout, grad_flat, approx, idx, h, j0, value_eps, threshold, eps,
                evaluations, seconds, notes):
    """The ``CheckResult`` of the seed's loop (``fastcheck.naive_check``): its
    central differences ``approx`` (n,) with steps ``h`` (n,) at the flat ``idx``,
    each judged against its error estimate (U from ``cost_noise`` of J(theta)
    ``j0`` in precision ``value_eps``), with no closer look and no kinks."""
    grad = grad_flat[idx]
    error = error_estimate(CENTRAL_METHOD, h, approx, grad, cost_noise(j0, value_eps))
    allowed = allowance(error, grad, approx, threshold)
    judgement = np.where(np.abs(grad - approx) <= allowed, CONSISTENT, MISTAKE)
    return check_result(layout=layout, grad_flat=grad_flat, approx=approx, idx=idx,
                        threshold=threshold, method=CENTRAL_METHOD.name, engine="naive",
                        eps=eps, error=error, allowed=allowed, judgement=judgement,
                        flagged=np.zeros(idx.size, dtype=bool), evaluations=evaluations,
                        seconds=seconds, notes=notes, scratch_bytes=0,
                        engine_reason="naive: the seed's loop, one coordinate at a time")


def check_result(*, layout, grad_flat, approx, idx, threshold, method, engine, eps, error,
                 allowed, judgement, flagged, evaluations, seconds, notes, scratch_bytes,
                 compile_seconds=0.0, noise=None, engine_reason="", seen=None):
    """The ``CheckResult`` of a coordinate check.

    ``approx``, ``error`` (each estimate's error estimate), ``allowed``,
    ``judgement`` and ``flagged`` are (n,) for the checked flat indices ``idx``;
    ``seen`` (n,), if given, the error each judgement could have seen (the closer
    look's where it judged), which the blind-tensor rule weighs; else ``allowed``.
    """
    gradapprox_flat = np.full(layout.size, np.nan)
    gradapprox_flat[idx] = approx
    error_flat = np.full(layout.size, np.nan)
    error_flat[idx] = error
    difference = relative_difference(grad_flat[idx], approx)
    without = (relative_difference(grad_flat[idx[~flagged]], approx[~flagged])
               if flagged.any() else difference)
    judgement, blind_notes, hidden = blind_tensors(layout, grad_flat[idx], approx, idx,
                                                   allowed if seen is None else seen,
                                                   judgement)
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
    left = int(((judgement == UNRESOLVED) & wrong).sum())
    if left:
        notes.append(f"{left} more coordinates of the WRONG tensors disagree beyond their "
                     "error estimates and were not examined closer (res.located lists "
                     "those confirmed)")
    notes += blind_notes
    notes += patterns(layout, grad_flat, approx, idx, allowed, rows, flagged)
    notes += shared_upstream(layout.names, [row.status for row in rows])
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
        scratch_bytes=scratch_bytes, compile_seconds=compile_seconds, noise=noise,
        located=located(layout, grad_flat, approx, idx, judgement),
        engine_reason=engine_reason)


def located(layout, grad_flat, approx, idx, judgement):
    """``Located`` rows of the coordinates judged MISTAKE, the largest
    |gradient - estimate| first (ties in layout order)."""
    wrong = np.flatnonzero(judgement == MISTAKE)
    grad, est = grad_flat[idx[wrong]], approx[wrong]
    order = np.argsort(-np.abs(grad - est), kind="stable")
    return [Located(*layout.locate(int(idx[wrong[k]])), float(grad[k]), float(est[k]))
            for k in order]
