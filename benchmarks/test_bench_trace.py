"""Object-oriented networks: the python engine against the cost compiled by tracing.

The network is ``tests/oonets.py``'s layer-class MLP (Dense, BatchNorm, ReLU,
seeded Dropout, softmax cross-entropy with L2 on every weight) behind the
user's two-line adapter; the source compiler refuses it (a model of objects),
the tracer compiles it. Each is timed on the same seeded sample of
coordinates, labelled in ``extra_info["engine"]`` for ``report.py``:

- ``naive``: ``fastcheck.naive_check``, the exercise's loop;
- ``python``: ``fastcheck.check(..., jit=False)``;
- ``traced``: ``fastcheck.check(..., jit="trace")``, warm (traced and compiled
  before timing).

``extra_info`` records the parameters, the coordinates and one forward pass
(the limit 2P forward passes / cores), and the full check extrapolated.
"""

import os
import sys
import time

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.planning.sampling import coordinates

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import oonets  # noqa: E402

#: (sizes, batch): about 11k and 35k parameters.
NETWORKS = {"oo_mlp_11k": ((100, 64, 64, 10), 32), "oo_mlp_35k": ((200, 128, 64, 10), 64)}
#: The default run's smoke test traces one of them (benchmarks/conftest.py).
SMOKE_ONLY = {"network": ["oo_mlp_11k"]}
#: Coordinates timed when measured; in the default run, a smoke test of a few.
SAMPLE, QUICK_SAMPLE = {"naive": 200, "python": 200, "traced": 4000}, 20


@pytest.fixture(scope="module", params=list(NETWORKS))
def network(request):
    sizes, batch = NETWORKS[request.param]
    model, X, y = oonets.layer_mlp(sizes=sizes, batch=batch)
    params = model.get_params()

    def cost(p, X, y):
        model.set_params(p)
        return model.loss(X, y)[0]

    model.set_params(params)
    grads = model.loss(X, y)[1]
    P = sum(v.size for v in params.values())
    tick = time.perf_counter()
    for _ in range(5):
        cost(params, X, y)
    forward = (time.perf_counter() - tick) / 5
    measured = bool(getattr(request.config.option, "benchmark_enable", False))
    samples = SAMPLE if measured else dict.fromkeys(SAMPLE, QUICK_SAMPLE)
    return dict(name=request.param, cost=cost, params=params, grads=grads, args=(X, y), P=P,
                forward=forward, samples=samples)


def info(benchmark, w, engine):
    benchmark.group = w["name"]
    benchmark.extra_info.update(engine=engine, parameters=w["P"],
                                coordinates=w["samples"][engine],
                                forward_seconds=w["forward"],
                                limit_seconds=2 * w["P"] * w["forward"] / numba.get_num_threads())


def extrapolate(benchmark, w, engine):
    if benchmark.stats is not None:
        benchmark.extra_info["full_seconds_estimate"] = (
            benchmark.stats.stats.median * w["P"] / w["samples"][engine])


def test_naive(benchmark, network):
    w = network
    info(benchmark, w, "naive")
    idx = coordinates(fc.Layout.from_params(w["params"]), w["samples"]["naive"], seed=0)
    res = benchmark(fc.naive_check, w["cost"], w["params"], w["grads"], *w["args"],
                    eps=1e-6, indices=idx)
    extrapolate(benchmark, w, "naive")
    assert res.checked == idx.size


def test_python_engine(benchmark, network):
    w = network
    info(benchmark, w, "python")
    res = benchmark(fc.check, w["cost"], w["params"], w["grads"], *w["args"], jit=False,
                    sample=w["samples"]["python"], seed=0, progress=False)
    extrapolate(benchmark, w, "python")
    assert res.engine == "python" and res.passed, str(res)


def test_traced(benchmark, network):
    w = network
    info(benchmark, w, "traced")
    run = lambda: fc.check(w["cost"], w["params"], w["grads"], *w["args"],  # noqa: E731
                           jit="trace", sample=w["samples"]["traced"], seed=0, progress=False)
    first = run()  # untimed: traces and compiles, or loads from the disk cache
    benchmark.extra_info["compile_seconds"] = first.compile_seconds
    res = benchmark(run)
    extrapolate(benchmark, w, "traced")
    # engine="auto" may run a large record on the incremental engine (issue 36).
    assert res.engine in ("generic", "incremental") and res.passed, str(res)
    assert any(note.startswith("compiled by tracing") for note in res.notes), res.notes
    # The same estimates as the Python engine, to rounding, on one small sample.
    small = {engine: fc.check(w["cost"], w["params"], w["grads"], *w["args"], jit=jit,
                              sample=QUICK_SAMPLE, seed=0)
             for engine, jit in (("python", False), ("traced", "trace"))}
    idx = small["python"].indices
    assert np.array_equal(idx, small["traced"].indices)
    assert fc.relative_difference(small["python"].gradapprox_flat[idx],
                                  small["traced"].gradapprox_flat[idx]) < 1e-7
