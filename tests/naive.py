"""Slow, obvious NumPy twins of fastcheck's kernels, used as independent references.

Nothing here imports fastcheck: each twin is the textbook formula written as a
plain Python loop, so a test that compares a kernel with its twin compares two
implementations, not the code under test with itself.
"""

import numpy as np


def central_difference_twin(cost_flat, theta, idx, h):
    """The central differences of ``cost_flat`` at ``theta``, one coordinate at a time.

    Parameters
    ----------
    cost_flat : callable
        ``cost_flat(theta) -> float`` over a (P,) float64 vector.
    theta : array_like, (P,)
        The point; never modified (each evaluation perturbs a fresh copy).
    idx : array_like of int, (n,)
        Flat indices to differentiate, in any order.
    h : float or array_like, (n,)
        The step for each of them.

    Returns
    -------
    ndarray, (n,) float64
        ``out[k] = (J(theta + h[k] e_i) - J(theta - h[k] e_i)) / (2 h[k])``, ``i = idx[k]``.
    """
    theta = np.array(theta, dtype=np.float64)
    idx = np.asarray(idx, dtype=np.int64)
    h = np.broadcast_to(np.asarray(h, dtype=np.float64), idx.shape)
    out = np.empty(idx.shape[0], dtype=np.float64)
    for k in range(idx.shape[0]):
        i, step = int(idx[k]), float(h[k])
        plus = theta.copy()
        plus[i] = theta[i] + step
        minus = theta.copy()
        minus[i] = theta[i] - step
        out[k] = (float(cost_flat(plus)) - float(cost_flat(minus))) / (2.0 * step)
    return out


def relative_difference_twin(a, b):
    """||a - b||_2 / (||a||_2 + ||b||_2) with ``np.linalg.norm``, the seed's formula.

    0.0 when both are zero (they agree).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / denominator)
