"""CheckResult: the verdict of a gradient check, overall and per tensor."""

from dataclasses import dataclass, field

import numpy as np

from .layout import format_index
from .memory import format_bytes
from .step import positive_finite

#: The exercise's rule: below this difference the backward pass is taken to be right.
DEFAULT_THRESHOLD = 1e-7


#: Per-tensor differences from the threshold up to this level are what rounding
#: in the cost (a step below the best one) or a ReLU kink produce; above it, a
#: mistake in the backward pass is the likely cause. At the exercise's eps = 1e-7
#: its correct tensors reach 2.5e-7, its wrong ones 0.33 and 0.6.
NOISE_CEILING = 1e-5


def resolve_threshold(threshold):
    """``threshold`` as a positive float; None means ``DEFAULT_THRESHOLD``."""
    return DEFAULT_THRESHOLD if threshold is None else positive_finite(threshold, "threshold")


def json_ready(value):
    """``value`` with NaN and Inf floats, which JSON cannot hold, turned into None."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _norm(x):
    # np.linalg.norm of a real 1-D array is exactly sqrt(x . x); calling it
    # directly skips the dispatch that dominates on small checks.
    return np.sqrt(np.dot(x, x))


def relative_difference(grad, gradapprox):
    """||grad - gradapprox|| / (||grad|| + ||gradapprox||), the seed's formula.

    Both arrays have the same shape; 0.0 when both are zero (they agree).
    """
    grad = np.ravel(grad)
    gradapprox = np.ravel(gradapprox)
    denominator = _norm(grad) + _norm(gradapprox)
    return 0.0 if denominator == 0.0 else float(_norm(grad - gradapprox) / denominator)


@dataclass(frozen=True)
class TensorRow:
    """One tensor's share of a check.

    ``difference`` is the relative difference over this tensor's checked
    entries, ``max_abs_error`` the largest |grad - gradapprox| among them,
    ``worst_index`` where it occurs (an index into the tensor's shape).
    """

    name: str
    shape: tuple
    checked: int
    difference: float
    max_abs_error: float
    worst_index: tuple
    kinks: int = 0
    difference_without_kinks: float = None
    noise: float = 0.0

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def status(self, threshold):
        """"ok" below ``threshold``; "kinks" when it is below once this tensor's kink
        coordinates are left out; "noise?" up to ``NOISE_CEILING``, or when every
        error is within the rounding a finite difference cannot resolve
        (``noise``: a tiny gradient known only to rounding); else "WRONG"."""
        if not self.difference >= threshold:  # NaN (nothing checked) counts as ok
            return "ok"
        if self.kinks and not self.difference_without_kinks >= threshold:
            return "kinks"
        if self.difference < NOISE_CEILING or self.max_abs_error <= self.noise:
            return "noise?"
        return "WRONG"

    def to_dict(self):
        return {"name": self.name, "shape": list(self.shape), "size": self.size,
                "checked": self.checked, "difference": self.difference,
                "max_abs_error": self.max_abs_error, "worst_index": list(self.worst_index),
                "kinks": self.kinks, "difference_without_kinks": self.difference_without_kinks,
                "noise": self.noise}


def tensor_rows(layout, grad_flat, approx_flat, indices, kinked=None, noise=None):
    """A ``TensorRow`` per tensor, over the checked flat ``indices`` (sorted).

    ``kinked`` (n,) bool marks the checked coordinates whose steps cross a kink;
    ``noise`` (n,) is each estimate's rounding floor, in the gradient's units.
    """
    grad, approx = grad_flat[indices], approx_flat[indices]
    error = grad - approx
    # Segment the checked coordinates by tensor, then reduce each segment.
    bounds = np.searchsorted(indices, layout.offsets)
    tensor = np.repeat(np.arange(len(layout.names)), np.diff(bounds))
    count = len(layout.names)
    err2 = np.bincount(tensor, weights=error * error, minlength=count)
    grad2 = np.bincount(tensor, weights=grad * grad, minlength=count)
    approx2 = np.bincount(tensor, weights=approx * approx, minlength=count)
    rows = []
    for k, (name, shape) in enumerate(zip(layout.names, layout.shapes)):
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi:
            rows.append(TensorRow(name, shape, 0, float("nan"), float("nan"), ()))
            continue
        denominator = np.sqrt(grad2[k]) + np.sqrt(approx2[k])
        worst = lo + int(np.argmax(np.abs(error[lo:hi])))
        local = int(indices[worst]) - layout.offsets[k]
        kinks, clean = 0, None
        if kinked is not None and kinked[lo:hi].any():
            keep = ~kinked[lo:hi]
            kinks = int(hi - lo - keep.sum())
            clean = relative_difference(grad[lo:hi][keep], approx[lo:hi][keep])
        rows.append(TensorRow(
            name, shape, int(hi - lo),
            0.0 if denominator == 0.0 else float(np.sqrt(err2[k]) / denominator),
            float(abs(error[worst])),
            tuple(int(j) for j in np.unravel_index(local, shape)), kinks, clean,
            0.0 if noise is None else float(noise[lo:hi].max())))
    return rows


@dataclass(frozen=True)
class CheckResult:
    """What ``fastcheck.check`` found.

    ``gradapprox_flat`` and ``grad_flat`` are (P,) float64 in layout order;
    entries a sampled check skipped are NaN in ``gradapprox_flat``.
    ``indices`` lists the checked flat indices, sorted.
    """

    difference: float
    threshold: float
    layout: object = field(repr=False)
    grad_flat: np.ndarray = field(repr=False)
    gradapprox_flat: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)
    per_tensor: list = field(repr=False)
    method: str = "central"
    engine: str = "python"
    eps: object = None
    evaluations: int = 0
    seconds: float = 0.0
    kinks: list = field(default_factory=list, repr=False)
    difference_without_kinks: float = None
    notes: list = field(default_factory=list, repr=False)
    directions: dict = field(default=None, repr=False)
    scratch_bytes: int = 0

    def __post_init__(self):
        # No kinks found (or none looked for): the difference stands as it is.
        if self.difference_without_kinks is None:
            object.__setattr__(self, "difference_without_kinks", self.difference)

    @property
    def verdict(self):
        """What the difference means, in one word.

        "pass": below the threshold. "kinks": above it, but below it once the
        coordinates at kinks are left out. "rounding": above it yet below
        ``NOISE_CEILING``, what rounding or a poor step produce. "mistake": a
        gradient is wrong.
        """
        if self.passed:
            return "pass"
        if self.kinks and self.difference_without_kinks < self.threshold:
            return "kinks"
        if self.difference < NOISE_CEILING:
            return "rounding"
        return "mistake"

    @property
    def depends_on_kinks(self):
        """True when leaving the kink coordinates out changes pass into fail or back."""
        return bool(self.kinks) and \
            (self.difference_without_kinks < self.threshold) != self.passed

    @property
    def advice(self):
        """The verdict in a sentence, with what to try next."""
        if self.directions is not None and self.verdict == "mistake":
            return ("a gradient is wrong somewhere; directions cannot say where: run "
                    "check(..., sample=...) or a full check to find the tensor.")
        return ADVICE[self.verdict]

    @property
    def passed(self):
        """True when ``difference < threshold``."""
        return bool(self.difference < self.threshold)

    @property
    def gradapprox(self):
        """dict name -> array of the parameter's shape (a copy)."""
        return self.layout.unflatten(self.gradapprox_flat.copy())

    @property
    def checked(self):
        """How many coordinates were checked."""
        return int(self.indices.size)

    @property
    def suspects(self):
        """Names of the tensors whose difference says their gradient is wrong."""
        return [row.name for row in self.per_tensor if row.status(self.threshold) == "WRONG"]

    def to_dict(self):
        """A JSON-ready summary (no per-coordinate arrays; NaN becomes None)."""
        return json_ready({
            "difference": self.difference, "passed": self.passed,
            "threshold": self.threshold, "method": self.method, "engine": self.engine,
            "eps": self.eps, "parameters": self.layout.size, "checked": self.checked,
            "evaluations": self.evaluations, "seconds": self.seconds,
            "scratch_bytes": self.scratch_bytes,
            "per_tensor": [dict(row.to_dict(), status=row.status(self.threshold))
                           for row in self.per_tensor],
            "suspects": self.suspects,
            "verdict": self.verdict, "advice": self.advice,
            "kinks": [[name, list(index)] for name, index in self.kinks],
            "difference_without_kinks": self.difference_without_kinks,
            "depends_on_kinks": self.depends_on_kinks,
            "notes": list(self.notes),
            "directions": None if self.directions is None else {
                key: (value.tolist() if isinstance(value, np.ndarray) else value)
                for key, value in self.directions.items()},
        })

    def __str__(self):
        return format_report(self)


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


def _direction_lines(directions):
    """The table of a directional check: one row per direction."""
    lines = ["", "  direction  grad . v       estimate       relative error"]
    for k, (g, e, err) in enumerate(zip(directions["expected"], directions["estimate"],
                                        directions["errors"])):
        lines.append(f"  {k:<9}  {g: .6e}  {e: .6e}  {err:.3e}")
    lines.append("  (directions mix all tensors: they show that a gradient is wrong, not "
                 "where; check(..., sample=...) localises)")
    return lines


def format_report(res):
    """The human-readable report: verdict line, settings, per-tensor table."""
    verdict = "PASSED" if res.passed else "FAILED"
    step = "auto" if res.eps is None else f"{res.eps:g}"
    visited = (f"{len(res.directions['errors'])} random directions over {res.layout.size} "
               "parameters" if res.directions is not None else
               f"{res.checked} of {res.layout.size} coordinates")
    lines = [
        f"fastcheck {verdict}: difference = {res.difference:.6e} "
        f"({'<' if res.passed else '>='} threshold {res.threshold:g})",
        f"  {visited}, engine {res.engine}, method {res.method}, eps {step}, "
        f"{res.evaluations} cost evaluations in {res.seconds:.3g} s"
        + (f", scratch {format_bytes(res.scratch_bytes)}" if res.scratch_bytes else ""),
    ]
    lines.append(f"  verdict: {res.verdict}: {res.advice}")
    if res.suspects:
        lines.append(f"  wrong gradient in: {', '.join(res.suspects)}")
    if res.kinks:
        shown = ", ".join(name + format_index(index) for name, index in res.kinks[:8])
        more = f" and {len(res.kinks) - 8} more" if len(res.kinks) > 8 else ""
        depends = "depends" if res.depends_on_kinks else "does not depend"
        lines.append(f"  kinks: {len(res.kinks)} coordinates whose steps cross a kink: "
                     f"{shown}{more}")
        lines.append(f"    difference without them = {res.difference_without_kinks:.6e}; "
                     f"the verdict {depends} on them")
    lines += [f"  note: {note}" for note in res.notes]
    if res.directions is not None:
        return "\n".join(lines + _direction_lines(res.directions))
    header = ("tensor", "shape", "checked", "difference", "max abs error", "worst at",
              "verdict")
    table = [header]
    for row in res.per_tensor:
        table.append((row.name, str(row.shape), str(row.checked), f"{row.difference:.3e}",
                      f"{row.max_abs_error:.3e}", f"{row.name}{format_index(row.worst_index)}",
                      row.status(res.threshold)))
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    lines.append("")
    for r in table:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines)
