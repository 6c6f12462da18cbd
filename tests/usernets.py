"""Networks as a course assignment writes them, with their backward passes.

Plain NumPy, examples in rows (X is (N, D)), dict params ``W1, b1, ...``,
helper functions and ``cache`` tuples, so that tests/test_verdict.py judges
fastcheck on the code its users write rather than on its own models:

- ``bn_*``: affine -> batchnorm (training mode) -> ReLU -> affine -> softmax.
  ``b1`` sits before the batchnorm, which subtracts the batch mean: its true
  gradient is exactly zero. ``bn_loss`` takes the variance with ``np.var``,
  which drops the imaginary part of complex data; ``bn_loss_carried`` takes
  it as ``np.mean((a - mu) ** 2)``, which carries it.
- ``dropout_*``: three ReLU layers with inverted dropout after the first two,
  the masks drawn from ``np.random.default_rng(seed)`` created inside the
  forward pass (deterministic), and L2 regularization of every weight.
  ``dropout_loss_unseeded`` draws from an unseeded generator.
- ``rnn_*``: a vanilla tanh RNN over a short sequence, softmax loss on the
  last hidden state.

Each ``*_backward(params, cache, mistake=None)`` is correct for ``mistake=None``;
``MISTAKES[net]`` maps each planted mistake to the tensors it makes wrong:
"scale" (a gradient scaled by 1.1), "noreg" (the regularization term left
out) and "axis" (a bias gradient summed over the wrong axis: the batch size
equals the layer's width, so the entry count is right and the values wrong).
Bias gradients come back as (1, M) where ``keepdims=True`` is natural.
"""

import numpy as np

# Sizes: N examples of D features, C classes. The layer whose bias gradient
# is summed over the wrong axis is N wide, so the wrong sum has N entries too.
N, D, C = 6, 4, 3
BN_EPS = 1e-5


def data(seed=0, n=N, d=D, c=C):
    """X (n, d) float64 and integer labels y (n,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, size=n)


def init(sizes, seed=1, dtype=np.float64):
    """A dict of weights (fan_in, fan_out) * 0.5 and small biases, one pair per layer."""
    rng = np.random.default_rng(seed)
    params = {}
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{k}"] = (0.5 * rng.standard_normal((fan_in, fan_out))).astype(dtype)
        params[f"b{k}"] = (0.1 * rng.standard_normal(fan_out)).astype(dtype)
    return params


# ---------------------------------------------------------------- helpers


def affine_forward(x, W, b):
    out = x @ W + b
    return out, (x, W)


def affine_backward(dout, cache):
    x, W = cache
    return dout @ W.T, x.T @ dout, np.sum(dout, axis=0, keepdims=True)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, x):
    return dout * (x.real > 0)


def softmax_loss(scores, y):
    """Mean cross-entropy of ``scores`` (n, c) for labels ``y`` (n,) and dscores."""
    shifted = scores - np.max(scores.real, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    n = scores.shape[0]
    loss = -np.sum(log_probs[np.arange(n), y]) / n
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    return loss, dscores / n


# ---------------------------------------------------------------- (a) batchnorm


def bn_init(seed=1, dtype=np.float64, hidden=N):
    params = init([D, hidden, C], seed, dtype)
    rng = np.random.default_rng(seed + 100)
    params["gamma"] = (1.0 + 0.2 * rng.standard_normal(hidden)).astype(dtype)
    params["beta"] = (0.1 * rng.standard_normal(hidden)).astype(dtype)
    return params


def batchnorm_forward(a, gamma, beta, carry_imaginary=False):
    mu = np.mean(a, axis=0)
    var = np.mean((a - mu) ** 2, axis=0) if carry_imaginary else np.var(a, axis=0)
    inv_std = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (a - mu) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


def batchnorm_backward(dout, cache):
    xhat, gamma, inv_std = cache
    n = dout.shape[0]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    da = inv_std / n * (n * dxhat - np.sum(dxhat, axis=0) - xhat * np.sum(dxhat * xhat, axis=0))
    return da, dgamma, dbeta


def bn_forward(params, X, y, carry_imaginary=False):
    a, fc1 = affine_forward(X, params["W1"], params["b1"])
    s, bn = batchnorm_forward(a, params["gamma"], params["beta"], carry_imaginary)
    r, relu = relu_forward(s)
    scores, fc2 = affine_forward(r, params["W2"], params["b2"])
    loss, dscores = softmax_loss(scores, y)
    return loss, (fc1, bn, relu, fc2, dscores)


def bn_loss(params, X, y):
    """The batchnorm net's cost, variance by ``np.var`` (real even for complex data)."""
    return bn_forward(params, X, y)[0]


def bn_loss_carried(params, X, y):
    """The same cost with the variance as np.mean((a - mu)**2): complex-step safe."""
    return bn_forward(params, X, y, carry_imaginary=True)[0]


def bn_backward(params, cache, mistake=None):
    fc1, bn, relu, fc2, dscores = cache
    dr, dW2, db2 = affine_backward(dscores, fc2)
    ds = relu_backward(dr, relu)
    da, dgamma, dbeta = batchnorm_backward(ds, bn)
    if mistake == "axis":
        dbeta = np.sum(ds, axis=1)  # over the units instead of the batch: N == hidden
    _, dW1, db1 = affine_backward(da, fc1)
    if mistake == "scale":
        dW1 = 1.1 * dW1
    return {"dW1": dW1, "db1": db1.reshape(-1), "dgamma": dgamma, "dbeta": dbeta,
            "dW2": dW2, "db2": db2.reshape(-1)}


# ---------------------------------------------------------------- (b) dropout + L2

KEEP = 0.7
REG = 0.1
DROPOUT_SIZES = [D, 5, N, C]  # the second hidden layer is N wide


def dropout_init(seed=2, dtype=np.float64):
    return init(DROPOUT_SIZES, seed, dtype)


def dropout_forward(x, rng, keep=KEEP):
    mask = (rng.random(x.shape) < keep) / keep
    return x * mask, mask


def dropout_net_forward(params, X, y, seed=0):
    """``seed=None`` draws the masks from an unseeded generator: nondeterministic."""
    rng = np.random.default_rng(seed)
    h, cache = X, []
    for k in (1, 2):
        a, fc = affine_forward(h, params[f"W{k}"], params[f"b{k}"])
        r, relu = relu_forward(a)
        h, mask = dropout_forward(r, rng)
        cache.append((fc, relu, mask))
    scores, fc3 = affine_forward(h, params["W3"], params["b3"])
    loss, dscores = softmax_loss(scores, y)
    reg = 0.5 * REG * sum(np.sum(params[f"W{k}"] ** 2) for k in (1, 2, 3))
    return loss + reg, (cache, fc3, dscores, params)


def dropout_loss(params, X, y):
    return dropout_net_forward(params, X, y)[0]


def dropout_loss_unseeded(params, X, y):
    return dropout_net_forward(params, X, y, seed=None)[0]


def dropout_backward(params, cache, mistake=None):
    layers, fc3, dscores, params = cache
    grads = {}
    dh, grads["dW3"], grads["db3"] = affine_backward(dscores, fc3)
    for k in (2, 1):
        fc, relu, mask = layers[k - 1]
        da = relu_backward(dh * mask, relu)
        dh, grads[f"dW{k}"], grads[f"db{k}"] = affine_backward(da, fc)
        if mistake == "axis" and k == 2:
            grads["db2"] = np.sum(da, axis=1, keepdims=True)  # (N, 1) for b2 (N,)
    for k in (1, 2, 3):
        if not (mistake == "noreg" and k == 2):
            grads[f"dW{k}"] = grads[f"dW{k}"] + REG * params[f"W{k}"]
    if mistake == "scale":
        grads["dW3"] = 1.1 * grads["dW3"]
    return grads


# ---------------------------------------------------------------- (c) vanilla RNN

T, RNN_D = 4, 3
RNN_H = N  # the hidden width equals the batch size


def rnn_data(seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, N, RNN_D)), rng.integers(0, C, size=N)


def rnn_init(seed=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {"Wx": (0.5 * rng.standard_normal((RNN_D, RNN_H))).astype(dtype),
            "Wh": (0.3 * rng.standard_normal((RNN_H, RNN_H))).astype(dtype),
            "b": (0.1 * rng.standard_normal(RNN_H)).astype(dtype),
            "Wy": (0.5 * rng.standard_normal((RNN_H, C))).astype(dtype),
            "by": (0.1 * rng.standard_normal(C)).astype(dtype)}


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, h)


def rnn_step_backward(dh, cache, Wx, Wh):
    x, h_prev, h = cache
    da = dh * (1 - h ** 2)
    return da, da @ Wh.T, x.T @ da, h_prev.T @ da


def rnn_forward(params, Xs, y):
    h = np.zeros((Xs.shape[1], params["Wh"].shape[0]), dtype=np.result_type(
        Xs, *params.values()))
    steps = []
    for t in range(Xs.shape[0]):
        h, step = rnn_step_forward(Xs[t], h, params["Wx"], params["Wh"], params["b"])
        steps.append(step)
    scores, fc = affine_forward(h, params["Wy"], params["by"])
    loss, dscores = softmax_loss(scores, y)
    return loss, (steps, fc, dscores, params)


def rnn_loss(params, Xs, y):
    return rnn_forward(params, Xs, y)[0]


def rnn_backward(params, cache, mistake=None):
    steps, fc, dscores, params = cache
    dh, dWy, dby = affine_backward(dscores, fc)
    dWx, dWh = np.zeros_like(params["Wx"]), np.zeros_like(params["Wh"])
    db = np.zeros((1, params["b"].shape[0]))
    for step in reversed(steps):
        da, dh, dWx_t, dWh_t = rnn_step_backward(dh, step, params["Wx"], params["Wh"])
        dWx += dWx_t
        dWh += dWh_t
        db += (np.sum(da, axis=1)[None, :] if mistake == "axis"
               else np.sum(da, axis=0, keepdims=True))
    if mistake == "scale":
        dWh = 1.1 * dWh
    return {"dWx": dWx, "dWh": dWh, "db": db, "dWy": dWy, "dby": dby}


#: For each net, each planted mistake and the tensors it makes wrong.
MISTAKES = {
    "bn": {"scale": ["W1"], "axis": ["beta"]},
    "dropout": {"scale": ["W3"], "noreg": ["W2"], "axis": ["b2"]},
    "rnn": {"scale": ["Wh"], "axis": ["b"]},
}


def net(name, carry_imaginary=True, dtype=np.float64):
    """(cost, params, args, backward) of net ``name`` ("bn", "dropout", "rnn");
    ``carry_imaginary=False`` gives the batchnorm cost that uses np.var."""
    if name == "bn":
        X, y = data()
        params = bn_init(dtype=dtype)
        cost = bn_loss_carried if carry_imaginary else bn_loss
        forward = bn_forward
    elif name == "dropout":
        X, y = data()
        params = dropout_init(dtype=dtype)
        cost, forward = dropout_loss, dropout_net_forward
    else:
        X, y = rnn_data()
        params = rnn_init(dtype=dtype)
        cost, forward = rnn_loss, rnn_forward
    backward = {"bn": bn_backward, "dropout": dropout_backward, "rnn": rnn_backward}[name]

    def grads(mistake=None):
        _, cache = forward(params, X, y)
        return backward(params, cache, mistake)

    return cost, params, (X, y), grads
