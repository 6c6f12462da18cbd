"""What a check found: ``CheckResult`` (per coordinate) and ``DirectionsResult``.

Results hold numbers and the words ``fastcheck.verdict`` chose for them; they
format the report and serialise to JSON, and decide nothing themselves.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from ..planning.layout import format_index
from ..runtime.memory import format_bytes
from ..planning.methods import CENTRAL_METHOD
from .html import report_html

#: Bumped whenever ``to_dict()``'s keys change meaning. 3: a tensor's status may be
#: "not checked" or "passed by directions" (was "ok" with "checked": 0); figures of a
#: tensor with no checked coordinate are null; ``engine_reason``, ``located``.
SCHEMA_VERSION = 3
#: A report lists at most this many tensors (the worst); ``res.per_tensor`` has them all.
REPORT_ROWS = 50
#: A report lists at most this many located coordinates; ``res.located`` has them all.
REPORT_LOCATED = 20


class Located(NamedTuple):
    """One coordinate confirmed wrong: its tensor, index, gradient and estimate.

    Its repr shows 5 significant digits, like the report: the digits beyond
    follow the BLAS kernels of the machine (the gradient's sums, and through J
    the estimate's); the fields hold every digit."""

    tensor: str
    index: tuple
    gradient: float
    estimate: float

    def __repr__(self):
        return (f"Located(tensor={self.tensor!r}, index={self.index!r}, "
                f"gradient={self.gradient:.5g}, estimate={self.estimate:.5g})")


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

    #: The report's columns, as ``cells()`` fills them.
    HEADER = ("tensor", "shape", "checked", "difference", "max abs error", "worst at",
              "detectable", "verdict")

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def cells(self):
        """The row as the report shows it: a string for each column of ``HEADER``
        ("-" for the figures of a tensor with no coordinate checked)."""
        if not self.checked:
            return (self.name, str(self.shape), "0", "-", "-", "-", "-", self.status)
        return (self.name, str(self.shape), str(self.checked), f"{self.difference:.3e}",
                f"{self.max_abs_error:.3e}", f"{self.name}{format_index(self.worst_index)}",
                f"{self.detectable:.1e}", self.status)

    def to_dict(self):
        return {"name": self.name, "shape": list(self.shape), "size": self.size,
                "checked": self.checked, "difference": self.difference,
                "max_abs_error": self.max_abs_error, "worst_index": list(self.worst_index),
                "kinks": self.kinks, "difference_without_kinks": self.difference_without_kinks,
                "detectable": self.detectable if self.checked else None,
                "status": self.status}


#: The statuses a tensor can have, by code (``TensorTable.status``): the last two
#: are those of tensors with no coordinate checked.
STATUSES = ("ok", "kinks", "unsure", "WRONG", "not checked", "passed by directions")
#: How a report ranks them, worst first: WRONG, unsure, then the agreeing, then the
#: tensors only screened, then those not checked at all.
RANK = {"WRONG": 0, "unsure": 1, "ok": 2, "kinks": 2, "passed by directions": 3,
        "not checked": 4}


class TensorTable(Sequence):
    """Every tensor's ``TensorRow``, held as columns (each (T,), in layout order).

    A check of a million tensors keeps a few arrays and builds a row only when
    it is asked for; ``res.per_tensor`` indexes, iterates and compares like the
    list of rows it stands for. ``worst`` is each tensor's worst flat index
    within the tensor (-1 where nothing was checked), ``clean`` its difference
    without kinks (used where ``kinks`` > 0), ``status`` a code into ``STATUSES``.
    """

    def __init__(self, names, shapes, checked, difference, max_abs_error, worst, kinks, clean,
                 detectable, status):
        self.names, self.shapes = names, shapes
        self.checked, self.difference, self.max_abs_error = checked, difference, max_abs_error
        self.worst, self.kinks, self.clean = worst, kinks, clean
        self.detectable, self.status = detectable, status

    def __len__(self):
        return len(self.names)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self.row(j) for j in range(*k.indices(len(self)))]
        return self.row(range(len(self))[k])

    def row(self, k):
        """The ``TensorRow`` of tensor ``k``."""
        shape = self.shapes[k]
        if not self.checked[k]:
            return TensorRow(self.names[k], shape, 0, float("nan"), float("nan"), (),
                             detectable=float("nan"), status=STATUSES[self.status[k]])
        kinks = int(self.kinks[k])
        return TensorRow(self.names[k], shape, int(self.checked[k]), float(self.difference[k]),
                         float(self.max_abs_error[k]),
                         tuple(int(j) for j in np.unravel_index(int(self.worst[k]), shape)),
                         kinks, float(self.clean[k]) if kinks else None,
                         float(self.detectable[k]), STATUSES[self.status[k]])

    def __eq__(self, other):
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None

    def __repr__(self):
        counts = np.bincount(self.status, minlength=len(STATUSES))
        said = ", ".join(f"{int(counts[code])} {STATUSES[code]}"
                         for code in reversed(range(len(STATUSES))) if counts[code])
        return f"<TensorTable of {len(self)} tensors: {said}>"

    def _repr_html_(self):
        return report_html([f"{len(self)} tensors, the worst first"],
                           *table_rows(self, REPORT_ROWS))

    def with_status(self, positions, status):
        """A copy whose tensors at ``positions`` have the status ``status``."""
        codes = self.status.copy()
        codes[np.asarray(positions, dtype=np.int64)] = STATUSES.index(status)
        return TensorTable(self.names, self.shapes, self.checked, self.difference,
                           self.max_abs_error, self.worst, self.kinks, self.clean,
                           self.detectable, codes)

    def counts(self):
        """{status: number of tensors} for the statuses present, in ``STATUSES`` order."""
        counts = np.bincount(self.status, minlength=len(STATUSES))
        return {STATUSES[code]: int(counts[code]) for code in range(len(STATUSES))
                if counts[code]}

    def named(self, status):
        """The names of the tensors whose status is ``status``, in layout order."""
        return [self.names[k] for k in np.flatnonzero(self.status == STATUSES.index(status))]

    def worst_first(self):
        """Positions (T,) of the tensors, the worst first: WRONG, then unsure, then the
        rest, each by difference, largest first; tensors passed by directions, then
        tensors not checked, last (``RANK``)."""
        rank = np.array([RANK[word] for word in STATUSES])[self.status]
        difference = np.where(np.isnan(self.difference), -np.inf, self.difference)
        return np.lexsort((-difference, rank))


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
    per_tensor: TensorTable = field(repr=False)
    method: str = CENTRAL_METHOD.name
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
    #: U, how well J(theta) is known (its measured noise, with a margin): the
    #: error estimates are U over the steps.
    noise: float = None
    #: Coordinates each engine estimated, {name: count}: a check that started in
    #: Python and moved to the compiled cost once it was ready names both.
    engines: dict = field(default_factory=dict)
    #: Seconds of ``compile_seconds`` that ran beside the check (counted in
    #: ``seconds`` too, since the check ran meanwhile); the rest it waited for.
    compile_beside: float = 0.0
    #: The coordinates judged wrong, worst (largest |gradient - estimate|) first.
    located: list = field(default_factory=list, repr=False)
    #: Why this engine and route: one line (empty where nobody said).
    engine_reason: str = ""

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
        return self.per_tensor.named("WRONG")

    def to_dict(self):
        """A JSON-ready summary (no per-coordinate arrays; NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "coordinates",
            "difference": self.difference, "passed": self.passed,
            "threshold": self.threshold, "method": self.method, "engine": self.engine,
            "eps": self.eps, "parameters": self.layout.size, "checked": self.checked,
            "evaluations": self.evaluations, "seconds": self.seconds,
            "compile_seconds": self.compile_seconds, "scratch_bytes": self.scratch_bytes,
            "engines": dict(self.engines), "compile_beside": self.compile_beside,
            "noise": self.noise,
            "per_tensor": [row.to_dict() for row in self.per_tensor],
            "suspects": self.suspects,
            "verdict": self.verdict, "advice": self.advice,
            "kinks": [[name, list(index)] for name, index in self.kinks],
            "difference_without_kinks": self.difference_without_kinks,
            "depends_on_kinks": self.depends_on_kinks,
            "located": located_dicts(self.located), "engine_reason": self.engine_reason,
            "notes": list(self.notes),
        })

    def __str__(self):
        return format_report(self)

    def __repr__(self):
        return _short_repr(self, f"{self.checked} of {self.layout.size} coordinates")

    def _repr_html_(self):
        return report_html(report_head(self), *table_rows(self.per_tensor, REPORT_ROWS))


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
    method: str = CENTRAL_METHOD.name
    engine: str = "directions"
    compile_seconds: float = 0.0
    engine_reason: str = ""

    def to_dict(self):
        """A JSON-ready summary (NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "directions",
            "difference": self.difference, "passed": self.passed,
            "threshold": self.threshold, "method": self.method, "engine": self.engine,
            "engine_reason": self.engine_reason, "compile_seconds": self.compile_seconds,
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

    def __repr__(self):
        return _short_repr(self, f"{len(self.errors)} directions")

    def _repr_html_(self):
        return report_html(_head(self, f"{len(self.errors)} random directions over "
                                       f"{self.layout.size} parameters", "auto"),
                           *directions_rows(self, REPORT_ROWS))


def _short_repr(res, visited):
    """``<CheckResult FAILED mistake, difference 2.85e-01, 47 of 47 coordinates,
    wrong: b1, W2>``: what a result is, in one line."""
    suspects = getattr(res, "suspects", [])
    wrong = f", wrong: {', '.join(suspects[:8])}{' ...' if len(suspects) > 8 else ''}" \
        if suspects else ""
    return (f"<{type(res).__name__} {'PASSED' if res.passed else 'FAILED'} {res.verdict}, "
            f"difference {res.difference:.3e}, {visited}{wrong}>")


def engines_text(engines, engine, beside):
    """``engine generic`` or, for a check that moved engines, ``engines python 120,
    generic 3880 (compiled beside the check in 5.2 s)``."""
    if len(engines) < 2:
        return f"engine {engine}"
    ran = ", ".join(f"{name} {count}" for name, count in engines.items())
    return f"engines {ran}" + (f" (compiled beside the check in {beside:.3g} s)"
                               if beside else "")


def took_engines(res, estimates):
    """``res`` with where its coordinates ran (``estimates``, a driver's
    ``Estimates`` of its coordinates) and the compile that ran beside it."""
    engines = dict(estimates.engines or {estimates.engine: res.checked})
    return replace(res, engines=engines, compile_beside=estimates.compile_seconds,
                   compile_seconds=res.compile_seconds + estimates.compile_seconds,
                   notes=list(res.notes) + list(estimates.notes))


def headline(res):
    """The report's first line, in words that agree with the verdict:
    "fastcheck PASSED: difference = 1.2e-08 (< threshold 1e-07)"; a difference at
    or above the threshold beside PASSED (or below it beside FAILED) says why
    the verdict went the other way; a check that left tensors unchecked says
    how many of how many it checked."""
    word = "PASSED" if res.passed else "FAILED"
    below = res.difference < res.threshold
    said = f"difference = {res.difference:.6e}"
    if res.passed == below or not np.isfinite(res.difference):
        said += f" ({'<' if below else '>='} threshold {res.threshold:g})"
    elif res.passed:
        said += (f", above the threshold {res.threshold:g}, but every coordinate agrees "
                 "within its error estimate" + (" or between the slopes at a kink"
                                                if res.verdict == "kinks" else ""))
    else:
        said += (f", below the threshold {res.threshold:g}, but " +
                 ("a coordinate is wrong beyond its error estimate" if res.verdict == "mistake"
                  else "fastcheck cannot tell whether every gradient is right"))
    table = getattr(res, "per_tensor", None)
    scope = ""
    if table is not None and len(table):
        counts = table.counts()
        checked = len(table) - counts.get("not checked", 0) - counts.get(
            "passed by directions", 0)
        if checked < len(table):
            scope = f" for {count_words(checked, 'tensor')} of {len(table)}" + "".join(
                f", {counts[w]} {w}" for w in ("passed by directions", "not checked")
                if counts.get(w))
    return f"fastcheck {word}{scope}: {said}"


def count_words(n, noun):
    """'1 coordinate', '3 coordinates'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _head(res, visited, step, scratch_bytes=0, compile_seconds=0.0):
    """The report's first lines: the verdict, the settings, the advice, the notes."""
    reason = getattr(res, "engine_reason", "")
    beside = getattr(res, "compile_beside", 0.0)
    waited = compile_seconds - beside
    return [
        headline(res),
        f"  {visited}, {engines_text(getattr(res, 'engines', {}), res.engine, beside)}, "
        f"method {res.method}, eps {step}, "
        f"{res.evaluations} cost evaluations in {res.seconds:.3g} s"
        + (f", scratch {format_bytes(scratch_bytes)}" if scratch_bytes else "")
        + (f" (and {waited:.3g} s compiling)" if waited >= 0.01 else ""),
        f"  verdict: {res.verdict}: {res.advice}",
    ] + ([f"  engine: {reason}"] if reason else []) + [f"  note: {note}" for note in res.notes]


def report_head(res):
    """The report's lines before the per-tensor table: verdict line, settings,
    advice, suspects, kinks, notes (the HTML report shows them too)."""
    step = "auto" if res.eps is None else f"{res.eps:g}"
    lines = _head(res, f"{res.checked} of {res.layout.size} coordinates", step,
                  res.scratch_bytes, res.compile_seconds)
    notes = lines[3:]
    lines = lines[:3]
    if res.suspects:
        lines.append(f"  wrong gradient in: {', '.join(res.suspects)}")
    lines += located_lines(res.located)
    if res.kinks:
        shown = ", ".join(name + format_index(index) for name, index in res.kinks[:8])
        more = f" and {len(res.kinks) - 8} more" if len(res.kinks) > 8 else ""
        how = ("the gradient was judged against the left and right slopes there"
               if res.depends_on_kinks else "the estimates there agree with the gradient anyway")
        lines.append(f"  kinks: {count_words(len(res.kinks), 'coordinate')} whose steps cross a "
                     "kink: "
                     f"{shown}{more}")
        lines.append(f"    difference without them = {res.difference_without_kinks:.6e}; "
                     f"{how}")
    return lines + notes


def located_lines(located):
    """The report's lines listing ``located`` (``Located`` rows, worst first), at
    most ``REPORT_LOCATED`` of them."""
    if not located:
        return []
    more = f" (the {REPORT_LOCATED} worst shown)" if len(located) > REPORT_LOCATED else ""
    return [f"  located: {count_words(len(located), 'coordinate')} wrong{more}"] + [
        f"    {t}{format_index(index)}: gradient {g: .4e}, estimate {e: .4e}"
        for t, index, g, e in located[:REPORT_LOCATED]]


def located_dicts(located):
    """``located`` for JSON: [tensor, index, gradient, estimate] each."""
    return [[t, list(i), float(g), float(e)] for t, i, g, e in located]


def format_report(res):
    """The human-readable report: verdict line, settings, per-tensor table."""
    lines = report_head(res)
    rows = res.per_tensor
    shown = range(len(rows))
    if len(rows) > REPORT_ROWS:
        shown = rows.worst_first()[:REPORT_ROWS]
        lines += ["", f"  the {REPORT_ROWS} worst of {len(rows)} tensors (WRONG, then unsure, "
                      "then by difference):"]
    header = TensorRow.HEADER
    table = [header] + [rows[int(k)].cells() for k in shown]
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    if len(rows) <= REPORT_ROWS:
        lines.append("")
    for r in table:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    if len(rows) > REPORT_ROWS:
        lines.append(f"  ... and {len(rows) - REPORT_ROWS} more tensors, "
                     f"{_count_statuses(rows, shown)}: every row is in res.per_tensor")
    return "\n".join(lines)


def _count_statuses(rows, shown):
    """'12 WRONG, 3 ok, 5 not checked': the statuses of the rows of ``rows`` (a
    ``TensorTable``) not at positions ``shown``, in words, worst first."""
    rest = np.ones(len(rows), dtype=bool)
    rest[np.asarray(shown, dtype=np.int64)] = False
    counts = np.bincount(rows.status[rest], minlength=len(STATUSES))
    order = sorted(range(len(STATUSES)), key=lambda code: (RANK[STATUSES[code]], -code))
    return ", ".join(f"{int(counts[code])} {STATUSES[code]}" for code in order if counts[code])


def table_rows(table, limit):
    """``(header, cells, marked, footer)`` for ``report_html`` from a per-tensor
    ``TensorTable``: its ``limit`` worst rows, worst first."""
    order = table.worst_first()
    shown = order[:limit]
    rows = [table[int(k)] for k in shown]
    cells = [row.cells() for row in rows]
    marked = [k for k, row in enumerate(rows) if row.status == "WRONG"]
    footer = None
    if len(table) > limit:
        footer = (f"the {limit} worst of {len(table)} tensors; the other "
                  f"{len(table) - limit}: {_count_statuses(table, shown)} "
                  "(every row is in res.per_tensor)")
    return TensorRow.HEADER, cells, marked, footer


def directions_rows(res, limit):
    """``(header, cells, marked, footer)`` for ``report_html`` from a
    ``DirectionsResult``: its first ``limit`` directions (none marked: the
    verdict judges them together)."""
    header = ("direction", "grad . v", "estimate", "relative error")
    n = len(res.errors)
    cells = [(str(k), f"{g:.6e}", f"{e:.6e}", f"{err:.3e}")
             for k, (g, e, err) in enumerate(zip(res.expected[:limit], res.estimate[:limit],
                                                  res.errors[:limit]))]
    footer = "directions mix all tensors: they show that a gradient is wrong, not where"
    if n > limit:
        footer = f"the first {limit} of {n} directions; " + footer
    return header, cells, (), footer
