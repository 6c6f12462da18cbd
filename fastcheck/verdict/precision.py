"""How well the numbers a check compares are known: the cost's value, and the gradient.

The cost is known to U (``cost_noise``, ``measured_noise``): the larger of
``NOISE_SAFETY`` times its measured noise (``fastcheck.planning.noise``) and
``ROUNDING_ULPS`` float64 ulps of |J|, or where the noise could not be
measured ``ROUNDING_ULPS`` ulps of max(1, |J|) in the cost's own precision. A
gradient handed over in a coarser precision than float64, or computed from
parameters in one, is known to ``GRAD_ULPS`` of its ulps of the largest
gradient entry (``gradient_rounding``). The notes here say so in words.
"""

import numpy as np

from ..planning.step import COARSE_NOISE
from .norms import median
from .words import listed

#: How many ulps of max(1, |J|) a cost is taken to be known to. The exercise's
#: own cost, summing logs over examples, is off by about 130 ulps between
#: nearby points: its correct backward shows errors of 1.04e-7 at eps = 1e-7.
ROUNDING_ULPS = 100
#: How many ulps (of its own precision) of the largest gradient entry a gradient
#: given in float32 is taken to be known to. Backpropagation rounds relative to
#: the magnitudes flowing through it, not to each result: a correct float32
#: batchnorm backward gives the bias before the batchnorm, whose true gradient is
#: 0, entries of 0.5 float32 ulps of the largest gradient, and its weights errors
#: of 1.2 ulps; sums over more examples round more (tests/test_verdict.py).
GRAD_ULPS = 64
#: The measured noise is a standard deviation from a few points; the rounding
#: of thousands of difference quotients reaches several of them.
NOISE_SAFETY = 10.0
EPS64 = float(np.finfo(np.float64).eps)
#: An explicit eps this many times below the step the noise calls for (or its
#: square above it: a coarse step for a kink is the user's choice) gets a note.
EPS_FAR = 100.0


def cost_noise(j0, value_eps):
    """U: how well the cost's value is known, about ``ROUNDING_ULPS`` ulps of max(1, |J|)
    in the precision the cost computes in (``value_eps``, its machine epsilon)."""
    return ROUNDING_ULPS * value_eps * max(1.0, abs(j0))


def measured_noise(j0, value_eps, noise):
    """(U, notes): how well the cost's value is known, from ``noise`` (a
    ``fastcheck.planning.noise.Noise`` measured at theta): ``NOISE_SAFETY`` sigma, at
    least ``ROUNDING_ULPS`` float64 ulps of |J| (a float32 cost's noise is
    measured, not assumed from its dtype), with no absolute floor, so a cost
    of 1e-170 is judged at its own scale and one near 0 because large terms
    cancel at its real noise. Where the table was unusable, ``cost_noise``'s
    rule, and a note saying so."""
    if noise.usable:
        return max(NOISE_SAFETY * noise.sigma, ROUNDING_ULPS * EPS64 * abs(j0)), []
    return cost_noise(j0, value_eps), [
        "the cost's noise could not be measured at theta (its values along a short line "
        "were constant or not smooth): its rounding is taken as "
        f"{ROUNDING_ULPS} ulps of max(1, |J|) = {cost_noise(j0, value_eps):.2g}"]


def step_notes(eps, fitted, noise, j0):
    """Notes on the step: the measured relative noise when it moved the default
    step off float64's, and an explicit ``eps`` far off (``EPS_FAR``) the
    median of the steps ``fitted`` (n,) the noise calls for."""
    if not noise.usable or fitted.size == 0:
        return []
    best = median(fitted)
    relative = noise.relative(j0)
    if eps is None:
        return [] if relative <= COARSE_NOISE else [
            f"the cost's measured noise is {relative:.2g} of |J| (float64 rounding is "
            f"about 1e-16): steps fitted to it, median {best:.2g}"]
    if eps > EPS_FAR ** 2 * best or eps < best / EPS_FAR:
        return [f"eps={eps:.3g} is far from the step the cost's measured noise "
                f"({noise.sigma:.2g}) calls for, about {best:.2g}: eps=None uses that"]
    return []


def _dtype(value):
    """The NumPy dtype ``value`` would convert to (Python numbers: float64 or int64)."""
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(value, (float, int)):
        return np.dtype(np.float64 if isinstance(value, float) else np.int64)
    return np.asarray(value).dtype


def _coarse(dtype):
    """True for a float dtype coarser than float64."""
    return isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8


def gradient_precision(params, grads, names):
    """The machine epsilon of the coarsest float array among the parameters
    ``names`` in ``params`` and their gradients in ``grads`` (``dW1`` or ``W1``);
    float64's if none is coarser. Parameters count: a float32 parameter rounds
    the backward pass that uses it (NumPy keeps ``0.1 * W`` in float32) even
    when the gradient comes back as float64."""
    sources = [source for source in (params, grads) if hasattr(source, "values")]
    if not any(_coarse(getattr(value, "dtype", None))
               for source in sources for value in source.values()):
        return float(np.finfo(np.float64).eps)  # the common case, one pass over the values
    dtypes = set()
    for source, prefix in ((params, ""), (grads, "d"), (grads, "")):
        if not hasattr(source, "get"):
            continue
        for name in names:
            dtype = getattr(source.get(prefix + name), "dtype", None)
            if isinstance(dtype, np.dtype):
                dtypes.add(dtype)
    eps = [float(np.finfo(dtype).eps) for dtype in dtypes if dtype.kind == "f"]
    return max(eps + [float(np.finfo(np.float64).eps)])


def gradient_rounding(grad_eps, grad_flat):
    """How far a correct gradient given in precision ``grad_eps`` may be off:
    ``GRAD_ULPS`` of its ulps of the largest |entry| of ``grad_flat`` (P,); 0.0
    for float64, whose rounding the relative ``threshold`` already covers."""
    if grad_eps <= np.finfo(np.float64).eps:
        return 0.0
    return GRAD_ULPS * grad_eps * float(np.max(np.abs(grad_flat), initial=0.0))


def precision_notes(params, grad_eps=None, rounding=0.0):
    """The notes on precision: one naming the tensors given in a lower precision
    than the float64 used, failing those one saying how well gradients given in a
    lower precision are taken to be known (``gradient_rounding``; the report's
    "detectable" column shows it either way); and one naming the tensors given
    in a higher precision (``np.longdouble``), whose digits beyond float64's are
    rounded away before the check (tests/test_faults.py)."""
    low, high = [], []
    for name, value in params.items():
        dtype = _dtype(value)
        if dtype.kind == "f" and dtype.itemsize != 8:
            (low if dtype.itemsize < 8 else high).append(f"{name} ({dtype})")
    notes = []
    if low:
        notes.append(f"checked in float64: {listed(low)} given in lower precision")
    elif grad_eps is not None and grad_eps > np.finfo(np.float64).eps:
        notes.append(f"gradients given in a precision of {grad_eps:.2g} are taken as known "
                     f"to {GRAD_ULPS} of its ulps of the largest gradient, {rounding:.2g}")
    if high:
        notes.append(f"checked in float64: {listed(high)} given in higher precision, "
                     "rounded to float64 first: digits beyond float64's are neither "
                     "perturbed nor checked")
    return notes
