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

Kept in two (P, slots) arrays, 16 bytes per parameter and stencil point,
and only for the python engine (where an evaluation is the cost of a check).
"""

import numpy as np

from .calling import Perturbed

#: Bytes the kept values may take; a larger check keeps none (its closer look
#: evaluates all four points, as before).
MAX_BYTES = 64 * 2**20


class StepValues:
    """J at theta + s e_i for up to ``slots`` steps s of each of ``size`` coordinates.

    ``recording(evaluate)`` is ``evaluate`` that also keeps each value it
    computes at a single-coordinate step (a ``Perturbed`` evaluation: every
    other entry at theta, as the engines promise); ``reusing(evaluate)`` is
    ``evaluate`` that gives a kept value at the same point instead of calling
    it, counting those in ``reused``.
    """

    def __init__(self, size, slots):
        self.slots = slots
        self.at = np.full((size, slots), np.nan)  # theta_i + s, as evaluated
        self.value = np.empty((size, slots))
        self.count = np.zeros(size, dtype=np.int8)
        self.reused = 0

    @classmethod
    def fitting(cls, size, slots):
        """A ``StepValues``, or None when it would take more than ``MAX_BYTES``."""
        return cls(size, slots) if 16 * size * slots <= MAX_BYTES else None

    def recording(self, evaluate):
        at, value, count, slots = self.at, self.value, self.count, self.slots

        def recorded(theta, where):
            j = evaluate(theta, where)
            if type(where) is Perturbed and theta.dtype.kind == "f":
                i = where.i
                k = count[i]
                if k < slots:  # a coordinate evaluated again (locate) keeps its first
                    at[i, k], value[i, k] = theta[i], j
                    count[i] = k + 1
            return j
        return recorded

    def reusing(self, evaluate):
        at, value = self.at, self.value

        def reused(theta, where):
            if type(where) is Perturbed and theta.dtype.kind == "f":
                i = where.i
                hit = np.flatnonzero(at[i] == theta[i])
                if hit.size:
                    self.reused += 1
                    return float(value[i, hit[0]])
            return evaluate(theta, where)
        return reused
