"""The verdict of a check along random directions (``fastcheck.check_directions``):
every directional derivative against its estimate's error, then rule 6 for the
whole check (an error of the derivatives' own size could hide: "unsure")."""

import numpy as np

from ..report.result import DirectionsResult
from .norms import relative_difference
from .rules import BLIND, allowance
from .words import ADVICE, DIRECTIONS_MISTAKE, DIRECTIONS_UNSURE


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
        evaluations=evaluations, seconds=seconds, notes=notes,
        engine_reason="directions: the cost is evaluated as it is, twice per direction "
                      "(nothing to compile for a handful of evaluations)")
