"""The baseline every entry point starts from: what the cost is like at theta.

Before a check plans anything it asks the cost's adapter: J at theta (twice:
a cost that is not deterministic cannot be checked), how long an evaluation
takes, which engine runs it (compiling the cost when that pays, or when asked),
and how well J is known (the measured noise). Its count of evaluations includes
the one at theta that ends every check (``costs.base.left_at_theta``). ``check``, ``locate`` and
``check_directions`` build their plans on the same ``Baseline``; ``locate``'s
confirming coordinate plan reuses the search's, so nothing is evaluated twice.
"""

import time
from typing import NamedTuple

import numpy as np

from .. import verdict as V
from ..errors import CostError
from .methods import CENTRAL_METHOD
from .noise import measure
from .step import scale_floor


class Baseline(NamedTuple):
    """The cost at theta, measured once per check.

    ``layout`` and ``theta`` (P,) are the adapter's; ``j0`` is J at theta,
    ``value_eps`` the machine epsilon of J's precision, ``seconds_per_evaluation``
    one evaluation's time in Python. ``engine`` names the engine chosen for the
    check's coordinates (``compile_seconds`` spent compiling the cost for it).
    ``measured`` is the noise measurement (``planning.noise.Noise``), ``noise``
    U, how well J is known (``verdict.measured_noise``), ``floor`` the scale
    below which parameters count as 1 (``step.scale_floor``). ``evaluations``
    counts the cost evaluations the baseline took. ``notes`` are the adapter's
    and the engine choice's lines, ``noise_notes`` the measured noise's.
    """

    layout: object
    theta: np.ndarray
    j0: float
    value_eps: float
    seconds_per_evaluation: float
    engine: str
    compile_seconds: float
    measured: object
    noise: float
    floor: float
    evaluations: int
    notes: tuple
    noise_notes: tuple


def make_baseline(adapter, *, engine="auto", jit=None, method=CENTRAL_METHOD, count=0, seed=0):
    """The ``Baseline`` of ``adapter``'s cost for a check of ``count`` items by
    ``method`` (a ``Method`` record): ``engine`` and ``jit`` as ``fastcheck.check``
    takes them, ``seed`` for the noise line.

    ``CostError`` when the cost is not deterministic; ``OptionError`` (from the
    adapter) for an engine that cannot run it.
    """
    theta = adapter.theta
    tick = time.perf_counter()
    j0 = adapter.evaluate(theta, "at the given parameters")
    per_evaluation = max(time.perf_counter() - tick, 1e-7)
    ensure_deterministic(adapter, theta, j0)
    choice = adapter.resolve_engine(engine, method, method.evaluations * per_evaluation, count,
                                    jit=jit)
    # The cost's noise, measured: it sets the error estimates and, for a cost
    # coarser than float64, the steps (tests/test_noise.py).
    floor = scale_floor(theta)
    measured = measure(lambda t: adapter.evaluate(t, "on the noise line"), theta, j0,
                       np.maximum(floor, np.abs(theta)), seed)
    noise, noise_notes = V.measured_noise(j0, adapter.value_eps, measured)
    return Baseline(layout=adapter.layout, theta=theta, j0=j0, value_eps=adapter.value_eps,
                    seconds_per_evaluation=per_evaluation, engine=choice.name,
                    compile_seconds=choice.compile_seconds, measured=measured, noise=noise,
                    # J at theta twice, the noise line, and J at theta once more
                    # when the check is over (costs.base.left_at_theta).
                    floor=floor, evaluations=3 + measured.evaluations,
                    notes=tuple(adapter.notes) + choice.notes, noise_notes=tuple(noise_notes))


def ensure_deterministic(adapter, theta, j0):
    """``CostError`` unless a second evaluation at theta gives ``j0`` again: a
    random layer (unseeded dropout, noise) makes differences that no gradient
    could match, and fastcheck would blame the gradient for them."""
    again = adapter.evaluate(theta, "at the given parameters, a second time")
    if again != j0:
        raise CostError(
            f"the cost is not deterministic: two evaluations at the same parameters differed, "
            f"{j0!r} then {again!r} (a difference of {abs(again - j0):.3g}). Either it draws "
            "random numbers (dropout, noise: seed them inside the cost, rng = "
            "np.random.default_rng(0) on each call, or turn them off for the check) or it "
            "keeps state between calls (a buffer it accumulates into, a running mean updated "
            "in training mode: reset it on each call, or check in evaluation mode)")
