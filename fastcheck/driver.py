"""The block driver: runs an engine over all coordinates, a block at a time.

Between blocks Python regains control, so a progress bar moves and Ctrl-C
lands within about a block's time (a single long compiled call would ignore
it). Blocks grow until each takes about ``TARGET_SECONDS``.
"""

import contextlib
import sys
import time

import numba
import numpy as np
from tqdm.auto import tqdm

from .errors import CostError, FastcheckError, OptionError

TARGET_SECONDS = 0.2
#: A check expected to take longer than this shows a progress bar (progress=None).
PROGRESS_AFTER_SECONDS = 1.0


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
        if expected < PROGRESS_AFTER_SECONDS or not sys.stderr.isatty():
            return None
    bar = tqdm(total=total, unit="coord", desc=label, file=sys.stderr, leave=False)
    bar.update(done)
    return bar


def run_blocks(engine, idx, h, *, describe, progress=None, first_block=8, label="fastcheck"):
    """Run ``engine(idx_block, h_block, out_block, aux_block)`` over all of ``idx``.

    ``idx`` (n,) int64 and ``h`` (n,) float64 go in; the (n,) estimates and the
    (n,) auxiliary output (Richardson's D(h) - D(h/2), else zeros) come out.
    Each block's output starts as NaN and is checked when the block returns: a
    compiled cost that raised on a worker thread leaves only NaN behind (the
    exception is lost there), on the calling thread it also raises; both become
    a ``CostError`` naming the coordinate. ``describe(i)`` names flat index i.
    """
    n = idx.shape[0]
    out = np.full(n, np.nan)
    aux = np.zeros(n)
    size, done, bar = max(1, first_block), 0, None
    start = time.perf_counter()
    try:
        while done < n:
            stop = min(n, done + size)
            tick = time.perf_counter()
            try:
                engine(idx[done:stop], h[done:stop], out[done:stop], aux[done:stop])
            except FastcheckError:
                raise
            except Exception as exc:
                # A compiled cost raised: its first unfinished coordinate is the culprit.
                cause = exc.__cause__ or exc
                bad = ~np.isfinite(out[done:stop])
                i = int(idx[done + int(np.argmax(bad))])
                raise CostError(f"the cost raised {type(cause).__name__} ({cause}) inside "
                                f"compiled code when {describe(i)} was perturbed. Call the "
                                "cost's py_func at that point to see why") from cause
            took = time.perf_counter() - tick
            bad = ~np.isfinite(out[done:stop])
            if bad.any():
                i = int(idx[done + int(np.argmax(bad))])
                raise CostError(
                    f"the finite difference for {describe(i)} is not finite: the cost "
                    "returned NaN or Inf, or raised inside compiled code, when it was "
                    "perturbed. Call the cost's py_func at that point to see why")
            if bar is None and progress is not False:
                bar = _bar(progress, n, stop, time.perf_counter() - start, label)
            if bar is not None:
                bar.update(stop - done)
            done = stop
            # Aim for TARGET_SECONDS per block, growing at most 4x at a time.
            grow = TARGET_SECONDS / took if took > 0 else 4.0
            size = max(1, int(size * min(4.0, max(0.25, grow))))
    finally:
        if bar is not None:
            bar.close()
    return out, aux
