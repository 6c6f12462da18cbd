"""The differentiation methods as data: one record per method.

Code that needs a fact about a method (how many evaluations a coordinate
costs, its default step, how large its rounding error is, which real step the
closer look probes with, which kernel runs it) asks the method's record; the
method's name is compared only here, where a record is looked up. A new method
is a new record and its kernels.
"""

from typing import NamedTuple

import numpy as np

from ..errors import OptionError
from ..kernels.central import CENTRAL, RICHARDSON

_EPS = float(np.finfo(np.float64).eps)


class Method(NamedTuple):
    """What fastcheck knows about one method.

    ``evaluations``: cost evaluations per coordinate. ``relative_step``: the
    default step is ``relative_step * max(1, |theta_i|)``; None means the
    fixed ``absolute_step``. ``finest``: the smallest step taken, as a fraction
    of h (Richardson's h/2), which must not vanish against theta.
    ``error_factor``: the rounding error of an estimate is this times U / h
    (U: how well J is known); None for an estimate that subtracts nothing,
    whose error is relative to the derivative itself. ``probe``: the real
    method whose default steps the closer look takes where this method's own
    step is not a real one (None: this method's own). ``kernel``: the real
    kernels' method code, None for the complex step. ``complex_step``: the
    cost runs on a complex copy of theta. ``order``: the power of h in the
    truncation error, so the step that balances it against a noise U scales
    as U^(1/(order + 1)) (None: nothing subtracted, no balance to strike).
    """

    name: str
    evaluations: int
    relative_step: float = None
    absolute_step: float = None
    finest: float = 1.0
    error_factor: float = None
    probe: str = None
    kernel: int = None
    complex_step: bool = False
    order: int = None

    @property
    def scalar_bytes(self):
        """Bytes of one entry of a scratch copy of theta."""
        return 16 if self.complex_step else 8


#: Every method a check can ask for, by name.
METHODS = {
    # O(h^2) truncation, best near h = cbrt(eps) |theta|; two values known to U over 2h.
    "central": Method("central", 2, relative_step=float(np.cbrt(_EPS)), error_factor=1.0,
                      kernel=CENTRAL, order=2),
    # (4 D(h/2) - D(h)) / 3: O(h^4), best near eps^(1/5) |theta|; rounding 3 U / h.
    "richardson": Method("richardson", 4, relative_step=_EPS ** 0.2, finest=0.5,
                         error_factor=3.0, kernel=RICHARDSON, order=4),
    # Im J(theta + i h e_i) / h subtracts nothing: any tiny step is exact to rounding.
    "complex": Method("complex", 1, absolute_step=1e-20, probe="central", complex_step=True),
}
CENTRAL_METHOD = METHODS["central"]


def method_record(method):
    """The ``Method`` called ``method`` (a record passes through), or ``OptionError``."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str) or method not in METHODS:
        raise OptionError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                          f"got {method!r}")
    return METHODS[method]


def probing(method):
    """The real method whose steps the closer look at ``method``'s estimates takes."""
    return METHODS[method.probe] if method.probe else method
