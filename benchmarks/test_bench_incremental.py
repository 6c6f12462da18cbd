"""The incremental engine against the layered and generic engines (issue 36), in one
run on one network and data: [784, 64, 10], 32 examples, ReLU, softmax
cross-entropy, full checks of every parameter, warm (the compiled cost, the
kernels and the trace are made in a first, sampled check; their seconds are
reported apart as ``extra_info["compile_seconds"]`` of that first check).

- ``layered``: the built-in model (``fastcheck.models.MLP``) on its engine;
- ``generic``: the same network written as the user's function, compiled,
  every coordinate a whole compiled evaluation;
- ``incremental``: that compiled function's traced record, recomputed per
  coordinate only where the perturbation reaches.

Each row checks its estimates: the check passes (or fails only at kinks) and
agrees with the layered engine on the same coordinates. The ratios are in
``extra_info`` of the incremental row (``vs_generic``, ``vs_layered``: their
median over its, the speed-up; below 1 it is slower). In the default smoke run (benchmarks disabled) every
engine checks a sample, so that the suite stays quick. ``python
benchmarks/test_bench_incremental.py`` prints medians of a few full runs.
"""

import sys
import time

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app.registry import random_problem

SIZES, EXAMPLES = [784, 64, 10], 32
SMOKE_SAMPLE = 400
MEDIANS = {}


def user_cost(p, X, y):
    """The network as its user writes it: columns are examples, labels y (m,)."""
    A = X
    L = len(p) // 2
    for k in range(1, L):
        A = np.maximum(p[f"W{k}"] @ A + p[f"b{k}"], 0.0)
    Z = p[f"W{L}"] @ A + p[f"b{L}"]
    Z = Z - Z.max(axis=0, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))
    return -np.mean(logp[y, np.arange(X.shape[1])])


def network(sizes=SIZES, examples=EXAMPLES):
    model = fc.models.MLP(sizes, hidden="relu", output="softmax", loss="ce")
    params, X, Y = random_problem(model, examples, seed=0)
    return dict(model=model, params=params, X=X, Y=Y, grads=model.backward(params, X, Y))


@pytest.fixture(scope="module")
def net():
    return network()


def run(net, engine, sample=None):
    if engine == "layered":
        return fc.check(net["model"], net["params"], net["grads"], net["X"], net["Y"],
                        progress=False, sample=sample)
    return fc.check(user_cost, net["params"], net["grads"], net["X"], net["Y"], engine=engine,
                    jit=True, progress=False, sample=sample)


def sound(res, reference):
    assert res.verdict in ("pass", "kinks"), str(res)
    idx = res.indices
    ref = reference.gradapprox_flat[idx]
    assert np.linalg.norm(res.gradapprox_flat[idx] - ref) <= 1e-6 * np.linalg.norm(ref)


@pytest.mark.parametrize("engine", ["layered", "generic", "incremental"])
def test_engine(benchmark, net, engine):
    sample = SMOKE_SAMPLE if benchmark.disabled else None
    first = run(net, engine, sample=SMOKE_SAMPLE)  # warm: compiles, traces, loads kernels
    benchmark.group = "784-64-10 x32 softmax"
    benchmark.extra_info.update(engine=engine, compile_seconds=first.compile_seconds,
                                parameters=net["model"].n_params)
    res = benchmark.pedantic(run, args=(net, engine), kwargs=dict(sample=sample),
                             rounds=1 if engine == "generic" else 3, iterations=1)
    assert res.engine == engine
    sound(res, run(net, "layered", sample=sample))
    if not benchmark.disabled:
        MEDIANS[engine] = benchmark.stats.stats.median
        if engine == "incremental":
            benchmark.extra_info.update(
                {f"vs_{name}": MEDIANS[name] / MEDIANS[engine] for name in MEDIANS
                 if name != engine})


def main(rounds=3):
    """Medians of full checks of each engine, printed with the machine's load:
    ``python benchmarks/test_bench_incremental.py [sizes [examples [generic sample]]]``.
    ``numpy-pass`` is the incremental engine without its compiled tails (the
    engine of the previous session); a generic sample is extrapolated to P."""
    import os
    from fastcheck.engines import incremental
    sizes = [int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else SIZES
    examples = int(sys.argv[2]) if len(sys.argv) > 2 else EXAMPLES
    generic_sample = int(sys.argv[3]) if len(sys.argv) > 3 else None
    net = network(sizes, examples)
    P, times = net["model"].n_params, {}
    for engine in ("layered", "incremental", "numpy-pass", "generic"):
        tails = incremental.TAIL_MIN_COORDS
        if engine == "numpy-pass":
            incremental.TAIL_MIN_COORDS = P + 1
        name = "incremental" if engine == "numpy-pass" else engine
        sample = generic_sample if engine == "generic" else None
        run(net, name, sample=SMOKE_SAMPLE)
        seconds = []
        for _ in range(1 if engine == "generic" else rounds):
            start = time.perf_counter()
            res = run(net, name, sample=sample)
            seconds.append((time.perf_counter() - start) * P / res.checked)
            sound(res, run(net, "layered", sample=sample))
        incremental.TAIL_MIN_COORDS = tails
        times[engine] = float(np.median(seconds))
        print(f"{engine:12s} median {times[engine]:.3f} s over {len(seconds)}"
              f"{' (extrapolated)' if sample else ''} (load {os.getloadavg()[0]:.2f})",
              flush=True)
    for engine in ("incremental", "numpy-pass"):
        print(f"{engine} vs generic {times['generic'] / times[engine]:.1f}x faster, "
              f"vs layered {times[engine] / times['layered']:.1f}x slower")
    print(f"P = {P}, sizes {sizes}, {examples} examples")


if __name__ == "__main__":
    main()
