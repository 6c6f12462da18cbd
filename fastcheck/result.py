"""What a check found: ``CheckResult`` (per coordinate) and ``DirectionsResult``.

Results hold numbers and the words ``fastcheck.verdict`` chose for them; they
format the report and serialise to JSON, and decide nothing themselves.
"""

from dataclasses import dataclass, field

import numpy as np

from .layout import format_index
from .memory import format_bytes

#: Bumped whenever ``to_dict()``'s keys change meaning.
SCHEMA_VERSION = 2


def json_ready(value):
    """``value`` with NaN and Inf floats, which JSON cannot hold, turned into None."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class TensorRow:
    """One tensor's share of a check.

    ``difference`` is the relative difference over this tensor's checked
    entries, ``max_abs_error`` the largest |grad - gradapprox| among them,
    ``worst_index`` where it occurs (an index into the tensor's shape),
    ``detectable`` the smallest error this check can detect in every entry
    (the largest allowance among them), ``status`` the verdict's word for the
    tensor: "ok", "kinks", "unsure" or "WRONG".
    """

    name: str
    shape: tuple
    checked: int
    difference: float
    max_abs_error: float
    worst_index: tuple
    kinks: int = 0
    difference_without_kinks: float = None
    detectable: float = 0.0
    status: str = "ok"

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def to_dict(self):
        return {"name": self.name, "shape": list(self.shape), "size": self.size,
                "checked": self.checked, "difference": self.difference,
                "max_abs_error": self.max_abs_error, "worst_index": list(self.worst_index),
                "kinks": self.kinks, "difference_without_kinks": self.difference_without_kinks,
                "detectable": self.detectable, "status": self.status}


@dataclass(frozen=True)
class Judged:
    """What every check's result says: the exercise's relative ``difference`` and
    ``threshold``, and the verdict's word, advice and pass/fail for them."""

    difference: float
    threshold: float
    passed: bool
    verdict: str
    advice: str
    layout: object = field(repr=False)


@dataclass(frozen=True)
class CheckResult(Judged):
    """What ``fastcheck.check`` found.

    ``gradapprox_flat``, ``grad_flat`` and ``error_flat`` (each estimate's
    error estimate) are (P,) float64 in layout order; entries a sampled check
    skipped are NaN in ``gradapprox_flat`` and ``error_flat``. ``indices``
    lists the checked flat indices, sorted; ``judgement`` (n,) the verdict's
    code for each (see ``fastcheck.verdict``).
    """

    grad_flat: np.ndarray = field(repr=False)
    gradapprox_flat: np.ndarray = field(repr=False)
    error_flat: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)
    judgement: np.ndarray = field(repr=False)
    per_tensor: list = field(repr=False)
    method: str = "central"
    engine: str = "python"
    eps: object = None
    evaluations: int = 0
    seconds: float = 0.0
    kinks: list = field(default_factory=list, repr=False)
    difference_without_kinks: float = None
    depends_on_kinks: bool = False
    notes: list = field(default_factory=list, repr=False)
    scratch_bytes: int = 0
    compile_seconds: float = 0.0

    @property
    def gradapprox(self):
        """dict name -> array of the parameter's shape (a copy)."""
        return self.layout.unflatten(self.gradapprox_flat.copy())

    @property
    def error_estimate(self):
        """dict name -> array of the parameter's shape: how far each estimate may be
        off from rounding (and truncation, where it was examined); NaN where unchecked."""
        return self.layout.unflatten(self.error_flat.copy())

    @property
    def checked(self):
        """How many coordinates were checked."""
        return int(self.indices.size)

    @property
    def suspects(self):
        """Names of the tensors whose gradient the verdict calls wrong."""
        return [row.name for row in self.per_tensor if row.status == "WRONG"]

    def to_dict(self):
        """A JSON-ready summary (no per-coordinate arrays; NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "coordinates",
            "difference": self.difference, "passed": self.passed,
            "threshold": self.threshold, "method": self.method, "engine": self.engine,
            "eps": self.eps, "parameters": self.layout.size, "checked": self.checked,
            "evaluations": self.evaluations, "seconds": self.seconds,
            "compile_seconds": self.compile_seconds, "scratch_bytes": self.scratch_bytes,
            "per_tensor": [row.to_dict() for row in self.per_tensor],
            "suspects": self.suspects,
            "verdict": self.verdict, "advice": self.advice,
            "kinks": [[name, list(index)] for name, index in self.kinks],
            "difference_without_kinks": self.difference_without_kinks,
            "depends_on_kinks": self.depends_on_kinks,
            "notes": list(self.notes),
        })

    def __str__(self):
        return format_report(self)


@dataclass(frozen=True)
class DirectionsResult(Judged):
    """What ``fastcheck.check_directions`` found.

    ``expected`` (n,) holds grad . v for each random unit direction v,
    ``estimate`` (n,) its central difference with step ``h``, ``errors`` (n,)
    each direction's relative error. Directions mix all tensors, so there is
    no per-tensor table: they say *that* a gradient is wrong, not where.
    """

    expected: np.ndarray = field(repr=False)
    estimate: np.ndarray = field(repr=False)
    errors: np.ndarray = field(repr=False)
    h: float = 0.0
    evaluations: int = 0
    seconds: float = 0.0
    notes: list = field(default_factory=list, repr=False)
    method: str = "central"
    engine: str = "directions"

    def to_dict(self):
        """A JSON-ready summary (NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "directions",
            "difference": self.difference, "passed": self.passed,
            "threshold": self.threshold, "method": self.method, "engine": self.engine,
            "parameters": self.layout.size, "evaluations": self.evaluations,
            "seconds": self.seconds, "verdict": self.verdict, "advice": self.advice,
            "notes": list(self.notes),
            "directions": {"expected": self.expected, "estimate": self.estimate,
                           "errors": self.errors, "h": self.h},
        })

    def __str__(self):
        lines = _head(self, f"{len(self.errors)} random directions over {self.layout.size} "
                            "parameters", "auto")
        lines += ["", "  direction  grad . v       estimate       relative error"]
        for k, (g, e, err) in enumerate(zip(self.expected, self.estimate, self.errors)):
            lines.append(f"  {k:<9}  {g: .6e}  {e: .6e}  {err:.3e}")
        lines.append("  (directions mix all tensors: they show that a gradient is wrong, "
                     "not where; check(..., sample=...) localises)")
        return "\n".join(lines)


def _head(res, visited, step, scratch_bytes=0, compile_seconds=0.0):
    """The report's first lines: the verdict, the settings, the advice, the notes."""
    verdict = "PASSED" if res.passed else "FAILED"
    return [
        f"fastcheck {verdict}: difference = {res.difference:.6e} "
        f"({'<' if res.difference < res.threshold else '>='} threshold {res.threshold:g})",
        f"  {visited}, engine {res.engine}, method {res.method}, eps {step}, "
        f"{res.evaluations} cost evaluations in {res.seconds:.3g} s"
        + (f", scratch {format_bytes(scratch_bytes)}" if scratch_bytes else "")
        + (f" (and {compile_seconds:.3g} s compiling the cost)" if compile_seconds else ""),
        f"  verdict: {res.verdict}: {res.advice}",
    ] + [f"  note: {note}" for note in res.notes]


def format_report(res):
    """The human-readable report: verdict line, settings, per-tensor table."""
    step = "auto" if res.eps is None else f"{res.eps:g}"
    lines = _head(res, f"{res.checked} of {res.layout.size} coordinates", step,
                  res.scratch_bytes, res.compile_seconds)
    notes = lines[3:]
    lines = lines[:3]
    if res.suspects:
        lines.append(f"  wrong gradient in: {', '.join(res.suspects)}")
    if res.kinks:
        shown = ", ".join(name + format_index(index) for name, index in res.kinks[:8])
        more = f" and {len(res.kinks) - 8} more" if len(res.kinks) > 8 else ""
        how = ("the gradient was judged against the left and right slopes there"
               if res.depends_on_kinks else "the estimates there agree with the gradient anyway")
        lines.append(f"  kinks: {len(res.kinks)} coordinates whose steps cross a kink: "
                     f"{shown}{more}")
        lines.append(f"    difference without them = {res.difference_without_kinks:.6e}; "
                     f"{how}")
    lines += notes
    header = ("tensor", "shape", "checked", "difference", "max abs error", "worst at",
              "detectable", "verdict")
    table = [header]
    for row in res.per_tensor:
        table.append((row.name, str(row.shape), str(row.checked), f"{row.difference:.3e}",
                      f"{row.max_abs_error:.3e}", f"{row.name}{format_index(row.worst_index)}",
                      f"{row.detectable:.1e}", row.status))
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    lines.append("")
    for r in table:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines)
