"""``fastcheck.testing``: the pytest helper and the random problems the CLI checks."""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import exercises as ex
from fastcheck.errors import OptionError
from fastcheck.models import MLP
from fastcheck.app.registry import random_problem
from fastcheck.testing import assert_gradients_match


def exercise(fixed):
    """The exercise's network, data and backward pass (with its two mistakes unless fixed)."""
    X, Y, params = ex.gradient_check_n_test_case()
    _, cache = ex.forward_propagation_n(params, X, Y)
    return params, ex.backward_propagation_n(X, Y, cache, fixed=fixed), X, Y


def table(report):
    """The per-tensor table of a report: the lines after its first blank line."""
    lines = report.splitlines()
    return lines[lines.index("") + 1:]


def test_passes_on_a_models_exact_backward_and_returns_the_result():
    model = MLP([6, 5, 2], hidden="tanh", output="softmax", loss="ce")
    params, X, Y = random_problem(model, 8, seed=1)
    res = assert_gradients_match(model, params, model.backward(params, X, Y), X, Y)
    assert isinstance(res, fc.CheckResult)
    assert res.passed and res.checked == model.n_params


def test_passes_on_the_exercises_fixed_backward_with_options():
    params, grads, X, Y = exercise(fixed=True)
    res = assert_gradients_match(ex.forward_propagation_n, params, grads, X, Y,
                                 method="richardson", threshold=1e-8, engine="python")
    assert (res.method, res.threshold, res.engine) == ("richardson", 1e-8, "python")


def test_raises_with_the_table_naming_the_exercises_planted_mistakes():
    params, grads, X, Y = exercise(fixed=False)
    with pytest.raises(AssertionError) as failure:
        assert_gradients_match(ex.forward_propagation_n, params, grads, X, Y, eps=1e-7)
    message = str(failure.value)
    expected = fc.check(ex.forward_propagation_n, params, grads, X, Y, eps=1e-7)
    assert table(message) == table(str(expected))
    assert "wrong gradient in: b1, W2" in message
    assert "2.850932e-01" in message  # the exercise's published difference


def test_raises_naming_only_the_wrong_tensor_of_a_model():
    model = MLP([4, 6, 3, 1])
    params, X, Y = random_problem(model, 10, seed=2)
    grads = model.backward(params, X, Y)
    grads["db2"] = grads["db2"] * 1.01
    with pytest.raises(AssertionError) as failure:
        assert_gradients_match(model, params, grads, X, Y)
    rows = {line.split()[0]: line.split()[-1] for line in table(str(failure.value))[1:]}
    assert rows == {"W1": "ok", "b1": "ok", "W2": "ok", "b2": "WRONG", "W3": "ok", "b3": "ok"}


def test_a_bad_option_is_an_error_not_a_failed_check():
    params, grads, X, Y = exercise(fixed=True)
    with pytest.raises(OptionError):
        assert_gradients_match(ex.forward_propagation_n, params, grads, X, Y, engine="fast")


@pytest.mark.parametrize("loss", ["bce", "ce", "mse"])
def test_random_problem_follows_its_documented_recipe(loss):
    output = {"bce": "sigmoid", "ce": "softmax", "mse": "linear"}[loss]
    model = MLP([3, 4, 5], output=output, loss=loss)
    params, X, Y = random_problem(model, 7, seed=5)
    rng = np.random.default_rng([1, 5])
    np.testing.assert_array_equal(X, rng.standard_normal((3, 7)))
    for name, value in model.init_params(5).items():
        np.testing.assert_array_equal(params[name], value)
    if loss == "bce":
        assert Y.shape == (5, 7) and set(np.unique(Y)) <= {0.0, 1.0}
    elif loss == "ce":
        assert Y.shape == (7,) and Y.dtype.kind == "i" and 0 <= Y.min() and Y.max() < 5
    else:
        assert Y.shape == (5, 7) and Y.dtype == np.float64
    model.cost(params, X, Y)  # the data fit the model


def test_random_problem_data_do_not_repeat_the_weights():
    model = MLP([4, 4, 1])
    params, X, _ = random_problem(model, 4, seed=0)
    # With one stream for both, X would be W1 / std, draw for draw.
    W1 = params["W1"] / np.sqrt(2.0 / 4)
    assert not np.allclose(X.ravel()[:4], W1.ravel()[:4])
    _, X1, _ = random_problem(model, 4, seed=1)
    assert not np.allclose(X, X1)
