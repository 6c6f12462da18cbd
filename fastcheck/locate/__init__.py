"""``locate``: where a large network's gradient is wrong, in a few hundred
evaluations whatever its size and number of tensors.

Validate the options and the memory budget, make a search plan on the cost's
baseline (``planning.search``: steps and trial threshold from the measured
noise), screen the whole gradient along random-sign directions and search
where it fails (``locate.search``, J from a driver's ``points`` pass), then
confirm the candidates with a coordinate plan on the same baseline, run and
judged as ``fastcheck.check`` runs and judges its own (``check.run_plan``): a
coordinate is blamed on the same evidence, error estimate and closer look.
"""

import time

from .. import verdict as V
from ..check import held, prepare, run_plan, validate_options
from ..planning.methods import CENTRAL_METHOD
from ..planning.plan import make_plan
from ..planning.search import make_search
from ..planning.search import resolve_repeats
from ..errors import MemoryBudgetError
from ..runtime.memory import available_bytes, ensure_fits, format_bytes
from .grouptest import CHUNK_ENTRIES
from .hessian import locate_hvp
from ..complexparams import has_complex, locate_complex
from .search import points_driver, search

#: Bytes per direction entry held while a chunk of trials runs: its flat index,
#: delta, the gathered theta, gradient, step and slack, the moved steps, and the
#: driver's packed copy of index and delta.
ENTRY_BYTES = 80
#: (P,) arrays a search holds besides the parameters: steps, slack, the indices
#: left per tensor and of the whole screen, the candidates.
SEARCH_ARRAYS = 6


def search_bytes(P, repeats):
    """Bytes of scratch a search over P parameters with ``repeats`` trials holds
    at most: a chunk of directions (never all r at once) and a few (P,) arrays."""
    entries = min(CHUNK_ENTRIES, max(P, repeats * P))
    return ENTRY_BYTES * entries + 8 * SEARCH_ARRAYS * P


def locate(cost, params, grads, *args, eps=None, threshold=None, repeats=None, seed=0,
           engine="auto", progress=None, threads=None, jit=None, only=None, exclude=None,
           client=None, workers=None, hvp=None, complex_grad=None):
    """Find where ``grads`` is wrong without checking every coordinate.

    The whole gradient is tested along ``repeats`` random-sign directions
    (signs +-1, magnitudes uniform in [1, 2], steps h_i = 1e-7 max(1,
    |theta_i|), longer for a cost coarser than float64); where it fails, the
    failing tensors are found by halving the tensor list, probed for a dense
    error (a block) and otherwise bisected over rows, columns and coordinates,
    and a clean test of what is left ends each round. Every candidate is
    confirmed by the coordinate check of ``fastcheck.check``. About 2 r
    evaluations and the noise line for a correct gradient.

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

    With ``hvp=`` (the rule ``hvp(v)`` or the dense Hessian, as for
    ``fastcheck.check_hvp``), ``grads`` is the gradient function ``grad(params,
    *args)`` and ``cost`` is not evaluated (None will do): the wrong entries of
    the Hessian the rule implies are named instead (``locate.hessian``), an
    ``HvpLocateResult``; ``threshold`` and ``seed`` apply. Complex parameters
    and ``complex_grad`` as for ``fastcheck.check``: ``z.real[i]`` and ``z.imag[i]``
    are located.
    """
    if hvp is not None:
        return locate_hvp(grads, params, hvp, *args, threshold=threshold, seed=seed)
    if complex_grad is not None or has_complex(params):  # z as z.real and z.imag
        return locate_complex(locate, cost, params, grads, args, complex_grad, dict(
            eps=eps, threshold=threshold, repeats=repeats, seed=seed, engine=engine,
            progress=progress, threads=threads, jit=jit, only=only, exclude=exclude,
            client=client, workers=workers))
    threshold = V.resolve_threshold(threshold)
    threads = validate_options(CENTRAL_METHOD.name, progress, threads, client, workers, seed)
    adapter, grad_flat = prepare(cost, params, grads, args)
    # Before the cost runs at all: the directions are drawn chunk by chunk, so
    # what must fit is one chunk and the search's (P,) arrays.
    needed = search_bytes(adapter.layout.size, resolve_repeats(repeats))
    try:
        ensure_fits(needed, "fastcheck.locate")
    except MemoryBudgetError:
        raise MemoryBudgetError(
            f"fastcheck.locate over {adapter.layout.size} parameters needs about "
            f"{format_bytes(needed)} of scratch (one chunk of directions and a few copies "
            f"of theta), but only {format_bytes(available_bytes())} is available: search "
            "fewer tensors at a time (only=[...] or exclude=[...]) or give the process "
            "more memory") from None
    start = time.perf_counter()
    with held(adapter):
        plan = make_search(adapter, grad_flat, params, grads, eps=eps, repeats=repeats,
                           seed=seed, engine=engine, jit=jit, only=only, exclude=exclude)
        with points_driver(adapter, plan, client=client, workers=workers, threads=threads,
                           progress=progress) as points:
            found = search(plan, points)
        searched = time.perf_counter() - start
        confirm = make_plan(adapter, grad_flat, params, grads, eps=eps, threshold=threshold,
                            seed=seed, coordinates=found.candidates, baseline=plan.baseline)
        confirmed = run_plan(adapter, confirm, time.perf_counter(), client=client,
                             workers=workers, threads=threads, progress=progress,
                             examine_all=True)
        return V.judge_located(
            layout=plan.layout, confirmed=confirmed, tested=found.tested, blocks=found.blocks,
            repeats=plan.repeats, clean_tests=found.clean_tests, tau=plan.tau, h=plan.h,
            tensors=plan.tensors, detectable=found.detectable,
            evaluations=found.evaluations + plan.baseline.evaluations + confirmed.evaluations,
            seconds=searched + confirmed.seconds, engine=plan.engine,
            compile_seconds=plan.baseline.compile_seconds,
            engine_reason=V.engine_reason(adapter.kind, engine, jit, plan.engine,
                                          plan.baseline.compile_seconds, plan.baseline.notes))
