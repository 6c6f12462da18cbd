"""What ``fastcheck.locate`` found: ``LocateResult`` and its rows.

``LocateResult`` holds the verdict ``fastcheck.verdict.locate`` reached, formats
the report and serialises to strict JSON; ``TensorTest``, ``WrongBlock`` and
``Located`` are its rows.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from ..planning.layout import format_index
from .html import report_html
from .result import (REPORT_LOCATED, REPORT_ROWS, SCHEMA_VERSION, Located, count_words,
                     json_ready, table_rows)

class TensorTest(NamedTuple):
    """How one tensor was tested: ``outcome`` "pass" (its random-sign directions
    all agreed), "failed", "ambiguous" (steps crossed kinks) or "checked"
    (small enough to check every coordinate); ``stop`` how its search ended
    ("exact", "dense", "budget"; "probed": every coordinate probed alone failed;
    "checked": what was left went to the coordinate check; "rounds": still
    failing after the last round); ``evaluations`` spent on it."""

    name: str
    size: int
    outcome: str
    stop: str
    evaluations: int


class WrongBlock(NamedTuple):
    """A tensor wrong almost everywhere: ``candidates`` coordinates failed as a
    block, of which a sample was confirmed coordinate by coordinate."""

    name: str
    candidates: int
    stop: str


@dataclass(frozen=True)
class LocateResult:
    """What ``fastcheck.locate`` found.

    ``located`` lists the confirmed wrong coordinates (worst first),
    ``blocks`` the tensors wrong almost everywhere, ``suspects`` the tensors
    with a confirmed wrong coordinate; ``per_tensor`` is the confirming
    check's table (over the coordinates it checked); ``tested`` says how each
    tensor was tested. ``miss_probability`` bounds the chance that some subset
    passed although it holds an error above ``detectable`` in a coordinate.
    ``check`` is the confirming ``CheckResult``.
    """

    passed: bool
    verdict: str
    advice: str
    layout: object = field(repr=False)
    located: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    tested: list = field(default_factory=list, repr=False)
    check: object = field(default=None, repr=False)
    repeats: int = 20
    miss_probability: float = 0.0
    miss_per_test: float = 0.0
    detectable: float = 0.0
    evaluations: int = 0
    seconds: float = 0.0
    engine: str = "python"
    notes: list = field(default_factory=list, repr=False)
    #: Seconds spent compiling the cost (not counted in ``seconds``).
    compile_seconds: float = 0.0
    #: Why this engine: one line.
    engine_reason: str = ""

    @property
    def suspects(self):
        """Names of the tensors with a coordinate confirmed wrong."""
        return self.check.suspects

    @property
    def per_tensor(self):
        """The confirming check's per-tensor table."""
        return self.check.per_tensor

    @property
    def threshold(self):
        return self.check.threshold

    @property
    def full_check_evaluations(self):
        """What the full central-difference check would cost: 2 P."""
        return 2 * self.layout.size

    def to_dict(self):
        """A JSON-ready summary (NaN becomes None)."""
        return json_ready({
            "schema": SCHEMA_VERSION, "kind": "locate", "passed": self.passed,
            "verdict": self.verdict, "advice": self.advice, "engine": self.engine,
            "engine_reason": self.engine_reason, "compile_seconds": self.compile_seconds,
            "parameters": self.layout.size, "evaluations": self.evaluations,
            "full_check_evaluations": self.full_check_evaluations,
            "seconds": self.seconds, "repeats": self.repeats,
            "miss_probability": self.miss_probability, "miss_per_test": self.miss_per_test,
            "detectable": self.detectable, "suspects": self.suspects,
            "located": [[t, list(i), float(g), float(e)] for t, i, g, e in self.located],
            "blocks": [b._asdict() for b in self.blocks],
            "tested": [t._asdict() for t in self.tested],
            "confirmed": self.check.to_dict(),
            "notes": list(self.notes),
        })

    def __repr__(self):
        wrong = f", wrong: {', '.join(self.suspects[:8])}" if self.suspects else ""
        return (f"<LocateResult {'PASSED' if self.passed else 'FAILED'} {self.verdict}, "
                f"{len(self.located)} located, {self.evaluations} evaluations of "
                f"{self.full_check_evaluations}{wrong}>")

    def _repr_html_(self):
        """The report's lines above the confirming check's per-tensor table."""
        return report_html(str(self).splitlines(), *table_rows(self.per_tensor, REPORT_ROWS))

    def __str__(self):
        word = "PASSED" if self.passed else "FAILED"
        P = self.layout.size
        lines = [f"fastcheck.locate {word}: {self.verdict}: {self.advice}",
                 f"  {self.evaluations} cost evaluations in {self.seconds:.3g} s, engine "
                 f"{self.engine}: {100 * self.evaluations / (2 * P):.3g}% of the full "
                 f"check's {2 * P} over {P} parameters"
                 + (f" (and {self.compile_seconds:.3g} s compiling)"
                    if self.compile_seconds >= 0.01 else "")]
        if self.engine_reason:
            lines.append(f"  engine: {self.engine_reason}")
        directions = [t for t in self.tested if t.outcome != "checked"]
        small = [t.name for t in self.tested if t.outcome == "checked"]
        if directions:
            lines.append(
                f"  verified: the whole gradient (then what was left of it after each "
                f"search) tested along {self.repeats} random-sign directions; "
                f"an error above {self.detectable:.2g} in any coordinate would have been found "
                f"with probability at least 1 - {self.miss_per_test:.2g} per test "
                f"(1 - {self.miss_probability:.2g} over all the subsets passed)")
        if small:
            lines.append(f"  checked coordinate by coordinate: {', '.join(small)}")
        lines.append("  not verified: errors below that size in single coordinates (as in the "
                     "full check); coordinates whose steps cross a kink (reported as kinks); "
                     "tensors excluded by only/exclude")
        for block in self.blocks:
            how = (f"{count_words(block.candidates, 'coordinate')}, wrong wherever probed"
                   if block.stop == "probed" else
                   f"{block.candidates} coordinates failed together, bisection stopped: "
                   f"{block.stop}")
            lines.append(f"  block: {block.name} is wrong almost everywhere ({how}); its "
                         "confirmed sample is listed below")
        if self.located:
            lines.append(f"  located: {count_words(len(self.located), 'coordinate')} confirmed "
                         "wrong" + (f" (the {REPORT_LOCATED} worst shown)"
                            if len(self.located) > REPORT_LOCATED else ""))
            for t, index, g, e in self.located[:REPORT_LOCATED]:
                lines.append(f"    {t}{format_index(index)}: gradient {g: .4e}, "
                             f"estimate {e: .4e}")
        lines += [f"  note: {note}" for note in self.notes]
        lines.append("  tensors: " + ", ".join(
            f"{t.name} {t.outcome}" + (f" ({t.stop})" if t.stop not in ("", "exact") else "")
            for t in self.tested))
        return "\n".join(lines)
