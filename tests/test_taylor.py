"""``fastcheck.taylor_test``: verdicts from the rates at which Taylor remainders fall.

The references are closed forms: a cubic whose remainders are known exactly
(r1 = |h^2 sum(x v^2) + h^3 sum(v^3) / 3|, r2 = h^3 |sum(v^3)| / 3), the error
a planted bug puts into <g, v>, a logistic regression's Hessian, and, for the
network, the Hessian by the complex step of its analytic backward pass.
"""

import json

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import GradientError, OptionError
from fastcheck.testing import assert_taylor_rates


# ---- a cubic: every remainder in closed form ------------------------------------------

def cubic(p, hyper):
    return hyper["scale"] * np.sum(p["x"] ** 3) / 3.0 + np.sum(p["y"] ** 2)


def test_the_remainders_are_the_closed_forms_and_the_rates_their_orders():
    x, y = np.array([0.5, -1.0, 2.0]), np.array([[0.3, -0.2]])
    params, hyper = {"x": x, "y": y}, {"scale": 1.0}
    grads = {"dx": x ** 2, "dy": 2 * y}
    H = np.diag(np.concatenate([2 * x, 2 * np.ones(2)]))
    v = {"x": np.array([1.0, 0.5, -0.25]), "y": np.array([[0.0, 0.0]])}
    res = fc.taylor_test(cubic, params, grads, hyper, hvp=H, direction=v)
    assert res.passed and res.verdict == "pass", str(res)
    row = res.rows[0]
    assert row.name == "x"  # the direction moves x alone: one row
    h, r = row.table.h, row.table.r
    vx = v["x"]
    closed1 = np.abs(h ** 2 * np.sum(x * vx ** 2) + h ** 3 * np.sum(vx ** 3) / 3)
    closed2 = h ** 3 * abs(np.sum(vx ** 3)) / 3
    # Every remainder is its closed form to within the rounding bound it is judged with.
    bound = row.table.rounding
    assert (np.abs(r[:, 1] - closed1) <= bound[:, 1]).all()
    assert (np.abs(r[:, 2] - closed2) <= bound[:, 2]).all()
    clean = row.table.clean(res.clean_factor)
    assert clean[:, 1].sum() >= 10 and clean[:, 2].sum() >= 6
    assert abs(res.rate(2) - 2) < 0.05 and abs(res.rate(3) - 3) < 0.05
    data = json.loads(json.dumps(res.to_dict()))
    assert data["kind"] == "taylor" and data["verdict"] == "pass"
    assert data["directions"][0]["verdicts"][1]["order"] == 3


def test_a_planted_gradient_bug_drops_the_rate_to_1_and_is_named():
    rng = np.random.default_rng(5)
    params = {"x": rng.standard_normal(4), "y": rng.standard_normal((1, 2))}
    hyper = {"scale": 2.0}
    grads = {"dx": 2.0 * params["x"] ** 2, "dy": 2 * params["y"] * 1.001}  # 0.1% off in y
    res = fc.taylor_test(cubic, params, grads, hyper)
    assert res.verdict == "mistake" and not res.passed, str(res)
    assert res.suspects == ["y"] and res.grad_suspects == ["y"]
    rows = {row.name: row for row in res.rows}
    assert rows["x"].status == "ok" and abs(rows["x"].verdicts[0].rate - 2) < 0.1
    wrong = rows["y"].verdicts[0]
    assert abs(wrong.rate - 1) < 0.1
    # The leading coefficient of r1 along y is the error of <g, v>: <2y, v_y> - <g_y, v_y>
    # = -0.001 <2y, v_y>, and <g_y, v_y> = 1.001 <2y, v_y> is the row's d1.
    np.testing.assert_allclose(wrong.coefficient, -0.001 * rows["y"].d1 / 1.001, rtol=1e-3)
    assert "wrong gradient along: y" in str(res)
    assert "r1 falls at rate 1.00 where 2 is due, along y" in str(res)
    assert res._repr_html_().count("<table") == 3  # directions, along all, along y
    with pytest.raises(AssertionError, match="wrong gradient along: y"):
        assert_taylor_rates(cubic, params, grads, hyper)


# ---- a network written the way people write one --------------------------------------

class TwoLayerNet:
    """tanh hidden layer, squared error, L2 weight decay from a dict of hyperparameters."""

    def __init__(self, hyper):
        self.hyper = hyper

    def forward(self, p, X):
        h = np.tanh(X @ p["W1"] + p["b1"])
        return h, h @ p["W2"] + p["b2"]

    def loss(self, p, X, Y):
        _, out = self.forward(p, X)
        decay = 0.5 * self.hyper["reg"] * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        return 0.5 * np.mean(np.sum((out - Y) ** 2, axis=1)) + decay

    def backward(self, p, X, Y, forget=None):
        h, out = self.forward(p, X)
        e = (out - Y) / len(X)
        dz = (e @ p["W2"].T) * (1 - h ** 2)
        reg = self.hyper["reg"]
        grads = {"dW1": X.T @ dz + reg * p["W1"], "db1": dz.sum(axis=0, keepdims=True),
                 "dW2": h.T @ e + reg * p["W2"], "db2": e.sum(axis=0, keepdims=True)}
        if forget == "reg W2":
            grads["dW2"] = h.T @ e
        return grads

    def hvp(self, p, X, Y, v, mistake=False):
        """Pearlmutter's R-op; ``mistake`` leaves out tanh'' (d(1 - h^2) = -2 h Rh)."""
        h, out = self.forward(p, X)
        e = (out - Y) / len(X)
        rh = (1 - h ** 2) * (X @ v["W1"] + v["b1"])
        re = (rh @ p["W2"] + h @ v["W2"] + v["b2"]) / len(X)
        rdz = (re @ p["W2"].T + e @ v["W2"].T) * (1 - h ** 2)
        if not mistake:
            rdz = rdz + (e @ p["W2"].T) * (-2 * h * rh)
        reg = self.hyper["reg"]
        return {"dW1": X.T @ rdz + reg * v["W1"], "db1": rdz.sum(axis=0, keepdims=True),
                "dW2": rh.T @ e + h.T @ re + reg * v["W2"],
                "db2": re.sum(axis=0, keepdims=True)}


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    params = {"W1": rng.standard_normal((3, 4)), "b1": 0.1 * rng.standard_normal((1, 4)),
              "W2": rng.standard_normal((4, 2)), "b2": np.zeros((1, 2))}
    model = TwoLayerNet({"reg": 0.05})
    return model, params, X, Y


def complex_step_hvp(model, params, X, Y, v):
    """H v by the complex step of the analytic backward pass: Im g(theta + i t v) / t."""
    t = 1e-30
    moved = {k: params[k] + 1j * t * v[k] for k in params}
    return {k: g.imag / t for k, g in model.backward(moved, X, Y).items()}


def test_the_r_op_is_the_complex_step_hvp(net):
    model, params, X, Y = net
    v = {k: np.cos(np.arange(a.size)).reshape(a.shape) for k, a in params.items()}
    want = complex_step_hvp(model, params, X, Y, v)
    for k, got in model.hvp(params, X, Y, v).items():
        np.testing.assert_allclose(got, want[k], rtol=1e-10, atol=1e-12)
    wrong = model.hvp(params, X, Y, v, mistake=True)
    assert np.abs(wrong["dW1"] - want["dW1"]).max() > 1e-3


@pytest.mark.parametrize("seed", range(4))
def test_a_correct_network_has_rates_2_and_3_across_seeds(net, seed):
    model, params, X, Y = net
    res = fc.taylor_test(model.loss, params, model.backward(params, X, Y), X, Y,
                         hvp=lambda v: model.hvp(params, X, Y, v), seed=seed)
    assert res.verdict == "pass", str(res)
    assert [row.name for row in res.rows] == ["all", "W1", "b1", "W2", "b2"]
    assert abs(res.rate(2) - 2) < REACH and abs(res.rate(3) - 3) < REACH


REACH = fc.taylor.REACHED


def test_a_missing_weight_decay_term_is_named(net):
    model, params, X, Y = net
    grads = model.backward(params, X, Y, forget="reg W2")
    res = fc.taylor_test(model.loss, params, grads, X, Y)
    assert res.verdict == "mistake" and res.suspects == ["W2"], str(res)
    assert abs(res.rate(2, "W2") - 1) < REACH and abs(res.rate(2, "W1") - 2) < REACH
    # The coefficient of r1 along W2 is the error of <g, v>: reg <W2, v_W2>, left out.
    row = next(r for r in res.rows if r.name == "W2")
    v = direction_of(res, row, {k: a.shape for k, a in params.items()}, params)
    np.testing.assert_allclose(row.verdicts[0].coefficient,
                               model.hyper["reg"] * np.sum(params["W2"] * v["W2"]), rtol=1e-3)
    data = res.to_dict()
    assert data["suspects"] == ["W2"] and data["grad_suspects"] == ["W2"]


def test_a_missing_activation_second_derivative_drops_r2_to_2(net):
    model, params, X, Y = net
    grads = model.backward(params, X, Y)
    res = fc.taylor_test(model.loss, params, grads, X, Y,
                         hvp=lambda v: model.hvp(params, X, Y, v, mistake=True))
    assert res.verdict == "mistake", str(res)
    # tanh'' enters R(dz) only where Rh != 0: along W1 and b1.
    assert res.hvp_suspects == ["W1", "b1"] and res.grad_suspects == []
    assert abs(res.rate(3) - 2) < REACH and abs(res.rate(2) - 2) < REACH
    # The coefficient of r2 along W1 is (<v, H v> - <v, hvp(v)>) / 2, with the true
    # H v by the complex step.
    row = next(r for r in res.rows if r.name == "W1")
    shapes = {k: a.shape for k, a in params.items()}
    v = direction_of(res, row, shapes, params)
    true = complex_step_hvp(model, params, X, Y, v)
    vhv = sum(np.sum(v[k] * true["d" + k]) for k in v)
    np.testing.assert_allclose(row.verdicts[1].coefficient, vhv - row.d2, rtol=1e-3)
    assert "wrong Hessian-vector product along: W1, b1" in str(res)


def direction_of(res, row, shapes, params):
    """The drawn direction restricted to ``row``'s tensor, as ``taylor_test`` draws it."""
    rng = np.random.default_rng([res.seed, 0, fc.taylor.DIRECTION_STREAM])
    theta = np.concatenate([np.ravel(params[k]) for k in shapes])
    floor = fc.planning.step.scale_floor(theta)
    v = {}
    for k, shape in shapes.items():
        size = max(floor, float(np.max(np.abs(params[k]))))
        draw = rng.standard_normal(int(np.prod(shape))).reshape(shape) * size
        v[k] = draw if k == row.name else np.zeros(shape)
    return v


# ---- kinks -----------------------------------------------------------------------------

def relu_net_loss(p, X, y):
    z = X @ p["W"] + p["b"]
    s = (np.maximum(z, 0) @ p["V"]).ravel()
    return np.mean(np.logaddexp(0, s) - y * s)


def relu_net_grad(p, X, y):
    z = X @ p["W"] + p["b"]
    a = np.maximum(z, 0)
    s = (a @ p["V"]).ravel()
    ds = (1 / (1 + np.exp(-s)) - y) / len(y)
    dz = (ds[:, None] @ p["V"].T) * (z > 0)
    return {"dW": X.T @ dz, "db": dz.sum(axis=0), "dV": a.T @ ds[:, None]}


@pytest.mark.parametrize("seed", range(3))
def test_kinks_crossed_by_the_larger_steps_are_no_mistake(seed):
    rng = np.random.default_rng(10 + seed)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30).astype(float)
    p = {"W": rng.standard_normal((3, 6)), "b": np.zeros(6), "V": rng.standard_normal((6, 1))}
    res = fc.taylor_test(relu_net_loss, p, relu_net_grad(p, X, y), X, y, seed=seed)
    assert res.passed, str(res)
    bad = relu_net_grad(p, X, y)
    bad["db"] = bad["db"] + 0.01
    res = fc.taylor_test(relu_net_loss, p, bad, X, y, seed=seed)
    assert res.verdict == "mistake" and res.suspects == ["b"], str(res)


def test_a_kink_at_theta_is_told_from_a_mistake():
    # |w| at w = 0: any slope in [-1, 1] is right there (0 is the convention), and the
    # remainder falls at rate 1 on both sides with the rule between them.
    params = {"w": np.array([0.0, 1.5, -2.0])}
    right = {"dw": np.array([0.0, 1.0, -1.0])}
    direction = {"w": np.array([0.25, 1.0, 0.5])}  # one-sided slopes 0.75 and 0.25
    res = fc.taylor_test(lambda p: np.sum(np.abs(p["w"])), params, right, direction=direction)
    assert res.verdict == "kinks" and res.passed, str(res)
    assert abs(res.rate(2) - 1) < REACH
    # With an HVP (0 away from the kink): no second derivative at theta to judge.
    res = fc.taylor_test(lambda p: np.sum(np.abs(p["w"])), params, right, direction=direction,
                         hvp=np.zeros((3, 3)))
    assert res.verdict == "kinks" and res.rows[0].verdicts[1].status == "-", str(res)
    # A sign slipped on a smooth entry: the same kink, but <g, v> = -1.5 outside the
    # one-sided slopes. (Along a direction where the slip lands inside them, no test
    # along that one direction can tell it from a kink.)
    wrong = {"dw": np.array([0.0, -1.0, -1.0])}
    res = fc.taylor_test(lambda p: np.sum(np.abs(p["w"])), params, wrong, direction=direction)
    assert res.verdict == "mistake", str(res)
    # Smooth and wrong: along 1.5 only, no kink at all.
    res = fc.taylor_test(lambda p: np.sum(np.abs(p["w"])), params, wrong,
                         direction={"w": np.array([0.0, 1.0, 0.0])})
    assert res.verdict == "mistake", str(res)
    np.testing.assert_allclose(res.rows[0].verdicts[0].coefficient, 2.0, rtol=1e-6)


# ---- rounding: a Hessian the logistic regression's closed form gives -------------------

def logistic(p, X, y, hyper):
    z = X @ p["w"] + p["b"]
    return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * hyper["lam"] * p["w"] @ p["w"]


def logistic_grad(p, X, y, hyper):
    s = 1 / (1 + np.exp(-(X @ p["w"] + p["b"])))
    return {"dw": X.T @ (s - y) / len(y) + hyper["lam"] * p["w"], "db": np.mean(s - y)}


def logistic_hessian(p, X, y, hyper, forget_lam=False):
    s = 1 / (1 + np.exp(-(X @ p["w"] + p["b"])))
    d = s * (1 - s) / len(y)
    A = np.hstack([X, np.ones((len(y), 1))])
    H = A.T @ (d[:, None] * A)
    if not forget_lam:
        H[:-1, :-1] += hyper["lam"] * np.eye(X.shape[1])
    return H


def test_a_newton_hessian_and_float32_and_unsure():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((40, 3)), (rng.uniform(size=40) < 0.5).astype(float)
    p, hyper = {"w": rng.standard_normal(3), "b": np.array(0.2)}, {"lam": 0.1}
    g = logistic_grad(p, X, y, hyper)
    before = {k: v.copy() for k, v in p.items()}
    res = fc.taylor_test(logistic, p, g, X, y, hyper, hvp=logistic_hessian(p, X, y, hyper))
    assert res.verdict == "pass" and abs(res.rate(3) - 3) < REACH, str(res)
    res = fc.taylor_test(logistic, p, g, X, y, hyper,
                         hvp=logistic_hessian(p, X, y, hyper, forget_lam=True))
    assert res.hvp_suspects == ["w"] and res.grad_suspects == [], str(res)
    assert all(np.array_equal(p[k], before[k]) for k in p)  # nothing of the user's moved
    # A float32 cost: rounding near 1e-7 of J leaves fewer clean steps, and still rate 2.
    p32 = {k: np.asarray(v, dtype=np.float32) for k, v in p.items()}

    def logistic32(q, X, y, hyper):
        q = {k: np.asarray(v, dtype=np.float32) for k, v in q.items()}
        return logistic(q, X.astype(np.float32), y.astype(np.float32), hyper)

    res = fc.taylor_test(logistic32, p32, g, X, y, hyper)
    assert res.verdict == "pass", str(res)
    # Steps so small that rounding rules all of them: no rate, unsure.
    res = fc.taylor_test(logistic32, p32, g, X, y, hyper, steps=[1e-6, 5e-7, 2.5e-7])
    assert res.verdict == "unsure" and not res.passed, str(res)


def test_bad_input_is_named():
    params = {"x": np.ones(3), "y": np.ones((1, 2))}
    grads = {"dx": np.ones(3), "dy": 2 * np.ones((1, 2))}
    hyper = {"scale": 1.0}
    with pytest.raises(OptionError, match="steps must be finite, positive and decreasing"):
        fc.taylor_test(cubic, params, grads, hyper, steps=[1e-2, 1e-1, 1e-3])
    with pytest.raises(OptionError, match="at least 3 steps"):
        fc.taylor_test(cubic, params, grads, hyper, steps=[1e-2, 1e-3])
    with pytest.raises(OptionError, match=r"direction\['x'\] has shape \(2,\)"):
        fc.taylor_test(cubic, params, grads, hyper, direction={"x": np.ones(2)})
    with pytest.raises(OptionError, match="direction names 'z'"):
        fc.taylor_test(cubic, params, grads, hyper, direction={"z": np.ones(2)})
    with pytest.raises(OptionError, match="direction is zero"):
        fc.taylor_test(cubic, params, grads, hyper, direction={"x": np.zeros(3)})
    with pytest.raises(GradientError, match=r"dense Hessian, has shape \(3, 3\)"):
        fc.taylor_test(cubic, params, grads, hyper, hvp=np.eye(3))
    with pytest.raises(GradientError, match=r"hvp\(v\) has no entry for the parameter 'y'"):
        fc.taylor_test(cubic, params, grads, hyper, hvp=lambda v: {"dx": v["x"]})
    res = fc.taylor_test(cubic, params, grads, hyper, only="x")
    assert [row.name for row in res.rows] == ["x"]


def test_an_error_near_what_the_steps_see_is_never_passed():
    # exp along v: <g, v> off by a * sum(v). Large errors drop the rate to 1 (a mistake);
    # at 1e-6 the rate is caught between 1 and 2 at the smallest clean steps: unsure.
    x = np.array([0.7, -0.4])
    verdicts = {}
    for a in (1e-3, 1e-5, 1e-6, 0.0):
        res = fc.taylor_test(lambda p: np.sum(np.exp(p["x"])), {"x": x}, {"dx": np.exp(x) + a})
        verdicts[a] = res.verdict
        if a:
            assert res.verdict != "pass", str(res)
    assert verdicts == {1e-3: "mistake", 1e-5: "mistake", 1e-6: "unsure", 0.0: "pass"}


@pytest.mark.parametrize("seed", [14, 20])
def test_a_rate_caught_between_orders_by_cancelling_terms_is_settled_by_the_fit(seed):
    # A logistic regression whose bias has a third derivative near 0 at theta: along b,
    # r2's terms of order 3 and 4 cancel just above the steps where rounding takes
    # over, and the last clean rate is between 2 and 3. The fit of the remainder finds
    # no error in <v, Hv>; a Hessian without its regulariser still drops r2 along w.
    rng = np.random.default_rng(100 + seed)
    for shape in [(10, 3), (10, 2), (3, 4), (1, 4), (4, 2), (30, 3)]:
        rng.standard_normal(shape)
    rng.integers(0, 2, 30)
    rng.standard_normal((3, 6))
    rng.standard_normal((6, 1))
    X, y = rng.standard_normal((40, 3)), (rng.uniform(size=40) < 0.5).astype(float)
    p, hyper = {"w": rng.standard_normal(3), "b": np.array(0.2)}, {"lam": 0.1}
    g = logistic_grad(p, X, y, hyper)
    res = fc.taylor_test(logistic, p, g, X, y, hyper, hvp=logistic_hessian(p, X, y, hyper),
                         seed=seed)
    assert res.verdict == "pass", str(res)
    along_b = res.rows[2].verdicts[1]
    assert along_b.rate < 3 - REACH and "fit" in along_b.note
    res = fc.taylor_test(logistic, p, g, X, y, hyper, seed=seed,
                         hvp=logistic_hessian(p, X, y, hyper, forget_lam=True))
    assert res.verdict == "mistake" and res.hvp_suspects == ["w"], str(res)


def test_a_tensor_the_cost_barely_feels_gets_larger_steps():
    # J = 1e6 sum(exp(x)) + 0.01 sum(y) + 1e-6 |y|^2: along y, r1 = 1e-6 h^2 |v_y|^2 is
    # below J's rounding (about 1e-8) at every default step; the steps grow until it
    # is not. A slipped sign on the 0.01 is clean at every step, at rate 1.
    params = {"x": np.array([0.1, -0.2]), "y": np.array([[0.5, 1.0]])}

    def cost(p):
        return 1e6 * np.sum(np.exp(p["x"])) + 0.01 * np.sum(p["y"]) + 1e-6 * np.sum(p["y"] ** 2)

    right = {"dx": 1e6 * np.exp(params["x"]), "dy": 0.01 + 2e-6 * params["y"]}
    res = fc.taylor_test(cost, params, right)
    assert res.verdict == "pass", str(res)
    along_y = next(row for row in res.rows if row.name == "y")
    assert along_y.table.h[0] > fc.taylor.FIRST_STEP and abs(along_y.verdicts[0].rate - 2) < REACH
    res = fc.taylor_test(cost, params, dict(right, dy=-0.01 + 2e-6 * params["y"]))
    assert res.verdict == "mistake" and res.suspects == ["y"], str(res)


@fc.jit_cost
def jit_logistic(p, X, y):
    z = X @ p["w"] + p["b"][0]
    return np.mean(np.log(1.0 + np.exp(z)) - y * z)


def test_compiled_costs_are_evaluated_compiled():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30).astype(float)
    p = {"w": rng.standard_normal(3), "b": np.array([0.1])}
    s = 1 / (1 + np.exp(-(X @ p["w"] + p["b"][0])))
    g = {"dw": X.T @ (s - y) / 30, "db": np.array([np.mean(s - y)])}
    res = fc.taylor_test(jit_logistic, p, g, X, y)
    assert res.verdict == "pass" and res.engine == "generic", str(res)
    res = fc.taylor_test(jit_logistic, p, dict(g, db=-g["db"]), X, y)
    assert res.verdict == "mistake" and res.suspects == ["b"], str(res)
    # A built-in model: its own compiled cost, and its exact backward.
    X, Y = rng.standard_normal((4, 8)), (rng.random((1, 8)) > 0.5) * 1.0
    model = fc.models.MLP([4, 5, 3, 1], hidden="tanh", output="sigmoid", loss="bce", l2=0.1)
    params = model.init_params(seed=0)
    grads = model.backward(params, X, Y)
    assert fc.taylor_test(model, params, grads, X, Y).verdict == "pass"
    res = fc.taylor_test(model, params, dict(grads, db2=0.9 * grads["db2"]), X, Y)
    assert res.verdict == "mistake" and res.suspects == ["b2"] and res.engine == "layered"
