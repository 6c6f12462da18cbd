"""A float32 LSTM language model written the way tutorials write one: a dict of
parameters, an embedding, one LSTM layer with its four gates stacked in
``lstm_Wx`` (E, 4H) and ``lstm_Wh`` (H, 4H), a softmax over the vocabulary,
a cache of the forward pass for the hand-written backward, everything in
float32 (``params32`` casts fastcheck's float64 theta, as a mixed-precision
script casts its master weights).
"""

import numpy as np

DTYPE = np.float32


def init(vocab=12, embed=6, hidden=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "embed": (rng.standard_normal((vocab, embed)) * 0.1).astype(DTYPE),
        "lstm_Wx": (rng.standard_normal((embed, 4 * hidden)) * 0.1).astype(DTYPE),
        "lstm_Wh": (rng.standard_normal((hidden, 4 * hidden)) * 0.1).astype(DTYPE),
        "lstm_b": np.zeros(4 * hidden, dtype=DTYPE),
        "W_out": (rng.standard_normal((hidden, vocab)) * 0.5).astype(DTYPE),
        "b_out": np.zeros(vocab, dtype=DTYPE),
    }


def batch(vocab=12, N=16, T=10, seed=1):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(N, T + 1))
    return tokens[:, :-1], tokens[:, 1:]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def params32(params):
    return {k: np.asarray(v, dtype=DTYPE) for k, v in params.items()}


def forward(params, inputs, targets):
    p = params32(params)
    N, T = inputs.shape
    H = p["lstm_Wh"].shape[0]
    h = np.zeros((N, H), dtype=DTYPE)
    c = np.zeros((N, H), dtype=DTYPE)
    cache = []
    loss = DTYPE(0.0)
    for t in range(T):
        x = p["embed"][inputs[:, t]]
        a = x @ p["lstm_Wx"] + h @ p["lstm_Wh"] + p["lstm_b"]
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        o, g = sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
        c_prev, h_prev = c, h
        c = f * c + i * g
        h = o * np.tanh(c)
        scores = h @ p["W_out"] + p["b_out"]
        scores = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        loss += -np.log(probs[np.arange(N), targets[:, t]]).sum() / (N * T)
        cache.append((x, h_prev, c_prev, i, f, o, g, c, h, probs))
    return loss, cache


def cost(params, inputs, targets):
    return forward(params, inputs, targets)[0]


def backward(params, inputs, targets, wrong=None, factor=1.4):
    """The gradients (d-prefixed, float32); ``wrong`` names a tensor whose
    gradient is multiplied by ``factor`` (a planted mistake)."""
    p = params32(params)
    _, cache = forward(params, inputs, targets)
    N, T = inputs.shape
    H = p["lstm_Wh"].shape[0]
    grads = {"d" + k: np.zeros_like(v) for k, v in p.items()}
    dh_next = np.zeros((N, H), dtype=DTYPE)
    dc_next = np.zeros((N, H), dtype=DTYPE)
    for t in reversed(range(T)):
        x, h_prev, c_prev, i, f, o, g, c, h, probs = cache[t]
        dscores = probs.copy()
        dscores[np.arange(N), targets[:, t]] -= 1
        dscores /= N * T
        grads["dW_out"] += h.T @ dscores
        grads["db_out"] += dscores.sum(axis=0)
        dh = dscores @ p["W_out"].T + dh_next
        tc = np.tanh(c)
        do = dh * tc
        dc = dh * o * (1 - tc * tc) + dc_next
        di, df, dg = dc * g, dc * c_prev, dc * i
        dc_next = dc * f
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o),
                             dg * (1 - g * g)], axis=1)
        grads["dlstm_Wx"] += x.T @ da
        grads["dlstm_Wh"] += h_prev.T @ da
        grads["dlstm_b"] += da.sum(axis=0)
        dx = da @ p["lstm_Wx"].T
        np.add.at(grads["dembed"], inputs[:, t], dx)
        dh_next = da @ p["lstm_Wh"].T
    if wrong is not None:
        grads["d" + wrong] = grads["d" + wrong] * DTYPE(factor)
    return grads
