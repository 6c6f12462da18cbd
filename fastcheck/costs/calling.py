"""Calling a user's cost: the one place its exceptions are translated.

Every adapter and engine calls the cost through ``call_cost``: an exception
the cost raises becomes a ``CostError`` that says where (which coordinate was
perturbed), except ``PASS_THROUGH``, which say something about the process and
propagate as themselves, with a note.
"""

from ..errors import CostError

#: Raised inside a cost, these say something about the process (out of memory, too
#: deep, interrupted), not about the cost: they propagate as themselves, so that
#: ``except MemoryError`` still catches them, with a note saying where.
PASS_THROUGH = (MemoryError, RecursionError, KeyboardInterrupt)


class Perturbed:
    """Where an evaluation happened, for error messages only: formats as
    ``"with W1[2, 3] perturbed by +h (h = 1e-07)"`` when an error needs it, so
    the hot loop does not pay for the words."""

    __slots__ = ("layout", "i", "sign", "h")

    def __init__(self, layout, i, sign, h):
        self.layout, self.i, self.sign, self.h = layout, i, sign, h

    def __str__(self):
        return (f"with {self.layout.describe(self.i)} perturbed by {self.sign}h "
                f"(h = {self.h:.3g})")


class Along:
    """Where a direction's evaluation happened (``fastcheck.locate``), for error
    messages only, like ``Perturbed``."""

    __slots__ = ("layout", "idx")

    def __init__(self, layout, idx):
        self.layout, self.idx = layout, idx

    def __str__(self):
        first = self.layout.describe(int(self.idx[0])) if self.idx.size else "nothing"
        return (f"along a direction over {self.idx.size} coordinates (from {first}), "
                "fastcheck.locate")


def note_where(exc, where):
    """Add to ``exc`` (one of ``PASS_THROUGH``) a note of where the cost raised it."""
    exc.add_note(f"fastcheck: raised inside the cost {where}")


class translated:
    """Run the body, a call of the cost evaluated ``where``: ``PASS_THROUGH``
    propagate with a note, any other exception becomes a ``CostError`` naming
    ``where`` (``hint`` appended), chained to it. A class, not a generator: it
    wraps every evaluation, and costs a tenth of ``contextlib``'s."""

    __slots__ = ("where", "hint")

    def __init__(self, where, hint=""):
        self.where, self.hint = where, hint

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, PASS_THROUGH):
            note_where(exc, self.where)
            return False
        # CostError: fastcheck's own word on the value, already saying where.
        if exc is None or isinstance(exc, CostError) or not isinstance(exc, Exception):
            return False
        raise CostError(f"the cost raised {type(exc).__name__} {self.where}: {exc}"
                        f"{self.hint}") from exc


def call_cost(function, *args, where):
    """``function(*args)``, a call of the cost evaluated ``where``, its errors
    translated as ``translated`` says."""
    with translated(where):
        return function(*args)
