"""Keep BLAS single-threaded while the kernels run.

Numba's ``@`` calls SciPy's BLAS. Inside ``prange`` each of our threads would
start BLAS threads of its own and oversubscribe the cores, so the generic
engine limits BLAS to one thread for the length of a check.
"""

import contextlib
import functools

import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS Numba calls, so it can be found)
from threadpoolctl import ThreadpoolController


@functools.lru_cache(maxsize=1)
def _controller():
    # Scanning the loaded libraries is slow (milliseconds); do it once.
    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS to one thread in the body, then restore."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
