"""``check``: the facade. Validate the options, ask the cost's adapter for the
engine, hand the coordinates to a driver, hand the numbers to the verdict."""

import time

import numpy as np

from .costs import adapt
from .errors import OptionError
from .run import run_local, validate_threads
from .sampling import coordinates, validate_seed
from .step import steps_for
from .verdict import judge, precision_notes, resolve_threshold

METHODS = ("central", "richardson", "complex")
#: Cost evaluations per coordinate of each method.
EVALUATIONS = {"central": 2, "richardson": 4, "complex": 1}


def prepare(cost, params, grads, args):
    """Validate a check's inputs: (adapter, grad_flat (P,)) for ``cost``."""
    adapter = adapt(cost, params, args)
    return adapter, adapter.layout.gather_grads(grads)


def check(cost, params, grads, *args, eps=None, threshold=None, method="central",
          sample=None, seed=0, engine="auto", progress=None, threads=None):
    """Compare ``grads`` with numerical derivatives of ``cost`` at ``params``.

    Parameters
    ----------
    cost : callable
        ``cost(params_dict, *args)`` returning a float (or a tuple whose first
        element is the cost); a ``@fastcheck.jit_cost`` cost ``cost(theta, X, Y)``
        over the flat parameter vector; or a built-in model (``fastcheck.models``).
    params : mapping of str -> array_like
        The parameters, in the order they are stacked into theta (P,).
    grads : mapping of str -> array_like
        The backward pass's gradients, keyed ``dW1`` or ``W1`` for parameter
        ``W1``, each of its parameter's shape; other keys are ignored.
    *args
        Passed to the cost after the parameters (jit costs and models: X, Y).
    eps : float, optional
        A fixed absolute step. Default: a step scaled to each parameter,
        c * max(1, |theta_i|), c = cbrt(machine epsilon) for "central",
        machine epsilon ** (1/5) for "richardson"; 1e-20 for "complex".
    threshold : float, optional
        The check passes when ``difference < threshold``; default 1e-7.
    method : {"central", "richardson", "complex"}
        Central differences, O(h^2), 2 evaluations per coordinate; Richardson's
        O(h^4) combination of steps h and h/2, 4 evaluations, which also flags
        kinks; the complex step Im J(theta + i h e_i) / h, 1 evaluation, exact
        to rounding, for costs that run in complex arithmetic.
    sample : int or float, optional
        Check this many coordinates (or this fraction of P), stratified so that
        every tensor is represented; deterministic for ``seed``.
    engine : {"auto", "python", "generic", "layered"}
        "auto" uses the cost's default: "layered" for built-in models,
        "generic" for jit costs, "python" for the rest.
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
    if progress not in (None, True, False):
        raise OptionError(f"progress must be True, False or None, got {progress!r}")
    threads = validate_threads(threads)
    validate_seed(seed)
    adapter, grad_flat = prepare(cost, params, grads, args)
    layout, theta = adapter.layout, adapter.theta
    name = adapter.resolve_engine(engine, method)
    idx = coordinates(layout, sample, seed)
    h = steps_for(theta[idx], eps, lambda k: layout.describe(idx[k]), method)

    start = time.perf_counter()
    if method == "complex":  # fails early for a cost that cannot run complex
        adapter.evaluate(theta.astype(np.complex128), "at the given parameters")
    tick = time.perf_counter()
    j0 = adapter.evaluate(theta, "at the given parameters")
    per_coordinate = EVALUATIONS[method] * max(time.perf_counter() - tick, 1e-7)
    est = run_local(adapter, name, method, idx, h, threads=threads, progress=progress,
                    seconds_per_coordinate=per_coordinate)
    seconds = time.perf_counter() - start
    return judge(layout=layout, grad_flat=grad_flat, approx=est.out, idx=idx,
                 threshold=threshold, method=method, engine=est.engine,
                 eps=None if eps is None else float(eps), h=h, j0=j0, aux=est.aux,
                 kinked=est.kinks, evaluations=EVALUATIONS[method] * idx.size + 1,
                 seconds=seconds, notes=adapter.notes + precision_notes(params),
                 scratch_bytes=est.scratch_bytes)
