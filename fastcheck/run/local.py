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

from ..blas import single_threaded_blas
from ..errors import CostError, OptionError
from ..memory import ensure_fits, format_bytes
from .progress import progress_bar, visible

TARGET_SECONDS = 0.2
#: The first block takes about this long, so the block size adapts quickly.
FIRST_BLOCK_SECONDS = 0.1
#: A check expected to take longer than this shows a progress bar (progress=None).
PROGRESS_AFTER_SECONDS = 1.0
#: A check expected to take less than this runs on one thread: on a busy
#: machine, joining a parallel region can cost milliseconds.
SERIAL_SECONDS = 1e-2


class Estimates(NamedTuple):
    """What a driver returns: (n,) estimates, aux and kink flags for the
    coordinates it was given, the engine that made them and its scratch."""

    out: np.ndarray
    aux: np.ndarray
    kinks: np.ndarray
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


def run_local(adapter, engine, method, idx, h, *, threads=None, progress=None,
              seconds_per_coordinate=1e-6):
    """Run ``adapter``'s engine ``engine`` over flat indices ``idx`` (n,) with
    steps ``h`` (n,), on this machine's Numba threads.

    ``threads`` None means all of them, unless the whole check is expected
    (from ``seconds_per_coordinate``) to take less than ``SERIAL_SECONDS``.
    The engine's scratch is checked against the memory budget before it is
    built. Returns ``Estimates``.
    """
    if threads is None and seconds_per_coordinate * idx.size < SERIAL_SECONDS:
        threads = 1  # waking a second thread would cost more than it saves
    with thread_count(threads) as rows:
        needed = adapter.scratch_bytes(engine, method, rows)
        ensure_fits(needed, f"the {engine} engine on {adapter.layout.size} parameters "
                            f"with {rows} threads")
        run = adapter.build(engine, method, rows)
        # Numba's threads already fill the cores: BLAS threads would oversubscribe.
        blas = single_threaded_blas() if run.parallel and rows > 1 else contextlib.nullcontext()
        first = max(rows, rows * int(FIRST_BLOCK_SECONDS / max(seconds_per_coordinate, 1e-9)))
        with blas:
            out, aux, kinks = run_blocks(
                run, idx, h, describe=adapter.layout.describe, progress=progress,
                first_block=first,
                label=f"fastcheck {run.name} (scratch {format_bytes(needed)})")
    return Estimates(out, aux, kinks, run.name, needed)


def run_blocks(engine, idx, h, *, describe, progress=None, first_block=8, label="fastcheck"):
    """Run ``engine.block`` over all of ``idx`` (n,) with steps ``h`` (n,).

    Returns the (n,) estimates, aux and kink flags. Each block's estimates are
    checked when it returns: a compiled cost that raised on a worker thread
    leaves only NaN behind (the exception is lost there), on the calling thread
    it also raises; both become a ``CostError`` naming the coordinate.
    ``describe(i)`` names flat index i.
    """
    n = idx.shape[0]
    out, aux, kinks = np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=bool)
    size, done, bar = max(1, first_block), 0, None
    start = time.perf_counter()
    try:
        while done < n:
            stop = min(n, done + size)
            tick = time.perf_counter()
            block = engine.block(idx[done:stop], h[done:stop])
            took = time.perf_counter() - tick
            bad = ~np.isfinite(block.out)
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
            out[done:stop], aux[done:stop], kinks[done:stop] = block[:3]
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
    return out, aux, kinks
