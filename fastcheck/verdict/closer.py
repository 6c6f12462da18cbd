"""How much of the closer look a check spends, and where: rounds that stop
looking at a tensor once it is shown WRONG.

The closer look costs four evaluations per coordinate (``engines.probe``). A
tensor's status and the check's verdict change only until one of its
coordinates is judged MISTAKE: after that the tensor is WRONG whatever its
other coordinates show. So the closer look runs in rounds (1, 1, 2, 4, ...
coordinates of each tensor still open, worst first, the order
``rules.probe_order`` gives), and a tensor leaves the rounds when a probe
finds a mistake in it or its disagreeing coordinates (at most
``PROBE_PER_TENSOR``) are all examined. A tensor that is not WRONG is
examined exactly as far as it would be without rounds, so a correct gradient
(disagreeing only at kinks) gets the same verdict; a wrong one is settled at
about one probe per wrong tensor instead of up to 64.

The coordinates of WRONG tensors left then are examined only to list more of
them in ``res.located``, within ``located_budget`` coordinates in all: at least
``LOCATED_FLOOR``, else ``LOCATED_FRACTION`` of the first look's evaluations.
Those left unexamined are counted in the report, never called wrong.
"""

import math

import numpy as np

from .norms import distinct
from .rules import MISTAKE, PROBE_PER_TENSOR, judge_probes

#: Coordinates the closer look may examine in all (rounds included) to list
#: the wrong ones of tensors already WRONG: at least this many...
LOCATED_FLOOR = 8
#: ...or this fraction of the first look's evaluations, in evaluations (4 each):
#: a check that stays in Python pays every one of them, and the report lists 20.
LOCATED_FRACTION = 0.02
#: Evaluations per coordinate of the closer look (``engines.probe.one_sided``).
PROBE_EVALUATIONS = 4


def located_budget(plan):
    """Coordinates the closer look of ``plan`` may examine in all while every
    tensor left to examine is already WRONG: ``LOCATED_FLOOR``, or
    ``LOCATED_FRACTION`` of the first look's evaluations, whichever is more."""
    first = plan.method.evaluations * plan.idx.size
    return max(LOCATED_FLOOR, math.ceil(LOCATED_FRACTION * first / PROBE_EVALUATIONS))


def round_sizes():
    """Coordinates per open tensor in each round: 1, 1, 2, 4, ... (at most
    ``PROBE_PER_TENSOR`` in all)."""
    total, size = 0, 1
    while total < PROBE_PER_TENSOR:
        size = min(size, PROBE_PER_TENSOR - total)
        yield size
        total += size
        size = max(1, total)


class Rounds:
    """The closer look at ``look.order``'s coordinates of ``plan``, a round at a
    time: ``next()`` gives the positions (into ``order``) to examine now (empty
    when done), ``record(positions, slopes, done)`` takes what the ``slopes``
    pass gave for them. ``out`` (k, 4) and ``done`` (k,) over ``order`` are what
    ``verdict.judge`` reads. ``examine_all`` (``locate``'s candidates) examines
    every coordinate of ``order`` in one round."""

    def __init__(self, plan, order, *, examine_all=False):
        self.plan, self.order = plan, order
        self.examine_all = examine_all
        k = order.size
        self.out = np.full((k, PROBE_EVALUATIONS), np.nan)
        self.done = np.zeros(k, dtype=bool)
        self.asked = np.zeros(k, dtype=bool)
        tensor = plan.layout.tensor_of(plan.idx[order])
        self.tensor = tensor
        # Each tensor's positions in ``order``, worst first (probe_order keeps that
        # order within a tensor).
        self.queues = {int(t): np.flatnonzero(tensor == t) for t in distinct(tensor)}
        self.wrong = set()
        self.sizes = round_sizes()
        self.budget = located_budget(plan)
        self.stopped = False
        # Of their evaluations, those taken from the first pass (``costs.reuse``).
        self.reused = 0

    def next(self):
        """Positions (into ``order``) to examine in the next round; empty: done."""
        if self.stopped or self.asked.all():
            return np.zeros(0, dtype=np.int64)
        if self.examine_all:
            return np.flatnonzero(~self.asked)
        open_ = [t for t in self.queues if t not in self.wrong
                 and not self.asked[self.queues[t]].all()]
        if open_:
            size = next(self.sizes, 0)
            if size:
                picks = [self.queues[t][~self.asked[self.queues[t]]][:size] for t in open_]
                return np.sort(np.concatenate(picks))
        # Every tensor left is WRONG (or examined): list more of their wrong
        # coordinates, in order's turn-taking order, within the budget.
        room = self.budget - int(self.asked.sum())
        left = np.flatnonzero(~self.asked)
        return left[:max(room, 0)]

    def record(self, positions, slopes, done):
        """Take the ``slopes`` (m, 4) of ``positions`` (m,), ``done`` (m,) False
        where a deadline stopped the pass first (then the closer look stops)."""
        self.asked[positions] = True
        if not done.all():
            self.stopped = True
        positions, slopes = positions[done], slopes[done]
        self.out[positions] = slopes
        self.done[positions] = True
        plan, at = self.plan, self.order[positions]
        codes, _ = judge_probes(plan.grad[at], slopes, plan.h_real[at], plan.noise,
                                plan.threshold, plan.rounding)
        self.wrong.update(int(t) for t in distinct(self.tensor[positions][codes == MISTAKE]))
