"""Idioms met on the public code bases issue 31 measures against, written in
their style (our own tiny networks, no copied code), compiled with jit=True.

References: a closed-form gradient in float64 and the Python check on the same
cost (tensor by tensor statuses); the record against the Python cost.
"""

import os
import sys

import numpy as np

import fastcheck as fc

sys.path.insert(0, os.path.dirname(__file__))
from test_trace_idioms import agrees, numeric_grads  # noqa: E402


# ---- a float32 layer set as the "from scratch" book's second volume writes it: --------
# ---- params lists of 'f' arrays, updated in place; a loss divided in place -------------

class Affine:
    def __init__(self, W, b):
        self.params = [W, b]

    def forward(self, x):
        W, b = self.params
        return np.dot(x, W) + b


class SoftmaxWithLoss:
    def forward(self, x, t):
        x = x - x.max(axis=1, keepdims=True)
        y = np.exp(x)
        y /= y.sum(axis=1, keepdims=True)
        mask = t != -1          # -1: a label to ignore
        ls = np.log(y[np.arange(len(t)), t])
        ls *= mask
        loss = -np.sum(ls)
        loss /= mask.sum()      # a float32 scalar divided in place by a NumPy integer
        return loss


class Net:
    def __init__(self, rng, D, C):
        self.affine = Affine((0.5 * rng.standard_normal((D, C))).astype('f'),
                             (0.1 * rng.standard_normal(C)).astype('f'))
        self.loss_layer = SoftmaxWithLoss()
        self.params = self.affine.params

    def forward(self, x, t):
        return self.loss_layer.forward(self.affine.forward(x), t)


def _closed_form(W, b, x, t):
    """d(mean cross-entropy)/d(W, b) of softmax(x W + b), in float64."""
    z = x.astype(float) @ W.astype(float) + b.astype(float)
    y = np.exp(z - z.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    y[np.arange(len(t)), t] -= 1
    return {"W": x.astype(float).T @ y / len(t), "b": y.sum(axis=0) / len(t)}


def test_a_float32_loss_divided_in_place_compiles_and_checks():
    """``loss /= n`` on a float32 scalar used to give a record Numba refused
    (np.float32() of a 0-d array): every RNN language model of the book was refused."""
    rng = np.random.default_rng(3)
    net = Net(rng, 3, 4)
    x = rng.standard_normal((6, 3)).astype('f')
    t = rng.integers(0, 4, 6)

    def cost(p, x, t):
        for name, param in zip(("W", "b"), net.params):
            param[...] = p[name]
        return net.forward(x, t)
    params = {"W": net.params[0].astype(float), "b": net.params[1].astype(float)}
    grads = _closed_form(params["W"], params["b"], x, t)
    res = fc.check(cost, params, grads, x, t, jit=True)
    assert any("compiled by tracing" in n for n in res.notes), res.notes
    python = fc.check(cost, params, grads, x, t, jit=False)
    assert {r.name: r.status for r in res.per_tensor} == \
        {r.name: r.status for r in python.per_tensor}, str(res)
    assert "WRONG" not in {r.status for r in res.per_tensor}, str(res)
    assert np.array_equal(net.params[0], params["W"].astype('f'))   # left at theta
    wrong = dict(grads, b=grads["b"] + 0.05)
    bad = fc.check(cost, params, wrong, x, t, jit=True)
    assert not bad.passed and bad.suspects == ["b"], str(bad)


# ---- np.c_ and np.r_: a binary loss written with np.c_ (the book's negative sampling) ---

def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t])) / batch_size


class SigmoidWithLoss:
    def forward(self, x, t):
        self.t = t
        self.y = 1 / (1 + np.exp(-x))
        return cross_entropy_error(np.c_[1 - self.y, self.y], self.t)


class EmbeddingDot:
    def __init__(self, W):
        self.params = [W]

    def forward(self, h, idx):
        W, = self.params
        return np.sum(W[idx] * h, axis=1)


def test_np_c_and_np_r_of_recorded_values_are_concatenations():
    """np.c_[1 - y, y] used to be refused (a conversion to a plain array); the record
    must equal the cost away from theta, and the traced check agree with Python's."""
    rng = np.random.default_rng(5)
    embed = EmbeddingDot(rng.standard_normal((6, 3)))
    loss = SigmoidWithLoss()
    h = rng.standard_normal((4, 3))
    idx, t = rng.integers(0, 6, 4), rng.integers(0, 2, 4)

    def cost(p, h, idx, t):
        embed.params[0][...] = p["W"]
        score = embed.forward(h, idx)
        both = np.r_[score, p["b"]]              # np.r_ of two recorded values
        return loss.forward(both[:4] + both[4:], t) + 0.1 * np.sum(np.c_[p["W"], p["W"]] ** 2)
    params = {"W": embed.params[0].copy(), "b": rng.standard_normal(1)}
    agrees(cost, params, h, idx, t)
    grads = numeric_grads(cost, params, h, idx, t)
    res = fc.check(cost, params, grads, h, idx, t, jit="trace")
    assert res.passed and any("compiled by tracing" in n for n in res.notes), str(res)
    bad = fc.check(cost, params, dict(grads, b=grads["b"] * 1.1), h, idx, t, jit="trace")
    assert not bad.passed and bad.suspects == ["b"], str(bad)


# ---- np.rot90: a transposed convolution as a correlation with the kernel turned ---------

def correlate2d(X, W, pad):
    """X (n, h, w), W (kh, kw) -> (n, h + 2 pad - kh + 1, w + 2 pad - kw + 1)."""
    Xp = np.pad(X, ((0, 0), (pad, pad), (pad, pad)))
    kh, kw = W.shape
    oh, ow = Xp.shape[1] - kh + 1, Xp.shape[2] - kw + 1
    out = np.zeros((X.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = np.sum(Xp[:, i:i + kh, j:j + kw] * W, axis=(1, 2))
    return out


class Deconv:
    def forward(self, X):
        return correlate2d(X, np.rot90(self.W, 2), self.W.shape[0] - 1)


def test_rot90_fliplr_flipud_move_elements_as_numpy_does():
    rng = np.random.default_rng(6)
    layer = Deconv()
    X = rng.standard_normal((2, 3, 3))
    R = rng.standard_normal((2, 4, 4))

    def cost(p, X, R):
        layer.W = p["W"]
        turned = np.rot90(p["W"], 1) + np.rot90(p["W"], -1, axes=(1, 0))
        return np.sum(layer.forward(X) * R) + np.sum(np.fliplr(turned) * np.flipud(p["W"]) ** 2)
    params = {"W": rng.standard_normal((2, 2))}
    agrees(cost, params, X, R)
    grads = numeric_grads(cost, params, X, R)
    res = fc.check(cost, params, grads, X, R, jit="trace")
    assert res.passed and any("compiled by tracing" in n for n in res.notes), str(res)


# ---- a layout test in Python: a Tensor class of a NumPy Transformer ---------------------

class Tensor:
    def __init__(self, data):
        self.data = data

    def transpose(self, *axes):
        return Tensor(self.data.transpose(*axes))

    def contiguous(self):
        if self.data.flags['C_CONTIGUOUS']:
            return self
        return Tensor(np.ascontiguousarray(self.data))

    def view(self, *shape):
        return Tensor(self.data.reshape(*shape))


def heads(x, h):
    """(batch, length, d) -> (batch, h, length, d // h), then back, through .contiguous()."""
    b, n, d = x.data.shape
    split = x.view(b, n, h, d // h).transpose(0, 2, 1, 3)
    scores = split.data @ split.data.transpose(0, 1, 3, 2)
    mixed = Tensor(scores @ split.data).transpose(0, 2, 1, 3).contiguous()
    return mixed.view(b, n, d)


def test_a_branch_on_an_arrays_layout_follows_numpy():
    """``.flags['C_CONTIGUOUS']`` used to be refused as an unrecorded method."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((1, 3, 4))

    def cost(p, X):
        return np.sum(np.tanh(heads(Tensor(X @ p["Wq"]), 2).data))
    params = {"Wq": 0.5 * rng.standard_normal((4, 4))}
    agrees(cost, params, X)
    grads = numeric_grads(cost, params, X)
    res = fc.check(cost, params, grads, X, jit="trace")
    assert res.passed and any("compiled by tracing" in n for n in res.notes), str(res)


# ---- the book's RNN language model: an embedding lookup reads the model's own array ----
# ---- with data indices only (W[idx]): the record must follow the array wherever the ----
# ---- cost reaches it from (a class attribute, a bound method's closure, a default) -----

class Embedding:
    def __init__(self, W):
        self.params = [W]

    def forward(self, idx):
        W, = self.params
        return W[idx]           # no recorded operand: NumPy reads the user's array


class TimeEmbedding:
    def __init__(self, W):
        self.params = [W]
        self.W = W

    def forward(self, xs):
        N, T = xs.shape
        out = np.empty((N, T, self.W.shape[1]))
        for t in range(T):
            out[:, t, :] = Embedding(self.W).forward(xs[:, t])
        return out


class TimeAffine(Affine):
    def forward(self, x):
        N, T, D = x.shape
        return super().forward(x.reshape(N * T, D)).reshape(N, T, -1)


def _language_model(rng, V, D):
    """The case's own adapter: the params list a class attribute, the layers reached
    only through the closure of the model's forward method."""
    layers = [TimeEmbedding(rng.standard_normal((V, D))),
              TimeAffine(rng.standard_normal((D, V)), rng.standard_normal(V))]

    class Model:
        params = sum((layer.params for layer in layers), [])

        def forward(self, xs, ts):
            h = xs
            for layer in layers:
                h = layer.forward(h)
            y = np.exp(h - h.max(axis=-1, keepdims=True))
            y /= y.sum(axis=-1, keepdims=True)
            return -np.mean(np.log(np.take_along_axis(y, ts[..., None], axis=-1)))
    return Model()


def test_an_embedding_read_with_data_indices_follows_the_models_array_wherever_held():
    """TimeGRU's language model: the record gave 1.6744 where the cost gave 1.6663 at a
    perturbed point (the embedding frozen at theta): the model's arrays were held by a
    class attribute and a bound method's closure, which the tracer did not look into,
    so ``W[idx]`` read the user's array and not the record's."""
    rng = np.random.default_rng(12)
    model = _language_model(rng, 5, 3)
    xs, ts = rng.integers(0, 5, (2, 3)), rng.integers(0, 5, (2, 3))
    forward = model.forward

    def cost(p, xs, ts):
        for i, param in enumerate(model.params):
            param[...] = p[f"p{i}"]
        return forward(xs, ts)
    params = {f"p{i}": a.copy() for i, a in enumerate(model.params)}
    agrees(cost, params, xs, ts)
    lookup = Embedding(rng.standard_normal((5, 3)))     # held by a default argument only

    def by_default(p, xs, table=lookup.params):
        table[0][...] = p["W"]
        return np.sum(np.tanh(lookup.forward(xs)))
    agrees(by_default, {"W": lookup.params[0].copy()}, xs)
    assert type(model.params[0]) is np.ndarray and type(lookup.params[0]) is np.ndarray
    tupled, slotted = Embedding(None), Slotted(rng.standard_normal((5, 3)))
    tupled.params = (rng.standard_normal((5, 3)),)          # a tuple: replaced while traced

    def held_oddly(p, xs):
        tupled.params[0][...] = p["A"]
        slotted.W[...] = p["B"]
        return np.sum(np.tanh(tupled.forward(xs)) * slotted.W[xs])
    agrees(held_oddly, {"A": tupled.params[0].copy(), "B": slotted.W.copy()}, xs)
    assert type(tupled.params) is tuple and type(tupled.params[0]) is np.ndarray
    assert type(slotted.W) is np.ndarray


class NegativeSampling:
    """Layers sharing one table, each looking rows up with data indices (the book's
    negative sampling loss): the table is held five objects below the model."""

    def __init__(self, W, k):
        self.lookups = [Embedding(W) for _ in range(k)]
        self.params = sum((e.params for e in self.lookups), [])

    def forward(self, h, samples):
        return sum(np.sum(e.forward(samples[:, i]) * h) for i, e in enumerate(self.lookups))


class SkipGram:
    def __init__(self, W_in, W_out):
        self.in_layer = Embedding(W_in)
        self.losses = [NegativeSampling(W_out, 3) for _ in range(2)]
        self.params = self.in_layer.params + sum((l.params for l in self.losses), [])

    def forward(self, target, samples):
        h = self.in_layer.forward(target)
        return sum(np.log1p(np.exp(-l.forward(h, samples))) for l in self.losses)


def test_a_table_shared_by_nested_layers_is_followed_into_each():
    rng = np.random.default_rng(13)
    model = SkipGram(0.3 * rng.standard_normal((6, 2)), 0.3 * rng.standard_normal((6, 2)))
    target, drawn = rng.integers(0, 6, 4), rng.integers(0, 6, (4, 3))

    def cost(p, target):
        model.params[0][...] = p["W_in"]
        model.params[1][...] = p["W_out"]   # the same array as params[2:]
        samples = drawn.copy()              # a sampler's draw: plain NumPy indices
        return model.forward(target, samples)
    agrees(cost, {"W_in": model.params[0].copy(), "W_out": model.params[1].copy()}, target)


class Slotted:
    __slots__ = ("W",)

    def __init__(self, W):
        self.W = W
