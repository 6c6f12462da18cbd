"""``compile_cost``: a user's Python cost as a Numba function of the fixed cost type."""

import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from ..errors import CompileError
from ..kernels.signatures import COMPLEX_COST_SIG, COST_SIG
from . import cache, diagnose, generated, memo, packing, trampoline
from .generated import Unit
from .source import Collection, python_function

# The user's function -> {(layout, argument kinds, form): (Collection, key, path)}:
# a cost checked again is not collected again while its Collection is unchanged.
_KNOWN = weakref.WeakKeyDictionary()


@dataclass
class CompiledCost:
    """A user's cost compiled with the fixed cost type.

    ``function(theta, fdata, idata)`` equals ``float(func(params, *args))``
    (the first element of a tuple, the one element of a 0-d or (1, 1) array) to
    rounding, where ``params`` holds C-order views of ``theta`` named and shaped
    as compiled. ``fdata`` (F,) float64 (complex128 for the complex step) and
    ``idata`` (I,) int64 are the packed arguments (see ``packing``);
    ``pack(args)`` packs other arguments of the same kinds, e.g. another batch.
    ``seconds`` is the wall time of the compile or of the cache load;
    ``cached`` is True when nothing was compiled. ``notes`` lists conversions
    that change what the cost computes (float32 data computed in float64).
    ``variant`` says how ``params`` is presented (see ``trampoline``; "trace" for
    code generated from a traced record, whose ``operations`` is its length and
    ``lowp`` True when the Python cost computes in float32 somewhere: the record
    rounds those values to float32, and is trusted to float32 rounding).
    """

    function: object
    fdata: np.ndarray
    idata: np.ndarray
    seconds: float
    cached: bool
    key: str
    specs: list
    complex_step: bool
    variant: str
    path: str
    notes: list = field(default_factory=list)
    code: object = field(default=None, repr=False)
    operations: int = 0
    lowp: bool = False

    def pack(self, args):
        """``(fdata, idata)`` for other arguments of the same kinds as those compiled."""
        specs = packing.describe(self.code, args)
        if [s.signature for s in specs] != [s.signature for s in self.specs]:
            raise CompileError("these arguments differ in kind or ndim from those the "
                               "cost was compiled for; compile it again for them")
        return packing.pack(self.specs, args, self.complex_step)


class _Plan:
    """Everything ``compile_cost`` and ``is_cached`` derive before compiling: the
    cost collected, its trampoline generated, and the ``Unit`` that compiles it."""

    def __init__(self, func, names, shapes, args, flat, complex_step):
        py_func = python_function(func)
        code = py_func.__code__
        # numpy.str_ names (keys from np.array(["W", "b"])) as the str they equal:
        # their repr is not a Python string literal.
        names = [str(n) if isinstance(n, str) else n for n in names]
        shapes = [tuple(int(d) for d in shape) for shape in shapes]
        _check_layout(code, names, shapes)
        _check_arity(py_func, len(args))
        self.code = code
        self.names, self.shapes = names, shapes
        self.specs = packing.describe(code, args)
        self.complex_step = complex_step
        self.collection = Collection(py_func)
        source = trampoline.generate(names, shapes, self.specs, flat=flat,
                                     qualname=py_func.__qualname__, filename=code.co_filename)
        variants = trampoline.variants(shapes, flat)
        self.key = cache.make_key("source", self.collection.fingerprint, tuple(names),
                                  tuple(map(tuple, shapes)),
                                  tuple((s.kind, s.ndim) for s in self.specs), flat,
                                  complex_step, source)
        self.unit = Unit(
            self.key, source, {v: f"trampoline_{v}" for v in variants},
            COMPLEX_COST_SIG if complex_step else COST_SIG,
            # A list that collects tuples holding params (the course's RNN
            # caches.append((a, a_prev, x, parameters))) sends Numba's inference
            # into minutes and gigabytes when params is a literal dict, and
            # compiles when it is a typed one.
            first="typed" if self.collection.appends else None,
            scope={"_cost": self.collection.function}, diagnose=self._diagnose,
            refusal=self._refusal)
        self.name, self.path = self.unit.name, self.unit.path
        self.collection.place(self.name)

    def _diagnose(self, exc):
        ndims = ", ".join(f"{n} {len(s)}-D" for n, s in zip(self.names, self.shapes))
        hint = ("that compiles only when every parameter has the same ndim, and here they "
                f'differ ({ndims}); index params with constant keys such as params["W1"]')
        return diagnose.compile_error(exc, self.code, self.collection.lines, hint,
                                      self.complex_step)

    def _refusal(self, reason):
        if self.collection.appends:
            path, line = self.collection.appends[0]
            return (f"{diagnose.location(path, line)}: {reason}; gave up. Numba's type inference "
                    "blows up on lists that collect tuples of arrays and dicts in a loop, as "
                    "here: keep what the cost needs in preallocated arrays, or return the cost "
                    "without the caches")
        return f"{diagnose.def_location(self.code)}: {reason}; gave up"


def compile_cost(func, names, shapes, args, *, flat=False, complex_step=False):
    """Compile ``func(params, *args)`` (``func(theta, *args)`` if ``flat``) to the fixed cost type.

    Parameters
    ----------
    func : the user's Python cost (a plain function, a Numba dispatcher or a
        ``JitCost`` whose Python function is used).
    names, shapes : the parameter tensors in layout order; theta (P,) is the
        C-order concatenation of tensors of these shapes.
    args : the user's extra arguments, in their order.
    flat : True for the old jit form over the flat theta vector.
    complex_step : compile ``COMPLEX_COST_SIG`` (complex theta and fdata).
        A cost that cannot run on complex numbers (a comparison of complex
        values, ``float(...)`` of one) raises ``CompileError``. Beware that
        NumPy's ``np.maximum``/``np.minimum`` do compile on complex values,
        ordering them lexicographically (real part first), which gives the
        complex step of ReLU away from its kink.

    Returns a ``CompiledCost``; raises ``CompileError`` with one line naming the
    user's file, line and source text and the cause, Numba's text in ``detail``.
    """
    return generated.run(compiling_cost(func, names, shapes, args, flat=flat,
                                        complex_step=complex_step))


def compiling_cost(func, names, shapes, args, *, flat=False, complex_step=False):
    """``compile_cost`` as a generator of compile steps (``generated.obtaining``)."""
    start = time.perf_counter()
    py_func, specs, known = _known(func, names, shapes, args, flat, complex_step)
    fdata, idata = packing.pack(specs, args, complex_step)
    entry = memo.get(known[0]) if known is not None else None
    if entry is not None:
        (key, path), (dispatcher, variant), cached = known, entry, True
    else:
        # Not known, or forgotten beyond memo.MEMORY_KEEP: collect and key it again.
        with memo.LOCK:
            plan = _Plan(func, names, shapes, args, flat, complex_step)
        specs, key, path = plan.specs, plan.key, str(plan.path)
        dispatcher, variant, cached = yield from generated.obtaining(plan.unit)
        if known is None:
            _remember(py_func, plan, flat, complex_step)
    notes = [f"extra argument {k + 1} {spec.note}" for k, spec in enumerate(specs)
             if spec.note]
    return CompiledCost(dispatcher, fdata, idata, time.perf_counter() - start, cached,
                        key, specs, complex_step, variant, path, notes, py_func.__code__)


def _known_key(names, shapes, specs, flat, complex_step):
    return (tuple(str(n) for n in names), tuple(tuple(int(d) for d in s) for s in shapes),
            tuple(spec.signature for spec in specs), flat, complex_step)


def _known(func, names, shapes, args, flat, complex_step):
    """``(py_func, specs, (key, path) or None)``: the facts of an earlier compile of
    this function, layout and argument kinds, if nothing it read has changed since."""
    py_func = python_function(func)
    specs = packing.describe(py_func.__code__, args)
    entry = _KNOWN.get(py_func, {}).get(_known_key(names, shapes, specs, flat, complex_step))
    if entry is None or not entry[0].unchanged():
        return py_func, specs, None
    return py_func, specs, entry[1:]


def _remember(py_func, plan, flat, complex_step):
    known = _KNOWN.setdefault(py_func, {})
    known[_known_key(plan.names, plan.shapes, plan.specs, flat, complex_step)] = (
        plan.collection, plan.key, str(plan.path))


def is_cached(func, names, shapes, args, *, flat=False, complex_step=False):
    """True if ``compile_cost`` with these arguments would compile nothing.

    Cheap: collects the cost and computes the key, reads Numba's cache index,
    compiles nothing. Raises ``CompileError`` where ``compile_cost`` would
    before compiling (an argument of an unsupported kind, a wrong layout).
    """
    _, _, known = _known(func, names, shapes, args, flat, complex_step)
    if known is not None and memo.holds(known[0]):
        return True
    plan = _Plan(func, names, shapes, args, flat, complex_step)
    return memo.holds(plan.key) or generated.on_disk(plan.unit)


def _check_layout(code, names, shapes):
    if len(names) != len(shapes) or not names:
        raise CompileError(f"{diagnose.def_location(code)}: got {len(names)} parameter names "
                           f"and {len(shapes)} shapes; give one shape per name")
    for name, shape in zip(names, shapes):
        if not isinstance(name, str) or not name.isprintable():
            raise CompileError(f"{diagnose.def_location(code)}: parameter name {name!r} "
                               "is not a printable string")
        if any(d < 0 for d in shape):
            raise CompileError(f"{diagnose.def_location(code)}: parameter {name!r} has "
                               f"shape {shape}")
    if len(set(names)) != len(names) or trampoline.SENTINEL in names:
        raise CompileError(f"{diagnose.def_location(code)}: parameter names must be unique "
                           f"and not {trampoline.SENTINEL!r}")


def _check_arity(py_func, nargs):
    code = py_func.__code__
    if code.co_flags & 0x04:  # *args: Numba takes them as a tuple
        return
    total = code.co_argcount
    required = total - len(py_func.__defaults__ or ())
    if not required <= 1 + nargs <= total:
        wanted = ", ".join(code.co_varnames[1:total]) or "nothing"
        raise CompileError(f"{diagnose.def_location(code)}: the cost takes params and then "
                           f"({wanted}), but {nargs} extra argument(s) were given")
