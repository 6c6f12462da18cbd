"""The closer look in rounds (``verdict.closer``): a tensor leaves them once a
probe shows it WRONG, every other tensor is examined as far as before.

The reference for each verdict is the closed form of a cost built for it
(ReLU kinks at theta, a quadratic), and for the evaluations a counting cost
(tests/counting.py) run once with the rounds and once with the closer look
examining every disagreeing coordinate (``examine_all``, what ``locate`` asks).
Pure Python costs: nothing compiles.
"""

import numpy as np
import pytest

import fastcheck as fc
from counting import Counted
from fastcheck.verdict import closer
from fastcheck.verdict.rules import PROBE_PER_TENSOR

KINKS = 10  # entries of ``a`` exactly at a ReLU's kink


def cost(p):
    """sum relu(a) + 0.5 sum b^2 + sum c^2 relu'd: a and c have kinks at theta."""
    return (float(np.sum(np.maximum(p["a"], 0.0))) + 0.5 * float(np.sum(p["b"] ** 2))
            + float(np.sum(np.maximum(p["c"], 0.0) ** 2 + np.maximum(p["c"], 0.0))))


def point():
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 1.5, 30) * rng.choice([-1.0, 1.0], 30)
    a[:KINKS] = 0.0
    c = rng.uniform(0.5, 1.5, 12)
    c[:3] = 0.0
    return {"a": a, "b": rng.standard_normal(40), "c": c}


def closed_form(p):
    """The gradient, taking the left slope (0) at every kink."""
    return {"da": (p["a"] > 0).astype(float), "db": p["b"].copy(),
            "dc": np.where(p["c"] > 0, 2 * p["c"] + 1, 0.0)}


def both_ways(params, grads, monkeypatch):
    """(rounds, every coordinate examined): each a (result, calls) pair."""
    out = []
    for examine_all in (False, True):
        with monkeypatch.context() as m:
            if examine_all:
                m.setattr(closer.Rounds, "__init__", _all(closer.Rounds.__init__))
            counted = Counted(cost)
            out.append((fc.check(counted, params, grads, jit=False), counted.calls))
    return out


def _all(init):
    def wrapped(self, plan, order, *, examine_all=False):
        init(self, plan, order, examine_all=True)
    return wrapped


def statuses(res):
    return {row.name: row.status for row in res.per_tensor}


def test_a_wrong_tensor_costs_one_probe_and_a_kinked_one_is_examined_in_full(monkeypatch):
    params = point()
    grads = closed_form(params)
    grads["db"] = 2 * grads["db"]  # every coordinate of b wrong
    (res, calls), (ref, ref_calls) = both_ways(params, grads, monkeypatch)
    assert statuses(res) == statuses(ref) == {"a": "kinks", "b": "WRONG", "c": "kinks"}, str(res)
    assert res.verdict == ref.verdict == "mistake"
    assert sorted(res.kinks) == sorted(ref.kinks) == \
        [("a", (i,)) for i in range(KINKS)] + [("c", (i,)) for i in range(3)]
    # The rounds examined the 13 kinks and one coordinate of b; the budget (8
    # coordinates for 82 parameters) is spent already, so no more of b.
    assert closer.LOCATED_FLOOR < KINKS + 3 + 1
    # 2 evaluations per probe: J(theta +- h) come from the first pass (costs.reuse).
    assert ref_calls - calls == 2 * (40 - 1)
    assert res.evaluations == calls and ref.evaluations == ref_calls
    assert len(res.located) == 1 and res.located[0].tensor == "b"
    b = params["b"]
    assert abs(res.located[0].gradient - res.located[0].estimate) == pytest.approx(
        float(np.max(np.abs(b))), rel=1e-6)  # the worst coordinate of b, examined first
    assert any(n.startswith("39 more coordinates of the WRONG tensors") for n in res.notes)


def test_a_mistake_behind_a_kink_in_the_same_tensor_is_still_found(monkeypatch):
    params = point()
    grads = closed_form(params)
    # c's kinks disagree at first sight by 0.5; its mistake, smaller, comes after them.
    grads["dc"][7] += 0.05
    (res, calls), (ref, ref_calls) = both_ways(params, grads, monkeypatch)
    assert statuses(res) == statuses(ref) == {"a": "kinks", "b": "ok", "c": "WRONG"}, str(res)
    assert [(w.tensor, w.index) for w in res.located] == [("c", (7,))]
    assert calls == ref_calls  # nothing wrong was left: every probe was needed


def test_correct_gradients_get_the_same_probes_as_before(monkeypatch):
    params = point()
    (res, calls), (ref, ref_calls) = both_ways(params, closed_form(params), monkeypatch)
    assert res.verdict == ref.verdict == "kinks" and calls == ref_calls, str(res)


def without_counts(res):
    """The report less its line of evaluations and seconds."""
    return [line for line in str(res).splitlines() if "cost evaluations" not in line]


def without_reuse(monkeypatch):
    """A check's closer look evaluating all four points again, as before ``costs.reuse``."""
    from fastcheck.costs.reuse import StepValues
    monkeypatch.setattr(StepValues, "fitting", classmethod(lambda cls, size, slots: None))


@pytest.mark.parametrize("method, saved", [("central", 2), ("richardson", 4)])
def test_the_closer_look_reuses_the_first_pass_and_changes_nothing_else(monkeypatch, method,
                                                                           saved):
    """The closer look takes J(theta +- h) (and +- h/2 after Richardson's) from the
    first pass: ``saved`` evaluations fewer per probed coordinate, counted by the
    cost itself, and the same slopes, statuses, kinks, located coordinates and
    report as a closer look that evaluates every point again; for correct
    gradients (kinks) and for a wrong tensor behind kinks."""
    params = point()
    right = closed_form(params)
    wrong = {k: v.copy() for k, v in right.items()}
    wrong["dc"][7] += 0.05
    for grads in (right, wrong):
        runs = []
        for reuse in (True, False):
            with monkeypatch.context() as m:
                if not reuse:
                    without_reuse(m)
                counted = Counted(cost)
                runs.append((fc.check(counted, params, grads, jit=False, method=method),
                             counted.calls))
        (res, calls), (ref, ref_calls) = runs
        probed = len(res.kinks) + len(res.located)
        assert probed >= KINKS + 3
        assert ref_calls - calls == saved * probed
        assert res.evaluations == calls and ref.evaluations == ref_calls
        assert res.verdict == ref.verdict and statuses(res) == statuses(ref)
        assert res.kinks == ref.kinks and res.located == ref.located
        assert np.array_equal(res.gradapprox_flat, ref.gradapprox_flat)
        assert without_counts(res) == without_counts(ref)
    assert res.verdict == "mistake" and [(w.tensor, w.index) for w in res.located] == [("c", (7,))]
    assert ref.verdict == "mistake"


def test_round_sizes_and_budget():
    sizes = list(closer.round_sizes())
    assert sum(sizes) == PROBE_PER_TENSOR and sizes[:4] == [1, 1, 2, 4]
    assert np.all(np.cumsum(sizes)[1:] == 2 * np.cumsum(sizes)[:-1])


def test_a_layer_class_network_with_every_gradient_wrong_costs_a_few_probes():
    """The benchmark's small network (tests/oonets: dense, batchnorm, ReLU layer
    classes) with all-zero gradients: every tensor the model's own backward says
    is not 0 is WRONG, at a few probes each; the same check with the model's
    gradients passes. Before the rounds it took 588 evaluations more."""
    import math

    from oonets import layer_mlp

    model, X, y = layer_mlp(sizes=(10, 16, 3), batch=32, dropout=0.0)
    params = {k: v.copy() for k, v in model.get_params().items()}

    def loss(p, X, y):
        model.set_params(p)
        return model.loss(X, y)[0]

    model.set_params(params)
    right = {k: np.array(v, copy=True) for k, v in model.loss(X, y)[1].items()}
    counted = Counted(loss)
    # jit=False: on a loaded machine the default could trace the cost (more calls).
    ok = fc.check(counted, params, right, X, y, jit=False)
    ok_calls = counted.calls
    zeros = fc.check(counted, params, {k: np.zeros_like(v) for k, v in params.items()}, X, y,
                     jit=False)
    calls = counted.calls - ok_calls
    assert ok.verdict == "pass" and zeros.verdict == "mistake", str(zeros)
    nonzero = {k for k, v in right.items() if np.max(np.abs(v)) > 1e-6}
    assert set(zeros.suspects) == nonzero and len(nonzero) >= 4, str(zeros)
    P = zeros.layout.size
    budget = max(closer.LOCATED_FLOOR, math.ceil(closer.LOCATED_FRACTION * 2 * P / 4))
    assert calls == zeros.evaluations
    assert 0 < zeros.evaluations - ok.evaluations <= 4 * (len(nonzero) + budget)


def test_median_and_distinct_match_numpy():
    """The verdict's median and distinct (numpy.ma left unimported) against NumPy's."""
    from fastcheck.verdict.norms import distinct, median

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 11):
        x = rng.standard_normal(n)
        assert median(x) == float(np.median(x))
        k = rng.integers(0, 5, size=n)
        assert np.array_equal(distinct(k), np.unique(k))
    assert np.isnan(median(np.array([1.0, np.nan, 2.0])))
    assert distinct(np.zeros(0, dtype=np.int64)).size == 0


def test_a_check_does_not_import_numpy_ma():
    """np.median and np.unique import numpy.ma on first use (30-130 ms of a
    process's first check); a check with a wrong gradient and a float32 cost
    (noise notes, patterns) needs neither."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, fastcheck as fc\n"
            "p = {'w': np.array([1.0, -2.0, 3.0]), 'v': np.array([0.5, 0.25])}\n"
            "cost = lambda q: np.float32(np.sum(q['w'] ** 2) + np.sum(np.sin(q['v'])))\n"
            "res = fc.check(cost, p, {'w': 3 * p['w'], 'v': np.cos(p['v'])}, jit=False)\n"
            "assert res.verdict == 'mistake', res\n"
            "print('numpy.ma' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
