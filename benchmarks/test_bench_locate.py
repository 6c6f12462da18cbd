"""``fastcheck.locate`` against the full coordinate check on the same costs.

Two kinds of cost, each correct and with one wrong coordinate in W1:

- ``python``: the course-style network of ``fastcheck.app.locatenet`` (dict
  parameters, helper functions, (n_l, n_{l-1}) weights), run from Python;
- ``compiled``: the built-in ``fastcheck.models.MLP`` of the same sizes, its
  directions evaluated by the compiled generic engine.

Sizes: [784, 64, 10] (P = 50,890) and [784, 1024, 256, 10] (P = 1,068,810)
when the benchmarks are measured (``--benchmark-only``); a small network in
the default run, which calls each benchmark once. ``extra_info`` records the
evaluations of both, the full check's seconds extrapolated from a seeded
sample of ``SAMPLE`` coordinates (per coordinate, so a sample's fixed cost is
counted too often, never too rarely), and their ratios, for ``report.py``.
"""

import time

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import locatenet as N

SIZES = {"50k": [784, 64, 10], "1M": [784, 1024, 256, 10]}
QUICK = {"small": [30, 40, 20, 5]}
#: Coordinates the full check is timed on, then extrapolated to 2P evaluations.
SAMPLE, QUICK_SAMPLE = 200, 20
BATCH = 32


def problem(kind, sizes, mistake):
    params, X, Y = N.init(sizes, seed=0, m=BATCH)
    if kind == "python":
        _, cache = N.forward(params, X, Y)
        return N.cost, params, N.backward(params, X, Y, cache, mistake), (X, Y)
    model = fc.models.MLP(sizes, hidden="relu", output="softmax", loss="ce")
    params = model.init_params(seed=0)
    grads = {k: v.copy() for k, v in model.backward(params, X, Y).items()}
    if mistake == "coordinate":
        grads["dW1"][N.WRONG_COORDINATE] += 1e-2 * max(1e-3, abs(grads["dW1"][N.WRONG_COORDINATE]))
    return model, params, grads, (X, Y)


def measured(config):
    return bool(getattr(config.option, "benchmark_enable", False))


@pytest.mark.parametrize("mistake", [None, "coordinate"])
@pytest.mark.parametrize("kind", ["python", "compiled"])
@pytest.mark.parametrize("size", list(SIZES))
def test_locate_against_full_check(benchmark, request, size, kind, mistake):
    sizes = SIZES[size] if measured(request.config) else QUICK["small"]
    sample = SAMPLE if measured(request.config) else QUICK_SAMPLE
    cost, params, grads, args = problem(kind, sizes, mistake)
    engine = "python" if kind == "python" else "generic"
    # Warm: the compiled kernels load once, outside the timing.
    fc.locate(cost, params, grads, *args, engine=engine, repeats=1, only="b1")
    res = benchmark.pedantic(fc.locate, args=(cost, params, grads, *args),
                             kwargs=dict(engine=engine), rounds=1, iterations=1)
    assert (res.verdict == "mistake") == (mistake is not None)
    if mistake:
        assert ("W1", N.WRONG_COORDINATE) in [(t, i) for t, i, _, _ in res.located]
    tick = time.perf_counter()
    full = fc.check(cost, params, grads, *args, engine=engine, sample=sample, seed=0)
    per_coordinate = (time.perf_counter() - tick) / full.checked
    P = res.layout.size
    locate_seconds = benchmark.stats.stats.median if benchmark.stats else res.seconds
    benchmark.extra_info.update(
        engine=kind, parameters=P, mistake=mistake or "none",
        locate_evaluations=res.evaluations, full_evaluations=2 * P,
        evaluation_ratio=2 * P / res.evaluations,
        locate_seconds=res.seconds, full_seconds_extrapolated=per_coordinate * P,
        seconds_ratio=per_coordinate * P / max(locate_seconds, 1e-9))
    assert np.isfinite(per_coordinate)
