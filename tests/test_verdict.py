"""Verdicts a user can trust (issue 13): no correct backward pass blamed, by any
method, and the planted mistakes still found with the right tensors named.

Every check is judged against an independent reference: the correct backward
passes of tests/usernets.py (batchnorm, seeded dropout with L2, a tanh RNN,
written as course assignments write them), closed-form derivatives of a 1-D
cost with a kink at a chosen distance, and costs written to drop the
imaginary part. ``run`` pins, for every check in this file, that a report
never says PASSED while naming wrong tensors.
"""

import numpy as np
import pytest

import fastcheck as fc
import usernets as U
from fastcheck.verdict.precision import GRAD_ULPS
from fastcheck.errors import CostError, GradientError

NETS = ("bn", "dropout", "rnn")
METHODS = ("central", "richardson", "complex")
#: Every method with the default step, the exercise's 1e-7 and a coarse 1e-4;
#: the complex step's own step is fixed, so it runs once.
STEPS = [(method, eps) for method in METHODS for eps in (None, 1e-7, 1e-4)
         if method != "complex" or eps is None]


def run(cost, params, grads, *args, **options):
    """``fc.check`` plus the invariant every report keeps: passed exactly when the
    verdict is "pass" or "kinks", and suspects named exactly when it is "mistake"."""
    res = fc.check(cost, params, grads, *args, **options)
    assert res.passed == (res.verdict in ("pass", "kinks")), str(res)
    assert (res.suspects != []) == (res.verdict == "mistake"), str(res)
    if res.passed:
        assert res.suspects == [], str(res)
    return res


# ------------------------------------------------------------- 1. correct passes


@pytest.mark.parametrize("method,eps", STEPS)
@pytest.mark.parametrize("name", NETS)
def test_correct_backward_passes_are_never_blamed(name, method, eps):
    """Batchnorm (variance carried through complex arithmetic), seeded dropout
    with L2 and the RNN: "pass" or "kinks" (a ReLU step may cross a kink), never
    "mistake" or "unsure", by every method and step (the complex step's own
    step is fixed, so it runs once)."""
    cost, params, args, grads = U.net(name)
    res = run(cost, params, grads(), *args, method=method, eps=eps)
    assert res.verdict in ("pass", "kinks"), str(res)


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_batchnorm_with_np_var_passes_real_differences(method):
    """The np.var batchnorm is a fine cost for real differences."""
    cost, params, args, grads = U.net("bn", carry_imaginary=False)
    assert run(cost, params, grads(), *args, method=method).verdict in ("pass", "kinks")


# ------------------------------------------------------------- 2. planted mistakes

PLANTED = [(name, mistake) for name in NETS for mistake in U.MISTAKES[name]]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name,mistake", PLANTED)
def test_planted_mistakes_are_found_in_the_right_tensors(name, mistake, method):
    """A gradient scaled by 1.1, a missing L2 term, a bias gradient summed over
    the wrong axis (the right entry count, so only the values are wrong): verdict
    "mistake" naming exactly the planted tensors, by every method."""
    cost, params, args, grads = U.net(name)
    res = run(cost, params, grads(mistake), *args, method=method)
    assert res.verdict == "mistake", str(res)
    assert sorted(res.suspects) == sorted(U.MISTAKES[name][mistake]), str(res)


@pytest.mark.parametrize("name,mistake", PLANTED)
def test_planted_mistakes_are_found_in_a_float32_backward(name, mistake):
    """The allowance a float32 backward gets (``GRAD_ULPS``) still leaves every
    planted mistake visible."""
    cost, params, args, _ = U.net(name)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    args32 = tuple(a.astype(np.float32) if a.dtype.kind == "f" else a for a in args)
    forward = {"bn": U.bn_forward, "dropout": U.dropout_net_forward,
               "rnn": U.rnn_forward}[name]
    backward = {"bn": U.bn_backward, "dropout": U.dropout_backward,
                "rnn": U.rnn_backward}[name]
    grads = backward(p32, forward(p32, *args32)[1], mistake)
    res = run(cost, p32, grads, *args32, method="richardson")
    assert sorted(res.suspects) == sorted(U.MISTAKES[name][mistake]), str(res)


# ------------------------------------------------------------- 3. complex step


def cost_assigned_into_zeros(params, X, y):
    """The hidden layer written into np.zeros((n, h)): float, so the imaginary
    part is dropped on assignment (NumPy's ComplexWarning)."""
    hidden = np.zeros((X.shape[0], params["W1"].shape[1]))
    hidden[:] = np.maximum(0, X @ params["W1"] + params["b1"])
    return U.softmax_loss(hidden @ params["W2"] + params["b2"], y)[0]


def cost_with_l1(params, X, y):
    """L1 regularization through np.abs, which is real for complex input."""
    scores = np.maximum(0, X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    return U.softmax_loss(scores, y)[0] + 0.1 * np.sum(np.abs(params["W1"]))


def small_relu_net():
    X, y = U.data()
    params = U.init([U.D, 5, U.C], seed=7)
    return params, {k: np.zeros_like(v) for k, v in params.items()}, X, y


@pytest.mark.parametrize("cost,where", [
    (U.bn_loss, "np.var"),
    (cost_assigned_into_zeros, "np.zeros"),
    (cost_with_l1, "abs"),
])
def test_complex_step_that_would_lie_raises(cost, where):
    """A cost that drops the imaginary part raises CostError naming the culprit
    and the methods to use instead; it never gets a verdict."""
    if cost is U.bn_loss:
        _, params, args, grads = U.net("bn", carry_imaginary=False)
        grads = grads()
    else:
        params, grads, *args = small_relu_net()
    with pytest.raises(CostError) as info:
        fc.check(cost, params, grads, *args, method="complex")
    message = str(info.value)
    assert where in message and "method='central' or 'richardson'" in message, message


# ------------------------------------------------------------- 4. kinks at a distance

A, W, KINK_AT, H = 0.7, 1.9, 0.3, 1e-3
RATIOS = (0.01, 0.1, 0.3, 0.5, 0.75, 0.99, 1.5, 2.0)


def kinked_cost(params):
    """J(t) = A t + W max(0, t - KINK_AT) + sin(t) / 4: a ReLU-style kink at KINK_AT."""
    t = params["t"][0]
    return A * t + W * max(0.0, t - KINK_AT) + 0.25 * np.sin(t)


def kinked_derivative(t):
    return A + (W if t > KINK_AT else 0.0) + 0.25 * np.cos(t)


#: Verdicts of the correct derivative at distance d = ratio * H from the kink
#: (both sides, eps=H): a step crosses the kink exactly when d < H.
KINK_TABLE = {ratio: ("kinks" if ratio < 1 else "pass") for ratio in RATIOS}


@pytest.mark.parametrize("method", ["central", "richardson"])
@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize("ratio", RATIOS)
def test_kink_at_a_chosen_distance(ratio, side, method):
    """Within one step of the kink the closer look finds the side the point
    lies on (its two one-sided slopes there never cross the kink, as d > 0)
    and the closed-form derivative matches that side's extrapolated slope:
    "kinks"; beyond one step nothing crosses: "pass". Never "unsure": that
    needs kinks on both sides within h. Derivatives outside every slope seen
    (A + W + 1, above both sides; -A, below both) are "mistake"."""
    t = KINK_AT + side * ratio * H
    params = {"t": np.array([t])}
    res = run(kinked_cost, params, {"t": np.array([kinked_derivative(t)])}, eps=H,
              method=method, engine="python")
    assert res.verdict == KINK_TABLE[ratio], str(res)
    for wrong in (A + W + 1.0, -A):
        bad = run(kinked_cost, params, {"t": np.array([wrong])}, eps=H, method=method,
                  engine="python")
        assert bad.verdict == "mistake" and bad.suspects == ["t"], str(bad)


# ------------------------------------------------------------- 5. mistakes at kinks


def relu_at_zero_net():
    """A ReLU net on quarter-integer data whose pre-activation z[0, 1] is exactly
    0 (and every other one at least 1/16 from 0): steps of W1[:, 1] and b1[1]
    cross that kink, no other step crosses any."""
    rng = np.random.default_rng(13)
    X = rng.integers(-4, 5, size=(4, 3)) / 4.0
    X[0] = [0.5, -0.75, 1.0]
    params = {"W1": rng.integers(-4, 5, size=(3, 4)) / 4.0,
              "b1": np.array([0.25, 0.0, -0.5, 0.75]),
              "W2": 0.5 * rng.standard_normal((4, 3)), "b2": np.zeros(3)}
    params["b1"][1] = -(X[0] @ params["W1"][:, 1])
    z = X @ params["W1"] + params["b1"]
    assert z[0, 1] == 0.0 and np.count_nonzero(np.abs(z) < 1 / 16) == 1
    return params, X, rng.integers(0, 3, size=4)


def relu_net_cost(params, X, y):
    z = X @ params["W1"] + params["b1"]
    return U.softmax_loss(np.maximum(0, z) @ params["W2"] + params["b2"], y)[0]


def relu_net_backward(params, X, y, slope_at_zero):
    """The backward pass with relu'(0) = ``slope_at_zero``."""
    z = X @ params["W1"] + params["b1"]
    r = np.maximum(0, z)
    _, dscores = U.softmax_loss(r @ params["W2"] + params["b2"], y)
    dr = dscores @ params["W2"].T
    dz = dr * np.where(z > 0, 1.0, np.where(z == 0, slope_at_zero, 0.0))
    return {"dW1": X.T @ dz, "db1": dz.sum(axis=0), "dW2": r.T @ dscores,
            "db2": dscores.sum(axis=0)}


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_mistake_confined_to_kink_coordinates_is_not_passed(method):
    """relu'(0) = 0 and relu'(0) = 1 give one side's slope at every crossing
    coordinate: both "kinks" (never "pass": the gradient there is a choice).
    relu'(0) = -1 (a wrong sign, only at the example sitting at 0) lies outside
    both slopes: "mistake" in exactly W1 and b1."""
    params, X, y = relu_at_zero_net()
    for slope in (0.0, 1.0):
        res = run(relu_net_cost, params, relu_net_backward(params, X, y, slope), X, y,
                  method=method)
        assert res.verdict == "kinks", str(res)
        assert {name for name, _ in res.kinks} == {"W1", "b1"}, str(res)
    res = run(relu_net_cost, params, relu_net_backward(params, X, y, -1.0), X, y,
              method=method)
    assert res.verdict == "mistake" and sorted(res.suspects) == ["W1", "b1"], str(res)


# ------------------------------------------------------------- 6. zero gradient, float32


def float32_batchnorm():
    """The batchnorm net with float32 parameters and data: its backward runs in
    float32 (the cost still runs in float64 on fastcheck's float64 theta)."""
    X, y = U.data()
    X32 = X.astype(np.float32)
    params = U.bn_init(dtype=np.float32)
    grads = U.bn_backward(params, U.bn_forward(params, X32, y)[1])
    assert all(g.dtype == np.float32 for g in grads.values())
    return params, grads, X32, y


@pytest.mark.parametrize("method,eps", STEPS)
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_a_tensor_whose_true_gradient_is_zero_is_ok(precision, method, eps):
    """b1 before the batchnorm has gradient 0; the backward gives rounding
    (2.6e-8 in float32, relative difference near 1). It is "ok", and so is the
    whole correct float32 backward, whose every entry carries float32 rounding
    (before ``GRAD_ULPS`` it was WRONG at most steps by every method)."""
    if precision == "float64":
        cost, params, args, grads = U.net("bn")
        grads = grads()
    else:
        cost = U.bn_loss_carried
        params, grads, *args = float32_batchnorm()
    res = run(cost, params, grads, *args, method=method, eps=eps)
    assert res.verdict in ("pass", "kinks"), str(res)
    assert {row.name: row.status for row in res.per_tensor}["b1"] == "ok", str(res)


# ------------------------------------------------------------- 7. nondeterminism


@pytest.mark.parametrize("entry", [fc.check, fc.locate, fc.check_directions])
def test_unseeded_dropout_is_a_cost_error_with_the_size_of_the_noise(entry):
    """Every entry point starts from the same baseline, determinism check included."""
    _, params, args, grads = U.net("dropout")
    with pytest.raises(CostError, match=r"not deterministic.*a difference of \d"):
        entry(U.dropout_loss_unseeded, params, grads(), *args)


# ------------------------------------------------------------- 8. shapes


def test_a_1_by_m_bias_gradient_is_taken_with_one_note():
    """The RNN's db and dby come back (1, M) for (M,) biases: one note names both."""
    cost, params, args, grads = U.net("rnn")
    g = grads()
    assert g["db"].shape == (1, U.RNN_H) and params["b"].shape == (U.RNN_H,)
    res = run(cost, params, g, *args)
    assert res.verdict == "pass"
    assert len(res.notes) == 1 and "db (1, 6) for b (6,)" in res.notes[0], res.notes
    assert "dby (1, 3) for by (3,)" in res.notes[0]


def test_a_bias_gradient_with_another_entry_count_is_a_gradient_error():
    cost, params, args, grads = U.net("rnn")
    g = grads()
    g["db"] = np.zeros((1, U.RNN_H + 1))
    with pytest.raises(GradientError, match="'db'"):
        fc.check(cost, params, g, *args)


# ------------------------------------------------------------- 9. precision


def test_float32_parameters_get_exactly_one_note_naming_them():
    params, grads, X32, y = float32_batchnorm()
    res = run(U.bn_loss_carried, params, grads, X32, y)
    assert res.verdict == "pass", str(res)
    assert len(res.notes) == 1, res.notes
    assert all(f"{name} (float32)" in res.notes[0] for name in params), res.notes
    # The float32 backward's own rounding is in what the check can detect.
    largest = max(float(np.abs(g).max()) for g in grads.values())
    rounding = GRAD_ULPS * float(np.finfo(np.float32).eps) * largest
    assert all(row.detectable >= rounding for row in res.per_tensor), str(res)


def test_float32_gradients_of_float64_parameters_get_a_note_with_their_allowance():
    cost, params, args, grads = U.net("rnn")
    g32 = {k: v.astype(np.float32) for k, v in grads().items()}
    res = run(cost, params, g32, *args, method="richardson")
    assert res.verdict == "pass", str(res)
    assert sum(f"{GRAD_ULPS} of its ulps" in note for note in res.notes) == 1, res.notes


def cost_in(dtype):
    """The carried batchnorm cost computed in ``dtype`` throughout."""
    def cost(params, X, y):
        low = {k: v.astype(dtype) for k, v in params.items()}
        return U.bn_loss_carried(low, X.astype(dtype), y)
    return cost


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_float32_cost_passes_with_a_note(method):
    """Its error estimate uses float32's epsilon, so the correct backward (at the
    float32 parameters it was computed at) passes, and a note says so."""
    params, grads, X32, y = float32_batchnorm()
    res = run(cost_in(np.float32), params, grads, X32, y, method=method)
    assert res.verdict in ("pass", "kinks"), str(res)
    assert any("returns float32" in note for note in res.notes), res.notes
    ref = run(cost_in(np.float64), params, grads, X32, y, method=method)
    # U is measured (issue 22): float32's rounding, about its epsilon of |J| (5.4e8
    # times float64's), within the margin the verdict puts on a measured noise.
    j = float(cost_in(np.float64)(params, X32, y))
    eps32 = float(np.finfo(np.float32).eps)
    assert 0.1 * eps32 * abs(j) <= res.noise <= 100 * eps32 * abs(j), res.noise
    assert res.noise >= 1e6 * ref.noise, (res.noise, ref.noise)


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_a_float16_cost_is_unsure_never_mistake(method):
    params, grads, X32, y = float32_batchnorm()
    res = run(cost_in(np.float16), params, grads, X32, y, method=method)
    assert res.verdict == "unsure", str(res)
    assert any("too coarse" in note for note in res.notes), res.notes
