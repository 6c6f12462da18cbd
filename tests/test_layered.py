"""The layered engine against the generic engine: every model combination of
the models issue, both methods it shares with it, and the work it skips."""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.models import MLP
from fastcheck.app.registry import random_problem

from test_models import COMBOS


def relative(a, b):
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


@pytest.mark.parametrize("hidden,head,l2", COMBOS)
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_layered_agrees_with_generic_on_every_combination(hidden, head, l2, method):
    """Relative difference of the two engines' gradapprox <= 1e-8, same verdicts,
    for the exact backward and for one with a planted mistake."""
    output, loss = head
    model = MLP([5, 6, 4, 3], hidden=hidden, output=output, loss=loss, l2=l2)
    params, X, Y = random_problem(model, 7, seed=11)
    grads = model.backward(params, X, Y)
    wrong = dict(grads, dW2=grads["dW2"] * 1.5)
    for g in (grads, wrong):
        layered = fc.check(model, params, g, X, Y, method=method)
        generic = fc.check(model, params, g, X, Y, method=method, engine="generic")
        assert layered.engine == "layered" and generic.engine == "generic"
        assert relative(layered.gradapprox_flat, generic.gradapprox_flat) <= 1e-8
        assert layered.verdict == generic.verdict
        assert layered.suspects == generic.suspects


def test_complex_step_agrees_across_engines():
    model = MLP([4, 5, 3, 2], hidden=["relu", "tanh"], output="softmax", loss="ce", l2=0.7)
    params, X, Y = random_problem(model, 6, seed=2)
    grads = model.backward(params, X, Y)
    layered = fc.check(model, params, grads, X, Y, method="complex")
    generic = fc.check(model, params, grads, X, Y, method="complex", engine="generic")
    # No subtraction in either: they agree to rounding, and with the exact gradient.
    assert relative(layered.gradapprox_flat, generic.gradapprox_flat) <= 1e-14
    assert relative(layered.gradapprox_flat, layered.grad_flat) <= 1e-14


def test_units_that_stay_off_and_zero_inputs_change_nothing_downstream():
    """A dead ReLU unit and an all-zero input row: their coordinates' estimates
    are exactly zero (the skipped work is skipped exactly), like the gradient."""
    model = MLP([3, 4, 1], hidden="relu")
    params, X, Y = random_problem(model, 5, seed=3)
    X[1] = 0.0                       # input 1 is zero in every example
    params["b1"][2, 0] = -50.0       # unit 2 is off for every example
    grads = model.backward(params, X, Y)
    res = fc.check(model, params, grads, X, Y)
    assert res.passed
    approx = res.gradapprox
    assert (approx["W1"][:, 1] == 0.0).all() and (grads["dW1"][:, 1] == 0.0).all()
    assert (approx["W1"][2] == 0.0).all() and approx["b1"][2, 0] == 0.0
    assert approx["W2"][0, 2] == 0.0 and grads["dW2"][0, 2] == 0.0
