"""What ``fastcheck.taylor_test`` found: ``TaylorResult``, a row per direction with
the measured rates and their verdicts, and the table of remainders behind each.

Like every result it holds numbers and the words the verdict chose for them
(``fastcheck.taylor``), formats the report, serialises to JSON and decides nothing.
"""

from dataclasses import dataclass, field
from html import escape

import numpy as np

from .html import report_html, table_html
from .result import SCHEMA_VERSION, Judged, _short_repr, json_ready

#: The status of an order not judged (H v, along a direction where the gradient is wrong).
NOT_JUDGED = "-"
#: What each remainder checks.
WHAT = {2: "the gradient", 3: "H v"}
ADVICE = {
    "pass": "every remainder falls at its order (2 with a right gradient, 3 with a right "
            "H v) over the steps where rounding does not rule.",
    "kinks": "the remainders fall at their orders, or break only at a kink, where the rule "
             "lies between the one-sided derivatives.",
    "unsure": "some rates could not be measured cleanly (see the notes): fastcheck cannot "
              "tell whether the rule is right there.",
    "mistake": "a rate is one order short: the rule is wrong along the directions marked "
               "WRONG.",
}
#: The report shows at most this many steps of a table of remainders (``to_dict`` has all).
REPORT_STEPS = 12
_RANK = {"ok": 0, NOT_JUDGED: 0, "kinks": 1, "unsure": 2, "WRONG": 3}


def worst_status(statuses):
    """The worst of ``statuses`` ("ok", "kinks", "unsure", "WRONG", "-")."""
    worst = max(statuses, key=_RANK.__getitem__, default="ok")
    return "ok" if worst == NOT_JUDGED else worst


def verdict_word(statuses):
    """The verdict for rows of ``statuses``: "pass", "kinks", "unsure" or "mistake"."""
    return {"ok": "pass", "kinks": "kinks", "unsure": "unsure",
            "WRONG": "mistake"}[worst_status(statuses)]


@dataclass(frozen=True)
class Verdict:
    """One remainder's verdict along one direction: ``status`` ("ok", "kinks",
    "unsure", "WRONG" or "-"), the ``rate`` at the smallest clean steps (NaN if
    none), ``clean`` (largest, smallest) clean step or None, ``coefficient`` the
    rule's error the remainder's leading term shows (where it dropped), a note."""

    status: str
    rate: float
    clean: tuple
    coefficient: float
    note: str = None
    order: int = 2

    @property
    def label(self):
        return f"r{self.order - 1} ({WHAT[self.order]})"

    def to_dict(self):
        return {"order": self.order, "status": self.status, "rate": self.rate,
                "clean_steps": list(self.clean) if self.clean else None,
                "coefficient": self.coefficient, "note": self.note}


@dataclass(frozen=True)
class Remainders:
    """The remainders along a direction: steps ``h`` (K,), ``r`` (K, orders) their
    absolute values (r0, r1[, r2]), ``rounding`` (K, orders) their bounds,
    ``rates`` (K - 1, orders) between consecutive steps."""

    h: np.ndarray
    r: np.ndarray
    rounding: np.ndarray
    rates: np.ndarray

    def clean(self, clean_factor):
        return self.r > clean_factor * self.rounding

    def cells(self, clean_factor, shown=None):
        """Rows of strings: h, then each remainder and its rate (shown only between
        two steps where the remainder is clean); with ``shown``, at most that many
        steps, the first third and the smallest, "..." between."""
        clean = self.clean(clean_factor)
        out = []
        for k, h in enumerate(self.h):
            if shown is not None and len(self.h) > shown and shown // 3 <= k < \
                    len(self.h) - (shown - shown // 3):
                if k == shown // 3:
                    out.append(("...",) + ("",) * (2 * self.r.shape[1]))
                continue
            row = [f"{h:.3e}"]
            for j in range(self.r.shape[1]):
                value = self.r[k, j]
                row.append("failed" if not np.isfinite(value) else f"{value:.3e}")
                ok = k > 0 and clean[k, j] and clean[k - 1, j]
                row.append(f"{self.rates[k - 1, j]:.2f}" if ok else "-")
            out.append(tuple(row))
        return out

    def header(self):
        names = ["h", "r0 = |J(x+hv) - J(x)|", "rate", "r1 = |... - h <g,v>|", "rate",
                 "r2 = |... - h^2/2 <v,Hv>|", "rate"]
        return tuple(names[:1 + 2 * self.r.shape[1]])

    def to_dict(self):
        return {"h": self.h, "remainders": self.r, "rounding": self.rounding,
                "rates": self.rates}


@dataclass(frozen=True)
class TaylorRow:
    """One direction: ``name`` the tensor it moves ("all": every tensor), ``shape``
    (for "all", the names it moves), ``d1`` = <g, v>, ``d2`` = <v, H v> (or None),
    a ``Verdict`` per judged order, its ``Remainders``, its ``status``."""

    name: str
    shape: tuple
    d1: float
    d2: float
    verdicts: list
    table: Remainders
    status: str

    @property
    def shortfall(self):
        """How far the worst measured rate falls short of its order (0 if none does)."""
        short = [vd.order - vd.rate for vd in self.verdicts if np.isfinite(vd.rate)]
        return max([0.0] + short)

    def cells(self):
        shape = (f"({', '.join(self.shape)})" if self.shape and isinstance(self.shape[0], str)
                 else str(self.shape))
        out = [self.name, shape]
        for vd, term in zip(self.verdicts, (self.d1, self.d2)):
            clean = (f"{vd.clean[0]:.1e}..{vd.clean[1]:.1e}" if vd.clean else "none")
            out += [f"{term: .4e}", f"{vd.rate:.2f}" if np.isfinite(vd.rate) else "-", clean]
        return tuple(out + [self.status])

    def to_dict(self):
        return {"name": self.name, "shape": list(self.shape), "grad_dot_v": self.d1,
                "v_hvp": self.d2, "status": self.status,
                "verdicts": [vd.to_dict() for vd in self.verdicts],
                "remainders": self.table.to_dict()}


@dataclass(frozen=True)
class TaylorResult(Judged):
    """What ``fastcheck.taylor_test`` found.

    ``rows`` holds a ``TaylorRow`` per direction (the joint one first);
    ``difference`` is how far the worst measured rate falls short of its order,
    ``threshold`` the shortfall a rate may have and still have reached it;
    ``noise`` is U, how well J is known; ``orders`` the orders judged (2, and 3
    with an HVP).
    """

    rows: list = field(default_factory=list, repr=False)
    noise: float = None
    evaluations: int = 0
    seconds: float = 0.0
    notes: list = field(default_factory=list, repr=False)
    orders: tuple = (2,)
    seed: int = 0
    method: str = "taylor"
    engine: str = "python"
    engine_reason: str = ""
    clean_factor: float = 10.0

    @property
    def suspects(self):
        """The tensors along which a rate drops (the joint direction's name when it
        is the only one)."""
        per_tensor = self.rows[1:] if len(self.rows) > 1 else self.rows
        return [row.name for row in per_tensor if row.status == "WRONG"]

    @property
    def hvp_suspects(self):
        """The tensors along which r2 drops while r1 does not: H v is wrong there."""
        per_tensor = self.rows[1:] if len(self.rows) > 1 else self.rows
        return [row.name for row in per_tensor if len(row.verdicts) > 1
                and row.verdicts[1].status == "WRONG"]

    @property
    def grad_suspects(self):
        """The tensors along which r1 drops: the gradient is wrong there."""
        per_tensor = self.rows[1:] if len(self.rows) > 1 else self.rows
        return [row.name for row in per_tensor if row.verdicts[0].status == "WRONG"]

    def rate(self, order=2, direction=None):
        """The rate of the remainder of ``order`` along ``direction`` (default the joint one)."""
        row = self.rows[0] if direction is None else next(
            r for r in self.rows if r.name == direction)
        return row.verdicts[self.orders.index(order)].rate

    def headline(self):
        word = "PASSED" if self.passed else "FAILED"
        joint = self.rows[0]
        rates = ", ".join(f"r{vd.order - 1} at rate {vd.rate:.2f}" for vd in joint.verdicts
                          if np.isfinite(vd.rate))
        if self.verdict == "mistake":
            bad = [(row, vd) for row in (self.rows[1:] or self.rows) for vd in row.verdicts
                   if vd.status == "WRONG"] or [(joint, vd) for vd in joint.verdicts
                                                 if vd.status == "WRONG"]
            row, vd = bad[0]
            return (f"fastcheck FAILED: r{vd.order - 1} falls at rate {vd.rate:.2f} where "
                    f"{vd.order} is due, along {row.name}")
        if self.verdict == "unsure":
            return f"fastcheck FAILED: unsure, {rates or 'no rate measured'} along {joint.name}"
        said = rates or "every remainder at rounding (J is a polynomial along it)"
        if self.verdict == "kinks":
            said += ", broken only by a kink at theta"
        return f"fastcheck {word}: {said} along {joint.name}"

    def head(self):
        """The report's lines before its tables."""
        joint = self.rows[0]
        steps = joint.table.h
        lines = [self.headline(),
                 f"  {len(self.rows)} direction{'s' if len(self.rows) != 1 else ''}, steps "
                 f"{steps[0]:.3g} to {steps[-1]:.3g}, engine {self.engine}, "
                 f"{self.evaluations} cost evaluations in {self.seconds:.3g} s",
                 f"  verdict: {self.verdict}: {self.advice}"]
        if self.grad_suspects:
            lines.append(f"  wrong gradient along: {', '.join(self.grad_suspects)}")
        if self.hvp_suspects:
            lines.append(f"  wrong Hessian-vector product along: "
                         f"{', '.join(self.hvp_suspects)}")
        for row in self.rows:
            for vd in row.verdicts:
                if vd.status == "WRONG":
                    lines.append(f"    along {row.name}: {vd.note}")
        lines.append(f"  rates are measured where a remainder is above {self.clean_factor:g} "
                     f"times its rounding (J known to {self.noise:.2g})")
        if self.engine_reason:
            lines.append(f"  engine: {self.engine_reason}")
        return lines + [f"  note: {note}" for note in self.notes]

    def summary_header(self):
        out = ["direction", "shape"]
        for p in self.orders:
            out += ["<g, v>" if p == 2 else "<v, Hv>", f"rate r{p - 1}", "clean steps"]
        return tuple(out + ["verdict"])

    def tables(self):
        """``[(header, cells, marked)]``: the directions, then the remainders along
        the joint direction and along each direction marked WRONG."""
        out = [(self.summary_header(), [row.cells() for row in self.rows],
                [k for k, row in enumerate(self.rows) if row.status == "WRONG"])]
        shown = [self.rows[0]] + [row for row in self.rows[1:] if row.status == "WRONG"]
        for row in shown:
            out.append((row.table.header(), row.table.cells(self.clean_factor, REPORT_STEPS), []))
        return out

    def titles(self):
        shown = [self.rows[0]] + [row for row in self.rows[1:] if row.status == "WRONG"]
        return [None] + [f"remainders along {row.name}:" for row in shown]

    def to_dict(self):
        """A JSON-ready summary (NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "taylor", "passed": self.passed,
            "verdict": self.verdict, "advice": self.advice, "difference": self.difference,
            "threshold": self.threshold, "orders": list(self.orders), "noise": self.noise,
            "evaluations": self.evaluations, "seconds": self.seconds, "seed": self.seed,
            "engine": self.engine, "suspects": self.suspects,
            "grad_suspects": self.grad_suspects, "hvp_suspects": self.hvp_suspects,
            "directions": [row.to_dict() for row in self.rows], "notes": list(self.notes),
        })

    def __str__(self):
        lines = self.head()
        for (header, cells, _), title in zip(self.tables(), self.titles()):
            table = [header] + cells
            widths = [max(len(r[c]) for r in table) for c in range(len(header))]
            lines.append("")
            if title:
                lines.append("  " + title)
            lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                      for r in table]
        return "\n".join(lines)

    def __repr__(self):
        return _short_repr(self, f"{len(self.rows)} directions")

    def _repr_html_(self):
        tables = self.tables()
        header, cells, marked = tables[0]
        html = report_html(self.head(), header, cells, marked)
        for (header, cells, marked), title in zip(tables[1:], self.titles()[1:]):
            html = (html[:-len("</div>")] + f"<p style=\"margin: 0\">{escape(title)}</p>\n"
                    + table_html(header, cells, marked) + "\n</div>")
        return html
