"""``check``: the facade. Validate, flatten, pick the engine, drive it, report."""

import time

import numpy as np

from .driver import run_blocks, thread_count, validate_threads
from .dispatch import build_engine
from .errors import InputTypeError, OptionError
from .jitcost import as_jit_cost
from .layout import Layout
from .models import MLP
from .result import CheckResult, relative_difference, resolve_threshold, tensor_rows
from .step import steps_for

METHODS = ("central",)


def check(cost, params, grads, *args, eps=None, threshold=None, method="central",
          sample=None, seed=0, engine="auto", progress=None, threads=None):
    """Compare ``grads`` with central differences of ``cost`` at ``params``.

    Parameters
    ----------
    cost : callable
        ``cost(params_dict, *args)`` returning a float (or a tuple whose first
        element is the cost), or a ``@fastcheck.jit_cost`` cost
        ``cost(theta, X, Y)`` over the flat parameter vector.
    params : mapping of str -> array_like
        The parameters, in the order they are stacked into theta (P,).
    grads : mapping of str -> array_like
        The backward pass's gradients, keyed ``dW1`` or ``W1`` for parameter
        ``W1``, each of its parameter's shape; other keys are ignored.
    *args
        Passed to the cost after the parameters (for a jit cost: X and Y).
    eps : float, optional
        A fixed absolute step. Default: a step scaled to each parameter,
        cbrt(machine epsilon) * max(1, |theta_i|).
    threshold : float, optional
        The check passes when ``difference < threshold``; default 1e-7.
    engine : {"auto", "python", "generic", "layered"}
        "auto" uses "layered" for built-in models, "generic" for jit costs and
        "python" for the rest.
    progress : bool, optional
        Show a progress bar; default: when the check runs more than a second
        and stderr is a terminal.
    threads : int, optional
        Numba threads for this call only.

    Returns
    -------
    CheckResult
    """
    threshold = resolve_threshold(threshold)
    if method not in METHODS:
        raise OptionError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                          f"got {method!r}")
    if sample is not None:
        raise OptionError("sample= is not supported yet; check all coordinates "
                          "(sample=None)")
    if progress not in (None, True, False):
        raise OptionError(f"progress must be True, False or None, got {progress!r}")
    threads = validate_threads(threads)
    if not callable(cost):
        raise InputTypeError(f"cost must be callable, got {type(cost).__name__}")
    cost = as_jit_cost(cost) or cost

    if isinstance(cost, MLP):
        layout, theta = cost.layout, cost.flatten(params)
    else:
        layout = Layout.from_params(params)
        theta = layout.flatten(params)
    grad_flat = layout.gather_grads(grads)
    idx = np.arange(layout.size, dtype=np.int64)
    h = steps_for(theta[idx], eps, lambda k: layout.describe(idx[k]))

    start = time.perf_counter()
    with thread_count(threads) as rows:
        run, evaluate = build_engine(engine, cost, layout, theta, args, rows)
        tick = time.perf_counter()
        evaluate(theta, "at the given parameters")
        # The first block takes about a tenth of a second, judged by one evaluation.
        first = int(0.1 / (2.0 * max(time.perf_counter() - tick, 1e-7))) * rows
        with run:
            approx = run_blocks(run, idx, h, describe=layout.describe, progress=progress,
                                first_block=max(first, rows))
    seconds = time.perf_counter() - start

    flagged = np.concatenate(getattr(run, "flagged", []) or [np.empty(0, np.int64)])
    gradapprox_flat = np.full(layout.size, np.nan)
    gradapprox_flat[idx] = approx
    notes = [f"parameter {name!r} is {dtype}; checked in float64"
             for name, dtype in zip(layout.names, layout.dtypes)
             if dtype.kind == "f" and dtype.itemsize < 8]
    return CheckResult(
        difference=relative_difference(grad_flat[idx], approx), threshold=threshold,
        layout=layout, grad_flat=grad_flat, gradapprox_flat=gradapprox_flat, indices=idx,
        per_tensor=tensor_rows(layout, grad_flat, gradapprox_flat, idx),
        method=method, engine=run.name, eps=None if eps is None else float(eps),
        evaluations=2 * idx.size + 1, seconds=seconds, notes=notes,
        kinks=[layout.locate(i) for i in np.sort(flagged)])
