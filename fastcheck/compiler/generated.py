"""The one compile step of both compilers: a generated module compiled with Numba.

The source compiler (``build``) and the tracer (``tracegen``) each generate a
module of Python code and describe it as a ``Unit``; ``obtain`` does the rest
for both: the compiled cost from memory (``memo``) if this process has it,
else the module written through ``store`` and imported, each variant compiled
in turn (from Numba's disk cache when it holds it; a cold compile first in a
child process under the compile budget, ``budget``), and a failure diagnosed
as one line (``diagnose``).

``obtaining`` is the same as a generator of steps: it yields a ``Task`` where a
child must compile, so that a check can run on in Python while it does and
take the compiled cost when it is ready (``route.Pending``); ``obtain`` waits.
"""

import functools
import warnings

from numba import njit
from numba.core.errors import NumbaPerformanceWarning

from ..errors import CompileError
from ..runtime.interrupt import interruptible
from . import budget, cache, diagnose, memo, store


class Unit:
    """A generated module to compile, and how.

    ``key`` (``cache.make_key``) names the module and its files; ``source`` is
    its text. ``functions`` maps each variant (a way of presenting the
    parameters, see ``trampoline``) to the name of the module's function that
    implements it, in the order to try; ``first``, a variant to try first
    instead, unless the cache's marker names the one that compiled before.
    ``signature`` is the Numba signature, ``scope`` names set on the module
    once imported (the user's cost that a trampoline calls).

    ``diagnose(exc)`` is the ``CompileError`` for Numba's
    exception, ``refusal(reason)`` the message of a compile over its budget.
    """

    def __init__(self, key, source, functions, signature, *, diagnose, refusal, first=None,
                 scope=None):
        self.key, self.source, self.signature = key, source, signature
        self.functions = dict(functions)
        self.first, self.scope = first, dict(scope or {})
        self.diagnose, self.refusal = diagnose, refusal
        self.name = cache.module_name(key)
        self.path = cache.cache_dir() / f"{self.name}.py"
        self.marker = self.path.with_suffix(".variant")
        # Numba's text of a refusal of this key: the next process refuses it at
        # once (a model of objects is refused from source at every check, and traced).
        self.refused = self.path.with_suffix(".refused")

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


class Task:
    """A compile a generator of this package asks to run in a child under the
    budget (``budget.start``): ``task()`` compiles into Numba's disk cache.
    ``background`` is set by whoever starts it (a check running beside it)."""

    def __init__(self, task):
        self.task, self.child, self.local = task, None, False

    @classmethod
    def here(cls):
        """A step that compiles in this process, once resumed: no child to start."""
        task = cls(None)
        task.local = True
        return task

    def start(self, background=False):
        """Start the child (once). Returns it, or None where the task cannot be sent
        to another process (an object the cost reads does not pickle): the compile
        then runs in this process, unbounded."""
        if self.child is None and not self.local:
            try:
                self.child = budget.start(self.task, background=background)
            except Exception:  # cloudpickle's errors are of many kinds
                self.local = True
        return self.child


def run(steps):
    """Drive a generator of compile steps to its end, waiting for each child it
    asks for: its return value (or its exception)."""
    try:
        task = next(steps)
        while True:
            task.start()
            task = steps.send(None)
    except StopIteration as stop:
        return stop.value


def obtain(unit):
    """``(dispatcher, variant, cached)``: ``unit`` compiled, loaded or found in memory.

    ``cached`` is True when nothing was compiled (in memory, or in Numba's
    disk cache). Raises the unit's ``CompileError`` when no variant compiles,
    or when the compile goes over its budget.
    """
    return run(obtaining(unit))


def obtaining(unit):
    """``obtain`` as a generator of steps: it yields a ``Task`` when a child must
    compile (resume it once the child has exited) and returns ``obtain``'s value."""
    entry = memo.get(unit.key)
    if entry is not None:
        return (*entry, True)
    with memo.LOCK:
        module, written = unit.module()
        on_disk = written and _in_numba_cache(unit, module)
    if on_disk or not (written and budget.supported()):
        if not on_disk:
            # Without a disk cache the child's compile cannot reach this process: it
            # runs here, unbounded. A step first, so that a check runs its next
            # block in Python before it (``route.Pending``), and a short one never.
            yield Task.here()
        with memo.LOCK:
            return _keep(unit, *_compile_variants(unit, module, written))
    refused = cache.read_marker(unit.refused)
    if refused:  # the key fixes the code, Numba and NumPy: refused again, as before
        raise unit.diagnose(NumbaText(refused))
    task = Task(functools.partial(compile_in_child, unit.key, unit.source, unit.functions,
                                  unit.signature, unit.first, unit.scope))
    yield task
    if task.child is None:
        with memo.LOCK:
            return _keep(unit, *_compile_variants(unit, module, written))
    try:
        reason = task.child.result()
    except CompileError as exc:  # the child's text of Numba's error, diagnosed here
        text = exc.detail or str(exc)
        try:
            cache.write_marker(unit.refused, text)
        except OSError:
            pass  # only saves the next process the child's compile
        raise unit.diagnose(NumbaText(text)) from None
    if reason is not None:
        error = CompileError(unit.refusal(reason))
        error.detail = reason
        raise error
    with memo.LOCK:
        dispatcher, variant, _ = _compile_variants(unit, module, written)
        return _keep(unit, dispatcher, variant, False)  # compiled, by the child


def _keep(unit, dispatcher, variant, cached):
    memo.put(unit.key, dispatcher, variant)
    return dispatcher, variant, cached


class NumbaText(Exception):
    """Numba's error as the child reported it (its text is all ``diagnose`` reads)."""


def compile_in_child(key, source, functions, signature, first, scope):
    """In the budget's child: compile the generated module of ``key`` into Numba's
    disk cache; a ``CompileError`` carrying Numba's text if no variant compiles."""
    unit = Unit(key, source, functions, signature, diagnose=_raw_error, refusal=str,
                first=first, scope=scope)
    module, written = unit.module()
    _compile_variants(unit, module, written)


def _raw_error(exc):
    error = CompileError(str(exc))
    error.detail = str(exc)
    return error


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
