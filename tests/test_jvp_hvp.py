"""``fastcheck.check_hvp``: Hessian-vector products against central differences of
the user's gradient, per tensor of the product and per block of v.

The references are independent of fastcheck: a network's Hessian by the
complex step of its (analytic) backward pass, column by column, and a logistic
regression's Hessian in closed form.
"""

import json

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError, GradientError, InputTypeError, OptionError
from fastcheck.jvp import tangent


# ---- a one-hidden-layer tanh network, its backward pass and a hand-written R-op --------

def net_grad(p, X, Y):
    """The gradient of 0.5 * mean over examples of (h W2 + b2 - Y)^2, h = tanh(X W1 + b1)."""
    h = np.tanh(X @ p["W1"] + p["b1"])
    e = (h @ p["W2"] + p["b2"] - Y) / len(X)
    dz = (e @ p["W2"].T) * (1 - h ** 2)
    return {"dW1": X.T @ dz, "db1": dz.sum(axis=0, keepdims=True), "dW2": h.T @ e,
            "db2": e.sum(axis=0, keepdims=True)}


def net_hvp(v, p, X, Y, mistake=False):
    """Pearlmutter's R-op of ``net_grad`` along v. Mistake: the activation's second
    derivative, d(1 - h^2) = -2 h Rh, is left out of R(dz)."""
    h = np.tanh(X @ p["W1"] + p["b1"])
    e = (h @ p["W2"] + p["b2"] - Y) / len(X)
    rh = (1 - h ** 2) * (X @ v["W1"] + v["b1"])
    re = (rh @ p["W2"] + h @ v["W2"] + v["b2"]) / len(X)
    dh = e @ p["W2"].T
    rdz = (re @ p["W2"].T + e @ v["W2"].T) * (1 - h ** 2)
    if not mistake:
        rdz = rdz + dh * (-2 * h * rh)
    return {"dW1": X.T @ rdz, "db1": rdz.sum(axis=0, keepdims=True), "dW2": rh.T @ e + h.T @ re,
            "db2": re.sum(axis=0, keepdims=True)}


NAMES = ("W1", "b1", "W2", "b2")


def flat(d, prefix=""):
    return np.concatenate([np.ravel(d[prefix + name]) for name in NAMES])


def complex_step_hessian(params, X, Y):
    """(P, P): column k is Im(grad(theta + i 1e-30 e_k)) / 1e-30."""
    theta = flat(params)
    shapes = [params[name].shape for name in NAMES]
    cols = []
    for k in range(theta.size):
        z = theta.astype(complex)
        z[k] += 1e-30j
        parts, start = {}, 0
        for name, shape in zip(NAMES, shapes):
            size = int(np.prod(shape))
            parts[name] = z[start:start + size].reshape(shape)
            start += size
        cols.append(flat(net_grad(parts, X, Y), "d").imag / 1e-30)
    return np.array(cols).T


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal((1, 4)),
              "W2": rng.standard_normal((4, 1)), "b2": rng.standard_normal((1, 1))}
    return params, X, Y, complex_step_hessian(params, X, Y)


def test_the_r_op_matches_the_complex_step_hessian(net):
    params, X, Y, H = net
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    v = tangent({name: params[name].shape for name in NAMES}, seed=1, draw=0)
    np.testing.assert_allclose(flat(net_hvp(v, params, X, Y), "d"), H @ flat(v), atol=1e-12)
    assert np.abs(flat(net_hvp(v, params, X, Y, mistake=True), "d") - H @ flat(v)).max() > 0.1


@pytest.mark.parametrize("seed", range(3))
def test_a_correct_hvp_passes(net, seed):
    params, X, Y, H = net
    res = fc.check_hvp(net_grad, params, lambda v: net_hvp(v, params, X, Y), X, Y, n=2,
                       seed=seed)
    assert res.passed and res.verdict == "pass", str(res)
    assert [row.status for row in res.product] == ["ok"] * 4
    assert [row.name for row in res.rows] == ["all", *NAMES]
    # The dense Hessian (the reference itself) passes too.
    assert fc.check_hvp(net_grad, params, H, X, Y, seed=seed).passed


def test_a_missing_second_derivative_term_is_named(net):
    params, X, Y, H = net
    res = fc.check_hvp(net_grad, params, lambda v: net_hvp(v, params, X, Y, mistake=True), X, Y,
                       seed=4)
    assert res.verdict == "mistake", str(res)
    # Leaving out tanh'' changes R(dz) only where Rh != 0: along W1 and b1, in the
    # product's W1 and b1 blocks.
    assert res.suspects == ["W1", "b1"] and res.blocks == ["W1", "b1"]
    shapes = {name: params[name].shape for name in NAMES}
    v = tangent(shapes, seed=4, draw=0)
    offsets = np.cumsum([0] + [int(np.prod(s)) for s in shapes.values()])
    located = {(t, i, a) for t, i, a, _, _ in res.hvp_located}
    assert len(located) >= 8
    for k, along in enumerate(NAMES):
        vk = {name: (v[name] if name == along else np.zeros(shapes[name])) for name in NAMES}
        off = np.abs(flat(net_hvp(vk, params, X, Y, mistake=True), "d") - H @ flat(vk))
        for j, tensor in enumerate(NAMES):
            for flat_i in range(offsets[j], offsets[j + 1]):
                index = tuple(int(i) for i in np.unravel_index(flat_i - offsets[j],
                                                               shapes[tensor]))
                if off[flat_i] > 1e-5:
                    assert (tensor, index, along) in located
                elif off[flat_i] < 1e-8:
                    assert (tensor, index, along) not in located
    for tensor, index, along, value, estimate in res.hvp_located:
        assert tensor in ("W1", "b1") and along in ("W1", "b1")
    assert "wrong Hessian-vector product in: W1, b1" in str(res)


# ---- logistic regression: a Newton step's Hessian, dense or as a product -----------------

def logistic_grad(p, X, y, lam):
    s = 1 / (1 + np.exp(-(X @ p["w"] + p["b"])))
    return {"dw": X.T @ (s - y) / len(y) + lam * p["w"], "db": np.array([np.mean(s - y)])}


def logistic_hessian(p, X, y, lam, mistake=None):
    """Closed form: [[X^T S X / m + lam I, X^T s' / m], [s'^T X / m, mean(s')]]. Mistakes:
    "lam" forgets the regulariser, "cross" the w-b blocks."""
    s = 1 / (1 + np.exp(-(X @ p["w"] + p["b"])))
    d = s * (1 - s) / len(y)
    m = X.shape[1]
    H = np.empty((m + 1, m + 1))
    H[:m, :m] = X.T @ (d[:, None] * X) + (0 if mistake == "lam" else lam) * np.eye(m)
    H[:m, m] = H[m, :m] = 0 if mistake == "cross" else X.T @ d
    H[m, m] = d.sum()
    return H


@pytest.fixture(scope="module")
def logistic():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    y = (rng.uniform(size=30) < 0.5).astype(float)
    return {"w": rng.standard_normal(4), "b": np.array([0.3])}, X, y, 0.1


def test_a_newton_steps_hessian(logistic):
    params, X, y, lam = logistic
    H = logistic_hessian(params, X, y, lam)
    assert fc.check_hvp(logistic_grad, params, H, X, y, lam, n=3).passed

    def hvp(v):  # the product without forming H: X^T (d * (X v_w + v_b)) + lam v_w
        s = 1 / (1 + np.exp(-(X @ params["w"] + params["b"])))
        d = s * (1 - s) / len(y)
        r = d * (X @ v["w"] + v["b"])
        return (X.T @ r + lam * v["w"], np.array([r.sum()]))

    assert fc.check_hvp(logistic_grad, params, hvp, X, y, lam, n=3).passed
    res = fc.check_hvp(logistic_grad, params, logistic_hessian(params, X, y, lam, "lam"), X, y,
                       lam)
    assert res.suspects == ["w"] and res.blocks == ["w"], str(res)
    res = fc.check_hvp(logistic_grad, params, logistic_hessian(params, X, y, lam, "cross"),
                       X, y, lam)
    assert res.suspects == ["w", "b"] and res.blocks == ["w", "b"], str(res)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["kind"] == "hvp" and data["suspects"] == ["w", "b"]
    assert {row["name"]: row["status"] for row in data["product"]} == {"w": "WRONG",
                                                                      "b": "WRONG"}
    assert res._repr_html_().count("<table") == 2


def test_bad_hvp_input_is_named(logistic):
    params, X, y, lam = logistic
    H = logistic_hessian(params, X, y, lam)
    with pytest.raises(GradientError, match=r"dense Hessian, has shape \(4, 4\) but there are 5"):
        fc.check_hvp(logistic_grad, params, H[:4, :4], X, y, lam)
    with pytest.raises(GradientError, match=r"hvp\(v\) has no entry for the parameter 'b'"):
        fc.check_hvp(logistic_grad, params, lambda v: {"dw": v["w"]}, X, y, lam)
    with pytest.raises(GradientError, match=r"hvp\(v\)\['dw'\] has shape \(5,\)"):
        fc.check_hvp(logistic_grad, params, lambda v: {"dw": np.ones(5), "db": v["b"]}, X, y,
                     lam)
    with pytest.raises(CostError, match=r"hvp\(v\) raised ZeroDivisionError"):
        fc.check_hvp(logistic_grad, params, lambda v: 1 / 0, X, y, lam)
    with pytest.raises(CostError, match="grad raised KeyError"):
        fc.check_hvp(lambda p, *a: p["z"], params, H, X, y, lam)
    with pytest.raises(GradientError, match=r"grad\(params\) must be a dict"):
        fc.check_hvp(lambda p, *a: 3.0, params, H, X, y, lam)
    with pytest.raises(OptionError, match="check_hvp takes eps=.*got outputs="):
        fc.check_hvp(logistic_grad, params, H, X, y, lam, outputs=2)
    with pytest.raises(InputTypeError, match="hvp must be the rule"):
        fc.check_hvp(logistic_grad, params, {"dw": 1}, X, y, lam)


def test_assert_hvp_match(net):
    from fastcheck.testing import assert_hvp_match

    params, X, Y, H = net
    assert assert_hvp_match(net_grad, params, H, X, Y).passed
    with pytest.raises(AssertionError) as failure:
        assert_hvp_match(net_grad, params, lambda v: net_hvp(v, params, X, Y, mistake=True), X, Y)
    assert "wrong Hessian-vector product in: W1, b1" in str(failure.value)
