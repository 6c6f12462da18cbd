"""Which engine checks which cost, and building it."""

import numpy as np

from .engines import FlatCost, GenericEngine, ModelGenericEngine, PythonCost, PythonEngine
from .errors import DataError, InputTypeError, OptionError
from .jitcost import JitCost, as_jit_cost, kernel_data
from .kernels.layered import work_width
from .layout import Layout
from .layered import KinkWatch, LayeredEngine
from .memory import ensure_fits
from .models import MLP

ENGINES = ("auto", "python", "generic", "layered")


def model_data(model, args):
    """A model's (X, Y) from the data arguments of a check."""
    if len(args) != 2:
        raise DataError(f"a built-in model is checked with its data: check(model, params, "
                        f"grads, X, Y); got {len(args)} data arguments")
    return model.data(*args)


def prepare(cost, params, grads):
    """Validate a check's inputs: (cost, layout, theta (P,), grad_flat (P,)).

    A Numba dispatcher becomes a ``JitCost``; a built-in model lays theta out
    its own way and checks that ``params`` fit it.
    """
    if not callable(cost):
        raise InputTypeError(f"cost must be callable, got {type(cost).__name__}")
    cost = as_jit_cost(cost) or cost
    if isinstance(cost, MLP):
        layout, theta = cost.layout, cost.flatten(params)
    else:
        layout = Layout.from_params(params)
        theta = layout.flatten(params)
    return cost, layout, theta, layout.gather_grads(grads)


def make_evaluator(cost, layout, args):
    """``evaluate(theta, where)`` for ``cost``, and its data (X, Y) or None.

    It computes the cost once from Python at a flat theta (P,), real or
    complex, and checks what comes back.
    """
    if isinstance(cost, MLP):
        X, Y = model_data(cost, args)
        Xc = X.astype(np.complex128)
        return FlatCost(lambda row: cost.cost_flat(row, X, Y),
                        lambda row: cost.cost_flat_complex(row, Xc, Y)), (X, Y)
    if isinstance(cost, JitCost):
        X, Y = kernel_data(args)
        return FlatCost(lambda row: cost.dispatcher(row, X, Y),
                        lambda row: cost.complex_dispatcher(row, X, Y)), (X, Y)
    return PythonCost(cost, layout, args), None


def scratch_bytes(kind, cost, P, rows, method, data):
    """Bytes the engine ``kind`` allocates beyond theta, before it does so."""
    width = 16 if method == "complex" else 8
    if kind == "python":
        total = P * width
    elif kind == "generic":
        total = rows * P * width
    else:
        total = 0
    if isinstance(cost, MLP) and (kind == "layered" or (method != "complex" and cost.has_kinks)):
        m = data[0].shape[1]
        sizes = [int(n) for n in cost.sizes]
        caches = 2 * sum(sizes[1:]) * m * 8 + sum(a * b for a, b in zip(sizes, sizes[1:])) * 8
        total += caches + rows * (work_width(cost.sizes, m) * width + m * 8)
    return total


def validate_engine(name, cost):
    """``OptionError`` unless engine ``name`` can check ``cost``."""
    if name not in ENGINES:
        raise OptionError(f"engine must be one of {', '.join(map(repr, ENGINES))}, "
                          f"got {name!r}")
    if name == "layered" and not isinstance(cost, MLP):
        raise OptionError("engine='layered' knows only the built-in models "
                          "(fastcheck.models); use engine='generic' or 'python' for this cost")
    if name == "generic" and not isinstance(cost, (MLP, JitCost)):
        raise OptionError("engine='generic' needs a compiled cost: a built-in model "
                          "(fastcheck.models) or a cost decorated with @fastcheck.jit_cost "
                          "(signature cost(theta, X, Y) -> float); or use engine='python'")


def build_engine(name, cost, layout, theta, evaluate, data, rows, method="central"):
    """Build engine ``name`` for ``cost`` with ``rows`` threads' scratch.

    "auto" is "layered" for built-in models, "generic" for jit costs and
    "python" for any other callable. ``evaluate`` and ``data`` are
    ``make_evaluator``'s. The scratch is checked against free memory first.
    """
    validate_engine(name, cost)
    kind = ("python" if name == "python" or data is None else
            "generic" if isinstance(cost, JitCost) or name == "generic" else "layered")
    needed = scratch_bytes(kind, cost, layout.size, rows, method, data)
    ensure_fits(needed, f"the {kind} engine on {layout.size} parameters with {rows} threads")
    if kind == "python":
        run = PythonEngine(evaluate, theta, layout, method)
    elif isinstance(cost, JitCost):
        run = GenericEngine(cost, theta, *data, rows, method)
    elif kind == "layered":
        run = LayeredEngine(cost, theta, *data, rows, method)
    else:
        run = ModelGenericEngine(cost, theta, *data, rows, method)
    if isinstance(cost, MLP) and kind != "layered" and method != "complex" and cost.has_kinks:
        run = KinkWatch(run, LayeredEngine(cost, theta, *data, rows, method))
    run.scratch_bytes = needed
    return run
