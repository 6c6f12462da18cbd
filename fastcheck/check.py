"""``check``: the facade. Validate the options, make the plan, hand it to a
driver, look closer where the verdict's first look asks, hand the numbers to
the verdict (``run_plan``, which ``locate`` runs on its candidates too)."""

import contextlib
import dataclasses
import time

from . import verdict as V
from .costs import adapt
from .costs.base import left_at_theta
from .complexparams import check_complex, has_complex
from .errors import FastcheckError, MemoryBudgetError, OptionError
from .planning.methods import method_record
from .planning.plan import make_plan
from .drivers import driver, validate_cluster, validate_threads
from .drivers import pool as process_pool
from .runtime.blas import single_threaded_blas
from .runtime.memory import ran_out
from .verdict.closer import Rounds
from .planning.sampling import validate_seed
from .report.result import took_engines


def prepare(cost, params, grads, args):
    """Validate a check's inputs: (adapter, grad_flat (P,)) for ``cost``."""
    adapter = adapt(cost, params, args)
    grad_flat = adapter.layout.gather_grads(grads, adapter.notes)
    adapter.notes.extend(V.unknown_key_notes(adapter.layout.names, grads))
    return adapter, grad_flat


def check(cost, params, grads, *args, eps=None, threshold=None, method="central",
          sample=None, seed=0, engine="auto", progress=None, threads=None, jit=None,
          only=None, exclude=None, client=None, workers=None, complex_grad=None):
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
        c * max(1, |theta_i|), c = cbrt(machine epsilon) for central differences,
        machine epsilon ** (1/5) for Richardson's; 1e-20 for the complex step.
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
    engine : {"auto", "python", "generic", "layered", "incremental"}
        "auto" uses the cost's default: "layered" for built-in models,
        "generic" for jit costs; for a plain Python cost, "generic" (its code
        compiled by Numba, helpers included) when that is cached or pays for
        its compile, else "python". "incremental" compiles the cost and traces
        it, then recomputes per coordinate only what depends on it (tensors it
        cannot run go to "generic", with a note); "auto" takes it for large
        compiled costs whose record it runs far cheaper than a whole evaluation.
    progress : bool, optional
        Show a progress bar; default: when the check runs more than a second
        and stderr is a terminal.
    threads : int, optional
        Numba threads for this call only.
    jit : bool or "trace", optional
        For a Python cost: True compiles it (``CompileError`` if Numba cannot,
        saying which line), False never does; None decides as "auto" says.
        Compiling tries the source compiler, then tracing (code built from
        objects); "trace" compiles by tracing only.
    complex_grad : {None, "conjugate"}
        For complex parameters (``fastcheck.complexparams``): the gradient is
        dJ/dRe(z) + i dJ/dIm(z) (PyTorch's), or with "conjugate" dJ/dRe(z) -
        i dJ/dIm(z) (JAX's); each complex tensor is checked as two real ones,
        ``z.real`` and ``z.imag``.

    Returns
    -------
    CheckResult
        ``passed`` is True when every coordinate agrees with the gradient
        within its error estimate (at kinks: within the left and right slopes).
    """
    if complex_grad is not None or has_complex(params):
        return check_complex(check, cost, params, grads, args, complex_grad, dict(
            eps=eps, threshold=threshold, method=method, sample=sample, seed=seed,
            engine=engine, progress=progress, threads=threads, jit=jit, only=only,
            exclude=exclude, client=client, workers=workers))
    threads = validate_options(method, progress, threads, client, workers, seed)
    adapter, grad_flat = prepare(cost, params, grads, args)
    start = time.perf_counter()
    with held(adapter, method_record(method).complex_step):
        plan = make_plan(adapter, grad_flat, params, grads, method=method, eps=eps,
                         threshold=threshold, sample=sample, seed=seed, only=only,
                         exclude=exclude, engine=engine, jit=jit)
        with numba_compiles() as compiled:
            res = run_plan(adapter, plan, start, client=client, workers=workers,
                           threads=threads, progress=progress)
    return with_kernel_compiles(res, sum(compiled), engine_reason=V.engine_reason(
        adapter.kind, engine, jit, plan.engine, plan.compile_seconds, plan.notes))


@contextlib.contextmanager
def numba_compiles():
    """A list that fills with the seconds of every Numba compile in the block, in
    any thread: fastcheck's own kernels compiled on first use (a cache hit is no
    compile)."""
    from numba.core import event
    seconds = []
    with event.install_timer("numba:compile", seconds.append):
        yield seconds


def with_kernel_compiles(res, kernels, **fields):
    """``res`` with ``kernels`` seconds of compiling moved from its check time to
    its ``compile_seconds``, a note saying so, and ``fields`` replaced."""
    if kernels >= 0.01:
        fields.update(seconds=max(0.0, res.seconds - kernels),
                      compile_seconds=res.compile_seconds + kernels,
                      notes=res.notes + [f"{kernels:.3g} s of the compiling was fastcheck's own "
                                         "kernels, compiled on first use and cached for later "
                                         "checks"])
    return dataclasses.replace(res, **fields)


@contextlib.contextmanager
def held(adapter, complex_step=False):
    """What every check of ``adapter``'s cost runs inside: BLAS on one thread
    (``runtime.blas``: the fastest for a check's forward passes, loaded or
    not), and the cost evaluated at theta last (``costs.base.left_at_theta``).
    A compile still running beside the check is stopped when it ends, whichever
    driver ran it. An allocation that does not fit, anywhere inside, is a
    ``MemoryBudgetError`` (``runtime.memory.ran_out``), never NumPy's bare
    ``MemoryError``."""
    try:
        with single_threaded_blas(compiled=False), left_at_theta(adapter, complex_step):
            try:
                yield
            finally:
                adapter.cancel_pending()
    except MemoryBudgetError:
        raise
    except MemoryError as exc:
        raise ran_out(exc) from None
    except Exception as exc:
        # Libraries that wrap it (Dask's serializer: "Could not serialize object")
        cause = out_of_memory(exc)
        if cause is None or isinstance(exc, FastcheckError):
            raise
        raise ran_out(cause) from None


def out_of_memory(exc):
    """The ``MemoryError`` that ``exc`` was raised from or during, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MemoryError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def run_plan(adapter, plan, start, *, client=None, workers=None, threads=None, progress=None,
             examine_all=False):
    """Drive a coordinate ``Plan``'s estimates, look closer where the verdict's first
    look asks, and judge: a ``CheckResult``, its time counted from ``start``
    (perf_counter seconds) less the plan's compiling.

    The closer look takes four evaluations per coordinate, for at most
    ``verdict.PROBE_SECONDS``, in rounds that leave a tensor once it is shown
    WRONG (``verdict.closer``), unless ``examine_all`` (``locate``'s candidates,
    already few: a kink left unexamined there would be "unsure"). A long Python
    check runs on every core (``drivers.pool``) unless the options say otherwise.
    """
    # A cost compiling beside the check moves to the compiled engine here, on
    # the local driver: the pool's workers are for costs that stay in Python.
    pool, note = ((0, None) if adapter.compiling() else
                  process_pool.chosen(plan, client=client, workers=workers, threads=threads))
    if note is not None:
        plan = plan._replace(notes=plan.notes + (note,))
    runs = (process_pool.session(adapter, plan, workers=pool, progress=progress) if pool else
            driver(adapter, plan, client=client, workers=workers, threads=threads,
                   progress=progress, items=plan.idx.size))
    with runs as runner:
        estimates = runner.run("block", (plan.idx, plan.h))
        order = V.first_look(plan, estimates).order
        slopes = None
        if order.size:
            deadline = None if examine_all else time.perf_counter() + V.PROBE_SECONDS
            reused = adapter.reused_evaluations()
            slopes = closer_look(runner, plan, order, deadline, examine_all)
            slopes.reused = adapter.reused_evaluations() - reused
    seconds = time.perf_counter() - start - plan.compile_seconds
    return took_engines(V.judge(plan, estimates, slopes, seconds=seconds), estimates)


def closer_look(runner, plan, order, deadline, examine_all):
    """The ``slopes`` pass over ``order``'s coordinates (positions into ``plan.idx``)
    in the rounds ``verdict.closer.Rounds`` gives: what ``verdict.judge`` reads
    (``out`` (k, 4), ``done`` (k,))."""
    rounds = Rounds(plan, order, examine_all=examine_all)
    while True:
        positions = rounds.next()
        if positions.size == 0:
            return rounds
        at = order[positions]
        ran = runner.run("slopes", (plan.idx[at], plan.h_real[at]), deadline=deadline)
        rounds.record(positions, ran.out, ran.done)


def validate_options(method, progress, threads, client, workers, seed):
    """``OptionError`` for an option of ``check`` that is not valid; else ``threads``
    as ``validate_threads`` gives it."""
    method_record(method)
    if progress not in (None, True, False):
        raise OptionError(f"progress must be True, False or None, got {progress!r}")
    threads = validate_threads(threads)
    validate_cluster(client, workers, threads)
    validate_seed(seed)
    return threads
