"""The engine passes a driver runs, one record each (``PASSES``).

A pass is an engine method that is pure over a block of its work: it depends
only on the engine's construction and its arguments, so a driver may run its
blocks in any order, on any thread, or in another process that built its own
engine. A record says everything a driver needs to run one without knowing
what it computes: the method to call, the shape of its work (how it is counted,
cut into blocks and sliced for another process, and how a failed item is
named), the shape of each item's values and how many cost evaluations an item
takes (for block sizes and progress).

A new pass is an engine method plus one line in ``PASSES``.
"""

from typing import Callable, NamedTuple

import numpy as np

from ..errors import CostError

#: Direction entries (flat index + delta, 16 bytes each) in one block of the
#: ``points`` pass: a block of whole-tensor directions over a million
#: parameters stays within a few tens of MB.
MAX_ENTRIES = 1 << 21


class Work(NamedTuple):
    """A shape of work: a tuple of n-item sequences, cut and named alike.

    ``cut(work, start, size, rows)`` gives the engine method's arguments for
    the block of items start..stop-1 and stop: at most ``size`` items, enough
    for ``rows`` threads where the shape bounds a block otherwise.
    ``fail(work, k, error, describe)`` raises the ``CostError`` of item k, whose
    values are not finite (``error``: what a compiled cost raised, or None);
    ``span(work, lo, hi, describe)`` names items lo..hi-1 in words.
    ``describe(i)`` names flat index i (``Layout.describe``). ``unit`` is what
    a progress bar counts.
    """

    name: str
    unit: str
    cut: Callable
    fail: Callable
    span: Callable


def items(work):
    """How many items ``work`` holds."""
    return len(work[0])


def take(work, lo, hi):
    """Items lo..hi-1 of ``work``, as work of the same shape (for another process)."""
    return tuple(part[lo:hi] for part in work)


def _cut_coordinate_work(work, start, size, rows):
    idx, h = work
    stop = min(idx.shape[0], start + size)
    return (idx[start:stop], h[start:stop]), stop


def _fail_coordinate(work, k, error, describe):
    name = describe(int(work[0][k]))
    if error is not None:
        raise CostError(f"the cost raised {type(error).__name__} ({error}) inside compiled code "
                        f"when {name} was perturbed. Call the cost from Python at that point "
                        "to see why") from None
    raise CostError(f"the finite difference for {name} is not finite: the cost returned NaN "
                    "or Inf, or raised inside compiled code, when it was perturbed. Call the "
                    "cost from Python at that point to see why")


def _span_coordinate_work(work, lo, hi, describe):
    idx = work[0]
    return f"the block of coordinates from {describe(int(idx[lo]))} to {describe(int(idx[hi - 1]))}"


#: Flat indices ``idx`` (n,) int64 with their steps ``h`` (n,).
COORDINATES = Work("coordinates", "coord", _cut_coordinate_work, _fail_coordinate,
                   _span_coordinate_work)


def _cut_directions(work, start, size, rows):
    """Directions start..stop-1 packed as (ptr, idx, delta): at most ``size``
    of them, at least ``rows`` (so every thread has work) and else at most
    ``MAX_ENTRIES`` entries."""
    subsets, deltas = work
    stop, entries, count = start, 0, len(subsets)
    while stop < count and stop - start < size and (
            stop - start < rows or entries + subsets[stop].size <= MAX_ENTRIES):
        entries += subsets[stop].size
        stop += 1
    stop = max(stop, min(count, start + 1))
    sizes = [s.size for s in subsets[start:stop]]
    ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    idx = np.concatenate(subsets[start:stop], dtype=np.int64, casting="same_kind")
    delta = np.concatenate(deltas[start:stop], dtype=np.float64, casting="same_kind")
    return (ptr, idx, delta), stop


def _fail_direction(work, k, error, describe):
    S = work[0][k]
    raised = f"raised {type(error).__name__} ({error}) " if error is not None else \
        "returned NaN or Inf, or raised inside compiled code, "
    raise CostError(f"the cost {raised}along a direction over {S.size} coordinates starting at "
                    f"{describe(int(S[0]))} (fastcheck.locate). Call the cost from Python at "
                    "theta +- 1e-7 there to see why") from error


def _span_directions(work, lo, hi, describe):
    S = work[0][lo]
    return (f"the block of {hi - lo} directions whose first is over {S.size} coordinates "
            f"starting at {describe(int(S[0]))}")


#: Signed subset directions: flat index arrays ``subsets[k]`` with their
#: perturbations ``deltas[k]`` (lists of D arrays).
DIRECTIONS = Work("directions", "dir", _cut_directions, _fail_direction, _span_directions)


class Pass(NamedTuple):
    """One engine pass: ``engine.<method>(*args) -> engines.Block`` for the
    arguments ``work.cut`` gives; each item's values have shape ``shape``
    (the block's ``out`` is (n,) + shape) and cost ``evaluations(method)``
    evaluations of J (``method``: the plan's ``planning.methods.Method``)."""

    method: str
    work: Work
    shape: tuple
    evaluations: Callable


#: Every pass a driver runs, by name.
PASSES = {
    # The estimates at coordinates, by the plan's method.
    "block": Pass("block", COORDINATES, (), lambda method: method.evaluations),
    # The closer look's one-sided slopes R(h), R(h/2), L(h), L(h/2).
    "slopes": Pass("slopes", COORDINATES, (4,), lambda method: 4),
    # J at theta +- delta along signed subset directions (fastcheck.locate).
    "points": Pass("points", DIRECTIONS, (2,), lambda method: 2),
}


def pass_record(name):
    """The ``Pass`` called ``name``, or ``ValueError``."""
    if name not in PASSES:
        raise ValueError(f"an engine has no pass {name!r}; its passes are {tuple(PASSES)}")
    return PASSES[name]
