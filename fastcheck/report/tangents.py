"""What ``fastcheck.check_jvp`` found: ``JvpResult``, a row per tangent and, with a
VJP, a row per input of the dot-product test.

Like every result it holds numbers and the words the verdict chose for them
(``fastcheck.jvp``), formats the report, serialises to JSON and decides nothing.
"""

from dataclasses import dataclass, field

import numpy as np

from ..planning.layout import format_index
from .html import report_html, table_html
from .result import SCHEMA_VERSION, Judged, _head, _short_repr, json_ready


def element_label(index, several=False):
    """"out[2, 3]" for one output, "out1[0, 4]" for output 1 of several (whose
    ``index`` starts with the output's number)."""
    if several:
        return f"out{index[0]}{format_index(tuple(index[1:]))}"
    return f"out{format_index(tuple(index))}"


#: A report lists at most this many located output elements (``res.located`` has them all).
REPORT_LOCATED = 5


@dataclass(frozen=True)
class TangentRow:
    """One tangent's comparison, output element by output element.

    ``name`` is the input the tangent moves (``"all"`` for the tangent that
    moves them all), ``shape`` that input's shape (for "all", the names of the
    inputs it moves: the report shows "(x, w, b)"),
    ``checked`` the output elements compared, ``difference`` the relative
    difference of the JVP and its central-difference estimate over them,
    ``max_abs_error`` the largest |jvp - estimate|, ``worst_index`` the output
    element where it is, ``detectable`` the largest allowance, ``kinks`` the
    elements judged at a kink, ``status`` "ok", "kinks", "unsure" or "WRONG".
    """

    name: str
    shape: tuple
    checked: int
    difference: float
    max_abs_error: float
    worst_index: tuple
    detectable: float
    status: str = "ok"
    kinks: int = 0
    #: The layer has several outputs: ``worst_index`` starts with the output's number.
    several: bool = False

    HEADER = ("tangent along", "shape", "checked", "difference", "max abs error", "worst at",
              "detectable", "verdict")

    def cells(self):
        shape = (f"({', '.join(self.shape)})" if self.shape and isinstance(self.shape[0], str)
                 else str(self.shape))
        return (self.name, shape, str(self.checked), f"{self.difference:.3e}",
                f"{self.max_abs_error:.3e}", element_label(self.worst_index, self.several),
                f"{self.detectable:.1e}", self.status)

    def to_dict(self):
        return {"name": self.name, "shape": list(self.shape), "checked": self.checked,
                "difference": self.difference, "max_abs_error": self.max_abs_error,
                "worst_index": list(self.worst_index), "detectable": self.detectable,
                "kinks": self.kinks, "status": self.status}


@dataclass(frozen=True)
class DotRow:
    """The dot-product test for one input: ``forward`` = <jvp(t), u>, ``reverse``
    = <t, vjp(u)> with t moving this input only, ``bound`` the rounding they may
    differ by, ``status`` "ok" or "INCONSISTENT", and ``wrong`` which rule the
    finite differences of f blame: "jvp", "vjp", "both", "-" (none) or "?" (no f,
    or neither rule is clearly off)."""

    name: str
    forward: float
    reverse: float
    bound: float
    status: str
    wrong: str = "?"

    HEADER = ("input", "<jvp(t), u>", "<t, vjp(u)>", "|difference|", "bound", "verdict",
              "wrong rule")

    def cells(self):
        return (self.name, f"{self.forward: .6e}", f"{self.reverse: .6e}",
                f"{abs(self.forward - self.reverse):.2e}", f"{self.bound:.1e}", self.status,
                self.wrong)

    def to_dict(self):
        return {"name": self.name, "forward": self.forward, "reverse": self.reverse,
                "bound": self.bound, "status": self.status, "wrong": self.wrong}


@dataclass(frozen=True)
class JvpResult(Judged):
    """What ``fastcheck.check_jvp`` found, for the draw it returns (the worst).

    ``rows`` holds a ``TangentRow`` per tangent (the joint one first, then one
    per input when there are several), ``dot`` a ``DotRow`` per input when a
    VJP was given, ``located`` the output elements judged wrong as
    ``(tangent, index, jvp, estimate)``, worst first. ``h`` is the step along
    the tangent (scaled so its largest entry moves by the step), ``noise`` U,
    how well f's outputs are known. ``difference`` is the joint tangent's, or an
    inconsistent dot product's relative difference where that is larger.
    """

    rows: list = field(default_factory=list, repr=False)
    dot: list = field(default_factory=list, repr=False)
    located: list = field(default_factory=list, repr=False)
    #: {row name: (jvp, estimate, allowance, judgement codes)}, each (M,) over the
    #: flattened output: what the rows sum up, element by element.
    elements: dict = field(default_factory=dict, repr=False)
    output_shape: tuple = ()
    #: ``output_shape`` is a tuple of several outputs' shapes (``outputs=k``).
    several: bool = False
    draw: int = 0
    h: float = float("nan")
    noise: float = None
    evaluations: int = 0
    seconds: float = 0.0
    notes: list = field(default_factory=list, repr=False)
    method: str = "central"
    engine: str = "python"
    engine_reason: str = ""
    eps: object = None

    @property
    def suspects(self):
        """The inputs whose forward-mode contribution the verdict calls wrong (the
        joint tangent's name when only it was checked); the inputs whose VJP the
        dot-product test blames are in ``vjp_suspects``."""
        per_input = self.rows[1:] if len(self.rows) > 1 else self.rows
        return [row.name for row in per_input if row.status == "WRONG"]

    @property
    def vjp_suspects(self):
        """The inputs whose reverse rule (``vjp=``) the dot-product test blames."""
        return [row.name for row in self.dot if row.wrong in ("vjp", "both")]

    def to_dict(self):
        """A JSON-ready summary (NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "jvp",
            "difference": self.difference, "passed": self.passed,
            "threshold": self.threshold, "method": self.method, "engine": self.engine,
            "engine_reason": self.engine_reason, "eps": self.eps, "h": self.h,
            "output_shape": list(self.output_shape), "draw": self.draw,
            "noise": self.noise, "evaluations": self.evaluations, "seconds": self.seconds,
            "tangents": [row.to_dict() for row in self.rows],
            "dot_product": [row.to_dict() for row in self.dot],
            "suspects": self.suspects, "vjp_suspects": self.vjp_suspects,
            "located": [[t, list(i), float(g), float(e)] for t, i, g, e in self.located],
            "verdict": self.verdict, "advice": self.advice, "notes": list(self.notes),
        })

    def head(self):
        """The report's lines before its tables."""
        step = "auto" if self.eps is None else f"{self.eps:g}"
        what = (f"{len(self.output_shape)} outputs of shapes "
                f"{', '.join(str(shape) for shape in self.output_shape)}" if self.several
                else f"an output of shape {self.output_shape}")
        visited = (f"{len(self.rows)} tangent{'s' if len(self.rows) != 1 else ''} of "
                   f"{what}") if self.rows else \
            f"the dot-product test over {len(self.dot)} inputs"
        lines = _head(self, visited, step)
        notes = lines[3:]
        lines = lines[:3]
        if self.suspects:
            lines.append(f"  wrong forward rule (jvp) along: {', '.join(self.suspects)}")
        if self.vjp_suspects:
            lines.append(f"  wrong reverse rule (vjp) for: {', '.join(self.vjp_suspects)}")
        if self.located:
            more = (f" (the {REPORT_LOCATED} worst shown)"
                    if len(self.located) > REPORT_LOCATED else "")
            lines.append(f"  located: {len(self.located)} output element"
                         f"{'s' if len(self.located) != 1 else ''} wrong{more}")
            lines += [f"    {element_label(i, self.several)} along {t}: jvp {g: .4e}, "
                      f"estimate {e: .4e}"
                      for t, i, g, e in self.located[:REPORT_LOCATED]]
        return lines + notes

    def tables(self):
        """``[(header, cells, marked)]``: the tangents' table, then the dot test's."""
        out = []
        if self.rows:
            out.append((TangentRow.HEADER, [row.cells() for row in self.rows],
                        [k for k, row in enumerate(self.rows) if row.status == "WRONG"]))
        if self.dot:
            out.append((DotRow.HEADER, [row.cells() for row in self.dot],
                        [k for k, row in enumerate(self.dot) if row.status != "ok"]))
        return out

    def __str__(self):
        lines = self.head()
        for header, cells, _ in self.tables():
            table = [header] + cells
            widths = [max(len(r[c]) for r in table) for c in range(len(header))]
            lines.append("")
            lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                      for r in table]
        return "\n".join(lines)

    def __repr__(self):
        what = (f"{len(self.rows)} tangents" if self.rows else f"{len(self.dot)} dot products")
        return _short_repr(self, what)

    def _repr_html_(self):
        tables = self.tables()
        header, cells, marked = tables[0]
        html = report_html(self.head(), header, cells, marked)
        for header, cells, marked in tables[1:]:
            html = html[:-len("</div>")] + table_html(header, cells, marked) + "\n</div>"
        return html


def worst_rank(res):
    """How bad a result is, for choosing among draws: larger is worse."""
    rank = {"pass": 0, "kinks": 1, "unsure": 2, "mistake": 3}[res.verdict]
    return rank, float(np.nan_to_num(res.difference, nan=np.inf))
