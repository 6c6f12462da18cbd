"""Which engine checks which cost, and building it."""

import numpy as np

from .engines import FlatCost, GenericEngine, ModelGenericEngine, PythonCost, PythonEngine
from .errors import DataError, OptionError
from .jitcost import JitCost, kernel_data
from .layered import KinkWatch, LayeredEngine
from .models import MLP

ENGINES = ("auto", "python", "generic", "layered")


def model_data(model, args):
    """A model's (X, Y) from the data arguments of a check."""
    if len(args) != 2:
        raise DataError(f"a built-in model is checked with its data: check(model, params, "
                        f"grads, X, Y); got {len(args)} data arguments")
    return model.data(*args)


def build_engine(name, cost, layout, theta, args, rows, method="central"):
    """Pick and build the engine for ``cost``; return (engine, evaluate).

    "auto" is "layered" for built-in models, "generic" for jit costs and
    "python" for any other callable. ``evaluate(theta, where)`` computes the
    cost once from Python, for the facade's check of the unperturbed cost.
    """
    if name not in ENGINES:
        raise OptionError(f"engine must be one of {', '.join(map(repr, ENGINES))}, "
                          f"got {name!r}")
    if name == "layered" and not isinstance(cost, MLP):
        raise OptionError("engine='layered' knows only the built-in models "
                          "(fastcheck.models); use engine='generic' or 'python' for this cost")
    if isinstance(cost, MLP):
        X, Y = model_data(cost, args)
        Xc = X.astype(np.complex128)
        evaluate = FlatCost(lambda row: cost.cost_flat(row, X, Y),
                            lambda row: cost.cost_flat_complex(row, Xc, Y))
        if name in ("auto", "layered"):
            return LayeredEngine(cost, theta, X, Y, rows, method), evaluate
        if name == "python":
            run = PythonEngine(evaluate, theta, layout, method)
        else:
            run = ModelGenericEngine(cost, theta, X, Y, rows, method)
        if method != "complex" and cost.has_kinks:
            run = KinkWatch(run, LayeredEngine(cost, theta, X, Y, rows, method))
        return run, evaluate
    if isinstance(cost, JitCost):
        X, Y = kernel_data(args)
        evaluate = FlatCost(lambda row: cost.dispatcher(row, X, Y),
                            lambda row: cost.complex_dispatcher(row, X, Y))
        if method == "complex":
            cost.complex_dispatcher  # compile now: a cost that cannot fails before any work
        if name == "python":
            return PythonEngine(evaluate, theta, layout, method), evaluate
        return GenericEngine(cost, theta, X, Y, rows, method), evaluate
    if name == "generic":
        raise OptionError("engine='generic' needs a compiled cost: a built-in model "
                          "(fastcheck.models) or a cost decorated with @fastcheck.jit_cost "
                          "(signature cost(theta, X, Y) -> float); or use engine='python'")
    evaluate = PythonCost(cost, layout, args)
    return PythonEngine(evaluate, theta, layout, method), evaluate
