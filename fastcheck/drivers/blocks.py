"""What every driver shares: running a pass in blocks, the block-size rule, Numba's
thread count, and what a run returns.

Between blocks Python regains control, so a progress bar moves and Ctrl-C
lands within about a block's time (a single long compiled call would ignore
it). Blocks grow until each takes about ``TARGET_SECONDS``; the first is sized
from the plan's prediction of the work.
"""

import contextlib
import time
from typing import NamedTuple

import numba
import numpy as np

from ..engines.passes import items
from ..errors import OptionError

TARGET_SECONDS = 0.2
#: The first block takes about this long, so the block size adapts quickly.
FIRST_BLOCK_SECONDS = 0.1


class Estimates(NamedTuple):
    """What a driver's run of a pass returns for the n items it was given: the
    pass's values ``out`` ((n,) + the pass's shape: (n,) estimates, (n, 4)
    slopes, (n, 2) points), the kink flags (n,), ``done`` (n,), False where a
    deadline stopped the run first, the engine that ran (the last, when the run
    moved to a faster one) and its scratch in bytes. ``engines`` counts the
    items each engine ran ({name: items}; None: all on ``engine``);
    ``compile_seconds`` is the wall time of a compile that ran beside the
    check and was taken up (0.0: none), ``notes`` the report's lines about it."""

    out: np.ndarray
    kinks: np.ndarray
    done: np.ndarray
    engine: str
    scratch_bytes: int
    engines: dict = None
    compile_seconds: float = 0.0
    notes: tuple = ()


def seconds_per_item(plan, record):
    """The predicted seconds of one item of pass ``record``: the plan's
    ``seconds_per_coordinate`` (its method's evaluations) scaled to the
    pass's evaluations per item."""
    method = plan.method
    return plan.seconds_per_coordinate * record.evaluations(method) / method.evaluations


def first_block(seconds, threads):
    """Items in a first block of about ``FIRST_BLOCK_SECONDS``, one item taking
    ``seconds``: a multiple of ``threads``, at least one per thread."""
    return max(threads, threads * int(FIRST_BLOCK_SECONDS / max(seconds, 1e-9)))


def next_block(size, took):
    """The next block's items after one of ``size`` took ``took`` seconds:
    aiming at ``TARGET_SECONDS``, growing at most 4x (shrinking at most 4x)."""
    grow = TARGET_SECONDS / took if took > 0 else 4.0
    return max(1, int(size * min(4.0, max(0.25, grow))))


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


def run_blocks(engine, record, work, *, describe, rows=1, first=8, deadline=None,
               progress=None, switch=None, tally=None):
    """Run pass ``record`` (an ``engines.passes.Pass``) of ``engine`` over all of
    ``work``, a block at a time, starting none after ``deadline``
    (perf_counter seconds).

    Returns the pass's values (n,) + ``record.shape`` (NaN where not done),
    the (n,) kink flags and how many items, from the first, were done. Each
    block's values are checked when it returns: a compiled cost that raised on
    a worker thread leaves only NaN behind (the exception is lost there), on
    the calling thread it also raises; both become the ``CostError`` of the
    work's shape, naming the item (``describe(i)`` names flat index i).
    ``rows`` is the engine's threads, ``first`` the first block's items;
    ``progress`` (a ``progress.Progress``, or None) counts the items done.

    ``switch(remaining)``, if given, is asked before the first block and between
    blocks for a faster engine that is ready now (or None): the remaining
    blocks run on it. ``remaining``
    is the pass's seconds left at the last block's rate. Its values agree with
    the first's to the compiled cost's trust tolerance, so where an item ran
    changes nothing but rounding. ``tally`` (a dict) counts the items each
    engine ran, by its name.
    """
    step = getattr(engine, record.method)
    n = items(work)
    out, kinks = np.full((n,) + record.shape, np.nan), np.zeros(n, dtype=bool)
    size, done = max(1, first), 0
    # Asked before the first block too: a call of many short passes (locate's
    # search) moves between them.
    faster = switch(0.0) if switch is not None and n else None
    if faster is not None:
        engine, step = faster, getattr(faster, record.method)
    while done < n and not (deadline is not None and done and time.perf_counter() > deadline):
        args, stop = record.work.cut(work, done, size, rows)
        tick = time.perf_counter()
        block = step(*args)
        took = time.perf_counter() - tick
        bad = ~np.isfinite(block.out).reshape(stop - done, -1).all(axis=1)
        if block.error is not None or bad.any():
            # A compiled cost that raised stopped its row at the first unfinished item.
            record.work.fail(work, done + int(np.argmax(bad)), block.error, describe)
        out[done:stop], kinks[done:stop] = block.out, block.kinks
        if tally is not None:
            for name, count in (block.ran or {engine.name: stop - done}).items():
                tally[name] = tally.get(name, 0) + count
        if progress is not None:
            progress.advance(stop - done)
        remaining = (n - stop) * took / max(stop - done, 1)
        size, done = next_block(stop - done, took), stop
        faster = switch(remaining) if switch is not None and done < n else None
        if faster is not None:
            engine, step = faster, getattr(faster, record.method)
    return out, kinks, done
