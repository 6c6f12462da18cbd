"""``fastcheck.locate`` near its floor: evaluations counted (a counter around
the cost), on the networks of issue 32, against the bars it set.

- ``course``: the course-style network of ``fastcheck.app.locatenet``,
  [784, 1024, 256, 10] (P = 1,068,810, 6 tensors), 32 examples;
- ``blocks``: six residual blocks of width 48 with hidden 80, per-feature gains
  and shifts (``fastcheck.locate.nets``; P = 47,437, 38 tensors), 32 examples;
- ``f32``: a float32 MLP [784, 128, 10] (P = 101,770), 64 examples.

Each with a correct gradient, one wrong coordinate (W1[3, 5] x 1.01 for
``course``, 1e-3 relative in W1_3[17, 29] for ``blocks``, +1e-5 on dW1[4, 7]
for ``f32``) and the whole gradient 3x too large. The bars (counted, so
asserted): correct in at most 100 evaluations plus the noise line, one wrong
coordinate located exactly in at most 400, a factor everywhere named in every
tensor in at most 600, never more than the full check's 2P plus 60. The
default run (each benchmark once) uses small sizes of the same networks.
``extra_info`` records the counts for ``report.py`` and the README's table.
"""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import locatenet as N
from fastcheck.locate import nets

#: The noise line and J at theta (twice, and once at the end): the baseline.
BASELINE = 40


class Counted:
    """The cost, counting its calls."""

    def __init__(self, cost):
        self.cost, self.calls = cost, 0

    def __call__(self, *args):
        self.calls += 1
        return self.cost(*args)


def measured(config):
    return bool(getattr(config.option, "benchmark_enable", False))


def problem(network, mistake, big):
    """(cost, params, grads, args, wrong coordinate or None)."""
    if network == "course":
        params, X, Y = N.init([784, 1024, 256, 10] if big else [30, 40, 20, 5], seed=0, m=32)
        grads = N.backward(params, X, Y, N.forward(params, X, Y)[1])
        cost, where, name = N.cost, N.WRONG_COORDINATE, "W1"
    elif network == "blocks":
        params, X, Y = nets.blocks_init(0, **(dict(d=48, h=80, m=32) if big else {}))
        grads = nets.blocks_backward(params, X, Y)
        cost, where, name = nets.blocks_cost, (17, 29) if big else (5, 2), "W1_3"
    else:
        params, X, Y = nets.f32_init(0, **(dict(sizes=(784, 128, 10), m=64) if big else {}))
        grads = nets.f32_backward(params, X, Y)
        cost, where, name = nets.f32_cost, (4, 7), "W1"
    grads = {k: v.copy() for k, v in grads.items()}
    wrong = None
    if mistake == "coordinate":
        wrong = (name, where)
        if network == "f32":
            grads["d" + name][where] += np.float32(1e-5)
        elif network == "course":
            grads["d" + name][where] *= 1.01
        else:
            grads["d" + name][where] += 1e-3 * max(1e-2, abs(grads["d" + name][where]))
    elif mistake == "factor":
        grads = {k: 3 * v for k, v in grads.items()}
    return cost, params, grads, (X, Y), wrong


@pytest.mark.parametrize("mistake", [None, "coordinate", "factor"])
@pytest.mark.parametrize("network", ["course", "blocks", "f32"])
def test_locate_floor(benchmark, request, network, mistake):
    big = measured(request.config)
    cost, params, grads, args, wrong = problem(network, mistake, big)
    P = sum(np.size(v) for v in params.values())
    counters = []

    def run():
        counters.append(Counted(cost))
        return fc.locate(counters[-1], params, grads, *args, engine="python")

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    calls = counters[-1].calls
    if mistake is None:
        assert res.passed, str(res)
        assert calls <= 100 + BASELINE
    elif mistake == "coordinate":
        assert [(t, i) for t, i, _, _ in res.located] == [wrong], str(res)
        assert calls <= 400
    else:
        assert sorted(res.suspects) == sorted(params), str(res)
        assert calls <= 600
    assert calls <= 2 * P + BASELINE + 60
    benchmark.extra_info.update(
        network=network, parameters=P, tensors=len(params), mistake=mistake or "none",
        verdict=res.verdict, evaluations=calls, full_evaluations=2 * P,
        percent_of_full=100.0 * calls / (2 * P), blocks=len(res.blocks),
        located=len(res.located), detectable=res.detectable, seconds=res.seconds)
