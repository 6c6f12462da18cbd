"""Whether a compiled cost is the user's cost: its values against the Python cost's.

A compiled cost is trusted when it equals the Python cost at theta to
``TRUST_RTOL`` (times max(1, |J|)): BLAS and Numba round differently, but
Numba's semantics also differ from NumPy's in places (integer division, an
out-of-range index), and float32 data is compiled in float64.

A traced record must moreover agree at four perturbed points (both signs,
along two directions that each move a different half of the tensors): a
record frozen on a branch the escapes did not see would differ there; and at
two far points (``WIDE_STEP``), which cross ReLU kinks and change argmaxes, so
that a value-dependent index or a write through a view is seen recomputed
(a far point where the Python cost is not finite is skipped).
"""

import numpy as np

from ..errors import CompileError
from ..runtime.blas import single_threaded_blas

#: Relative agreement asked of a compiled cost at theta.
TRUST_RTOL = 1e-9
#: Relative agreement asked of a record that computes in float64 what the
#: Python cost computes in float32 (float32 rounding, not a different cost).
LOWP_RTOL = 1e-4
#: Relative step of the perturbed points, times (|theta_i| + 0.1).
PROBE_STEP = 1e-3
#: Relative step of the two far points, times (|theta_i| + 0.1).
WIDE_STEP = 0.3


class Untrusted(CompileError):
    """The compiled cost differs from the Python cost at theta (``mismatch``).
    ``notes`` and ``seconds`` are those of the compile that made it."""

    def __init__(self, message, notes=(), seconds=0.0):
        super().__init__(message)
        self.notes, self.seconds = tuple(notes), seconds


class RecordDiffers(CompileError):
    """A traced record differs from the Python cost at ``point`` (P,): the message says
    by how much; the tracer tells why (``tracediff``)."""

    def __init__(self, message, point):
        super().__init__(message)
        self.point = point


def mismatch(cc, theta, evaluate):
    """Why ``cc`` is not the cost ``evaluate(theta, where)`` at ``theta`` (P,) (complex
    for the complex step): they differ by more than ``TRUST_RTOL``; else None."""
    compiled, expected = _values(cc, theta, evaluate, "at the given parameters")
    if _agree(compiled, expected, LOWP_RTOL if getattr(cc, "lowp", False) else TRUST_RTOL):
        return None
    return (f"the compiled cost gives {compiled!r} at the given parameters where Python "
            f"gives {expected!r}; Numba's semantics differ from NumPy's somewhere in it "
            "(integer division, an out-of-range index, float32 data), so it runs in Python")


def verify_record(cc, theta, shapes, evaluate):
    """``CompileError`` unless the traced ``cc`` equals the Python cost at theta and
    at the perturbed points, to ``LOWP_RTOL`` if the Python cost computes in
    float32 (``cc.lowp``), else ``TRUST_RTOL``. ``shapes`` are the tensors'
    shapes in theta's order."""
    rtol = LOWP_RTOL if cc.lowp else TRUST_RTOL
    for where, point in _points(theta, shapes):
        compiled, expected = _values(cc, point, evaluate, where)
        if where == "at a far point" and not np.isfinite(expected):
            continue
        if not _agree(compiled, expected, rtol):
            raise RecordDiffers(f"the traced record gives {compiled!r} {where} where the "
                                f"Python cost gives {expected!r} (they differ by "
                                f"{abs(compiled - expected):.3g}, more than float"
                                f"{32 if cc.lowp else 64} rounding)", point)


def _values(cc, point, evaluate, where):
    point = np.ascontiguousarray(point)
    # On one BLAS thread, as in the check: on a loaded machine two threads made each
    # of the test's 7 evaluations of a [784, 64, 10] MLP 27 ms, not 1.
    with single_threaded_blas():
        compiled = cc.function(point.copy(), cc.fdata, cc.idata)
    return compiled, evaluate(point, where)


def _agree(compiled, expected, rtol):
    return abs(compiled - expected) <= rtol * max(1.0, abs(expected))


def _points(theta, shapes):
    """theta and the perturbed points a record must agree at."""
    rng = np.random.default_rng(0)
    step = PROBE_STEP * (np.abs(theta) + 0.1) * rng.standard_normal(theta.size)
    yield "at the given parameters", theta
    owners = np.repeat(np.arange(len(shapes)), [int(np.prod(s)) for s in shapes])
    for half in (0, 1):
        moved = np.where(owners % 2 == half, step, 0.0) if len(shapes) > 1 \
            else step * (1 + half)
        for sign in (1, -1):
            yield "at a perturbed point", theta + sign * moved
    for _ in range(2):
        yield "at a far point", theta + WIDE_STEP * (np.abs(theta) + 0.1) * \
            rng.standard_normal(theta.size)
