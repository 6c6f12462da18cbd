"""``compile_cost``: a user's Python cost as a Numba function of the fixed cost type."""

import sys
import threading
import time
import warnings
from collections import OrderedDict
import weakref
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numba.core.errors import NumbaPerformanceWarning

from ..errors import CompileError
from ..kernels.signatures import COMPLEX_COST_SIG, COST_SIG
from . import budget, cache, diagnose, packing, store, timing, trampoline
from ..runtime.interrupt import interruptible
from .source import Collection, python_function

# One compile at a time in this process: Numba holds its own global compiler
# lock anyway, and this one also guards the in-memory table and sys.modules.
_LOCK = threading.RLock()
_COMPILED = OrderedDict()  # key -> (dispatcher, variant): a second compile_cost in-process is free
#: How many compiled costs ``_COMPILED`` keeps (about 4 MB each): the most recently used.
MEMORY_KEEP = 8
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
    ``variant`` says how ``params`` is presented (see ``trampoline``).
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

    def pack(self, args):
        """``(fdata, idata)`` for other arguments of the same kinds as those compiled."""
        specs = packing.describe(self.code, args)
        if [s.signature for s in specs] != [s.signature for s in self.specs]:
            raise CompileError("these arguments differ in kind or ndim from those the "
                               "cost was compiled for; compile it again for them")
        return packing.pack(self.specs, args, self.complex_step)


class _Plan:
    """Everything ``compile_cost`` and ``is_cached`` derive before compiling."""

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
        self.source = trampoline.generate(names, shapes, self.specs, flat=flat,
                                          qualname=py_func.__qualname__,
                                          filename=code.co_filename)
        self.variants = trampoline.variants(shapes, flat)
        self.key = cache.make_key(self.collection.fingerprint, names, shapes, self.specs,
                                  flat=flat, complex_step=complex_step, source=self.source)
        self.name = cache.module_name(self.key)
        self.path = cache.cache_dir() / f"{self.name}.py"
        self.marker = self.path.with_suffix(".variant")
        self.signature = COMPLEX_COST_SIG if complex_step else COST_SIG

    def module(self):
        """``(module, on_disk)``: see ``store.load``."""
        module, on_disk = store.load(self.path, self.name, self.source)
        module._cost = self.collection.function
        return module, on_disk

    def ordered_variants(self):
        chosen = cache.read_marker(self.marker)
        if chosen in self.variants:
            return [chosen] + [v for v in self.variants if v != chosen]
        if self.collection.appends and "typed" in self.variants:
            # A list that collects tuples holding params (the course's RNN
            # caches.append((a, a_prev, x, parameters))) sends Numba's inference
            # into minutes and gigabytes when params is a literal dict, and
            # compiles when it is a typed one.
            return ["typed"] + [v for v in self.variants if v != "typed"]
        return list(self.variants)


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
    user's file, line and source text and the cause, Numba's text chained.
    """
    start = time.perf_counter()
    py_func, specs, known = _known(func, names, shapes, args, flat, complex_step)
    fdata, idata = packing.pack(specs, args, complex_step)
    with _LOCK:
        if known is not None and known[0] in _COMPILED:
            key, path = known
        else:
            # Not known, or forgotten beyond MEMORY_KEEP: collect and key it again.
            plan = _Plan(func, names, shapes, args, flat, complex_step)
            specs, key, path = plan.specs, plan.key, str(plan.path)
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            dispatcher, variant = _COMPILED[key]
            cached = True
        else:
            tick = time.perf_counter()
            dispatcher, variant, cached = _compile(plan)
            if not cached:
                timing.record(plan.collection.size, time.perf_counter() - tick)
            _keep(key, dispatcher, variant)
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
    return outlook(func, names, shapes, args, flat=flat, complex_step=complex_step)[0]


def outlook(func, names, shapes, args, *, flat=False, complex_step=False):
    """``(cached, seconds)``: whether ``compile_cost`` would compile nothing, and if it
    would compile, its predicted wall time on this machine (``timing``)."""
    _, _, known = _known(func, names, shapes, args, flat, complex_step)
    if known is not None and known[0] in _COMPILED:
        return True, 0.0
    plan = _Plan(func, names, shapes, args, flat, complex_step)
    predicted = timing.predict(plan.collection.size)
    with _LOCK:
        if plan.key in _COMPILED:
            return True, 0.0
        if not plan.path.exists():
            return False, predicted
        module, on_disk = plan.module()
        if not on_disk:
            return False, predicted
        variant = plan.ordered_variants()[0]
        cached = cache.in_numba_cache(getattr(module, f"trampoline_{variant}"), plan.signature)
        return cached, 0.0 if cached else predicted


def _keep(key, dispatcher, variant):
    """Keep ``key``'s compiled cost in memory, forgetting the least recently used
    beyond ``MEMORY_KEEP`` (and its generated module, which Numba no longer needs)."""
    _COMPILED[key] = dispatcher, variant
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > MEMORY_KEEP:
        old, _ = _COMPILED.popitem(last=False)
        sys.modules.pop(cache.module_name(old), None)


def _compile(plan):
    """``(dispatcher, variant, cached)``: the first variant that compiles, first in a
    child process under the compile budget unless Numba's disk cache holds it."""
    module, on_disk = plan.module()
    variant = plan.ordered_variants()[0]
    # The child's compile reaches this process through Numba's disk cache only:
    # without one (an unwritable cache), or for code of a module Python cannot
    # import by name (exec'd code), the compile runs here, unbounded.
    if on_disk and plan.collection.importable and budget.supported() and not cache.in_numba_cache(
            getattr(module, f"trampoline_{variant}"), plan.signature):
        reason = budget.over_budget(lambda: _compile_variants(plan, module, on_disk))
        if reason is not None:
            raise CompileError(_budget_message(plan, reason))
        dispatcher, variant, _ = _compile_variants(plan, module, on_disk)
        return dispatcher, variant, False  # compiled, by the child
    return _compile_variants(plan, module, on_disk)


def _budget_message(plan, reason):
    if plan.collection.appends:
        path, line = plan.collection.appends[0]
        return (f"{diagnose.location(path, line)}: {reason}; gave up. Numba's type inference "
                "blows up on lists that collect tuples of arrays and dicts in a loop, as "
                "here: keep what the cost needs in preallocated arrays, or return the cost "
                "without the caches")
    return f"{diagnose.def_location(plan.code)}: {reason}; gave up"


def _compile_variants(plan, module, on_disk):
    failures = []
    for variant in plan.ordered_variants():
        py_func = getattr(module, f"trampoline_{variant}")
        try:
            with warnings.catch_warnings():
                # Numba's performance hints point at the generated file, not the
                # user's line, and would repeat on every fresh compile.
                warnings.simplefilter("ignore", NumbaPerformanceWarning)
                # On a helper thread, so that Ctrl-C is not lost inside LLVM's callbacks.
                dispatcher = interruptible(
                    lambda: njit(plan.signature, cache=on_disk, fastmath=False)(py_func))
        except Exception as exc:  # Numba raises more than NumbaError on bad code
            failures.append(exc)
            if not diagnose.is_dynamic_key(exc):
                break
            continue
        if variant != plan.variants[0] and on_disk:
            try:
                cache.write_marker(plan.marker, variant)
            except OSError:
                pass  # only saves trying the first variant next time
        cached = sum(dispatcher.stats.cache_hits.values()) > 0
        if on_disk and not cached:
            store.prune(keep={plan.name})
        return dispatcher, variant, cached
    hint = ("that compiles only when every parameter has the same ndim, and here they "
            f"differ ({', '.join(f'{n} {len(s)}-D' for n, s in zip(plan.names, plan.shapes))}); "
            'index params with constant keys such as params["W1"]')
    raise diagnose.compile_error(failures[-1], plan.code, plan.collection.lines,
                                 hint, plan.complex_step) from None


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
