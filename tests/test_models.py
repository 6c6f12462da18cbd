"""The built-in MLP: its cost and backward against a NumPy twin, every
combination through the gradient check, the seed preset, and bad input."""

import itertools

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import exercises as ex
from fastcheck.errors import DataError, OptionError, ParameterError
from fastcheck.models import MLP

import naive_mlp

HIDDEN = ["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
HEADS = [("sigmoid", "bce"), ("softmax", "ce"), ("linear", "mse")]
L2 = [0.0, 0.7]
COMBOS = list(itertools.product(HIDDEN, HEADS, L2))


def make_data(model, m, seed):
    """X (n0, m) and targets fitting the model's loss, from a seeded RNG."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(model.sizes[0], m))
    n_out = model.sizes[-1]
    if model.loss == "bce":
        Y = rng.integers(0, 2, size=(n_out, m)).astype(float)
    elif model.loss == "ce":
        Y = rng.integers(0, n_out, size=m)
    else:
        Y = rng.normal(size=(n_out, m))
    return X, Y


def dense_targets(model, Y, m):
    if model.loss == "ce" and np.ndim(Y) == 1:
        onehot = np.zeros((model.sizes[-1], m))
        onehot[Y, np.arange(m)] = 1.0
        return onehot
    return np.asarray(Y, dtype=float).reshape(model.sizes[-1], m)


@pytest.mark.parametrize("hidden,head,l2", COMBOS)
def test_cost_and_backward_match_the_numpy_twin(hidden, head, l2):
    """Compiled cost to 1e-12 relative and backward to 1e-12 absolute of the twin."""
    output, loss = head
    model = MLP([3, 4, 3, 3], hidden=hidden, output=output, loss=loss, l2=l2)
    params = model.init_params(seed=1)
    X, Y = make_data(model, 6, seed=2)
    Yd = dense_targets(model, Y, 6)
    hid = [hidden] * 2
    expected = naive_mlp.cost(params, X, Yd, hid, output, loss, l2)
    assert model.cost(params, X, Y) == pytest.approx(expected, rel=1e-12)
    twin = naive_mlp.backward(params, X, Yd, hid, output, l2)
    grads = model.backward(params, X, Y)
    assert set(grads) == set(twin)
    for key in twin:
        np.testing.assert_allclose(grads[key], twin[key], rtol=0, atol=1e-12)


def test_forward_returns_every_layers_activations():
    model = MLP([3, 4, 2], hidden="tanh", output="softmax", loss="ce")
    params = model.init_params(seed=3)
    X, _ = make_data(model, 5, seed=4)
    Z, A = naive_mlp.forward(params, X, ["tanh"], "softmax")
    acts = model.forward(params, X)
    for l in (1, 2):
        np.testing.assert_allclose(acts[f"Z{l}"], Z[l - 1], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(acts[f"A{l}"], A[l], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("hidden,head,l2", COMBOS)
def test_every_combination_passes_and_a_planted_mistake_is_named(hidden, head, l2):
    """fc.check passes the exact backward; scaling one tensor by 1.5 names it."""
    output, loss = head
    model = MLP([4, 5, 3, 2], hidden=hidden, output=output, loss=loss, l2=l2)
    params = model.init_params(seed=5)
    X, Y = make_data(model, 7, seed=6)
    grads = model.backward(params, X, Y)
    res = fc.check(model, params, grads, X, Y)
    assert res.passed, str(res)
    for name in ("W1", "b2", "W3"):
        bad = dict(grads, **{"d" + name: grads["d" + name] * 1.5})
        res = fc.check(model, params, bad, X, Y)
        assert not res.passed
        assert res.suspects == [name], str(res)


def test_seed_preset_matches_the_exercise():
    """MLP([4, 5, 3, 1]) is the exercise's network: cost and fixed backward."""
    X, Y, params = ex.gradient_check_n_test_case()
    model = MLP([4, 5, 3, 1], hidden="relu", output="sigmoid", loss="bce")
    J, cache = ex.forward_propagation_n(params, X, Y)
    assert model.cost(params, X, Y) == pytest.approx(J, rel=1e-12)
    fixed = ex.backward_propagation_n(X, Y, cache, fixed=True)
    grads = model.backward(params, X, Y)
    for name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        np.testing.assert_allclose(grads["d" + name], fixed["d" + name], rtol=1e-12,
                                   atol=1e-15)
    planted = ex.backward_propagation_n(X, Y, cache)
    res = fc.check(model, params, planted, X, Y, eps=1e-7)
    assert res.difference == pytest.approx(ex.PUBLISHED_PLANTED, rel=1e-6)
    assert sorted(res.suspects) == ["W2", "b1"]


def test_stable_cost_for_large_logits():
    """Logits of +-800 give a finite cost and gradient (no log(0), no overflow)."""
    model = MLP([1, 1], hidden=[], output="sigmoid", loss="bce")
    params = {"W1": np.array([[800.0]]), "b1": np.array([[0.0]])}
    X, Y = np.array([[1.0, -1.0]]), np.array([[0.0, 1.0]])
    # Both examples are confidently wrong: loss = |z| each, mean 800.
    assert model.cost(params, X, Y) == pytest.approx(800.0, rel=1e-15)
    grads = model.backward(params, X, Y)
    np.testing.assert_allclose(grads["dW1"], [[1.0]], rtol=1e-15)


def test_generic_and_python_engines_agree_on_a_model():
    model = MLP([5, 6, 4, 3], hidden="tanh", output="softmax", loss="ce", l2=0.3)
    params = model.init_params(seed=7)
    X, Y = make_data(model, 8, seed=8)
    grads = model.backward(params, X, Y)
    generic = fc.check(model, params, grads, X, Y, engine="generic")
    python = fc.check(model, params, grads, X, Y, engine="python")
    # The compiled cost and the NumPy one sum in other orders: the estimates agree
    # to the rounding each one carries (its error estimate), no better.
    assert (np.abs(generic.gradapprox_flat - python.gradapprox_flat)
            <= generic.error_flat + python.error_flat).all()
    assert generic.passed and python.passed


def test_init_params_scales():
    model = MLP([400, 300, 1])
    he = model.init_params(seed=0)["W1"].std()
    xavier = model.init_params(seed=0, scale="xavier")["W1"].std()
    fixed = model.init_params(seed=0, scale=0.5)["W1"].std()
    assert he == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert xavier == pytest.approx(np.sqrt(1 / 400), rel=0.02)
    assert fixed == pytest.approx(0.5, rel=0.02)
    np.testing.assert_array_equal(model.init_params(seed=9)["W2"],
                                  model.init_params(seed=9)["W2"])


@pytest.mark.parametrize("kwargs,words", [
    (dict(sizes=[4]), "at least two"),
    (dict(sizes=[4, 0, 1]), "positive integers"),
    (dict(sizes=[4, 2.5, 1]), "positive integers"),
    (dict(sizes="4,3"), "positive integers"),
    (dict(sizes=[4, 3, 1], hidden="swish"), "unknown hidden activation 'swish'"),
    (dict(sizes=[4, 3, 1], hidden=["relu", "tanh"]), "2 activations"),
    (dict(sizes=[4, 3, 1], loss="hinge"), "unknown loss 'hinge'"),
    (dict(sizes=[4, 3, 1], output="softmax", loss="bce"), "goes with output 'sigmoid'"),
    (dict(sizes=[4, 3, 1], l2=-1.0), "l2"),
])
def test_bad_model_options(kwargs, words):
    with pytest.raises(OptionError, match=words):
        MLP(**kwargs)


def test_bad_data_and_params():
    model = MLP([4, 3, 2], output="softmax", loss="ce")
    params = model.init_params()
    X = np.zeros((4, 5))
    with pytest.raises(DataError, match=r"X has shape \(5, 4\)"):
        model.cost(params, X.T, np.zeros(5, dtype=int))
    with pytest.raises(DataError, match=r"in \[0, 2\)"):
        model.cost(params, X, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(DataError, match=r"Y has shape \(3, 5\)"):
        model.cost(params, X, np.zeros((3, 5)))
    with pytest.raises(ParameterError, match="'W2' has shape"):
        model.cost(dict(params, W2=np.zeros((3, 2))), X, np.zeros(5, dtype=int))
    with pytest.raises(ParameterError, match="no 'b1'"):
        model.cost({k: v for k, v in params.items() if k != "b1"}, X,
                   np.zeros(5, dtype=int))
    binary = MLP([4, 3, 1])
    with pytest.raises(DataError, match="0 or 1"):
        binary.cost(binary.init_params(), X, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(DataError, match="check\\(model, params, grads, X, Y\\)"):
        fc.check(binary, binary.init_params(), binary.backward(binary.init_params(), X,
                                                               np.zeros(5)), X)
