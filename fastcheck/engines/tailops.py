"""What the incremental engine's generated tails call at run time (``engines.tail``).

A tail evaluates, one perturbation at a time, the part of a record past the
point where a perturbation's change stops being a few entries or lines. Its
inputs are those changes as the NumPy pass left them: entries of a value
(flat positions and new values), or whole rows or columns of a matrix (line
numbers and their new values; a line number equal to the matrix's count of
lines is padding). These functions rebuild a value from its cached copy and
its change, or push a change through a product as a low-rank update, so
that a product with a changed row costs that row, not the whole product.

Matrices are 2-D float64 and C-contiguous (the tail's cached values are
slices of one buffer). A product's update adds the change to the cached
product, which rounds differently from recomputing it: the difference is
rounding, as in ``engines.changes``.
"""

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def put_flat(cached, pos, val):
    """A flat copy of ``cached`` with ``val[s]`` at flat position ``pos[s]``
    (positions at or past its size are padding)."""
    out = cached.copy().ravel()
    n = out.size
    for s in range(pos.size):
        if pos[s] < n:
            out[pos[s]] = val[s]
    return out


@njit(cache=True, fastmath=False)
def put_rows(cached, idx, val):
    """``cached`` (n, m) with rows ``idx`` (R,) replaced by ``val`` (R, m)."""
    out = cached.copy()
    for r in range(idx.size):
        if idx[r] < out.shape[0]:
            out[idx[r], :] = val[r, :]
    return out


@njit(cache=True, fastmath=False)
def put_cols(cached, idx, val):
    """``cached`` (n, m) with columns ``idx`` (R,) replaced by ``val`` (n, R)."""
    out = cached.copy()
    for r in range(idx.size):
        if idx[r] < out.shape[1]:
            out[:, idx[r]] = val[:, r]
    return out


@njit(cache=True, fastmath=False)
def left_rows(prod, right, idx, val):
    """``A @ right`` (cached ``prod``) when rows ``idx`` of A became ``val`` (R, k):
    those rows of the product, recomputed."""
    out = prod.copy()
    for r in range(idx.size):
        i = idx[r]
        if i < out.shape[0]:
            out[i, :] = np.dot(val[r, :], right)
    return out


@njit(cache=True, fastmath=False)
def left_cols(prod, left, right, idx, val):
    """``left @ right`` (cached ``prod``) when columns ``idx`` of ``left`` became
    ``val`` (n, R): each column's change times the matching row of ``right``."""
    out = prod.copy()
    m = out.shape[1]
    for r in range(idx.size):
        j = idx[r]
        if j >= left.shape[1]:
            continue
        for i in range(out.shape[0]):
            d = val[i, r] - left[i, j]
            if d != 0.0:
                for c in range(m):
                    out[i, c] += d * right[j, c]
    return out


@njit(cache=True, fastmath=False)
def right_rows(prod, left, right, idx, val):
    """``left @ right`` (cached ``prod``) when rows ``idx`` of ``right`` became
    ``val`` (R, m): the matching column of ``left`` times each row's change
    (a ReLU's zeros in the change cost nothing)."""
    out = prod.copy()
    n = out.shape[0]
    for r in range(idx.size):
        j = idx[r]
        if j >= right.shape[0]:
            continue
        for c in range(out.shape[1]):
            d = val[r, c] - right[j, c]
            if d != 0.0:
                for i in range(n):
                    out[i, c] += left[i, j] * d
    return out


@njit(cache=True, fastmath=False)
def right_cols(prod, left, idx, val):
    """``left @ B`` (cached ``prod``) when columns ``idx`` of B became ``val`` (k, R):
    those columns of the product, recomputed."""
    out = prod.copy()
    for r in range(idx.size):
        j = idx[r]
        if j < out.shape[1]:
            out[:, j] = np.dot(left, np.ascontiguousarray(val[:, r]))
    return out


@njit(cache=True, fastmath=False)
def left_entries(prod, left, right, pos, val):
    """``left @ right`` (cached ``prod``) when entries ``pos`` (flat) of ``left``
    became ``val``: entry (i, j) moves row i by its change times row j of ``right``."""
    out = prod.copy()
    k = left.shape[1]
    flat = left.ravel()
    for s in range(pos.size):
        if pos[s] >= flat.size:
            continue
        d = val[s] - flat[pos[s]]
        i, j = pos[s] // k, pos[s] % k
        if d != 0.0:
            out[i, :] += d * right[j, :]
    return out


@njit(cache=True, fastmath=False)
def right_entries(prod, left, right, pos, val):
    """``left @ right`` (cached ``prod``) when entries ``pos`` (flat) of ``right``
    became ``val``: entry (j, c) moves column c by its change times column j of ``left``."""
    out = prod.copy()
    m = right.shape[1]
    flat = right.ravel()
    for s in range(pos.size):
        if pos[s] >= flat.size:
            continue
        d = val[s] - flat[pos[s]]
        j, c = pos[s] // m, pos[s] % m
        if d != 0.0:
            for i in range(out.shape[0]):
                out[i, c] += left[i, j] * d
    return out


# ------------------------------------------------------------ line sources
# A tail's fused region runs once per changed line (a row or column of a
# matrix) of its source: these write that source's changed lines into
# ``lines`` and their new values, line after line, into ``vals`` (buffers of
# every line), and return their count L. ``prod`` is the cached product, ``changed``
# the cached operand whose change ``idx``/``val`` (or ``pos``/``val``) gives,
# ``other`` the unchanged operand. A line whose change is exactly zero is
# not changed (a ReLU stopped it): it is left out.

@njit(cache=True, fastmath=False)
def _marked(out, moved, transpose, lines, vals):
    """The count of lines ``moved`` marks; their numbers and values in ``out`` (by
    columns if ``transpose``) written into ``lines`` and ``vals``."""
    L = 0
    for line in range(moved.size):
        if moved[line]:
            lines[L] = line
            if transpose:
                vals[L, :] = out[:, line]
            else:
                vals[L, :] = out[line, :]
            L += 1
    return L


@njit(cache=True, fastmath=False)
def src_right_rows(prod_t, changed, other_t, idx, val, lines, vals):
    """``other @ changed``, rows ``idx`` of ``changed`` now ``val`` (R, m): by columns.
    The product and ``other`` come transposed (``prod_t`` (m, n), ``other_t`` (k, n)):
    a column of each is a contiguous row."""
    m, n = prod_t.shape
    L = 0
    for c in range(m):
        moved = False
        for r in range(idx.size):
            j = idx[r]
            if j < changed.shape[0] and val[r, c] != changed[j, c]:
                moved = True
        if not moved:
            continue
        lines[L] = c
        vals[L, :] = prod_t[c, :]
        for r in range(idx.size):
            j = idx[r]
            if j < changed.shape[0]:
                d = val[r, c] - changed[j, c]
                if d != 0.0:
                    for i in range(n):
                        vals[L, i] += other_t[j, i] * d
        L += 1
    return L


@njit(cache=True, fastmath=False)
def src_left_cols(prod, changed, other, idx, val, lines, vals):
    """``changed @ other``, columns ``idx`` of ``changed`` now ``val`` (n, R): by rows."""
    n, m = prod.shape
    L = 0
    for i in range(n):
        moved = False
        for r in range(idx.size):
            j = idx[r]
            if j < changed.shape[1] and val[i, r] != changed[i, j]:
                moved = True
        if not moved:
            continue
        lines[L] = i
        vals[L, :] = prod[i, :]
        for r in range(idx.size):
            j = idx[r]
            if j < changed.shape[1]:
                d = val[i, r] - changed[i, j]
                if d != 0.0:
                    for c in range(m):
                        vals[L, c] += d * other[j, c]
        L += 1
    return L


@njit(cache=True, fastmath=False)
def src_left_rows(prod, changed, other, idx, val, lines, vals):
    """``changed @ other``, rows ``idx`` of ``changed`` now ``val`` (R, k): by rows."""
    out = prod.copy()
    moved = np.zeros(prod.shape[0], dtype=np.bool_)
    for r in range(idx.size):
        if idx[r] < prod.shape[0]:
            out[idx[r], :] = np.dot(np.ascontiguousarray(val[r, :]), other)
            moved[idx[r]] = True
    return _marked(out, moved, False, lines, vals)


@njit(cache=True, fastmath=False)
def src_right_cols(prod, changed, other, idx, val, lines, vals):
    """``other @ changed``, columns ``idx`` of ``changed`` now ``val`` (k, R): by columns."""
    out = prod.copy()
    moved = np.zeros(prod.shape[1], dtype=np.bool_)
    for r in range(idx.size):
        if idx[r] < prod.shape[1]:
            out[:, idx[r]] = np.dot(other, np.ascontiguousarray(val[:, r]))
            moved[idx[r]] = True
    return _marked(out, moved, True, lines, vals)


@njit(cache=True, fastmath=False)
def src_left_entries(prod, changed, other, pos, val, lines, vals):
    """``changed @ other``, flat entries ``pos`` of ``changed`` now ``val``: by rows."""
    out = prod.copy()
    moved = np.zeros(prod.shape[0], dtype=np.bool_)
    k = changed.shape[1]
    flat = changed.ravel()
    for s in range(pos.size):
        if pos[s] < flat.size:
            d = val[s] - flat[pos[s]]
            if d != 0.0:
                i, j = pos[s] // k, pos[s] % k
                out[i, :] += d * other[j, :]
                moved[i] = True
    return _marked(out, moved, False, lines, vals)


@njit(cache=True, fastmath=False)
def src_right_entries(prod, changed, other, pos, val, lines, vals):
    """``other @ changed``, flat entries ``pos`` of ``changed`` now ``val``: by columns."""
    out = prod.copy()
    moved = np.zeros(prod.shape[1], dtype=np.bool_)
    m = changed.shape[1]
    flat = changed.ravel()
    for s in range(pos.size):
        if pos[s] < flat.size:
            d = val[s] - flat[pos[s]]
            if d != 0.0:
                j, c = pos[s] // m, pos[s] % m
                for i in range(prod.shape[0]):
                    out[i, c] += other[i, j] * d
                moved[c] = True
    return _marked(out, moved, True, lines, vals)


@njit(cache=True, fastmath=False)
def src_rows(idx, val, n, lines, vals):
    """A changed value's rows ``idx`` (R,) (n: padding) and their values ``val`` (R, m)."""
    L = 0
    for r in range(idx.size):
        if idx[r] < n:
            lines[L] = idx[r]
            vals[L, :] = val[r, :]
            L += 1
    return L


@njit(cache=True, fastmath=False)
def src_cols(idx, val, n, lines, vals):
    """A changed value's columns ``idx`` (R,) (n: padding), values ``val`` (k, R)."""
    L = 0
    for r in range(idx.size):
        if idx[r] < n:
            lines[L] = idx[r]
            vals[L, :] = val[:, r]
            L += 1
    return L
