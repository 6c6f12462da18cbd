"""Keep BLAS single-threaded while the kernels run.

Numba's ``@`` calls SciPy's BLAS. Inside ``prange`` each of our threads would
start BLAS threads of its own and oversubscribe the cores, so the generic
engine limits BLAS to one thread for the length of a check.
"""

import contextlib
import functools


@functools.lru_cache(maxsize=1)
def _controller():
    # Loads the BLAS Numba calls (SciPy's), so that it can be found, and scans
    # the loaded libraries once: both are slow, so neither happens at import.
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS to one thread in the body, then restore."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
