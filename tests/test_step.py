"""fastcheck.planning.step: the default step, explicit steps, and refused steps."""

import math

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import OptionError
from fastcheck.planning.step import default_steps, steps_for

THETAS = [0.0, 1e-3, 1.0, 3.7, -1e6]


def representable_step(theta):
    """The reference: h0 = cbrt(eps_machine) * max(1, |theta|), then the step really taken."""
    h0 = math.cbrt(np.finfo(np.float64).eps) * max(1.0, abs(theta))
    return (theta + h0) - theta


@pytest.mark.parametrize("theta", THETAS)
def test_default_step_is_the_representable_scaled_step(theta):
    """default_steps(theta) == (theta + h0) - theta, computed here in plain Python floats."""
    h = default_steps(np.array([theta]))
    assert h.dtype == np.float64 and h.shape == (1,)
    assert h[0] == representable_step(theta)
    # The point of rounding: the perturbation moves theta by exactly h.
    assert (theta + h[0]) - theta == h[0]


def test_default_steps_vectorised_match_elementwise_reference():
    """Over a vector, each entry gets its own scaled step."""
    theta = np.array(THETAS)
    assert default_steps(theta).tolist() == [representable_step(t) for t in THETAS]


def test_default_step_scales_with_large_theta():
    """Above |theta| = 1 the step grows in proportion (about 6.06e-6 * |theta|)."""
    h = default_steps(np.array([1.0, -1e6]))
    assert h[0] == pytest.approx(6.0554544523933395e-06, rel=1e-9)
    assert h[1] == pytest.approx(6.0554544523933395e-06 * 1e6, rel=1e-9)


@pytest.mark.parametrize("eps", [1e-7, 1e-3, 0.5, 3])
def test_fixed_eps_is_kept_exactly(eps):
    """An explicit eps is used as given, not rounded to a representable step."""
    theta = np.array(THETAS[:4])
    h = steps_for(theta, eps, str)
    assert h.dtype == np.float64 and h.shape == theta.shape
    assert h.tolist() == [float(eps)] * theta.size


def test_steps_for_none_is_the_default_step():
    """eps=None picks the default step for every entry."""
    theta = np.array(THETAS)
    assert steps_for(theta, None, str).tolist() == [representable_step(t) for t in THETAS]


@pytest.mark.parametrize("eps", [0, 0.0, -1e-7, float("nan"), float("inf"), True, "1e-7"],
                         ids=["int0", "zero", "negative", "nan", "inf", "True", "string"])
def test_bad_eps_is_an_option_error(eps):
    """eps must be a positive finite real number: everything else is an OptionError."""
    with pytest.raises(OptionError, match="eps"):
        steps_for(np.ones(3), eps, str)
    with pytest.raises(OptionError, match="eps"):
        fc.check(lambda p: float(np.sum(p["w"] ** 2)), {"w": np.ones(3)}, {"w": 2 * np.ones(3)},
                 eps=eps)


def test_eps_lost_against_large_theta_is_an_option_error_naming_the_parameter():
    """theta = 1e12 with eps = 1e-7: theta + eps == theta, so the check refuses, naming it."""
    assert 1e12 + 1e-7 == 1e12                           # the premise, in float64
    params = {"w": np.array([1.0, 2.0]), "big": np.array([[0.5, 1e12]])}
    grads = {"w": np.array([2.0, 4.0]), "big": np.array([[1.0, 2e12]])}
    with pytest.raises(OptionError, match=r"big\[0, 1\]"):
        fc.check(lambda p: float(np.sum(p["w"] ** 2) + np.sum(p["big"] ** 2)),
                 params, grads, eps=1e-7)


def test_default_step_survives_large_theta():
    """The same theta = 1e12 is fine with the default, scaled step."""
    params = {"big": np.array([1e12])}
    res = fc.check(lambda p: float(p["big"][0] * 3.0), params, {"big": np.array([3.0])})
    assert res.passed
    assert res.gradapprox["big"][0] == pytest.approx(3.0, rel=1e-9)
