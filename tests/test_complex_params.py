"""Complex parameters in ``fc.check``: a real cost of complex arrays, the gradient
dJ/dRe(z) + i dJ/dIm(z) (PyTorch's) or its conjugate (JAX's, ``complex_grad=
"conjugate"``), checked along each parameter's real and imaginary axes.

References are closed forms: |z|^2 (gradient 2 z), Re(conj(a) z) (gradient a),
and a complex linear layer with a squared-error loss (gradients conj(X)^T R / n
and the column sums of R / n, R the residual).
"""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError, GradientError, OptionError, ParameterError


def crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def test_closed_forms_pass_under_both_conventions():
    rng = np.random.default_rng(0)
    z, a = crandn(rng, 2, 3), crandn(rng, 1, 3)
    before = z.copy()

    def cost(p, hyper):  # |z|^2 scaled, plus Re(conj(a) w) with a (1, 3) complex w
        return hyper["k"] * np.sum(np.abs(p["z"]) ** 2) + np.real(np.vdot(a, p["w"]))

    w = crandn(rng, 1, 3)
    hyper = {"k": 0.5}
    pytorch = {"dz": 2 * hyper["k"] * z, "dw": a.copy()}
    res = fc.check(cost, {"z": z, "w": w}, pytorch, hyper)
    assert res.verdict == "pass", str(res)
    assert [row.name for row in res.per_tensor] == ["z.real", "z.imag", "w.real", "w.imag"]
    jax = {"dz": 2 * hyper["k"] * np.conj(z), "dw": np.conj(a)}
    assert fc.check(cost, {"z": z, "w": w}, jax, hyper, complex_grad="conjugate").passed
    assert np.array_equal(z, before)  # nothing of the user's moved


@pytest.fixture(scope="module")
def layer():
    """A complex linear layer Y = X W + b (X data (6, 3), W (3, 2), b (1, 2) complex), a
    real gain s, and the loss 0.5 s mean over rows of |Y - T|^2."""
    rng = np.random.default_rng(7)
    X, T = crandn(rng, 6, 3), crandn(rng, 6, 2)
    params = {"W": crandn(rng, 3, 2), "b": crandn(rng, 1, 2), "s": np.array([1.5])}

    def loss(p, X, T):
        R = X @ p["W"] + p["b"] - T
        return 0.5 * p["s"][0] * np.sum(np.abs(R) ** 2) / len(X)

    def backward(p, X, T, bug=None):
        R = X @ p["W"] + p["b"] - T
        n = len(X)
        grads = {"dW": p["s"][0] * np.conj(X).T @ R / n,
                 "db": p["s"][0] * R.sum(axis=0, keepdims=True) / n,
                 "ds": np.array([0.5 * np.sum(np.abs(R) ** 2) / n])}
        if bug == "conj b":  # one conj too many, in one layer's bias
            grads["db"] = np.conj(grads["db"])
        if bug == "X not conjugated":
            grads["dW"] = p["s"][0] * X.T @ R / n
        if bug == "all conjugate":
            grads = {k: np.conj(g) for k, g in grads.items()}
        if bug == "half":  # dJ/dz*, the Wirtinger derivative without its 2
            grads = {k: g / 2 if np.iscomplexobj(g) else g for k, g in grads.items()}
        return grads

    return loss, backward, params, X, T


def test_a_complex_linear_layer_passes_and_its_bugs_are_named(layer):
    loss, backward, params, X, T = layer
    assert fc.check(loss, params, backward(params, X, T), X, T).verdict == "pass"
    res = fc.check(loss, params, backward(params, X, T, "conj b"), X, T)
    assert res.verdict == "mistake" and res.suspects == ["b.imag"], str(res)
    assert any("b's gradient is the conjugate convention's" in note for note in res.notes)
    res = fc.check(loss, params, backward(params, X, T, "X not conjugated"), X, T)
    assert res.verdict == "mistake" and set(res.suspects) <= {"W.real", "W.imag"}, str(res)
    assert "W.imag" in res.suspects
    assert not any("gradient is the" in note for note in res.notes)  # no convention fits
    res = fc.check(loss, params, backward(params, X, T, "conj b"), X, T, only="b")
    assert [row.checked for row in res.per_tensor] == [0, 0, 2, 2, 0]


def test_the_other_convention_is_named_not_called_a_mistake(layer):
    loss, backward, params, X, T = layer
    jax = backward(params, X, T, "all conjugate")
    res = fc.check(loss, params, jax, X, T)
    assert res.verdict == "unsure" and not res.passed, str(res)
    assert "complex_grad='conjugate'" in res.advice
    assert fc.check(loss, params, jax, X, T, complex_grad="conjugate").verdict == "pass"
    # Under complex_grad="conjugate", PyTorch's gradients are the other convention.
    res = fc.check(loss, params, backward(params, X, T), X, T, complex_grad="conjugate")
    assert res.verdict == "unsure" and "complex_grad=None" in res.advice, str(res)
    res = fc.check(loss, params, backward(params, X, T, "half"), X, T)
    assert res.verdict == "unsure" and "without its 2" in res.advice, str(res)


def test_bad_complex_input_is_named(layer):
    loss, backward, params, X, T = layer
    grads = backward(params, X, T)
    with pytest.raises(GradientError, match=r"grads\['dW'\] is real but params\['W'\] is complex"):
        fc.check(loss, params, dict(grads, dW=grads["dW"].real), X, T)
    with pytest.raises(GradientError, match=r"grads\['ds'\] is complex but params\['s'\] is real"):
        fc.check(loss, params, dict(grads, ds=grads["ds"] + 1j), X, T)
    with pytest.raises(OptionError, match="method='complex' perturbs"):
        fc.check(loss, params, grads, X, T, method="complex")
    with pytest.raises(OptionError, match="complex_grad must be"):
        fc.check(loss, params, grads, X, T, complex_grad="jax")
    with pytest.raises(CostError, match="must be real"):
        fc.check(lambda p, X, T: np.sum(p["W"]), params, grads, X, T)
    with pytest.raises(GradientError, match="no gradient for the parameter 'b'"):
        fc.check(loss, params, {"dW": grads["dW"], "ds": grads["ds"]}, X, T)


def test_locate_names_the_conjugated_entries(layer):
    loss, backward, params, X, T = layer
    grads = backward(params, X, T)
    grads["dW"] = grads["dW"].copy()
    grads["dW"][2, 1] = np.conj(grads["dW"][2, 1])  # one entry's conj slipped
    res = fc.locate(loss, params, grads, X, T)
    assert res.verdict == "mistake", str(res)
    assert [(loc.tensor, loc.index) for loc in res.located] == [("W.imag", (2, 1))]
    assert fc.locate(loss, params, backward(params, X, T), X, T).passed


def test_check_vjp_of_a_complex_layer_with_complex_cotangents():
    # y = x W + b, all complex; for a cotangent u (PyTorch's grad_output), the backward
    # is dx = u W^H, dW = x^H u, db = sum_rows u: the gradients of Re <u, y>.
    rng = np.random.default_rng(1)
    x, W, b = crandn(rng, 4, 3), crandn(rng, 3, 2), crandn(rng, 1, 2)
    inputs = {"x": x, "W": W, "b": b}

    def dense(i):
        return i["x"] @ i["W"] + i["b"]

    def backward(u, slip=False):
        return {"dx": u @ (W.T if slip else np.conj(W).T), "dW": np.conj(x).T @ u,
                "db": u.sum(axis=0, keepdims=True)}

    assert fc.check_vjp(dense, inputs, backward, n=2).verdict == "pass"
    res = fc.check_vjp(dense, inputs, lambda u: backward(u, slip=True))
    assert res.verdict == "mistake" and set(res.suspects) == {"x.real", "x.imag"}, str(res)
    # A real output of a complex input: |x|^2, whose backward is 2 u x.
    res = fc.check_vjp(lambda i: np.abs(i["x"]) ** 2, {"x": x}, lambda u: {"dx": 2 * u * x})
    assert res.verdict == "pass", str(res)
    u = crandn(rng, 4, 2)
    assert fc.check_vjp(dense, inputs, backward(u), dout=u).passed


def test_check_jvp_of_a_complex_layer_and_the_dot_product_test():
    # tanh(x W + b), all complex (holomorphic): J t = s (t_x W + x t_W + t_b), s = 1 - y^2;
    # the backward for a cotangent u (PyTorch's) is conj(s) u pushed through as for dense.
    rng = np.random.default_rng(2)
    x, W, b = crandn(rng, 4, 3), crandn(rng, 3, 2), crandn(rng, 1, 2)
    inputs = {"x": x, "W": W, "b": b}
    s = 1 - np.tanh(x @ W + b) ** 2

    def layer(i):
        return np.tanh(i["x"] @ i["W"] + i["b"])

    def jvp(t, slip=False):
        return s * (t["x"] @ W + x @ t["W"] + (-1 if slip else 1) * t["b"])

    def vjp(u, slip=False):
        dz = u * np.conj(s)
        return {"dx": dz @ np.conj(W).T, "dW": (x.T if slip else np.conj(x).T) @ dz,
                "db": dz.sum(axis=0, keepdims=True)}

    res = fc.check_jvp(layer, inputs, jvp, vjp=vjp, n=2)
    assert res.verdict == "pass", str(res)
    assert any("out[i, j, 0] is the real part" in note for note in res.notes)
    res = fc.check_jvp(layer, inputs, lambda t: jvp(t, slip=True), vjp=vjp)
    assert res.suspects == ["b.real", "b.imag"] and res.vjp_suspects == [], str(res)
    res = fc.check_jvp(layer, inputs, jvp, vjp=lambda u: vjp(u, slip=True))
    assert res.suspects == [] and res.vjp_suspects == ["W.real", "W.imag"], str(res)


def test_checks_of_real_parameters_only_refuse_complex_ones_by_name():
    params = {"z": np.array([1.0 + 2.0j])}
    with pytest.raises(ParameterError, match="taylor_test checks real parameters"):
        fc.taylor_test(lambda p: float(np.abs(p["z"][0]) ** 2), params, {"dz": 2 * params["z"]})
    with pytest.raises(ParameterError, match="locate.*checks real parameters"):
        fc.locate(None, params, lambda p: {"dz": 2 * p["z"]}, hvp=np.eye(1))
