"""fastcheck.locate: planted mistakes in course-style code are found where they
are, correct code with kinks next to theta is never blamed, and a run is
reproducible. The references are independent of the code under test: the
planted mistake's own coordinates (the buggy gradient compared with the
correct backward pass) and the closed-form gradient of a quadratic."""

import json

import numpy as np
import pytest
from counting import Counted

import fastcheck as fc
from fastcheck.errors import OptionError

from fastcheck.app import locatenet as N

SIZES = [30, 40, 20, 5]


def planted(mistake, seed=1, sizes=SIZES, m=12, scale=1.0):
    """(cost, params, grads, X, Y, wrong): ``wrong`` maps each tensor to the
    boolean mask of the entries where the buggy gradient differs from the
    correct one, which the test takes as the truth."""
    params, X, Y = N.init(sizes, seed=seed, m=m, scale=scale)
    lambd = 0.7 if mistake == "l2" else 0.0
    _, cache = N.forward(params, X, Y, lambd=lambd)
    right = N.backward(params, X, Y, cache)
    grads = N.backward(params, X, Y, cache, mistake)
    wrong = {k[1:]: grads[k] != right[k] for k in grads if (grads[k] != right[k]).any()}
    return (N.cost_l2 if lambd else N.cost), params, grads, X, Y, wrong


@pytest.mark.parametrize("mistake", sorted(N.MISTAKES))
def test_each_mistake_is_found_in_its_tensors(mistake):
    cost, params, grads, X, Y, wrong = planted(mistake)
    assert sorted(wrong) == sorted(N.MISTAKES[mistake])  # the plant itself
    res = fc.locate(cost, params, grads, X, Y)
    assert res.verdict == "mistake" and not res.passed
    assert sorted(res.suspects) == sorted(wrong)
    assert res.located
    for tensor, index, gradient, estimate in res.located:
        assert wrong[tensor][index], f"{tensor}{index} was blamed but is correct"
        assert gradient == grads["d" + tensor][index]
    assert res.evaluations < 2 * res.layout.size


def test_one_wrong_coordinate_is_pinned_exactly():
    cost, params, grads, X, Y, wrong = planted("coordinate")
    res = fc.locate(cost, params, grads, X, Y)
    assert [(t, i) for t, i, _, _ in res.located] == [("W1", N.WRONG_COORDINATE)]
    assert not res.blocks


@pytest.mark.parametrize("mistake, axis, where", [("row", 0, N.WRONG_ROW),
                                                  ("column", 1, N.WRONG_COLUMN)])
def test_a_wrong_row_or_column_is_found_whole(mistake, axis, where):
    cost, params, grads, X, Y, wrong = planted(mistake)
    res = fc.locate(cost, params, grads, X, Y)
    found = {index for tensor, index, _, _ in res.located}
    assert found and all(index[axis] == where for index in found)
    assert res.blocks == []


@pytest.mark.parametrize("mistake", ["scale", "l2"])
def test_a_tensor_wrong_everywhere_is_a_block(mistake):
    cost, params, grads, X, Y, wrong = planted(mistake)
    res = fc.locate(cost, params, grads, X, Y)
    assert [b.name for b in res.blocks] == N.MISTAKES[mistake]
    assert "wrong almost everywhere" in str(res)


@pytest.mark.parametrize("seed", range(24))
def test_correct_relu_code_with_kinks_next_to_theta_is_never_blamed(seed):
    params, X, Y = N.init(SIZES, seed=seed, m=12)
    params = N.plant_kinks(params, X, count=3, seed=seed)
    _, cache = N.forward(params, X, Y)
    grads = N.backward(params, X, Y, cache)
    res = fc.locate(N.cost, params, grads, X, Y, seed=seed)
    # Never "mistake"; "unsure" only where the confirming coordinate check could
    # not resolve a kink coordinate (seed 15: the full check says the same).
    assert res.verdict in ("pass", "kinks", "unsure"), str(res)
    if res.verdict == "unsure":
        assert any("not examined closer" in note for note in res.notes), str(res)
    assert res.located == [] and res.suspects == []


def test_tensors_of_very_different_scales():
    params, X, Y = N.init(SIZES, seed=2, m=12)
    params["W1"] = params["W1"] * 1e-3    # absolute steps of 1e-7 against entries of 1e-4
    params["b1"] = params["b1"] * 1e-3
    params["W3"] = params["W3"] * 30.0    # relative steps, 1e-7 |theta|, here
    _, cache = N.forward(params, X, Y)
    right = N.backward(params, X, Y, cache)
    res = fc.locate(N.cost, params, right, X, Y)
    # W1's absolute steps cross kinks; the coordinate check may call one unsure, never wrong.
    assert res.verdict != "mistake" and res.located == [], str(res)
    for name, index in [("W1", (4, 6)), ("W3", (2, 9))]:
        wrong = {k: v.copy() for k, v in right.items()}
        wrong["d" + name][index] += 1e-3 * max(1e-2, abs(wrong["d" + name][index]))
        res = fc.locate(N.cost, params, wrong, X, Y)
        assert [(t, i) for t, i, _, _ in res.located] == [(name, index)], str(res)


def test_same_seed_same_result_and_report_is_strict_json():
    cost, params, grads, X, Y, wrong = planted("mask")
    one = fc.locate(cost, params, grads, X, Y, seed=3)
    two = fc.locate(cost, params, grads, X, Y, seed=3)
    assert one.evaluations == two.evaluations and one.located == two.located
    text = json.dumps(one.to_dict(), allow_nan=False)
    assert json.loads(text)["kind"] == "locate"
    assert "random-sign directions" in str(one) and "probability at least 1 - " in str(one)




def test_miss_bound_follows_the_repeats():
    cost, params, grads, X, Y, wrong = planted(None)
    counted = Counted(cost)
    res = fc.locate(counted, params, grads, X, Y, repeats=10)
    assert res.passed and res.miss_per_test == 2.0 ** -10
    assert res.miss_probability >= res.miss_per_test
    # One clean test of the whole gradient, ten trials of two evaluations, and
    # the noise line: not a test per tensor. Every call of the check's own is an
    # evaluation; a compiler reading the cost (a default check that turned out long
    # enough to look its compiled cost up) may add one that is not.
    assert counted.calls - 1 <= res.evaluations <= counted.calls
    assert 2 * 10 <= counted.calls <= 2 * 10 + 40


def test_a_quadratic_against_its_closed_form_gradient():
    # J = 0.5 sum a_i x_i^2: gradient a * x in closed form; one entry doubled.
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, (50, 40))
    x = rng.standard_normal((50, 40))

    def quadratic(params, a):
        return 0.5 * np.sum(a * params["x"] ** 2)

    grad = a * x
    grad[17, 33] *= 2.0
    res = fc.locate(quadratic, {"x": x}, {"dx": grad}, a)
    assert [(t, i) for t, i, _, _ in res.located] == [("x", (17, 33))]


def test_a_correct_gradient_of_only_large_tensors_passes_with_nothing_to_confirm():
    # Every tensor has more coordinates than the repeats: all are tested along
    # directions, none coordinate by coordinate, so the search hands the
    # confirming check no candidate at all.
    rng = np.random.default_rng(3)
    a = rng.uniform(0.5, 2.0, (30, 30))
    params = {"x": rng.standard_normal((30, 30)), "y": rng.standard_normal(25)}

    def quadratic(params, a):
        return 0.5 * np.sum(a * params["x"] ** 2) + np.sum(np.sin(params["y"]))

    grads = {"dx": a * params["x"], "dy": np.cos(params["y"])}
    res = fc.locate(quadratic, params, grads, a)
    assert res.passed and res.verdict == "pass" and res.located == [], str(res)
    assert res.evaluations < 2 * (900 + 25)
    grads["dy"] = grads["dy"] * 1.5
    res = fc.locate(quadratic, params, grads, a)
    assert res.suspects == ["y"]


def test_python_and_compiled_model_agree_and_threads_do_not_matter():
    model = fc.models.MLP([12, 16, 8, 1], hidden="relu", output="sigmoid", loss="bce")
    params = model.init_params(seed=1)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 10))
    Y = (rng.random((1, 10)) < 0.5).astype(float)
    grads = model.backward(params, X, Y)
    grads = {k: v.copy() for k, v in grads.items()}
    grads["dW1"][3, 4] += 1e-2
    results = [fc.locate(model, params, grads, X, Y, engine="python")]
    results += [fc.locate(model, params, grads, X, Y, engine="generic", threads=t)
                for t in (1, 2)]
    for res in results:
        assert [(t, i) for t, i, _, _ in res.located] == [("W1", (3, 4))]
    assert results[1].to_dict()["evaluations"] == results[2].to_dict()["evaluations"]
    assert results[1].located == results[2].located


def test_bad_options_are_named():
    cost, params, grads, X, Y, wrong = planted(None)
    for options, match in [(dict(repeats=0), "repeats"), (dict(repeats=2.5), "repeats"),
                           (dict(progress="yes"), "progress"), (dict(only="W9"), "W9"),
                           (dict(eps=-1.0), "eps")]:
        with pytest.raises(fc.errors.FastcheckError, match=match):
            fc.locate(cost, params, grads, X, Y, **options)
    with pytest.raises(OptionError, match="repeats"):
        fc.locate(cost, params, grads, X, Y, repeats=-3)


def test_command_line_locate_names_the_planted_tensor():
    from clirun import run_cli

    args = ["check", "--sizes", "30,40,3", "--batch", "8", "--locate", "--engine", "python"]
    done = run_cli(*args, "--bug", "W1:add=0.01", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["kind"] == "locate"
    assert report["suspects"] == ["W1"] and report["blocks"][0]["name"] == "W1"
    done = run_cli(*args)
    assert done.returncode == 0 and "random-sign directions" in done.stdout
    done = run_cli(*args, "--sample", "10")
    assert done.returncode == 2 and "--locate" in done.stderr


def test_on_a_dask_cluster_the_same_as_here(monkeypatch):
    cost, params, grads, X, Y, wrong = planted("coordinate", sizes=[12, 16, 3], m=6)
    # The workers' closer look evaluates all four points; here it would take two
    # from the first pass (costs/reuse.py): compared with a run that does not.
    from fastcheck.costs.reuse import StepValues
    monkeypatch.setattr(StepValues, "fitting", classmethod(lambda cls, size, slots: None))
    here = fc.locate(cost, params, grads, X, Y, engine="python", seed=4)
    there = fc.locate(cost, params, grads, X, Y, engine="python", seed=4, workers=1,
                      progress=False)
    assert there.located == here.located and there.evaluations == here.evaluations
    assert [(t, i) for t, i, _, _ in there.located] == [("W1", N.WRONG_COORDINATE)]


@fc.jit_cost
def jit_quadratic(theta, X, Y):
    """0.5 sum a_i theta_i^2, a = X flattened: gradient a * theta in closed form."""
    return 0.5 * np.sum(X.ravel() * theta * theta)


@fc.jit_cost
def jit_raising(theta, X, Y):
    if theta[0] > Y[0, 0]:
        raise ValueError("cost undefined here")
    return np.sum(theta * theta)


def test_a_compiled_cost_and_one_that_raises():
    rng = np.random.default_rng(5)
    a = rng.uniform(0.5, 2.0, (30, 40))
    x = rng.standard_normal((30, 40))
    x0 = x.copy()
    grad = a * x
    grad[11, 29] += 1e-4
    res = fc.locate(jit_quadratic, {"x": x}, {"dx": grad}, a, np.zeros((1, 1)))
    assert res.engine == "generic"
    assert [(t, i) for t, i, _, _ in res.located] == [("x", (11, 29))]
    with pytest.raises(fc.errors.CostError, match="along a direction"):
        fc.locate(jit_raising, {"x": x}, {"dx": 2 * x}, a, np.array([[x[0, 0] + 1e-9]]))
    assert np.array_equal(x, x0)  # the user's array untouched
