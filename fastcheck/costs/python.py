"""A plain Python cost ``cost(params_dict, *args)``: the user's own code.

It runs on the python engine as it is, or on the generic engine once
``fastcheck.compiler`` has compiled it (its helpers included) under a key of
everything it depends on. Whether to compile is decided per check: always
with ``jit=True``, never with ``jit=False``; by default when the compiled
cost is already on disk, or when the check's predicted Python time is well
above a compile's. A cost Numba cannot compile runs in Python, with a note
that names the user's line.
"""

import contextlib
import time
import warnings

import numpy as np

from ..engines import GenericEngine, PythonEngine
from ..errors import CompileError, CostError, OptionError
from ..planning.layout import Layout
from ..runtime.memory import ensure_fits
from ..planning.methods import CENTRAL_METHOD, method_record
from ..planning.noise import CHECKABLE_EPS
from .calling import call_cost, translated
from .base import ENGINES, CostAdapter, EngineChoice, cost_value, value_precision

#: A check compiles by default when its Python time is predicted to exceed this
#: many times the predicted compile time (``compiler.timing``).
COMPILE_PAYS = 2.0
#: Predicted Python time over compile time (over COMPILE_PAYS) within this band is
#: "close": timed again on RETIMES evaluations, and the choice noted.
CLOSE = (0.25, 4.0)
RETIMES = 5
#: The predicted cold compile of a traced record, for a cost the source compiler
#: cannot read (straight-line code, about 20 ms per operation: 34-67 s measured
#: for 11k-35k-parameter layer-class networks on a loaded 2-core machine).
TRACE_COMPILE_SECONDS = 30.0

class PythonCostAdapter(CostAdapter):
    """The user's callable over a dict of parameters, evaluated from Python.

    The cost sees writable views of one buffer of fastcheck's, refilled before
    each call and compared after it: a cost that writes into its parameters is
    a ``CostError``; a cost that keeps them (``net.params = p``) is left with
    arrays that hold theta's values when the check is over.
    """

    kind = "Python cost"
    engines = ("python", "generic")
    #: The cost's form for the compiler: a dict of parameters (False) or theta itself.
    flat = False

    def __init__(self, cost, params, args):
        super().__init__()
        self.func, self.args = cost, args
        self.layout = Layout.from_params(params)
        self.theta = self.layout.flatten(params)
        self._buffers, self._views = {}, {}
        self.compiled = {}  # complex_step -> CompiledCost, once compiled and trusted

    def __getstate__(self):
        # Another process (a Dask worker) gets plain data only: it rebuilds the
        # compiled cost from the disk cache, or compiles it, when it builds its
        # generic engine (fastcheck/drivers/dask.py).
        state = self.__dict__.copy()
        state["compiled"], state["_buffers"], state["_views"] = {}, {}, {}
        return state

    def resolve_engine(self, name, method, seconds_per_coordinate=None, count=None, jit=None):
        """The ``EngineChoice`` of "python" or "generic" for this check, compiling the
        cost when that is chosen.

        ``jit`` True or ``engine="generic"`` compile or fail with the reason
        (``CompileError``); ``jit`` False or ``engine="python"`` never compile;
        otherwise ``auto_compile`` decides, and a cost Numba cannot compile runs
        in Python with a note that says why.
        """
        if name not in ENGINES:
            raise OptionError(f"engine must be one of {', '.join(map(repr, ENGINES))}, "
                              f"got {name!r}")
        if name == "layered":
            raise OptionError(self.refusal(name))
        if jit not in (None, True, False, "trace"):
            raise OptionError(f"jit must be True, False, None or 'trace', got {jit!r}")
        self.route = "trace" if jit == "trace" else "auto"
        if name == "generic" and jit is False:
            raise OptionError("engine='generic' compiles the cost; it cannot go with jit=False")
        complex_step = method_record(method).complex_step
        forced = name == "generic" or jit in (True, "trace")
        if name == "python" or jit is False:
            return EngineChoice("python", (), 0.0)
        notes = ()
        if not forced:
            wanted, notes = self.auto_compile(complex_step, seconds_per_coordinate, count,
                                              method=method)
            if not wanted:
                return EngineChoice("python", notes, 0.0)
        from ..compiler.trust import Untrusted
        try:
            compiled = self.compilation(complex_step)
        except CompileError as exc:
            if forced:
                raise
            if isinstance(exc, Untrusted):  # compiled, and then found to differ
                notes, seconds = notes + exc.notes, exc.seconds
            else:
                seconds = 0.0
            return EngineChoice("python", notes + (f"ran in Python: {exc}",), seconds)
        return EngineChoice("generic", notes + compiled.notes, compiled.seconds)

    def auto_compile(self, complex_step, seconds_per_coordinate, count, method=CENTRAL_METHOD):
        """``(compile, notes)``: whether "auto" compiles: when the compiled cost is cached
        already, or when the check's predicted Python time is ``COMPILE_PAYS``
        times the predicted compile time of code of this size on this machine
        (``compiler.timing``). Near the line, the Python time is measured again
        on more evaluations and the note says which was chosen and why."""
        from ..compiler import outlook
        try:
            cached, compile_seconds = outlook(self.func, self.layout.names, self.layout.shapes,
                                              self.args, flat=self.flat,
                                              complex_step=complex_step)
        except CompileError:  # the source compiler cannot (a method, an object): tracing may
            if complex_step:
                return False, ()
            cached, compile_seconds = False, TRACE_COMPILE_SECONDS
        if cached:
            return True, ()
        per_coordinate = seconds_per_coordinate or 0.0
        python_seconds = per_coordinate * (count or 0)
        ratio = python_seconds / (COMPILE_PAYS * max(compile_seconds, 1e-9))
        if not CLOSE[0] < ratio < CLOSE[1]:
            return ratio > 1, ()
        # One evaluation's time is noisy (a cold first call, a busy machine):
        # near the line, take the median of a few more before deciding.
        python_seconds = self._python_seconds(complex_step, method, count)
        ratio = python_seconds / (COMPILE_PAYS * max(compile_seconds, 1e-9))
        choice = ("compiled the cost" if ratio > 1 else "ran in Python without compiling")
        return ratio > 1, (f"{choice}: the check was predicted to take {python_seconds:.1f} s "
                           f"in Python and a compile about {compile_seconds:.1f} s here",)

    def _python_seconds(self, complex_step, method, count):
        """The check's Python time from the median of ``RETIMES`` timed evaluations."""
        theta = self.theta.astype(np.complex128) if complex_step else self.theta
        times = []
        for _ in range(RETIMES):
            tick = time.perf_counter()
            self.evaluate(theta, "at the given parameters")
            times.append(time.perf_counter() - tick)
        return float(np.median(times)) * method_record(method).evaluations * (count or 0)

    def compile(self, complex_step):
        """The ``CompiledCost``, compiled (or loaded) and checked against the Python
        cost; ``CompileError`` when Numba cannot compile it or the two differ."""
        return self.compilation(complex_step).cost

    def compilation(self, complex_step):
        """The compiler's ``Compiled``: the cost as ``compile`` gives it, the notes
        about how it was compiled and the seconds it took. Compiled once per
        adapter: a second call gives the same cost, with no notes and no seconds."""
        from ..compiler.route import Compiled, compile_routed
        cc = self.compiled.get(complex_step)
        if cc is not None:
            return Compiled(cc, (), 0.0)
        compiled = compile_routed(self.func, self.layout.names, self.layout.shapes, self.theta,
                                  self.args, flat=self.flat, complex_step=complex_step,
                                  evaluate=self.evaluate, route=getattr(self, "route", "auto"))
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
        if engine == "generic":
            return GenericEngine.scratch_bytes(self.layout.size, threads, method)
        return self.layout.size * method_record(method).scalar_bytes

    def build(self, engine, method, threads):
        if engine == "generic":
            cc = self.compile(method_record(method).complex_step)
            return GenericEngine(cc.function, cc.fdata, cc.idata, self.theta, threads, method)
        return PythonEngine(self.evaluate, self.theta, self.layout, method)
