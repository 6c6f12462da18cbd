"""The user's own NumPy code: python engine against compiled, and the naive loop.

One group per cost of ``fastcheck.app.usercosts`` (the exercise's forward pass
unchanged, a softmax classifier with integer labels, a loop-based CNN on a 4-D
batch, an LSTM unrolled over a sequence, an MLP [784, 64, 10] x 32 with L2
passed as an argument), each checked three ways on the same seeded sample of
coordinates, labelled in ``extra_info["engine"]`` for ``report.py``:

- ``naive``: ``fastcheck.naive_check``, the exercise's loop;
- ``python``: ``fastcheck.check(..., jit=False)``, the user's cost from Python;
- ``compiled``: ``fastcheck.check(..., jit=True)``, the same function compiled
  by ``fastcheck.compiler`` (compiled before timing: warm).

Checks are full where that takes seconds: the compiled engine checks every
coordinate up to ``FULL_COMPILED`` parameters, the Python-driven ones while a
full check is predicted under ``FULL_SECONDS``; beyond that they are timed on
a seeded sample and extrapolated (a per-coordinate cost, so the sample's
fixed cost of a check is then counted too often, never too rarely). The gradients checked
are the compiled central estimates at the sampled coordinates (a Richardson
step, 100 times longer, crosses ReLU kinks), so no check spends time looking
closer at disagreements. ``extra_info`` also
records one forward pass, for the limit 2P forward passes / cores.
``test_compile_seconds`` times a cold compile of the exercise's cost in a
fresh process with empty caches, then the cached load.
"""

import json
import os
import subprocess
import sys
import time

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app.usercosts import WORKLOADS
from fastcheck.planning.sampling import coordinates

#: Coordinates timed per engine when the benchmarks are measured, and in the
#: default run (one call each, a smoke test).
SAMPLE, QUICK_SAMPLE = 400, 30
#: The default run's smoke test: two costs, not a cold compile of each
#: (benchmarks/conftest.py); the others are compiled by the test suite's own tests.
SMOKE_ONLY = {"workload": ["exercise", "softmax"]}
#: Full checks: the compiled engine up to this many parameters (else 10x SAMPLE);
#: the Python-driven engines when predicted under this many seconds.
FULL_COMPILED, FULL_SECONDS = 5000, 3.0


@pytest.fixture(scope="module", params=list(WORKLOADS))
def workload(request):
    cost, params, args = WORKLOADS[request.param]()
    # --benchmark-only turns timing on (benchmarks/conftest.py) despite addopts' disable.
    measured = bool(getattr(request.config.option, "benchmark_enable", False))
    layout = fc.Layout.from_params(params)
    P = layout.size
    tick = time.perf_counter()
    for _ in range(5):
        cost(params, *args)
    forward = (time.perf_counter() - tick) / 5
    if measured:
        python = None if 2 * P * forward < FULL_SECONDS else SAMPLE
        compiled = None if P <= FULL_COMPILED else 10 * SAMPLE
    else:
        python = compiled = None if P <= QUICK_SAMPLE else QUICK_SAMPLE
    zeros = {k: np.zeros(np.shape(v)) for k, v in params.items()}
    # Reference gradients wherever any engine looks: the union of both samples.
    reference = np.zeros(P)
    for sample in {python, compiled}:
        ref = fc.check(cost, params, zeros, *args, jit=True, sample=sample, seed=0)
        reference[ref.indices] = ref.gradapprox_flat[ref.indices]
    grads = layout.unflatten(reference)
    return dict(name=request.param, cost=cost, params=params, args=args, grads=grads, P=P,
                forward=forward, samples={"python": python, "compiled": compiled})


def sampled(w, engine):
    return w["samples"]["compiled" if engine == "compiled" else "python"]


def info(benchmark, w, engine):
    """extra_info for report.py: the engine, and the full check extrapolated."""
    count = sampled(w, engine) or w["P"]
    benchmark.extra_info.update(engine=engine, parameters=w["P"], coordinates=count,
                                forward_seconds=w["forward"],
                                limit_seconds=2 * w["P"] * w["forward"]
                                / numba.get_num_threads())


def extrapolate(benchmark, w, engine):
    count = sampled(w, engine)
    if count is not None and benchmark.stats is not None:
        benchmark.extra_info["full_seconds_estimate"] = (
            benchmark.stats.stats.median * w["P"] / count)


def test_naive(benchmark, workload):
    w = workload
    info(benchmark, w, "naive")
    layout = fc.Layout.from_params(w["params"])
    idx = coordinates(layout, sampled(w, "naive"), seed=0)
    res = benchmark(fc.naive_check, w["cost"], w["params"], w["grads"], *w["args"],
                    eps=1e-6, indices=idx)
    extrapolate(benchmark, w, "naive")
    assert res.checked == idx.size


def test_python_engine(benchmark, workload):
    w = workload
    info(benchmark, w, "python")
    res = benchmark(fc.check, w["cost"], w["params"], w["grads"], *w["args"], jit=False,
                    sample=sampled(w, "python"), seed=0, progress=False)
    extrapolate(benchmark, w, "python")
    assert res.engine == "python" and res.passed, str(res)


def test_compiled(benchmark, workload):
    w = workload
    info(benchmark, w, "compiled")
    sample = sampled(w, "compiled")
    run = lambda: fc.check(w["cost"], w["params"], w["grads"], *w["args"], jit=True,  # noqa: E731
                           sample=sample, seed=0, progress=False)
    run()  # untimed: compiles, or loads the compiled cost from the disk cache
    res = benchmark(run)
    extrapolate(benchmark, w, "compiled")
    # engine="auto" may run a large record on the incremental engine (issue 36).
    assert res.engine in ("generic", "incremental") and res.passed, str(res)
    # The same estimates as the Python engine, to rounding, on a few coordinates.
    python = fc.check(w["cost"], w["params"], w["grads"], *w["args"], jit=False,
                      sample=min(QUICK_SAMPLE, w["P"]) if w["P"] > QUICK_SAMPLE else None,
                      seed=0)
    idx = np.intersect1d(python.indices, res.indices)
    assert idx.size and fc.relative_difference(python.gradapprox_flat[idx], res.gradapprox_flat[idx]) < 1e-7


COMPILE = """
import json, time
import numpy as np
import fastcheck as fc
from fastcheck.app import exercises as ex
X, Y, params = ex.gradient_check_n_test_case()
_, cache = ex.forward_propagation_n(params, X, Y)
grads = ex.backward_propagation_n(X, Y, cache, fixed=True)
tick = time.perf_counter()
res = fc.check(ex.forward_propagation_n, params, grads, X, Y, jit=True)
print(json.dumps({"compile_seconds": res.compile_seconds, "check_seconds": res.seconds,
                  "first_call_seconds": time.perf_counter() - tick, "engine": res.engine}))
"""


def fresh_process(cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache / "numba"),
               FASTCHECK_CACHE_DIR=str(cache / "fastcheck"))
    done = subprocess.run([sys.executable, "-c", COMPILE], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="compile")
def test_compile_seconds(benchmark, tmp_path):
    """The exercise's forward pass compiled in a fresh process with empty caches
    (cold: the cost, its helpers and fastcheck's kernels), then from the caches."""
    benchmark.extra_info["engine"] = "compile the exercise's cost"
    cold = benchmark.pedantic(fresh_process, args=(tmp_path,), rounds=1, iterations=1)
    cached = fresh_process(tmp_path)
    assert cold.pop("engine") == cached.pop("engine") == "generic"
    benchmark.extra_info.update({"empty cache": cold, "filled cache": cached})
