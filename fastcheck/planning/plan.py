"""The plan of a check: what is checked, with which steps, method, noise and
engine, fixed once before anything runs.

``make_plan`` builds on the cost's ``Baseline`` (J at theta, determinism,
timing, engine, measured noise: ``planning.baseline``) what a coordinate check
needs: the coordinates, their steps fitted to the noise, the gradient's
rounding and, for the complex step, whether the cost carries imaginary parts
at all. The ``Plan`` it returns is immutable;
the drivers, the engines and the verdict read it and never write to the
adapter.
"""

from typing import NamedTuple

import numpy as np

from .. import verdict as V
from ..errors import CostError
from .baseline import make_baseline
from ..engines.probe import one_sided
from .methods import CENTRAL_METHOD, method_record, probing
from . import sampling
from .step import default_steps, noise_boost, scale_floor, steps_for

#: Coordinates per tensor on which the complex step is compared with real
#: differences before it is trusted.
COMPLEX_PROBES = 2


class Plan(NamedTuple):
    """One check, fixed.

    ``idx`` (n,) are the flat indices checked, ``h`` (n,) their steps for
    ``method`` (a ``fastcheck.planning.methods.Method``) and ``h_real`` (n,) the real
    steps the closer look takes (the complex step's own is far too small).
    ``grad`` (n,) is the gradient there, ``grad_flat`` (P,) all of it,
    ``rounding`` how well it is known (``verdict.gradient_rounding``). ``j0``
    is J at theta, ``noise`` U, how well J is known (``verdict.measured_noise``),
    ``value_eps`` the machine epsilon of J's precision. ``engine`` names the
    engine that runs the check, ``seconds_per_coordinate`` predicts its work
    per coordinate in Python. ``evaluations`` counts those planning took,
    ``compile_seconds`` its compiling; ``notes`` are the report's lines so far.
    """

    layout: object
    theta: np.ndarray
    idx: np.ndarray
    h: np.ndarray
    h_real: np.ndarray
    method: object
    eps: float
    threshold: float
    grad: np.ndarray
    grad_flat: np.ndarray
    rounding: object
    j0: float
    noise: float
    value_eps: float
    engine: str
    seconds_per_coordinate: float
    evaluations: int
    compile_seconds: float
    notes: tuple


def make_plan(adapter, grad_flat, params, grads, *, method=CENTRAL_METHOD, eps=None,
              threshold=None, sample=None, seed=0, only=None, exclude=None, engine="auto",
              jit=None, coordinates=None, baseline=None):
    """The ``Plan`` of checking ``grad_flat`` (P,), gathered from ``grads``, against
    ``adapter``'s cost; the options are ``fastcheck.check``'s.

    ``coordinates`` (flat indices) checks exactly those coordinates instead of
    the ones ``sample``, ``only`` and ``exclude`` choose. ``baseline`` is the
    cost's ``Baseline`` when the caller has measured it already (``locate``,
    confirming its candidates: then the plan counts no evaluations or compile
    time of its own); else it is measured here. ``CostError`` when the cost is
    not deterministic, or cannot run the complex step it is asked to;
    ``OptionError`` for an option that does not fit.
    """
    method = method_record(method)
    threshold = V.resolve_threshold(threshold)
    layout, theta = adapter.layout, adapter.theta
    idx = (sampling.coordinates(layout, sample, seed, only=only, exclude=exclude)
           if coordinates is None else
           # fastcheck.locate confirms whatever its search found: possibly nothing.
           np.zeros(0, dtype=np.int64) if np.size(coordinates) == 0 else
           sampling.flat_indices(coordinates, layout.size))
    floor = scale_floor(theta)
    h = steps_for(theta[idx], eps, lambda k: layout.describe(idx[k]), method, floor)
    shared = baseline is not None
    base = baseline if shared else make_baseline(adapter, engine=engine, jit=jit, method=method,
                                                 count=idx.size, seed=seed)
    measured, j0, noise = base.measured, base.j0, base.noise
    boost = noise_boost(measured.relative(j0), method)
    fitted = default_steps(theta[idx], method, floor, boost)
    if eps is None and boost != 1.0:
        h = steps_for(theta[idx], eps, lambda k: layout.describe(idx[k]), method, floor, boost)
    noise_notes = base.noise_notes
    if not method.complex_step:  # the complex step subtracts nothing: any tiny step is exact
        noise_notes += tuple(V.step_notes(None if eps is None else float(eps), fitted, measured,
                                          j0))
    h_real = (default_steps(theta[idx], probing(method), floor,
                            noise_boost(measured.relative(j0), probing(method)))
              if method.complex_step else h)
    verified = (verify_complex_step(adapter, idx, h, h_real, j0, noise, threshold, seed)
                if method.complex_step else 0)
    grad_eps = V.gradient_precision(params, grads, layout.names)
    rounding = V.gradient_rounding(grad_eps, grad_flat)
    return Plan(layout=layout, theta=theta, idx=idx, h=h, h_real=h_real, method=method,
                eps=None if eps is None else float(eps), threshold=threshold,
                grad=grad_flat[idx], grad_flat=grad_flat, rounding=rounding, j0=j0,
                noise=noise, value_eps=base.value_eps, engine=base.engine,
                seconds_per_coordinate=method.evaluations * base.seconds_per_evaluation,
                evaluations=(0 if shared else base.evaluations) + verified,
                compile_seconds=0.0 if shared else base.compile_seconds,
                notes=base.notes + tuple(V.precision_notes(params, grad_eps, rounding))
                + noise_notes)


def verify_complex_step(adapter, idx, h, h_real, j0, noise, threshold, seed):
    """``CostError`` unless the cost carries the imaginary part of its parameters;
    else the number of evaluations it took (five per coordinate it tried).

    A cost that drops it (``np.var`` of complex data is real, a complex value
    assigned into a float array keeps the real part, ``abs``) gives a complex
    step that is simply wrong. On ``COMPLEX_PROBES`` coordinates per tensor:
    Re J(theta + i h e_i) must be J(theta) to rounding, and Im J / h must lie
    within the real one-sided slopes there (a bracket, so kinks do not count).
    """
    layout, theta = adapter.layout, adapter.theta
    tensor = layout.tensor_of(idx)
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.permutation(np.flatnonzero(tensor == t))[:COMPLEX_PROBES]
                            for t in np.unique(tensor)])
    row = theta.astype(np.complex128)
    for k in picks:
        i = int(idx[k])
        row[i] += 1j * h[k]
        value = adapter.evaluate(row, f"with {layout.describe(i)} perturbed by +ih")
        row[i] = theta[i]
        slope = value.imag / h[k]
        slopes = one_sided(adapter.evaluate, theta, layout, idx[k:k + 1], h_real[k:k + 1], j0)
        code, real = V.judge_probes(np.array([slope]), slopes, h_real[k:k + 1], noise,
                                    threshold)
        if abs(value.real - j0) > noise or code[0] == V.MISTAKE:
            raise CostError(
                f"the cost does not carry the imaginary part of its parameters, so "
                f"method='complex' cannot check it: at {layout.describe(i)} the complex step "
                f"gives {slope:.6g} (real part {value.real!r}) where real differences give "
                f"{real[0]:.6g} (J = {j0!r}). Something in the forward pass keeps only real "
                "parts: np.var or np.std of complex data, abs(), a complex value assigned "
                "into a float array (np.zeros without dtype), float(). Use "
                "method='central' or 'richardson'")
    return 5 * picks.size
