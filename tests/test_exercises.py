"""The seed exercise's published numbers, reproduced through every entry point.

The figures are the exercise's own (seed/000_afe13fc9873870c6.txt and its
published notebook outputs), typed in here, not computed by fastcheck.
"""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import exercises as ex

PUBLISHED_1D = 2.919335883291695e-10
PUBLISHED_PLANTED = 0.2850931567761623
PUBLISHED_FIXED = 1.1890913024229996e-07
ABOUT_FIXED = 1.19e-7                                     # "about 1.19e-7", as the notebook says
NAMES = ["W1", "b1", "W2", "b2", "W3", "b3"]
SHAPES = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}


def network(fixed):
    """X, Y, parameters and the exercise's backward pass (planted or fixed)."""
    X, Y, parameters = ex.gradient_check_n_test_case()
    _, cache = ex.forward_propagation_n(parameters, X, Y)
    return X, Y, parameters, ex.backward_propagation_n(X, Y, cache, fixed=fixed)


def through_every_engine(X, Y, parameters, gradients):
    """The check at eps = 1e-7 by naive_check, the python and the generic engine."""
    return {
        "naive": fc.naive_check(ex.forward_propagation_n, parameters, gradients, X, Y, eps=1e-7),
        "python": fc.check(ex.forward_propagation_n, parameters, gradients, X, Y, eps=1e-7,
                           engine="python"),
        "generic": fc.check(ex.seed_cost, parameters, gradients, X, Y, eps=1e-7),
    }


# -- the exercise's own loop, written again from the seed's text --------------------------

def dictionary_to_vector(parameters):
    """The seed's helper: stack each tensor as a column, in W1, b1, ..., b3 order."""
    return np.concatenate([np.reshape(parameters[k], (-1, 1)) for k in NAMES], axis=0)


def vector_to_dictionary(theta):
    """The seed's inverse: slice the (47, 1) column back into the six tensors."""
    parameters, start = {}, 0
    for name in NAMES:
        size = SHAPES[name][0] * SHAPES[name][1]
        parameters[name] = theta[start:start + size].reshape(SHAPES[name])
        start += size
    return parameters


def gradients_to_vector(gradients):
    return np.concatenate([np.reshape(gradients["d" + k], (-1, 1)) for k in NAMES], axis=0)


def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7):
    """The seed's gradient_check_n, step for step; returns (difference, gradapprox)."""
    parameters_values = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    num_parameters = parameters_values.shape[0]
    J_plus = np.zeros((num_parameters, 1))
    J_minus = np.zeros((num_parameters, 1))
    gradapprox = np.zeros((num_parameters, 1))
    for i in range(num_parameters):
        thetaplus = np.copy(parameters_values)
        thetaplus[i][0] += epsilon
        J_plus[i], _ = ex.forward_propagation_n(vector_to_dictionary(thetaplus), X, Y)
        thetaminus = np.copy(parameters_values)
        thetaminus[i][0] -= epsilon
        J_minus[i], _ = ex.forward_propagation_n(vector_to_dictionary(thetaminus), X, Y)
        gradapprox[i] = (J_plus[i] - J_minus[i]) / (2. * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return numerator / denominator, gradapprox


# -- 1-D --------------------------------------------------------------------------------

def test_one_d_difference_is_the_published_one():
    """J = theta * x at x = 2, theta = 4, eps = 1e-7: difference 2.919335883291695e-10."""
    x, theta = 2.0, 4.0
    res = fc.check(ex.cost_1d, {"theta": theta}, {"dtheta": ex.backward_propagation(x, theta)},
                   x, eps=1e-7)
    assert res.difference == pytest.approx(PUBLISHED_1D, rel=1e-12)
    assert res.passed
    assert res.gradapprox["theta"].shape == ()


def test_one_d_naive_check_gives_the_same_number():
    """The naive loop reproduces the 1-D figure too."""
    res = fc.naive_check(ex.cost_1d, {"theta": 4.0}, {"dtheta": 2.0}, 2.0, eps=1e-7)
    assert res.difference == pytest.approx(PUBLISHED_1D, rel=1e-12)


# -- the 3-layer network with its planted mistakes ----------------------------------------

@pytest.fixture(scope="module")
def planted():
    """The planted backward pass checked by naive_check, the python and the generic engine."""
    return through_every_engine(*network(fixed=False))


@pytest.mark.parametrize("entry", ["naive", "python", "generic"])
def test_planted_difference_is_the_published_one(planted, entry):
    """Every entry point gives 0.2850931567761623 for the planted backward pass, to the
    digit: the norms sum in a fixed order, not in the order this CPU's BLAS picks."""
    res = planted[entry]
    assert res.difference == PUBLISHED_PLANTED
    assert not res.passed
    assert res.engine == entry


@pytest.mark.parametrize("entry", ["naive", "python", "generic"])
def test_planted_mistakes_are_found_in_w2_and_b1(planted, entry):
    """The two planted mistakes (dW2 * 2, db1 with 4/m) are exactly the suspects."""
    res = planted[entry]
    assert set(res.suspects) == {"W2", "b1"}
    assert len(res.suspects) == 2
    status = {row.name: row.status for row in res.per_tensor}
    assert [row.name for row in res.per_tensor] == NAMES
    for name in ("W1", "b2", "W3", "b3"):
        assert status[name] != "WRONG", name


def test_naive_check_reproduces_the_exercise_loop_bit_for_bit():
    """naive_check's gradapprox is the seed's loop's to the last bit, and so is its
    difference up to the one ulp by which np.linalg.norm (a BLAS dot product, whose
    summation order depends on the CPU) may move it; fastcheck's own norm sums in
    order and gives the published figure exactly."""
    X, Y, parameters, gradients = network(fixed=False)
    difference, gradapprox = gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7)
    assert difference == pytest.approx(PUBLISHED_PLANTED, rel=1e-9)
    res = fc.naive_check(ex.forward_propagation_n, parameters, gradients, X, Y, eps=1e-7)
    assert res.gradapprox_flat.tobytes() == gradapprox.ravel().tobytes()
    assert res.difference == pytest.approx(float(difference), rel=4e-16, abs=0)
    assert res.difference == PUBLISHED_PLANTED


# -- the fixed backward pass -----------------------------------------------------------------

@pytest.fixture(scope="module")
def fixed():
    """The fixed backward pass through every entry point, and through the seed's loop."""
    X, Y, parameters, gradients = network(fixed=True)
    return dict(through_every_engine(X, Y, parameters, gradients),
                loop=gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7)[0])


@pytest.mark.parametrize("entry", ["naive", "python"])
def test_fixed_difference_python_engine_and_naive(fixed, entry):
    """With both mistakes fixed, eps = 1e-7: 1.1890913024229996e-07 (rounding noise)."""
    res = fixed[entry]
    assert res.difference == pytest.approx(PUBLISHED_FIXED, rel=1e-6)
    assert res.difference == pytest.approx(ABOUT_FIXED, rel=0.01)
    assert res.suspects == []


def test_fixed_difference_generic_engine(fixed):
    """The compiled forward pass rounds differently; it must still be about 1.19e-7."""
    res = fixed["generic"]
    assert res.engine == "generic"
    assert res.difference == pytest.approx(PUBLISHED_FIXED, rel=0.05)
    assert res.suspects == []


def test_fixed_difference_of_the_exercise_loop(fixed):
    """The seed's loop written here agrees with the published fixed figure."""
    assert fixed["loop"] == pytest.approx(PUBLISHED_FIXED, rel=1e-6)


# -- the default step ------------------------------------------------------------------------

@pytest.mark.parametrize("cost, engine", [(ex.forward_propagation_n, "python"),
                                          (ex.seed_cost, "generic")])
def test_default_step_passes_the_fixed_and_fails_the_planted(cost, engine):
    """eps=None: the fixed backward passes (< 1e-7), the planted one fails and is located."""
    X, Y, parameters, good = network(fixed=True)
    _, _, _, bad = network(fixed=False)
    ok = fc.check(cost, parameters, good, X, Y, engine=engine)
    wrong = fc.check(cost, parameters, bad, X, Y, engine=engine)
    assert ok.eps is None and ok.engine == engine
    assert ok.difference < 1e-7 and ok.passed
    assert all(row.status == "ok" for row in ok.per_tensor)
    assert not wrong.passed
    assert wrong.difference == pytest.approx(PUBLISHED_PLANTED, rel=1e-3)
    assert set(wrong.suspects) == {"W2", "b1"}
