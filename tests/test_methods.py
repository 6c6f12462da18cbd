"""Steps and methods: the default step, Richardson, the complex step, kinks,
precision and the verdict, each pinned on the exercise's network or on a cost
with a closed-form derivative."""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import exercises as ex
from fastcheck.errors import CostError
from fastcheck.models import MLP
from fastcheck.planning.noise import EVALUATIONS as NOISE_EVALUATIONS
from fastcheck.planning.step import RELATIVE_STEP


@pytest.fixture(scope="module")
def seed():
    X, Y, params = ex.gradient_check_n_test_case()
    _, cache = ex.forward_propagation_n(params, X, Y)
    return dict(X=X, Y=Y, params=params,
                fixed=ex.backward_propagation_n(X, Y, cache, fixed=True),
                planted=ex.backward_propagation_n(X, Y, cache))


MODEL = MLP([4, 5, 3, 1], hidden="relu", output="sigmoid", loss="bce")
# Every engine that can run the exercise's network, by the cost it runs.
ENGINES = [(ex.forward_propagation_n, "python"), (ex.seed_cost, "generic"),
           (MODEL, "python"), (MODEL, "generic"), (MODEL, "layered")]


@pytest.mark.parametrize("cost,engine", ENGINES)
def test_default_step_passes_the_fixed_and_fails_the_planted_backward(seed, cost, engine):
    fixed = fc.check(cost, seed["params"], seed["fixed"], seed["X"], seed["Y"], engine=engine)
    planted = fc.check(cost, seed["params"], seed["planted"], seed["X"], seed["Y"],
                       engine=engine)
    assert fixed.difference < 1e-7 and fixed.verdict == "pass"
    assert not planted.passed and planted.verdict == "mistake"
    assert sorted(planted.suspects) == ["W2", "b1"]


@pytest.mark.parametrize("cost,engine", ENGINES)
def test_richardson_on_the_fixed_backward_is_within_1e_10(seed, cost, engine):
    res = fc.check(cost, seed["params"], seed["fixed"], seed["X"], seed["Y"],
                   method="richardson", engine=engine)
    assert res.difference <= 1e-10
    # J(theta) twice (determinism is checked), then the noise line (fastcheck.planning.noise).
    assert res.evaluations == 4 * 47 + 3 + NOISE_EVALUATIONS  # J at theta 3 times
    assert res.kinks == [] and res.verdict == "pass"


@pytest.mark.parametrize("cost,engine", [c for c in ENGINES if c[1] != "generic" or
                                         isinstance(c[0], MLP)])
def test_complex_step_on_the_fixed_backward_is_within_1e_13(seed, cost, engine):
    res = fc.check(cost, seed["params"], seed["fixed"], seed["X"], seed["Y"],
                   method="complex", engine=engine)
    assert res.difference <= 1e-13
    # J(theta) twice, then on 2 coordinates of each tensor (b3 has 1) one complex and
    # four real evaluations verify that the cost carries the imaginary part.
    assert res.evaluations == 47 + 3 + NOISE_EVALUATIONS + (5 * 2 + 1) * 5
    assert res.verdict == "pass"


@fc.jit_cost
def analytic_cost(theta, X, Y):
    """J = sum_i X[0, i] * sin(theta_i) + 0.5 * theta_i^2 * Y[0, i]: runs on complex theta."""
    total = 0.0 * theta[0]
    for i in range(theta.shape[0]):
        total += X[0, i] * np.sin(theta[i]) + 0.5 * theta[i] * theta[i] * Y[0, i]
    return total


def test_complex_step_on_a_user_jit_cost_matches_the_closed_form():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=6)
    X, Y = rng.normal(size=(1, 6)), rng.normal(size=(1, 6))
    exact = X[0] * np.cos(theta) + theta * Y[0]
    for engine in ("generic", "python"):
        res = fc.check(analytic_cost, {"t": theta}, {"dt": exact}, X, Y, method="complex",
                       engine=engine)
        np.testing.assert_allclose(res.gradapprox_flat, exact, rtol=1e-14, atol=1e-15)


def test_the_exercise_jit_cost_runs_the_complex_step_compiled(seed):
    """np.maximum orders complex numbers by their real part, as NumPy does: the seed's
    ReLU runs complex away from its kinks, compiled."""
    res = fc.check(ex.seed_cost, seed["params"], seed["fixed"], seed["X"], seed["Y"],
                   method="complex")
    assert res.engine == "generic" and res.passed and res.difference < 1e-13


@fc.jit_cost
def l1_cost(theta, X, Y):
    """An L1 penalty: abs() is not analytic, and drops the imaginary part."""
    return np.sum(theta * theta) + np.sum(np.abs(theta))


def test_a_jit_cost_that_cannot_run_complex_says_so():
    theta = np.array([0.5, -0.3])
    with pytest.raises(CostError, match="method='complex' cannot check it"):
        fc.check(l1_cost, {"t": theta}, {"dt": 2 * theta + np.sign(theta)}, method="complex")


def test_a_python_cost_that_drops_the_imaginary_part_says_so():
    def cost(params):
        return float(np.abs(params["w"]).sum())  # abs and float() are not analytic

    with pytest.raises(CostError, match="cannot run in complex arithmetic"):
        fc.check(cost, {"w": np.ones(3)}, {"dw": np.ones(3)}, method="complex")


def kinked_network(offset):
    """A ReLU network whose pre-activation Z1[0, 0] sits at ``offset`` from zero."""
    model = MLP([2, 3, 1], hidden="relu", output="sigmoid", loss="bce")
    params = model.init_params(seed=3)
    X = np.array([[0.8, -0.5, 1.2, 0.3], [0.4, 0.9, -1.1, 0.7]])
    Y = np.array([[1.0, 0.0, 1.0, 0.0]])
    params["b1"][0, 0] = offset - params["W1"][0] @ X[:, 0]
    return model, params, X, Y


def test_a_pre_activation_within_h_of_zero_is_reported_as_a_kink():
    """Z1[0, 0] = 3e-6 < h ~ 6e-6: W1[0, 0], W1[0, 1] and b1[0] straddle it."""
    model, params, X, Y = kinked_network(3e-6)
    grads = model.backward(params, X, Y)
    for engine in ("layered", "generic", "python"):
        res = fc.check(model, params, grads, X, Y, engine=engine)
        assert {("W1", (0, 0)), ("W1", (0, 1)), ("b1", (0, 0))} <= set(res.kinks)
        assert all(name in ("W1", "b1") and index[0] == 0 for name, index in res.kinks)
        assert res.passed and res.verdict == "kinks" and res.depends_on_kinks
        assert res.difference_without_kinks < 1e-7
        assert res.suspects == []
        assert {row.name: row.status for row in res.per_tensor} == \
            {"W1": "kinks", "b1": "kinks", "W2": "ok", "b2": "ok"}
        report = str(res)
        assert "kinks: " in report and "b1[0, 0]" in report and "left and right slopes" in report


def test_a_kink_far_from_theta_is_not_reported():
    model, params, X, Y = kinked_network(0.5)
    res = fc.check(model, params, model.backward(params, X, Y), X, Y)
    assert res.kinks == [] and res.passed


def test_richardson_flags_a_kink_between_its_two_steps_for_any_cost():
    """Z1[0, 0] at 0.75 h of b1[0]'s Richardson step: D(h) crosses it, D(h/2) does not."""
    model, params, X, Y = kinked_network(0.0)
    h = RELATIVE_STEP["richardson"] * max(1.0, abs(params["b1"][0, 0]))
    model, params, X, Y = kinked_network(0.75 * h)
    grads = model.backward(params, X, Y)
    res = fc.check(model.cost, params, grads, X, Y, method="richardson")
    assert res.engine == "python"
    assert ("b1", (0, 0)) in res.kinks
    assert res.difference_without_kinks < res.difference


def test_low_precision_parameters_are_checked_in_float64():
    model = MLP([3, 4, 1], hidden="tanh")
    params = model.init_params(seed=1)
    X, Y = np.random.default_rng(2).normal(size=(3, 5)), np.array([[0, 1, 1, 0, 1.0]])
    low = {k: v.astype(np.float32) for k, v in params.items()}
    high = {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}
    res = fc.check(model, low, model.backward(high, X, Y), X, Y)
    ref = fc.check(model, high, model.backward(high, X, Y), X, Y)
    assert res.passed
    np.testing.assert_array_equal(res.gradapprox_flat, ref.gradapprox_flat)
    notes = [note for note in res.notes if "float32" in note]
    assert notes == ["checked in float64: W1 (float32), b1 (float32), W2 (float32), "
                     "b2 (float32) given in lower precision"]
    assert notes[0] in str(res)


def test_rounding_above_the_threshold_is_not_a_mistake(seed):
    """eps = 1e-7 on the fixed backward: the difference 1.19e-7 is above 1e-7, but every
    coordinate is within its error estimate, as the exercise itself says; the report
    explains it and suggests the better step."""
    res = fc.check(ex.forward_propagation_n, seed["params"], seed["fixed"], seed["X"],
                   seed["Y"], eps=1e-7)
    assert res.difference > res.threshold
    assert res.passed and res.verdict == "pass" and res.suspects == []
    assert "above the threshold" in str(res) and "eps=None" in str(res)
