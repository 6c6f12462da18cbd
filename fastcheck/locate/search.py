"""The search of ``fastcheck.locate``: the whole gradient tested along
random-sign directions (``grouptest.GroupTest``, J from a driver's ``points``
pass); where it fails, the failing tensors found by halving the tensor list,
each probed at two coordinates (wrong at both: a block) and otherwise bisected
over rows, columns and coordinates down to the candidates the coordinate check
confirms; then a clean test of what is left, round after round.

Quick tests (``QUICK`` trials) steer the search; only clean tests of r trials
pass anything, so a half that slipped through a quick test is caught by the
clean test that ends the round. Costs, one wrong coordinate among P: about
4 + 6 log2(P) for the search and 2 r for the clean test.
"""

import contextlib
import functools
from typing import NamedTuple

import numpy as np

from ..drivers import driver
from ..report.locate import TensorTest, WrongBlock
from .grouptest import AMBIG, FAIL, PASS, GroupTest

#: Candidate sets of a matrix up to this size go to the coordinate check whole;
#: larger ones are bisected coordinate by coordinate first.
EXACT_CANDIDATES = 1024
#: Candidate sets larger than this, or left by a bisection stopped as dense or
#: over budget, are reported as a block; a sample of ``BLOCK_SAMPLE`` of their
#: coordinates is confirmed (enough for the factor note; the rest is the block).
BLOCK_CANDIDATES, BLOCK_SAMPLE = 4096, 32
#: Clean trials of a half inside a search: few, since nothing is passed on them
#: alone; the clean test of everything left (``repeats`` trials) that ends each
#: round is what the miss bound counts.
QUICK = 2
#: A search is made only where checking every coordinate left would cost this
#: many times what finding one wrong coordinate does (``expected_search``): a
#: search that finds several costs several times that, and must still pay.
PAYS = 4
#: Rounds of (clean test of what is left, search where it fails).
ROUNDS = 4
#: Tensors (what is left of them) this small go to the coordinate check whole
#: once their probes did not find them dense: 2 n evaluations, no more than a
#: quick test and a bisection would spend.
SMALL = 8
#: Coordinates probed one by one in a failing tensor: when every probe fails, the
#: tensor is wrong almost everywhere (a block) and its probes are its sample.
PROBES = 2
#: The search over tensors stops as dense (each tensor then probed and tested
#: alone) once this deep with at least this share of its halves failing.
TENSORS_DENSE = (2, 0.99)


class Found(NamedTuple):
    """What a search found: ``tested`` (a ``TensorTest`` per tensor tested),
    ``blocks`` (tensors wrong almost everywhere), ``candidates`` (sorted flat
    indices for the coordinate check), the ``evaluations`` it made and its
    ``clean_tests`` (tests passed after r clean trials, each of which may miss)
    and ``detectable``, the smallest error in one coordinate they were all sure
    to see (0.0 when none passed)."""

    tested: list
    blocks: list
    candidates: np.ndarray
    evaluations: int
    clean_tests: int
    detectable: float


class _Tally:
    """Per tensor k of a search: what happened to it (outcome, stop) and the
    evaluations spent on it alone."""

    def __init__(self, tensors):
        self.outcome = {k: PASS for k in tensors}
        self.stop = {k: "" for k in tensors}
        self.spent = {k: 0 for k in tensors}

    def rows(self, layout, tensors):
        word = {PASS: PASS, FAIL: "failed", AMBIG: "ambiguous"}
        return [TensorTest(layout.names[k], int(layout.offsets[k + 1] - layout.offsets[k]),
                           word.get(self.outcome[k], self.outcome[k]), self.stop[k],
                           int(self.spent[k])) for k in tensors]


def search(plan, points):
    """Run the ``SearchPlan`` ``plan`` with J from ``points(subsets, deltas) ->
    (j_plus, j_minus)``: a ``Found``.

    Each round tests everything not yet a candidate or a block with r clean
    trials (the first round: the whole gradient at once, so a correct gradient
    costs about 2 r evaluations whatever its number of tensors); where that
    fails, finds the failing tensors by halving the tensor list, probes each
    for a dense error and bisects the sparse ones with quick tests.
    """
    layout, seed, tensors = plan.layout, plan.seed, list(plan.tensors)
    test = GroupTest(points, plan.theta, plan.grad_flat, plan.h, plan.tau, plan.repeats,
                     np.random.default_rng(seed), slack=plan.rounding)
    tally = _Tally(tensors)
    sizes = {k: int(layout.offsets[k + 1] - layout.offsets[k]) for k in tensors}
    left = {k: np.arange(layout.offsets[k], layout.offsets[k + 1], dtype=np.int64)
            for k in tensors}
    # What the search may spend before everything left goes to the coordinate
    # check: a search that has not freed the gradient by then would not pay.
    budget = sum(sizes.values()) // 2
    blocks, confirm = [], []
    for round_ in range(ROUNDS + 1):
        live = [k for k in tensors if left[k].size]
        total = sum(left[k].size for k in live)
        if not live:
            break
        if total <= plan.repeats or (round_ and (
                test.evaluations + 2 * plan.repeats > budget
                or PAYS * expected_search(total, plan.repeats) >= 2 * total)):
            # Checking what is left costs no more than testing it (or searching
            # on would not pay): a tensor no test passed alone is "checked".
            for k in live:
                confirm.append(left[k])
                if tally.outcome[k] == PASS:
                    tally.outcome[k] = "checked"
                else:
                    tally.stop[k] = tally.stop[k] or "checked"
                left[k] = left[k][:0]
            break
        whole = np.concatenate([left[k] for k in live])
        outcome = test.test([whole])[0]
        del whole
        if outcome == PASS:
            break
        if not round_ and PAYS * expected_search(total, plan.repeats) >= 2 * total:
            continue     # cheaper to check every coordinate: the next round does
        if round_ == ROUNDS:
            for k in live:   # still failing after the last round: said, not searched
                tally.outcome[k], tally.stop[k] = outcome, "rounds"
            break
        for k, known in failing_tensors(test, live, left, outcome):
            spent = test.evaluations
            picked, block, stop, word = search_tensor(
                test, layout, k, left[k], known, whole=left[k].size == sizes[k],
                budget=max(0, budget - test.evaluations))
            tally.spent[k] += test.evaluations - spent
            if word == PASS:
                continue
            tally.outcome[k] = word if tally.outcome[k] == PASS else tally.outcome[k]
            tally.stop[k] = stop if stop not in ("", "exact") or not tally.stop[k] else \
                tally.stop[k]
            if block:
                blocks.append(WrongBlock(layout.names[k], int(left[k].size), stop))
                if picked.size > BLOCK_SAMPLE:
                    picked = np.sort(np.random.default_rng([seed, k]).choice(
                        picked, BLOCK_SAMPLE, replace=False))
                left[k] = left[k][:0]
            else:
                left[k] = np.setdiff1d(left[k], picked, assume_unique=True)
            confirm.append(picked)
    candidates = (np.unique(np.concatenate(confirm)).astype(np.int64) if confirm
                  else np.zeros(0, dtype=np.int64))
    return Found(tally.rows(layout, tensors), blocks, candidates, test.evaluations,
                 test.clean_tests, test.detectable)


def expected_search(total, repeats):
    """About what finding one wrong coordinate among ``total`` costs: a quick
    test of both halves at each level and a clean test after."""
    return 4 * repeats + 10 * int(np.ceil(np.log2(max(total, 2))))


def failing_tensors(test, live, left, outcome):
    """The tensors among ``live`` (with flat indices ``left[k]``) whose union
    just failed: [(k, known)], ``known`` the tensor's outcome (FAIL or AMBIG)
    where it was tested alone, else None. Halves the tensor list with quick
    tests; when nearly every half fails (an error everywhere) the tensors of
    the failing groups are handed on untested, each to be probed and tested
    alone."""
    if len(live) == 1:    # ``outcome``: the union's own, here the tensor's
        return [(live[0], outcome)]

    def subset(a, b):
        return np.concatenate([left[k] for k in live[a:b]])

    found = test.search(len(live), subset, 1, np.inf, repeats=QUICK, dense=TENSORS_DENSE)
    out = []
    for a, b in sorted(found.items + found.diffuse):
        out += [(live[i], found.outcomes.get((a, b)) if b - a == 1 else None)
                for i in range(a, b)]
    seen, unique = set(), []
    for k, known in out:
        if k not in seen:
            seen.add(k)
            unique.append((k, known))
    return unique


def search_tensor(test, layout, k, idx, known, *, whole, budget):
    """Search tensor ``k`` of ``layout`` over its flat indices ``idx`` (n,) (all of
    it when ``whole``): (picked (m,) sorted flat indices for the coordinate
    check, block (bool), stop, outcome word: "pass", "failed", "ambiguous" or
    "checked"). ``known``: its outcome when it was tested alone (None: tested
    here, unless it is all that failed). At most about
    ``budget`` evaluations on the bisection.
    """
    n = idx.size
    if n <= PROBES:
        return idx, False, "", "checked"
    probes = probe_coordinates(test, idx, k)
    if test.test([np.array([j]) for j in probes], 1).count(FAIL) == probes.size:
        # Wrong wherever it was probed: a block, confirmed on one probe (the
        # confirming check takes up to six evaluations a wrong coordinate).
        return probes[:1], True, "probed", "failed"
    if n <= SMALL:
        return idx, False, "", "checked"
    if known is None:
        known = test.test([idx], QUICK)[0]
        if known == PASS:
            return idx[:0], False, "", PASS
    word = "ambiguous" if known == AMBIG else "failed"
    shape = layout.shapes[k]
    o = layout.offsets[k]
    if whole and len(shape) >= 2 and shape[0] > 1 and n // shape[0] > 1:
        picked, stop = search_matrix(test, o, shape[0], n // shape[0], budget)
    else:
        flat = test.search(n, lambda a, b: idx[a:b], SMALL, budget, repeats=QUICK)
        picked, stop = idx[ranges(flat.items + flat.diffuse)], flat.stop
    block = stop in ("dense", "budget") or picked.size > BLOCK_CANDIDATES
    return picked, block, stop if block else "exact", word


def probe_coordinates(test, idx, k):
    """``PROBES`` coordinates of ``idx`` drawn at random among those whose
    gradient is at least the tensor's median magnitude (an error in proportion
    to the gradient, a wrong factor, shows there)."""
    g = np.abs(test.grad[idx])
    big = idx[g >= np.median(g)] if g.size else idx
    if big.size <= PROBES:
        return big
    return np.sort(test.rng.choice(big, PROBES, replace=False))


def search_matrix(test, o, R, C, budget):
    """Bisect the rows, then the columns within the rows found, of the R x C
    matrix at flat offset ``o``: (picked flat indices, stop)."""
    spent = test.evaluations
    rows = test.search(R, lambda a, b: np.arange(o + a * C, o + b * C, dtype=np.int64),
                       1, budget, repeats=QUICK)
    r_ids = ranges(rows.items + rows.diffuse)
    c_ids, cols_stop = r_ids[:0], "exact"
    if r_ids.size:
        # Columns are searched within the rows found only: a kink or an error
        # elsewhere in the tensor cannot make their halves fail or look ambiguous.
        cols = test.search(C, lambda a, b: (o + r_ids[:, None] * C
                                            + np.arange(a, b)[None, :]).ravel(),
                           max(1, SMALL // r_ids.size),
                           max(0, budget - (test.evaluations - spent)), repeats=QUICK)
        c_ids, cols_stop = ranges(cols.items + cols.diffuse), cols.stop
    # A whole row (column) makes every column (row) fail: the product of what the
    # two searches found is exact unless it is large.
    picked = np.sort((o + r_ids[:, None] * C + c_ids[None, :]).ravel())
    dense = rows.stop != "exact" and cols_stop != "exact"
    stop = "dense" if dense else "exact"
    if picked.size > EXACT_CANDIDATES and not dense:
        left = max(0, budget - (test.evaluations - spent))
        flat = test.search(picked.size, lambda a, b: picked[a:b], SMALL, left, repeats=QUICK)
        picked = picked[ranges(flat.items + flat.diffuse)]
        stop = flat.stop
    return picked, stop


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


def ranges(spans):
    """Sorted unique integers covered by the (a, b) ``spans``: (n,) int64."""
    if not spans:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in spans]))
