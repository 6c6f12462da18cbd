"""The local driver: runs an engine over all coordinates, a block at a time.

Between blocks Python regains control, so a progress bar moves and Ctrl-C
lands within about a block's time (a single long compiled call would ignore
it). Blocks grow until each takes about ``TARGET_SECONDS``.
"""

import contextlib
import time
from typing import NamedTuple

import numba
import numpy as np

from ..runtime.blas import single_threaded_blas
from ..errors import CostError, OptionError
from ..runtime.memory import ensure_fits, format_bytes
from .progress import progress_bar, visible

TARGET_SECONDS = 0.2
#: The first block takes about this long, so the block size adapts quickly.
FIRST_BLOCK_SECONDS = 0.1
#: A check expected to take longer than this shows a progress bar (progress=None).
PROGRESS_AFTER_SECONDS = 1.0
#: A check expected to take less than this runs on one thread: on a busy
#: machine, joining a parallel region can cost milliseconds.
SERIAL_SECONDS = 1e-2


#: The engine passes a driver runs, each ``engine.<name>(idx, h) -> Block``:
#: the estimates, and the closer look's one-sided slopes.
PASSES = ("block", "slopes")


class Estimates(NamedTuple):
    """What a driver's pass returns for the n coordinates it was given: the
    pass's values ``out`` ((n,) estimates, (n, 4) slopes), the kink flags (n,),
    ``done`` (n,), False where a deadline stopped the pass first, the engine
    that ran and its scratch in bytes."""

    out: np.ndarray
    kinks: np.ndarray
    done: np.ndarray
    engine: str
    scratch_bytes: int


def validate_threads(threads):
    """``threads`` as an int in [1, NUMBA_NUM_THREADS], or None for all of them."""
    if threads is None:
        return None
    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) \
            or not 1 <= threads <= limit:
        raise OptionError(f"threads must be an integer from 1 to {limit} "
                          f"(NUMBA_NUM_THREADS), got {threads!r}")
    return int(threads)


@contextlib.contextmanager
def thread_count(threads):
    """Run the body with ``threads`` Numba threads (None: unchanged), then restore."""
    before = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def _bar(progress, total, done, elapsed, label):
    """A tqdm bar if one should be shown now, else None."""
    if progress is False:
        return None
    if progress is None:
        expected = elapsed * total / max(done, 1)
        if expected < PROGRESS_AFTER_SECONDS or not visible():
            return None
    bar = progress_bar(total, label)
    bar.update(done)
    return bar


class LocalDriver:
    """Runs a plan's engine passes on this machine's Numba threads.

    A context manager: entering builds the engine once (its scratch checked
    against the memory budget first), ``run`` runs a pass of it in blocks, and
    leaving restores the thread count. ``threads`` None means all of them,
    unless the whole check is expected (from the plan's
    ``seconds_per_coordinate``) to take less than ``SERIAL_SECONDS``.
    """

    def __init__(self, adapter, plan, *, threads=None, progress=None):
        self.adapter, self.plan, self.threads, self.progress = adapter, plan, threads, progress
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        plan, threads = self.plan, self.threads
        if threads is None and plan.seconds_per_coordinate * plan.idx.size < SERIAL_SECONDS:
            threads = 1  # waking a second thread would cost more than it saves
        with contextlib.ExitStack() as stack:
            self.numba_threads = count = stack.enter_context(thread_count(threads))
            self.needed = self.adapter.scratch_bytes(plan.engine, plan.method, count)
            ensure_fits(self.needed, f"the {plan.engine} engine on {plan.layout.size} "
                                     f"parameters with {count} threads")
            self.engine = self.adapter.engine(plan.engine, plan.method, count, plan.j0)
            if self.engine.parallel and count > 1:
                # Numba's threads already fill the cores: BLAS threads would oversubscribe.
                stack.enter_context(single_threaded_blas())
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def run(self, pass_name, idx, h, *, seconds_per_coordinate, deadline=None):
        """Pass ``pass_name`` (one of ``PASSES``) over flat indices ``idx`` (n,) with
        steps ``h`` (n,), starting no block after ``deadline`` (perf_counter
        seconds). ``seconds_per_coordinate`` sizes the first block. Returns
        ``Estimates``."""
        step = engine_pass(self.engine, pass_name)
        count = self.numba_threads
        first = max(count, count * int(FIRST_BLOCK_SECONDS / max(seconds_per_coordinate, 1e-9)))
        out, kinks, done = run_blocks(
            step, idx, h, describe=self.plan.layout.describe,
            progress=self.progress, first_block=first, deadline=deadline,
            label=f"fastcheck {self.engine.name} (scratch {format_bytes(self.needed)})")
        return Estimates(out, kinks, np.arange(idx.shape[0]) < done, self.engine.name,
                         self.needed)


def engine_pass(engine, pass_name):
    """``engine``'s pass ``pass_name``, a function (idx, h) -> ``Block``."""
    if pass_name not in PASSES:
        raise ValueError(f"an engine has no pass {pass_name!r}; its passes are {PASSES}")
    return getattr(engine, pass_name)


def run_local(adapter, plan, *, threads=None, progress=None):
    """The ``Estimates`` of ``plan``'s ``block`` pass over its coordinates, run
    here (``LocalDriver``)."""
    with LocalDriver(adapter, plan, threads=threads, progress=progress) as driver:
        return driver.run("block", plan.idx, plan.h,
                          seconds_per_coordinate=plan.seconds_per_coordinate)


def run_blocks(step, idx, h, *, describe, progress=None, first_block=8, label="fastcheck",
               deadline=None):
    """Run an engine pass ``step(idx, h) -> Block`` over all of ``idx`` (n,) with
    steps ``h`` (n,), a block at a time, starting none after ``deadline``.

    Returns the pass's values (n, ...) (NaN where not done), the (n,) kink
    flags and how many coordinates, from the first, were done. Each block's
    values are checked when it returns: a compiled cost that raised on a
    worker thread leaves only NaN behind (the exception is lost there), on
    the calling thread it also raises; both become a ``CostError`` naming the
    coordinate. ``describe(i)`` names flat index i.
    """
    n = idx.shape[0]
    out, kinks = None, np.zeros(n, dtype=bool)
    size, done, bar = max(1, first_block), 0, None
    start = time.perf_counter()
    try:
        while done < n and not (deadline is not None and done
                                and time.perf_counter() > deadline):
            stop = min(n, done + size)
            tick = time.perf_counter()
            block = step(idx[done:stop], h[done:stop])
            took = time.perf_counter() - tick
            bad = ~np.isfinite(block.out).reshape(stop - done, -1).all(axis=1)
            if block.error is not None:
                # A compiled cost raised: its row stopped at the first unfinished coordinate.
                i = int(idx[done + int(np.argmax(bad))])
                raise CostError(f"the cost raised {type(block.error).__name__} ({block.error})"
                                f" inside compiled code when {describe(i)} was perturbed. "
                                "Call the cost from Python at that point to see why") \
                    from None
            if bad.any():
                i = int(idx[done + int(np.argmax(bad))])
                raise CostError(
                    f"the finite difference for {describe(i)} is not finite: the cost "
                    "returned NaN or Inf, or raised inside compiled code, when it was "
                    "perturbed. Call the cost from Python at that point to see why")
            if out is None:
                out = np.full((n,) + block.out.shape[1:], np.nan)
            out[done:stop], kinks[done:stop] = block.out, block.kinks
            if bar is None and progress is not False:
                # A new bar starts at ``stop``: this block is already counted.
                bar = _bar(progress, n, stop, time.perf_counter() - start, label)
            elif bar is not None:
                bar.update(stop - done)
            done = stop
            # Aim for TARGET_SECONDS per block, growing at most 4x at a time.
            grow = TARGET_SECONDS / took if took > 0 else 4.0
            size = max(1, int(size * min(4.0, max(0.25, grow))))
    finally:
        if bar is not None:
            bar.close()
    return (np.full(n, np.nan) if out is None else out), kinks, done
