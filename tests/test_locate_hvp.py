"""``fc.locate(..., hvp=)``: the wrong entries of a Hessian-vector product rule, named
as Hessian entries by group testing over the columns.

The reference is the Hessian the rule implies (the rule applied to every unit
vector) against the true one (the complex step of the analytic backward pass, or
a logistic regression's closed form): the entries where they differ.
"""

import json

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import InputTypeError
from test_taylor import TwoLayerNet, complex_step_hvp, logistic_grad, logistic_hessian


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    params = {"W1": rng.standard_normal((3, 4)), "b1": 0.1 * rng.standard_normal((1, 4)),
              "W2": rng.standard_normal((4, 2)), "b2": np.zeros((1, 2))}
    return TwoLayerNet({"reg": 0.05}), params, X, Y


def implied(rule, params):
    """(P, P): the Hessian a rule implies, column j = rule(e_j) flattened."""
    names = list(params)
    sizes = [params[k].size for k in names]
    cols = []
    for j in range(sum(sizes)):
        flat = np.zeros(sum(sizes))
        flat[j] = 1.0
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        v = {k: part.reshape(params[k].shape) for k, part in zip(names, parts)}
        out = rule(v)
        cols.append(np.concatenate([np.ravel(out["d" + k]) for k in names]))
    return np.array(cols).T


def named(flat, params):
    names = list(params)
    offsets = np.cumsum([0] + [params[k].size for k in names])
    k = int(np.searchsorted(offsets, flat, side="right")) - 1
    return names[k], tuple(int(i) for i in np.unravel_index(flat - offsets[k],
                                                              params[names[k]].shape))


def test_a_right_rule_passes_and_a_wrong_coupling_is_named_entry_by_entry(net):
    model, params, X, Y = net
    grad = lambda p, X, Y: model.backward(p, X, Y)  # noqa: E731
    for seed in range(3):
        res = fc.locate(None, params, grad, X, Y, seed=seed,
                        hvp=lambda v: model.hvp(params, X, Y, v))
        assert res.verdict == "pass", str(res)

    def coupled(v):  # one coupling term off, both halves of it (H stays symmetric)
        out = model.hvp(params, X, Y, v)
        out["dW1"] = out["dW1"] + 0.3 * v["W2"][1, 0] * (np.arange(12) == 11).reshape(3, 4)
        out["dW2"] = out["dW2"] + 0.3 * v["W1"][2, 3] * (np.arange(8) == 2).reshape(4, 2)
        return out

    true = implied(lambda v: complex_step_hvp(model, params, X, Y, v), params)
    off = np.abs(implied(coupled, params) - true) > 1e-6
    want = {(*named(i, params), *named(j, params)) for i, j in zip(*np.nonzero(off))}
    assert len(want) == 2
    res = fc.locate(None, params, grad, X, Y, hvp=coupled)
    assert res.verdict == "mistake" and set(res.entries) == want and not res.blocks, str(res)
    assert "H[W1[2, 3], W2[1, 0]]" in str(res)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["kind"] == "locate_hvp" and len(data["entries"]) == 2
    html = res._repr_html_()
    assert html.count('class="fastcheck-wrong"') == 2 and "W1[2, 3]" in html


def test_a_missing_activation_term_is_a_dense_block(net):
    model, params, X, Y = net
    grad = lambda p, X, Y: model.backward(p, X, Y)  # noqa: E731
    wrong = lambda v: model.hvp(params, X, Y, v, mistake=True)  # noqa: E731
    res = fc.locate(None, params, grad, X, Y, hvp=wrong)
    true = implied(lambda v: complex_step_hvp(model, params, X, Y, v), params)
    off = np.abs(implied(wrong, params) - true) > 1e-6
    columns = {named(j, params)[0] for j in np.flatnonzero(off.any(axis=0))}
    rows = {named(i, params)[0] for i in np.flatnonzero(off.any(axis=1))}
    assert res.verdict == "mistake", str(res)
    assert {col for _, col in res.blocks} == columns == {"W1", "b1"}
    assert {t for r, _ in res.blocks for t in r} == rows


def test_a_dense_hessian_with_one_entry_off():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((30, 4)), (rng.uniform(size=30) < 0.5).astype(float)
    p, hyper = {"w": rng.standard_normal(4), "b": np.array(0.3)}, {"lam": 0.1}
    H = logistic_hessian(p, X, y, hyper)
    H[1, 3] += 0.05
    res = fc.locate(None, p, logistic_grad, X, y, hyper, hvp=H)
    assert res.entries == [("w", (1,), "w", (3,))], str(res)
    with pytest.raises(InputTypeError, match="grads must be the gradient function"):
        fc.locate(None, p, {"dw": p["w"]}, X, y, hyper, hvp=H)
