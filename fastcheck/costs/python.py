"""A plain Python cost ``cost(params_dict, *args)``: the user's own code.

It runs on the python engine as it is, or on the generic engine once
``fastcheck.compiler`` has compiled it (its helpers included) under a key of
everything it depends on. ``jit=True`` compiles before the check (or fails
with the reason), ``jit=False`` never compiles. By default (``jit=None``) a
compiled cost in memory or on disk is used from the first block; otherwise
the check starts in Python at once while the cost compiles beside it in a
child process (``compiler.route.Pending``), and the local driver moves the
remaining blocks to the generic engine as soon as the compiled cost is ready
and trusted (``upgrade``): nothing predicts how long a compile takes. A cost
Numba cannot compile runs in Python, with a note that names the user's line.
"""

import contextlib
import hashlib
import time
import warnings

import numpy as np

from ..engines import GenericEngine, PythonEngine
from ..errors import CompileError, CostError, OptionError
from ..planning.layout import Layout
from ..runtime.memory import ensure_fits
from ..planning.methods import method_record
from ..planning.noise import CHECKABLE_EPS
from .calling import call_cost, translated
from .reuse import StepValues
from .base import ENGINES, CostAdapter, EngineChoice, cost_value, value_precision

#: A check with fewer seconds than this left in Python starts no compile beside
#: it: the child's interpreter alone takes about a second to start, and the
#: quickest compiles a few more (``upgrade``).
START_SECONDS = 2.0
#: A compile beside a check with fewer seconds than this left in Python runs only
#: on CPU time nobody else wants (``budget.IDLE``): on a machine with no idle core
#: a child at normal priority takes its share from the check it should speed up
#: (load 6 on 2 cores: the benchmark's RNN, 16 s in Python, took 21-29 s beside a
#: compile at niceness 5 that never finished), and the 1-minute load average
#: cannot say whether a core is idle now. A longer check gives its compile a
#: share (niceness ``budget.BACKGROUND_NICE``): compiles take 20-100 s on such a
#: machine, and a long check repays them.
SHARE_SECONDS = 60.0
#: A compile that ends with fewer seconds than this left in the pass running in
#: Python is not taken up: loading the compiled cost and the trust test (about a
#: second at load 5, ``compile_seconds`` of a warm default check) would cost more
#: than the blocks it saves.
SWITCH_SECONDS = 1.0
#: Costs (``PythonCostAdapter.identity``) this process has compiled, loaded or
#: found refused: looking them up again is cheap (memory), whatever the check's
#: length, and takes up the compiled cost or says why there is none.
_LOOKED_UP = set()


class Deferred:
    """A compile not even looked up yet (``resolve_engine``): the check was predicted
    shorter in Python (``predicted`` seconds) than ``threshold`` seconds, which
    ``START_SECONDS`` or the remembered load of the cached compiled cost sets.
    ``upgrade`` looks it up once the check's seconds so far (since ``started``)
    and those left reach ``threshold``: a prediction that was wrong costs one block."""

    def __init__(self, complex_step, threshold):
        self.complex_step, self.threshold = complex_step, threshold
        self.started = time.perf_counter()

    def due(self, complex_step, remaining):
        return (complex_step == self.complex_step
                and time.perf_counter() - self.started + remaining >= self.threshold)


def _finished(compiled):
    """Compile steps that are none: ``compiled`` at once (a generator, as
    ``compiler.route.Pending`` takes)."""
    return compiled
    yield  # makes this a generator


class PythonCostAdapter(CostAdapter):
    """The user's callable over a dict of parameters, evaluated from Python.

    The cost sees writable views of one buffer of fastcheck's, refilled before
    each call and compared after it: a cost that writes into its parameters is
    a ``CostError``; a cost that keeps them (``net.params = p``) is left with
    arrays that hold theta's values when the check is over.
    """

    kind = "Python cost"
    engines = ("python", "generic", "incremental")
    #: What ``costs.incremental.choose`` prepared for the incremental engine.
    incremental = None
    #: The cost's form for the compiler: a dict of parameters (False) or theta itself.
    flat = False
    #: Whether the closer look takes the python engine's first-pass values (``reuse``).
    reuses = True

    def __init__(self, cost, params, args):
        super().__init__()
        self.func, self.args = cost, args
        self.layout = Layout.from_params(params)
        self.theta = self.layout.flatten(params)
        self._buffers, self._views = {}, {}
        self.compiled = {}  # complex_step -> CompiledCost, once compiled and trusted
        # The compile running beside the check (``upgrade``), and the one that ended there.
        self.pending = self.beside = self.deferred = None
        self.beside_notes = ()
        # The python engine's first-pass values, for the closer look (``reuse``).
        self.step_values = None

    def __getstate__(self):
        # Another process (a Dask worker) gets plain data only: it rebuilds the
        # compiled cost from the disk cache, or compiles it, when it builds its
        # generic engine (fastcheck/drivers/dask.py).
        state = self.__dict__.copy()
        state["compiled"], state["_buffers"], state["_views"] = {}, {}, {}
        state["pending"] = state["beside"] = state["deferred"] = None
        state["incremental"] = None  # prepared again where the engine is built
        # A worker's closer look evaluates every point: the calling process counts
        # the evaluations, and knows only of the reuse it made itself.
        state["step_values"], state["reuses"] = None, False
        return state

    def resolve_engine(self, name, method, seconds_per_coordinate=None, count=None, jit=None):
        """The ``EngineChoice`` of "python" or "generic" for this check, compiling the
        cost when that is asked.

        ``jit`` True or ``engine="generic"`` compile or fail with the reason
        (``CompileError``); ``jit`` False or ``engine="python"`` never compile;
        otherwise a compiled cost found in memory or on disk is used, and if
        there is none the check starts on "python" with the compile pending
        (``upgrade``). A cost Numba cannot compile runs in Python with a note
        that says why.
        """
        if name not in ENGINES:
            raise OptionError(f"engine must be one of {', '.join(map(repr, ENGINES))}, "
                              f"got {name!r}")
        if name == "layered":
            raise OptionError(self.refusal(name))
        if jit not in (None, True, False, "trace"):
            raise OptionError(f"jit must be True, False, None or 'trace', got {jit!r}")
        if name == "incremental" and method_record(method).complex_step:
            choice = self.resolve_engine("auto", method, seconds_per_coordinate, count, jit)
            return choice._replace(notes=choice.notes + (
                "the incremental engine runs difference stencils (central, richardson), not "
                "the complex step: the engine=\"auto\" choice ran it",))
        self.route = "trace" if jit == "trace" else "auto"
        if name in ("generic", "incremental") and jit is False:
            raise OptionError(f"engine={name!r} compiles the cost; it cannot go with jit=False")
        complex_step = method_record(method).complex_step
        kept = self.pending or self.deferred
        if kept is not None and kept.complex_step == complex_step and name == "auto" \
                and jit is None:
            # A later plan of the same call (locate's confirmation after its search):
            # the compile started beside the first goes on (or is still put off).
            return EngineChoice("python", (), 0.0)
        self.cancel_pending()
        self.beside, self.beside_notes = None, ()
        if name == "python" or jit is False:
            return EngineChoice("python", (), 0.0)
        forced = name in ("generic", "incremental") or jit in (True, "trace")
        if not forced and self.defers:
            predicted = (seconds_per_coordinate or 0.0) * (count or 0)
            deferred, notes = self.deferral(complex_step, predicted)
            if deferred is not None:
                self.deferred = deferred
                return EngineChoice("python", notes, 0.0)
        pending = self.pending_compile(complex_step)
        if forced:
            try:
                pending.wait()  # raises the CompileError
            except CompileError:
                _LOOKED_UP.add(self.identity(complex_step))
                raise
        elif not pending.finished:
            # Not in memory nor on disk: the child starts at the first ``upgrade``,
            # after the first block, so a check of one block never compiles.
            self.pending = pending
            return EngineChoice("python", (), 0.0)
        return self._incremental(self._settled(pending, ()), method, name)

    def _incremental(self, choice, method, name):
        """``choice``, or the incremental engine for a compiled cost when it was asked
        for (``name``) or, under "auto", pays (``costs.incremental.choose``)."""
        self.incremental = None
        if choice.name != "generic" or name not in ("auto", "incremental"):
            return choice
        from . import incremental
        return incremental.choose(self, choice, method, forced=name == "incremental")

    #: Whether ``resolve_engine`` may put a compile off (a jit cost compiles before its check).
    defers = True

    def deferral(self, complex_step, predicted):
        """``(Deferred, notes)`` when a check predicted to take ``predicted`` seconds in
        Python should not even look its compiled cost up yet, else ``(None, ())``.

        Short of ``START_SECONDS`` it is not looked up unless this process holds
        it in memory: keying the cost for the source compiler (importing the
        compiler, reading the cost's code) costs more than such a check gains.
        Longer, a cost whose cached compiled form took longer to load last time
        (tracing included: ``compiler.store.load_seconds``) than the check takes
        in Python stays in Python, with that reason."""
        identity = self.identity(complex_step)
        if identity in _LOOKED_UP:
            return None, ()
        if predicted < START_SECONDS:
            return Deferred(complex_step, START_SECONDS), ()
        from ..compiler import store
        loading = store.load_seconds(identity)
        if loading is None or predicted >= loading:
            return None, ()
        return Deferred(complex_step, loading), (
            "ran in Python: the check is shorter in Python than loading its compiled cost "
            "from the cache",
            f"the check was predicted to take {predicted:.3g} s in Python; loading its "
            f"compiled cost took {loading:.3g} s last time")

    def identity(self, complex_step):
        """A digest naming this cost without reading its code: the function's place,
        the parameters' layout and the arguments' kinds and shapes (what the load
        time of its compiled cost is remembered by)."""
        func = getattr(self.func, "py_func", self.func)
        code = getattr(func, "__code__", None)
        parts = (getattr(func, "__module__", None),
                 getattr(func, "__qualname__", type(func).__qualname__),
                 getattr(code, "co_filename", None), getattr(code, "co_firstlineno", None),
                 tuple(self.layout.names), tuple(map(tuple, self.layout.shapes)), self.flat,
                 complex_step, getattr(self, "route", "auto"),
                 tuple((type(a).__name__, np.shape(a) if isinstance(a, np.ndarray) else None,
                        str(getattr(a, "dtype", ""))) for a in self.args))
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]

    def _remember(self, pending):
        """Note a compiled cost this process now holds, and the seconds taking up a
        cached one took (``pending``: nothing compiled), for the next process."""
        identity = self.identity(pending.complex_step)
        first = identity not in _LOOKED_UP
        if pending.error is not None or pending.compiled is None:
            _LOOKED_UP.add(identity)  # refused: asked again, it says why at once
            return
        if pending.compiled.seconds == 0.0:
            return  # the adapter's own (no lookup was made)
        _LOOKED_UP.add(identity)
        if first and pending.compiled.cost.cached:  # from disk, not memory
            from ..compiler import store
            store.remember_load_seconds(identity, pending.compiled.seconds)

    def _settled(self, pending, notes):
        """The ``EngineChoice`` of a finished compile: "generic" once compiled and
        trusted, else "python" with the reason."""
        from ..compiler.trust import Untrusted
        exc = pending.error
        self._remember(pending)
        if exc is None:
            self.compiled[pending.complex_step] = pending.compiled.cost
            return EngineChoice("generic", notes + pending.compiled.notes,
                                pending.compiled.seconds)
        if isinstance(exc, Untrusted):  # compiled, and then found to differ
            notes, seconds = notes + exc.notes, exc.seconds
        else:
            seconds = 0.0
        return EngineChoice("python", notes + (f"ran in Python: {exc}",), seconds)

    def pending_compile(self, complex_step):
        """A ``compiler.route.Pending`` compile of this cost for this check; finished
        already when it was in memory or on disk (or failed at once)."""
        from ..compiler.route import Compiled, Pending, routing
        cc = self.compiled.get(complex_step)
        if cc is not None:  # compiled once per adapter: no notes, no seconds again
            pending = Pending(_finished(Compiled(cc, (), 0.0)))
        else:
            pending = Pending(routing(
                self.func, self.layout.names, self.layout.shapes, self.theta, self.args,
                flat=self.flat, complex_step=complex_step, evaluate=self.evaluate,
                route=getattr(self, "route", "auto")))
        pending.complex_step = complex_step
        return pending

    def upgrade(self, method, remaining=float("inf")):
        """Between blocks (``drivers.blocks.run_blocks``): "generic" once the compile
        pending beside the check is compiled and trusted (or was, for an earlier
        pass of this check), else None. When the compile ends its notes go to
        ``beside_notes``: how it was compiled, or why the check stays in Python.

        The compile's child starts at the first call where the check's seconds so
        far and ``remaining`` (its pass's seconds left in Python, measured) reach
        ``START_SECONDS``: a shorter check ends before any compile could. It
        runs on idle CPU time only unless ``SHARE_SECONDS`` are ahead (a child at
        normal priority takes its share of a loaded machine from the check).
        (``locate`` runs many short passes: its seconds so far count.) A compile
        that ends with less than ``SWITCH_SECONDS`` of the pass left in Python
        (at a pass's start, its predicted seconds: ``drivers.local``) is taken up
        only once the call has run on in Python for ``SWITCH_SECONDS`` since
        (the rule of renting skis until their price is spent). A compile put
        off (``Deferred``) is looked up here once its threshold is met."""
        complex_step = method_record(method).complex_step
        pending, late = self.pending, None
        if pending is None and self.deferred is not None \
                and self.deferred.due(complex_step, remaining):
            # Longer than predicted: the compiled cost is looked up (or started) now.
            late, self.deferred = self.deferred.started, None
            pending = self.pending = self.pending_compile(complex_step)
        if pending is None:
            tiered = self.beside is not None
            if not (tiered and complex_step in self.compiled):
                return None
            return "incremental" if self.incremental is not None and not complex_step \
                else "generic"
        if pending.complex_step != complex_step:
            return None
        if not pending.polled and not pending.finished:
            if late is None:
                ahead = pending.seconds + remaining
            else:  # the deferral's threshold is met: counted from the check's start
                ahead = max(time.perf_counter() - late + remaining, START_SECONDS)
            if ahead < START_SECONDS:
                return None
            from ..compiler.budget import IDLE  # a pending compile imported the compiler
            pending.priority = True if ahead >= SHARE_SECONDS else IDLE
        elif pending.polled and not pending.finished and not pending.waiting() \
                and remaining < SWITCH_SECONDS \
                and time.perf_counter() - pending.idle_since < SWITCH_SECONDS:
            # Compiled, but too late for the pass: taking it up would cost more than
            # the Python left. A call that goes on in Python for as long as that
            # would have cost (locate's many short passes) takes it up then.
            return None
        if pending.poll(getattr(pending, "priority", True)) is None and not pending.finished:
            return None
        self.pending, self.beside = None, pending
        choice = self._incremental(self._settled(pending, ()), method, "auto")
        self.beside_notes = choice.notes
        return choice.name if choice.name != "python" else None

    def compile_beside(self):
        """Seconds the compile that ran beside the check took, once it was taken up."""
        beside = self.beside
        return beside.seconds if beside is not None and beside.error is None else 0.0

    def compiling(self):
        """True while a compile is pending beside the check, or put off (``upgrade``
        may take it)."""
        return self.pending is not None or self.deferred is not None

    def cancel_pending(self):
        """Stop a compile still running beside the check (the check is over)."""
        pending = self.pending
        self.deferred = None
        if pending is not None:
            pending.cancel()
            self.pending = None

    def compile(self, complex_step):
        """The ``CompiledCost``, compiled (or loaded) and checked against the Python
        cost; ``CompileError`` when Numba cannot compile it or the two differ."""
        return self.compilation(complex_step).cost

    def compilation(self, complex_step):
        """The compiler's ``Compiled``: the cost as ``compile`` gives it, the notes
        about how it was compiled and the seconds it took. Compiled once per
        adapter: a second call gives the same cost, with no notes and no seconds."""
        compiled = self.pending_compile(complex_step).wait()
        self.compiled[complex_step] = compiled.cost
        return compiled

    @classmethod
    def accepts(cls, cost):
        return callable(cost)

    def refusal(self, name):
        if name == "layered":
            return ("engine='layered' knows only the built-in models (fastcheck.models); "
                    "use engine='generic' or 'python' for this cost")
        return super().refusal(name)

    def fast_evaluate(self, theta, where):
        cc = self.compiled.get(theta.dtype.kind == "c")
        if cc is None:
            return self.evaluate(theta, where)
        value = call_cost(cc.function, np.ascontiguousarray(theta), cc.fdata, cc.idata,
                          where=where)
        return cost_value(value, where, theta.dtype.kind == "c")

    def call(self, theta):
        """The user's function at ``theta`` (P,), as the user wrote it to be called."""
        # The dict of views of evaluate's buffer is built once (a fresh dict each call).
        views = self._views.get(theta.dtype)
        if views is None or views[0] is not theta:
            views = self._views[theta.dtype] = (theta, self.layout.unflatten(theta))
        return self.func(dict(views[1]), *self.args)

    def evaluate(self, theta, where):
        is_complex = theta.dtype.kind == "c"
        buffer = self._buffers.get(theta.dtype)
        if buffer is None:
            ensure_fits(theta.nbytes, f"a copy of the {theta.size} parameters to evaluate at")
            buffer = self._buffers[theta.dtype] = np.empty_like(theta)
        buffer[:] = theta
        hint = ("; it cannot run in complex arithmetic, so method='complex' cannot check it: "
                "use method='central' or 'richardson'" if is_complex else "")
        try:
            with translated(where, hint), (warnings.catch_warnings() if is_complex
                                           else contextlib.nullcontext()):
                if is_complex:  # NumPy keeps only the real part, and only warns
                    warnings.simplefilter("error", np.exceptions.ComplexWarning)
                try:
                    value = self.call(buffer)
                except np.exceptions.ComplexWarning as exc:
                    raise CostError(
                        f"the cost dropped the imaginary part of its parameters {where}: "
                        f"{exc} (a complex value assigned into a real array, such as np.zeros "
                        "without dtype). method='complex' cannot check it; use "
                        "method='central' or 'richardson'") from exc
        finally:
            written = bool((buffer != theta).any())  # theta is finite: no NaN to compare
            buffer[:] = self.theta  # what a cost that kept its arrays finds afterwards
        if written:
            raise CostError(f"the cost wrote into its parameters {where}; a cost must not "
                            "modify them (copy an array before changing it in place)")
        low = value_precision(value)
        if low is not None and low[0] > self.value_eps:
            self.value_eps = low[0]
            self.notes.append(f"the cost returns {low[1]}: its values, and so the estimates, "
                              "are known only to that precision" +
                              ("" if low[0] <= CHECKABLE_EPS else
                               "; too coarse to check a gradient meaningfully: compute the "
                               "cost in float32 or float64"))
        return cost_value(value, where, is_complex)

    def scratch_bytes(self, engine, method, threads):
        if engine == "incremental":
            from . import incremental
            return incremental.scratch_bytes(self, method, threads)
        if engine == "generic":
            return GenericEngine.scratch_bytes(self.layout.size, threads, method)
        return self.layout.size * method_record(method).scalar_bytes

    def build(self, engine, method, threads):
        if engine == "incremental":
            from . import incremental
            return incremental.build(self, method, threads)
        if engine == "generic":
            cc = self.compile(method_record(method).complex_step)
            return GenericEngine(cc.function, cc.fdata, cc.idata, self.theta, threads, method)
        method = method_record(method)
        evaluate = self.evaluate
        if self.reuses and not method.complex_step:  # its first pass steps where the probes do
            slots = method.evaluations
            kept = self.step_values
            if kept is None or kept.slots < slots:
                kept = self.step_values = StepValues.fitting(self.layout.size, slots)
            if kept is not None:
                evaluate = kept.recording(evaluate)
        return PythonEngine(evaluate, self.theta, self.layout, method)

    def engine(self, name, method, threads, j0):
        """``CostAdapter.engine``; the closer look takes the values the python
        engine's first pass found at its points (``reuse``) instead of evaluating
        them again."""
        run = super().engine(name, method, threads, j0)
        if self.step_values is not None:
            run.closer = run.closer._replace(
                evaluate=self.step_values.reusing(run.closer.evaluate))
        return run

    def reused_evaluations(self):
        """Evaluations the closer look took from the first pass so far (``reuse``)."""
        return 0 if self.step_values is None else self.step_values.reused
