"""Bad input, one row each, and the unusual-but-good input that must simply work.

Every row of the table is a call, the fastcheck exception it must raise, and a
regex its message must match that names the tensor or argument at fault. On
top of that, every error must be a ``FastcheckError`` that is also a
``ValueError`` or ``TypeError`` (so ``except ValueError`` keeps working), and
never a Numba error, an ``IndexError`` or a ``SystemError`` leaking out of the
engines.

The command line gets its own table: exit status 2 and one line on stderr
naming the flag, tensor or file at fault.

The last part checks input that only looks odd (Fortran order, strided and
reversed views, read-only, integer, 0-d, float32, other mappings): it must give
the result of the same values in plain C-ordered float64 dicts, bit for bit.
"""

import collections
import re
import subprocess
import sys
import types

import numba
import numpy as np
import pytest
from numba.core.errors import NumbaError

import fastcheck as fc
from fastcheck.app.cli import main as cli_main
from fastcheck.errors import (CompileError, CostError, DataError, FastcheckError, GradientError,
                              InputTypeError, MemoryBudgetError, OptionError, ParameterError,
                              SignatureError)
from fastcheck.models import MLP
from fastcheck.planning.noise import EVALUATIONS as NOISE_EVALUATIONS

# -- the running example -------------------------------------------------------------------
# W (3, 4), b (3, 1), data X (3, 4):  J = sum(sin(W) * X) + 0.5 * sum(b**2)
# dJ/dW = cos(W) * X, dJ/db = b. Flat layout: W is theta[0:12], b is theta[12:15].

_RNG = np.random.default_rng(8)
W0 = _RNG.uniform(-1.0, 1.0, (3, 4))
B0 = _RNG.standard_normal((3, 1))
X0 = _RNG.standard_normal((3, 4))
P = 15


def params(**changes):
    """A fresh params dict, with tensors replaced or removed (value None)."""
    p = {"W": W0.copy(), "b": B0.copy()}
    p.update(changes)
    return {k: v for k, v in p.items() if v is not None}


def grads(**changes):
    """The exact gradients, keyed the seed's way, with entries replaced or removed."""
    g = {"dW": np.cos(W0) * X0, "db": B0.copy()}
    g.update(changes)
    return {k: v for k, v in g.items() if v is not None}


def with_entry(array, index, value):
    out = np.array(array, dtype=np.result_type(array, value))
    out[index] = value
    return out


def py_cost(p, X):
    return float(np.sum(np.sin(p["W"]) * X) + 0.5 * np.sum(p["b"] ** 2))


def einsum_cost(p, X):
    return float(np.einsum("ij,ij", np.sin(p["W"]), X) + 0.5 * np.sum(p["b"] ** 2))


def returning(value):
    """A cost that returns ``value`` whatever the parameters."""
    return lambda p, X: value


def when_perturbed(name, index, value):
    """The running example's cost, except that it returns ``value`` (or raises it,
    if it is an exception) as soon as ``name[index]`` moves away from its value."""
    base = params()[name][index]

    def cost(p, X):
        if p[name][index] != base:
            if isinstance(value, BaseException):
                raise value
            return value
        return py_cost(p, X)
    return cost


@fc.jit_cost
def jit_example(theta, X, Y):
    """The running example over theta = [W (12), b (3)]."""
    W = theta[0:12].reshape((3, 4))
    b = theta[12:15]
    return np.sum(np.sin(W) * X) + 0.5 * np.sum(b * b)


@fc.jit_cost
def jit_raising(theta, X, Y):
    """sum(theta^2), but raises once theta[i] > limit, with (limit, i) = Y[0]."""
    if theta[int(Y[0, 1])] > Y[0, 0]:
        raise ValueError("cost undefined here")
    return np.sum(theta * theta)


@fc.jit_cost
def jit_nan(theta, X, Y):
    """sum(theta^2), but NaN once theta[i] > limit, with (limit, i) = Y[0]."""
    if theta[int(Y[0, 1])] > Y[0, 0]:
        return np.nan
    return np.sum(theta * theta)


def limit_at(i, offset=0.0):
    """Y for jit_raising / jit_nan: misbehave when theta[i] rises above its value + offset."""
    theta = np.concatenate([W0.ravel(), B0.ravel()])
    return np.array([[theta[i] + offset, float(i)]])


# -- built-in models -----------------------------------------------------------------------

BCE = MLP([3, 4, 2], hidden="relu", output="sigmoid", loss="bce")
BCE_PARAMS = BCE.init_params(seed=0)
BCE_Y = np.array([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
BCE_GRADS = BCE.backward(BCE_PARAMS, X0, BCE_Y)
CE = MLP([3, 4, 2], hidden="tanh", output="softmax", loss="ce")
CE_LABELS = np.array([0, 1, 1, 0])


def model_params(**changes):
    p = {k: v.copy() for k, v in BCE_PARAMS.items()}
    p.update(changes)
    return {k: v for k, v in p.items() if v is not None}


def model_grads(**changes):
    g = {k: v.copy() for k, v in BCE_GRADS.items()}
    g.update(changes)
    return {k: v for k, v in g.items() if v is not None}


def check_model(X=X0, Y=BCE_Y, **kwargs):
    return lambda: fc.check(BCE, model_params(), model_grads(), X, Y, **kwargs)


def check(cost=py_cost, p=None, g=None, *args, **kwargs):
    """A deferred fc.check of the running example, with what the row changes."""
    data = args if args else (X0,)
    return lambda: fc.check(cost, params() if p is None else p, grads() if g is None else g,
                            *data, **kwargs)


def directions(cost=py_cost, p=None, g=None, *args, **kwargs):
    data = args if args else (X0,)
    return lambda: fc.check_directions(cost, params() if p is None else p,
                                       grads() if g is None else g, *data, **kwargs)


THREADS_LIMIT = numba.config.NUMBA_NUM_THREADS
FMAX = float(np.finfo(np.float64).max)
BIG = params(W=W0 * 1e20)                                    # theta + 1e-30 == theta everywhere

# (id, call, expected exception class, regex naming the culprit)
CASES = [
    # -- gradients ---------------------------------------------------------------------
    ("grad-missing", check(g=grads(db=None)), GradientError, r"parameter 'b'.*'db'"),
    # Axes of length 1 may differ (tests/test_verdict.py); other reshapes may not.
    ("grad-flattened", check(g=grads(dW=(np.cos(W0) * X0).reshape(12, 1))), GradientError,
     r"'dW' has shape \(12, 1\).*'W' has shape \(3, 4\)"),
    ("grad-6-vs-param-5x1", check(p={"v": np.ones((5, 1))}, g={"dv": np.ones(6)},
                                  cost=lambda p, *data: float(np.sum(p["v"]))), GradientError,
     r"'dv' has shape \(6,\).*'v' has shape \(5, 1\)"),
    ("grad-5x2-vs-param-5", check(p={"v": np.ones(5)}, g={"dv": np.ones((5, 2))},
                                  cost=lambda p, *data: float(np.sum(p["v"]))), GradientError,
     r"'dv' has shape \(5, 2\).*'v' has shape \(5,\)"),
    ("grad-transposed", check(g=grads(dW=(np.cos(W0) * X0).T)), GradientError,
     r"'dW' has shape \(4, 3\)"),
    ("grad-object", check(g=grads(dW=(np.cos(W0) * X0).astype(object))), InputTypeError,
     r"gradient 'dW'.*object"),
    ("grad-string", check(g=grads(db="0.5")), InputTypeError, r"gradient 'db'"),
    ("grad-complex", check(g=grads(dW=np.cos(W0) * X0 + 0j)), GradientError,
     r"'dW' is complex"),
    ("grad-nan", check(g=grads(db=with_entry(B0, (2, 0), np.nan))), GradientError,
     r"'db' is not finite at db\[2, 0\]"),
    ("grad-inf", check(g=grads(dW=with_entry(np.cos(W0) * X0, (1, 3), -np.inf))),
     GradientError, r"'dW' is not finite at dW\[1, 3\]"),
    ("grad-ambiguous-keys", check(g=dict(grads(), W=W0, b=B0)), GradientError,
     r"both 'dX' and 'X'"),
    ("grads-not-a-mapping", check(g=[W0, B0]), InputTypeError, r"grads must be a mapping"),
    # A masked array would lose its mask; the values under it would be checked (issue 17).
    ("grad-masked", check(g=grads(db=np.ma.masked_array(B0, mask=[[0], [1], [0]]))),
     GradientError, r"gradient 'db' is a masked array"),
    # -- parameters --------------------------------------------------------------------
    ("params-empty", check(p={}, g={}), ParameterError, r"params is empty"),
    ("params-not-a-mapping", check(p=[W0, B0]), InputTypeError, r"params must be a mapping"),
    ("param-empty-tensor", check(p=params(b=np.zeros((0, 1)))), ParameterError,
     r"parameter 'b' is empty"),
    ("param-object", check(p=params(W=W0.astype(object))), InputTypeError,
     r"parameter 'W'.*object"),
    ("param-string-array", check(p=params(b=np.array(["1", "2", "3"]))), InputTypeError,
     r"parameter 'b'"),
    ("param-string", check(p=params(b="0.5")), InputTypeError, r"parameter 'b'"),
    ("param-None", check(p=params(b=[None, None, None])), InputTypeError, r"parameter 'b'"),
    ("param-ragged", check(p=params(W=[[1.0, 2.0], [3.0]])), InputTypeError,
     r"parameter 'W'"),
    ("param-bool", check(p=params(W=W0 > 0)), InputTypeError, r"parameter 'W'.*bool"),
    ("param-name-not-str", check(p={1: W0}, g={1: W0}), InputTypeError, r"names must be strings"),
    # Complex parameters are checked (fastcheck.complexparams), with complex gradients.
    ("param-complex-central", check(p=params(W=W0 + 0.5j)), GradientError,
     r"grads\['dW'\] is real but params\['W'\] is complex"),
    ("param-complex-richardson", check(p=params(b=B0 + 0j), method="richardson"),
     GradientError, r"grads\['db'\] is real but params\['b'\] is complex"),
    ("param-nan", check(p=params(W=with_entry(W0, (1, 2), np.nan))), ParameterError,
     r"'W' is not finite at W\[1, 2\]"),
    ("param-inf", check(p=params(b=with_entry(B0, (0, 0), np.inf))), ParameterError,
     r"'b' is not finite at b\[0, 0\]"),
    ("param-masked", check(p=params(W=np.ma.masked_greater(W0, 0.5))), ParameterError,
     r"parameter 'W' is a masked array"),
    ("data-masked", check(py_cost, None, None, np.ma.masked_less(X0, 0.0)), DataError,
     r"data argument args\[0\] is a masked array"),
    ("jit-data-masked", check(jit_example, None, None, X0, np.ma.masked_array(X0)),
     DataError, r"data argument args\[1\] is a masked array"),
    # -- the cost ----------------------------------------------------------------------
    ("cost-not-callable", check(cost=3.0), InputTypeError, r"cost must be callable"),
    ("cost-returns-array", check(cost=returning(np.ones(3))), CostError,
     r"returned ndarray of shape \(3,\)"),
    ("cost-returns-nan", check(cost=returning(np.nan)), CostError,
     r"returned nan at the given parameters"),
    ("cost-returns-inf", check(cost=returning(np.inf)), CostError, r"returned inf"),
    ("cost-returns-None", check(cost=returning(None)), CostError, r"returned NoneType"),
    ("cost-returns-string", check(cost=returning("0.5")), CostError, r"returned str"),
    ("cost-returns-complex", check(cost=returning(1 + 2j)), CostError, r"returned complex"),
    ("cost-returns-empty-tuple", check(cost=returning(())), CostError, r"empty tuple"),
    ("cost-inf-when-perturbed", check(cost=when_perturbed("b", (0, 0), np.inf)), CostError,
     r"returned inf with b\[0, 0\] perturbed"),
    ("cost-nan-when-perturbed", check(cost=when_perturbed("W", (2, 1), np.nan)), CostError,
     r"returned nan with W\[2, 1\] perturbed"),
    ("cost-raises", check(cost=lambda p, X: 1 / 0), CostError, r"raised ZeroDivisionError"),
    ("cost-raises-when-perturbed",
     check(cost=when_perturbed("W", (2, 3), KeyError("W3"))), CostError,
     r"raised KeyError.*W\[2, 3\]"),
    ("jit-raises-at-theta", check(jit_raising, None, None, X0, limit_at(13, -1.0)), CostError,
     r"raised ValueError at the given parameters"),
    ("jit-raises-1-thread", check(jit_raising, None, None, X0, limit_at(13), threads=1),
     CostError, r"b\[1, 0\]"),
    ("jit-raises-prange-row0", check(jit_raising, None, None, X0, limit_at(12),
                                     threads=THREADS_LIMIT), CostError, r"b\[0, 0\]"),
    ("jit-raises-prange-row1", check(jit_raising, None, None, X0, limit_at(13),
                                     threads=THREADS_LIMIT), CostError, r"b\[1, 0\]"),
    ("jit-raises-prange-richardson",
     check(jit_raising, None, None, X0, limit_at(7), threads=THREADS_LIMIT,
           method="richardson"), CostError, r"W\[1, 3\]"),
    ("jit-nan-prange", check(jit_nan, None, None, X0, limit_at(5), threads=THREADS_LIMIT),
     CostError, r"W\[1, 1\]"),
    # A jit cost takes any signature; one that does not fit its data fails when called.
    ("jit-wrong-arity", check(fc.jit_cost(lambda theta, X, Y, Z: 1.0)), CostError,
     r"missing 1 required positional argument: 'Z'"),
    ("njit-returns-array", check(numba.njit(lambda theta, X, Y: theta)), CostError,
     r"returned ndarray of shape \(15,\)"),
    ("jit-data-3d", check(jit_example, None, None, X0[None]), CostError,
     r"missing 1 required positional argument: 'Y'"),
    ("jit-three-data", check(jit_example, None, None, X0, X0, X0), CostError,
     r"takes 3 positional arguments but 4 were given"),
    ("jit-data-string", check(jit_example, None, None, "X"), InputTypeError,
     r"data argument X"),
    ("jit-data-None", check(jit_example, None, None, X0, None), InputTypeError,
     r"data argument Y"),
    # -- eps ----------------------------------------------------------------------------
    ("eps-zero", check(eps=0.0), OptionError, r"eps must be a positive finite number"),
    ("eps-negative", check(eps=-1e-6), OptionError, r"eps must be a positive finite number"),
    ("eps-nan", check(eps=float("nan")), OptionError, r"eps must be .*nan"),
    ("eps-inf", check(eps=float("inf")), OptionError, r"eps must be .*inf"),
    ("eps-string", check(eps="1e-6"), OptionError, r"eps must be"),
    ("eps-lost-against-theta", check(eps=1e-30), OptionError,
     r"eps=1e-30 is too small for W\[0, 0\]"),
    ("eps-lost-at-half-step-richardson",   # 1 + 2e-16 != 1 but 1 + 1e-16 == 1
     check(p={"v": np.array([0.25, 1.0])}, g={"dv": np.array([0.25, 1.0])},
           cost=lambda p, *data: float(np.sum(p["v"] ** 2) / 2), eps=2e-16,
           method="richardson"),
     OptionError, r"too small for v\[1\]"),
    # Near the float64 maximum theta + h overflows: the cost would run at inf (issue 17).
    ("param-near-float64-max", check(p=params(W=with_entry(W0, (1, 2), -0.999999 * FMAX))),
     ParameterError, r"W\[1, 2\] = -1\.79\d+e\+308 is too large for a finite step"),
    ("param-near-float64-max-richardson",
     check(p=params(b=with_entry(B0, (2, 0), 0.9995 * FMAX)), method="richardson"),
     ParameterError, r"b\[2, 0\] = 1\.79\d+e\+308 is too large"),
    ("param-near-float64-max-complex",
     check(p=params(b=with_entry(B0, (1, 0), 0.999999 * FMAX)), method="complex"),
     ParameterError, r"b\[1, 0\] .* too large for a finite step"),
    ("eps-beyond-float64-max", check(p=params(b=with_entry(B0, (0, 0), 1e308)), eps=1e308),
     OptionError, r"eps=1e\+308 takes b\[0, 0\] = 1e\+308 beyond the float64 maximum"),
    # -- threshold, sample, seed --------------------------------------------------------
    ("threshold-zero", check(threshold=0.0), OptionError, r"threshold"),
    ("threshold-negative", check(threshold=-1e-7), OptionError, r"threshold"),
    ("threshold-nan", check(threshold=float("nan")), OptionError, r"threshold"),
    ("threshold-inf", check(threshold=float("inf")), OptionError, r"threshold"),
    ("threshold-string", check(threshold="1e-7"), OptionError, r"threshold"),
    ("sample-above-P", check(sample=P + 1), OptionError, r"sample=16 .*only 15 parameters"),
    ("sample-negative", check(sample=-3), OptionError, r"sample"),
    ("sample-zero", check(sample=0), OptionError, r"sample"),
    ("sample-fraction-above-1", check(sample=1.5), OptionError, r"sample=1.5"),
    ("sample-nan", check(sample=float("nan")), OptionError, r"sample"),
    ("sample-bool", check(sample=True), OptionError, r"sample"),
    ("sample-string", check(sample="5"), OptionError, r"sample"),
    ("seed-string", check(sample=5, seed="a"), OptionError, r"seed"),
    ("seed-negative", check(sample=5, seed=-1), OptionError, r"seed"),
    ("seed-float", check(sample=5, seed=1.5), OptionError, r"seed"),
    # -- engine, method, threads, progress ---------------------------------------------
    ("engine-unknown", check(engine="fast"), OptionError, r"engine must be one of.*'fast'"),
    ("engine-None", check(engine=None), OptionError, r"engine must be one of"),
    ("engine-layered-for-python-cost", check(engine="layered"), OptionError,
     r"engine='layered'"),
    ("engine-layered-for-jit-cost", check(jit_example, engine="layered"), OptionError,
     r"engine='layered'"),
    ("engine-generic-uncompilable", check(cost=einsum_cost, engine="generic"), CompileError,
     r"test_bad_input.py:\d+: .*einsum"),
    ("engine-generic-jit-false", check(engine="generic", jit=False), OptionError,
     r"jit=False"),
    ("method-unknown", check(method="forward"), OptionError, r"method must be one of.*'forward'"),
    ("method-case", check(method="Central"), OptionError, r"method must be one of"),
    ("threads-zero", check(threads=0), OptionError, r"threads must be an integer"),
    ("threads-negative", check(threads=-2), OptionError, r"threads"),
    ("threads-above-limit", check(threads=THREADS_LIMIT + 1), OptionError,
     rf"threads must be an integer from 1 to {THREADS_LIMIT}"),
    ("threads-float", check(threads=1.0), OptionError, r"threads"),
    ("threads-bool", check(threads=True), OptionError, r"threads"),
    ("threads-string", check(threads="2"), OptionError, r"threads"),
    ("progress-string", check(progress="yes"), OptionError, r"progress"),
    # -- check_directions --------------------------------------------------------------
    ("dirs-n-zero", directions(n=0), OptionError, r"n must be a positive number"),
    ("dirs-n-negative", directions(n=-4), OptionError, r"n must be"),
    ("dirs-n-float", directions(n=2.5), OptionError, r"n must be"),
    ("dirs-n-string", directions(n="8"), OptionError, r"n must be"),
    ("dirs-n-too-many", directions(n=10 ** 13), (OptionError, MemoryBudgetError), r"\bn\b"),
    ("dirs-eps-zero", directions(eps=0), OptionError, r"eps"),
    ("dirs-eps-lost-against-theta", directions(p=BIG, eps=1e-30), OptionError, r"eps"),
    ("dirs-threshold-nan", directions(threshold=float("nan")), OptionError, r"threshold"),
    ("dirs-seed-string", directions(seed="a"), OptionError, r"seed"),
    ("dirs-grad-missing", directions(g=grads(dW=None)), GradientError, r"parameter 'W'"),
    ("dirs-grad-shape", directions(g=grads(db=np.ones(4))), GradientError,
     r"'db' has shape \(4,\)"),
    ("dirs-grad-masked", directions(g=grads(dW=np.ma.masked_greater(np.cos(W0) * X0, 0.0))),
     GradientError, r"gradient 'dW' is a masked array"),
    ("dirs-param-complex", directions(p=params(W=W0 * 1j)), ParameterError,
     r"'W' is complex"),
    ("dirs-empty", directions(p={}, g={}), ParameterError, r"params is empty"),
    ("dirs-cost-raises", directions(cost=lambda p, X: {}["J"]), CostError, r"raised KeyError"),
    ("dirs-cost-nan-along-a-direction", directions(cost=when_perturbed("W", (0, 0), np.nan)),
     CostError, r"along direction 0"),
    ("dirs-cost-returns-array", directions(cost=returning(np.zeros((1, 2)))), CostError,
     r"ndarray of shape \(1, 2\)"),
    ("dirs-jit-nan", directions(jit_nan, None, None, X0, limit_at(13, -1.0)), CostError,
     r"returned nan"),
    ("dirs-model-X-wrong", lambda: fc.check_directions(BCE, model_params(), model_grads(),
                                                       X0.T, BCE_Y), DataError,
     r"X has shape \(4, 3\)"),
    ("dirs-model-no-data", lambda: fc.check_directions(BCE, model_params(), model_grads()),
     DataError, r"check\(model, params, grads, X, Y\)"),
    # -- models --------------------------------------------------------------------------
    ("mlp-hidden-None", lambda: MLP([3, 4, 2], hidden=None), OptionError, r"hidden"),
    ("mlp-hidden-unknown-in-list", lambda: MLP([3, 4, 4, 2], hidden=["relu", "gelu"]),
     OptionError, r"'gelu'"),
    ("mlp-sizes-None", lambda: MLP(None), OptionError, r"sizes"),
    ("mlp-sizes-negative", lambda: MLP([3, -1, 2]), OptionError, r"sizes"),
    ("mlp-l2-nan", lambda: MLP([3, 2], hidden=[], l2=float("nan")), OptionError, r"l2"),
    ("mlp-l2-inf", lambda: MLP([3, 2], hidden=[], l2=float("inf")), OptionError, r"l2"),
    ("mlp-l2-string", lambda: MLP([3, 2], hidden=[], l2="0.1"), OptionError, r"l2"),
    ("mlp-output-unknown", lambda: MLP([3, 2], hidden=[], output="tanh", loss="mse"),
     OptionError, r"output 'linear'"),
    ("mlp-init-scale-unknown", lambda: BCE.init_params(scale="glorot"), OptionError,
     r"scale"),
    ("mlp-init-scale-zero", lambda: BCE.init_params(scale=0.0), OptionError, r"scale"),
    ("model-X-transposed", check_model(X=X0.T), DataError, r"X has shape \(4, 3\)"),
    ("model-X-1d", check_model(X=X0[0]), DataError, r"X has shape \(4,\)"),
    ("model-X-no-examples", check_model(X=np.zeros((3, 0)), Y=np.zeros((2, 0))), DataError,
     r"X has shape \(3, 0\)"),
    ("model-X-nan", check_model(X=with_entry(X0, (1, 1), np.nan)), DataError, r"X has NaN"),
    ("model-X-string", check_model(X="X"), InputTypeError, r"\bX\b"),
    ("model-X-complex", check_model(X=X0 + 0j), DataError, r"X is complex"),
    ("model-X-masked", check_model(X=np.ma.masked_less(X0, 0.0)), DataError,
     r"args\[0\] is a masked array"),
    ("model-grad-masked",
     lambda: fc.check(BCE, model_params(), model_grads(dW1=np.ma.masked_greater(
         BCE_GRADS["dW1"], 0.0)), X0, BCE_Y), GradientError, r"gradient 'dW1' is a masked"),
    ("model-Y-transposed", check_model(Y=BCE_Y.T), DataError,
     r"Y has shape \(4, 2\).*\(2, 4\)"),
    ("model-Y-too-few-examples", check_model(Y=BCE_Y[:, :3]), DataError,
     r"Y has shape \(2, 3\)"),
    ("model-Y-not-binary-for-bce", check_model(Y=2 * BCE_Y), DataError, r"Y for loss 'bce'"),
    ("model-Y-inf", check_model(Y=with_entry(BCE_Y, (0, 0), np.inf)), DataError,
     r"Y has NaN or Inf"),
    ("model-ce-label-out-of-range",
     lambda: fc.check(CE, CE.init_params(), CE.backward(CE.init_params(), X0, CE_LABELS),
                      X0, np.array([0, 1, 2, 0])), DataError, r"labels Y .*\[0, 2\)"),
    ("model-ce-Y-not-one-hot",
     lambda: fc.check(CE, CE.init_params(), CE.backward(CE.init_params(), X0, CE_LABELS),
                      X0, np.full((2, 4), 0.3)), DataError, r"Y for loss 'ce'"),
    ("model-no-data", lambda: fc.check(BCE, model_params(), model_grads()), DataError,
     r"check\(model, params, grads, X, Y\)"),
    ("model-three-data", lambda: fc.check(BCE, model_params(), model_grads(), X0, BCE_Y,
                                          BCE_Y), DataError, r"got 3 data arguments"),
    ("model-param-missing", lambda: fc.check(BCE, model_params(b2=None), model_grads(), X0,
                                             BCE_Y), ParameterError, r"no 'b2'"),
    ("model-param-extra", lambda: fc.check(BCE, model_params(W9=np.ones(2)), model_grads(),
                                           X0, BCE_Y), ParameterError, r"'W9'"),
    ("model-param-transposed",
     lambda: fc.check(BCE, model_params(W1=BCE_PARAMS["W1"].T), model_grads(), X0, BCE_Y),
     ParameterError, r"'W1' has shape \(3, 4\).*\(4, 3\)"),
    ("model-param-nan",
     lambda: fc.check(BCE, model_params(b1=with_entry(BCE_PARAMS["b1"], (3, 0), np.nan)),
                      model_grads(), X0, BCE_Y), ParameterError, r"b1\[3, 0\]"),
    ("model-grad-transposed",
     lambda: fc.check(BCE, model_params(), model_grads(dW2=BCE_GRADS["dW2"].T), X0, BCE_Y),
     GradientError, r"'dW2' has shape \(4, 2\)"),
    ("model-grad-missing",
     lambda: fc.check(BCE, model_params(), model_grads(db1=None), X0, BCE_Y),
     GradientError, r"'b1'"),
    ("model-eps-lost", check_model(eps=1e-300), OptionError, r"eps=1e-300 is too small"),
    ("model-sample-above-P", check_model(sample=BCE.n_params + 1), OptionError,
     rf"only {BCE.n_params} parameters"),
    ("model-backward-X-wrong", lambda: BCE.backward(BCE_PARAMS, X0[:2], BCE_Y), DataError,
     r"X has shape \(2, 4\)"),
    ("model-cost-Y-wrong", lambda: BCE.cost(BCE_PARAMS, X0, BCE_Y[:1]), DataError,
     r"Y has shape \(1, 4\)"),
    # -- naive_check ---------------------------------------------------------------------
    ("naive-eps-zero", lambda: fc.naive_check(py_cost, params(), grads(), X0, eps=0.0),
     OptionError, r"eps"),
    ("naive-eps-lost-against-theta",
     lambda: fc.naive_check(py_cost, BIG, grads(), X0, eps=1e-30), OptionError, r"eps"),
    ("naive-indices-out-of-range",
     lambda: fc.naive_check(py_cost, params(), grads(), X0, indices=[0, P]), OptionError,
     r"indices"),
    ("naive-cost-returns-None", lambda: fc.naive_check(returning(None), params(), grads(), X0),
     CostError, r"NoneType"),
]


@pytest.mark.parametrize("call, error, pattern", [pytest.param(*row[1:], id=row[0])
                                                  for row in CASES])
def test_bad_input_raises_a_fastcheck_error_that_names_the_culprit(call, error, pattern):
    """The row's exception class, a message naming the argument, and nothing leaking."""
    with pytest.raises(Exception) as info:
        call()
    exc = info.value
    described = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert not isinstance(exc, (NumbaError, IndexError, SystemError)), described
    assert isinstance(exc, FastcheckError), described
    assert isinstance(exc, (ValueError, TypeError)), described
    assert isinstance(exc, error), described
    assert re.search(pattern, str(exc), flags=re.S), described


def test_the_table_is_large_and_its_ids_unique():
    ids = [row[0] for row in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30


# -- the command line -----------------------------------------------------------------------
# Usage errors exit with status 2 and one line on stderr, "fastcheck: error: ...", that
# names the flag, tensor or file at fault; never a traceback. `main` is called in-process
# (the parser and the commands are the real ones); the module entry point is run once below.

SMALL = ["--sizes", "4,3,1", "--batch", "5"]            # 19 parameters, 5 examples

CLI_CASES = [
    ("demo-unknown-option", ["demo", "--nonsense"], r"unrecognized arguments: --nonsense"),
    ("demo-extra-positional", ["demo", "again"], r"unrecognized arguments: again"),
    ("unknown-command", ["frobnicate"], r"invalid choice: 'frobnicate'"),
    ("command-case", ["Demo"], r"invalid choice: 'Demo'"),
    ("option-before-command", ["--sizes", "4,3"], r"--sizes|COMMAND"),
    ("check-sizes-one-layer", ["check", "--sizes", "4"], r"--sizes.*'4'"),
    ("check-sizes-zero-width", ["check", "--sizes", "4,0,1"], r"--sizes.*'4,0,1'"),
    ("check-sizes-not-numbers", ["check", "--sizes", "a,b"], r"--sizes"),
    ("check-hidden-unknown", ["check", *SMALL, "--hidden", "swish"], r"--hidden.*'swish'"),
    ("check-hidden-count", ["check", *SMALL, "--hidden", "relu,tanh"],
     r"hidden lists 2 activations"),
    ("check-loss-unknown", ["check", *SMALL, "--loss", "hinge"], r"--loss.*'hinge'"),
    ("check-output-loss-mismatch", ["check", *SMALL, "--output", "softmax", "--loss", "bce"],
     r"'bce' goes with output 'sigmoid'"),
    ("check-l2-negative", ["check", *SMALL, "--l2", "-1"], r"l2"),
    ("check-batch-zero", ["check", *SMALL, "--batch", "0"], r"--batch"),
    ("check-seed-negative", ["check", *SMALL, "--seed", "-1"], r"seed"),
    ("check-eps-zero", ["check", *SMALL, "--eps", "0"], r"eps must be a positive"),
    ("check-eps-nan", ["check", *SMALL, "--eps", "nan"], r"eps must be a positive"),
    ("check-eps-lost", ["check", *SMALL, "--eps", "1e-300"],
     r"--eps 1e-300 is too small for W1.*or leave out --eps for a step"),
    ("check-threshold-negative", ["check", *SMALL, "--threshold", "-1"], r"threshold"),
    ("check-sample-zero", ["check", *SMALL, "--sample", "0"], r"sample"),
    ("check-sample-above-P", ["check", *SMALL, "--sample", "1000"],
     r"--sample 1000 .*only 19 parameters; leave out --sample"),
    ("check-sample-not-a-number", ["check", *SMALL, "--sample", "abc"], r"--sample"),
    ("check-directions-zero", ["check", *SMALL, "--directions", "0"], r"--directions"),
    ("check-directions-with-method", ["check", *SMALL, "--directions", "3", "--method",
                                      "richardson"], r"--directions.*--method"),
    ("check-engine-unknown", ["check", *SMALL, "--engine", "fast"], r"--engine.*'fast'"),
    ("check-method-unknown", ["check", *SMALL, "--method", "forward"], r"--method.*'forward'"),
    ("check-threads-zero", ["check", *SMALL, "--threads", "0"], r"--threads"),
    ("check-threads-above-limit", ["check", *SMALL, "--threads", "999"], r"threads"),
    ("check-bug-unknown-tensor", ["check", *SMALL, "--bug", "W9:scale=2"], r"'W9'"),
    ("check-bug-bad-op", ["check", *SMALL, "--bug", "W1:times=2"], r"--bug"),
    ("check-params-missing-file", ["check", *SMALL, "--params", "{tmp}/missing.npz"],
     r"--params .*missing\.npz"),
    ("check-params-not-an-archive", ["check", *SMALL, "--params", "{tmp}/garbage.npz"],
     r"--params .*garbage\.npz"),
    ("check-params-single-array", ["check", *SMALL, "--params", "{tmp}/single.npy"],
     r"--params .*single array"),
    ("check-params-transposed", ["check", *SMALL, "--params", "{tmp}/params_bad.npz"],
     r"'W1' has shape \(4, 3\)"),
    ("check-grads-missing-tensor", ["check", *SMALL, "--grads", "{tmp}/grads_missing.npz"],
     r"parameter 'b1'"),
    ("check-grads-nan", ["check", *SMALL, "--grads", "{tmp}/grads_nan.npz"],
     r"'dW2' is not finite at dW2\[0, 0\]"),
    ("check-data-without-Y", ["check", *SMALL, "--data", "{tmp}/data_no_y.npz"], r"no Y"),
    ("check-data-X-transposed", ["check", *SMALL, "--data", "{tmp}/data_bad_x.npz"],
     r"X has shape \(5, 4\)"),
    ("bench-sizes-one-layer", ["bench", "--sizes", "4"], r"--sizes"),
    ("bench-quick-with-sizes", ["bench", "--quick", "--sizes", "4,3,1"], r"--quick.*--sizes"),
    ("bench-threads-zero", ["bench", "--threads", "0"], r"--threads"),
]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """.npz files for MLP([4, 3, 1]) on 5 examples, each with one thing wrong."""
    tmp = tmp_path_factory.mktemp("cli")
    model = MLP([4, 3, 1])
    p = model.init_params(seed=0)
    X = np.random.default_rng(0).normal(size=(4, 5))
    Y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    g = model.backward(p, X, Y)
    np.savez(tmp / "params_bad.npz", **dict(p, W1=p["W1"].T))
    np.savez(tmp / "grads_missing.npz", **{k: v for k, v in g.items() if k != "db1"})
    np.savez(tmp / "grads_nan.npz", **dict(g, dW2=np.full_like(g["dW2"], np.nan)))
    np.savez(tmp / "data_no_y.npz", X=X)
    np.savez(tmp / "data_bad_x.npz", X=X.T, Y=Y)
    np.save(tmp / "single.npy", X)
    (tmp / "garbage.npz").write_text("not a zip archive")
    return tmp


@pytest.mark.parametrize("argv, pattern", [pytest.param(*row[1:], id=row[0])
                                           for row in CLI_CASES])
def test_command_line_usage_errors_exit_2_with_one_line_naming_the_culprit(argv, pattern,
                                                                            cli_files, capsys):
    argv = [arg.format(tmp=cli_files) for arg in argv]
    try:
        code = cli_main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (err, captured.out)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastcheck: error: "), err
    assert re.search(pattern, lines[0]), err


def test_module_entry_point_rejects_an_unknown_command_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "fastcheck", "frobnicate", "--sizes", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "frobnicate" in done.stderr
    assert "Traceback" not in done.stderr


# -- input that must simply work -----------------------------------------------------------
# Each variant holds the same values as the plain float64 C-ordered dict it is compared
# with, so the results must be bit-identical: fastcheck flattens both to the same theta.


def strided(array):
    """A non-contiguous view with ``array``'s values (every other element of a bigger one)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return array
    big = np.full(tuple(2 * n + 1 for n in array.shape), -7.0, dtype=array.dtype)
    view = big[tuple(slice(1, None, 2) for _ in array.shape)]
    view[...] = array
    assert not view.flags.c_contiguous or array.size <= 1
    return view


def read_only(array):
    out = np.array(array)
    out.flags.writeable = False
    return out


def reversed_view(array):
    """Negative strides: the values of ``array`` through a doubly reversed view."""
    array = np.asarray(array)
    flipped = np.ascontiguousarray(array[(slice(None, None, -1),) * array.ndim])
    return flipped[(slice(None, None, -1),) * array.ndim]


TENSOR_VARIANTS = {
    "fortran": np.asfortranarray,
    "strided": strided,
    "read-only": read_only,
    "negative-strides": reversed_view,
    "transposed-view": lambda a: np.ascontiguousarray(np.asarray(a).T).T,
}
MAPPING_VARIANTS = {
    "MappingProxyType": types.MappingProxyType,
    "OrderedDict": collections.OrderedDict,
}


def dressed(mapping, variant):
    if variant in MAPPING_VARIANTS:
        return MAPPING_VARIANTS[variant](dict(mapping))
    return {k: TENSOR_VARIANTS[variant](v) for k, v in mapping.items()}


def run_engine(engine, p, g, X=X0, Y=BCE_Y):
    """One check of the running example (python, generic) or the model (layered,
    model-generic), or a directional check (directions)."""
    if engine == "python":
        return fc.check(py_cost, p, g, X)
    if engine == "generic":
        return fc.check(jit_example, p, g, X)
    if engine == "directions":
        return fc.check_directions(py_cost, p, g, X, n=4, seed=3)
    return fc.check(BCE, p, g, X, Y, engine="layered" if engine == "layered" else "generic")


def assert_same_result(res, ref):
    assert res.difference == ref.difference
    if isinstance(ref, fc.DirectionsResult):
        for key in ("expected", "estimate"):
            np.testing.assert_array_equal(getattr(res, key), getattr(ref, key))
        return
    np.testing.assert_array_equal(res.gradapprox_flat, ref.gradapprox_flat)
    np.testing.assert_array_equal(res.grad_flat, ref.grad_flat)
    assert res.kinks == ref.kinks


ENGINES = ["python", "generic", "layered", "model-generic", "directions"]


def inputs_for(engine):
    if engine in ("layered", "model-generic"):
        return model_params(), model_grads()
    return params(), grads()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("variant", list(TENSOR_VARIANTS) + list(MAPPING_VARIANTS))
@pytest.mark.parametrize("which", ["params", "grads", "both"])
def test_unusual_layouts_and_mappings_give_the_plain_result_bit_for_bit(engine, variant,
                                                                        which):
    p, g = inputs_for(engine)
    ref = run_engine(engine, p, g)
    p2 = dressed(p, variant) if which in ("params", "both") else p
    g2 = dressed(g, variant) if which in ("grads", "both") else g
    assert_same_result(run_engine(engine, p2, g2), ref)


@pytest.mark.parametrize("engine", ["generic", "layered", "model-generic"])
@pytest.mark.parametrize("variant", list(TENSOR_VARIANTS) + ["int", "list"])
def test_unusual_data_arrays_are_converted_for_compiled_engines(engine, variant):
    """Compiled engines copy X (and Y) to C-ordered float64: any layout, same bits."""
    Xi = np.round(4 * X0)                                 # integer-valued data
    ref = run_engine(engine, *inputs_for(engine), X=Xi, Y=BCE_Y)
    if variant == "int":
        X2, Y2 = Xi.astype(np.int32), BCE_Y.astype(np.int64)
    elif variant == "list":
        X2, Y2 = Xi.tolist(), BCE_Y.tolist()
    else:
        X2, Y2 = TENSOR_VARIANTS[variant](Xi), TENSOR_VARIANTS[variant](BCE_Y)
    assert_same_result(run_engine(engine, *inputs_for(engine), X=X2, Y=Y2), ref)


@pytest.mark.parametrize("variant", list(TENSOR_VARIANTS))
def test_python_cost_receives_the_callers_data_unchanged(variant):
    """The Python engine hands data through as given: the cost sees the caller's object."""
    X2 = TENSOR_VARIANTS[variant](X0)
    seen = []

    def cost(p, X):
        seen.append(X)
        return py_cost(p, X)

    res = fc.check(cost, params(), grads(), X2)
    # J(theta) twice, the noise line, two per coordinate, J(theta) once more at the end.
    assert all(x is X2 for x in seen) and len(seen) == 2 * P + 3 + NOISE_EVALUATIONS
    ref = fc.check(py_cost, params(), grads(), X0, engine="python")
    np.testing.assert_allclose(res.gradapprox_flat, ref.gradapprox_flat, rtol=1e-12, atol=0)


@pytest.mark.parametrize("engine", ["python", "generic", "layered", "model-generic",
                                    "directions"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_integer_tensors_are_promoted_to_float64(engine, dtype):
    """Integer params and grads give the result of the same values as float64."""
    p, g = inputs_for(engine)
    p = {k: np.round(3 * v) for k, v in p.items()}
    if dtype == np.uint8:
        p = {k: np.abs(v) for k, v in p.items()}
    g = {k: np.round(4 * v) for k, v in g.items()}
    ref = run_engine(engine, p, g)
    res = run_engine(engine, {k: v.astype(dtype) for k, v in p.items()},
                     {k: v.astype(np.int64) for k, v in g.items()})
    assert_same_result(res, ref)
    # No precision note (the rounded gradients may be wrong: the verdict's notes say how).
    assert res.notes == ref.notes
    assert not any(note.startswith("checked in") for note in res.notes), res.notes


@pytest.mark.parametrize("engine", ["python", "generic", "layered", "model-generic",
                                    "directions"])
def test_float32_is_checked_in_float64(engine):
    """float32 tensors give the float64 result of the float32 values, with a note."""
    p, g = inputs_for(engine)
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    g32 = {k: v.astype(np.float32) for k, v in g.items()}
    ref = run_engine(engine, {k: v.astype(np.float64) for k, v in p32.items()},
                     {k: v.astype(np.float64) for k, v in g32.items()})
    res = run_engine(engine, p32, g32)
    assert_same_result(res, ref)
    assert len(res.notes) == 1 and res.notes[0].startswith("checked in float64: ")
    assert "(float32)" in res.notes[0]


def scalar_cost(p, x):
    return float(p["a"] ** 3 * x + np.sin(p["c"]) + np.sum(p["v"] ** 2))


@fc.jit_cost
def jit_scalar_cost(theta, X, Y):
    """theta = [a, c, v0, v1]: J = a^3 x + sin(c) + v0^2 + v1^2 with x = X[0, 0]."""
    return theta[0] ** 3 * X[0, 0] + np.sin(theta[1]) + theta[2] ** 2 + theta[3] ** 2


@pytest.mark.parametrize("cost", [scalar_cost, jit_scalar_cost], ids=["python", "generic"])
@pytest.mark.parametrize("form", ["python-float", "0-d-array", "numpy-scalar", "python-int"])
def test_scalars_0d_arrays_and_python_numbers_are_tensors_of_shape_unit(cost, form):
    """a and c given as Python floats, 0-d arrays, NumPy scalars or ints: same bits."""
    a, c = 2.0, -1.0
    make = {"python-float": float, "0-d-array": np.array, "numpy-scalar": np.float64,
            "python-int": int}[form]
    v = np.array([0.5, -1.5])
    x = 1.5
    g = {"da": 3 * a ** 2 * x, "dc": np.cos(c), "dv": 2 * v}
    ref = fc.check(cost, {"a": np.array(a), "c": np.array(c), "v": v},
                   {k: np.asarray(val) for k, val in g.items()}, x)
    res = fc.check(cost, {"a": make(a), "c": make(c), "v": v}, g, x)
    assert_same_result(res, ref)
    assert res.gradapprox["a"].shape == () and res.passed
    assert float(res.gradapprox["a"]) == pytest.approx(3 * a ** 2 * x, rel=1e-9)
