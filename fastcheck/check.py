"""``check``: the facade. Validate, flatten, pick the engine, drive it, report."""

import time

import numpy as np

from .dispatch import build_engine, make_evaluator, prepare, validate_engine
from .driver import run_blocks, thread_count, validate_threads
from .errors import OptionError
from .memory import format_bytes
from .result import CheckResult, relative_difference, resolve_threshold, tensor_rows
from .sampling import coordinates, validate_seed
from .step import steps_for

METHODS = ("central", "richardson", "complex")
#: Cost evaluations per coordinate of each method.
EVALUATIONS = {"central": 2, "richardson": 4, "complex": 1}
#: Richardson flags a coordinate when D(h) and D(h/2) differ by more than this
#: fraction of the estimate (or of the largest gradient entry, for tiny ones):
#: smooth costs keep them within ~1e-7 at the default step, a kink does not.
KINK_RTOL = 1e-3
#: A check expected to take less than this runs on one thread: on a busy
#: machine, joining a parallel region can cost milliseconds.
SERIAL_SECONDS = 1e-2
#: How many ulps of the cost rounding is taken to cost (see rounding_floor).
ROUNDING_ULPS = 100


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
    if progress not in (None, True, False):
        raise OptionError(f"progress must be True, False or None, got {progress!r}")
    threads = validate_threads(threads)
    validate_seed(seed)
    cost, layout, theta, grad_flat = prepare(cost, params, grads)
    validate_engine(engine, cost)
    idx = coordinates(layout, sample, seed)
    h = steps_for(theta[idx], eps, lambda k: layout.describe(idx[k]), method)

    start = time.perf_counter()
    evaluate, data = make_evaluator(cost, layout, args)
    if method == "complex":  # fails early for a cost that cannot run complex
        evaluate(theta.astype(np.complex128), "at the given parameters")
    tick = time.perf_counter()
    j0 = evaluate(theta, "at the given parameters")
    per_coordinate = EVALUATIONS[method] * max(time.perf_counter() - tick, 1e-7)
    if threads is None and per_coordinate * idx.size < SERIAL_SECONDS:
        threads = 1  # waking a second thread would cost more than it saves
    with thread_count(threads) as rows:
        run = build_engine(engine, cost, layout, theta, evaluate, data, rows, method)
        # The first block takes about a tenth of a second.
        first = max(rows, rows * int(0.1 / per_coordinate))
        with run:
            approx, aux = run_blocks(run, idx, h, describe=layout.describe,
                                     progress=progress, first_block=first,
                                     label=f"fastcheck {run.name} "
                                           f"(scratch {format_bytes(run.scratch_bytes)})")
    seconds = time.perf_counter() - start

    gradapprox_flat = np.full(layout.size, np.nan)
    gradapprox_flat[idx] = approx
    kinked = np.zeros(idx.size, dtype=bool)
    flagged = getattr(run, "flagged", [])
    if flagged:
        kinked |= np.isin(idx, np.concatenate(flagged))
    if method == "richardson":
        kinked |= disagreeing(aux, approx, grad_flat[idx], h, j0)
    difference = relative_difference(grad_flat[idx], approx)
    return CheckResult(
        difference=difference, threshold=threshold,
        layout=layout, grad_flat=grad_flat, gradapprox_flat=gradapprox_flat, indices=idx,
        per_tensor=tensor_rows(layout, grad_flat, gradapprox_flat, idx, kinked,
                               rounding_floor(method, h, j0)),
        method=method, engine=run.name, eps=None if eps is None else float(eps),
        evaluations=EVALUATIONS[method] * idx.size + 1, seconds=seconds,
        notes=precision_notes(params), scratch_bytes=run.scratch_bytes,
        kinks=[layout.locate(i) for i in idx[kinked]],
        difference_without_kinks=(relative_difference(grad_flat[idx[~kinked]], approx[~kinked])
                                  if kinked.any() else difference))


def disagreeing(aux, approx, grad, h, j0):
    """Coordinates (n,) bool whose estimates at h and h/2 disagree beyond
    truncation and rounding: the mark of a kink between the two steps.

    ``aux`` (n,) is D(h) - D(h/2), whose rounding is that of D(h/2): ten times
    the central floor leaves it room.
    """
    scale = np.maximum(np.abs(approx), np.abs(grad).max(initial=0.0))
    return np.abs(aux) > KINK_RTOL * scale + 10.0 * rounding_floor("central", h, j0)


def rounding_floor(method, h, j0):
    """(n,) error a finite difference makes from rounding alone: the cost is known
    to a few hundred ulps of max(1, |J|), divided by the step (Richardson's
    combination triples it). The complex step subtracts nothing: no floor."""
    if method == "complex":
        return np.zeros_like(h)
    floor = ROUNDING_ULPS * np.finfo(np.float64).eps * max(1.0, abs(j0)) / h
    return 3.0 * floor if method == "richardson" else floor


def precision_notes(params):
    """Notes for tensors given in a lower precision than the float64 used."""
    dtypes = {name: np.asarray(value).dtype for name, value in params.items()}
    return [f"parameter {name!r} is {dtype}; checked in float64"
            for name, dtype in dtypes.items() if dtype.kind == "f" and dtype.itemsize < 8]
