"""Keep BLAS single-threaded while a check runs.

Numba's ``@`` calls SciPy's BLAS. Inside ``prange`` each of our threads would
start BLAS threads of its own and oversubscribe the cores, so the generic
engine limits BLAS to one thread for the length of a check.

The Python path holds NumPy's BLAS to one thread too, for the whole check: the
matrix products of one forward pass of a gradient check are small (a batch of
tens to hundreds), and OpenBLAS's threads waiting on each other cost far more
than they share. Measured on the 2-core test machine at load 1.6 (median of 20
forward passes of a tanh MLP): [784, 128, 10] x 32 (100k parameters) 0.31 ms on
one thread against 40 ms on two; x 256, 3.3 against 8 ms; [1024, 1024, 10] x 64
(1M), 5.0 against 48 ms; [2048, 2048, 10] x 256 (4M), 67 against 105 ms. A
check long enough for more threads to matter runs on the process pool, one
BLAS thread per process, which shares the coordinates without waiting; and a
fixed count keeps the estimates bit-reproducible from run to run (threads
split BLAS's sums differently). It limits only the BLAS already loaded
(``single_threaded_blas(compiled=False)``): importing SciPy's would cost a
first check 0.3 s.

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
#: The limiters set since the first check in, in order: the first holds the limits
#: from before it; a later one, the BLAS a compiled check loaded meanwhile.
_limiters = []
#: Whether SciPy's BLAS (the one Numba calls) is among those limited.
_compiled_covered = False


@functools.lru_cache(maxsize=2)
def _controller(compiled):
    # ``compiled``: load the BLAS Numba calls (SciPy's) first, so that it can be
    # found. Scans the loaded libraries once: both are slow, so neither happens
    # at import.
    if compiled:
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


def _enter(compiled):
    global _depth, _compiled_covered
    with _lock:
        if _depth == 0 or (compiled and not _compiled_covered):
            try:
                _limiters.append(_controller(compiled).limit(limits=1, user_api="blas"))
            finally:
                _release_control()
            _compiled_covered = _compiled_covered or compiled
        _depth += 1


def _exit():
    global _depth, _compiled_covered
    with _lock:
        _depth -= 1
        if _depth == 0:
            try:
                while _limiters:  # the last set first: the first holds the originals
                    _limiters.pop().restore_original_limits()
            finally:
                _compiled_covered = False
                _release_control()


@contextlib.contextmanager
def single_threaded_blas(compiled=True):
    """Limit every loaded BLAS to one thread in the body, then restore.

    ``compiled`` loads SciPy's BLAS, which Numba's compiled code calls, so that
    it is limited too; False limits the BLAS already loaded (NumPy's, for the
    Python path). Safe to overlap across threads in any order: BLAS stays at
    one thread while any check is inside, and gets its original count back when
    the last leaves.
    """
    _enter(compiled)
    try:
        yield
    finally:
        _exit()
