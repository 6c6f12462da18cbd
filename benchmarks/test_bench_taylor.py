"""``taylor_test`` on a two-layer tanh network written in NumPy, against the naive
way to a verdict on its gradient and Hessian-vector product:

- ``naive``: every coordinate's central difference (h = 1e-5, two evaluations
  each, the course helper's loop) against the gradient, and H v against the
  central difference of the gradient along v;
- ``taylor``: ``fastcheck.taylor_test`` with ``hvp=``: one direction per tensor
  and one joint, about 20 halving steps each, and the noise line, whatever the
  number of parameters.

Sizes: (3 -> 4 -> 2) on 10 examples in the smoke run (benchmarks disabled), else
(64 -> 128 -> 10) on 256 examples: 9,610 parameters. Every row checks its result.
"""

import numpy as np
import pytest

import fastcheck as fc

pytestmark = pytest.mark.benchmark(group="taylor net")


def loss(p, X, Y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    return 0.5 * np.mean(np.sum((h @ p["W2"] + p["b2"] - Y) ** 2, axis=1))


def backward(p, X, Y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    e = (h @ p["W2"] + p["b2"] - Y) / len(X)
    dz = (e @ p["W2"].T) * (1 - h ** 2)
    return {"dW1": X.T @ dz, "db1": dz.sum(axis=0, keepdims=True), "dW2": h.T @ e,
            "db2": e.sum(axis=0, keepdims=True)}


def hvp(v, p, X, Y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    e = (h @ p["W2"] + p["b2"] - Y) / len(X)
    rh = (1 - h ** 2) * (X @ v["W1"] + v["b1"])
    re = (rh @ p["W2"] + h @ v["W2"] + v["b2"]) / len(X)
    rdz = (re @ p["W2"].T + e @ v["W2"].T) * (1 - h ** 2) + (e @ p["W2"].T) * (-2 * h * rh)
    return {"dW1": X.T @ rdz, "db1": rdz.sum(axis=0, keepdims=True), "dW2": rh.T @ e + h.T @ re,
            "db2": re.sum(axis=0, keepdims=True)}


def naive(params, X, Y, grads, v, hv, h=1e-5):
    """The largest relative error of the gradient, coordinate by coordinate, and of H v
    against the central difference of the gradient along v."""
    worst = 0.0
    for name, value in params.items():
        value = value.copy()
        moved = dict(params, **{name: value})
        for ix in np.ndindex(value.shape):
            saved = value[ix]
            value[ix] = saved + h
            plus = loss(moved, X, Y)
            value[ix] = saved - h
            minus = loss(moved, X, Y)
            value[ix] = saved
            est, g = (plus - minus) / (2 * h), grads["d" + name][ix]
            worst = max(worst, abs(est - g) / max(1e-8, abs(est) + abs(g)))
    up = backward({k: params[k] + h * v[k] for k in params}, X, Y)
    down = backward({k: params[k] - h * v[k] for k in params}, X, Y)
    for name in params:
        est = (up["d" + name] - down["d" + name]) / (2 * h)
        worst = max(worst, float(np.max(np.abs(est - hv["d" + name]) /
                                        np.maximum(1e-8, np.abs(est) + np.abs(hv["d" + name])))))
    return worst


@pytest.fixture
def setup(benchmark):
    size = "small" if benchmark.disabled else "bench"
    (n, d, k, m) = (10, 3, 4, 2) if size == "small" else (256, 64, 128, 10)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, m))
    params = {"W1": rng.standard_normal((d, k)) / np.sqrt(d), "b1": np.zeros((1, k)),
              "W2": rng.standard_normal((k, m)) / np.sqrt(k), "b2": np.zeros((1, m))}
    benchmark.extra_info.update(size=size, parameters=int(sum(v.size for v in params.values())))
    return params, X, Y, backward(params, X, Y)


def test_naive(benchmark, setup):
    params, X, Y, grads = setup
    benchmark.extra_info["engine"] = "naive"
    v = {k: np.cos(np.arange(a.size)).reshape(a.shape) for k, a in params.items()}
    # h = 1e-5 leaves relative errors near 1e-5 on the smallest entries: the loop's own.
    assert benchmark(naive, params, X, Y, grads, v, hvp(v, params, X, Y)) < 1e-3


def test_taylor(benchmark, setup):
    params, X, Y, grads = setup
    benchmark.extra_info["engine"] = "taylor"
    res = benchmark(fc.taylor_test, loss, params, grads, X, Y,
                    hvp=lambda v: hvp(v, params, X, Y))
    assert res.verdict == "pass", str(res)
