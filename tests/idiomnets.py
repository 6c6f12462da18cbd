"""Networks written the way public NumPy code bases write them, for tests/test_trace_idioms.py.

- ``Attention``: a NumPy Transformer block's self-attention, with layernorm, GELU
  (tanh form), ``Q @ K.transpose(0, 2, 1)`` and ``np.einsum`` for the values.
- ``ConvPool``: an im2col convolution ("deep learning from scratch" style:
  ``col = np.zeros((N, C, fh, fw, oh, ow))`` filled by slices) and a 2x2 max
  pooling that stores ``np.argmax`` for its backward pass.
- ``GRU``: a GRU over time whose gates read ``np.column_stack([x_t, h])`` and
  whose hidden states are written into ``hs = np.zeros(...)`` row by row.
- ``regulariser``: L2 over a list of weights, ``np.sum([...])`` and ``sum(...)``.

Each is a class or a function with its parameters in a dict; ``cost(p, ...)`` is
the two-line adapter a user writes.
"""

import numpy as np


def layernorm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return g * (x - mu) / np.sqrt(var + eps) + b


def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Attention:
    def __init__(self, d, rng):
        self.params = {"Wq": rng.standard_normal((d, d)) / np.sqrt(d),
                       "Wk": rng.standard_normal((d, d)) / np.sqrt(d),
                       "Wv": rng.standard_normal((d, d)) / np.sqrt(d),
                       "g": 1 + 0.1 * rng.standard_normal(d), "b": 0.1 * rng.standard_normal(d)}

    def forward(self, x):
        p = self.params
        h = layernorm(x, p["g"], p["b"])
        q, k, v = h @ p["Wq"], h @ p["Wk"], h @ p["Wv"]
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
        att = softmax(scores)
        out = np.einsum("bij,bjk->bik", att, v)
        return x + gelu(out)

    def loss(self, x, target):
        return 0.5 * np.sum((self.forward(x) - target) ** 2)


def im2col(img, fh, fw, stride=1, pad=0):
    N, C, H, W = img.shape
    oh, ow = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    img = np.pad(img, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, fh, fw, oh, ow))
    for y in range(fh):
        y_max = y + stride * oh
        for x in range(fw):
            x_max = x + stride * ow
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * oh * ow, -1)


class ConvPool:
    def __init__(self, rng, C=2, F=3, k=3):
        self.params = {"W": 0.3 * rng.standard_normal((F, C, k, k)), "b": 0.1 * rng.standard_normal(F),
                       "V": 0.3 * rng.standard_normal((F * 2 * 2, 3))}
        self.hp = {"stride": 1, "pad": 1}

    def forward(self, x):
        W, b = self.params["W"], self.params["b"]
        FN, C, FH, FW = W.shape
        N, _, H, Wd = x.shape
        col = im2col(x, FH, FW, self.hp["stride"], self.hp["pad"])
        out = col @ W.reshape(FN, -1).T + b
        out = np.maximum(out, 0).reshape(N, H, Wd, -1).transpose(0, 3, 1, 2)
        # 2x2 max pooling through argmax (stored for the backward pass)
        pc = im2col(out, 2, 2, stride=2)
        pc = pc.reshape(-1, 4)
        self.arg_max = np.argmax(pc, axis=1)
        pooled = pc[np.arange(pc.shape[0]), self.arg_max]
        pooled = pooled.reshape(N, H // 2, Wd // 2, FN).transpose(0, 3, 1, 2)
        return pooled.reshape(N, -1) @ self.params["V"]

    def loss(self, x, y):
        scores = self.forward(x)
        return -np.mean(np.log(softmax(scores)[np.arange(len(y)), y]))


class GRU:
    def __init__(self, n_in, n_h, rng):
        s = 1 / np.sqrt(n_in + n_h)
        self.params = {"Wz": s * rng.standard_normal((n_in + n_h, n_h)),
                       "Wr": s * rng.standard_normal((n_in + n_h, n_h)),
                       "Wh": s * rng.standard_normal((n_in + n_h, n_h)),
                       "bz": np.zeros(n_h), "Wy": s * rng.standard_normal((n_h, 1))}

    def forward(self, xs):
        p = self.params
        T, N, _ = xs.shape
        h = np.zeros((N, p["Wz"].shape[1]))
        hs = np.zeros((T, N, h.shape[1]))
        for t in range(T):
            xh = np.column_stack([xs[t], h])
            z = 1 / (1 + np.exp(-(xh @ p["Wz"] + p["bz"])))
            r = 1 / (1 + np.exp(-(xh @ p["Wr"])))
            cand = np.tanh(np.column_stack([xs[t], r * h]) @ p["Wh"])
            h = (1 - z) * h + z * cand
            hs[t] = h
        return hs

    def loss(self, xs, ys):
        hs = self.forward(xs)
        return 0.5 * np.sum((hs @ self.params["Wy"] - ys) ** 2)


def regulariser(weights, lam):
    return lam * np.sum([np.sum(w * w) for w in weights]) + lam * sum(np.abs(w).sum() for w in weights)
