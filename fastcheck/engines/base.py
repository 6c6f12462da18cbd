"""What every engine returns, and the base class."""

from typing import NamedTuple

import numpy as np

from ..kernels.central import CENTRAL, RICHARDSON

#: Kernel method codes of the real-valued methods.
METHOD_CODES = {"central": CENTRAL, "richardson": RICHARDSON}


class Block(NamedTuple):
    """One block's results, each (n,): the estimates (NaN where the cost failed),
    Richardson's D(h) - D(h/2) (zeros for the other methods) and the kink flags
    (True where a step crosses a kink the engine can see). ``error`` is the
    exception a compiled cost raised, if any: the driver names the coordinate
    from the first estimate left NaN."""

    out: np.ndarray
    aux: np.ndarray
    kinks: np.ndarray
    error: BaseException = None


def empty_block(n):
    """A block's outputs before the kernel fills them: NaN estimates, so a
    compiled cost that raised on a worker thread (and lost its exception
    there) is caught by the driver's finiteness check."""
    return Block(np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=bool))


class Engine:
    """Base of the engines.

    ``name`` is what reports call it; ``parallel`` says whether it runs Numba
    threads (then the driver holds BLAS to one thread while it runs).
    """

    name = "engine"
    parallel = False

    def block(self, idx, h):
        """Estimates for flat indices ``idx`` (n,) int64 with steps ``h`` (n,)."""
        raise NotImplementedError

    def points(self, ptr, idx, delta):
        """J at theta +- delta along directions d = 0..D-1, whose entries are
        ``idx[ptr[d]:ptr[d + 1]]`` (flat indices) perturbed by
        ``delta[ptr[d]:ptr[d + 1]]``: (j_plus (D,), j_minus (D,), the exception
        a compiled cost raised or None), for ``fastcheck.locate``."""
        raise NotImplementedError
