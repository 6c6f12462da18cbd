"""What every cost adapter offers the facade and the drivers.

An adapter knows one kind of cost: how its parameters are laid out in theta
(P,), how to evaluate it at a flat theta from Python, which engines can run it
(the first is its default), how much scratch each needs and how to build them.
Adapters hold only plain data (the user's cost, theta, the converted data), so
a driver can ship one to another process, which builds its own engines there.
"""

import contextlib
import math
import numbers
from typing import NamedTuple

import numpy as np

from ..errors import CostError, DataError, OptionError
from ..engines.base import Closer
from ..planning.layout import refuse_masked
from .leftovers import ComplexSlots

#: The types of a cost's value checked first: a float64 scalar.
_FLOAT64 = (float, np.float64)
#: Every engine a check can ask for by name.
ENGINES = ("auto", "python", "generic", "layered", "incremental")


def refuse_masked_data(args):
    """``DataError`` if a data argument is a masked array (``numpy.ma``): a compiled
    cost receives its data packed as plain arrays, mask dropped, so a check would
    quietly run on the values under the mask."""
    for k, value in enumerate(args):
        refuse_masked(value, f"data argument args[{k}]", DataError)


def value_precision(value):
    """The machine epsilon of a cost's returned ``value`` if it is a NumPy float of
    lower precision than float64, else None (Python floats are float64)."""
    if type(value) is tuple and value:
        value = value[0]
    if type(value) in _FLOAT64:  # the common case, first
        return None
    if isinstance(value, tuple) and value:
        value = value[0]
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind in "fc" and np.finfo(dtype).eps > np.finfo(np.float64).eps:
        return float(np.finfo(dtype).eps), dtype
    return None


def cost_value(value, where, complex_input=False):
    """The cost's return ``value`` as a finite float (complex for the complex
    step), or ``CostError``.

    A tuple counts by its first element (the seed's ``forward_propagation_n``
    returns ``(cost, cache)``), an array of one element by that element.
    ``where`` says at which point it was evaluated.
    """
    first = value[0] if type(value) is tuple and value else value
    if not complex_input and type(first) in _FLOAT64 and math.isfinite(first):
        return float(first)  # the common case, first
    if isinstance(value, tuple):
        if not value:
            raise CostError(f"the cost returned an empty tuple {where}; return the cost, "
                            "or a tuple whose first element is the cost")
        value = value[0]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())  # a (1, 1) or (1,) array counts as its one value
    if complex_input:
        if isinstance(value, (complex, np.complexfloating)) or (
                isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "c"):
            value = complex(value)
            if not (np.isfinite(value.real) and np.isfinite(value.imag)):
                raise CostError(f"the cost returned {value} {where}; it must be finite")
            return value
        raise CostError(f"the cost returned {type(value).__name__} for complex parameters "
                        f"{where}: it cannot run in complex arithmetic (abs, np.real, "
                        "float() or a real-only function drops the imaginary part). "
                        "Use method='central' or 'richardson'")
    scalar = isinstance(value, (numbers.Real, np.floating, np.integer)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf")
    if not scalar or isinstance(value, (bool, np.bool_)):
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        raise CostError(f"the cost returned {type(value).__name__}{shape} {where}; it must "
                        "return a finite scalar such as a float (or an array of one element)")
    value = float(value)
    if not np.isfinite(value):
        raise CostError(f"the cost returned {value} {where}; it must be finite there. "
                        "Look for log(0), division by zero or overflow in the forward pass")
    return value


class EngineChoice(NamedTuple):
    """The engine a check runs (``name``), the report's lines about that choice
    (``notes``) and the seconds spent compiling the cost for it."""

    name: str
    notes: tuple
    compile_seconds: float


class CostAdapter:
    """Base of the adapters. Subclasses set ``engines`` and implement the rest.

    Attributes: ``layout`` (``fastcheck.Layout``), ``theta`` (P,) float64, a
    private copy of the parameters; ``notes``, lines the report should carry;
    ``value_eps``, the machine epsilon of the precision the cost's value comes
    in (a float32 cost is known far less well than a float64 one).
    """

    kind = "cost"
    #: The engines that can run this cost, the default first.
    engines = ("python",)

    def __init__(self):
        self.notes = []
        self.value_eps = float(np.finfo(np.float64).eps)

    @classmethod
    def accepts(cls, cost):
        """True when this adapter knows ``cost``'s kind."""
        raise NotImplementedError

    def evaluate(self, theta, where):
        """J at a flat ``theta`` (P,), real or complex, checked by ``cost_value``."""
        raise NotImplementedError

    def roots(self):
        """The objects the user's cost can reach its state through: the cost itself
        and its data arguments (``costs.leftovers``)."""
        func = getattr(self, "func", None)
        return ((func,) if func is not None else ()) + tuple(getattr(self, "args", ()))

    def fast_evaluate(self, theta, where):
        """``evaluate``, or a faster twin that gives the same values (a compiled cost):
        what the closer look at a few coordinates calls."""
        return self.evaluate(theta, where)

    def resolve_engine(self, name, method, seconds_per_coordinate=None, count=None, jit=None):
        """The ``EngineChoice`` for engine ``name`` ("auto": the default), or ``OptionError``.

        ``seconds_per_coordinate`` and ``count`` predict the check's time, for
        adapters that weigh compiling against it; ``jit`` forces that choice.
        The notes and compile time of the choice come back as values (none here:
        this adapter compiles nothing).
        """
        if name not in ENGINES:
            raise OptionError(f"engine must be one of {', '.join(map(repr, ENGINES))}, "
                              f"got {name!r}")
        if name == "auto":
            return EngineChoice(self.engines[0], (), 0.0)
        if name not in self.engines:
            raise OptionError(self.refusal(name))
        return EngineChoice(name, (), 0.0)

    def upgrade(self, method, remaining=float("inf")):
        """Between blocks: the name of a faster engine for ``method`` ready now, or
        None (none here: this adapter compiles nothing beside a check).
        ``remaining`` is the check's pass's seconds left where it runs now."""
        return None

    def reused_evaluations(self):
        """Evaluations the closer look took from the first pass so far (none here)."""
        return 0

    def compiling(self):
        """True while a compile runs beside the check for ``upgrade`` (never here)."""
        return False

    def cancel_pending(self):
        """Stop whatever runs beside the check for ``upgrade`` (nothing here)."""

    def compile_beside(self):
        """Seconds a compile ran beside the check before the check took it up (0.0)."""
        return 0.0

    #: The report's lines about a compile that ended beside the check.
    beside_notes = ()

    def refusal(self, name):
        """Why engine ``name`` cannot run this cost, and what to do instead."""
        return (f"engine={name!r} cannot check a {self.kind}; it runs on "
                f"{', '.join(map(repr, self.engines))}")

    def scratch_bytes(self, engine, method, threads):
        """Bytes engine ``engine`` will allocate with ``threads`` threads."""
        raise NotImplementedError

    def build(self, engine, method, threads):
        """A ready ``fastcheck.engines.Engine`` with scratch for ``threads`` threads."""
        raise NotImplementedError

    def engine(self, name, method, threads, j0):
        """Engine ``name`` for ``method`` with scratch for ``threads`` threads, ready
        for every pass: its closer look evaluates through ``fast_evaluate`` around
        ``j0``, J at theta."""
        run = self.build(name, method, threads)
        run.closer = Closer(self.fast_evaluate, self.theta, self.layout, j0)
        return run


#: Where the evaluation that ends a check happens, for its error messages.
AFTER = "at the given parameters, once more after the check"


@contextlib.contextmanager
def left_at_theta(adapter, complex_step=False):
    """Run the body, a check of ``adapter``'s cost, then evaluate the cost at theta
    last, whatever happened in the body (a refusal, an error, Ctrl-C).

    A model that copies the parameters into its own arrays (``np.copyto(layer.W,
    p["W"])``) or caches what it computed from them (a layer's input, a
    batchnorm's statistics) holds theta's values and theta's state again, as
    the check found it. After a ``complex_step`` check, the complex arrays the
    check left in the objects the cost reaches get their real parts back first
    (``leftovers.ComplexSlots``). The body's own exception wins over one this
    last evaluation raises (a cost that raised at theta raises again).
    """
    slots = ComplexSlots(adapter.roots()) if complex_step else None
    ok = False
    try:
        yield
        ok = True
    finally:
        try:
            if slots is not None:
                slots.restore()
            adapter.evaluate(adapter.theta, AFTER)
        except BaseException:  # the body's own error (or Ctrl-C) says more
            if ok:
                raise
