"""Layers written the way course assignments write them, for ``check_vjp``'s tests
and benchmarks: plain NumPy, forward ``(out, cache)``, backward ``(dout, cache)``.

Each backward takes ``mistake``, which plants the mistake its docstring names.
The ``*_layer(inputs, ...)`` functions present each forward pass to
``check_vjp``: a dict of everything differentiated, data included.

Two deliberate departures from the usual assignment code, so that more of it
runs where fastcheck can use it: padding is written out (``np.pad`` does not
compile with Numba) and outputs are allocated with the input's dtype and the
variance is a mean of squares (``np.var`` of complex data is real), so the
complex step applies. Max pooling is left as courses write it, with a real
``np.zeros`` output: it does not run in complex arithmetic (and ``max`` is not
analytic anyway), so ``method="complex"`` refuses it.
"""

import numpy as np


# ---- affine ------------------------------------------------------------------------

def affine_forward(x, w, b):
    """x (N, d1, ..., dk), w (D, M) with D = d1 * ... * dk, b (M,) -> out (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache, mistake=False):
    """-> dx, dw, db. Mistake: dw scaled by 1.1."""
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    if mistake:
        dw = dw * 1.1
    return dx, dw, db


def affine_layer(inputs):
    return affine_forward(inputs["x"], inputs["w"], inputs["b"])


# ---- batch normalisation, training mode --------------------------------------------

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """x (N, D), gamma (D,), beta (D,) -> out (N, D), normalised over the batch."""
    N = x.shape[0]
    mu = x.sum(axis=0) / N
    xc = x - mu
    var = (xc * xc).sum(axis=0) / N
    std = np.sqrt(var + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xhat, gamma, std)


def batchnorm_backward(dout, cache, mistake=None):
    """-> dx, dgamma, dbeta. Mistakes: "mean" drops dx's term through the batch
    mean, ``-mean(dxhat)``; "variance" drops its term through the variance,
    ``-xhat * mean(dxhat * xhat)``; "gamma" forgets gamma in ``dxhat``. A
    uniform dout hides the last two (tests/test_vjp.py)."""
    xhat, gamma, std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout if mistake == "gamma" else dout * gamma
    mean_term = dxhat.mean(axis=0)
    variance_term = xhat * (dxhat * xhat).mean(axis=0)
    if mistake == "mean":
        mean_term = 0.0
    elif mistake == "variance":
        variance_term = 0.0
    dx = (dxhat - mean_term - variance_term) / std
    return dx, dgamma, dbeta


def batchnorm_layer(inputs):
    return batchnorm_forward(inputs["x"], inputs["gamma"], inputs["beta"])


# ---- convolution, the naive four loops ---------------------------------------------

def conv_forward(x, w, b, stride, pad):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W'),
    H' = 1 + (H + 2 pad - HH) // stride (likewise W')."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    Ho = 1 + (H + 2 * pad - HH) // stride
    Wo = 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, stride, pad)


def conv_backward(dout, cache, mistake=False):
    """-> dx, dw, db. Mistake: db summed over axes (1, 2, 3) instead of (0, 2, 3)
    (the shapes agree only when N == F, which is how it slips through)."""
    x, w, b, stride, pad = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    db = dout.sum(axis=(1, 2, 3) if mistake else (0, 2, 3))
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db


def conv_layer(inputs, stride, pad):
    return conv_forward(inputs["x"], inputs["w"], inputs["b"], stride, pad)


# ---- max pooling, loop-based -------------------------------------------------------

def maxpool_forward(x, pool_height, pool_width, stride):
    """x (N, C, H, W) -> out (N, C, H', W'), H' = 1 + (H - pool_height) // stride."""
    N, C, H, W = x.shape
    Ho = 1 + (H - pool_height) // stride
    Wo = 1 + (W - pool_width) // stride
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = np.max(x[n, c, i * stride:i * stride + pool_height,
                                               j * stride:j * stride + pool_width])
    return out, (x, pool_height, pool_width, stride)


def maxpool_backward(dout, cache, mistake=False):
    """-> dx. Mistake: the window's argmax unravelled with rows and columns
    swapped, so the gradient goes to the wrong element off the diagonal."""
    x, pool_height, pool_width, stride = cache
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * stride:i * stride + pool_height,
                               j * stride:j * stride + pool_width]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    if mistake:
                        r, s = s, r
                    dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j]
    return dx


def maxpool_layer(inputs, pool_height, pool_width, stride):
    return maxpool_forward(inputs["x"], pool_height, pool_width, stride)


# ---- one LSTM step -----------------------------------------------------------------

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """x (N, D), prev_h, prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)
    -> next_h, next_c (N, H), cache."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    o = sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache, mistake=False):
    """-> dx, dprev_h, dprev_c, dWx, dWh, db. Mistake: dWh scaled by 1.1."""
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    do = dnext_h * tc
    dc = dnext_c + dnext_h * o * (1 - tc ** 2)
    di, df, dg = dc * g, dc * prev_c, dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
    dWh = prev_h.T @ da
    if mistake:
        dWh = dWh * 1.1
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, dWh, da.sum(axis=0)


def lstm_layer(inputs):
    return lstm_step_forward(inputs["x"], inputs["prev_h"], inputs["prev_c"],
                             inputs["Wx"], inputs["Wh"], inputs["b"])


# ---- softmax loss ------------------------------------------------------------------

def softmax_loss(x, y, mistake=False):
    """x (N, C) scores, y (N,) labels -> (loss, dx), the loss's own gradient.
    Mistake: dx scaled by 1.1."""
    N = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    if mistake:
        dx = dx * 1.1
    return loss, dx


def softmax_layer(inputs, y):
    return softmax_loss(inputs["x"], y)


# ---- problems ----------------------------------------------------------------------

def problem(name, seed=0, size="small"):
    """``(layer, inputs, args, backward)`` for layer ``name``: ``backward(*douts,
    mistake=...)`` returns the gradients in the order of ``inputs``.

    "small" sizes keep the tests fast; "bench" sizes are the benchmarks' larger
    ones. Inputs are standard normal (batchnorm's shifted and scaled so that its
    statistics matter): every max-pooling window has a clear maximum.
    """
    rng = np.random.default_rng([seed, sum(map(ord, name))])

    def normal(*shape, scale=1.0):
        return scale * rng.standard_normal(shape)

    if name == "affine":
        inputs = {"x": normal(4, 2, 3), "w": normal(6, 5), "b": normal(5)}
        _, cache = affine_layer(inputs)
        return affine_layer, inputs, (), lambda d, mistake=False: affine_backward(
            d, cache, mistake)
    if name == "batchnorm":
        inputs = {"x": 3.0 + normal(5, 4, scale=2.0), "gamma": 1.0 + normal(4, scale=0.2),
                  "beta": normal(4)}
        _, cache = batchnorm_layer(inputs)
        return batchnorm_layer, inputs, (), lambda d, mistake=None: batchnorm_backward(
            d, cache, mistake)
    if name == "conv":
        # N == F: the wrong-axis db has the right shape, as in the wild.
        n, c, hw, f, k = (2, 3, 5, 2, 3) if size == "small" else (2, 3, 8, 4, 3)
        inputs = {"x": normal(n, c, hw, hw), "w": normal(f, c, k, k, scale=0.3),
                  "b": normal(f)}
        args = (2, 1) if size == "small" else (1, 1)
        _, cache = conv_layer(inputs, *args)
        return conv_layer, inputs, args, lambda d, mistake=False: conv_backward(
            d, cache, mistake)
    if name == "maxpool":
        inputs = {"x": normal(2, 2, 4, 4)}
        args = (2, 2, 2)
        _, cache = maxpool_layer(inputs, *args)
        return maxpool_layer, inputs, args, lambda d, mistake=False: (maxpool_backward(
            d, cache, mistake),)
    if name == "lstm":
        n, d, h = (3, 4, 5) if size == "small" else (16, 32, 32)
        inputs = {"x": normal(n, d), "prev_h": normal(n, h), "prev_c": normal(n, h),
                  "Wx": normal(d, 4 * h, scale=0.3), "Wh": normal(h, 4 * h, scale=0.3),
                  "b": normal(4 * h, scale=0.1)}
        _, _, cache = lstm_layer(inputs)
        return lstm_layer, inputs, (), lambda dh, dc, mistake=False: lstm_step_backward(
            dh, dc, cache, mistake)
    if name == "softmax":
        x = normal(6, 4)
        y = rng.integers(0, 4, size=6)
        return softmax_layer, {"x": x}, (y,), lambda d=1.0, mistake=False: (
            softmax_loss(x, y, mistake)[1] * d,)
    raise KeyError(name)


LAYERS = ("affine", "batchnorm", "conv", "maxpool", "lstm", "softmax")
