"""The differentiation methods as data: one record per method.

Code that needs a fact about a method (how many evaluations a coordinate
costs, its default step, how large its rounding error is, which real step the
closer look probes with, how its estimate is computed) asks the method's
record; the method's name is compared only here, where a record is looked up.
A new linear stencil is a new record here and nothing else: every engine's
loop reads the record's ``Stencil``.
"""

from typing import NamedTuple

import numpy as np

from ..errors import OptionError

_EPS = float(np.finfo(np.float64).eps)

#: Stencil kinds. DIFFERENCES: a linear combination of difference quotients of
#: J at real points theta + o h e_i. COMPLEX: Im J(theta + i h e_i) / h.
DIFFERENCES, COMPLEX = "differences", "complex"


class Stencil(NamedTuple):
    """Where a method evaluates J around theta and how it combines the values.

    ``kind`` DIFFERENCES: J is evaluated at theta + ``offsets[p]`` h e_i, p =
    0, 1, ..., in that order; points 2j and 2j + 1 give the difference quotient

        D_j = (J_2j - J_2j+1) / ((offsets[2j] - offsets[2j+1]) h)

    and the estimate is (weights[0] D_0 + weights[1] D_1 + ...) / ``divisor``,
    summed left to right. Central differences are one quotient over (+1, -1),
    i.e. the per-point weights (1/2h, -1/2h); Richardson's are the quotients at
    h and h/2 combined as (4 D(h/2) - D(h)) / 3. Written this way every loop
    rounds exactly as the textbook formulas do (``tests/test_kernel.py``
    compares them bit for bit). At most ``kernels.layered.MAX_POINTS`` points.

    ``kind`` COMPLEX: one evaluation at theta + i ``offsets[0]`` h e_i on a
    complex copy of theta; the estimate is its imaginary part over h.
    """

    kind: str
    offsets: tuple
    weights: tuple = (1.0,)
    divisor: float = 1.0

    def arrays(self):
        """(offsets (S,) float64, weights (S/2,) float64, divisor): the kernels' arguments."""
        return (np.array(self.offsets, dtype=np.float64),
                np.array(self.weights, dtype=np.float64), float(self.divisor))


class Method(NamedTuple):
    """What fastcheck knows about one method.

    ``stencil``: where J is evaluated and how the values are combined (a
    ``Stencil``). ``relative_step``: the default step is ``relative_step *
    max(1, |theta_i|)``; None means the fixed ``absolute_step``.
    ``error_factor``: the rounding error of an estimate is this times U / h
    (U: how well J is known); None for an estimate that subtracts nothing,
    whose error is relative to the derivative itself. ``probe``: the real
    method whose default steps the closer look takes where this method's own
    step is not a real one (None: this method's own). ``order``: the power of
    h in the truncation error, so the step that balances it against a noise U
    scales as U^(1/(order + 1)) (None: nothing subtracted, no balance to strike).
    """

    name: str
    stencil: Stencil
    relative_step: float = None
    absolute_step: float = None
    error_factor: float = None
    probe: str = None
    order: int = None

    @property
    def evaluations(self):
        """Cost evaluations per coordinate: one per point of the stencil."""
        return len(self.stencil.offsets)

    @property
    def finest(self):
        """The smallest step taken, as a fraction of h (Richardson's h/2), which
        must not vanish against theta."""
        return min(abs(o) for o in self.stencil.offsets if o != 0.0)

    @property
    def complex_step(self):
        """Whether the cost runs on a complex copy of theta."""
        return self.stencil.kind == COMPLEX

    @property
    def scalar_bytes(self):
        """Bytes of one entry of a scratch copy of theta."""
        return 16 if self.complex_step else 8


#: Every method a check can ask for, by name.
METHODS = {
    # O(h^2) truncation, best near h = cbrt(eps) |theta|; two values known to U over 2h.
    "central": Method("central", Stencil(DIFFERENCES, (1.0, -1.0)),
                      relative_step=float(np.cbrt(_EPS)), error_factor=1.0, order=2),
    # (4 D(h/2) - D(h)) / 3: O(h^4), best near eps^(1/5) |theta|; rounding 3 U / h.
    "richardson": Method("richardson", Stencil(DIFFERENCES, (1.0, -1.0, 0.5, -0.5),
                                               weights=(-1.0, 4.0), divisor=3.0),
                         relative_step=_EPS ** 0.2, error_factor=3.0, order=4),
    # Im J(theta + i h e_i) / h subtracts nothing: any tiny step is exact to rounding.
    "complex": Method("complex", Stencil(COMPLEX, (1.0,)), absolute_step=1e-20,
                      probe="central"),
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
