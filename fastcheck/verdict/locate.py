"""The rules of ``fastcheck.locate``: when a trial along random-sign directions
fails, and what the search and its confirming coordinate check add up to.

A coordinate is blamed only when the coordinate check, with its error
estimate and closer look, calls it wrong; a tensor that failed its trials
with no coordinate confirmed makes the verdict "unsure".
"""

import dataclasses

import numpy as np

from ..report.locate import LocateResult
from .words import ADVICE

#: A trial's residual on correct code stays within this many ulps of max(1, |J|)
#: (research/locate.md: rounding std 0.22-0.34, max 1.57 ulps over 52k coordinates).
TRIAL_ULPS = 4.0


def trial_threshold(value_eps, j0):
    """tau: how far a trial's residual may stray on correct code, ``TRIAL_ULPS``
    ulps (``value_eps``, the cost's machine epsilon) of max(1, |J(theta)|)."""
    return TRIAL_ULPS * value_eps * max(1.0, abs(j0))


def judge_located(*, layout, confirmed, tested, blocks, repeats, clean_tests, tau, h, tensors,
                  evaluations, seconds, engine, compile_seconds=0.0, engine_reason="",
                  detectable=None):
    """The ``LocateResult`` of a search and its confirming ``CheckResult``.

    mistake: the coordinate check confirmed a wrong coordinate. unsure: a
    tensor failed consistently at two steps but no coordinate was confirmed
    (an error spread too thin to show in single coordinates). kinks: some
    tests were ambiguous or the confirming check judged at kinks. pass: all
    tensors passed their directions, and every candidate its coordinate check.
    """
    located = confirmed.located
    blamed = {loc.tensor for loc in located}
    unlocated = [t.name for t in tested if t.outcome == "failed" and t.name not in blamed]
    # The confirming check visits candidates only: its count of unvisited tensors says nothing.
    notes = [note for note in confirmed.notes if "were not checked at all" not in note]
    verdict = confirmed.verdict
    if verdict in ("pass", "kinks") and unlocated:
        verdict = "unsure"
        notes.append(f"{', '.join(unlocated)} failed along random-sign directions, consistently "
                     "at two steps, but no single coordinate was confirmed wrong: an error "
                     "spread too thin to show coordinate by coordinate (a tensor scaled by "
                     "1 + 1e-8?); check those tensors in full with fastcheck.check(only=...)")
    elif verdict == "pass" and any(t.outcome == "ambiguous" for t in tested):
        verdict = "kinks"
    skipped = len(layout.names) - len(tensors)
    if skipped:
        notes.append(f"{skipped} tensors were left out by only/exclude and not tested")
    # A tensor that passed its directions and had no candidate to confirm was screened,
    # not compared coordinate by coordinate: say so rather than "ok" (or "not checked").
    screened = [k for k, t in enumerate(layout.names)
                if t in {t.name for t in tested if t.outcome == "pass"}
                and not confirmed.per_tensor.checked[k]]
    if screened:
        confirmed = dataclasses.replace(
            confirmed, per_tensor=confirmed.per_tensor.with_status(screened,
                                                                   "passed by directions"))
    per_test = 2.0 ** -repeats
    if not detectable:   # no clean test passed, or the caller measured none: tau's own
        used = np.concatenate([h[layout.offsets[k]:layout.offsets[k + 1]] for k in tensors])
        detectable = tau / used.min()
    return LocateResult(
        passed=verdict in ("pass", "kinks"), verdict=verdict, advice=ADVICE[verdict],
        layout=layout, located=located, blocks=blocks, tested=tested, check=confirmed,
        repeats=repeats, miss_probability=min(1.0, clean_tests * per_test),
        miss_per_test=per_test, detectable=float(detectable), evaluations=int(evaluations),
        seconds=float(seconds), engine=engine, notes=notes,
        compile_seconds=float(compile_seconds), engine_reason=engine_reason)
