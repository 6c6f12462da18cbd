"""The first pass's values at each coordinate's steps, kept for the closer look.

The python engine's first pass evaluates J(theta + s e_i) at each
coordinate's stencil points (central differences: s = +h and -h; Richardson's:
+-h and +-h/2). The closer look at a coordinate that disagrees asks for J at
theta +- h and +- h/2 (``engines.probe.one_sided``) with the same h: the same
points, to the bit (both set theta_i to fl(theta_i + s) on a copy of theta and
leave every other entry at theta). A check runs only deterministic costs
(``planning.baseline.ensure_deterministic``), so J there is the value the first
pass got: the closer look takes it from here instead of evaluating again, 2
evaluations per probed coordinate instead of 4 after central differences,
none after Richardson's. Nothing changes but the count: the slopes, and so
every verdict, are the ones fresh evaluations give.

Kept only for the python engine (where an evaluation is the cost of a check),
by coordinate evaluated.
"""

from .calling import Perturbed

#: Coordinates whose values are kept (about 250 bytes each after central
#: differences); a larger first pass keeps the first ones only, and the closer
#: look evaluates the others' points again, as before.
MAX_COORDINATES = 250_000


class StepValues:
    """J at theta + s e_i for up to ``slots`` steps s of each coordinate i evaluated.

    ``recording(evaluate)`` is ``evaluate`` that also keeps each value it
    computes at a single-coordinate step (a ``Perturbed`` evaluation: every
    other entry at theta, as the engines promise); ``reusing(evaluate)`` is
    ``evaluate`` that gives a kept value at the same point (theta_i equal to
    the bit) instead of calling it, counting those in ``reused``. Kept by
    coordinate, only for the coordinates a first pass evaluated (``locate``'s
    confirmation evaluates a few of a million).
    """

    def __init__(self, slots):
        self.slots = slots
        self.points = {}  # i -> [theta_i + s, J, theta_i + s', J', ...]
        self.reused = 0

    @classmethod
    def fitting(cls, size, slots):
        """A ``StepValues`` for a cost of ``size`` parameters (None: keep nothing)."""
        return cls(slots)

    def recording(self, evaluate):
        points, slots = self.points, self.slots

        def recorded(theta, where):
            j = evaluate(theta, where)
            if type(where) is Perturbed and theta.dtype.kind == "f":
                i = where.i
                kept = points.get(i)
                if kept is None:
                    if len(points) < MAX_COORDINATES:
                        points[i] = [float(theta[i]), j]
                elif len(kept) < 2 * slots:  # a coordinate evaluated again keeps its first
                    kept += (float(theta[i]), j)
            return j
        return recorded

    def reusing(self, evaluate):
        points = self.points

        def reused(theta, where):
            if type(where) is Perturbed and theta.dtype.kind == "f":
                kept = points.get(where.i)
                if kept is not None:
                    at = float(theta[where.i])
                    for k in range(0, len(kept), 2):
                        if kept[k] == at:
                            self.reused += 1
                            return kept[k + 1]
            return evaluate(theta, where)
        return reused
