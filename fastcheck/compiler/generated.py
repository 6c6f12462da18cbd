"""The one compile step of both compilers: a generated module compiled with Numba.

The source compiler (``build``) and the tracer (``tracegen``) each generate a
module of Python code and describe it as a ``Unit``; ``obtain`` does the rest
for both: the compiled cost from memory (``memo``) if this process has it,
else the module written through ``store`` and imported, each variant compiled
in turn (from Numba's disk cache when it holds it; a cold compile first in a
forked child under the compile budget, ``budget``), the compile's time
recorded (``timing``), and a failure diagnosed as one line (``diagnose``).
"""

import time
import warnings

from numba import njit
from numba.core.errors import NumbaPerformanceWarning

from ..errors import CompileError
from ..runtime.interrupt import interruptible
from . import budget, cache, diagnose, memo, store, timing


class Unit:
    """A generated module to compile, and how.

    ``key`` (``cache.make_key``) names the module and its files; ``source`` is
    its text. ``functions`` maps each variant (a way of presenting the
    parameters, see ``trampoline``) to the name of the module's function that
    implements it, in the order to try; ``first``, a variant to try first
    instead, unless the cache's marker names the one that compiled before.
    ``signature`` is the Numba signature, ``scope`` names set on the module
    once imported (the user's cost that a trampoline calls).

    ``size`` is what the compile's time grows with (bytes of the user's
    bytecode), recorded with that time for ``timing``'s predictions; None
    records nothing. ``bounded`` is False where a forked child cannot compile
    for this process (code Numba's disk cache cannot bring back: a cost from
    exec'd code). ``diagnose(exc)`` is the ``CompileError`` for Numba's
    exception, ``refusal(reason)`` the message of a compile over its budget.
    """

    def __init__(self, key, source, functions, signature, *, diagnose, refusal, first=None,
                 scope=None, size=None, bounded=True):
        self.key, self.source, self.signature = key, source, signature
        self.functions = dict(functions)
        self.first, self.scope, self.size, self.bounded = first, dict(scope or {}), size, bounded
        self.diagnose, self.refusal = diagnose, refusal
        self.name = cache.module_name(key)
        self.path = cache.cache_dir() / f"{self.name}.py"
        self.marker = self.path.with_suffix(".variant")

    def module(self):
        """``(module, on_disk)``: the generated module, imported (see ``store.load``)."""
        module, on_disk = store.load(self.path, self.name, self.source)
        for name, value in self.scope.items():
            setattr(module, name, value)
        return module, on_disk

    def variants(self):
        """The variants in the order to try: the one that compiled before first."""
        default = list(self.functions)
        chosen = cache.read_marker(self.marker)
        first = chosen if chosen in self.functions else self.first
        if first in self.functions:
            return [first] + [v for v in default if v != first]
        return default


def obtain(unit):
    """``(dispatcher, variant, cached)``: ``unit`` compiled, loaded or found in memory.

    ``cached`` is True when nothing was compiled (in memory, or in Numba's
    disk cache). Raises the unit's ``CompileError`` when no variant compiles,
    or when the compile goes over its budget.
    """
    with memo.LOCK:
        entry = memo.get(unit.key)
        if entry is not None:
            return (*entry, True)
        tick = time.perf_counter()
        dispatcher, variant, cached = _compile(unit)
        if not cached and unit.size is not None:
            timing.record(unit.size, time.perf_counter() - tick)
        memo.put(unit.key, dispatcher, variant)
        return dispatcher, variant, cached


def on_disk(unit):
    """True if Numba's disk cache holds ``unit`` compiled (its first variant).

    Cheap: imports the generated module if its file exists, reads Numba's
    cache index, compiles nothing.
    """
    with memo.LOCK:
        if not unit.path.exists():
            return False
        module, written = unit.module()
        return written and _in_numba_cache(unit, module)


def _in_numba_cache(unit, module):
    function = getattr(module, unit.functions[unit.variants()[0]])
    return cache.in_numba_cache(function, unit.signature)


def _compile(unit):
    """``(dispatcher, variant, cached)``: the first variant that compiles, first in a
    child process under the compile budget unless Numba's disk cache holds it."""
    module, written = unit.module()
    # The child's compile reaches this process through Numba's disk cache only:
    # without one (an unwritable cache), or for code Numba cannot bring back
    # from it, the compile runs here, unbounded.
    if written and unit.bounded and budget.supported() and not _in_numba_cache(unit, module):
        reason = budget.over_budget(lambda: _compile_variants(unit, module, written))
        if reason is not None:
            raise CompileError(unit.refusal(reason))
        dispatcher, variant, _ = _compile_variants(unit, module, written)
        return dispatcher, variant, False  # compiled, by the child
    return _compile_variants(unit, module, written)


def _compile_variants(unit, module, written):
    failures = []
    for variant in unit.variants():
        function = getattr(module, unit.functions[variant])
        try:
            with warnings.catch_warnings():
                # Numba's performance hints point at the generated file, not the
                # user's line, and would repeat on every fresh compile.
                warnings.simplefilter("ignore", NumbaPerformanceWarning)
                # On a helper thread, so that Ctrl-C is not lost inside LLVM's callbacks.
                dispatcher = interruptible(
                    lambda: njit(unit.signature, cache=written, fastmath=False)(function))
        except Exception as exc:  # Numba raises more than NumbaError on bad code
            failures.append(exc)
            if not diagnose.is_dynamic_key(exc):
                break
            continue
        if variant != next(iter(unit.functions)) and written:
            try:
                cache.write_marker(unit.marker, variant)
            except OSError:
                pass  # only saves trying the first variant next time
        cached = sum(dispatcher.stats.cache_hits.values()) > 0
        if written and not cached:
            store.prune(keep={unit.name})
        return dispatcher, variant, cached
    raise unit.diagnose(failures[-1]) from None
