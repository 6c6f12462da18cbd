"""The search of ``fastcheck.locate``: every tensor tested along random-sign
directions (``grouptest.GroupTest``, J from a driver's ``points`` pass), the
tensors that fail bisected over rows, columns and coordinates down to the
candidates the coordinate check confirms.
"""

import contextlib
import functools
from typing import NamedTuple

import numpy as np

from ..drivers import driver
from ..report.locate import TensorTest, WrongBlock
from .grouptest import AMBIG, FAIL, LEAF, PASS, GroupTest

#: Candidate sets of a matrix up to this size go to the coordinate check whole;
#: larger ones are bisected coordinate by coordinate first.
EXACT_CANDIDATES = 1024
#: Candidate sets larger than this, or left by a bisection stopped as dense or
#: over budget, are reported as a block; a sample of ``BLOCK_SAMPLE`` of their
#: coordinates is confirmed (the closer look examines 64 per tensor anyway).
BLOCK_CANDIDATES, BLOCK_SAMPLE = 4096, 256


class Found(NamedTuple):
    """What a search found: ``tested`` (a ``TensorTest`` per tensor tested),
    ``blocks`` (tensors wrong almost everywhere), ``candidates`` (sorted flat
    indices for the coordinate check), the ``evaluations`` it made and its
    ``clean_tests`` (tests passed after r clean trials, each of which may miss)."""

    tested: list
    blocks: list
    candidates: np.ndarray
    evaluations: int
    clean_tests: int


def search(plan, points):
    """Run the ``SearchPlan`` ``plan`` with J from ``points(subsets, deltas) ->
    (j_plus, j_minus)``: a ``Found``."""
    layout, seed = plan.layout, plan.seed
    test = GroupTest(points, plan.theta, plan.grad_flat, plan.h, plan.tau, plan.repeats,
                     np.random.default_rng(seed), slack=plan.rounding)
    tested, blocks, confirm = [], [], []
    for k in plan.tensors:
        row, picked = search_tensor(test, layout, k, plan.repeats)
        tested.append(row)
        if row.stop in ("dense", "budget") or picked.size > BLOCK_CANDIDATES:
            blocks.append(WrongBlock(layout.names[k], int(picked.size), row.stop))
            if picked.size > BLOCK_SAMPLE:
                picked = np.sort(np.random.default_rng([seed, k]).choice(
                    picked, BLOCK_SAMPLE, replace=False))
        confirm.append(picked)
    candidates = np.unique(np.concatenate(confirm)).astype(np.int64)
    return Found(tested, blocks, candidates, test.evaluations, test.clean_tests)


@contextlib.contextmanager
def points_driver(adapter, plan, *, client=None, workers=None, threads=None, progress=None):
    """``points(subsets, deltas) -> (j_plus, j_minus)`` for ``plan``'s engine, by
    the ``points`` pass of the driver for the options, closed after the body."""
    with driver(adapter, plan, client=client, workers=workers, threads=threads,
                progress=progress) as runner:
        yield functools.partial(run_points, runner)


def run_points(runner, subsets, deltas):
    """J at theta +- ``deltas[k]`` on the flat indices ``subsets[k]``: (j_plus (D,),
    j_minus (D,)), by ``runner``'s ``points`` pass."""
    values = runner.run("points", (subsets, deltas)).out
    return values[:, 0], values[:, 1]


def search_tensor(test, layout, k, repeats):
    """Test tensor ``k`` of ``layout`` and bisect it if it fails: (``TensorTest``,
    sorted flat indices (n,) for the coordinate check)."""
    o, n, shape = layout.offsets[k], layout.offsets[k + 1] - layout.offsets[k], layout.shapes[k]
    name = layout.names[k]
    everything = np.arange(o, o + n, dtype=np.int64)
    if n <= repeats:  # as cheap to check every coordinate as to test the tensor
        return TensorTest(name, n, "checked", "exact", 0), everything
    spent = test.evaluations
    outcome = test.test([everything])[0]
    if outcome == PASS:
        return TensorTest(name, n, PASS, "", test.evaluations - spent), everything[:0]
    budget = 2 * n
    if len(shape) >= 2 and shape[0] > 1 and n // shape[0] > 1:
        R = shape[0]
        C = n // R
        rows = test.search(R, lambda a, b: np.arange(o + a * C, o + b * C, dtype=np.int64),
                           1, budget)
        r_ids = ranges(rows.items + rows.diffuse)
        c_ids, cols_stop = r_ids[:0], "exact"
        if r_ids.size:
            # Columns are searched within the rows found only: a kink or an error
            # elsewhere in the tensor cannot make their halves fail or look ambiguous.
            # Ranges of at most LEAF coordinates go to the coordinate check, as in
            # the flat search (cheaper than bisecting on, and a kink's ambiguous
            # halves stop splitting there).
            cols = test.search(C, lambda a, b: (o + r_ids[:, None] * C
                                                + np.arange(a, b)[None, :]).ravel(),
                               max(1, LEAF // r_ids.size),
                               max(0, budget - (test.evaluations - spent)))
            c_ids, cols_stop = ranges(cols.items + cols.diffuse), cols.stop
        # A whole row (column) makes every column (row) fail: the product of
        # what the two searches found is exact unless it is large.
        picked = np.sort((o + r_ids[:, None] * C + c_ids[None, :]).ravel())
        dense = rows.stop != "exact" and cols_stop != "exact"
        stop = "dense" if dense else "exact"
        if picked.size > EXACT_CANDIDATES and not dense:
            left = max(0, budget - (test.evaluations - spent))
            flat = test.search(picked.size, lambda a, b: picked[a:b], LEAF, left)
            picked = picked[ranges(flat.items + flat.diffuse)]
            stop = flat.stop
    else:
        flat = test.search(n, lambda a, b: everything[a:b], LEAF, budget)
        picked = everything[ranges(flat.items + flat.diffuse)]
        stop = flat.stop
    word = {FAIL: "failed", AMBIG: "ambiguous"}[outcome]
    return TensorTest(name, n, word, stop, test.evaluations - spent), picked


def ranges(spans):
    """Sorted unique integers covered by the (a, b) ``spans``: (n,) int64."""
    if not spans:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in spans]))
