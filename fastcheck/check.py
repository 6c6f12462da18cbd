"""``check``: the facade. Validate the options, ask the cost's adapter for the
engine, hand the coordinates to a driver, look closer where the verdict asks,
hand the numbers to the verdict."""

import time

import numpy as np

from . import verdict as V
from .costs import adapt
from .engines.probe import one_sided
from .errors import CostError, OptionError
from .run import cluster, run_dask, run_local, validate_cluster, validate_threads
from .sampling import coordinates, validate_seed
from .step import default_steps, steps_for

METHODS = ("central", "richardson", "complex")
#: Cost evaluations per coordinate of each method.
EVALUATIONS = {"central": 2, "richardson": 4, "complex": 1}
#: Coordinates per tensor on which the complex step is compared with real
#: differences before it is trusted.
COMPLEX_PROBES = 2


def prepare(cost, params, grads, args):
    """Validate a check's inputs: (adapter, grad_flat (P,)) for ``cost``."""
    adapter = adapt(cost, params, args)
    return adapter, adapter.layout.gather_grads(grads, adapter.notes)


def check(cost, params, grads, *args, eps=None, threshold=None, method="central",
          sample=None, seed=0, engine="auto", progress=None, threads=None, jit=None,
          only=None, exclude=None, client=None, workers=None, _coordinates=None):
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
        ``W1``, each of its parameter's shape (or that shape with axes of
        length 1 added or dropped); other keys are ignored.
    *args
        Passed to the cost after the parameters (jit costs and models: X, Y).
    eps : float, optional
        A fixed absolute step. Default: a step scaled to each parameter,
        c * max(1, |theta_i|), c = cbrt(machine epsilon) for "central",
        machine epsilon ** (1/5) for "richardson"; 1e-20 for "complex".
    threshold : float, optional
        Each coordinate may differ from its estimate by its error estimate plus
        ``threshold`` times the larger of the two; default 1e-7. The
        exercise's relative ``difference`` is reported as it always was.
    method : {"central", "richardson", "complex"}
        Central differences, O(h^2), 2 evaluations per coordinate; Richardson's
        O(h^4) combination of steps h and h/2, 4 evaluations; the complex step
        Im J(theta + i h e_i) / h, 1 evaluation, exact to rounding, for costs
        that run in complex arithmetic (verified before it is trusted).
    sample : int or float, optional
        Check this many coordinates (or this fraction of P), stratified so that
        every tensor is represented; deterministic for ``seed``.
    only, exclude : str or iterable of str, optional
        Check only the tensors ``only`` names, or all but those ``exclude``
        names (both may be given; with ``sample``, the sample is drawn from the
        tensors left). The others appear in the report with 0 coordinates
        checked. A name that is not a tensor, or leaving none, is an
        ``OptionError``.
    _coordinates : (n,) int64, optional
        Private (``fastcheck.locate``): check exactly these sorted flat indices.
    engine : {"auto", "python", "generic", "layered"}
        "auto" uses the cost's default: "layered" for built-in models,
        "generic" for jit costs; for a plain Python cost, "generic" (its code
        compiled by Numba, helpers included) when that is cached or pays for
        its compile, else "python".
    progress : bool, optional
        Show a progress bar; default: when the check runs more than a second
        and stderr is a terminal.
    threads : int, optional
        Numba threads for this call only.
    jit : bool, optional
        For a Python cost: True compiles it (``CompileError`` if Numba cannot,
        saying which line), False never does; None decides as "auto" says.

    Returns
    -------
    CheckResult
        ``passed`` is True when every coordinate agrees with the gradient
        within its error estimate (at kinks: within the left and right slopes).
    """
    threshold = V.resolve_threshold(threshold)
    if method not in METHODS:
        raise OptionError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                          f"got {method!r}")
    if progress not in (None, True, False):
        raise OptionError(f"progress must be True, False or None, got {progress!r}")
    threads = validate_threads(threads)
    validate_cluster(client, workers, threads)
    validate_seed(seed)
    adapter, grad_flat = prepare(cost, params, grads, args)
    layout, theta = adapter.layout, adapter.theta
    idx = (coordinates(layout, sample, seed, only=only, exclude=exclude)
           if _coordinates is None else _coordinates)
    h = steps_for(theta[idx], eps, lambda k: layout.describe(idx[k]), method)

    start = time.perf_counter()
    tick = time.perf_counter()
    j0 = adapter.evaluate(theta, "at the given parameters")
    per_coordinate = EVALUATIONS[method] * max(time.perf_counter() - tick, 1e-7)
    ensure_deterministic(adapter, theta, j0)
    name = adapter.resolve_engine(engine, method, per_coordinate, idx.size, jit=jit)
    noise = V.cost_noise(j0, adapter.value_eps)
    # Real steps for looking closer (the complex step's own is far too small).
    h_real = h if method != "complex" else default_steps(theta[idx], "central")
    verified = (verify_complex_step(adapter, idx, h, h_real, j0, noise, threshold, seed)
                if method == "complex" else 0)
    if client is None and workers is None:
        est = run_local(adapter, name, method, idx, h, threads=threads, progress=progress,
                        seconds_per_coordinate=per_coordinate)
    else:
        with cluster(client, workers) as dask_client:
            est = run_dask(adapter, name, method, idx, h, client=dask_client,
                           progress=progress, seconds_per_coordinate=per_coordinate)
    grad = grad_flat[idx]
    error = V.error_estimate(method, h, est.out, grad, noise)
    grad_eps = V.gradient_precision(params, grads, layout.names)
    rounding = V.gradient_rounding(grad_eps, grad_flat)
    allowed = V.allowance(error, grad, est.out, threshold) + rounding
    judgement = np.zeros(idx.size, dtype=np.int8)
    tensor = np.searchsorted(layout.offsets, idx, side="right") - 1
    disagree = np.abs(grad - est.out) > allowed
    judgement[disagree] = V.UNRESOLVED
    order = V.probe_order(tensor, grad, est.out, allowed)[:V.PROBE_MAX]
    if order.size:
        slopes = one_sided(adapter.fast_evaluate, theta, layout, idx[order], h_real[order], j0,
                           deadline=time.perf_counter() + V.PROBE_SECONDS)
        done = order[:len(slopes)]
        judgement[done], _ = V.judge_probes(grad[done], slopes, h_real[done], noise, threshold,
                                            rounding)
        error[done] = 6.0 * noise / h_real[done]
    if adapter.value_eps > V.CHECKABLE_EPS:  # too coarse: say so rather than judge
        judgement[judgement != V.MISTAKE] = V.UNRESOLVED
    flagged = est.kinks | (judgement == V.KINK)
    compile_seconds = adapter.compile_seconds
    seconds = time.perf_counter() - start - compile_seconds
    return V.judge(layout=layout, grad_flat=grad_flat, approx=est.out, idx=idx,
                   threshold=threshold, method=method, engine=est.engine,
                   eps=None if eps is None else float(eps), error=error, allowed=allowed,
                   judgement=judgement, flagged=flagged,
                   evaluations=(EVALUATIONS[method] * idx.size + 2 + verified
                                + 4 * int((judgement[order] != V.UNRESOLVED).sum())),
                   seconds=seconds,
                   notes=adapter.notes + V.precision_notes(params, grad_eps, rounding),
                   scratch_bytes=est.scratch_bytes, compile_seconds=compile_seconds)


def ensure_deterministic(adapter, theta, j0):
    """``CostError`` unless a second evaluation at theta gives ``j0`` again: a
    random layer (unseeded dropout, noise) makes differences that no gradient
    could match, and fastcheck would blame the gradient for them."""
    again = adapter.evaluate(theta, "at the given parameters, a second time")
    if again != j0:
        raise CostError(
            f"the cost is not deterministic: two evaluations at the same parameters gave "
            f"{j0!r} and {again!r} (a difference of {abs(again - j0):.3g}). A random layer "
            "(dropout, noise) must draw the same numbers every call: seed it inside the "
            "cost (rng = np.random.default_rng(0) on each call) or turn it off for the check")


def verify_complex_step(adapter, idx, h, h_real, j0, noise, threshold, seed):
    """``CostError`` unless the cost carries the imaginary part of its parameters;
    else the number of evaluations it took (five per coordinate it tried).

    A cost that drops it (``np.var`` of complex data is real, a complex value
    assigned into a float array keeps the real part, ``abs``) gives a complex
    step that is simply wrong. On ``COMPLEX_PROBES`` coordinates per tensor:
    Re J(theta + i h e_i) must be J(theta) to rounding, and Im J / h must lie
    within the real one-sided slopes there (a bracket, so kinks do not count).
    """
    layout, theta = adapter.layout, adapter.theta
    tensor = np.searchsorted(layout.offsets, idx, side="right") - 1
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.permutation(np.flatnonzero(tensor == t))[:COMPLEX_PROBES]
                            for t in np.unique(tensor)])
    row = theta.astype(np.complex128)
    for k in picks:
        i = int(idx[k])
        row[i] += 1j * h[k]
        value = adapter.evaluate(row, f"with {layout.describe(i)} perturbed by +ih")
        row[i] = theta[i]
        slope = value.imag / h[k]
        slopes = one_sided(adapter.evaluate, theta, layout, idx[k:k + 1], h_real[k:k + 1], j0)
        code, real = V.judge_probes(np.array([slope]), slopes, h_real[k:k + 1], noise,
                                    threshold)
        if abs(value.real - j0) > noise or code[0] == V.MISTAKE:
            raise CostError(
                f"the cost does not carry the imaginary part of its parameters, so "
                f"method='complex' cannot check it: at {layout.describe(i)} the complex step "
                f"gives {slope:.6g} (real part {value.real!r}) where real differences give "
                f"{real[0]:.6g} (J = {j0!r}). Something in the forward pass keeps only real "
                "parts: np.var or np.std of complex data, abs(), a complex value assigned "
                "into a float array (np.zeros without dtype), float(). Use "
                "method='central' or 'richardson'")
    return 5 * picks.size
