"""``locate``: where a large network's gradient is wrong, in about one percent
of the full check's evaluations.

Validate the options, test every tensor along random-sign directions
(``grouptest.GroupTest``, J from a ``points`` driver), bisect the tensors that
fail down to candidate coordinates, and hand those to the ordinary coordinate
check (``check(..., _coordinates=...)``): a coordinate is blamed on the same
evidence, error estimate and closer look as in ``fastcheck.check``.
"""

import math
import time

import numpy as np

from .. import verdict as V
from ..check import check, prepare
from ..planning.plan import ensure_deterministic
from ..errors import OptionError
from .grouptest import AMBIG, FAIL, LEAF, PASS, GroupTest
from ..planning.methods import CENTRAL_METHOD
from ..report.locate import TensorTest, WrongBlock
from ..drivers import cluster, validate_cluster, validate_threads
from ..drivers.points import DaskPoints, LocalPoints
from ..planning.sampling import chosen_tensors, validate_seed
from ..planning.step import positive_finite

#: The miss bound per test that ``repeats=None`` aims at: r = 20 gives 2^-20 = 9.5e-7.
MISS_PER_TEST = 1e-6
#: Steps along directions, relative to max(1, |theta_i|): the exercise's h.
#: Not the coordinate check's cbrt(eps) = 6e-6: truncation along a +-1
#: direction over n coordinates grows about as n^1.5 h^3, and at 6e-6 it would
#: make every whole-tensor trial of a large tensor step-inconsistent
#: (research/locate.md measured 1e-7 at noise level over 800k coordinates).
DIRECTION_STEP = 1e-7
#: Candidate sets of a matrix up to this size go to the coordinate check whole;
#: larger ones are bisected coordinate by coordinate first.
EXACT_CANDIDATES = 1024
#: Candidate sets larger than this, or left by a bisection stopped as dense or
#: over budget, are reported as a block; a sample of ``BLOCK_SAMPLE`` of their
#: coordinates is confirmed (the closer look examines 64 per tensor anyway).
BLOCK_CANDIDATES, BLOCK_SAMPLE = 4096, 256
#: What "auto" assumes a locate evaluates, to weigh compiling a Python cost.
EXPECTED_EVALUATIONS = 2000


def resolve_repeats(repeats):
    """r: clean trials per test; None picks r with 2^-r <= ``MISS_PER_TEST``."""
    if repeats is None:
        return math.ceil(-math.log2(MISS_PER_TEST))
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise OptionError(f"repeats must be a positive integer (clean trials per test), "
                          f"got {repeats!r}")
    return int(repeats)


def direction_steps(theta, eps):
    """(P,) steps along directions: ``DIRECTION_STEP`` * max(1, |theta_i|) as
    really stored, or the fixed ``eps``."""
    if eps is None:
        h = DIRECTION_STEP * np.maximum(1.0, np.abs(theta))
        return (theta + h) - theta
    return np.full(theta.shape, positive_finite(eps, "eps"))


def locate(cost, params, grads, *args, eps=None, threshold=None, repeats=None, seed=0,
           engine="auto", progress=None, threads=None, jit=None, only=None, exclude=None,
           client=None, workers=None):
    """Find where ``grads`` is wrong without checking every coordinate.

    Every tensor is tested along ``repeats`` random-sign directions (signs
    +-1, magnitudes uniform in [1, 2], steps h_i = 1e-7 max(1, |theta_i|));
    a tensor that fails is bisected over its rows and columns (then
    coordinates), and every candidate is confirmed by the coordinate check of
    ``fastcheck.check``. About 2 r evaluations per clean tensor.

    Parameters
    ----------
    cost, params, grads, *args
        As for ``fastcheck.check``: a Python cost, a ``@fastcheck.jit_cost`` or a
        built-in model.
    eps : float, optional
        A fixed step, for the directions and the confirming check; default
        1e-7 max(1, |theta_i|) along directions, ``check``'s rule when confirming.
    threshold : float, optional
        The confirming check's threshold (``check``'s); default 1e-7.
    repeats : int, optional
        Clean trials to pass a subset; a subset with an error above the trial
        threshold passes them with probability at most 2^-repeats. Default 20.
    seed : int
        Seeds the directions: the same seed gives the same result, on any
        engine, number of threads or cluster.
    engine, progress, threads, jit, only, exclude, client, workers
        As for ``fastcheck.check`` (the layered engine's models evaluate
        directions through their compiled cost on the generic engine).

    Returns
    -------
    LocateResult
        ``located`` lists the coordinates confirmed wrong, ``blocks`` the
        tensors wrong almost everywhere, ``miss_probability`` the bound on
        having passed an error above the trial threshold.
    """
    threshold = V.resolve_threshold(threshold)
    repeats = resolve_repeats(repeats)
    if progress not in (None, True, False):
        raise OptionError(f"progress must be True, False or None, got {progress!r}")
    threads = validate_threads(threads)
    validate_cluster(client, workers, threads)
    seed = validate_seed(seed)
    adapter, grad_flat = prepare(cost, params, grads, args)
    layout, theta = adapter.layout, adapter.theta
    tensors = chosen_tensors(layout, only, exclude)
    h = direction_steps(theta, eps)

    start = time.perf_counter()
    tick = time.perf_counter()
    j0 = adapter.evaluate(theta, "at the given parameters")
    per_evaluation = max(time.perf_counter() - tick, 1e-7)
    ensure_deterministic(adapter, theta, j0)
    name = adapter.resolve_engine(engine, CENTRAL_METHOD, 2 * per_evaluation,
                                  EXPECTED_EVALUATIONS // 2, jit=jit).name
    # The layered engine differentiates coordinates; directions need whole
    # forward passes, which a model's packed compiled cost gives on the generic one.
    points_engine = "generic" if name == "layered" else name
    tau = V.trial_threshold(adapter.value_eps, j0)
    rounding = V.gradient_rounding(V.gradient_precision(params, grads, layout.names), grad_flat)

    def search(points):
        test = GroupTest(points, theta, grad_flat, h, tau, repeats, np.random.default_rng(seed),
                         slack=rounding)
        tested, blocks, confirm = [], [], []
        for k in tensors:
            row, picked = search_tensor(test, layout, k, repeats)
            tested.append(row)
            if row.stop in ("dense", "budget") or picked.size > BLOCK_CANDIDATES:
                blocks.append(WrongBlock(layout.names[k], int(picked.size), row.stop))
                if picked.size > BLOCK_SAMPLE:
                    picked = np.sort(np.random.default_rng([seed, k]).choice(
                        picked, BLOCK_SAMPLE, replace=False))
            confirm.append(picked)
        return test, tested, blocks, np.unique(np.concatenate(confirm)).astype(np.int64)

    if client is None and workers is None:
        points = LocalPoints(adapter, points_engine, threads=threads, progress=progress)
        try:
            test, tested, blocks, idx = search(points)
        finally:
            points.close()
    else:
        with cluster(client, workers) as dask_client:
            points = DaskPoints(adapter, points_engine, client=dask_client, progress=progress)
            try:
                test, tested, blocks, idx = search(points)
            finally:
                points.close()
    searched = time.perf_counter() - start

    confirmed = check(cost, params, grads, *args, eps=eps, threshold=threshold, seed=seed,
                      engine=name if engine == "auto" else engine, progress=progress,
                      threads=threads, jit=jit, client=client, workers=workers,
                      _coordinates=idx)
    return V.judge_located(
        layout=layout, confirmed=confirmed, tested=tested, blocks=blocks, repeats=repeats,
        clean_tests=test.clean_tests, tau=tau, h=h, tensors=tensors,
        evaluations=test.evaluations + 2 + confirmed.evaluations,
        seconds=searched + confirmed.seconds, engine=points.name)


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
