"""``check_vjp`` on one layer, three ways to the same numerical gradients of
``sum(f(inputs) * dout)`` with respect to every input:

- ``naive``: the course helper ``eval_numerical_gradient_array`` (below), a
  Python loop over every entry of every input with ``np.nditer``, h = 1e-5,
  ``sum((f(x + h) - f(x - h)) * dout) / (2 h)``: two forward passes per entry,
  as ``check_vjp``'s central differences take (for the LSTM step both outputs
  come from one forward pass, where the course calls it once per output);
- ``python``: ``fastcheck.check_vjp(..., engine="python")``;
- ``compiled``: ``fastcheck.check_vjp(..., jit=True)``: the layer compiled by
  ``fastcheck.compiler``, timed warm (compiled in an untimed first call).

Layers (``tests/layers.py``): the naive four-loop convolution and one LSTM
step, their correct backward passes, one drawn dout. Sizes: the tests' small
ones in the default smoke run (benchmarks disabled), else the larger "bench"
ones: convolution x (2, 3, 8, 8), w (4, 3, 3, 3), stride 1, pad 1 (496
inputs); LSTM N = 16, D = 32, H = 32 (9856 inputs). Every row checks its
result: fastcheck's pass, the loop's estimates agree with the backward pass.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.vjp import cotangent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from layers import problem  # noqa: E402

LAYERS = [pytest.param(name, marks=pytest.mark.benchmark(group=f"vjp {name}"), id=name)
          for name in ("conv", "lstm")]


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """The course helper: d sum(f(x) * df) / dx by central differences, entry by
    entry, perturbing ``x`` in place; ``f`` returns a tuple of outputs and ``df``
    holds their upstream gradients."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        saved = x[ix]
        x[ix] = saved + h
        plus = [out.copy() for out in f(x)]
        x[ix] = saved - h
        minus = [out.copy() for out in f(x)]
        x[ix] = saved
        grad[ix] = sum(np.sum((p - m) * d) for p, m, d in zip(plus, minus, df)) / (2 * h)
        it.iternext()
    return grad


def course_check(layer, inputs, args, douts, k):
    """Every input's numerical gradient with the course helper, on copies."""
    inputs = {name: value.copy() for name, value in inputs.items()}
    grads = {}
    for name in inputs:
        def f(value, name=name):
            return layer({**inputs, name: value}, *args)[:k]
        grads[name] = eval_numerical_gradient_array(f, inputs[name], douts)
    return grads


def rel_error(x, y):
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


@pytest.fixture
def setup(request, benchmark):
    name = request.param
    size = "small" if benchmark.disabled else "bench"
    layer, inputs, args, backward = problem(name, size=size)
    k = 2 if name == "lstm" else 1
    P = sum(v.size for v in inputs.values())
    benchmark.extra_info.update(layer=name, size=size, parameters=int(P),
                                shapes={n: list(v.shape) for n, v in inputs.items()})
    return layer, inputs, args, backward, k


@pytest.mark.parametrize("setup", LAYERS, indirect=True)
def test_naive(benchmark, setup):
    layer, inputs, args, backward, k = setup
    benchmark.extra_info["engine"] = "naive"
    douts = cotangent([np.shape(out) for out in layer(inputs, *args)[:k]], seed=0)
    grads = benchmark(course_check, layer, inputs, args, douts, k)
    for name, expected in zip(inputs, backward(*douts)):
        assert rel_error(grads[name], expected) < 1e-6, name


@pytest.mark.parametrize("setup", LAYERS, indirect=True)
def test_python(benchmark, setup):
    layer, inputs, args, backward, k = setup
    benchmark.extra_info["engine"] = "python"
    res = benchmark(fc.check_vjp, layer, inputs, backward, *args, outputs=k, engine="python")
    assert res.passed and res.engine == "python", str(res)


@pytest.mark.parametrize("setup", LAYERS, indirect=True)
def test_compiled(benchmark, setup):
    layer, inputs, args, backward, k = setup
    benchmark.extra_info["engine"] = "compiled"
    first = fc.check_vjp(layer, inputs, backward, *args, outputs=k, jit=True)
    benchmark.extra_info["compile_seconds"] = first.compile_seconds
    res = benchmark(fc.check_vjp, layer, inputs, backward, *args, outputs=k, jit=True)
    assert res.passed and res.engine == "generic", str(res)
