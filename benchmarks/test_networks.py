"""The benchmark workloads are what they claim: two equal costs and an exact backward pass."""

import numpy as np
import pytest

import fastcheck
from fastcheck.costs.jit import JitCostAdapter

from fastcheck.app import registry as networks


@pytest.fixture(scope="module", params=list(networks.WORKLOADS))
def workload(request):
    return networks.WORKLOADS[request.param]()


def test_numpy_and_jit_costs_agree(workload):
    # At the workload's parameters and at three random points around them, so
    # that a tensor read from the wrong offset of theta cannot go unnoticed.
    layout = fastcheck.Layout.from_params(workload.params)
    theta0 = layout.flatten(workload.params)
    compiled = JitCostAdapter(workload.jit_cost, workload.params, workload.args).compile(False)
    rng = np.random.default_rng(1)
    for theta in [theta0] + [theta0 + 0.1 * rng.standard_normal(theta0.shape) for _ in range(3)]:
        expected, _ = workload.py_cost(layout.unflatten(theta), *workload.args)
        value = compiled.function(theta, compiled.fdata, compiled.idata)
        assert value == pytest.approx(expected, rel=1e-12, abs=0)


def test_exact_mlp_backward_passes_the_check():
    params, X, Y = networks.mlp_data()
    _, cache = networks.mlp_cost(params, X, Y)
    exact = networks.mlp_backward(X, Y, cache, planted=False)
    res = fastcheck.check(networks.mlp_jit_cost, params, exact, X, Y)
    assert res.passed, str(res)


def test_planted_mlp_backward_is_wrong_only_where_planted():
    params, X, Y = networks.mlp_data()
    _, cache = networks.mlp_cost(params, X, Y)
    planted = networks.mlp_backward(X, Y, cache)
    exact = networks.mlp_backward(X, Y, cache, planted=False)
    differs = [name for name in params
               if not np.array_equal(planted["d" + name], exact["d" + name])]
    assert differs == ["b1", "W2"]
