"""``locate(..., hvp=)``: which entries of a Hessian-vector product rule are wrong,
named as Hessian entries H[row, column], by group testing over the columns.

A test takes a set of columns (coordinates of v), draws v on them (random signs,
magnitudes uniform in [1, 2]) and compares hvp(v) with the central differences
of the user's gradient along v, entry by entry, with ``check_jvp``'s error
estimates and closer look (``fastcheck.jvp.judge_tangent``): the rows where they
disagree are rows of H whose entries over those columns are wrong. Four
gradient evaluations and one hvp call per draw, whatever the number of rows.

The search: every column at once; then each tensor's columns (the blocks of
``check_hvp``); then, within a tensor whose wrong rows are few (a sparse
mistake: one coupling term, one entry of a dense Hessian), halves of its
columns, recursively, down to single columns. A column tensor that makes many
rows wrong is a dense mistake (a missing term of a whole layer) and is named as
a block, rows' tensors by column tensor, not split further.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ..complexparams import has_complex
from ..errors import InputTypeError, ParameterError
from ..hvp import flat_gradient_function, hvp_rule
from ..jvp import Forward, judge_tangent, noise_and_step, slopes_along, step_along
from ..planning.layout import Layout, format_index
from ..planning.sampling import validate_seed
from ..report.html import report_html
from ..report.result import SCHEMA_VERSION, Judged, _short_repr, json_ready
from ..verdict import resolve_threshold
from ..verdict.rules import MISTAKE, UNRESOLVED

#: A column tensor making more rows wrong than this is a dense mistake (a block).
SPARSE_ROWS = 8
#: Draws per test: a row whose errors over the columns cancel in one draw (to below
#: its allowance) shows in the other.
DRAWS = 2
#: Tests at most (each DRAWS x (4 gradients + 1 hvp)); past it, what is left is a block.
MAX_TESTS = 200
#: The stream of the search's draws: ``[seed, test, draw, LOCATE_STREAM]``.
LOCATE_STREAM = 3


def locate_hvp(grad, params, hvp, *args, threshold=None, seed=0):
    """Name the wrong entries H[row, column] of the rule ``hvp`` for the gradient
    ``grad`` at ``params`` (as ``fastcheck.check_hvp`` takes them).

    Returns
    -------
    HvpLocateResult
        ``entries``: (row tensor, row index, column tensor, column index), the
        Hessian entries found wrong; ``blocks``: (row tensors, column tensor) of
        dense mistakes; ``verdict`` "pass", "mistake" or "unsure".
    """
    if not callable(grad):
        raise InputTypeError(f"with hvp=, grads must be the gradient function grad(params, "
                             f"*args), as for fc.check_hvp; got {type(grad).__name__}")
    validate_seed(seed)
    if has_complex(params):
        raise ParameterError("locate(..., hvp=) checks real parameters; for complex ones "
                             "check the product with fc.check_hvp")
    threshold = resolve_threshold(threshold)
    layout = Layout.from_params(params)
    rule = hvp_rule(hvp, layout)
    gradient = flat_gradient_function(grad, layout)
    start = time.perf_counter()
    x = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    forward = Forward(gradient, args, x)
    U, steps, notes = noise_and_step(forward, x, list(layout.names), seed, None)
    search = Search(layout, forward, rule, U, steps, threshold, seed)
    entries, blocks = search.run()
    forward.restore()
    verdict = ("mistake" if entries or blocks else "unsure" if search.unsure else "pass")
    if search.unsure:
        notes = list(notes) + [f"{search.unsure} test(s) left rows unresolved (kinks or "
                               "truncation): fastcheck cannot tell whether they are right"]
    if search.tests >= MAX_TESTS:
        notes = list(notes) + [f"the search stopped at {MAX_TESTS} tests: what was left is "
                               "named as blocks"]
    return HvpLocateResult(
        difference=float(len(entries) + len(blocks)), threshold=0.0,
        passed=verdict == "pass", verdict=verdict, advice=ADVICE[verdict], layout=layout,
        entries=entries, blocks=blocks, tests=search.tests,
        evaluations=forward.evaluations, seconds=time.perf_counter() - start, notes=notes)


class Search:
    """The group tests of one locate: ``test(columns)`` gives the rows (a (P,) bool
    mask) whose product disagrees with the gradient's differences."""

    def __init__(self, layout, forward, rule, U, steps, threshold, seed):
        self.layout, self.forward, self.rule = layout, forward, rule
        self.U, self.steps, self.threshold, self.seed = U, steps, threshold, seed
        self.tests = self.unsure = 0

    def test(self, columns):
        wrong = np.zeros(self.layout.size, dtype=bool)
        for draw in range(DRAWS):
            rng = np.random.default_rng([self.seed, self.tests, draw, LOCATE_STREAM])
            flat = np.zeros(self.layout.size)
            flat[columns] = rng.choice([-1.0, 1.0], columns.size) * rng.uniform(1, 2, columns.size)
            v = self.layout.unflatten(flat)
            t = {name: v[name] for k, name in enumerate(self.layout.names)
                 if np.any(flat[self.layout.span(k)])}
            h = step_along(t, self.steps)
            self.forward.restore()
            y = self.rule({name: value.copy() for name, value in v.items()})
            slopes = slopes_along(self.forward, t, h, "a test direction")
            _, _, _, codes = judge_tangent("test", (), self.forward.outs, y, slopes, h, self.U,
                                           self.threshold, 0.0)
            wrong |= codes == MISTAKE
            self.unsure += int((codes == UNRESOLVED).any())
        self.tests += 1
        return wrong

    def run(self):
        layout = self.layout
        everything = np.arange(layout.size)
        if not self.test(everything).any():
            return [], []
        entries, blocks = [], []
        for k, name in enumerate(layout.names):
            span = layout.span(k)
            columns = everything[span]
            rows = self.test(columns)
            if not rows.any():
                continue
            if rows.sum() > SPARSE_ROWS:
                blocks.append((self.tensors(rows), name))
                continue
            self.bisect(columns, rows, entries, blocks, name)
        return entries, blocks

    def bisect(self, columns, rows, entries, blocks, name):
        """Halve ``columns`` (one tensor's, whose test made ``rows`` wrong) down to
        single columns; at the budget, what is left is a block."""
        if columns.size == 1:
            j = int(columns[0])
            for i in np.flatnonzero(rows):
                entries.append((*self.entry(int(i)), *self.entry(j)))
            return
        if self.tests >= MAX_TESTS:
            blocks.append((self.tensors(rows), name))
            return
        half = columns.size // 2
        for part in (columns[:half], columns[half:]):
            found = self.test(part)
            if found.any():
                self.bisect(part, found, entries, blocks, name)

    def entry(self, flat):
        """(tensor name, index) of flat position ``flat``."""
        layout = self.layout
        k = int(np.searchsorted(layout.starts, flat, side="right")) - 1
        shape = layout.shapes[k]
        inner = np.unravel_index(flat - layout.offsets[k], shape) if shape else ()
        return layout.names[k], tuple(int(i) for i in inner)

    def tensors(self, rows):
        return tuple(dict.fromkeys(self.entry(int(i))[0] for i in np.flatnonzero(rows)))


ADVICE = {
    "pass": "no test found the Hessian-vector product off the central differences of the "
            "gradient.",
    "unsure": "some tests could not be judged (see the notes).",
    "mistake": "the Hessian entries listed are wrong in the rule (or the gradient is: check it "
               "with fc.check first).",
}
#: A report lists at most this many entries (``res.entries`` has them all).
REPORT_ENTRIES = 10


@dataclass(frozen=True, repr=False)
class HvpLocateResult(Judged):
    """What ``fastcheck.locate(..., hvp=)`` found: ``entries`` (row tensor, row index,
    column tensor, column index) of wrong Hessian entries, ``blocks`` (row tensors,
    column tensor) of dense mistakes, the ``tests`` run."""

    entries: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    tests: int = 0
    evaluations: int = 0
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def suspects(self):
        """The tensors of the product with a wrong entry (rows)."""
        names = [e[0] for e in self.entries] + [t for rows, _ in self.blocks for t in rows]
        return list(dict.fromkeys(names))

    def lines(self):
        word = "PASSED" if self.passed else "FAILED"
        out = [f"fastcheck.locate {word}: {len(self.entries)} Hessian entr"
               f"{'ies' if len(self.entries) != 1 else 'y'} and {len(self.blocks)} block"
               f"{'s' if len(self.blocks) != 1 else ''} wrong in the Hessian-vector product",
               f"  {self.tests} group tests over the columns, {self.evaluations} gradient "
               f"evaluations in {self.seconds:.3g} s",
               f"  verdict: {self.verdict}: {self.advice}"]
        out += [f"    H[{r}{format_index(i)}, {c}{format_index(j)}]"
                for r, i, c, j in self.entries[:REPORT_ENTRIES]]
        if len(self.entries) > REPORT_ENTRIES:
            out.append(f"    ... ({len(self.entries) - REPORT_ENTRIES} more in res.entries)")
        out += [f"    block: rows of {', '.join(rows)} by columns of {col} (dense)"
                for rows, col in self.blocks]
        return out + [f"  note: {note}" for note in self.notes]

    def __str__(self):
        return "\n".join(self.lines())

    def __repr__(self):
        return _short_repr(self, f"{len(self.entries)} entries")

    def to_dict(self):
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "locate_hvp", "passed": self.passed,
            "verdict": self.verdict, "advice": self.advice,
            "entries": [[r, list(i), c, list(j)] for r, i, c, j in self.entries],
            "blocks": [[list(rows), col] for rows, col in self.blocks],
            "suspects": self.suspects, "tests": self.tests,
            "evaluations": self.evaluations, "seconds": self.seconds,
            "notes": list(self.notes)})

    def _repr_html_(self):
        cells = [(f"{r}{format_index(i)}", f"{c}{format_index(j)}")
                 for r, i, c, j in self.entries]
        return report_html(self.lines(), ("row", "column"), cells, range(len(cells)))
