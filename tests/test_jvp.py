"""``fastcheck.check_jvp``: forward-mode rules against central differences of the
layer, per input, and the dot-product test against a VJP; ``assert_jvp_match``.

The layers are written as people write them (a dense layer with a (1, M) bias
and a dict of hyperparameters, a layer norm whose JVP is derived by hand, a
float32 layer). Every rule used as "correct" is first compared with an
independent reference, the layer's closed-form Jacobian built with NumPy, and
every planted mistake's wrong output elements are computed from that
reference, so the tests never trust the code under test to say what is right.
"""

import json

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError, GradientError, InputTypeError, OptionError
from fastcheck.jvp import tangent
from fastcheck.testing import assert_jvp_match
from fastcheck.vjp import cotangent


# ---- a dense layer, as users write it ---------------------------------------------------

HYPER = {"activation": "tanh", "scale": 0.5}


def dense_forward(x, w, b, hyper):
    z = x @ w + b                       # b is (1, M), as many courses keep it
    return hyper["scale"] * np.tanh(z), (x, w, z)


def dense_layer(inputs, hyper):
    return dense_forward(inputs["x"], inputs["w"], inputs["b"], hyper)   # (out, cache)


def dense_jvp(t, cache, hyper, mistake=None):
    """Mistakes: "transposed" uses w.T in x's term (w is square); "bias" forgets b's
    term; "sign" flips w's term."""
    x, w, z = cache
    dz_x = t["x"] @ (w.T if mistake == "transposed" else w)
    dz_w = x @ t["w"] * (-1.0 if mistake == "sign" else 1.0)
    dz_b = 0.0 if mistake == "bias" else t["b"]
    return hyper["scale"] * (1.0 - np.tanh(z) ** 2) * (dz_x + dz_w + dz_b)


def dense_vjp(u, cache, hyper, mistake=None):
    """Mistake: "dw" scales dw by 1.1; "bias" forgets db (zeros)."""
    x, w, z = cache
    dz = u * hyper["scale"] * (1.0 - np.tanh(z) ** 2)
    dw = x.T @ dz * (1.1 if mistake == "dw" else 1.0)
    db = np.zeros((1, dz.shape[1])) if mistake == "bias" else dz.sum(axis=0, keepdims=True)
    return {"dx": dz @ w.T, "dw": dw, "db": db}


def dense_jacobian(x, w, b, hyper):
    """The closed-form Jacobian of ``dense_forward``'s output (N*M,) with respect to
    x, w and b, flattened in C order: {name: (N*M, size)}."""
    N, D = x.shape
    M = w.shape[1]
    s = hyper["scale"] * (1.0 - np.tanh(x @ w + b) ** 2)      # (N, M)
    eye_n, eye_m = np.eye(N), np.eye(M)
    jx = np.einsum("nm,nk,dm->nmkd", s, eye_n, w).reshape(N * M, N * D)
    jw = np.einsum("nm,nd,me->nmde", s, x, eye_m).reshape(N * M, D * M)
    jb = np.einsum("nm,me->nme", s, eye_m).reshape(N * M, M)
    return {"x": jx, "w": jw, "b": jb}


def reference_jvp(jac, t):
    """J t from the reference Jacobian, over the inputs ``t`` moves: (N*M,)."""
    return sum(jac[name] @ t[name].ravel() for name in t)


@pytest.fixture(scope="module")
def dense():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 4)), rng.standard_normal((1, 4))
    inputs = {"x": x, "w": w, "b": b}
    out, cache = dense_layer(inputs, HYPER)
    return inputs, cache, dense_jacobian(x, w, b, HYPER)


def test_the_correct_dense_rules_match_the_closed_form_jacobian(dense):
    inputs, cache, jac = dense
    for draw in range(3):
        t = tangent({k: v.shape for k, v in inputs.items()}, seed=0, draw=draw)
        np.testing.assert_allclose(dense_jvp(t, cache, HYPER).ravel(), reference_jvp(jac, t),
                                   rtol=1e-12, atol=1e-12)
        u = cotangent([(5, 4)], seed=0, draw=draw)[0]
        grads = dense_vjp(u, cache, HYPER)
        for name in inputs:
            np.testing.assert_allclose(grads["d" + name].ravel(), jac[name].T @ u.ravel(),
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_a_correct_dense_jvp_passes_across_seeds(dense, seed):
    inputs, cache, _ = dense
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER), HYPER,
                       n=3, seed=seed, vjp=lambda u: dense_vjp(u, cache, HYPER))
    assert res.passed and res.verdict == "pass", str(res)
    assert [row.name for row in res.rows] == ["all", "x", "w", "b"]
    assert all(row.status == "ok" and row.checked == 20 for row in res.rows)
    assert [row.status for row in res.dot] == ["ok"] * 3
    assert res.suspects == [] and res.vjp_suspects == [] and not res.located


@pytest.mark.parametrize("mistake, wrong", [("transposed", "x"), ("bias", "b"), ("sign", "w")])
def test_a_planted_jvp_mistake_is_named_with_its_input_and_elements(dense, mistake, wrong):
    inputs, cache, jac = dense
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER, mistake),
                       HYPER, seed=3)
    assert res.verdict == "mistake" and res.suspects == [wrong], str(res)
    # The located elements are exactly those where the rule differs from the reference
    # along the restricted tangent of draw 0, and their estimates are the reference's.
    t = {wrong: tangent({k: v.shape for k, v in inputs.items()}, seed=3, draw=0)[wrong]}
    truth = reference_jvp(jac, t).reshape(5, 4)
    given = dense_jvp({**{k: np.zeros_like(v) for k, v in inputs.items()}, **t}, cache, HYPER,
                      mistake)
    off = {tuple(int(i) for i in k) for k in np.argwhere(np.abs(given - truth) > 1e-6)}
    assert {loc.index for loc in res.located} == off and off
    assert all(loc.tensor == wrong for loc in res.located)
    for loc in res.located:
        assert loc.estimate == pytest.approx(truth[loc.index], rel=1e-6, abs=1e-9)
        assert loc.gradient == pytest.approx(given[loc.index], rel=1e-12, abs=1e-15)
    text = str(res)
    assert f"wrong forward rule (jvp) along: {wrong}" in text and "located:" in text


def test_the_dot_product_test_names_the_inconsistent_rule(dense):
    inputs, cache, _ = dense
    right_jvp = lambda t: dense_jvp(t, cache, HYPER)              # noqa: E731
    res = fc.check_jvp(dense_layer, inputs, right_jvp, HYPER,
                       vjp=lambda u: dense_vjp(u, cache, HYPER, "dw"))
    assert res.verdict == "mistake" and res.suspects == [] and res.vjp_suspects == ["w"]
    w_row = res.dot[1]
    assert res.difference == pytest.approx(abs(w_row.forward - w_row.reverse)
                                           / (abs(w_row.forward) + abs(w_row.reverse)))
    assert res.difference > 1e-3 and str(res).startswith("fastcheck FAILED: difference")
    assert [(r.name, r.status, r.wrong) for r in res.dot] == [
        ("x", "ok", "-"), ("w", "INCONSISTENT", "vjp"), ("b", "ok", "-")]
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER, "sign"), HYPER,
                       vjp=lambda u: dense_vjp(u, cache, HYPER))
    assert res.suspects == ["w"] and res.vjp_suspects == []
    assert [r.wrong for r in res.dot] == ["-", "jvp", "-"]
    # Both rules wrong alike (each forgets b): they agree with each other, and the
    # finite differences of f still show both.
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER, "bias"), HYPER,
                       vjp=lambda u: dense_vjp(u, cache, HYPER, "bias"))
    assert res.suspects == ["b"] and res.vjp_suspects == ["b"]
    # <jvp(t), u> and <t, vjp(u)> are what the reference Jacobian gives.
    t = tangent({k: v.shape for k, v in inputs.items()}, seed=0, draw=0)
    u = cotangent([(5, 4)], seed=0, draw=0)[0].ravel()
    _, _, jac = dense
    b_row = res.dot[2]
    assert b_row.forward == 0.0 and b_row.reverse == 0.0
    x_row = res.dot[0]
    assert x_row.forward == pytest.approx(u @ jac["x"] @ t["x"].ravel(), rel=1e-12)


def test_the_dot_product_test_alone_needs_no_f(dense):
    inputs, cache, _ = dense
    res = fc.check_jvp(None, inputs, lambda t: dense_jvp(t, cache, HYPER), n=2,
                       vjp=lambda u: dense_vjp(u, cache, HYPER))
    assert res.passed and res.evaluations == 0 and not res.rows
    res = fc.check_jvp(None, inputs, lambda t: dense_jvp(t, cache, HYPER),
                       vjp=lambda u: dense_vjp(u, cache, HYPER, "dw"))
    assert not res.passed and [r.status for r in res.dot] == ["ok", "INCONSISTENT", "ok"]
    assert [r.wrong for r in res.dot] == ["-", "?", "-"]
    assert any("cannot say which of jvp and vjp" in note for note in res.notes)


# ---- a layer norm with a hand-derived JVP ------------------------------------------------

def layernorm(inputs, eps=1e-5):
    x, gamma, beta = inputs["x"], inputs["gamma"], inputs["beta"]
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta


def layernorm_jvp(t, inputs, eps=1e-5, mistake=None):
    """Mistakes: "variance" drops xhat's term through the variance; "gamma_sign"
    flips gamma's contribution."""
    x, gamma = inputs["x"], inputs["gamma"]
    mu = x.mean(axis=-1, keepdims=True)
    std = np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) / std
    dxc = t["x"] - t["x"].mean(axis=-1, keepdims=True)
    through_var = 0.0 if mistake == "variance" else xhat * (xhat * dxc).mean(axis=-1,
                                                                              keepdims=True)
    dxhat = (dxc - through_var) / std
    sign = -1.0 if mistake == "gamma_sign" else 1.0
    return gamma * dxhat + sign * t["gamma"] * xhat + t["beta"]


def layernorm_jacobian_x(inputs, eps=1e-5):
    """d out / d x, closed form per row: gamma_i (delta_ij - 1/D - xhat_i xhat_j / D) / std:
    (N*D, N*D)."""
    x, gamma = inputs["x"], inputs["gamma"]
    N, D = x.shape
    J = np.zeros((N * D, N * D))
    for r in range(N):
        xc = x[r] - x[r].mean()
        std = np.sqrt((xc ** 2).mean() + eps)
        xhat = xc / std
        block = (np.eye(D) - 1.0 / D - np.outer(xhat, xhat) / D) / std
        J[r * D:(r + 1) * D, r * D:(r + 1) * D] = gamma[:, None] * block
    return J


@pytest.fixture(scope="module")
def norm_inputs():
    rng = np.random.default_rng(11)
    return {"x": rng.standard_normal((3, 6)) * 2.0 + 1.0, "gamma": rng.standard_normal(6),
            "beta": rng.standard_normal(6)}


def test_the_layernorm_jvp_matches_its_closed_form_jacobian(norm_inputs):
    t = {"x": np.random.default_rng(2).standard_normal((3, 6)),
         "gamma": np.zeros(6), "beta": np.zeros(6)}
    np.testing.assert_allclose(layernorm_jvp(t, norm_inputs).ravel(),
                               layernorm_jacobian_x(norm_inputs) @ t["x"].ravel(), atol=1e-12)
    wrong = layernorm_jvp(t, norm_inputs, mistake="variance").ravel()
    assert np.max(np.abs(wrong - layernorm_jacobian_x(norm_inputs) @ t["x"].ravel())) > 0.1


@pytest.mark.parametrize("mistake, wrong", [(None, None), ("variance", "x"),
                                            ("gamma_sign", "gamma")])
def test_layernorm_rules_correct_pass_and_mistakes_are_named(norm_inputs, mistake, wrong):
    for seed in range(3):
        res = fc.check_jvp(layernorm, norm_inputs,
                           lambda t: layernorm_jvp(t, norm_inputs, mistake=mistake), seed=seed)
        if wrong is None:
            assert res.verdict == "pass", str(res)
        else:
            assert res.verdict == "mistake" and res.suspects == [wrong], str(res)
            statuses = {row.name: row.status for row in res.rows}
            assert statuses == {"all": "WRONG", "x": "ok", "gamma": "ok",
                                "beta": "ok", wrong: "WRONG"}


def test_a_float32_layer_passes_and_its_mistake_is_found(norm_inputs):
    inputs = {k: v.astype(np.float32) for k, v in norm_inputs.items()}

    def layernorm32(p):
        return layernorm({k: v.astype(np.float32) for k, v in p.items()})

    def rule(t, mistake=None):
        return layernorm_jvp({k: v.astype(np.float32) for k, v in t.items()}, inputs,
                             mistake=mistake)

    res = fc.check_jvp(layernorm32, inputs, rule, n=3)
    assert res.passed, str(res)
    assert any("lower precision" in note for note in res.notes)
    assert fc.check_jvp(layernorm32, inputs, lambda t: rule(t, "variance")).suspects == ["x"]


# ---- tangents given, jvp given as results, outputs -----------------------------------

def test_given_tangents_with_the_rules_results(dense):
    inputs, cache, jac = dense
    rng = np.random.default_rng(4)
    t = {"w": rng.standard_normal((4, 4)), "b": rng.standard_normal((1, 4))}
    kept = {k: v.copy() for k, v in t.items()}
    zeros = {"x": np.zeros((5, 4))}
    full = dense_jvp({**zeros, **t}, cache, HYPER)
    res = fc.check_jvp(dense_layer, inputs, full, HYPER, tangents=t)
    assert res.passed and [row.name for row in res.rows] == ["all"]
    assert any("not which input's part" in note for note in res.notes)
    parts = {name: dense_jvp({**zeros, "w": np.zeros((4, 4)), "b": np.zeros((1, 4)),
                              name: t[name]}, cache, HYPER) for name in t}
    res = fc.check_jvp(dense_layer, inputs, parts, HYPER, tangents=t)
    assert res.passed and [row.name for row in res.rows] == ["all", "w", "b"]
    res = fc.check_jvp(dense_layer, inputs, {**parts, "b": 0 * parts["b"]}, HYPER, tangents=t)
    assert res.suspects == ["b"]
    wrong = reference_jvp(jac, {"w": t["w"], "b": 0 * t["b"]}).reshape(5, 4)
    assert not fc.check_jvp(dense_layer, inputs, wrong, HYPER, tangents=t).passed
    for name in t:
        np.testing.assert_array_equal(t[name], kept[name])


def test_a_scalar_output_and_only_exclude(dense):
    inputs, cache, _ = dense

    def loss(p, hyper):
        return float(np.sum(dense_layer(p, hyper)[0] ** 2))

    def loss_jvp(t):
        out = HYPER["scale"] * np.tanh(cache[2])
        return np.sum(2 * out * dense_jvp(t, cache, HYPER))

    res = fc.check_jvp(loss, inputs, loss_jvp, HYPER, n=2)
    assert res.passed and res.output_shape == () and res.rows[0].checked == 1, str(res)
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER, "bias"), HYPER,
                       exclude="b")
    assert res.passed and [row.name for row in res.rows] == ["all", "x", "w"]
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER, "bias"), HYPER,
                       only="b")
    assert res.suspects == ["b"] and [row.name for row in res.rows] == ["b"]


def test_a_kink_is_not_a_mistake():
    x = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])

    def relu(p):
        return np.maximum(p["x"], 0.0)

    res = fc.check_jvp(relu, {"x": x}, lambda t: (x > 0) * t["x"], n=3)
    assert res.passed and res.verdict == "kinks" and res.rows[0].kinks >= 1, str(res)
    res = fc.check_jvp(relu, {"x": x}, lambda t: (x >= -0.6) * t["x"])
    assert res.verdict == "mistake" and [loc.index for loc in res.located] == [(1, 2)]


# ---- reports -------------------------------------------------------------------------

def test_the_report_serialises_and_renders(dense):
    inputs, cache, _ = dense
    res = fc.check_jvp(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER, "transposed"),
                       HYPER, vjp=lambda u: dense_vjp(u, cache, HYPER))
    data = json.loads(json.dumps(res.to_dict()))
    assert data["kind"] == "jvp" and data["suspects"] == ["x"] and data["verdict"] == "mistake"
    assert [row["name"] for row in data["tangents"]] == ["all", "x", "w", "b"]
    assert data["dot_product"][0]["wrong"] == "jvp"
    html = res._repr_html_()
    assert html.count("fastcheck-wrong") == 3 and html.count("<table") == 2
    assert repr(res).startswith("<JvpResult FAILED mistake")


def test_assert_jvp_match(dense):
    inputs, cache, _ = dense
    res = assert_jvp_match(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER), HYPER)
    assert res.passed
    with pytest.raises(AssertionError) as failure:
        assert_jvp_match(dense_layer, inputs, lambda t: dense_jvp(t, cache, HYPER), HYPER,
                         vjp=lambda u: dense_vjp(u, cache, HYPER, "dw"))
    assert "wrong reverse rule (vjp) for: w" in str(failure.value)


# ---- bad input --------------------------------------------------------------------------

def test_bad_rules_and_tangents_are_errors_that_say_what_to_do(dense):
    inputs, cache, _ = dense
    rule = lambda t: dense_jvp(t, cache, HYPER)                  # noqa: E731
    args = (dense_layer, inputs)
    cases = [
        (lambda t: rule(t).T, GradientError, r"jvp\(tangents\) has shape \(4, 5\) but the "
                                             r"output of f has shape \(5, 4\)"),
        (lambda t: (rule(t), rule(t)), GradientError, "returned a tuple of 2.*rule\\(t\\)\\[1\\]"),
        (lambda t: t["z"], CostError, r"jvp\(tangents\) raised KeyError"),
        (lambda t: rule(t) * np.nan, GradientError, r"not finite at out\[0, 0\]"),
        (lambda t: rule(t).astype(str), InputTypeError, r"jvp\(tangents\) has dtype <U"),
    ]
    for bad, error, match in cases:
        with pytest.raises(error, match=match):
            fc.check_jvp(*args, bad, HYPER)
    with pytest.raises(OptionError, match="pass those tangents="):
        fc.check_jvp(*args, rule(tangent({"x": (5, 4), "w": (4, 4), "b": (1, 4)})), HYPER)
    with pytest.raises(OptionError, match=r"tangents\['w'\] has shape \(4,\) but inputs\['w'\]"):
        fc.check_jvp(*args, rule, HYPER, tangents={"w": np.ones(4)})
    with pytest.raises(OptionError, match="'z', which is not an input"):
        fc.check_jvp(*args, rule, HYPER, tangents={"z": np.ones(4)})
    with pytest.raises(OptionError, match="not finite"):
        fc.check_jvp(*args, rule, HYPER, tangents={"b": np.full((1, 4), np.inf)})
    with pytest.raises(OptionError, match="zero on every input"):
        fc.check_jvp(*args, rule, HYPER, tangents={"b": np.zeros((1, 4))})
    with pytest.raises(OptionError, match="n=2 draws tangents"):
        fc.check_jvp(*args, rule, HYPER, tangents={"b": np.ones((1, 4))}, n=2)
    with pytest.raises(OptionError, match="check_jvp takes eps=.*got method="):
        fc.check_jvp(*args, rule, HYPER, method="complex")
    with pytest.raises(OptionError, match="n must be an integer"):
        fc.check_jvp(*args, rule, HYPER, n=0)
    with pytest.raises(InputTypeError, match="'dz' is not an input"):
        fc.check_jvp(*args, {"dz": np.ones((5, 4))}, HYPER, tangents={"x": np.ones((5, 4))})
    with pytest.raises(GradientError, match=r"vjp\(u\)\['dw'\] has shape \(4, 5\)"):
        fc.check_jvp(*args, rule, HYPER, vjp=lambda u: {**dense_vjp(u, cache, HYPER),
                                                        "dw": np.ones((4, 5))})
    with pytest.raises(GradientError, match="no gradient for the input 'b'"):
        fc.check_jvp(*args, rule, HYPER, vjp=lambda u: {"dx": np.zeros((5, 4)),
                                                        "dw": np.zeros((4, 4)),
                                                        "db2": np.zeros((1, 4))})
    with pytest.raises(CostError, match="not deterministic"):
        fc.check_jvp(lambda p, h: dense_layer(p, h)[0] + np.random.rand(), inputs, rule, HYPER)
    with pytest.raises(OptionError, match="f=None leaves nothing"):
        fc.check_jvp(None, inputs, rule)
    with pytest.raises(InputTypeError, match=r"inputs\['x'\] is not an array"):
        fc.check_jvp(*args[:1], {**inputs, "x": [[1.0], [2.0, 3.0]]}, rule, HYPER)


def test_nothing_of_the_users_is_modified(dense):
    inputs, cache, _ = dense
    before = {k: v.copy() for k, v in inputs.items()}

    def scribbling_layer(p, hyper):
        out = dense_layer(p, hyper)
        p["x"] += 1.0                       # writes into what it was given
        return out

    def scribbling_rule(t):
        out = dense_jvp(t, cache, HYPER)
        t["x"][...] = 0.0
        return out

    res = fc.check_jvp(scribbling_layer, inputs, scribbling_rule, HYPER,
                       vjp=lambda u: dense_vjp(u, cache, HYPER))
    assert res.passed, str(res)
    for name in inputs:
        np.testing.assert_array_equal(inputs[name], before[name])


def test_drawn_tangents_are_seeded_and_reproducible(dense):
    inputs, cache, _ = dense
    seen = []

    def recording(t):
        seen.append({k: v.copy() for k, v in t.items()})
        return dense_jvp(t, cache, HYPER)

    res = fc.check_jvp(dense_layer, inputs, recording, HYPER, n=2, seed=7)
    assert res.passed and len(seen) == 2 * 4  # per draw: the joint tangent, then each input
    shapes = {k: v.shape for k, v in inputs.items()}
    for draw in range(2):
        expected = tangent(shapes, seed=7, draw=draw)
        joint, *alone = seen[4 * draw:4 * draw + 4]
        for name in inputs:
            np.testing.assert_array_equal(joint[name], expected[name])
        for name, t in zip(inputs, alone):
            for other in inputs:
                np.testing.assert_array_equal(
                    t[other], expected[other] if other == name else np.zeros(shapes[other]))
    assert not np.array_equal(seen[0]["x"], seen[4]["x"])
    assert "tangent(shapes, seed=7, draw=" in res.notes[-1]


class CachingDense:
    """A layer object as people write them: forward keeps what its rules need."""

    def __init__(self, hyper):
        self.hyper = hyper

    def forward(self, inputs):
        out, self.cache = dense_layer(inputs, self.hyper)
        return out

    def jvp(self, t):
        return dense_jvp(t, self.cache, self.hyper)

    def vjp(self, u):
        return dense_vjp(u, self.cache, self.hyper)


def test_a_layer_object_that_caches_its_inputs(dense):
    inputs, _, _ = dense
    layer = CachingDense(HYPER)
    layer.forward(inputs)
    res = fc.check_jvp(layer.forward, inputs, layer.jvp, n=2, vjp=layer.vjp)
    assert res.passed and res.verdict == "pass", str(res)
    # Left as it was given: its cache holds the given inputs, not a step's.
    np.testing.assert_array_equal(layer.cache[0], inputs["x"])
    np.testing.assert_array_equal(layer.cache[1], inputs["w"])


def test_relu_layers_near_their_kinks_across_seeds():
    """Pre-activations planted within 1e-6 of ReLU's kink (and exactly on it): a
    correct rule is never called a mistake, the forgotten bias always is."""
    verdicts = []
    for seed in range(12):
        rng = np.random.default_rng(300 + seed)
        x, w, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 4)), \
            rng.standard_normal((1, 4))
        b = b - (x @ w + b)[:1] + rng.choice([1e-9, -1e-9, 1e-6, -1e-6, 0.0], size=(1, 4))
        on = (x @ w + b) > 0
        inputs = {"x": x, "w": w, "b": b}

        def relu_dense(p):
            return np.maximum(p["x"] @ p["w"] + p["b"], 0.0)

        res = fc.check_jvp(relu_dense, inputs, lambda t: on * (t["x"] @ w + x @ t["w"] + t["b"]),
                           seed=seed)
        verdicts.append(res.verdict)
        wrong = fc.check_jvp(relu_dense, inputs, lambda t: on * (t["x"] @ w + x @ t["w"]),
                             seed=seed)
        assert wrong.verdict == "mistake" and wrong.suspects == ["b"], str(wrong)
    assert "mistake" not in verdicts and "kinks" in verdicts, verdicts


# ---- a layer of several outputs: an LSTM step ------------------------------------------

def lstm_step_jvp(t, cache, mistake=False):
    """The forward-mode rule of ``layers.lstm_step_forward``: (dnext_h, dnext_c).
    Mistake: the forget gate's tangent is left out of dnext_c (f's own term kept)."""
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    H = prev_h.shape[1]
    da = t["x"] @ Wx + x @ t["Wx"] + t["prev_h"] @ Wh + prev_h @ t["Wh"] + t["b"]
    di, df = i * (1 - i) * da[:, :H], f * (1 - f) * da[:, H:2 * H]
    do, dg = o * (1 - o) * da[:, 2 * H:3 * H], (1 - g ** 2) * da[:, 3 * H:]
    dc = (0.0 if mistake else df * prev_c) + f * t["prev_c"] + di * g + i * dg
    tc = np.tanh(next_c)
    return do * tc + o * (1 - tc ** 2) * dc, dc


def test_an_lstm_step_with_two_outputs():
    from layers import lstm_layer, lstm_step_backward, problem

    _, inputs, _, _ = problem("lstm")
    _, _, cache = lstm_layer(inputs)
    res = fc.check_jvp(lstm_layer, inputs, lambda t: lstm_step_jvp(t, cache), outputs=2, n=2,
                       vjp=lambda dh, dc: lstm_step_backward(dh, dc, cache))
    assert res.passed, str(res)
    assert res.several and res.output_shape == ((3, 5), (3, 5))
    assert [row.checked for row in res.rows] == [30] * 7
    assert [row.status for row in res.dot] == ["ok"] * 6
    res = fc.check_jvp(lstm_layer, inputs, lambda t: lstm_step_jvp(t, cache, mistake=True),
                       outputs=2, vjp=lambda dh, dc: lstm_step_backward(dh, dc, cache, True))
    # Without the forget gate's tangent, only the inputs that move the gates' pre-
    # activations are wrong; prev_c's own term f * dprev_c is kept.
    assert res.suspects == ["x", "prev_h", "Wx", "Wh", "b"], str(res)
    assert res.vjp_suspects == ["Wh"]  # the backward's planted mistake: dWh * 1.1
    assert {loc.index[0] for loc in res.located} == {0, 1}  # both outputs are off
    assert "out1[" in str(res) and "2 outputs of shapes (3, 5), (3, 5)" in str(res)
    with pytest.raises(GradientError, match=r"must return a tuple of 2 output tangents"):
        fc.check_jvp(lstm_layer, inputs, lambda t: lstm_step_jvp(t, cache)[0], outputs=2)
    with pytest.raises(GradientError, match=r"jvp\(tangents\)\[1\] has shape \(5, 3\) but "
                                            r"output 1 of f has shape \(3, 5\)"):
        fc.check_jvp(lstm_layer, inputs,
                     lambda t: (lstm_step_jvp(t, cache)[0], lstm_step_jvp(t, cache)[1].T),
                     outputs=2)
