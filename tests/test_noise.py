"""Never a false pass (issue 22): the cost's noise measured, steps fitted to it,
verdicts at any scale, and what the numbers show.

Every case is pinned against an independent reference: noise of a known
standard deviation, closed-form derivatives written here, and a float64 twin
of a float32 cost written as a course assignment writes it.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastcheck as fc
from fastcheck.planning.noise import TOO_LARGE, TOO_SMALL, USABLE, ecnoise, measure
from fastcheck.planning.step import noise_boost

EPS32 = float(np.finfo(np.float32).eps)


# ------------------------------------------------------------ user-style costs


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def data(m=40, n=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    params = {"W": rng.standard_normal((1, n)) * 0.5, "b": np.full((1, 1), 0.3)}
    return params, X, Y


def logistic_cost32(params, X, Y):
    """Logistic regression computed in float32: parameters cast, sigmoid and BCE."""
    W = params["W"].astype(np.float32)
    b = params["b"].astype(np.float32)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    A = sigmoid(W @ X32 + b)
    m = X.shape[1]
    return -np.sum(Y32 * np.log(A) + (1 - Y32) * np.log(1 - A)) / m


def logistic_grads64(params, X, Y):
    """The float64 twin's closed-form gradients: dW = (A - Y) X^T / m, db = mean(A - Y)."""
    A = sigmoid(params["W"] @ X + params["b"])
    m = X.shape[1]
    return {"dW": (A - Y) @ X.T / m, "db": np.sum(A - Y, axis=1, keepdims=True) / m}


PLANTED = {
    "db x2": lambda g: {**g, "db": 2 * g["db"]},
    "db x10": lambda g: {**g, "db": 10 * g["db"]},
    "db x0": lambda g: {**g, "db": 0 * g["db"]},
    "dW negated": lambda g: {**g, "dW": -g["dW"]},
}


def scaled_cost(params, s):
    """s * (sum tanh(W)^2 + sum b^3): closed-form gradients below."""
    return s * np.sum(np.tanh(params["W"]) ** 2) + s * np.sum(params["b"] ** 3)


def scaled_grads(params, s):
    W, b = params["W"], params["b"]
    return {"dW": s * 2.0 * np.tanh(W) / np.cosh(W) ** 2, "db": s * 3.0 * b ** 2}


def scale_params():
    rng = np.random.default_rng(3)
    return {"W": rng.standard_normal((3, 2)), "b": rng.uniform(0.5, 1.5, (1, 2))}


# ------------------------------------------------------------------ 1. ECnoise


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sigma", [1e-12, 1e-6])
def test_ecnoise_finds_noise_of_a_known_size(sigma, seed):
    """A smooth line plus Gaussian noise of standard deviation sigma: the
    estimate is within a factor 3 of sigma (9 points cannot say better)."""
    rng = np.random.default_rng(seed)
    t = np.arange(9) * 1e-6
    values = 2.0 + 3.0 * t + 5.0 * t ** 2 + sigma * rng.standard_normal(9)
    estimate, outcome = ecnoise(values)
    assert outcome == USABLE
    assert sigma / 3 <= estimate <= 3 * sigma


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e170, 1e300])
def test_ecnoise_is_the_same_at_any_scale(scale):
    """Squares of differences of 1e-300 underflow and of 1e170 overflow: the
    table is taken on values divided by a power of two, so the relative noise
    is the same at every scale."""
    rng = np.random.default_rng(1)
    values = 1.0 + 1e-9 * rng.standard_normal(9)
    base, outcome = ecnoise(values)
    scaled, scaled_outcome = ecnoise(values * scale)
    assert outcome == scaled_outcome == USABLE
    assert scaled / scale == pytest.approx(base, rel=1e-6)


def test_ecnoise_says_when_the_step_was_too_small_or_too_large():
    assert ecnoise(np.full(9, 0.7))[1] == TOO_SMALL
    assert ecnoise(np.arange(9.0) + 1.0)[1] == TOO_LARGE  # values vary by far over 10%


def test_measure_gives_float64_and_float32_rounding():
    """Along a line through theta: the float64 twin's noise is a few float64 ulps of
    |J|, the float32 cost's about float32's epsilon of it."""
    params, X, Y = data()
    theta = np.concatenate([params["W"].ravel(), params["b"].ravel()])

    def j64(t):
        A = sigmoid(t[:5] @ X + t[5])
        return float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))

    def j32(t):
        return float(logistic_cost32({"W": t[:5].reshape(1, 5), "b": t[5:].reshape(1, 1)},
                                     X, Y))

    for f, low, high in ((j64, 1e-18, 1e-14), (j32, 0.05 * EPS32, 2 * EPS32)):
        j0 = f(theta)
        noise = measure(f, theta, j0, np.maximum(1.0, np.abs(theta)))
        assert noise.usable
        assert low <= noise.relative(j0) <= high, (f.__name__, noise)


def test_a_kink_on_the_line_is_not_taken_for_noise():
    """A ReLU whose pre-activation is 0 at theta puts a kink on every line through
    theta; its differences pass ECnoise's test at one step, but their size
    follows the step, so the second table disowns them: unusable, and the
    check falls back to the dtype rule (with a note) and passes."""
    w = np.array([0.5, -0.25, 0.0])

    def cost(p):
        return float(np.maximum(0.0, p["w"][2]) * 3.0 + np.sum(p["w"][:2] ** 2))

    noise = measure(lambda t: cost({"w": t}), w, cost({"w": w}), np.ones(3))
    assert not noise.usable
    res = fc.check(cost, {"w": w}, {"dw": np.array([1.0, -0.5, 3.0])})
    assert res.verdict in ("pass", "kinks"), str(res)
    assert any("could not be measured" in note for note in res.notes), res.notes


def test_a_float32_cost_gets_steps_near_cbrt_of_its_precision():
    """cbrt(float32 eps) = 4.9e-3: the fitted central step is within a factor 2 of it
    (the cap is 5e-3); float64's noise keeps float64's step."""
    h32 = noise_boost(0.7 * EPS32) * math.cbrt(np.finfo(np.float64).eps)
    assert 2.5e-3 <= h32 <= 5e-3
    assert noise_boost(3e-16) == 1.0


# ----------------------------------------------------------- 2. float32 costs


def test_a_float32_cost_passes_its_exact_gradient():
    params, X, Y = data()
    res = fc.check(logistic_cost32, params, logistic_grads64(params, X, Y), X, Y)
    assert res.verdict == "pass", str(res)
    assert any("measured noise" in note for note in res.notes), res.notes
    assert not any("eps=None picks a better step" in note for note in res.notes), res.notes


@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_a_float32_cost_finds_each_planted_bug(bug):
    """Each of the issue's planted bugs, with default options: never "pass"; a
    mistake named in the right tensor (or unsure, naming the precision)."""
    params, X, Y = data()
    grads = PLANTED[bug](logistic_grads64(params, X, Y))
    res = fc.check(logistic_cost32, params, grads, X, Y)
    assert res.verdict == "mistake", str(res)
    assert res.suspects == (["W"] if bug.startswith("dW") else ["b"]), str(res)


def test_an_explicit_eps_far_from_the_noise_gets_a_note():
    params, X, Y = data()
    res = fc.check(logistic_cost32, params, logistic_grads64(params, X, Y), X, Y, eps=1e-7)
    assert res.verdict != "pass", str(res)  # 1e-7 is float32's own rounding
    assert any("eps=1e-07 is far from the step" in note for note in res.notes), res.notes


def test_a_tensor_the_check_is_blind_to_is_unsure():
    """At eps=1e-7 a float32 cost's estimates carry errors far above b's
    gradient: b is "unsure", with the reason and what to do, never "ok"."""
    params, X, Y = data()
    grads = logistic_grads64(params, X, Y)
    res = fc.check(logistic_cost32, params, grads, X, Y, eps=1e-7)
    rows = {row.name: row for row in res.per_tensor}
    top = float(np.abs(grads["db"]).max())
    assert rows["b"].detectable > 0.1 * top
    assert rows["b"].status == "unsure" and res.verdict == "unsure", str(res)
    assert "not well below their gradients" in res.advice, res.advice
    assert any(note.startswith("b: an error up to") and "richardson" in note
               for note in res.notes), res.notes


# ------------------------------------------------------------------ 3. scale


@pytest.mark.parametrize("s", [1e-170, 1e-100, 1e100, 1e170])
def test_a_doubled_gradient_is_found_at_any_scale(s):
    params = scale_params()
    grads = scaled_grads(params, s)
    assert fc.check(scaled_cost, params, grads, s).verdict == "pass"
    res = fc.check(scaled_cost, params, {**grads, "db": 2 * grads["db"]}, s)
    assert res.verdict == "mistake" and res.suspects == ["b"], str(res)
    assert any("b is 2x the estimate" in note for note in res.notes), res.notes


def verdicts(s_cost, s_params, **options):
    """The verdicts of the correct and a doubled-b gradient of the scaled cost
    J(theta / s_params) * s_cost at params * s_params (closed-form gradients)."""
    base = scale_params()
    params = {k: v * s_params for k, v in base.items()}

    def cost(p):
        return scaled_cost({k: v / s_params for k, v in p.items()}, s_cost)

    grads = {k: v / s_params for k, v in scaled_grads(base, s_cost).items()}
    return (fc.check(cost, params, grads, **options).verdict,
            fc.check(cost, params, {**grads, "db": 2 * grads["db"]}, **options).verdict)


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
@pytest.mark.parametrize("s_cost, s_params", [(1e-170, 1e-170), (1.0, 1e-170), (1e170, 1.0),
                                              (1e-170, 1.0), (1.0, 1e170), (1e170, 1e170)])
def test_every_method_at_extreme_scales(method, s_cost, s_params):
    """The complex step of 1e-20 was absolute: against parameters of 1e-170 it was no
    small step, and a correct cost was refused as dropping the imaginary part."""
    assert verdicts(s_cost, s_params, method=method) == ("pass", "mistake")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(-300, 300))
def test_scaling_the_cost_changes_no_verdict(k):
    assert verdicts(10.0 ** k, 1.0) == ("pass", "mistake")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(-150, 150))
def test_scaling_the_parameters_changes_no_verdict(k):
    assert verdicts(1.0, 10.0 ** k) == ("pass", "mistake")


def cancelling_cost(params, c):
    """sum(w^2), computed as sum((c + w)^2) - n c^2 - 2 c sum(w): near 0 and
    noisy, because terms of c^2 cancel."""
    w = params["w"]
    return np.sum((c + w) ** 2) - w.size * c ** 2 - 2.0 * c * np.sum(w)


def test_a_cost_near_zero_by_cancellation_is_judged_on_its_noise():
    """With c = 1e5 the cancelled terms leave noise of about 1e-6 on a cost of
    about 1; the gradient 2w passes, and 3w is a mistake."""
    w = np.random.default_rng(5).uniform(0.5, 1.0, 6)
    ok = fc.check(cancelling_cost, {"w": w}, {"dw": 2.0 * w}, 1e5)
    assert ok.verdict == "pass", str(ok)
    assert ok.noise > 1e-9  # measured: far above 100 ulps of max(1, |J|) = 2.2e-14
    bad = fc.check(cancelling_cost, {"w": w}, {"dw": 3.0 * w}, 1e5)
    assert bad.verdict == "mistake", str(bad)


# ------------------------------------------------- 4. what the numbers show


def mean_cost(params, X, Y):
    """Squared error averaged over all N x C = 12 x 4 = 48 entries."""
    Z = params["W"] @ X + params["b"]
    return np.mean((Z - Y) ** 2) / 2.0


def test_a_common_factor_is_named():
    """A backward pass for the sum (the mean's gradient times 48) in every tensor."""
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((3, 12)), rng.standard_normal((4, 12))
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal((4, 1))}
    R = params["W"] @ X + params["b"] - Y
    grads = {"dW": R @ X.T, "db": R.sum(axis=1, keepdims=True)}  # 48x the mean's
    res = fc.check(mean_cost, params, grads, X, Y)
    assert res.verdict == "mistake"
    assert any("every wrong gradient is 48x the estimate: a mean where a sum belongs"
               in note for note in res.notes), res.notes


def test_a_sign_and_a_transpose_are_named():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    params = {"W": rng.standard_normal((3, 3)), "c": rng.standard_normal(3)}

    def cost(p, x, y):
        r = p["W"] @ x + p["c"] - y
        return 0.5 * float(r @ r)

    r = params["W"] @ x + params["c"] - y
    res = fc.check(cost, params, {"dW": np.outer(x, r), "dc": -r}, x, y)
    assert res.suspects == ["W", "c"], str(res)
    assert any(note.startswith("W is the transpose of its estimate") for note in res.notes)
    assert any(note.startswith("c is the negative of the estimate") for note in res.notes)


# --------------------------------------------------- 5. directions and vjp


def test_check_directions_follows_the_same_rules():
    params, X, Y = data()
    grads = logistic_grads64(params, X, Y)
    assert fc.check_directions(logistic_cost32, params, grads, X, Y).verdict == "pass"
    bad = fc.check_directions(logistic_cost32, params, PLANTED["db x2"](grads), X, Y)
    assert bad.verdict == "mistake", str(bad)
    tiny = scale_params()
    g = scaled_grads(tiny, 1e-170)
    assert fc.check_directions(scaled_cost, tiny, g, 1e-170).verdict == "pass"
    assert fc.check_directions(scaled_cost, tiny, {**g, "db": 2 * g["db"]},
                               1e-170).verdict == "mistake"


def test_check_vjp_of_a_float32_layer_finds_a_doubled_bias():
    """A float32 affine layer out = x W + b: dW = x^T dout, db = sum(dout)."""
    rng = np.random.default_rng(9)
    inputs = {"x": rng.standard_normal((5, 3)), "W": rng.standard_normal((3, 4)),
              "b": rng.standard_normal(4)}

    def affine(p):
        x, W, b = (p[k].astype(np.float32) for k in ("x", "W", "b"))
        return x @ W + b

    dout = rng.standard_normal((5, 4))
    grads = {"dx": dout @ inputs["W"].T, "dW": inputs["x"].T @ dout, "db": dout.sum(axis=0)}
    assert fc.check_vjp(affine, inputs, grads, dout=dout).verdict == "pass"
    res = fc.check_vjp(affine, inputs, {**grads, "db": 2 * grads["db"]}, dout=dout)
    assert res.verdict == "mistake" and res.suspects == ["b"], str(res)
