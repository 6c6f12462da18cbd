"""Keep BLAS single-threaded while the kernels run.

Numba's ``@`` calls SciPy's BLAS. Inside ``prange`` each of our threads would
start BLAS threads of its own and oversubscribe the cores, so the generic
engine limits BLAS to one thread for the length of a check.

BLAS thread counts are process-wide, but checks are not: two checks may run
at once in threads of one process, and end in any order. A per-check
``with threadpool_limits(1)`` would let the first check to end restore the
original count under the other, still running, and the last to end "restore"
the 1 it saw on entering, for the rest of the process. So the limit is counted
across the process instead: the first check in sets it, the last one out
restores what was there before the first (``tests/test_blas.py``).
"""

import contextlib
import functools
import threading

_lock = threading.Lock()
#: Checks inside ``single_threaded_blas`` now, in every thread of the process.
_depth = 0
#: The limiter of the first check in: it holds the limits from before it.
_limiter = None


@functools.lru_cache(maxsize=1)
def _controller():
    # Loads the BLAS Numba calls (SciPy's), so that it can be found, and scans
    # the loaded libraries once: both are slow, so neither happens at import.
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _release_control():
    """Let other threads set OpenBLAS's limits again.

    threadpoolctl (3.6 and later) lets only one thread at a time set the limits
    of a pthreads OpenBLAS, whose pool is process-wide: the first thread to set
    them, until it clears its claim. The last check out is often not the thread
    that set the limit, so each change here gives its claim back at once.
    """
    import threadpoolctl

    clear = getattr(getattr(threadpoolctl, "OpenBLASController", None),
                    "clear_controlling_thread", None)
    if clear is not None:
        clear()


def _enter():
    global _depth, _limiter
    with _lock:
        if _depth == 0:
            try:
                _limiter = _controller().limit(limits=1, user_api="blas")
            finally:
                _release_control()
        _depth += 1


def _exit():
    global _depth, _limiter
    with _lock:
        _depth -= 1
        if _depth == 0:
            limiter, _limiter = _limiter, None
            try:
                limiter.restore_original_limits()
            finally:
                _release_control()


@contextlib.contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS to one thread in the body, then restore.

    Safe to overlap across threads in any order: BLAS stays at one thread while
    any check is inside, and gets its original count back when the last leaves.
    """
    _enter()
    try:
        yield
    finally:
        _exit()
