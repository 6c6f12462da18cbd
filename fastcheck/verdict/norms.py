"""Norms and relative differences, the same bit for bit on every machine.

``relative_difference`` is the seed's formula, ||grad - approx|| / (||grad|| +
||approx||); ``segment_norms`` and ``segment_differences`` give it for every
tensor of a flat vector at once. Every norm sums its scaled squares in order,
never through BLAS, whose order depends on the CPU.
"""

import numpy as np


def _scale(x):
    """A power of two near max|x| (1.0 for zeros): dividing by it is exact."""
    top = float(np.max(np.abs(x), initial=0.0))
    return 1.0 if top == 0.0 or not np.isfinite(top) else float(2.0 ** np.frexp(top)[1])


def norm(x):
    """||x||_2 of a real 1-D array without over- or underflow, the same on every machine.

    Entries are scaled by a power of two (exact) and their squares summed in
    order: a BLAS dot product sums in an order that depends on the CPU, which
    moved the exercise's published 0.2850931567761623 by an ulp on some machines
    (tests/test_exercises.py pins it).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0.0
    s = _scale(x)
    y = x / s
    return s * float(np.sqrt(np.cumsum(y * y)[-1]))


def relative_difference(grad, gradapprox):
    """||grad - gradapprox|| / (||grad|| + ||gradapprox||), the seed's formula.

    Both arrays have the same shape; 0.0 when both are zero (they agree).
    """
    grad, gradapprox = np.ravel(grad), np.ravel(gradapprox)
    denominator = norm(grad) + norm(gradapprox)
    return 0.0 if denominator == 0.0 else float(norm(grad - gradapprox) / denominator)


#: Segments up to this long are summed side by side, one position at a time;
#: each longer one gets a cumulative sum of its own (as ``norm`` does).
SHORT_SEGMENT = 32


def segment_norms(x, bounds):
    """(T,) ``norm`` of each segment ``x[bounds[k]:bounds[k + 1]]`` of ``x`` (n,), bit for
    bit what ``norm`` gives the segment alone (0.0 for an empty one).

    ``bounds`` (T + 1,) is non-decreasing. Short segments are summed side by side,
    position j of every segment at once, in the order ``norm`` sums them, so a
    million tensors cost a few NumPy calls, not a million (tests/test_faults.py
    compares each with ``norm``).
    """
    x = np.asarray(x, dtype=np.float64)
    bounds = np.asarray(bounds, dtype=np.int64)
    lengths = np.diff(bounds)
    out = np.zeros(lengths.size)
    full = np.flatnonzero(lengths)
    if full.size == 0:
        return out
    lens = lengths[full]
    x = x[bounds[0]:bounds[-1]]
    starts = bounds[full] - bounds[0]
    top = np.maximum.reduceat(np.abs(x), starts)
    scale = np.ones(full.size)
    usable = (top != 0.0) & np.isfinite(top)
    scale[usable] = np.ldexp(1.0, np.frexp(top[usable])[1])  # as ``_scale``
    y = x / np.repeat(scale, lens)
    squares = y * y
    total = np.zeros(full.size)
    short = np.flatnonzero(lens <= SHORT_SEGMENT)
    if short.size:
        first, count = starts[short], lens[short]
        for j in range(int(count.max())):
            live = count > j
            total[short[live]] += squares[first[live] + j]
    for t in np.flatnonzero(lens > SHORT_SEGMENT).tolist():
        total[t] = np.cumsum(squares[starts[t]:starts[t] + lens[t]])[-1]
    out[full] = scale * np.sqrt(total)
    return out


def segment_differences(grad, approx, bounds):
    """(T,) ``relative_difference`` of each segment of ``grad`` and ``approx`` (n,), as
    ``segment_norms`` cuts them, bit for bit; 0.0 for an empty one."""
    denominator = segment_norms(grad, bounds) + segment_norms(approx, bounds)
    numerator = segment_norms(np.asarray(grad) - np.asarray(approx), bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0.0, 0.0, numerator / denominator)


def median(values):
    """``np.median`` of ``values`` (n,) as a float, n >= 1, by ``np.partition``:
    ``np.median`` imports ``numpy.ma`` on its first call (30-130 ms of a
    process's first check). NaN if any value is NaN, as ``np.median`` gives."""
    a = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(a).any():
        return float("nan")
    k = a.size // 2
    if a.size % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2.0)


def distinct(values):
    """``np.unique`` of the 1-D integer array ``values``: its distinct entries,
    sorted. ``np.unique`` imports ``numpy.ma`` on its first call, like
    ``np.median``."""
    a = np.sort(np.asarray(values).ravel())
    if a.size:
        keep = np.empty(a.size, dtype=bool)
        keep[0] = True
        np.not_equal(a[1:], a[:-1], out=keep[1:])
        a = a[keep]
    return a
