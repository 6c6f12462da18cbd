"""Dense networks over a flat parameter buffer, compiled: the cost the kernels call.

Conventions (the seed's): X (n0, m) has one example per column; theta stacks
W1 (n1, n0), b1 (n1, 1), W2 (n2, n1), b2 (n2, 1), ... in C order. A network is
described to the kernels by plain arrays:

- ``sizes`` (L + 1,) int64: n0, n1, ..., nL;
- ``acts`` (L,) int64: the activation code of each layer, the last one being
  the output's (SIGMOID, SOFTMAX or LINEAR, fixed by the loss);
- ``loss`` an int code (BCE, CE, MSE) and ``l2`` the L2 strength.

The cost is (1/m) sum of per-example losses + (l2 / 2m) sum_l ||W_l||_F^2,
computed from the logits Z_L so that no log(0) arises for large logits. MSE is
(1/2m) ||Z_L - Y||_F^2.

Comparisons use ``.real`` and every branch is an analytic function of its
input, so the same code runs on complex128 theta for the complex step.
"""

import functools

import numpy as np
from numba import njit

from .signatures import COMPLEX_COST_SIG, COST_SIG

LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID, SOFTMAX = 0, 1, 2, 3, 4, 5
BCE, CE, MSE = 0, 1, 2
LEAKY_SLOPE = 0.01


@njit(cache=True)
def layer_offsets(sizes):
    """(L + 1,) offsets of W_l in theta; b_l starts at offsets[l] + n_l * n_{l-1}."""
    L = sizes.shape[0] - 1
    offsets = np.empty(L + 1, dtype=np.int64)
    offsets[0] = 0
    for l in range(L):
        offsets[l + 1] = offsets[l] + sizes[l + 1] * sizes[l] + sizes[l + 1]
    return offsets


@njit(cache=True)
def weights(theta, sizes, offsets, l):
    """Views of W_{l+1} (n_{l+1}, n_l) and b_{l+1} (n_{l+1}, 1) in theta."""
    n_out, n_in = sizes[l + 1], sizes[l]
    start = offsets[l]
    W = theta[start:start + n_out * n_in].reshape((n_out, n_in))
    b = theta[start + n_out * n_in:start + n_out * n_in + n_out].reshape((n_out, 1))
    return W, b


@njit(cache=True)
def unit(z, code):
    """g(z) for one pre-activation, every code but SOFTMAX."""
    if code == RELU:
        return z if z.real > 0.0 else 0.0 * z
    if code == LEAKY_RELU:
        return z if z.real > 0.0 else LEAKY_SLOPE * z
    if code == TANH:
        return np.tanh(z)
    if code == SIGMOID:
        if z.real >= 0.0:
            return 1.0 / (1.0 + np.exp(-z))
        e = np.exp(z)
        return e / (1.0 + e)
    return z


@njit(cache=True)
def activate(Z, code):
    """A = g(Z): softmax per column, else ``unit`` elementwise."""
    A = np.empty_like(Z)
    n, m = Z.shape
    if code == SOFTMAX:
        for j in range(m):
            top = Z[0, j].real
            for i in range(1, n):
                top = max(top, Z[i, j].real)
            total = 0.0 * Z[0, j]
            for i in range(n):
                A[i, j] = np.exp(Z[i, j] - top)
                total += A[i, j]
            for i in range(n):
                A[i, j] /= total
        return A
    for i in range(n):
        for j in range(m):
            A[i, j] = unit(Z[i, j], code)
    return A


@njit(cache=True)
def bce_element(z, y):
    """-y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - z y + log(1 + exp(-|z|))."""
    if z.real >= 0.0:
        return z - z * y + np.log1p(np.exp(-z))
    return -z * y + np.log1p(np.exp(z))


@njit(cache=True)
def mse_element(z, y):
    """(z - y)^2 / 2."""
    d = z - y
    return 0.5 * d * d


@njit(cache=True)
def ce_column(z, y):
    """-sum_i y_i log softmax(z)_i = sum_i y_i (logsumexp(z) - z_i), z and y (n,)."""
    top = z[0].real
    for i in range(1, z.shape[0]):
        top = max(top, z[i].real)
    s = 0.0 * z[0]
    for i in range(z.shape[0]):
        s += np.exp(z[i] - top)
    lse = top + np.log(s)
    total = 0.0 * z[0]
    for i in range(z.shape[0]):
        total += y[i] * (lse - z[i])
    return total


@njit(cache=True)
def loss_sum(Z, Y, loss):
    """Sum over all examples of the loss of logits Z (nL, m) against targets Y."""
    n, m = Z.shape
    total = 0.0 * Z[0, 0]
    if loss == CE:
        for j in range(m):
            total += ce_column(Z[:, j], Y[:, j])
    elif loss == BCE:
        for i in range(n):
            for j in range(m):
                total += bce_element(Z[i, j], Y[i, j])
    else:
        for i in range(n):
            for j in range(m):
                total += mse_element(Z[i, j], Y[i, j])
    return total


@njit(cache=True)
def l2_sum(theta, sizes, offsets):
    """sum_l ||W_l||_F^2."""
    total = 0.0 * theta[0]
    for l in range(sizes.shape[0] - 1):
        W, _ = weights(theta, sizes, offsets, l)
        for w in W.ravel():
            total += w * w
    return total


@njit(cache=True)
def logits(theta, sizes, acts, X):
    """Z_L (nL, m): the forward pass up to the output's pre-activation."""
    offsets = layer_offsets(sizes)
    L = sizes.shape[0] - 1
    A = X
    for l in range(L - 1):
        W, b = weights(theta, sizes, offsets, l)
        A = activate(W @ A + b, acts[l])
    W, b = weights(theta, sizes, offsets, L - 1)
    return W @ A + b


@njit(cache=True)
def cost(theta, sizes, acts, loss, l2, X, Y):
    """J(theta): mean loss plus (l2 / 2m) sum_l ||W_l||^2. X (n0, m), Y (nL, m)."""
    m = X.shape[1]
    J = loss_sum(logits(theta, sizes, acts, X), Y, loss) / m
    if l2 != 0.0:
        J += l2 / (2.0 * m) * l2_sum(theta, sizes, layer_offsets(sizes))
    return J


# -- the network as a cost of the generic kernel's fixed type -----------------
#
# idata = [L, n0 .. nL, act_1 .. act_L, loss]; fdata = [l2, X (n0 * m), Y (nL * m)]
# (complex for the complex step: Numba's @ wants the weights' dtype in X).


def pack(sizes, acts, loss, l2, X, Y, dtype=np.float64):
    """(fdata, idata) for ``packed_cost``: the network and its data, flat."""
    idata = np.concatenate(([sizes.shape[0] - 1], sizes, acts, [loss])).astype(np.int64)
    fdata = np.concatenate(([l2], X.ravel(), Y.ravel())).astype(dtype)
    return fdata, idata


def _packed_cost(theta, fdata, idata):
    """J(theta) for the network and data that ``pack`` laid out."""
    L = idata[0]
    sizes = idata[1:L + 2]
    acts = idata[L + 2:2 * L + 2]
    loss = idata[2 * L + 2]
    n0, nL = sizes[0], sizes[L]
    m = (fdata.shape[0] - 1) // (n0 + nL)
    X = fdata[1:1 + n0 * m].reshape((n0, m))
    Y = fdata[1 + n0 * m:].reshape((nL, m)).real
    return cost(theta, sizes, acts, loss, fdata[0].real, X, Y)


@functools.cache
def packed_cost(complex_step=False):
    """``_packed_cost`` compiled for the generic kernel's cost type, on first use."""
    return njit(COMPLEX_COST_SIG if complex_step else COST_SIG, cache=True,
                fastmath=False)(_packed_cost)
