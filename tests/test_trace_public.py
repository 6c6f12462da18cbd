"""Idioms met on the public code bases issue 31 measures against, written in
their style (our own tiny networks, no copied code), compiled with jit=True.

References: a closed-form gradient in float64 and the Python check on the same
cost (tensor by tensor statuses); the record against the Python cost.
"""

import numpy as np

import fastcheck as fc


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
